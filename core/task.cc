#include "core/task.h"

#include "core/quantity.h"

namespace portflow {

ResourceRequest& ResourceRequest::operator+=(const ResourceRequest& o) {
  milli_cpu += o.milli_cpu;
  memory_bytes += o.memory_bytes;
  gpus += o.gpus;
  return *this;
}

ResourceRequest& ResourceRequest::operator-=(const ResourceRequest& o) {
  milli_cpu -= o.milli_cpu;
  memory_bytes -= o.memory_bytes;
  gpus -= o.gpus;
  return *this;
}

bool ResourceRequest::FitsIn(const ResourceRequest& o) const {
  return milli_cpu <= o.milli_cpu && memory_bytes <= o.memory_bytes && gpus <= o.gpus;
}

std::string ResourceRequest::ToString() const {
  return "cpu=" + FormatMilliCpu(milli_cpu) + " memory=" + FormatBytes(memory_bytes) +
         " gpu=" + std::to_string(gpus);
}

Result<std::vector<std::string>> AgentPrefix(const ObjectStoreRef& store, const TaskSpec& spec,
                                             const std::string& agent, const std::string& root,
                                             bool own_root) {
  std::vector<std::string> argv = {agent,        "agent", "--artifacts", store.uri, "--region",
                                   store.region, "--run", spec.run_id,   "--root",  root};
  if (!store.endpoint.empty()) argv.insert(argv.end(), {"--endpoint", store.endpoint});
  if (!store.profile.empty()) argv.insert(argv.end(), {"--profile", store.profile});
  if (own_root && spec.replicas > 1) argv.push_back("--rank-zero-stores");
  for (const auto& [flag, bindings] :
       {std::pair{"--input", &spec.inputs}, std::pair{"--output", &spec.outputs}}) {
    for (const ArtifactBinding& b : *bindings) {
      if (b.path.rfind(root + "/", 0) != 0)
        return InvalidArgument(b.name + ": " + b.path + " is not below " + root);
      argv.insert(argv.end(), {flag, b.path.substr(root.size() + 1)});
    }
  }
  argv.push_back("--");
  return argv;
}

std::string TaskSpec::Key() const {
  return run_id + "/" + instance + "/" + std::to_string(attempt);
}

std::string_view TaskStateName(TaskState s) {
  switch (s) {
    case TaskState::kPending:
      return "Pending";
    case TaskState::kStarting:
      return "Starting";
    case TaskState::kRunning:
      return "Running";
    case TaskState::kSucceeded:
      return "Succeeded";
    case TaskState::kFailed:
      return "Failed";
    case TaskState::kCancelled:
      return "Cancelled";
    case TaskState::kUnknown:
      return "Unknown";
  }
  return "Unknown";
}

std::optional<TaskState> ParseTaskState(std::string_view s) {
  for (TaskState t :
       {TaskState::kPending, TaskState::kStarting, TaskState::kRunning, TaskState::kSucceeded,
        TaskState::kFailed, TaskState::kCancelled, TaskState::kUnknown}) {
    if (TaskStateName(t) == s) return t;
  }
  return std::nullopt;
}

std::string_view PendingReasonName(PendingReason r) {
  switch (r) {
    case PendingReason::kNone:
      return "";
    case PendingReason::kScheduling:
      return "Scheduling";
    case PendingReason::kUnschedulable:
      return "Unschedulable";
    case PendingReason::kQuotaWait:
      return "QuotaWait";
    case PendingReason::kQueued:
      return "Queued";
    case PendingReason::kProvisioning:
      return "Provisioning";
    case PendingReason::kStarting:
      return "Starting";
    case PendingReason::kImagePull:
      return "ImagePull";
    case PendingReason::kConfigError:
      return "ConfigError";
    case PendingReason::kBudget:
      return "Budget";
  }
  return "";
}

bool WaitsForCapacity(PendingReason r) {
  return r == PendingReason::kUnschedulable || r == PendingReason::kQuotaWait ||
         r == PendingReason::kQueued || r == PendingReason::kProvisioning;
}

}  // namespace portflow
