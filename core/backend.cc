#include "core/backend.h"

#include <map>
#include <mutex>

namespace portflow {

Result<std::string> Backend::Render(const TaskSpec& spec) const {
  if (spec.argv.empty()) return InvalidArgument(spec.instance + ": empty command");
  if (spec.replicas < 1) return InvalidArgument(spec.instance + ": replicas must be at least 1");
  return DoRender(spec);
}

Result<TaskHandle> Backend::Submit(const TaskSpec& spec) {
  if (spec.argv.empty()) return InvalidArgument(spec.instance + ": empty command");
  if (spec.replicas < 1) return InvalidArgument(spec.instance + ": replicas must be at least 1");
  if (!sink_) return FailedPrecondition("Submit before SetEventSink");
  return DoSubmit(spec);
}

std::vector<Unsupported> Backend::UnsupportedUses(const TaskSpec& spec) const {
  std::vector<Unsupported> used;
  for (const Unsupported& u : capabilities().unsupported) {
    if ((u.field == "image" && spec.image.has_value()) ||
        (u.field == "gpu" && spec.resources.gpus > 0) ||
        (u.field == "replicas" && spec.replicas > 1)) {
      used.push_back(u);
    }
  }
  return used;
}

void Backend::Emit(TaskEvent event) const {
  if (sink_) sink_->OnTaskEvent(std::move(event));
}

std::string LogPath(const std::string& run_dir, const std::string& instance, int attempt,
                    int replica) {
  return run_dir + "/logs/" + instance + ".attempt-" + std::to_string(attempt) + ".replica-" +
         std::to_string(replica) + ".log";
}

namespace {
std::mutex registry_mu;
std::map<std::string, BackendFactory>& Registry() {
  static std::map<std::string, BackendFactory> registry;
  return registry;
}
}  // namespace

void RegisterBackend(const std::string& name, BackendFactory factory) {
  std::lock_guard<std::mutex> l(registry_mu);
  Registry()[name] = std::move(factory);
}

Result<std::unique_ptr<Backend>> CreateBackend(const std::string& name,
                                               const std::map<std::string, std::string>& settings) {
  BackendFactory f;
  {
    std::lock_guard<std::mutex> l(registry_mu);
    auto it = Registry().find(name);
    if (it == Registry().end()) {
      std::string known;
      for (auto& [k, v] : Registry()) known += (known.empty() ? "" : ", ") + k;
      return NotFound("unknown backend \"" + name + "\" (known: " + known + ")");
    }
    f = it->second;
  }
  return f(settings);
}

std::vector<std::string> RegisteredBackends() {
  std::lock_guard<std::mutex> l(registry_mu);
  std::vector<std::string> out;
  for (auto& [k, v] : Registry()) out.push_back(k);
  return out;
}

}  // namespace portflow
