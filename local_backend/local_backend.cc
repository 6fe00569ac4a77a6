#include "local_backend/local_backend.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <thread>
#include <utility>

#include "core/log.h"
#include "core/process/proc.h"
#include "core/process/spawn.h"
#include "core/process/supervisor.h"
#include "core/quantity.h"
#include "local_backend/gpu.h"
#include "local_backend/log_files.h"

extern char** environ;

namespace portflow {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

struct Replica {
  pid_t pid = -1;
  std::string log;  // its log file
  int64_t start_ticks = 0;
  bool done = false;
  int status = 0;  // from waitpid
};

struct Task {
  std::string key;
  std::string instance;
  TaskHandle handle;
  std::vector<Replica> replicas;
  std::vector<int> gpus;
  ResourceRequest need;  // all replicas'
  bool cancelled = false;
  bool ended = false;
  int first_failed = -1;  // the replica whose failure ended the gang
};

// A port that binds now, for a gang's MASTER_PORT. It is picked below the
// kernel's ephemeral range (ip_local_port_range), so that no outgoing
// connection can take it between this pick and rank 0's bind; only a
// process binding that very port could.
int FreePort() {
  int low = 32768;
  std::ifstream("/proc/sys/net/ipv4/ip_local_port_range") >> low;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  std::minstd_rand pick(std::random_device{}());
  int port = 0;
  for (int attempt = 0; attempt < 64 && port == 0 && low > 10000; ++attempt) {
    int candidate = 10000 + static_cast<int>(pick() % (low - 10000));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_ANY);  // train.py binds 0.0.0.0
    addr.sin_port = htons(candidate);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) port = candidate;
  }
  ::close(fd);
  return port;
}

std::string Join(const std::vector<int>& v) {
  std::string s;
  for (int x : v) s += (s.empty() ? "" : ",") + std::to_string(x);
  return s;
}

// This machine's cores and memory, with `gpus` (discovered by the caller:
// loading the CUDA driver is done once).
ResourceRequest MachineCapacity(int64_t gpus) {
  ResourceRequest r;
  cpu_set_t set;
  int cpus = ::sched_getaffinity(0, sizeof set, &set) == 0
                 ? CPU_COUNT(&set)
                 : static_cast<int>(::sysconf(_SC_NPROCESSORS_ONLN));
  r.milli_cpu = int64_t{std::max(cpus, 1)} * 1000;
  r.memory_bytes = int64_t{::sysconf(_SC_PHYS_PAGES)} * ::sysconf(_SC_PAGE_SIZE);
  r.gpus = gpus;
  return r;
}

class LocalBackend : public Backend {
 public:
  LocalBackend(LocalOptions options, Clock& clock) : options_(std::move(options)), clock_(clock) {
    if (options_.discover_gpus) gpus_ = DiscoverGpus();
    ResourceRequest machine = MachineCapacity(static_cast<int64_t>(gpus_.size()));
    capacity_ = options_.capacity.value_or(machine);
    // Fields a target left unset (negative) are the machine's.
    if (capacity_.milli_cpu < 0) capacity_.milli_cpu = machine.milli_cpu;
    if (capacity_.memory_bytes < 0) capacity_.memory_bytes = machine.memory_bytes;
    if (capacity_.gpus < 0) capacity_.gpus = machine.gpus;
    // An explicit capacity is trusted (discovery can miss devices).
    for (int i = 0; i < static_cast<int>(capacity_.gpus); ++i) free_gpus_.insert(i);
    if (const char* v = ::getenv("CUDA_VISIBLE_DEVICES")) parent_visible_ = v;
  }

  std::string name() const override { return "local"; }

  Capabilities capabilities() const override {
    return {{{Feature::kImage, "local runs the command on the host, without a container"}}};
  }

  std::string ArtifactRoot(const std::string&, const std::string& run_dir) const override {
    return run_dir + "/outputs";
  }

  ResourceRequest Capacity() override { return capacity_; }

