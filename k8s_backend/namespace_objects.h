// The backend's objects in its namespace: where each kind lives, how a Job
// is deleted with its pods, and how an object is created so that a create
// repeated after a lost answer adopts what the first one made.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/status.h"
#include "k8s_backend/client/api_client.h"

namespace portflow::k8s {

struct NamespacePaths {
  std::string ns;

  std::string Jobs() const { return "/apis/batch/v1/namespaces/" + ns + "/jobs"; }
  std::string Pods() const { return "/api/v1/namespaces/" + ns + "/pods"; }
  std::string Services() const { return "/api/v1/namespaces/" + ns + "/services"; }
  std::string ConfigMaps() const { return "/api/v1/namespaces/" + ns + "/configmaps"; }
  std::string Secrets() const { return "/api/v1/namespaces/" + ns + "/secrets"; }
  std::string Events() const { return "/api/v1/namespaces/" + ns + "/events"; }
  // The collection of a rendered object (Job, Service or ConfigMap).
  std::string Of(const nlohmann::json& object) const;
  // A Job's deletion with its pods (gracePeriodSeconds 0 when forced).
  std::string JobDeletion(const std::string& job, bool force = false) const;
  // The deletion of a rendered object (a Job with its pods).
  std::string Deletion(const nlohmann::json& object) const;
};

// Creates `object`. Names are deterministic, so one that exists already is
// kept when it is ours: a Job must carry every label of `owner_labels` (a
// repeated Submit adopts it; a same-named Job of another run is refused
// with FailedPrecondition). Other kinds pass `owner_labels` nullptr.
// Returns the object's uid ("" for one of another kind that existed).
Result<std::string> CreateOrAdopt(ApiClient& client, const NamespacePaths& paths,
                                  const nlohmann::json& object,
                                  const std::map<std::string, std::string>* owner_labels);

// Creates an attempt's rendered `objects` in order with CreateOrAdopt (its
// Job must carry `job_labels`), and adds the Job to the owners of the code
// ConfigMap among them, so that the code, which the run's attempts share,
// goes with the last Job that mounts it. When one fails, what was made is
// deleted, and the object that failed too when it may exist (its answer
// was lost or the server erred; a Job whose code could not be owned), so
// that nothing of the attempt runs beside the next one; but never the code
// ConfigMap, which other attempts mount. Returns that failure.
Status CreateAttemptObjects(ApiClient& client, const NamespacePaths& paths,
                            const std::vector<nlohmann::json>& objects,
                            const std::map<std::string, std::string>& job_labels);

}  // namespace portflow::k8s
