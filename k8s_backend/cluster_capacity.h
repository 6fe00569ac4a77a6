// What a cluster has, read from its API: the inputs of the Kubernetes
// backend's placement answers and of `portflow targets`.
#pragma once

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "core/task.h"
#include "k8s_backend/client/api_client.h"

namespace portflow::k8s {

// What the containers of a pod spec request (cpu, memory, nvidia.com/gpu),
// summed.
ResourceRequest PodRequests(const nlohmann::json& pod_spec);

// The allocatable of the Ready nodes. An error when nodes cannot be listed.
Result<ResourceRequest> ReadyAllocatable(ApiClient& client);

// What the pods that hold a node (bound, not ended) request, in every
// namespace. An error when pods cannot be listed.
Result<ResourceRequest> RequestedOnNodes(ApiClient& client);

}  // namespace portflow::k8s
