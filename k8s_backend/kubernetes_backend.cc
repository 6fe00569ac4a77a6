// The Kubernetes backend, in order: the Attempt it follows; the class's
// Backend face (capacity and probe, Cancel, FinishRun with the run's Secret
// and the Jobs' deletion, Recover, placement, Render and Submit); Submit's
// helpers (the store Secret, the cached capacity, the handle's data, the
// rendered objects); tracking attempts; the watch handlers (OnJob, OnEvent,
// OnPod) and Reconcile, which turns what they saw into events (ListPods
// when the pods' watch lags); emitting, the log copies and End; then the
// factory. Its own files: the capacity, the run's watches, the log copier,
// the grace timer (call_later) and the Jobs' deletions.
#include "k8s_backend/kubernetes_backend.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <set>

#include "core/encoding.h"
#include "core/json_fields.h"
#include "core/json_parse.h"
#include "core/log.h"
#include "k8s_backend/attempt_state.h"
#include "k8s_backend/call_later.h"
#include "k8s_backend/client/watcher.h"
#include "k8s_backend/cluster_capacity.h"
#include "k8s_backend/job_deletions.h"
#include "k8s_backend/log_copier.h"
#include "k8s_backend/namespace_objects.h"
#include "k8s_backend/outputs_reader.h"
#include "k8s_backend/run_watches.h"

namespace portflow {
namespace {

using k8s::json;

// "ConfigMap a, Job b": for the log.
std::string KindsAndNames(const std::vector<json>& objects) {
  std::string out;
  for (const json& o : objects) {
    out += (out.empty() ? "" : ", ") + Str(o, "kind") + " " + Str(Sub(o, "metadata"), "name");
  }
  return out;
}

std::string Label(const json& o, const char* key) {
  return Str(Sub(Sub(o, "metadata"), "labels"), key);
}

// One attempt as the backend follows it.
struct Attempt {
  std::string key, run_id, instance, run_dir, job;
  int attempt = 1, replicas = 1;
  bool store = false;    // runs under the agent, with the run's store Secret
  ResourceRequest need;  // all replicas'; what it holds of the cluster until it ends
  TaskState sent = TaskState::kUnknown;  // the last state reported
  std::string sent_reason;
  std::string create_error;  // the Job's last FailedCreate event (a quota)
  // Non-terminal events are numbered as they are computed (under mu_); one
  // computed before the last sent is stale and dropped.
  uint64_t computed = 0, emitted = 0;
  k8s::AttemptPhase phase = k8s::AttemptPhase::kActive;
  bool cancelled = false;
  std::optional<k8s::JobEnd> job_end;  // from the Job's final condition
  // Its Job was deleted (cancelled, or by someone else): the end, sent once
  // the pods that ran have stopped and their logs are saved, so that what
  // a task prints after SIGTERM is kept.
  std::optional<TaskEvent> deleted_end;
  ExitResult result;  // the end, once settled
  // Logs: the pod each replica's copy is following, and the pods done. A
  // replica's pod replaced after a suspension (Kueue's preemption) adds its
  // log after the first one's, at `log_base`.
  std::map<int, std::string> copying;  // replica -> pod
  std::set<std::string> copied;        // pods
  int list_tries = 0;                  // of the Job's pods at its end (three at most)
  // Ended before its pods' watch told how: the pods are listed if that
  // watch has not told by then (real time: it waits on I/O, not a timer).
  std::optional<std::chrono::steady_clock::time_point> list_after;
};

// How long an ended Job's pods' watch has to catch up before they are
// listed: it usually trails the Jobs' watch by a millisecond or so.
constexpr auto kPodsWatchGrace = std::chrono::milliseconds(250);

class KubernetesBackend : public Backend {
 public:
  explicit KubernetesBackend(KubernetesBackendOptions o)
      : options_(std::move(o)), clock_(*options_.clock) {
    paths_.ns = options_.target.namespace_name;
    if (options_.access) {
      if (paths_.ns.empty()) paths_.ns = options_.access->namespace_name;
    } else {
      auto access = k8s::ResolveClusterAccess(
          {options_.target.kubeconfig, options_.target.context, options_.target.namespace_name},
          k8s::KubeconfigEnv::FromProcess());
      if (access.ok()) {
        options_.access = *access;
        if (paths_.ns.empty()) paths_.ns = access->namespace_name;
      } else {
        access_error_ = access.status();  // rendering needs no cluster; running does
      }
    }
    if (paths_.ns.empty()) paths_.ns = "default";
  }

