// The local backend: each replica of a task is a process on this machine, in
// a process group of its own, with stdout and stderr in its log file under the
// run directory. Capacity comes from the machine (cores, memory, GPUs) unless
// the target overrides it.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "core/backend.h"
#include "core/clock.h"

namespace portflow {

struct LocalOptions {
  // Default: the machine's. A negative field takes the machine's value.
  std::optional<ResourceRequest> capacity;
  Duration kill_grace = std::chrono::seconds(10);  // a gang's survivors: SIGTERM, then SIGKILL
  bool discover_gpus = true;
  // Tasks get this process's whole environment under their own variables;
  // without it, only what a laptop needs to find its tools (kHostEnvKept),
  // as a cluster's container gets nothing of the shell that started it.
  bool inherit_env = true;
};

// What a task keeps of the host's environment when it does not inherit it:
// PATH, HOME, the user, locale and temp dir, an active virtualenv or conda
// environment, the CUDA paths.
inline constexpr const char* kHostEnvKept[] = {
    "PATH",      "HOME",      "USER",           "LOGNAME",     "LANG",         "LC_ALL",
    "LC_CTYPE",  "TZ",        "TMPDIR",         "VIRTUAL_ENV", "CONDA_PREFIX", "CONDA_DEFAULT_ENV",
    "CUDA_HOME", "CUDA_PATH", "LD_LIBRARY_PATH"};

// Settings from a target: cpu, memory, gpu (quantities), grace (duration),
// env (inherit, the default, or clean: kHostEnvKept only).
Result<LocalOptions> LocalOptionsFromSettings(const std::map<std::string, std::string>& settings);

std::unique_ptr<Backend> NewLocalBackend(LocalOptions options, Clock& clock = RealClock());

// Adds "local" to the backend registry.
void RegisterLocalBackend();

}  // namespace portflow
