// ResourceQuota, as the API server's quota admission and the quota
// controller apply it to pods. A quota's spec.hard limits what the live pods
// of its namespace (not Succeeded or Failed) may hold together: "pods",
// "requests.cpu" (or "cpu"), "requests.memory" (or "memory"), "limits.cpu",
// "limits.memory" and "requests.<extended>" such as requests.nvidia.com/gpu.
// The scopes Terminating, NotTerminating, BestEffort and NotBestEffort pick
// the pods a quota counts. Other keys (count/jobs.batch, services...) are
// kept but not enforced.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "k8s_backend/fake_cluster/store/object_store.h"

namespace portflow::fake {

const ResourceKind& ResourceQuotas();

// What `pods` hold, by quota key, for the keys of `hard`; cpu in millicores,
// the rest in whole units.
std::map<std::string, int64_t> QuotaUsage(const json& quota, const std::vector<json>& pods);

// Pod creation under the namespace's quotas. Every pod is created through
// one of these, one at a time, so that two creates cannot both take the last
// of a quota (the API server does the same with optimistic writes to the
// quota's status).
class PodAdmission {
 public:
  explicit PodAdmission(ObjectStore& store) : store_(store) {}

  // Creates the pod after `admit` (defaults and validation) passes. A pod
  // that would take a quota past its hard limit, or that lacks a request or
  // limit a quota constrains, is refused with ResourceExhausted (403
  // Forbidden) and the API server's message:
  //   pods "p" is forbidden: exceeded quota: q, requested: requests.cpu=2,
  //   used: requests.cpu=1, limited: requests.cpu=2
  Result<ObjectStore::Stored> Create(const std::string& ns, json pod,
                                     const ObjectStore::Admit& admit = nullptr);

 private:
  ObjectStore& store_;
  std::mutex mu_;
};

// Sets status.hard and status.used of `quotas`, the quotas of `ns`, from
// its pods, as the quota controller does; true when one changed.
bool SyncQuotaStatus(ObjectStore& store, const std::string& ns, std::vector<json> quotas);

}  // namespace portflow::fake