  ~KubernetesBackend() override {
    {
      std::lock_guard<std::mutex> l(mu_);
      stopping_ = true;
    }
    later_.Stop();
    watches_.StopAll();
    copier_.Stop();     // copies in flight are cut, and waited for
    deletions_.Stop();  // the finished Jobs still queued are deleted
  }

  std::string name() const override { return "kubernetes"; }
  Capabilities capabilities() const override { return {}; }
  std::string ArtifactRoot(const std::string& run_id, const std::string&) const override {
    return std::string(k8s::kArtifactMount) + "/" + run_id;
  }
  std::string OutputsLocation(const std::string& run_id,
                              const std::string& run_dir) const override {
    return ArtifactRoot(run_id, run_dir) + " on the cluster's volume " +
           options_.target.artifacts_claim;
  }
  std::string OutputsDir(const std::string&, const std::string&) const override { return ""; }

  Result<std::string> OutputsArchive(const std::string& run_id, const std::string& rel,
                                     const std::string& image) override {
    ASSIGN_OR_RETURN(k8s::ApiClient * client, Client());
    return k8s::ReadOutputsArchive(*client, paths_, options_.target.artifacts_claim,
                                   !image.empty()                   ? image
                                   : !options_.target.image.empty() ? options_.target.image
                                                                    : "busybox",
                                   ArtifactRoot(run_id, "") + (rel.empty() ? "" : "/" + rel),
                                   clock_);
  }

  // The allocatable of the Ready nodes; unbounded when nodes cannot be
  // listed (the cluster's own queueing then decides).
  ResourceRequest Capacity() override {
    ResourceRequest unbounded{int64_t{1} << 40, int64_t{1} << 60, 1 << 20};
    auto client = Client();
    if (!client.ok()) return unbounded;
    auto total = k8s::ReadyAllocatable(**client);
    return total.ok() ? *total : unbounded;
  }

  // Free: allocatable less the requests of the pods that hold their node.
  Availability Probe() override {
    auto client = Client();
    if (!client.ok()) return {client.status(), {}, std::nullopt};
    auto version = (*client)->Call({"GET", "/version", ""});
    if (!version.ok()) return {version.status(), {}, std::nullopt};
    if (Status st = k8s::ApiError(*version); !st.ok()) {
      if (version->status == 401) {
        st = FailedPrecondition("the API server at " + options_.access->server +
                                " refused the credentials of " + options_.access->origin + " (" +
                                st.message() +
                                "): its token or client certificate is wrong or has expired");
      }
      return {st, {}, std::nullopt};
    }
    Availability a{OkStatus(), Capacity(), std::nullopt};
    if (auto used = k8s::RequestedOnNodes(**client); used.ok()) {
      ResourceRequest free = a.capacity;
      free -= *used;
      a.free = free;
    }
    return a;
  }

  Status Cancel(const TaskHandle& handle, bool force) override {
    std::shared_ptr<Attempt> a;
    {
      std::lock_guard<std::mutex> l(mu_);
      auto it = attempts_.find(handle.key);
      if (it == attempts_.end()) return OkStatus();  // not ours, or long gone
      a = it->second;
      // Ended, or ending with its logs being saved: that end is reported.
      if (a->phase != k8s::AttemptPhase::kActive) return OkStatus();
      a->cancelled = true;
    }
    ASSIGN_OR_RETURN(k8s::ApiClient * client, Client());
    PORTFLOW_LOG(LogLevel::kDebug, "k8s",
                 "deleting Job " + paths_.ns + "/" + a->job + ": " + a->instance + " attempt " +
                     std::to_string(a->attempt) + " cancelled" + (force ? ", forced" : ""));
    auto r = client->Call({"DELETE", paths_.JobDeletion(a->job, force), ""});
    if (!r.ok()) return r.status();
    if (r->status != 404) RETURN_IF_ERROR(k8s::ApiError(*r));
    if (a->replicas > 1) (void)client->Call({"DELETE", paths_.Services() + "/" + a->job, ""});
    EndWhenStopped(a, TaskEvent{a->key, TaskState::kCancelled, clock_.Now(),
                                ExitResult{0, 0, false, "Cancelled", "cancelled on request"},
                                "Cancelled", "the Job was deleted"});
    return OkStatus();
  }

