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
};

// Settings from a target: cpu, memory, gpu (quantities), grace (duration).
Result<LocalOptions> LocalOptionsFromSettings(const std::map<std::string, std::string>& settings);

std::unique_ptr<Backend> NewLocalBackend(LocalOptions options, Clock& clock = RealClock());

// Adds "local" to the backend registry.
void RegisterLocalBackend();

}  // namespace portflow
