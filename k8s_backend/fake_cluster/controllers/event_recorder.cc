#include "k8s_backend/fake_cluster/controllers/event_recorder.h"

#include <utility>

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
  EventRecord r;
  r.involved_name = Str(meta, "name");
  r.name = r.involved_name + "." + std::to_string(++names_);
  r.involved_api_version = Str(object, "apiVersion");
  r.involved_kind = Str(object, "kind");
  r.involved_uid = Str(meta, "uid");
  r.involved_resource_version = Str(meta, "resourceVersion");
  r.type = type;
  r.reason = reason;
  r.message = message;
  r.component = Component(object, reason);
  return store_.RecordEvent(meta.value("namespace", "default"), std::move(r));
}

}  // namespace portflow::fake
