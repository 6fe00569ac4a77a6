// What the kubelet needs to know about a pod's containers before it starts
// them: whether they can start (image, config), and, in execute mode, the
// local process that stands for the first container.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "k8s_backend/fake_cluster/store/object_store.h"

namespace portflow::fake {

// Why a bound pod cannot start its containers yet (InvalidImageName,
// ErrImagePull, ImagePullBackOff, CreateContainerConfigError) and the
// kubelet's message; nullopt when it can. `tries`: how often it was tried.
std::optional<std::pair<std::string, std::string>> ContainerBlocked(
    const ObjectStore& store, const std::set<std::string>& missing_images, const json& pod,
    int tries);

// The pod's first container as a local process: its command and args with
// $(VAR) expanded, its env (values, fieldRefs, ConfigMap and Secret keys),
// its volumes as host directories linked at their mount paths under the
// pod's own root (`exec_root`/pods/UID/root), and every mount path in argv,
// env and workingDir re-rooted there. `<pod>.<service>` host names become
// 127.0.0.1.
// What is in a folder: each file's size and modification time, by path
// (Python's __pycache__ folders left out). ResourceExhausted when it
// cannot be listed for want of descriptors: an empty state would make
// every file look written later.
using FolderState = std::map<std::string, std::pair<uintmax_t, int64_t>>;
Result<FolderState> Snapshot(const std::string& dir);
// The first path added, removed or changed between two states; "" if none.
std::string FirstChange(const FolderState& before, const FolderState& after);

// A folder that a real cluster mounts read-only (a configMap or secret
// volume, a volumeMount with readOnly), as it was when the process started.
struct ReadOnlyMount {
  std::string mount_path, dir;
  FolderState at_start;
};

struct ContainerLaunch {
  std::string container;  // its name
  std::vector<std::string> argv, env;
  std::string cwd;
  std::string search_path;  // PATH, to find argv[0]
  std::string pod_dir;      // `exec_root`/pods/UID
  // The process's writes there fail its pod, as a cluster fails the writes.
  std::vector<ReadOnlyMount> read_only;
};
// `container`: the pod's first container by default, or one of its init
// containers, which also sees `image_files` (path in its image -> file here).
Result<ContainerLaunch> PrepareContainer(
    const ObjectStore& store, const std::string& exec_root, const json& pod,
    const json* container = nullptr, const std::map<std::string, std::string>& image_files = {});

}  // namespace portflow::fake
