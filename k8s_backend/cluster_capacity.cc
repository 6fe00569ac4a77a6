#include "k8s_backend/cluster_capacity.h"

#include "core/encoding.h"
#include "core/json_fields.h"
#include "core/json_parse.h"
#include "core/quantity.h"

namespace portflow::k8s {

using json = nlohmann::json;

Result<json> ListItems(ApiClient& client, const std::string& path) {
  ASSIGN_OR_RETURN(ApiResponse r, client.Call({"GET", path, ""}));
  RETURN_IF_ERROR(ApiError(r));
  json list = ParseJson(r.body);
  if (!list.is_object()) return Unavailable("GET " + path + ": the answer is not a JSON object");
  return list.value("items", json::array());
}

ResourceRequest Quantities(const json& r) {
  ResourceRequest sum;
  if (auto cpu = ParseMilliQuantity(Str(r, "cpu")); cpu.ok()) sum.milli_cpu += *cpu;
  if (auto mem = ParseQuantity(Str(r, "memory")); mem.ok()) sum.memory_bytes += *mem;
  if (auto gpu = ParseQuantity(Str(r, "nvidia.com/gpu")); gpu.ok()) sum.gpus += *gpu;
  return sum;
}

ResourceRequest PodRequests(const json& pod_spec) {
  ResourceRequest sum;
  for (const json& c : pod_spec.value("containers", json::array())) {
    sum += Quantities(Sub(Sub(c, "resources"), "requests"));
  }
  return sum;
}

Result<ResourceRequest> ReadyAllocatable(ApiClient& client) {
  ASSIGN_OR_RETURN(json nodes, ListItems(client, "/api/v1/nodes"));
  ResourceRequest total;
  for (const json& n : nodes) {
    bool ready = false;
    for (const json& c : Sub(n, "status").value("conditions", json::array()))
      ready = ready || (Str(c, "type") == "Ready" && Str(c, "status") == "True");
    if (ready) total += Quantities(Sub(Sub(n, "status"), "allocatable"));
  }
  return total;
}

Result<ResourceRequest> RequestedOnNodes(ApiClient& client) {
  ASSIGN_OR_RETURN(
      json pods,
      ListItems(client, "/api/v1/pods?fieldSelector=" +
                            PercentEncode("status.phase!=Succeeded,status.phase!=Failed", true)));
  ResourceRequest used;
  for (const json& p : pods) {
    if (!Str(Sub(p, "spec"), "nodeName").empty()) used += PodRequests(Sub(p, "spec"));
  }
  return used;
}

}  // namespace portflow::k8s
