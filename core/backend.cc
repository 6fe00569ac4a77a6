#include "core/backend.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <mutex>

namespace portflow {

namespace {
Status CheckShape(const TaskSpec& spec) {
  if (spec.argv.empty()) return InvalidArgument(spec.instance + ": empty command");
  if (spec.replicas < 1) return InvalidArgument(spec.instance + ": replicas must be at least 1");
  return OkStatus();
}
}  // namespace

Result<std::string> Backend::Render(const TaskSpec& spec) const {
  RETURN_IF_ERROR(CheckShape(spec));
  return DoRender(spec);
}

Status Backend::Check(const TaskSpec& spec) const {
  RETURN_IF_ERROR(CheckShape(spec));
  return DoCheck(spec);
}

Result<TaskHandle> Backend::Submit(const TaskSpec& spec) {
  RETURN_IF_ERROR(CheckShape(spec));
  if (!sink_) return FailedPrecondition("Submit before SetEventSink");
  return DoSubmit(spec);
}

std::string_view FeatureName(Feature f) {
  switch (f) {
    case Feature::kImage:
      return "image";
    case Feature::kGpu:
      return "gpu";
    case Feature::kReplicas:
      return "replicas";
  }
  return "";
}

std::vector<Unsupported> Backend::UnsupportedUses(const TaskSpec& spec) const {
  std::vector<Unsupported> used;
  for (const Unsupported& u : capabilities().unsupported) {
    bool uses = false;
    switch (u.feature) {
      case Feature::kImage:
        uses = spec.image.has_value();
        break;
      case Feature::kGpu:
        uses = spec.resources.gpus > 0;
        break;
      case Feature::kReplicas:
        uses = spec.replicas > 1;
        break;
    }
    if (uses) used.push_back(u);
  }
  return used;
}

Placement Backend::Place(const PlacementRequest& request) { return DoPlace(request); }

Status Backend::Logs(const TaskHandle& handle, int replica, bool follow,
                     const std::function<bool(std::string_view)>& sink) {
  ASSIGN_OR_RETURN(std::string path, LogFile(handle, replica));
  return TailLog(
      path, follow, [&] { return HasEnded(handle); }, RealClock(), sink);
}

Result<std::string> Backend::LogFile(const TaskHandle& handle, int) const {
  return InvalidArgument("the " + name() + " backend keeps no logs for " + handle.key);
}

void Backend::Emit(TaskEvent event) const {
  if (sink_) sink_->OnTaskEvent(std::move(event));
}

std::string LogDir(const std::string& run_dir) { return run_dir + "/logs"; }

std::string LogPath(const std::string& run_dir, const std::string& instance, int attempt,
                    int replica) {
  return LogDir(run_dir) + "/" + instance + ".attempt-" + std::to_string(attempt) + ".replica-" +
         std::to_string(replica) + ".log";
}

LogRead ReadLog(const std::string& path, uint64_t offset, size_t max, bool last) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  LogRead out = ReadLog(fd, path, offset, max, last);
  ::close(fd);
  return out;
}

LogRead ReadLog(int fd, const std::string& path, uint64_t offset, size_t max, bool last) {
  LogRead out;
  struct stat read_from {};
  if (::fstat(fd, &read_from) == 0) {
    auto size = static_cast<uint64_t>(read_from.st_size);
    out.from = std::min(offset, size);
    if (last && size - out.from > max) out.from = size - max;
    char buf[65536];
    while (out.text.size() < max) {
      size_t want = std::min(sizeof buf, max - out.text.size());
      ssize_t n = ::pread(fd, buf, want, static_cast<off_t>(out.from + out.text.size()));
      if (n <= 0) break;
      out.text.append(buf, static_cast<size_t>(n));
    }
  }
  // After the read: a file given away before it holds only the next
  // attempt's output, and then `path` no longer names it.
  struct stat named {};
  if (::stat(path.c_str(), &named) != 0 || named.st_ino != read_from.st_ino ||
      named.st_dev != read_from.st_dev)
    return {};
  out.found = true;
  return out;
}

Status TailLog(const std::string& path, bool follow, const std::function<bool()>& ended,
               Clock& clock, const std::function<bool(std::string_view)>& sink) {
  uint64_t offset = 0;
  bool found = false;
  while (true) {
    // Whether it had ended is read before the file, so that what was
    // written up to the end is read after it.
    bool last = !follow || ended();
    for (LogRead r; (r = ReadLog(path, offset, size_t{1} << 20)).found;) {
      found = true;
      if (r.text.empty()) break;
      offset += r.text.size();
      if (!sink(r.text)) return OkStatus();
    }
    if (last) {
      return found ? OkStatus() : NotFound("no log at " + path);
    }
    SleepFor(clock, std::chrono::milliseconds(100));
  }
}

Placement PlaceInSlots(const PlacementRequest& request, const ResourceRequest& capacity,
                       const ResourceRequest& in_use) {
  Placement p;
  ResourceRequest need = request.Total();
  ResourceRequest free = capacity;
  free -= in_use;
  free -= request.held;
  p.can_ever_fit = need.FitsIn(capacity);
  p.can_start_now = p.can_ever_fit && need.FitsIn(free);
  if (p.can_start_now) {
    p.estimated_wait = Duration::zero();
  } else {
    p.why = "needs " + need.ToString() + (p.can_ever_fit ? "; free now: " : "; has in all: ") +
            (p.can_ever_fit ? free.ToString() : capacity.ToString());
  }
  return p;
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
