// What the controllers and the kubelet read from and write into pods: object
// keys, a pod's requests and phase, conditions as the API server keeps them,
// and the container statuses of a pod that runs or ended.
#pragma once

#include <optional>
#include <string>
#include <utility>

#include "core/clock.h"
#include "core/task.h"
#include "k8s_backend/fake_cluster/store/object_store.h"

namespace portflow::fake {

// "namespace/name", how the controllers key the objects they track.
std::string KeyOf(const std::string& ns, const std::string& name);
std::string KeyOf(const json& object);
std::pair<std::string, std::string> SplitKey(const std::string& key);

// What the pod's containers request (a limit without a request counts as
// the request, as the API server defaults).
ResourceRequest PodRequest(const json& pod);

// status.phase, "Pending" when unset.
std::string Phase(const json& pod);
bool Terminal(const json& pod);  // Succeeded or Failed
bool Deleting(const json& object);

// Deletes a pod as the API server does. One bound to a node that has not
// ended is only marked (deletionTimestamp, deletionGracePeriodSeconds): its
// kubelet stops the containers, with SIGKILL after that grace period, and
// then removes it. Any other pod, or a grace period of 0, goes at once.
// `grace_seconds`: the request's, else the pod's
// terminationGracePeriodSeconds (30 when unset). A pod already marked keeps
// the shorter of its grace period and the new one.
Result<ObjectStore::Stored> DeletePod(ObjectStore& store, const std::string& ns,
                                      const std::string& name,
                                      std::optional<int64_t> grace_seconds = std::nullopt);
// The grace period a pod being deleted was given, in seconds.
std::optional<int64_t> DeletionGrace(const json& pod);

// Sets (or replaces) the condition `type` in `status`; true when it changed.
bool SetCondition(json& status, const std::string& type, const std::string& value,
                  const std::string& reason, const std::string& message, TimePoint now);
bool HasTrueCondition(const json& status, const std::string& type);

// A status for each container of `pod`, every one in `state` (such as
// {"running": {...}}); `ready` for running containers.
json ContainerStatuses(const json& pod, const json& state, bool ready);

// Marks every container of `pod` terminated with `exit_code` (reason
// Completed or Error) and the pod Succeeded or Failed.
void EndPod(json& pod, int exit_code, TimePoint started, TimePoint finished);
// EndPod for a container that exited by itself: the pod is no longer ready.
void ExitPod(json& pod, int exit_code, TimePoint started, TimePoint now);

}  // namespace portflow::fake