  Status Cancel(const TaskHandle& handle, bool force) override {
    int sig = force ? SIGKILL : SIGTERM;
    {
      std::lock_guard<std::mutex> l(mu_);
      auto it = tasks_.find(handle.key);
      if (it != tasks_.end()) {
        Task& t = *it->second;
        if (t.ended) return OkStatus();
        t.cancelled = true;
        for (Replica& r : t.replicas) {
          if (!r.done) supervisor_.Signal(r.pid, sig);
        }
        return OkStatus();
      }
    }
    // Work started by an earlier portflow process: stop what is still its own.
    for (const ProcessRef& p : ParseHandle(handle)) {
      if (IsSameProcess(p)) ::kill(-p.pid, sig);
    }
    return OkStatus();
  }

  Result<std::vector<RecoveredTask>> Recover(const std::string& run_id,
                                             const std::vector<TaskHandle>& handles) override {
    // A dead engine's children cannot be waited for (they are not ours), so
    // their exit codes are lost: stop them and let the engine run them again.
    std::vector<ProcessRef> orphans;
    for (const TaskHandle& h : handles) {
      for (const ProcessRef& p : ParseHandle(h)) {
        if (IsSameProcess(p)) orphans.push_back(p);
      }
    }
    for (const ProcessRef& p : ProcessesWithEnv("PORTFLOW_RUN_ID=" + run_id)) orphans.push_back(p);
    StopProcesses(orphans, options_.kill_grace);
    std::vector<RecoveredTask> out;
    for (const TaskHandle& h : handles) {
      ExitResult r{0, 0, false, "Interrupted",
                   "portflow stopped while this attempt ran; its processes were stopped"};
      out.push_back({h, TaskState::kCancelled, r});
    }
    return out;
  }

  int TakeOverWaiting() override { return supervisor_.TakeOver(); }
  void Drive() override { supervisor_.Drive(); }
  void ReleaseWaiting() override { supervisor_.GiveBack(); }

 protected:
  // From its slots: the capacity less what its live tasks hold (kept as
  // they start and end: the engine asks for every ready instance each turn).
  Placement DoPlace(const PlacementRequest& request) override {
    std::lock_guard<std::mutex> l(mu_);
    Placement p = PlaceInSlots(request, capacity_, in_use_);
    // Each live replica holds a descriptor (its pidfd); starting one takes
    // a few more for a moment. Past the limit on open files a start would
    // fail, so the step waits for others to end instead.
    int64_t limit = OpenFileLimit();
    int64_t room = ReplicaRoom(limit);
    if (p.can_ever_fit && request.replicas > room) {
      p.can_ever_fit = p.can_start_now = false;
      p.why = "its " + std::to_string(request.replicas) +
              " processes would pass the limit on open files (ulimit -n " + std::to_string(limit) +
              " lets " + std::to_string(room) + " run at once): raise it";
    } else if (p.can_start_now && request.replicas > room - live_replicas_) {
      p.can_start_now = false;
      p.why = std::to_string(live_replicas_) + " processes run and the limit on open files is " +
              std::to_string(limit) + " (ulimit -n): waiting for some to end";
    }
    return p;
  }

