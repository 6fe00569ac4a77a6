// How the fake kubelet runs pods: simulated (a duration and an exit code
// from annotations, in the store's time) or executed as local processes.
#pragma once

#include <map>
#include <set>
#include <string>

#include "core/clock.h"

namespace portflow::fake {

struct KubeletOptions {
  Duration default_duration = std::chrono::seconds(1);
  int default_exit_code = 0;
  // Events kept at most; the oldest go first (the API server keeps them for
  // an hour, which at 10,000 pods a second would be millions).
  size_t max_events = 20000;
  // Execute mode: the first container's command runs as a local process
  // under `exec_root`/pods/POD-UID, with volumes under `exec_root`/volumes.
  bool execute = false;
  std::string exec_root;
  // How long a gone pod's log stays readable (a follow that saw the pod end
  // reads the rest) before it, and in execute mode the pod's folder, go.
  Duration logs_kept = std::chrono::seconds(30);
  // Images the registry does not have: a pod that uses one waits in
  // ErrImagePull, then ImagePullBackOff, until the image is no longer here.
  std::set<std::string> missing_images;
  // Execute mode: files that images hold, by image, then by path in the
  // image (portflow's agent image holds the running binary at /portflow).
  // An init container of such an image sees them at those paths.
  std::map<std::string, std::map<std::string, std::string>> image_files;
};

}  // namespace portflow::fake