  // The run's Secret with the object store's credentials goes, when the
  // run has one (made in this process, or its attempts recovered after a
  // resume use one): deleted by its name.
  std::optional<RunCost> FinishRun(const std::string& run_id) override {
    deletions_.Flush();  // its finished Jobs go with it
    {
      std::lock_guard<std::mutex> l(mu_);
      store_secrets_.erase(run_id);
      if (!secret_runs_.erase(run_id)) return std::nullopt;
    }
    auto client = Client();
    if (!client.ok()) return std::nullopt;
    std::string secret = k8s::StoreSecretName(run_id);
    auto r = (*client)->Call({"DELETE", paths_.Secrets() + "/" + secret, ""});
    Status st = r.ok() ? (r->status == 404 ? OkStatus() : k8s::ApiError(*r)) : r.status();
    if (!st.ok())
      PORTFLOW_LOG(LogLevel::kWarn, "k8s",
                   "the run's Secret " + paths_.ns + "/" + secret +
                       " (the object store's credentials) was not deleted: " + st.message());
    return std::nullopt;
  }

  Result<std::vector<RecoveredTask>> Recover(const std::string& run_id,
                                             const std::vector<TaskHandle>& handles) override {
    std::vector<RecoveredTask> out;
    std::vector<std::shared_ptr<Attempt>> attached;
    for (const TaskHandle& h : handles) {
      json data = json::parse(h.data, nullptr, false);
      std::string job = data.is_object() ? Str(data, "job") : "";
      if (job.empty()) {
        out.push_back({h, TaskState::kUnknown, std::nullopt});
        continue;
      }
      // This backend follows one namespace. Not finding a Job that lives in
      // another would run its work a second time.
      if (std::string ns = Str(data, "namespace"); !ns.empty() && ns != paths_.ns) {
        return FailedPrecondition("the Jobs of run " + run_id + " are in namespace " + ns +
                                  ", but the target now uses namespace " + paths_.ns +
                                  "; set the target's namespace back to " + ns +
                                  " to resume or cancel it");
      }
      auto a = std::make_shared<Attempt>();
      a->key = h.key;
      a->run_id = run_id;
      a->job = job;
      a->instance = Str(data, "instance");
      a->run_dir = Str(data, "run_dir");
      a->attempt = data.value("attempt", 1);
      a->replicas = data.value("replicas", 1);
      a->store = data.value("store", false);
      // Reported Running (re-attached); what the pods do is then sent as
      // for a new attempt: Running, or Pending with why it waits.
      a->sent = TaskState::kPending;
      {
        std::lock_guard<std::mutex> l(mu_);
        Track(a);
        if (a->store) secret_runs_.insert(run_id);  // to be deleted at the run's end
      }
      attached.push_back(a);
    }
    if (!attached.empty()) {
      if (Status watched = WatchRun(run_id); !watched.ok()) {
        std::lock_guard<std::mutex> l(mu_);
        for (const auto& a : attached) Untrack(*a);
        return watched;
      }
    }
    for (const std::shared_ptr<Attempt>& a : attached) {
      bool exists;
      {
        std::lock_guard<std::mutex> l(mu_);
        // Ended (or ending) already while the watch was starting: its
        // events have gone or will go.
        exists = jobs_.count(a->job) > 0 || a->phase != k8s::AttemptPhase::kActive;
        if (auto job = jobs_.find(a->job);
            job != jobs_.end() && a->phase != k8s::AttemptPhase::kEnded) {
          in_use_ -= a->need;
          a->need = k8s::PodRequests(Sub(Sub(Sub(*job->second, "spec"), "template"), "spec")) *
                    a->replicas;
          in_use_ += a->need;
        }
      }
      TaskHandle h{name(), a->key, HandleData(*a)};
      PORTFLOW_LOG(LogLevel::kDebug, "k8s",
                   "recovering " + a->instance + " attempt " + std::to_string(a->attempt) +
                       ": Job " + paths_.ns + "/" + a->job +
                       (exists ? " found, re-attached" : " is gone"));
      if (!exists) {
        // Gone without a trace: the engine runs the instance again.
        std::lock_guard<std::mutex> l(mu_);
        MarkEnded(*a);
        out.push_back({h, TaskState::kUnknown, std::nullopt});
        continue;
      }
      out.push_back({h, TaskState::kRunning, std::nullopt});  // events follow
      Reconcile(a);
    }
    return out;
  }

 protected:
  // The Ready nodes' allocatable less what this backend's live attempts
  // request. Other tenants' pods are not counted: an attempt submitted while
  // they hold the nodes waits on the cluster, Pending with its reason, as
  // the cluster's own queue decides.
  Placement DoPlace(const PlacementRequest& request) override {
    ResourceRequest capacity = CachedCapacity();
    std::lock_guard<std::mutex> l(mu_);
    Placement p = PlaceInSlots(request, capacity, in_use_);
    p.queues = true;  // a pod that does not fit waits for the scheduler
    return p;
  }

