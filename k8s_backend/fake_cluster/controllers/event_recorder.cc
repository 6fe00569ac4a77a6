#include "k8s_backend/fake_cluster/controllers/event_recorder.h"

#include "core/k8s_time.h"
#include "k8s_backend/fake_cluster/store/json_fields.h"

namespace portflow::fake {
namespace {

// Who reports an event, as `kubectl describe` shows it.
std::string Component(const json& object, const std::string& reason) {
  if (reason == "Scheduled" || reason == "FailedScheduling") return "default-scheduler";
  if (object.value("kind", "") == "Job") return "job-controller";
  return "kubelet";
}

}  // namespace

Status EventRecorder::Record(const json& object, const std::string& type, const std::string& reason,
                             const std::string& message) {
  const json& meta = Field(object, "metadata");
  std::string ns = meta.value("namespace", "default");
  std::string now = K8sTime(store_.clock().Now());
  // Built member by member: an initializer list copies every value once more.
  json involved = json::object();
  involved["apiVersion"] = Str(object, "apiVersion");
  involved["kind"] = Str(object, "kind");
  involved["name"] = Str(meta, "name");
  involved["namespace"] = ns;
  involved["uid"] = Str(meta, "uid");
  involved["resourceVersion"] = Str(meta, "resourceVersion");
  json e = json::object();
  e["metadata"]["name"] = Str(meta, "name") + "." + std::to_string(++names_);
  e["involvedObject"] = std::move(involved);
  e["type"] = type;
  e["reason"] = reason;
  e["message"] = message;
  e["count"] = 1;
  e["firstTimestamp"] = now;
  e["lastTimestamp"] = std::move(now);
  e["reportingComponent"] = "portflow-fake";
  e["source"]["component"] = Component(object, reason);
  auto created = store_.Create(Events(), ns, std::move(e));
  if (created.ok()) events_.emplace_back(ns, Str((**created)["metadata"], "name"));
  Trim();
  return created.status();
}

void EventRecorder::Observe(const ObjectStore::Change& c) {
  if (c.kind == &Events() && c.type == "ADDED" &&
      Str(*c.object, "reportingComponent") != "portflow-fake") {
    events_.emplace_back(c.ns, Str(Field(*c.object, "metadata"), "name"));
  }
}

bool EventRecorder::Trim() {
  bool changed = false;
  while (events_.size() > max_) {
    auto [ns, name] = events_.front();
    events_.pop_front();
    changed = store_.Delete(Events(), ns, name).ok() || changed;
  }
  return changed;
}

}  // namespace portflow::fake
