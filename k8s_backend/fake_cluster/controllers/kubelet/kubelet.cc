#include "k8s_backend/fake_cluster/controllers/kubelet/kubelet.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>
#include <utility>

#include "core/k8s_time.h"
#include "core/process/spawn.h"
#include "k8s_backend/fake_cluster/controllers/kubelet/container.h"
#include "k8s_backend/fake_cluster/controllers/pod_status.h"
#include "k8s_backend/fake_cluster/store/json_fields.h"

namespace portflow::fake {
namespace {

// The end of a file, for a message: at most `n` bytes, without a final
// newline.
std::string LastBytes(const std::string& path, size_t n) {
  std::ifstream in(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (text.size() > n) text = text.substr(text.size() - n);
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

}  // namespace

Kubelet::Kubelet(ObjectStore& store, ChangeFeed& feed, EventRecorder& recorder,
                 KubeletOptions options, std::function<void()> process_ended)
    : store_(store),
      feed_(feed),
      recorder_(recorder),
      options_(std::move(options)),
      process_ended_(std::move(process_ended)) {}

Kubelet::~Kubelet() {
  for (auto& [key, p] : processes_) {
    if (!supervisor_.Forget(p.pid)) continue;  // ended: the supervisor reaps it
    ::kill(-p.pid, SIGKILL);
    ::waitpid(p.pid, nullptr, 0);
  }
  // The pods' folders go with the cluster that ran them.
  for (const auto& [uid, file] : log_files_) RemovePodDir(uid);
}

void Kubelet::ObservePod(const PodChange& c) {
  bool pending = Phase(c.pod) == "Pending";
  if (c.gone || c.deleting || !pending) blocked_.erase(c.key);
  if (!c.gone && !c.deleting && !c.terminal && !c.node.empty() && pending)
    to_start_.push_back(c.key);
  if (auto p = processes_.find(c.key); p != processes_.end()) {
    if (c.gone) {
      supervisor_.Signal(p->second.pid, SIGKILL);  // removed without waiting: forced
    } else if (c.deleting || c.terminal) {
      Kill(c.key, c.deleting ? DeletionGrace(c.pod) : std::nullopt);
    }
  } else if (c.deleting && !c.gone) {
    to_remove_.push_back(c.key);  // nothing runs it: it goes now
  }
  if (c.gone) {
    // Its log stays readable a while: a follow that saw it end reads the rest.
    gone_logs_.push_back(
        {store_.clock().Now() + options_.logs_kept, Str(Field(c.pod, "metadata"), "uid")});
  }
}

void Kubelet::RemovePodDir(const std::string& uid) {
  if (!options_.execute || uid.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(std::filesystem::path(options_.exec_root) / "pods" / uid, ec);
}

bool Kubelet::RemoveDeleted() {
  bool changed = false;
  std::deque<std::string> work;
  work.swap(to_remove_);
  for (const std::string& key : work) {
    auto [ns, name] = SplitKey(key);
    auto pod = store_.Peek(Pods(), ns, name);
    if (!pod || !Deleting(*pod) || processes_.count(key)) continue;
    changed = store_.Delete(Pods(), ns, name).ok() || changed;
  }
  TimePoint now = store_.clock().Now();
  while (!gone_logs_.empty() && gone_logs_.front().first <= now) {
    std::string uid = gone_logs_.front().second;
    gone_logs_.pop_front();
    {
      std::lock_guard<std::mutex> l(logs_mu_);
      logs_.erase(uid);
      log_files_.erase(uid);
    }
    RemovePodDir(uid);
  }
  return changed;
}

std::optional<TimePoint> Kubelet::NextDue() const {
  std::optional<TimePoint> due;
  auto earlier = [&](TimePoint t) {
    if (!due || t < *due) due = t;
  };
  if (!stage_due_.empty()) earlier(stage_due_.begin()->first);
  for (const auto& [key, retry] : blocked_) earlier(retry.at);
  if (!to_remove_.empty()) earlier(store_.clock().Now());
  if (!gone_logs_.empty()) earlier(gone_logs_.front().first);
  std::lock_guard<std::mutex> l(exits_mu_);
  if (!exits_.empty()) earlier(store_.clock().Now());
  return due;
}

std::string Kubelet::LogOf(const std::string& pod_uid, size_t from) const {
  std::lock_guard<std::mutex> l(logs_mu_);
  if (auto f = log_files_.find(pod_uid); f != log_files_.end()) {
    std::ifstream in(f->second, std::ios::binary);
    in.seekg(static_cast<std::streamoff>(from));
    return in ? std::string(std::istreambuf_iterator<char>(in), {}) : "";
  }
  auto it = logs_.find(pod_uid);
  return it == logs_.end() || from >= it->second.size() ? "" : it->second.substr(from);
}

void Kubelet::SetMissingImages(std::set<std::string> images) {
  options_.missing_images = std::move(images);
  for (auto& [key, retry] : blocked_) retry.at = store_.clock().Now();  // look again now
}

bool Kubelet::Sync() {
  bool changed = false;
  std::deque<std::string> work;
  work.swap(to_start_);
  TimePoint now = store_.clock().Now();
  for (const auto& [key, retry] : blocked_) {
    if (retry.at <= now) work.push_back(key);
  }
  for (const std::string& key : work) {
    auto [ns, name] = SplitKey(key);
    auto pod = store_.Peek(Pods(), ns, name);
    if (!pod || Str(Field(*pod, "spec"), "nodeName").empty() || Phase(*pod) != "Pending" ||
        Deleting(*pod) || processes_.count(key)) {
      if (auto b = blocked_.find(key); b != blocked_.end() && b->second.at <= now)
        blocked_.erase(b);  // nothing left to start
      continue;
    }
    changed = StartPod(*pod) || changed;
    feed_.Drain();  // so that the versions just replaced can go
  }
  changed = FireDueStages() || changed;
  changed = ReapProcesses() || changed;
  changed = RemoveDeleted() || changed;
  return changed;
}

bool Kubelet::StartPod(const json& pod) {
  TimePoint now = store_.clock().Now();
  std::string key = KeyOf(pod);
  auto retry = blocked_.find(key);
  if (retry != blocked_.end() && now < retry->second.at) return false;
  int tries = retry == blocked_.end() ? 0 : retry->second.tries;
  // Copied only to be changed: arming a stage reads the stored pod.
  if (auto why = ContainerBlocked(store_, options_.missing_images, pod, tries))
    return Wait(pod, why->first, why->second);
  blocked_.erase(key);
  if (options_.execute) return Execute(pod);
  Arm(key, pod, now);  // the run stage: due now, it fires in this pass
  return false;
}

// The pod stays Pending with its containers waiting for `reason`, as the
// kubelet reports it, with a Failed (or BackOff) event when that is news.
bool Kubelet::Wait(json pod, const std::string& reason, const std::string& message) {
  TimePoint now = store_.clock().Now();
  Retry& retry = blocked_[KeyOf(pod)];
  // Again after 1 s, 2 s, 4 s... at most 20 s (the kubelet backs off too).
  retry.at = now + std::chrono::seconds(std::min(20, 1 << std::min(retry.tries, 5)));
  ++retry.tries;
  json& status = pod["status"];
  json before = status;
  std::string names;
  for (const json& c : Field(Field(pod, "spec"), "containers"))
    names += (names.empty() ? "" : " ") + Str(c, "name");
  status["containerStatuses"] =
      ContainerStatuses(pod, {{"waiting", {{"reason", reason}, {"message", message}}}}, false);
  std::string unready = "containers with unready status: [" + names + "]";
  SetCondition(status, "Initialized", "True", "", "", now);
  SetCondition(status, "ContainersReady", "False", "ContainersNotReady", unready, now);
  SetCondition(status, "Ready", "False", "ContainersNotReady", unready, now);
  if (status == before) return false;
  bool backoff = reason == "ImagePullBackOff";
  bool mount = reason == "ContainerCreating";  // a volume that cannot be set up yet
  (void)recorder_.Record(pod, backoff ? "Normal" : "Warning",
                         backoff ? "BackOff"
                         : mount ? "FailedMount"
                                 : "Failed",
                         backoff || mount ? message : "Error: " + message);
  std::string ns = Str(Field(pod, "metadata"), "namespace");
  return store_.Update(Pods(), ns, std::move(pod)).ok();
}

void Kubelet::RecordStarted(const json& pod) {
  const json& containers = Field(Field(pod, "spec"), "containers");
  std::string container = containers.empty() ? "" : Str(containers[0], "name");
  (void)recorder_.Record(pod, "Normal", "Started", "Started container " + container);
}

// --- Simulate mode: the stage table ----------------------------------------

void Kubelet::Arm(const std::string& key, const json& pod, TimePoint entered) {
  const Stage* stage = StageFor(pod);
  if (!stage) return;
  TimePoint due =
      entered + std::chrono::duration_cast<TimePoint::duration>(stage->delay(pod, options_));
  stage_due_.insert({due, key});
  // The precise time it entered, for sub-second delays in virtual time.
  armed_[key] = {Str(Field(pod, "metadata"), "uid"), stage, entered, due};
}

bool Kubelet::FireDueStages() {
  bool changed = false;
  TimePoint now = store_.clock().Now();
  while (!stage_due_.empty() && stage_due_.begin()->first <= now) {
    TimePoint due = stage_due_.begin()->first;
    std::string key = std::move(stage_due_.begin()->second);
    stage_due_.erase(stage_due_.begin());
    // A pod armed twice (two changes of it before a pass) has two entries:
    // only the one at the armed time fires, else the stage armed after the
    // first fired would fire early.
    auto armed = armed_.find(key);
    if (armed == armed_.end() || armed->second.due != due) continue;
    Armed stage = armed->second;
    armed_.erase(armed);
    changed = Fire(key, stage) || changed;
    feed_.Drain();
  }
  return changed;
}

bool Kubelet::Fire(const std::string& key, const Armed& armed) {
  auto [ns, name] = SplitKey(key);
  auto current = store_.Peek(Pods(), ns, name);
  // Ended, deleted or replaced meanwhile: the stage no longer selects it.
  if (!current || Str(Field(*current, "metadata"), "uid") != armed.uid ||
      StageFor(*current) != armed.stage)
    return false;
  TimePoint now = store_.clock().Now();
  json pod = *current;
  armed.stage->next(pod, armed.entered, now, options_);
  {
    // Printed before the status changes, as a container's output comes
    // before its exit: a client that sees the pod end reads the whole log.
    std::lock_guard<std::mutex> l(logs_mu_);
    logs_[armed.uid] += armed.stage->log(*current, options_);
  }
  auto stored = store_.Update(Pods(), ns, std::move(pod));
  if (!stored.ok()) return false;
  if (Phase(**stored) == "Running") RecordStarted(**stored);
  Arm(key, **stored, now);
  return true;
}

// --- Execute mode: local processes -------------------------------------------

bool Kubelet::Execute(json pod) {
  TimePoint now = store_.clock().Now();
  std::string key = KeyOf(pod);
  std::string ns = Str(Field(pod, "metadata"), "namespace");
  auto process = Spawn(pod);
  if (!process.ok() && process.status().code() == StatusCode::kResourceExhausted) {
    // Out of descriptors: the container waits, and is created again later.
    return Wait(std::move(pod), "CreateContainerError", process.status().message());
  }
  if (!process.ok() && process.status().code() == StatusCode::kNotFound &&
      process.status().message().rfind("MountVolume.SetUp failed", 0) == 0) {
    // A volume's ConfigMap or Secret is missing: mounted again later.
    return Wait(std::move(pod), "ContainerCreating", process.status().message());
  }
  if (!process.ok()) {
    // As a runtime that cannot start the container: StartError, code 128.
    json& status = pod["status"];
    EndPod(pod, 128, now, now);
    for (json& cs : status["containerStatuses"]) {
      cs["state"]["terminated"]["reason"] = "StartError";
      cs["state"]["terminated"]["message"] = process.status().message();
    }
    status["startTime"] = K8sTime(now);
    SetCondition(status, "Initialized", "True", "", "", now);
    // Nothing ran, so the log is empty: the reason is in the status only.
    return store_.Update(Pods(), ns, std::move(pod)).ok();
  }
  SetRunning(pod, now);
  processes_[key] = *process;
  auto stored = store_.Update(Pods(), ns, std::move(pod));
  if (!stored.ok()) {
    Kill(key);
    return false;
  }
  RecordStarted(**stored);
  return true;
}

Result<Kubelet::Process> Kubelet::Spawn(const json& pod) {
  // Init containers first, each to its end, in order: one that fails (or
  // runs past a minute) fails the pod's start.
  for (const json& init : Field(Field(pod, "spec"), "initContainers")) {
    auto files = options_.image_files.find(Str(init, "image"));
    auto launch = PrepareContainer(
        store_, options_.exec_root, pod, &init,
        files == options_.image_files.end() ? std::map<std::string, std::string>{} : files->second);
    if (!launch.ok()) return launch.status();
    std::string failed = "init container \"" + launch->container + "\" ";
    auto exe = FindExecutable(launch->argv[0], launch->search_path, launch->cwd);
    if (!exe.ok()) return Status(exe.status().code(), failed + exe.status().message());
    std::string log_path = launch->pod_dir + "/init.log";
    int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return FromErrno("cannot open " + log_path, errno, StatusCode::kInternal);
    const std::vector<std::string>& argv = launch->argv;
    Result<pid_t> pid =
        SpawnProcess({*exe, {argv.begin() + 1, argv.end()}, launch->env, launch->cwd, fd});
    ::close(fd);
    if (!pid.ok()) return Status(pid.status().code(), failed + pid.status().message());
    int status = 0;
    auto until = std::chrono::steady_clock::now() + std::chrono::minutes(1);
    while (::waitpid(*pid, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > until) {
        ::kill(-*pid, SIGKILL);
        ::waitpid(*pid, &status, 0);
        return FailedPrecondition(failed + "ran past a minute");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
      return FailedPrecondition(failed + "failed (" +
                                (WIFEXITED(status)
                                     ? "exit code " + std::to_string(WEXITSTATUS(status))
                                     : "signal " + std::to_string(WTERMSIG(status))) +
                                "): " + LastBytes(log_path, 500));
  }
  auto launch = PrepareContainer(store_, options_.exec_root, pod);
  if (!launch.ok()) return launch.status();
  std::string log_path = launch->pod_dir + "/log";
  int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return FromErrno("cannot open " + log_path, errno, StatusCode::kInternal);
  auto exe = FindExecutable(launch->argv[0], launch->search_path, launch->cwd);
  const std::vector<std::string>& argv = launch->argv;
  Result<pid_t> pid =
      exe.ok() ? SpawnProcess({*exe, {argv.begin() + 1, argv.end()}, launch->env, launch->cwd, fd})
               : Result<pid_t>(exe.status());
  ::close(fd);
  std::string failed = "failed to start container \"" + launch->container + "\": ";
  if (!pid.ok()) return Status(pid.status().code(), failed + pid.status().message());
  Status watched =
      supervisor_.Watch(*pid, [this, pod_key = KeyOf(pod)](pid_t pid, std::optional<int> status) {
        {
          std::lock_guard<std::mutex> l(exits_mu_);
          exits_.push_back({pod_key, pid, status});
        }
        if (process_ended_) process_ended_();
      });
  if (!watched.ok()) {
    ::kill(-*pid, SIGKILL);
    ::waitpid(*pid, nullptr, 0);
    return Status(watched.code(), failed + watched.message());
  }
  Process p;
  p.pid = *pid;
  p.uid = Str(Field(pod, "metadata"), "uid");
  p.started = store_.clock().Now();
  p.read_only = std::move(launch->read_only);
  const json& grace = Field(Field(pod, "spec"), "terminationGracePeriodSeconds");
  if (grace.is_number_integer())
    p.grace = std::chrono::seconds(std::max<int64_t>(0, grace.get<int64_t>()));
  std::lock_guard<std::mutex> l(logs_mu_);
  log_files_[p.uid] = log_path;
  return p;
}

// SIGTERM to the process group now, SIGKILL after `grace` seconds, else
// the pod's grace period (once: a second Kill changes nothing).
void Kubelet::Kill(const std::string& pod_key, std::optional<int64_t> grace) {
  auto it = processes_.find(pod_key);
  if (it == processes_.end()) return;
  supervisor_.StopWithGrace(it->second.pid,
                            grace ? std::chrono::seconds(*grace) : it->second.grace);
}

bool Kubelet::ReapProcesses() {
  std::vector<Exit> exits;
  {
    std::lock_guard<std::mutex> l(exits_mu_);
    exits.swap(exits_);
  }
  bool changed = false;
  TimePoint now = store_.clock().Now();
  for (const Exit& e : exits) {
    auto it = processes_.find(e.pod_key);
    if (it == processes_.end() || it->second.pid != e.pid) continue;
    const Process& p = it->second;
    int s = e.wait_status.value_or(0);
    int code = !e.wait_status ? 137 : WIFEXITED(s) ? WEXITSTATUS(s) : 128 + WTERMSIG(s);
    auto [ns, name] = SplitKey(e.pod_key);
    auto current = store_.Peek(Pods(), ns, name);
    if (current && Str((*current)["metadata"], "uid") == p.uid && Phase(*current) == "Running") {
      json pod = *current;
      // A write where a real cluster mounts read-only would have failed
      // there (EROFS): the pod fails here too, saying why.
      std::string wrote;
      for (const ReadOnlyMount& m : p.read_only) {
        // One that cannot be listed now (out of descriptors) is not judged.
        auto at_end = Snapshot(m.dir);
        if (!at_end.ok()) continue;
        if (std::string path = FirstChange(m.at_start, *at_end); !path.empty()) {
          wrote = m.mount_path + "/" + path;
          break;
        }
      }
      if (!wrote.empty() && code == 0) code = 1;
      ExitPod(pod, code, p.started, now);
      if (!wrote.empty()) {
        for (json& cs : pod["status"]["containerStatuses"]) {
          cs["state"]["terminated"]["message"] =
              "the container wrote " + wrote +
              ", where a real cluster mounts its volume read-only (Read-only file system)";
        }
      }
      changed = store_.Update(Pods(), ns, std::move(pod)).ok() || changed;
    }
    processes_.erase(it);  // a pod being deleted goes once its change is seen
  }
  return changed;
}

}  // namespace portflow::fake