  Result<std::string> LogFile(const TaskHandle& handle, int replica) const override {
    json data = json::parse(handle.data, nullptr, false);
    if (!data.is_object() || Str(data, "run_dir").empty())
      return InvalidArgument("not a kubernetes task handle");
    return LogPath(Str(data, "run_dir"), Str(data, "instance"), data.value("attempt", 1), replica);
  }

  bool HasEnded(const TaskHandle& handle) override {
    std::lock_guard<std::mutex> l(mu_);
    auto it = attempts_.find(handle.key);
    return it == attempts_.end() || it->second->phase == k8s::AttemptPhase::kEnded || stopping_;
  }

  Result<std::string> DoRender(const TaskSpec& spec) const override {
    ASSIGN_OR_RETURN(std::vector<json> objects, RenderObjects(spec));
    json out = {{"backend", "kubernetes"},
                {"instance", spec.instance},
                {"attempt", spec.attempt},
                {"objects", objects}};
    return out.dump(2);
  }

  Result<TaskHandle> DoSubmit(const TaskSpec& spec) override {
    if (spec.argv.empty()) return InvalidArgument(spec.instance + ": the command is empty");
    {
      std::lock_guard<std::mutex> l(mu_);
      if (auto it = attempts_.find(spec.Key()); it != attempts_.end()) {
        return TaskHandle{name(), spec.Key(), HandleData(*it->second)};
      }
    }
    ASSIGN_OR_RETURN(k8s::ApiClient * client, Client());
    ASSIGN_OR_RETURN(std::vector<json> objects, RenderObjects(spec));
    auto a = std::make_shared<Attempt>();
    a->key = spec.Key();
    a->run_id = spec.run_id;
    a->instance = spec.instance;
    a->run_dir = spec.run_dir;
    a->attempt = spec.attempt;
    a->replicas = spec.replicas;
    a->store = spec.store.has_value();
    a->need = spec.resources * spec.replicas;
    a->job = k8s::JobName(spec);
    std::error_code ec;
    std::filesystem::create_directories(LogDir(spec.run_dir), ec);
    // Watch first, so that nothing the Job does is missed.
    RETURN_IF_ERROR(WatchRun(spec.run_id));
    {
      std::lock_guard<std::mutex> l(mu_);
      Track(a);
    }
    Status created = EnsureStoreSecret(*client, spec);
    if (created.ok())
      created = k8s::CreateAttemptObjects(*client, paths_, objects, k8s::TaskLabels(spec));
    if (!created.ok()) {
      {
        std::lock_guard<std::mutex> l(mu_);
        Untrack(*a);
      }
      PORTFLOW_LOG(LogLevel::kDebug, "k8s",
                   "creating the objects of " + spec.instance + " attempt " +
                       std::to_string(spec.attempt) + " failed (" + created.ToString() +
                       "); what it may have made was deleted");
      return created;
    }
    bool cancelled = false, report = false;
    uint64_t seq = 0;
    {
      std::lock_guard<std::mutex> l(mu_);
      cancelled = a->cancelled;
      if (a->phase != k8s::AttemptPhase::kEnded && a->sent == TaskState::kUnknown) {
        a->sent = TaskState::kPending;
        report = true;
        seq = ++a->computed;
      }
    }
    PORTFLOW_LOG(LogLevel::kDebug, "k8s",
                 "created in " + paths_.ns + " for " + spec.instance + " attempt " +
                     std::to_string(spec.attempt) + ": " + KindsAndNames(objects));
    if (cancelled) {  // Cancel came while the objects were being made
      PORTFLOW_LOG(LogLevel::kDebug, "k8s",
                   "deleting Job " + paths_.ns + "/" + a->job + ": cancelled while it was made");
      (void)client->Call({"DELETE", paths_.JobDeletion(a->job), ""});
    } else if (report) {
      EmitIfLive(a,
                 {a->key, TaskState::kPending, clock_.Now(), std::nullopt, "Submitted",
                  "Job " + paths_.ns + "/" + a->job + " created", PendingReason::kScheduling},
                 seq);
    }
    Reconcile(a);
    return TaskHandle{name(), a->key, HandleData(*a)};
  }