  // How many replicas may live at once under `limit` open files: one
  // descriptor each, less those kept for the rest (the run store, logs, a
  // spawn's pipes, the terminal, about 16): half the limit, at least 24 and
  // at most 64.
  static int64_t ReplicaRoom(int64_t limit) {
    return limit - std::clamp<int64_t>(limit / 2, 24, 64);
  }
  static int64_t OpenFileLimit() {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY)
      return INT64_MAX / 2;
    return static_cast<int64_t>(limit.rlim_cur);
  }

  Result<std::string> LogFile(const TaskHandle& handle, int replica) const override {
    json data = json::parse(handle.data, nullptr, false);
    if (!data.is_object() || !data.contains("logs")) return InvalidArgument("not a local handle");
    const auto& logs = data["logs"];
    if (replica < 0 || replica >= static_cast<int>(logs.size())) {
      return InvalidArgument("no replica " + std::to_string(replica));
    }
    return logs[replica].get<std::string>();
  }

  bool HasEnded(const TaskHandle& handle) override { return Ended(handle); }

  // A replica that ended having printed nothing may have given its file to
  // a later attempt (LogFiles): no file then is an empty log.
  Status Logs(const TaskHandle& handle, int replica, bool follow,
              const std::function<bool(std::string_view)>& sink) override {
    Status s = Backend::Logs(handle, replica, follow, sink);
    if (s.code() != StatusCode::kNotFound) return s;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (auto it = tasks_.find(handle.key); it != tasks_.end()) {
        const std::vector<Replica>& replicas = it->second->replicas;
        bool done = replica >= 0 && replica < static_cast<int>(replicas.size()) &&
                    replicas[static_cast<size_t>(replica)].done;
        return done ? OkStatus() : s;
      }
    }
    return Ended(handle) ? OkStatus() : s;  // an earlier portflow's
  }

  // Nothing in a local rendering can fail: no need to build it to know.
  Status DoCheck(const TaskSpec&) const override { return OkStatus(); }

  Result<std::string> DoRender(const TaskSpec& spec) const override {
    json out;
    out["backend"] = "local";
    out["instance"] = spec.instance;
    out["attempt"] = spec.attempt;
    out["resources"] = {{"cpu", FormatMilliCpu(spec.resources.milli_cpu)},
                        {"memory", FormatBytes(spec.resources.memory_bytes)},
                        {"gpu", spec.resources.gpus}};
    if (spec.timeout) out["timeout"] = FormatDuration(*spec.timeout);
    json replicas = json::array();
    for (int r = 0; r < spec.replicas; ++r) {
      json env = json::object();
      std::vector<int> gpus(spec.resources.gpus);
      for (int g = 0; g < static_cast<int>(gpus.size()); ++g)
        gpus[g] = r * static_cast<int>(gpus.size()) + g;
      for (auto& [k, v] : TaskEnv(spec, r, spec.replicas > 1 ? -1 : 0, gpus)) env[k] = v;
      replicas.push_back({{"rank", r},
                          {"argv", spec.argv},
                          {"cwd", spec.workdir},
                          {"env", env},
                          {"log", LogPath(spec.run_dir, spec.instance, spec.attempt, r)}});
    }
    out["replicas"] = replicas;
    // What comes from the shell that runs portflow, by name only (values can
    // be secrets): a cluster's container has none of it.
    std::set<std::string> own;
    for (const auto& [k, v] : TaskEnv(spec, 0, 0, {})) own.insert(k);
    json inherited = json::array();
    std::set<std::string> names;
    ForEachHostVar([&](std::string_view k, std::string_view) {
      std::string name(k);
      if (!own.count(name) && names.insert(name).second) inherited.push_back(name);
    });
    out["inheritedEnv"] = {{"mode", options_.inherit_env ? "inherit" : "clean"},
                           {"names", inherited}};
    json outputs = json::object();
    for (const auto& o : spec.outputs) outputs[o.name] = o.path;
    out["outputs"] = outputs;
    return out.dump(2, ' ', false, json::error_handler_t::replace);
  }

  Result<TaskHandle> DoSubmit(const TaskSpec& spec) override {
    std::unique_lock<std::mutex> l(mu_);
    if (auto it = tasks_.find(spec.Key()); it != tasks_.end()) return it->second->handle;
    auto task = std::make_shared<Task>();
    task->key = spec.Key();
    task->instance = spec.instance;
    task->need = spec.resources * spec.replicas;
    int per = static_cast<int>(spec.resources.gpus);
    if (per * spec.replicas > static_cast<int>(free_gpus_.size())) {
      return ResourceExhausted(spec.instance + ": needs " + std::to_string(per * spec.replicas) +
                               " GPUs, " + std::to_string(free_gpus_.size()) + " free");
    }
    for (int g = 0; g < per * spec.replicas; ++g) {
      task->gpus.push_back(*free_gpus_.begin());
      free_gpus_.erase(free_gpus_.begin());
    }
    l.unlock();
    Status prepared = PrepareDirs(spec);
    Result<std::string> exe =
        prepared.ok() ? ResolveExecutable(spec) : Result<std::string>(prepared);
    int port = spec.replicas > 1 ? FreePort() : 0;
    json logs = json::array();
    Status failed = exe.ok() ? OkStatus() : exe.status();
    if (failed.ok() && spec.replicas > 1 && port == 0)
      failed = Unavailable("no free TCP port for MASTER_PORT");
    for (int r = 0; r < spec.replicas && failed.ok(); ++r) {
      std::string log = LogPath(spec.run_dir, spec.instance, spec.attempt, r);
      logs.push_back(log);
      int fd = log_files_.Open(LogDir(spec.run_dir), log);
      if (fd < 0) {
        failed = FromErrno("cannot open " + log, errno, StatusCode::kInternal);
        break;
      }
      std::vector<int> gpus(task->gpus.begin() + r * per, task->gpus.begin() + (r + 1) * per);
      SpawnRequest req;
      req.executable = *exe;
      req.args.assign(spec.argv.begin() + 1, spec.argv.end());
      req.env = FullEnv(TaskEnv(spec, r, port, gpus));
      req.cwd = spec.workdir;
      req.out_fd = fd;
      Replica rep;
      Result<pid_t> pid = SpawnProcess(req, &rep.start_ticks);
      ::close(fd);
      if (!pid.ok()) {
        failed = pid.status();
        break;
      }
      // The executable only: arguments and environment may hold secrets.
      PORTFLOW_LOG(LogLevel::kDebug, "local",
                   "started " + spec.instance + " attempt " + std::to_string(spec.attempt) +
                       " replica " + std::to_string(r) + " as pid " + std::to_string(*pid) + ": " +
                       *exe + ", output to " + log);
      rep.pid = *pid;
      rep.log = std::move(log);
      task->replicas.push_back(std::move(rep));
    }
    json data = {{"logs", logs}, {"pids", json::array()}, {"starts", json::array()}};
    for (const Replica& r : task->replicas) {
      data["pids"].push_back(r.pid);
      data["starts"].push_back(r.start_ticks);
    }
    task->handle = {name(), spec.Key(), data.dump(-1, ' ', false, json::error_handler_t::replace)};
    l.lock();
    size_t watched = 0;
    for (size_t i = 0; i < task->replicas.size() && failed.ok(); ++i) {
      failed = supervisor_.Watch(
          task->replicas[i].pid,
          [this, task, i](pid_t, std::optional<int> status) { OnExit(*task, i, status); });
      if (failed.ok()) ++watched;
    }
    if (!failed.ok()) {
      // Nothing of a half-started gang may survive. An exit the supervisor
      // took already finds the task ended; that replica is its to reap.
      task->ended = true;
      for (size_t i = 0; i < task->replicas.size(); ++i) {
        pid_t pid = task->replicas[i].pid;
        if (i < watched && !supervisor_.Forget(pid)) continue;
        ::kill(-pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
      }
      for (int g : task->gpus) free_gpus_.insert(g);
      l.unlock();
      return failed;
    }
    tasks_[spec.Key()] = task;
    in_use_ += task->need;
    live_replicas_ += static_cast<int64_t>(task->replicas.size());
    l.unlock();
    Emit({spec.Key(), TaskState::kRunning, clock_.Now(), std::nullopt, "",
          std::to_string(spec.replicas) + " process(es) started"});
    log_files_.MakeSpare(LogDir(spec.run_dir));  // while the child runs
    return task->handle;
  }

 private:
  // The task's own variables: the spec's, then the distributed contract.
  // `port` < 0 renders a placeholder (the port is chosen at start).
  std::vector<std::pair<std::string, std::string>> TaskEnv(const TaskSpec& spec, int rank, int port,
                                                           const std::vector<int>& gpus) const {
    auto env = spec.env;
    std::string n = std::to_string(spec.replicas), r = std::to_string(rank);
    std::string p = port < 0 ? "(a free port, chosen at start)" : std::to_string(port);
    for (const std::string& prefix : {std::string(), std::string("PORTFLOW_")}) {
      env.emplace_back(prefix + "WORLD_SIZE", n);
      // As on a cluster, each replica is a node of one process: it sees
      // only its own GPUs, so its local rank (the device it picks) is 0.
      env.emplace_back(prefix + "RANK", r);
      env.emplace_back(prefix + "LOCAL_RANK", "0");
      env.emplace_back(prefix + "NODE_RANK", r);
      env.emplace_back(prefix + "NNODES", n);
      env.emplace_back(prefix + "MASTER_ADDR", "127.0.0.1");
      if (port != 0) env.emplace_back(prefix + "MASTER_PORT", p);
    }
    // Tasks see only the GPUs they were given (none when they asked for none).
    if (!gpus.empty() || capacity_.gpus > 0)
      env.emplace_back("CUDA_VISIBLE_DEVICES", VisibleDevices(gpus));
    return env;
  }

  // Indices in this process's numbering mapped to the parent's own
  // CUDA_VISIBLE_DEVICES entries, when it had them.
  std::string VisibleDevices(const std::vector<int>& gpus) const {
    if (parent_visible_.empty()) return Join(gpus);
    std::vector<std::string> entries;
    std::stringstream ss(parent_visible_);
    for (std::string e; std::getline(ss, e, ',');) entries.push_back(e);
    std::string out;
    for (int g : gpus) {
      out += (out.empty() ? "" : ",") +
             (g < static_cast<int>(entries.size()) ? entries[g] : std::to_string(g));
    }
    return out;
  }

  // Calls fn(name, "NAME=value") for each variable a task gets of this
  // process's environment (all of it, or the kept ones only), in its order.
  template <typename Fn>
  void ForEachHostVar(Fn fn) const {
    for (char** e = environ; e && *e; ++e) {
      std::string_view kv = *e;
      size_t eq = kv.find('=');
      if (eq == std::string_view::npos) continue;
      std::string_view k = kv.substr(0, eq);
      if (!options_.inherit_env &&
          std::find(std::begin(kHostEnvKept), std::end(kHostEnvKept), k) == std::end(kHostEnvKept))
        continue;
      fn(k, kv);
    }
  }

  // The host's environment with the task's variables on top: a name in both
  // keeps the host's place and takes the task's value (its last one). Made
  // for every process started, so without a map or a copy of each variable.
  std::vector<std::string> FullEnv(
      const std::vector<std::pair<std::string, std::string>>& task) const {
    auto task_value = [&](std::string_view k) -> const std::string* {
      const std::string* v = nullptr;
      for (const auto& [tk, tv] : task) {
        if (tk == k) v = &tv;
      }
      return v;
    };
    std::vector<std::string> out;
    std::set<std::string_view> placed;
    ForEachHostVar([&](std::string_view k, std::string_view kv) {
      if (!placed.insert(k).second) return;  // a name twice in environ: the first
      const std::string* v = task_value(k);
      out.push_back(v ? std::string(k) + "=" + *v : std::string(kv));
    });
    for (const auto& [k, v] : task) {
      if (placed.insert(k).second) out.push_back(k + "=" + *task_value(k));
    }
    return out;
  }

  Result<std::string> ResolveExecutable(const TaskSpec& spec) const {
    std::string path = ::getenv("PATH") ? ::getenv("PATH") : "/usr/bin:/bin";
    for (const auto& [k, v] : spec.env) {
      if (k == "PATH") path = v;
    }
    return FindExecutable(spec.argv[0], path, spec.workdir);
  }

  static Status PrepareDirs(const TaskSpec& spec) {
    std::error_code ec;
    std::string logdir = LogDir(spec.run_dir);
    fs::create_directories(logdir, ec);
    if (ec) return Internal("cannot create " + logdir + ": " + ec.message());
    for (const ArtifactBinding& o : spec.outputs) {
      // Each attempt starts with an empty output directory.
      fs::remove_all(o.path, ec);
      fs::create_directories(o.path, ec);
      if (ec) return Internal("cannot create output " + o.path + ": " + ec.message());
    }
    for (const ArtifactBinding& in : spec.inputs) fs::create_directories(in.path, ec);
    if (!fs::is_directory(spec.workdir)) {
      return InvalidArgument("working directory " + spec.workdir + " does not exist");
    }
    return OkStatus();
  }

  static std::vector<ProcessRef> ParseHandle(const TaskHandle& h) {
    std::vector<ProcessRef> out;
    json data = json::parse(h.data, nullptr, false);
    if (!data.is_object() || !data.contains("pids") || !data.contains("starts")) return out;
    const auto& pids = data["pids"];
    const auto& starts = data["starts"];
    for (size_t i = 0; i < pids.size() && i < starts.size(); ++i) {
      if (pids[i].is_number_integer() && starts[i].is_number_integer()) {
        out.push_back({pids[i].get<pid_t>(), starts[i].get<int64_t>()});
      }
    }
    return out;
  }

  bool Ended(const TaskHandle& h) {
    {
      std::lock_guard<std::mutex> l(mu_);
      auto it = tasks_.find(h.key);
      if (it != tasks_.end()) return it->second->ended;
    }
    for (const ProcessRef& p : ParseHandle(h)) {
      if (IsSameProcess(p)) return false;
    }
    return true;
  }

  // A replica ended (the supervisor has reaped it and killed what it left
  // in its group). The first failure stops the gang's survivors: SIGTERM,
  // then SIGKILL after the grace. The attempt ends once, when all have.
  void OnExit(Task& t, size_t i, std::optional<int> status) {
    std::optional<TaskEvent> event;
    const std::string* log = nullptr;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (t.ended) return;
      Replica& r = t.replicas[i];
      r.done = true;
      log = &r.log;  // set at the spawn, not changed after
      r.status = status.value_or(0);
      PORTFLOW_LOG(LogLevel::kDebug, "local",
                   t.key + " replica " + std::to_string(i) + " (pid " + std::to_string(r.pid) +
                       ") " +
                       (WIFSIGNALED(r.status)
                            ? "killed by signal " + std::to_string(WTERMSIG(r.status))
                            : "exited with code " + std::to_string(WEXITSTATUS(r.status))));
      bool ok = WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0;
      if (!ok && t.first_failed < 0 && !t.cancelled) {
        t.first_failed = static_cast<int>(i);
        for (Replica& other : t.replicas) {
          if (!other.done) supervisor_.StopWithGrace(other.pid, options_.kill_grace);
        }
      }
      if (std::all_of(t.replicas.begin(), t.replicas.end(),
                      [](const Replica& x) { return x.done; })) {
        event = Finish(t);
      }
    }
    log_files_.Ended(*log);  // before the end is told: the next spawn may take it
    if (event) Emit(std::move(*event));
  }

  TaskEvent Finish(Task& t) {
    t.ended = true;
    in_use_ -= t.need;
    live_replicas_ -= static_cast<int64_t>(t.replicas.size());
    for (int g : t.gpus) free_gpus_.insert(g);
    ExitResult res{0, 0, false, "Completed", ""};
    TaskState state = TaskState::kSucceeded;
    if (t.first_failed >= 0) {
      const Replica& r = t.replicas[t.first_failed];
      state = TaskState::kFailed;
      std::string who =
          t.replicas.size() > 1 ? "replica " + std::to_string(t.first_failed) + " " : "";
      if (WIFSIGNALED(r.status)) {
        res = {128 + WTERMSIG(r.status), WTERMSIG(r.status), false, "Signaled",
               who + "killed by signal " + std::to_string(WTERMSIG(r.status)) + " (" +
                   strsignal(WTERMSIG(r.status)) + ")"};
      } else {
        res = {WEXITSTATUS(r.status), 0, false, "Error",
               who + "exited with code " + std::to_string(WEXITSTATUS(r.status))};
      }
    } else if (t.cancelled) {
      state = TaskState::kCancelled;
      res = {0, 0, false, "Cancelled", "stopped on request"};
      for (const Replica& r : t.replicas) {
        if (WIFSIGNALED(r.status)) res.signal = WTERMSIG(r.status);
      }
      // Even a clean exit after SIGTERM is a stop on request, not a completion.
    }
    return {t.key, state, clock_.Now(), res, res.reason, res.message};
  }

  LocalOptions options_;
  Clock& clock_;
  std::vector<GpuInfo> gpus_;
  ResourceRequest capacity_;
  ResourceRequest in_use_;     // what the live tasks hold (under mu_)
  int64_t live_replicas_ = 0;  // their processes (under mu_)
  std::string parent_visible_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<Task>> tasks_;
  std::set<int> free_gpus_;
  LogFiles log_files_;
  // Last: destroyed first, so that no exit is reported to a half-destroyed
  // backend. Children still running are left running, as before a crash.
  ProcessSupervisor supervisor_{clock_};
};

}  // namespace

