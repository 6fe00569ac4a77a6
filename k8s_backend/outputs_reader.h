// Reading a run's outputs from the cluster's volume, where only a pod can:
// a short-lived pod mounts the artifacts claim read-only and prints the
// folder as a base64 tar (busybox has sh, tar and base64); it is deleted
// once read.
#pragma once

#include <string>

#include "core/clock.h"
#include "core/status.h"
#include "k8s_backend/client/api_client.h"
#include "k8s_backend/namespace_objects.h"

namespace portflow::k8s {

// A tar archive of `dir` (a path under the claim's mount) on the claim
// `claim` of namespace `paths.ns`, read by a pod that runs `image`; waits
// for it at most five minutes.
Result<std::string> ReadOutputsArchive(ApiClient& client, const NamespacePaths& paths,
                                       const std::string& claim, const std::string& image,
                                       const std::string& dir, Clock& clock);

}  // namespace portflow::k8s
