// What a cluster has, read from its API: the inputs of the Kubernetes
// backend's placement answers and of `portflow targets`.
#pragma once

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "core/task.h"
#include "k8s_backend/client/api_client.h"

namespace portflow::k8s {

// The items of a list answer to GET `path` (an API error as a Status).
Result<nlohmann::json> ListItems(ApiClient& client, const std::string& path);

// cpu, memory and nvidia.com/gpu of a requests, limits or allocatable map.
ResourceRequest Quantities(const nlohmann::json& resources);

// What the containers of a pod spec request (cpu, memory, nvidia.com/gpu),
// summed.
ResourceRequest PodRequests(const nlohmann::json& pod_spec);

// The allocatable of the Ready nodes. An error when nodes cannot be listed.
Result<ResourceRequest> ReadyAllocatable(ApiClient& client);

// What the pods that hold a node (bound, not ended) request, in every
// namespace. An error when pods cannot be listed.
Result<ResourceRequest> RequestedOnNodes(ApiClient& client);

}  // namespace portflow::k8s