 private:
  // The run's Secret holding the object store's credentials for its pods
  // under the agent, made at its first such attempt in this process, or
  // replaced (a resumed run may hold new credentials).
  Status EnsureStoreSecret(k8s::ApiClient& client, const TaskSpec& spec) {
    if (!spec.store || spec.store->credentials.empty()) return OkStatus();
    {
      std::lock_guard<std::mutex> l(mu_);
      if (store_secrets_.count(spec.run_id)) return OkStatus();
    }
    json secret = k8s::RenderStoreSecret(spec.run_id, paths_.ns, spec.store->credentials);
    std::string name = k8s::StoreSecretName(spec.run_id);
    auto r = client.Call({"POST", paths_.Secrets(), secret.dump()});
    if (r.ok() && r->status == 409)
      r = client.Call({"PUT", paths_.Secrets() + "/" + name, secret.dump()});
    if (!r.ok()) return r.status();
    if (Status st = k8s::ApiError(*r); !st.ok())
      return Status(st.code(), "creating the Secret " + paths_.ns + "/" + name +
                                   " with the object store's credentials: " + st.message());
    std::lock_guard<std::mutex> l(mu_);
    store_secrets_.insert(spec.run_id);
    secret_runs_.insert(spec.run_id);
    return OkStatus();
  }

  // Capacity(), asked again at most once a minute: nodes come and go, but
  // placement asks for every attempt.
  ResourceRequest CachedCapacity() {
    std::lock_guard<std::mutex> l(capacity_mu_);
    if (!capacity_at_ || clock_.Now() - *capacity_at_ >= std::chrono::minutes(1)) {
      capacity_ = Capacity();
      capacity_at_ = clock_.Now();
    }
    return capacity_;
  }

  std::string HandleData(const Attempt& a) const {
    json data = {{"namespace", paths_.ns}, {"job", a.job},         {"run_dir", a.run_dir},
                 {"instance", a.instance}, {"attempt", a.attempt}, {"replicas", a.replicas}};
    if (a.store) data["store"] = true;
    return data.dump();
  }

  Result<std::vector<json>> RenderObjects(const TaskSpec& spec) const {
    k8s::ShippedCode code;
    if (options_.target.ship_code) {
      ASSIGN_OR_RETURN(code, k8s::CollectCode(spec.workdir));
      if (!code.left_out.empty()) WarnLeftOut(spec.workdir, code.left_out);
    }
    return k8s::RenderTask(spec, options_.target, paths_.ns, code.files, code.left_out);
  }

  // Says once per folder which files were not shipped as credentials.
  void WarnLeftOut(const std::string& dir, const std::vector<std::string>& left_out) const {
    {
      std::lock_guard<std::mutex> l(warned_mu_);
      if (!warned_left_out_.insert(dir).second) return;
    }
    std::string list;
    for (const std::string& path : left_out) list += (list.empty() ? "" : ", ") + path;
    PORTFLOW_LOG(LogLevel::kWarn, "k8s",
                 "not shipped, as they look like credentials: " + list + " (in " + dir +
                     "; to ship one, add !NAME to its .portflowignore)");
  }

  Result<k8s::ApiClient*> Client() {
    std::lock_guard<std::mutex> l(client_mu_);
    if (client_) return client_.get();
    if (!options_.access) return access_error_;
    ASSIGN_OR_RETURN(std::unique_ptr<k8s::Transport> transport,
                     options_.transport(*options_.access));
    auto credentials = std::make_shared<k8s::Credentials>(*options_.access, clock_);
    client_ =
        std::make_unique<k8s::ApiClient>(std::move(transport), credentials, clock_, options_.retry);
    return client_.get();
  }

  // (mu_ held) An attempt is followed from its Submit or Recover on; what it
  // requests counts for placement until it ends.
  void Track(const std::shared_ptr<Attempt>& a) {
    if (auto old = attempts_.find(a->key); old != attempts_.end()) Untrack(*old->second);
    attempts_[a->key] = a;
    by_job_[a->job] = a;
    in_use_ += a->need;
  }
  void Untrack(Attempt& a) {
    if (a.phase != k8s::AttemptPhase::kEnded) in_use_ -= a.need;
    a.need = {};  // so that a watch's late word of it takes nothing back
    attempts_.erase(a.key);
    by_job_.erase(a.job);
  }
  void MarkEnded(Attempt& a) {
    if (a.phase == k8s::AttemptPhase::kEnded) return;
    in_use_ -= a.need;
    a.phase = k8s::AttemptPhase::kEnded;
  }

  // The run's watches, started once; Recover then sees the run's Jobs.
  Status WatchRun(const std::string& run_id) {
    ASSIGN_OR_RETURN(k8s::ApiClient * client, Client());
    return watches_.Watch(*client, run_id);
  }