Result<LocalOptions> LocalOptionsFromSettings(const std::map<std::string, std::string>& settings) {
  LocalOptions o;
  ResourceRequest cap;
  bool custom = false;
  for (const auto& [k, v] : settings) {
    if (k == "backend") continue;
    // Each problem names its setting (the message then points at its line).
    auto bad = [&k = k](const Status& s) {
      return InvalidArgument("setting " + k + ": " + s.message());
    };
    if (k == "cpu") {
      auto milli = ParseMilliQuantity(v);
      if (!milli.ok()) return bad(milli.status());
      cap.milli_cpu = *milli;
      custom = true;
    } else if (k == "memory") {
      auto bytes = ParseQuantity(v);
      if (!bytes.ok()) return bad(bytes.status());
      cap.memory_bytes = *bytes;
      custom = true;
    } else if (k == "gpu") {
      auto milli = ParseMilliQuantity(v);
      if (!milli.ok() || *milli % 1000 != 0 || *milli > 1024 * 1000) {
        return InvalidArgument("setting gpu: \"" + v + "\" must be a whole number from 0 to 1024");
      }
      cap.gpus = *milli / 1000;
      custom = true;
    } else if (k == "grace") {
      auto grace = ParseDuration(v);
      if (!grace.ok()) return bad(grace.status());
      o.kill_grace = *grace;
    } else if (k == "env") {
      if (v != "inherit" && v != "clean")
        return InvalidArgument("setting env must be inherit or clean, not \"" + v + "\"");
      o.inherit_env = v == "inherit";
    } else {
      return InvalidArgument("unknown setting \"" + k +
                             "\" for the local backend (cpu, memory, gpu, grace, env)");
    }
  }
  if (custom) {
    // Unset fields stay negative: the backend fills in the machine's values.
    if (!settings.count("cpu")) cap.milli_cpu = -1;
    if (!settings.count("memory")) cap.memory_bytes = -1;
    if (!settings.count("gpu")) cap.gpus = -1;
    o.capacity = cap;
  }
  return o;
}

std::unique_ptr<Backend> NewLocalBackend(LocalOptions options, Clock& clock) {
  return std::make_unique<LocalBackend>(std::move(options), clock);
}

void RegisterLocalBackend() {
  RegisterBackend(
      "local",
      [](const std::map<std::string, std::string>& settings) -> Result<std::unique_ptr<Backend>> {
        ASSIGN_OR_RETURN(LocalOptions o, LocalOptionsFromSettings(settings));
        return NewLocalBackend(std::move(o));
      });
}

}  // namespace portflow
