#include "k8s_backend/fake_cluster/controllers/pod_status.h"

#include "core/k8s_time.h"
#include "k8s_backend/fake_cluster/store/json_fields.h"

namespace portflow::fake {

std::string KeyOf(const std::string& ns, const std::string& name) { return ns + "/" + name; }

std::string KeyOf(const json& object) {
  const json& meta = Field(object, "metadata");
  return KeyOf(Str(meta, "namespace"), Str(meta, "name"));
}

std::pair<std::string, std::string> SplitKey(const std::string& key) {
  size_t slash = key.find('/');
  return {key.substr(0, slash), key.substr(slash + 1)};
}

ResourceRequest PodRequest(const json& pod) {
  ResourceRequest r;
  for (const json& c : Field(Field(pod, "spec"), "containers")) {
    const json& req = Field(Field(c, "resources"), "requests");
    const json& lim = Field(Field(c, "resources"), "limits");
    auto get = [&](const char* name) -> const json& {
      return req.contains(name) ? req[name] : Field(lim, name);
    };
    r.milli_cpu += Quantity(get("cpu"), true);
    r.memory_bytes += Quantity(get("memory"), false);
    r.gpus += Quantity(get("nvidia.com/gpu"), false);
  }
  return r;
}

std::string Phase(const json& pod) {
  std::string phase = Str(Field(pod, "status"), "phase");
  return phase.empty() ? "Pending" : phase;
}

bool Terminal(const json& pod) { return Phase(pod) == "Succeeded" || Phase(pod) == "Failed"; }

bool Deleting(const json& object) {
  return Field(object, "metadata").contains("deletionTimestamp");
}

std::optional<int64_t> DeletionGrace(const json& pod) {
  const json& grace = Field(Field(pod, "metadata"), "deletionGracePeriodSeconds");
  if (!grace.is_number_integer()) return std::nullopt;
  return grace.get<int64_t>();
}

Result<ObjectStore::Stored> DeletePod(ObjectStore& store, const std::string& ns,
                                      const std::string& name,
                                      std::optional<int64_t> grace_seconds) {
  auto pod = store.Peek(Pods(), ns, name);
  if (!pod) return store.Delete(Pods(), ns, name);  // its NotFound
  const json& spec = Field(*pod, "spec");
  int64_t grace = 30;
  if (grace_seconds) {
    grace = *grace_seconds;
  } else if (const json& g = Field(spec, "terminationGracePeriodSeconds"); g.is_number_integer()) {
    grace = g.get<int64_t>();
  }
  if (Str(spec, "nodeName").empty() || Terminal(*pod) || grace <= 0)
    return store.Delete(Pods(), ns, name);
  if (auto marked = DeletionGrace(*pod); marked && *marked <= grace) return pod;
  json marked = *pod;
  marked["metadata"]["deletionTimestamp"] =
      K8sTime(store.clock().Now() + std::chrono::seconds(grace));
  marked["metadata"]["deletionGracePeriodSeconds"] = grace;
  return store.Update(Pods(), ns, std::move(marked));
}

bool SetCondition(json& status, const std::string& type, const std::string& value,
                  const std::string& reason, const std::string& message, TimePoint now) {
  json& conds = status["conditions"];
  if (!conds.is_array()) conds = json::array();
  // Empty reason and message are left out, as the API server's omitempty does.
  auto set = [](json& c, const char* key, const std::string& v) {
    if (v.empty()) {
      c.erase(key);
    } else {
      c[key] = v;
    }
  };
  for (json& c : conds) {
    if (Str(c, "type") != type) continue;
    if (Str(c, "status") == value && Str(c, "reason") == reason && Str(c, "message") == message) {
      return false;
    }
    if (Str(c, "status") != value) c["lastTransitionTime"] = K8sTime(now);
    c["status"] = value;
    set(c, "reason", reason);
    set(c, "message", message);
    c["lastProbeTime"] = nullptr;
    return true;
  }
  json c = json::object();  // set member by member: an initializer list copies each
  c["lastProbeTime"] = nullptr;
  c["lastTransitionTime"] = K8sTime(now);
  c["status"] = value;
  c["type"] = type;
  set(c, "reason", reason);
  set(c, "message", message);
  conds.push_back(std::move(c));
  return true;
}

bool HasTrueCondition(const json& status, const std::string& type) {
  for (const json& c : Field(status, "conditions")) {
    if (Str(c, "type") == type && Str(c, "status") == "True") return true;
  }
  return false;
}

json ContainerStatuses(const json& pod, const json& state, bool ready) {
  json statuses = json::array();
  for (const json& c : Field(Field(pod, "spec"), "containers")) {
    // Member by member, in key order (each an append): an initializer list
    // makes and copies a pair for each.
    json s = json::object();
    s["image"] = Str(c, "image");
    s["imageID"] = "";
    s["name"] = Str(c, "name");
    s["ready"] = ready;
    s["restartCount"] = 0;
    s["started"] = ready;
    s["state"] = state;
    statuses.push_back(std::move(s));
  }
  return statuses;
}

void EndPod(json& pod, int exit_code, TimePoint started, TimePoint finished) {
  json& status = pod["status"];
  status["phase"] = exit_code == 0 ? "Succeeded" : "Failed";
  json state = json::object();
  json& terminated = state["terminated"];
  terminated["exitCode"] = exit_code;
  terminated["finishedAt"] = K8sTime(finished);
  terminated["reason"] = exit_code == 0 ? "Completed" : "Error";
  terminated["startedAt"] = K8sTime(started);
  status["containerStatuses"] = ContainerStatuses(pod, state, false);
}

void ExitPod(json& pod, int exit_code, TimePoint started, TimePoint now) {
  EndPod(pod, exit_code, started, now);
  SetCondition(pod["status"], "ContainersReady", "False", "PodCompleted", "", now);
  SetCondition(pod["status"], "Ready", "False", "PodCompleted", "", now);
}

}  // namespace portflow::fake