  void OnJob(const std::string& type, const k8s::Watcher::Object& job) {
    std::string name = Str(Sub(*job, "metadata"), "name");
    std::shared_ptr<Attempt> a;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (type == "DELETED") {
        jobs_.erase(name);
      } else {
        jobs_[name] = job;
      }
      auto it = by_job_.find(name);
      if (it == by_job_.end()) return;
      a = it->second;
    }
    if (type == "DELETED") {
      bool cancelled;
      {
        std::lock_guard<std::mutex> l(mu_);
        cancelled = a->cancelled;
      }
      EndWhenStopped(
          a, TaskEvent{a->key, cancelled ? TaskState::kCancelled : TaskState::kFailed, clock_.Now(),
                       ExitResult{0, 0, false, cancelled ? "Cancelled" : "Deleted",
                                  "the Job was deleted"},
                       "", ""});
      return;
    }
    Reconcile(a);
  }

  // The Job of an active attempt is gone or going: it ends with `end` once
  // the logs being saved are (their pods stop within their grace period).
  void EndWhenStopped(const std::shared_ptr<Attempt>& a, TaskEvent end) {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (a->phase != k8s::AttemptPhase::kActive || a->deleted_end) return;
      a->deleted_end = std::move(end);
    }
    Reconcile(a);
  }

  // Sends the end of an attempt whose Job was deleted once no log copy is
  // in flight; true when its Job was deleted (nothing else to reconcile).
  bool EndIfDeleted(const std::shared_ptr<Attempt>& a) {
    std::optional<TaskEvent> end;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (!a->deleted_end) return false;
      if (a->phase == k8s::AttemptPhase::kEnded || stopping_ || !a->copying.empty()) return true;
      MarkEnded(*a);
      end = a->deleted_end;
      end->time = clock_.Now();
    }
    EmitEnd(*end);
    return true;
  }

  void OnEvent(const std::string& type, const k8s::Watcher::Object& object) {
    const json& event = *object;
    if (type == "DELETED") return;  // an event's expiry changes nothing
    std::shared_ptr<Attempt> a;
    {
      std::lock_guard<std::mutex> l(mu_);
      const json& involved = Sub(event, "involvedObject");
      auto it = by_job_.find(Str(involved, "name"));
      if (it == by_job_.end()) return;
      // About an earlier Job of the same name: not this attempt's.
      auto job = jobs_.find(Str(involved, "name"));
      if (job != jobs_.end() && !Str(involved, "uid").empty() &&
          Str(Sub(*job->second, "metadata"), "uid") != Str(involved, "uid"))
        return;
      a = it->second;
      a->create_error = Str(event, "message");
    }
    Reconcile(a);
  }

  // Records what a watch or a list says of a pod (mu_ held). The pods'
  // watch can run behind a list made since: an ended pod never goes back,
  // so a late word of it still running is older news, and is dropped.
  void KeepPod(const std::string& job, const k8s::Watcher::Object& pod) {
    auto& kept = pods_[job][Str(Sub(*pod, "metadata"), "name")];
    if (!kept || k8s::Supersedes(*kept, *pod)) kept = pod;
  }

  void OnPod(const std::string& type, const k8s::Watcher::Object& object) {
    const json& pod = *object;
    std::string name = Str(Sub(pod, "metadata"), "name");
    std::string job = Label(pod, "batch.kubernetes.io/job-name");
    std::shared_ptr<Attempt> a;
    {
      std::lock_guard<std::mutex> l(mu_);
      auto attempt = by_job_.find(job);
      // An ended pod deleted before its attempt ended (by a TTL, say) still
      // says how it ended: it is kept until then.
      bool keep = type != "DELETED" ||
                  (attempt != by_job_.end() &&
                   k8s::KeepDeletedPod(pod, attempt->second->phase == k8s::AttemptPhase::kEnded));
      if (keep) {
        KeepPod(job, object);
      } else {
        pods_[job].erase(name);
        if (pods_[job].empty()) pods_.erase(job);
      }
      if (attempt == by_job_.end()) return;
      a = attempt->second;
    }
    Reconcile(a);
  }

  // Brings an attempt up to date with what the watchers have seen: events
  // to send, logs to save, the end once they are saved.
  void Reconcile(const std::shared_ptr<Attempt>& a) {
    using k8s::AttemptPhase;
    if (EndIfDeleted(a)) return;
    std::vector<std::pair<TaskEvent, uint64_t>> events;  // with their numbers
    std::vector<std::pair<int, std::string>> copies;     // replica, pod
    bool finish = false, list = false;
    std::optional<std::chrono::steady_clock::time_point> later;  // look again then
    {
      std::lock_guard<std::mutex> l(mu_);
      if (a->phase == AttemptPhase::kEnded || stopping_) return;
      auto job = jobs_.find(a->job);
      if (a->phase == AttemptPhase::kActive && job != jobs_.end()) {
        a->job_end = k8s::EndOfJob(*job->second);
      }
      k8s::Observation seen{a->replicas,
                            job != jobs_.end() ? job->second.get() : nullptr,
                            {},
                            a->create_error,
                            a->sent_reason,
                            a->job_end};
      for (const auto& [name, pod] : pods_[a->job]) seen.pods.push_back(pod.get());
      k8s::AttemptState st = k8s::Assess(seen);
      if (!st.refusal_holds) a->create_error.clear();
      for (const auto& [replica, pod] : st.started) {
        if (a->copying.count(replica) || a->copied.count(pod)) continue;
        a->copying[replica] = pod;
        copies.emplace_back(replica, pod);
      }
      if (a->phase == AttemptPhase::kActive) {
        if (st.running && a->sent != TaskState::kRunning) {
          a->sent = TaskState::kRunning;
          a->sent_reason.clear();
          events.push_back(
              {{a->key, TaskState::kRunning, clock_.Now(), std::nullopt, "", ""}, ++a->computed});
        } else if (!st.pending_reason.empty() &&
                   (a->sent == TaskState::kPending || st.pending_reason == "Queued") &&
                   a->sent_reason != st.pending_reason) {
          a->sent = TaskState::kPending;  // back from Running when its Job was suspended
          a->sent_reason = st.pending_reason;
          events.push_back({{a->key, TaskState::kPending, clock_.Now(), std::nullopt,
                             st.pending_reason, st.pending_message, st.pending_kind},
                            ++a->computed});
        }
        if (a->job_end) a->phase = AttemptPhase::kEnding;
      }
      if (a->phase != AttemptPhase::kActive) {
        // The Job's watch can run ahead of the pods' watch: the pods that
        // tell how it ended must be known (listed once if they are not),
        // and every replica that ran must have its log saved.
        if (!st.settled && a->phase == AttemptPhase::kEnding) {
          auto now = std::chrono::steady_clock::now();
          if (!a->list_after) {
            a->list_after = now + kPodsWatchGrace;  // a moment first: it usually comes
            later = *a->list_after;
          } else if (now >= *a->list_after) {
            a->phase = AttemptPhase::kListingPods;
            list = true;
          }
        }
        // (A replica whose pod never ran has no log to wait for.)
        finish = (st.settled || a->phase == AttemptPhase::kListed) && a->copying.empty() &&
                 copies.empty();
        if (finish) {
          MarkEnded(*a);
          a->result = st.result;
        }
      }
    }
    for (const auto& [e, seq] : events) EmitIfLive(a, e, seq);
    for (const auto& [replica, pod] : copies) StartCopy(a, replica, pod);
    if (list) ListPods(a);
    if (later) later_.At(*later, [this, a] { Reconcile(a); });
    if (finish) End(a);
  }

  // Lists the Job's pods once, when their watch has not caught up.
  void ListPods(const std::shared_ptr<Attempt>& a) {
    bool listed = false;
    auto client = Client();
    if (client.ok()) {
      auto r = (*client)->Call({"GET",
                                paths_.Pods() + "?labelSelector=" +
                                    PercentEncode("batch.kubernetes.io/job-name=" + a->job, true),
                                ""});
      json list = r.ok() && r->status == 200 ? ParseJson(r->body) : json();
      std::lock_guard<std::mutex> l(mu_);
      if (list.is_object()) {
        for (json& pod : list["items"])
          KeepPod(a->job, std::make_shared<const json>(std::move(pod)));
        listed = true;
      }
    }
    {
      // A failed list is tried again (by the Reconcile below); the pods'
      // watch, catching up meanwhile, may make it needless.
      std::lock_guard<std::mutex> l(mu_);
      if (a->phase == k8s::AttemptPhase::kListingPods) {
        a->phase = listed || ++a->list_tries >= 3 ? k8s::AttemptPhase::kListed
                                                  : k8s::AttemptPhase::kEnding;
      }
    }
    Reconcile(a);
  }

  // Events leave in the order they were computed: one computed before the
  // attempt ended, or before the last one sent, is dropped. (The terminal
  // flag is set under mu_ before EmitEnd.)
  void EmitIfLive(const std::shared_ptr<Attempt>& a, const TaskEvent& e, uint64_t seq) {
    std::lock_guard<std::mutex> order(emit_mu_);
    {
      std::lock_guard<std::mutex> l(mu_);
      if (a->phase == k8s::AttemptPhase::kEnded || seq <= a->emitted) return;
      a->emitted = seq;
    }
    Emit(e);
  }
  void EmitEnd(const TaskEvent& e) {
    std::lock_guard<std::mutex> order(emit_mu_);
    Emit(e);
  }

  void StartCopy(const std::shared_ptr<Attempt>& a, int replica, const std::string& pod) {
    auto client = Client();
    copier_.Start(
        client.ok() ? *client : nullptr, paths_.Pods() + "/" + pod, pod,
        LogPath(a->run_dir, a->instance, a->attempt, replica),
        [this, job = a->job, pod] { return PodEnded(job, pod); },
        [this, a, replica, pod] {
          {
            std::lock_guard<std::mutex> l(mu_);
            a->copying.erase(replica);
            a->copied.insert(pod);
          }
          Reconcile(a);
        });
  }

  bool PodEnded(const std::string& job, const std::string& pod) {
    std::lock_guard<std::mutex> l(mu_);
    auto pods = pods_.find(job);
    if (pods == pods_.end()) return true;  // gone: read what is left
    auto p = pods->second.find(pod);
    return p == pods->second.end() || k8s::PodEnded(*p->second) ||
           k8s::PastDeletion(*p->second, clock_.Now());
  }

  // The Job's removal when the target says so (queued before the terminal
  // event, so that a FinishRun after the run's last end sends it), then the
  // terminal event, then a gang's Service goes.
  void End(const std::shared_ptr<Attempt>& a) {
    bool cleanup = options_.target.cleanup == "delete";
    if (cleanup) {
      PORTFLOW_LOG(LogLevel::kDebug, "k8s",
                   "deleting Job " + paths_.ns + "/" + a->job + ": " + a->instance + " attempt " +
                       std::to_string(a->attempt) + " ended (cleanup: delete)");
      deletions_.Delete(a->job);
    }
    EmitEnd(
        {a->key, a->job_end->state, clock_.Now(), a->result, a->result.reason, a->result.message});
    if (!cleanup || a->replicas == 1) return;
    if (auto client = Client(); client.ok())
      (void)(*client)->Call({"DELETE", paths_.Services() + "/" + a->job, ""});
  }

  // Attempts reconciled again later: an ended Job's pods' watch's grace.
  k8s::CallLater later_;

  KubernetesBackendOptions options_;
  Clock& clock_;
  k8s::NamespacePaths paths_;  // paths_.ns: the namespace
  Status access_error_;
  std::mutex client_mu_;
  std::unique_ptr<k8s::ApiClient> client_;

  mutable std::mutex warned_mu_;
  mutable std::set<std::string> warned_left_out_;  // folders

  std::mutex capacity_mu_;  // taken before mu_, never while holding it
  ResourceRequest capacity_;
  std::optional<TimePoint> capacity_at_;

  std::mutex mu_;
  std::mutex emit_mu_;  // taken before mu_, never while holding it
  bool stopping_ = false;
  std::map<std::string, std::shared_ptr<Attempt>> attempts_;  // by TaskSpec::Key()
  ResourceRequest in_use_;                                    // what the attempts not ended request
  std::map<std::string, std::shared_ptr<Attempt>> by_job_;    // by Job name
  std::map<std::string, k8s::Watcher::Object> jobs_;          // as the watchers saw them
  // Runs whose store Secret this process made (not made again), and the
  // runs with one to delete at FinishRun: those, and those of attempts
  // recovered after a resume that use one.
  std::set<std::string> store_secrets_, secret_runs_;
  std::map<std::string, std::map<std::string, k8s::Watcher::Object>> pods_;  // by Job, then name
  k8s::RunWatches watches_{
      paths_,
      {[this](const std::string& type, const k8s::Watcher::Object& o) { OnJob(type, o); },
       [this](const std::string& type, const k8s::Watcher::Object& o) { OnPod(type, o); },
       [this](const std::string& type, const k8s::Watcher::Object& e) { OnEvent(type, e); }},
      clock_};
  k8s::LogCopier copier_{clock_};
  k8s::JobDeletions deletions_{[this] { return Client(); }, paths_};
};

}  // namespace

std::unique_ptr<Backend> NewKubernetesBackend(KubernetesBackendOptions options) {
  return std::make_unique<KubernetesBackend>(std::move(options));
}

void RegisterKubernetesBackend() {
  RegisterBackend(
      "kubernetes",
      [](const std::map<std::string, std::string>& settings) -> Result<std::unique_ptr<Backend>> {
        ASSIGN_OR_RETURN(k8s::KubernetesTarget target, k8s::ParseKubernetesTarget(settings));
        KubernetesBackendOptions o;
        o.target = std::move(target);
        return NewKubernetesBackend(std::move(o));
      });
}

}  // namespace portflow
