#include "k8s_backend/fake_cluster/controllers/controllers.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <set>
#include <utility>

#include "core/base64.h"
#include "core/image_ref.h"
#include "core/k8s_time.h"
#include "core/process/spawn.h"
#include "core/quantity.h"
#include "k8s_backend/fake_cluster/store/json_fields.h"
#include "k8s_backend/fake_cluster/store/selectors.h"

namespace portflow::fake {
namespace {

const ResourceKind& Pods() { return *FindKind("", "pods"); }
const ResourceKind& Nodes() { return *FindKind("", "nodes"); }
const ResourceKind& Jobs() { return *FindKind("batch", "jobs"); }
const ResourceKind& Events() { return *FindKind("", "events"); }

using Request = ResourceRequest;

std::string KeyOf(const std::string& ns, const std::string& name) { return ns + "/" + name; }
std::string KeyOf(const json& object) {
  const json& meta = object["metadata"];
  return KeyOf(meta.value("namespace", ""), meta.value("name", ""));
}
std::pair<std::string, std::string> SplitKey(const std::string& key) {
  size_t slash = key.find('/');
  return {key.substr(0, slash), key.substr(slash + 1)};
}

Request PodRequest(const json& pod) {
  Request r;
  for (const json& c : Field(Field(pod, "spec"), "containers")) {
    const json& req = Field(Field(c, "resources"), "requests");
    const json& lim = Field(Field(c, "resources"), "limits");
    // As the API server defaults: a limit without a request is the request.
    auto get = [&](const char* name) -> const json& {
      return req.contains(name) ? req[name] : Field(lim, name);
    };
    r.milli_cpu += Quantity(get("cpu"), true);
    r.memory += Quantity(get("memory"), false);
    r.gpus += Quantity(get("nvidia.com/gpu"), false);
  }
  return r;
}

std::string Phase(const json& pod) {
  std::string phase = Str(Field(pod, "status"), "phase");
  return phase.empty() ? "Pending" : phase;
}
bool Terminal(const json& pod) { return Phase(pod) == "Succeeded" || Phase(pod) == "Failed"; }

// Sets (or replaces) a condition of type `type`; true when it changed.
bool SetCondition(json& status, const std::string& type, const std::string& value,
                  const std::string& reason, const std::string& message, TimePoint now) {
  json& conds = status["conditions"];
  if (!conds.is_array()) conds = json::array();
  // Empty reason and message are left out, as the API server's omitempty does.
  auto set = [](json& c, const char* key, const std::string& v) {
    if (v.empty()) {
      c.erase(key);
    } else {
      c[key] = v;
    }
  };
  for (json& c : conds) {
    if (Str(c, "type") != type) continue;
    if (Str(c, "status") == value && Str(c, "reason") == reason && Str(c, "message") == message) {
      return false;
    }
    if (Str(c, "status") != value) c["lastTransitionTime"] = K8sTime(now);
    c["status"] = value;
    set(c, "reason", reason);
    set(c, "message", message);
    c["lastProbeTime"] = nullptr;
    return true;
  }
  json c = {{"type", type},
            {"status", value},
            {"lastProbeTime", nullptr},
            {"lastTransitionTime", K8sTime(now)}};
  set(c, "reason", reason);
  set(c, "message", message);
  conds.push_back(std::move(c));
  return true;
}

bool HasTrueCondition(const json& status, const std::string& type) {
  for (const json& c : status.value("conditions", json::array())) {
    if (c.value("type", "") == type && c.value("status", "") == "True") return true;
  }
  return false;
}

bool Tolerates(const json& tolerations, const json& taint) {
  for (const json& t : tolerations) {
    std::string op = t.value("operator", "Equal");
    bool key =
        t.value("key", "").empty() ? op == "Exists" : t.value("key", "") == taint.value("key", "");
    bool value = op == "Exists" || t.value("value", "") == taint.value("value", "");
    bool effect =
        t.value("effect", "").empty() || t.value("effect", "") == taint.value("effect", "");
    if (key && value && effect) return true;
  }
  return false;
}

// "0-2,4,6-7"
std::string Ranges(const std::set<int64_t>& done) {
  std::string out;
  for (auto it = done.begin(); it != done.end();) {
    int64_t start = *it, end = *it;
    for (++it; it != done.end() && *it == end + 1; ++it) end = *it;
    out += (out.empty() ? "" : ",") + std::to_string(start) +
           (end > start ? "-" + std::to_string(end) : "");
  }
  return out;
}

}  // namespace

namespace {

// A status for each container of `pod`, every one in `state` (such as
// {"running": {...}}); `ready` for running containers.
json ContainerStatuses(const json& pod, const json& state, bool ready) {
  json statuses = json::array();
  for (const json& c : Field(Field(pod, "spec"), "containers")) {
    statuses.push_back({{"name", Str(c, "name")},
                        {"image", Str(c, "image")},
                        {"ready", ready},
                        {"started", ready},
                        {"restartCount", 0},
                        {"imageID", ""},
                        {"state", state}});
  }
  return statuses;
}

}  // namespace

void EndPod(json& pod, int exit_code, TimePoint started, TimePoint finished) {
  json& status = pod["status"];
  status["phase"] = exit_code == 0 ? "Succeeded" : "Failed";
  json terminated = {{"exitCode", exit_code},
                     {"reason", exit_code == 0 ? "Completed" : "Error"},
                     {"startedAt", K8sTime(started)},
                     {"finishedAt", K8sTime(finished)}};
  status["containerStatuses"] = ContainerStatuses(pod, {{"terminated", terminated}}, false);
}

Controllers::Controllers(ObjectStore& store, KubeletOptions options,
                         std::function<void()> process_ended)
    : store_(store), options_(std::move(options)), process_ended_(std::move(process_ended)) {
  store_.AddListener([this](const ObjectStore::Change& c) {
    if (c.kind != &Pods() && c.kind != &Nodes() && c.kind != &Jobs() && c.kind != &Events() &&
        c.kind != &ResourceQuotas())
      return;
    std::lock_guard<std::mutex> l(inbox_mu_);
    inbox_.push_back(c);
  });
  // What the store held before: observed as if just added (observing is
  // idempotent, so an object seen twice does no harm).
  for (const ResourceKind* kind : {&Nodes(), &Jobs(), &Pods(), &ResourceQuotas()}) {
    auto all = store_.List(*kind, "", {});
    if (!all.ok()) continue;
    for (json& o : all->items) {
      std::string ns = o["metadata"].value("namespace", "");
      Observe({0, kind, ns, "ADDED", std::make_shared<const json>(std::move(o)), nullptr});
    }
  }
}

Controllers::~Controllers() {
  for (auto& [key, p] : processes_) {
    if (!supervisor_.Forget(p.pid)) continue;  // ended: the supervisor reaps it
    ::kill(-p.pid, SIGKILL);
    ::waitpid(p.pid, nullptr, 0);
  }
}

std::string Controllers::LogOf(const std::string& pod_uid, size_t from) const {
  std::lock_guard<std::mutex> l(logs_mu_);
  if (auto f = log_files_.find(pod_uid); f != log_files_.end()) {
    std::ifstream in(f->second, std::ios::binary);
    in.seekg(static_cast<std::streamoff>(from));
    return in ? std::string(std::istreambuf_iterator<char>(in), {}) : "";
  }
  auto it = logs_.find(pod_uid);
  return it == logs_.end() || from >= it->second.size() ? "" : it->second.substr(from);
}

std::optional<TimePoint> Controllers::NextDue() const {
  std::optional<TimePoint> due;
  auto earlier = [&](TimePoint t) {
    if (!due || t < *due) due = t;
  };
  if (!pod_ends_.empty()) earlier(pod_ends_.begin()->first);
  for (const auto& [key, retry] : blocked_) earlier(retry.at);
  if (!job_timers_.empty()) earlier(job_timers_.begin()->first);
  std::lock_guard<std::mutex> l(exits_mu_);
  if (!exits_.empty()) earlier(store_.clock().Now());
  return due;
}

void Controllers::Drain() {
  std::vector<ObjectStore::Change> changes;
  {
    std::lock_guard<std::mutex> l(inbox_mu_);
    changes.swap(inbox_);
  }
  for (const ObjectStore::Change& c : changes) Observe(c);
}

void Controllers::Observe(const ObjectStore::Change& c) {
  if (c.kind == &Nodes()) return ObserveNode(c);
  quotas_.Observe(c);
  if (c.kind == &Pods()) return ObservePod(c);
  if (c.kind == &ResourceQuotas()) return;
  if (c.kind == &Jobs()) return ObserveJob(c);
  recorder_.Observe(c);
}

void Controllers::ObserveNode(const ObjectStore::Change& c) {
  const json& node = *c.object;
  std::string name = Str(Field(node, "metadata"), "name");
  auto it = node_index_.find(name);
  if (c.type == "DELETED") {
    if (it == node_index_.end()) return;
    nodes_.erase(nodes_.begin() + static_cast<std::ptrdiff_t>(it->second));
    node_index_.clear();
    for (size_t i = 0; i < nodes_.size(); ++i) node_index_[nodes_[i].name] = i;
    return;
  }
  NodeInfo info;
  info.name = name;
  const json& alloc = Field(Field(node, "status"), "allocatable");
  info.free = {Quantity(Field(alloc, "cpu"), true), Quantity(Field(alloc, "memory"), false),
               Quantity(Field(alloc, "nvidia.com/gpu"), false)};
  for (const json& cond : Field(Field(node, "status"), "conditions")) {
    if (Str(cond, "type") == "Ready") info.ready = Str(cond, "status") == "True";
  }
  info.cordoned = Field(Field(node, "spec"), "unschedulable") == json(true);
  info.taints = json::array();
  for (const json& taint : Field(Field(node, "spec"), "taints")) {
    std::string effect = Str(taint, "effect");
    if (effect == "NoSchedule" || effect == "NoExecute") info.taints.push_back(taint);
  }
  for (const auto& [k, v] : Field(Field(node, "metadata"), "labels").items()) {
    if (v.is_string()) info.labels[k] = v.get<std::string>();
  }
  // What the pods bound to it hold.
  for (const auto& [key, use] : bound_) {
    if (use.node != name) continue;
    info.free.milli_cpu -= use.request.milli_cpu;
    info.free.memory -= use.request.memory;
    info.free.gpus -= use.request.gpus;
  }
  if (it == node_index_.end()) {
    node_index_[name] = nodes_.size();
    nodes_.push_back(std::move(info));
  } else {
    nodes_[it->second] = std::move(info);
  }
  // Capacity, labels or taints may have changed: waiting pods try again.
  RetryParked();
}

void Controllers::RetryParked() {
  for (const std::string& key : parked_) {
    if (queued_.insert(key).second) to_schedule_.push_back(key);
  }
  parked_.clear();
}

void Controllers::ObservePod(const ObjectStore::Change& c) {
  const json& pod = *c.object;
  const json& meta = Field(pod, "metadata");
  std::string key = KeyOf(c.ns, Str(meta, "name"));
  bool gone = c.type == "DELETED";
  bool deleting = meta.contains("deletionTimestamp");
  std::string node = Str(Field(pod, "spec"), "nodeName");
  bool terminal = Terminal(pod);
  if (gone || deleting || Phase(pod) != "Pending") blocked_.erase(key);

  // What it holds on its node.
  bool holds = !gone && !node.empty() && !terminal;
  if (auto it = bound_.find(key); it != bound_.end() && (!holds || it->second.node != node)) {
    if (auto n = node_index_.find(it->second.node); n != node_index_.end()) {
      Request& f = nodes_[n->second].free;
      f.milli_cpu += it->second.request.milli_cpu;
      f.memory += it->second.request.memory;
      f.gpus += it->second.request.gpus;
    }
    bound_.erase(it);
    RetryParked();  // capacity freed
  }
  if (holds && !bound_.count(key)) {
    Request r = PodRequest(pod);
    if (auto n = node_index_.find(node); n != node_index_.end()) {
      Request& f = nodes_[n->second].free;
      f.milli_cpu -= r.milli_cpu;
      f.memory -= r.memory;
      f.gpus -= r.gpus;
    }
    bound_[key] = {node, r};
  }

  // Scheduler and kubelet queues.
  if (!gone && !deleting && !terminal) {
    if (node.empty()) {
      if (!parked_.count(key) && queued_.insert(key).second) to_schedule_.push_back(key);
    } else if (Phase(pod) == "Pending") {
      to_start_.push_back(key);
    }
  }
  if (gone || !node.empty()) {
    parked_.erase(key);
    last_unschedulable_.erase(key);
  }
  if ((gone || terminal || deleting) && processes_.count(key)) Kill(key);
  if (gone) {
    std::lock_guard<std::mutex> l(logs_mu_);
    logs_.erase(Str(meta, "uid"));
    log_files_.erase(Str(meta, "uid"));
  }

  // Job controller and garbage collector: the controlling owner.
  std::string owner;
  bool has_refs = false;
  for (const json& ref : Field(meta, "ownerReferences")) {
    has_refs = true;
    if (Field(ref, "controller") == json(true)) owner = Str(ref, "uid");
  }
  auto was = pod_owner_.find(key);
  if (was != pod_owner_.end() && (gone || was->second != owner)) {
    auto set = job_pods_.find(was->second);
    if (set != job_pods_.end()) {
      set->second.erase(key);
      if (set->second.empty() && !job_by_uid_.count(was->second)) job_pods_.erase(set);
    }
    if (auto j = job_by_uid_.find(was->second); j != job_by_uid_.end())
      dirty_jobs_.insert(j->second);
    pod_owner_.erase(was);
  }
  if (gone) return;
  if (!owner.empty()) {
    pod_owner_[key] = owner;
    job_pods_[owner].insert(key);
    if (auto j = job_by_uid_.find(owner); j != job_by_uid_.end()) dirty_jobs_.insert(j->second);
  }
  if (has_refs) {
    // Owners that are gone, or leaving in the foreground: the GC decides.
    for (const json& ref : Field(meta, "ownerReferences")) {
      std::string uid = Str(ref, "uid");
      if (!job_by_uid_.count(uid) || leaving_jobs_.count(uid)) gc_pods_.insert(key);
    }
  }
}

void Controllers::ObserveJob(const ObjectStore::Change& c) {
  const json& meta = Field(*c.object, "metadata");
  std::string key = KeyOf(c.ns, Str(meta, "name"));
  std::string uid = Str(meta, "uid");
  auto dependents_to_gc = [&] {
    if (auto it = job_pods_.find(uid); it != job_pods_.end())
      gc_pods_.insert(it->second.begin(), it->second.end());
  };
  if (c.type == "DELETED") {
    job_by_uid_.erase(uid);
    leaving_jobs_.erase(uid);
    JobDue(key, std::nullopt);
    dirty_jobs_.erase(key);
    failed_create_.erase(key);
    dependents_to_gc();
    if (auto it = job_pods_.find(uid); it != job_pods_.end() && it->second.empty())
      job_pods_.erase(it);
    return;
  }
  job_by_uid_[uid] = key;
  dirty_jobs_.insert(key);
  if (meta.contains("deletionTimestamp") && leaving_jobs_.insert(uid).second) dependents_to_gc();
}

bool Controllers::Reconcile() {
  TimePoint now = store_.clock().Now();
  while (!job_timers_.empty() && job_timers_.begin()->first <= now) {
    dirty_jobs_.insert(job_timers_.begin()->second);
    job_timer_of_.erase(job_timers_.begin()->second);
    job_timers_.erase(job_timers_.begin());
  }
  bool changed = false;
  Drain();
  changed = CollectGarbage() || changed;
  Drain();
  changed = SyncJobs() || changed;
  Drain();
  changed = Schedule() || changed;
  Drain();
  changed = RunKubelet() || changed;
  Drain();
  changed = quotas_.Sync() || changed;
  Drain();
  changed = recorder_.Trim() || changed;
  return changed;
}

void Controllers::Settle() {
  for (int i = 0; i < 100 && Reconcile(); ++i) {
  }
}

void Controllers::JobDue(const std::string& key, std::optional<TimePoint> t) {
  if (auto it = job_timer_of_.find(key); it != job_timer_of_.end()) {
    if (t && *t >= it->second) return;  // an earlier one is set
    job_timers_.erase({it->second, key});
    job_timer_of_.erase(it);
  }
  if (!t) return;
  job_timers_.insert({*t, key});
  job_timer_of_[key] = *t;
}

// --- Scheduler -------------------------------------------------------------

bool Controllers::Schedule() {
  bool changed = false;
  std::deque<std::string> work;
  work.swap(to_schedule_);
  queued_.clear();
  for (const std::string& key : work) {
    auto [ns, name] = SplitKey(key);
    auto pod = store_.Peek(Pods(), ns, name);
    if (!pod || !Str(Field(*pod, "spec"), "nodeName").empty() || Terminal(*pod) ||
        Field(*pod, "metadata").contains("deletionTimestamp"))
      continue;
    changed = ScheduleOne(*pod) || changed;
  }
  return changed;
}

// Filters nodes as kube-scheduler does: from a rotating start, until enough
// feasible ones are found (all of a small cluster, a share of a big one),
// then takes the least allocated of those.
bool Controllers::ScheduleOne(const json& original) {
  std::string key = KeyOf(original);
  const json& spec = Field(original, "spec");
  Request need = PodRequest(original);
  const json& selector = Field(spec, "nodeSelector");
  const json& tolerations = Field(spec, "tolerations");
  size_t n = nodes_.size();
  size_t enough = n;
  if (n > 100) {
    size_t percent = std::max<size_t>(5, 50 - std::min<size_t>(45, n / 125));
    enough = std::max<size_t>(100, n * percent / 100);
  }
  enum { kNotReady, kTaint, kSelector, kCpu, kMemory, kGpu, kReasons };
  static const char* const kWhy[] = {"node(s) were not ready",
                                     "node(s) had untolerated taint",
                                     "node(s) didn't match Pod's node affinity/selector",
                                     "Insufficient cpu",
                                     "Insufficient memory",
                                     "Insufficient nvidia.com/gpu"};
  int why[kReasons] = {};
  NodeInfo* best = nullptr;
  size_t feasible = 0, visited = 0;
  for (; visited < n && feasible < enough; ++visited) {
    NodeInfo& node = nodes_[(next_start_node_ + visited) % n];
    if (!node.ready) {
      ++why[kNotReady];
      continue;
    }
    bool untolerated = node.cordoned;
    for (const json& taint : node.taints)
      untolerated = untolerated || !Tolerates(tolerations, taint);
    if (untolerated) {
      ++why[kTaint];
      continue;
    }
    bool match = true;
    for (auto it = selector.begin(); selector.is_object() && it != selector.end(); ++it) {
      auto label = node.labels.find(it.key());
      match = match && label != node.labels.end() &&
              label->second == (it->is_string() ? it->get<std::string>() : it->dump());
    }
    if (!match) {
      ++why[kSelector];
      continue;
    }
    bool fits = true;
    if (need.milli_cpu > node.free.milli_cpu) fits = false, ++why[kCpu];
    if (need.memory > node.free.memory) fits = false, ++why[kMemory];
    if (need.gpus > node.free.gpus) fits = false, ++why[kGpu];
    if (!fits) continue;
    ++feasible;
    if (!best || node.free.milli_cpu > best->free.milli_cpu) best = &node;
  }
  if (n > 0) next_start_node_ = (next_start_node_ + visited) % n;
  TimePoint now = store_.clock().Now();
  json pod = original;
  json& status = pod["status"];
  std::string ns = Str(Field(pod, "metadata"), "namespace");
  if (!best) {
    std::string all = std::to_string(n);
    std::string message = "0/" + all + " nodes are available: ";
    bool first = true;
    for (int r = 0; r < kReasons; ++r) {
      if (why[r] == 0) continue;
      message += (first ? "" : ", ") + std::to_string(why[r]) + " " + kWhy[r];
      first = false;
    }
    message += ". preemption: 0/" + all + " nodes are available: " + all +
               " Preemption is not helpful for scheduling.";
    parked_.insert(key);
    if (last_unschedulable_[key] == message) return false;
    last_unschedulable_[key] = message;
    SetCondition(status, "PodScheduled", "False", "Unschedulable", message, now);
    if (!store_.Update(Pods(), ns, std::move(pod)).ok()) return false;
    (void)recorder_.Record(original, "Warning", "FailedScheduling", message);
    return true;
  }
  pod["spec"]["nodeName"] = best->name;
  SetCondition(status, "PodScheduled", "True", "", "", now);
  if (!store_.Update(Pods(), ns, std::move(pod)).ok()) return false;
  // Count it now: the next pod of this pass must see the node's new load.
  Drain();
  (void)recorder_.Record(original, "Normal", "Scheduled",
                         "Successfully assigned " + ns + "/" +
                             Str(Field(original, "metadata"), "name") + " to " + best->name);
  return true;
}

// --- Kubelet ---------------------------------------------------------------

bool Controllers::RunKubelet() {
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
        Field(*pod, "metadata").contains("deletionTimestamp") || processes_.count(key)) {
      if (auto b = blocked_.find(key); b != blocked_.end() && b->second.at <= now)
        blocked_.erase(b);  // nothing left to start
      continue;
    }
    changed = StartPod(*pod) || changed;
    Drain();  // so that the versions just replaced can go
  }
  changed = EndDuePods() || changed;
  changed = ReapProcesses() || changed;
  return changed;
}

void Controllers::SetMissingImages(std::set<std::string> images) {
  options_.missing_images = std::move(images);
  for (auto& [key, retry] : blocked_) retry.at = store_.clock().Now();  // look again now
}

std::optional<std::pair<std::string, std::string>> Controllers::Blocked(const json& pod,
                                                                        int tries) const {
  std::string ns = Str(Field(pod, "metadata"), "namespace");
  for (const json& c : Field(Field(pod, "spec"), "containers")) {
    std::string image = Str(c, "image");
    if (!IsImageReference(image)) {
      return std::pair{"InvalidImageName", "Failed to apply default image tag \"" + image +
                                               "\": couldn't parse image name \"" + image +
                                               "\": invalid reference format"};
    }
    if (options_.missing_images.count(image)) {
      if (tries == 0) {
        return std::pair{"ErrImagePull",
                         "rpc error: code = NotFound desc = failed to pull and unpack image \"" +
                             image + "\": failed to resolve reference \"" + image + "\": " + image +
                             ": not found"};
      }
      return std::pair{"ImagePullBackOff", "Back-off pulling image \"" + image + "\""};
    }
    // The container's config: what its env takes from ConfigMaps and Secrets.
    for (const json& from : Field(c, "envFrom")) {
      bool secret = from.contains("secretRef");
      const json& ref = Field(from, secret ? "secretRef" : "configMapRef");
      if (Field(ref, "optional") == json(true)) continue;
      if (!store_.Peek(*FindKind("", secret ? "secrets" : "configmaps"), ns, Str(ref, "name"))) {
        return std::pair{"CreateContainerConfigError",
                         std::string(secret ? "secret" : "configmap") + " \"" + Str(ref, "name") +
                             "\" not found"};
      }
    }
    for (const json& e : Field(c, "env")) {
      const json& from = Field(e, "valueFrom");
      bool secret = from.contains("secretKeyRef");
      if (!secret && !from.contains("configMapKeyRef")) continue;
      const json& ref = Field(from, secret ? "secretKeyRef" : "configMapKeyRef");
      if (Field(ref, "optional") == json(true)) continue;
      auto object =
          store_.Peek(*FindKind("", secret ? "secrets" : "configmaps"), ns, Str(ref, "name"));
      if (!object) {
        return std::pair{"CreateContainerConfigError",
                         std::string(secret ? "secret" : "configmap") + " \"" + Str(ref, "name") +
                             "\" not found"};
      }
      if (!Field(*object, "data").contains(Str(ref, "key")) &&
          !Field(*object, "binaryData").contains(Str(ref, "key"))) {
        return std::pair{"CreateContainerConfigError",
                         "couldn't find key " + Str(ref, "key") + " in " +
                             (secret ? "Secret " : "ConfigMap ") + ns + "/" + Str(ref, "name")};
      }
    }
  }
  return std::nullopt;
}

// The pod stays Pending with its containers waiting for `reason`, as the
// kubelet reports it, with a Failed (or BackOff) event when that is news;
// the kubelet tries again later.
bool Controllers::Wait(json pod, const std::string& reason, const std::string& message) {
  TimePoint now = store_.clock().Now();
  std::string key = KeyOf(pod);
  Retry& retry = blocked_[key];
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
  SetCondition(status, "Initialized", "True", "", "", now);
  SetCondition(status, "ContainersReady", "False", "ContainersNotReady",
               "containers with unready status: [" + names + "]", now);
  SetCondition(status, "Ready", "False", "ContainersNotReady",
               "containers with unready status: [" + names + "]", now);
  if (status == before) return false;
  bool backoff = reason == "ImagePullBackOff";
  (void)recorder_.Record(pod, backoff ? "Normal" : "Warning", backoff ? "BackOff" : "Failed",
                         backoff ? message : "Error: " + message);
  std::string ns = Str(Field(pod, "metadata"), "namespace");
  return store_.Update(Pods(), ns, std::move(pod)).ok();
}

bool Controllers::StartPod(json pod) {
  TimePoint now = store_.clock().Now();
  const json annotations = Field(Field(pod, "metadata"), "annotations");
  std::string key = KeyOf(pod);
  if (auto b = blocked_.find(key); b != blocked_.end() && now < b->second.at) return false;
  if (auto why = Blocked(pod, blocked_.count(key) ? blocked_[key].tries : 0))
    return Wait(std::move(pod), why->first, why->second);
  blocked_.erase(key);
  std::string ns = Str(Field(pod, "metadata"), "namespace");
  std::string uid = Str(Field(pod, "metadata"), "uid");
  Duration duration = options_.default_duration;
  if (std::string d = Str(annotations, "sim.portflow.dev/duration"); !d.empty()) {
    bool plain = d.find_first_not_of("0123456789.") == std::string::npos;
    auto parsed = ParseDuration(plain ? d + "s" : d);
    if (parsed.ok()) duration = *parsed;
  }
  int exit_code = SimulatedExitCode(annotations);

  json& status = pod["status"];
  const json& containers = Field(pod["spec"], "containers");
  std::optional<Process> process;
  if (options_.execute) {
    auto started = Exec(pod);
    if (!started.ok()) {
      // As a runtime that cannot start the container: StartError, code 128.
      EndPod(pod, 128, now, now);
      for (json& cs : status["containerStatuses"]) {
        cs["state"]["terminated"]["reason"] = "StartError";
        cs["state"]["terminated"]["message"] = started.status().message();
      }
      status["startTime"] = K8sTime(now);
      SetCondition(status, "Initialized", "True", "", "", now);
      // Nothing ran, so the log is empty: the reason is in the status only.
      return store_.Update(Pods(), ns, std::move(pod)).ok();
    }
    process = *started;
  }
  status["phase"] = "Running";
  status["startTime"] = K8sTime(now);
  status["hostIP"] = "127.0.0.1";
  status["podIP"] = "127.0.0.1";
  status["containerStatuses"] =
      ContainerStatuses(pod, {{"running", {{"startedAt", K8sTime(now)}}}}, true);
  SetCondition(status, "Initialized", "True", "", "", now);
  SetCondition(status, "ContainersReady", "True", "", "", now);
  SetCondition(status, "Ready", "True", "", "", now);
  std::string container = containers.empty() ? "" : Str(containers[0], "name");
  if (!store_.Update(Pods(), ns, std::move(pod)).ok()) {
    if (process) {
      processes_[key] = *process;
      Kill(key);
    }
    return false;
  }
  if (process) {
    processes_[key] = *process;
  } else {
    {
      std::lock_guard<std::mutex> l(logs_mu_);
      logs_[uid] = "portflow simulate: " + SplitKey(key).second + " started; it runs for " +
                   FormatDuration(duration) + " and exits with code " + std::to_string(exit_code) +
                   "\n";
    }
    pod_ends_.insert({now + std::chrono::duration_cast<TimePoint::duration>(duration), key});
    // The precise start, for sub-second durations in virtual time.
    sim_started_[key] = {uid, now};
  }
  auto current = store_.Peek(Pods(), ns, SplitKey(key).second);
  if (current)
    (void)recorder_.Record(*current, "Normal", "Started", "Started container " + container);
  return true;
}

int Controllers::SimulatedExitCode(const json& annotations) const {
  std::string code = Str(annotations, "sim.portflow.dev/exit-code");
  return code.empty() ? options_.default_exit_code : std::atoi(code.c_str());
}

// The container exited by itself: the pod ends and is no longer ready.
void Controllers::ExitPod(json& pod, int exit_code, TimePoint started, TimePoint now) {
  EndPod(pod, exit_code, started, now);
  SetCondition(pod["status"], "ContainersReady", "False", "PodCompleted", "", now);
  SetCondition(pod["status"], "Ready", "False", "PodCompleted", "", now);
}

bool Controllers::EndDuePods() {
  bool changed = false;
  TimePoint now = store_.clock().Now();
  while (!pod_ends_.empty() && pod_ends_.begin()->first <= now) {
    std::string key = pod_ends_.begin()->second;
    pod_ends_.erase(pod_ends_.begin());
    auto [ns, name] = SplitKey(key);
    auto start = sim_started_.find(key);
    if (start == sim_started_.end()) continue;
    auto [started_uid, started] = start->second;
    sim_started_.erase(start);
    auto current = store_.Peek(Pods(), ns, name);
    // Ended, deleted or replaced meanwhile.
    if (!current || Phase(*current) != "Running" ||
        Str((*current)["metadata"], "uid") != started_uid)
      continue;
    json pod = *current;
    const json& annotations = Field(pod["metadata"], "annotations");
    int exit_code = SimulatedExitCode(annotations);
    std::string uid = Str(pod["metadata"], "uid");
    ExitPod(pod, exit_code, started, now);
    if (store_.Update(Pods(), ns, std::move(pod)).ok()) {
      changed = true;
      std::lock_guard<std::mutex> l(logs_mu_);
      logs_[uid] += "portflow simulate: exited with code " + std::to_string(exit_code) + "\n";
    }
    Drain();
  }
  return changed;
}

// --- Garbage collector -----------------------------------------------------

// Deletes pods whose owners are gone, and finishes foreground deletions once
// an owner's dependents are gone.
bool Controllers::CollectGarbage() {
  bool changed = false;
  std::set<std::string> work;
  work.swap(gc_pods_);
  for (const std::string& key : work) {
    auto [ns, name] = SplitKey(key);
    auto pod = store_.Peek(Pods(), ns, name);
    if (!pod) continue;
    bool has_owner = false, owner_leaving = false;
    const json& refs = Field(Field(*pod, "metadata"), "ownerReferences");
    for (const json& ref : refs) {
      std::string uid = Str(ref, "uid");
      if (!job_by_uid_.count(uid)) continue;
      has_owner = true;
      owner_leaving = owner_leaving || leaving_jobs_.count(uid);
    }
    if (refs.empty() || (has_owner && !owner_leaving)) continue;
    changed = store_.Delete(Pods(), ns, name).ok() || changed;
  }
  Drain();
  for (const std::string& uid :
       std::vector<std::string>(leaving_jobs_.begin(), leaving_jobs_.end())) {
    auto pods = job_pods_.find(uid);
    if (pods != job_pods_.end() && !pods->second.empty()) continue;
    auto job = job_by_uid_.find(uid);
    if (job == job_by_uid_.end()) continue;
    auto [ns, name] = SplitKey(job->second);
    changed = store_.Delete(Jobs(), ns, name).ok() || changed;
  }
  return changed;
}

// The action of the first podFailurePolicy rule that matches a failed pod
// ("FailJob", "Ignore", "Count"), or "Count" when none does.
static std::string PolicyAction(const json& job_spec, const json& pod, std::string* message) {
  const json rules =
      job_spec.value("podFailurePolicy", json::object()).value("rules", json::array());
  const json statuses =
      pod.value("status", json::object()).value("containerStatuses", json::array());
  const json conditions = pod.value("status", json::object()).value("conditions", json::array());
  std::string pod_name =
      pod["metadata"].value("namespace", "") + "/" + pod["metadata"].value("name", "");
  for (size_t i = 0; i < rules.size(); ++i) {
    const json& rule = rules[i];
    std::string action = rule.value("action", "Count");
    if (rule.contains("onExitCodes")) {
      const json on = rule["onExitCodes"];
      const json values = on.value("values", json::array());
      bool in = on.value("operator", "In") == "In";
      for (const json& cs : statuses) {
        if (on.contains("containerName") && on["containerName"] != cs.value("name", "")) continue;
        const json t = cs.value("state", json::object()).value("terminated", json::object());
        if (!t.contains("exitCode")) continue;
        int code = t.value("exitCode", 0);
        if (code == 0) continue;
        bool listed = std::find(values.begin(), values.end(), json(code)) != values.end();
        if (listed == in) {
          *message = "Container " + cs.value("name", "") + " for pod " + pod_name +
                     " failed with exit code " + std::to_string(code) + " matching " + action +
                     " rule at index " + std::to_string(i);
          return action;
        }
      }
    }
    for (const json& pattern : rule.value("onPodConditions", json::array())) {
      for (const json& c : conditions) {
        if (c.value("type", "") == pattern.value("type", "") &&
            c.value("status", "") == pattern.value("status", "True")) {
          *message = "Pod " + pod_name + " has condition " + c.value("type", "") + " matching " +
                     action + " rule at index " + std::to_string(i);
          return action;
        }
      }
    }
  }
  return "Count";
}

// --- Job controller --------------------------------------------------------

bool Controllers::SyncJobs() {
  bool changed = false;
  std::set<std::string> work;
  work.swap(dirty_jobs_);
  for (const std::string& key : work) {
    changed = SyncJob(key) || changed;
    Drain();
  }
  return changed;
}

bool Controllers::SyncJob(const std::string& key) {
  auto [ns, name] = SplitKey(key);
  auto stored = store_.Peek(Jobs(), ns, name);
  if (!stored) {
    failed_create_.erase(key);
    return false;
  }
  TimePoint now = store_.clock().Now();
  json job = *stored;
  json& status = job["status"];
  if (!status.is_object()) status = json::object();
  const json& spec = Field(*stored, "spec");
  std::string uid = Str(job["metadata"], "uid");
  std::vector<std::shared_ptr<const json>> owned;
  if (auto it = job_pods_.find(uid); it != job_pods_.end()) {
    for (const std::string& pod_key : it->second) {
      auto [pns, pname] = SplitKey(pod_key);
      if (auto p = store_.Peek(Pods(), pns, pname)) owned.push_back(std::move(p));
    }
  }
  auto delete_active = [&] {
    for (const auto& p : owned) {
      if (!Terminal(*p)) (void)store_.Delete(Pods(), ns, Str((*p)["metadata"], "name"));
    }
  };
  if (HasTrueCondition(status, "Complete") || HasTrueCondition(status, "Failed")) {
    // ttlSecondsAfterFinished: the finished Job goes, its pods with it.
    const json& ttl = Field(spec, "ttlSecondsAfterFinished");
    std::string finished;
    for (const json& c : Field(status, "conditions")) {
      if ((Str(c, "type") == "Complete" || Str(c, "type") == "Failed") &&
          Str(c, "status") == "True") {
        finished = Str(c, "lastTransitionTime");
      }
    }
    auto at = ParseK8sTime(finished);
    if (!ttl.is_number_integer() || !at) return false;
    TimePoint expiry = *at + std::chrono::seconds(ttl.get<int64_t>());
    if (now < expiry) {
      JobDue(key, expiry);
      return false;
    }
    return store_.Delete(Jobs(), ns, name).ok();
  }
  if (job["metadata"].contains("deletionTimestamp")) return false;  // being deleted
  if (Field(spec, "suspend") == json(true)) {
    // Suspended: no pods run; the condition says so.
    json before = status;
    delete_active();
    SetCondition(status, "Suspended", "True", "JobSuspended", "Job suspended", now);
    status.erase("startTime");
    status["active"] = 0;
    return status != before && store_.Update(Jobs(), ns, std::move(job)).ok();
  }
  if (HasTrueCondition(status, "Suspended")) {
    SetCondition(status, "Suspended", "False", "JobResumed", "Job resumed", now);
  }
  bool indexed = Str(spec, "completionMode") == "Indexed";
  int64_t completions =
      Field(spec, "completions").is_number() ? spec["completions"].get<int64_t>() : 1;
  int64_t parallelism =
      Field(spec, "parallelism").is_number() ? spec["parallelism"].get<int64_t>() : 1;
  int64_t backoff_limit =
      Field(spec, "backoffLimit").is_number() ? spec["backoffLimit"].get<int64_t>() : 6;
  json before = status;
  if (!status.contains("startTime")) status["startTime"] = K8sTime(now);

  bool fail_job = false;
  std::string fail_job_message;
  int64_t succeeded = 0, failed = 0, active = 0, ready = 0;
  std::set<int64_t> done_indexes, active_indexes;
  TimePoint last_failure{};
  for (const auto& pp : owned) {
    const json& p = *pp;
    std::string phase = Phase(p);
    int64_t index = std::atoll(
        Str(Field(p["metadata"], "annotations"), "batch.kubernetes.io/job-completion-index").c_str());
    if (!Field(p["metadata"], "annotations").contains("batch.kubernetes.io/job-completion-index"))
      index = -1;
    if (phase == "Succeeded") {
      if (!indexed || done_indexes.insert(index).second) ++succeeded;
    } else if (phase == "Failed") {
      std::string action = PolicyAction(spec, p, &fail_job_message);
      if (action == "Ignore") continue;  // neither counted nor backed off
      if (action == "FailJob") fail_job = true;
      ++failed;
      for (const json& cs : Field(p["status"], "containerStatuses")) {
        auto t = ParseK8sTime(Str(Field(Field(cs, "state"), "terminated"), "finishedAt"));
        if (t && *t > last_failure) last_failure = *t;
      }
    } else {
      ++active;
      if (Phase(p) == "Running") ++ready;
      active_indexes.insert(index);
    }
  }
  std::optional<TimePoint> due;
  auto finish = [&](const std::string& type, const std::string& target, const std::string& reason,
                    const std::string& message) {
    SetCondition(status, target, "True", reason, message, now);
    SetCondition(status, type, "True", reason, message, now);
    delete_active();
    active = 0;
    ready = 0;
    if (type == "Complete") status["completionTime"] = K8sTime(now);
    (void)recorder_.Record(job, type == "Complete" ? "Normal" : "Warning",
                           type == "Complete" ? "Completed" : reason,
                           type == "Complete" ? "Job completed" : message);
    const json& ttl = Field(spec, "ttlSecondsAfterFinished");
    if (ttl.is_number_integer()) due = now + std::chrono::seconds(ttl.get<int64_t>());
  };
  const json& deadline = Field(spec, "activeDeadlineSeconds");
  auto start = ParseK8sTime(Str(status, "startTime"));
  if (fail_job) {
    finish("Failed", "FailureTarget", "PodFailurePolicy", fail_job_message);
  } else if (failed > backoff_limit) {
    finish("Failed", "FailureTarget", "BackoffLimitExceeded",
           "Job has reached the specified backoff limit");
  } else if (deadline.is_number() && start &&
             now - *start >= std::chrono::seconds(deadline.get<int64_t>())) {
    finish("Failed", "FailureTarget", "DeadlineExceeded",
           "Job was active longer than specified deadline");
  } else if (succeeded >= completions) {
    finish("Complete", "SuccessCriteriaMet", "CompletionsReached",
           "Reached expected number of succeeded pods");
  } else {
    if (deadline.is_number() && start) due = *start + std::chrono::seconds(deadline.get<int64_t>());
    // Pods come back after failures with an exponential backoff (10s, 20s... 6m).
    Duration backoff{0};
    if (failed > 0) {
      backoff = std::chrono::seconds(10);
      for (int64_t k = 1; k < failed && backoff < std::chrono::minutes(6); ++k) backoff *= 2;
      backoff = std::min<Duration>(backoff, std::chrono::minutes(6));
    }
    TimePoint allowed = last_failure + std::chrono::duration_cast<TimePoint::duration>(backoff);
    int64_t want = std::min(parallelism, completions - succeeded);
    if (active < want && now < allowed) {
      if (!due || allowed < *due) due = allowed;
    } else {
      const json& tmpl = Field(spec, "template");
      int64_t made = 0;
      for (int64_t i = 0; active + made < want && i < completions; ++i) {
        if (indexed && (done_indexes.count(i) || active_indexes.count(i))) continue;
        json pod = {
            {"apiVersion", "v1"},
            {"kind", "Pod"},
            {"metadata", Field(tmpl, "metadata").is_object() ? tmpl["metadata"] : json::object()},
            {"spec", Field(tmpl, "spec").is_object() ? tmpl["spec"] : json::object()}};
        json& meta = pod["metadata"];
        meta["namespace"] = ns;
        meta["generateName"] = indexed ? name + "-" + std::to_string(i) + "-" : name + "-";
        meta.erase("name");
        meta["ownerReferences"] = {{{"apiVersion", "batch/v1"},
                                    {"kind", "Job"},
                                    {"name", name},
                                    {"uid", uid},
                                    {"controller", true},
                                    {"blockOwnerDeletion", true}}};
        if (indexed) {
          meta["annotations"]["batch.kubernetes.io/job-completion-index"] = std::to_string(i);
          meta["labels"]["batch.kubernetes.io/job-completion-index"] = std::to_string(i);
          pod["spec"]["hostname"] = name + "-" + std::to_string(i);
          for (json& c : pod["spec"]["containers"]) {
            json& env = c["env"];
            if (!env.is_array()) env = json::array();
            env.push_back(
                {{"name", "JOB_COMPLETION_INDEX"},
                 {"valueFrom",
                  {{"fieldRef",
                    {{"fieldPath",
                      "metadata.annotations['batch.kubernetes.io/job-completion-index']"}}}}}});
          }
        }
        pod["status"] = {{"phase", "Pending"}};
        auto created = pod_admission_.Create(ns, std::move(pod));
        if (!created.ok()) {
          // Refused (a ResourceQuota): said on the Job as the Job
          // controller's FailedCreate event, once per cause (the pod's
          // generated name aside), and tried again later.
          const std::string& why = created.status().message();
          std::string cause = why.substr(std::min(why.find(" is forbidden: "), why.size()));
          if (std::exchange(failed_create_[key], cause) != cause)
            (void)recorder_.Record(job, "Warning", "FailedCreate", "Error creating: " + why);
          if (!due || now + kCreateRetry < *due) due = now + kCreateRetry;
          break;
        }
        failed_create_.erase(key);
        ++made;
        (void)recorder_.Record(job, "Normal", "SuccessfulCreate",
                               "Created pod: " + Str((**created)["metadata"], "name"));
      }
      active += made;
    }
  }
  JobDue(key, std::nullopt);
  if (due) JobDue(key, due);
  status["active"] = active;
  status["succeeded"] = succeeded;
  status["failed"] = failed;
  status["ready"] = ready;
  status["terminating"] = 0;
  status["uncountedTerminatedPods"] = json::object();
  if (indexed) status["completedIndexes"] = Ranges(done_indexes);
  return status != before && store_.Update(Jobs(), ns, std::move(job)).ok();
}

// --- Kubelet, execute mode -------------------------------------------------

namespace {

const ResourceKind& Services() { return *FindKind("", "services"); }
const ResourceKind& ConfigMaps() { return *FindKind("", "configmaps"); }
const ResourceKind& Secrets() { return *FindKind("", "secrets"); }

std::string Scalar(const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

// $(VAR) references expand to earlier variables, $$ is a literal $, and an
// unknown reference stays as written: the kubelet's rules.
std::string Expand(const std::string& s, const std::map<std::string, std::string>& vars) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '$' && i + 1 < s.size() && s[i + 1] == '$') {
      out += '$';
      ++i;
    } else if (s[i] == '$' && i + 1 < s.size() && s[i + 1] == '(') {
      size_t close = s.find(')', i + 2);
      auto it = close == std::string::npos ? vars.end() : vars.find(s.substr(i + 2, close - i - 2));
      if (it == vars.end()) {
        out += s[i];
        continue;
      }
      out += it->second;
      i = close;
    } else {
      out += s[i];
    }
  }
  return out;
}

// The value of a downward-API fieldPath.
std::optional<std::string> FieldRef(const json& pod, const std::string& path) {
  const json& meta = pod["metadata"];
  for (const char* map : {"annotations", "labels"}) {
    std::string prefix = std::string("metadata.") + map + "['";
    if (path.rfind(prefix, 0) == 0 && path.size() > prefix.size() + 2 &&
        path.substr(path.size() - 2) == "']") {
      return Str(Field(meta, map),
                 path.substr(prefix.size(), path.size() - prefix.size() - 2).c_str());
    }
  }
  if (path == "metadata.name") return Str(meta, "name");
  if (path == "metadata.namespace") return Str(meta, "namespace");
  if (path == "metadata.uid") return Str(meta, "uid");
  if (path == "spec.nodeName") return Str(pod["spec"], "nodeName");
  if (path == "spec.serviceAccountName") return Str(pod["spec"], "serviceAccountName");
  if (path == "status.podIP" || path == "status.hostIP") return std::string("127.0.0.1");
  return std::nullopt;
}

// Data of a ConfigMap or Secret as bytes per key.
Result<std::map<std::string, std::string>> DataOf(ObjectStore& store, const std::string& ns,
                                                  bool secret, const std::string& name) {
  auto object = store.Peek(secret ? Secrets() : ConfigMaps(), ns, name);
  if (!object) {
    return NotFound(std::string(secret ? "secret" : "configmap") + " \"" + name + "\" not found");
  }
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : Field(*object, "data").items()) {
    if (!secret) {
      out[k] = Scalar(v);
    } else if (auto bytes = Base64Decode(Scalar(v))) {
      out[k] = *bytes;
    }
  }
  for (const auto& [k, v] : Field(*object, "binaryData").items()) {
    if (auto bytes = Base64Decode(Scalar(v))) out[k] = *bytes;
  }
  return out;
}

}  // namespace

// The pod's first container as a local process: its command and args with
// $(VAR) expanded, its env (values, fieldRefs, ConfigMap and Secret keys),
// its volumes as host directories linked at their mount paths under the
// pod's own root, and every mount path in argv, env and workingDir
// re-rooted there. `<pod>.<service>` host names become 127.0.0.1.
Result<Controllers::Process> Controllers::Exec(const json& pod) {
  namespace fs = std::filesystem;
  const json& meta = pod["metadata"];
  const json& spec = pod["spec"];
  std::string ns = Str(meta, "namespace"), uid = Str(meta, "uid");
  const json& containers = Field(spec, "containers");
  if (containers.empty()) return InvalidArgument("the pod has no containers");
  const json& c = containers[0];
  fs::path dir = fs::path(options_.exec_root) / "pods" / uid;
  fs::path root = dir / "root";
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) return Internal("cannot create " + root.string() + ": " + ec.message());

  std::map<std::string, fs::path> volumes;  // volume name -> host directory
  for (const json& v : Field(spec, "volumes")) {
    std::string name = Str(v, "name");
    fs::path host = dir / "volumes" / name;
    bool secret = v.contains("secret");
    if (v.contains("persistentVolumeClaim")) {
      // One directory per claim, shared by every pod that mounts it.
      host = fs::path(options_.exec_root) / "volumes" / ns /
             Str(v["persistentVolumeClaim"], "claimName");
    } else if (v.contains("hostPath")) {
      host = Str(v["hostPath"], "path");
    } else if (secret || v.contains("configMap")) {
      const json& source = v[secret ? "secret" : "configMap"];
      std::string object = Str(source, secret ? "secretName" : "name");
      auto data = DataOf(store_, ns, secret, object);
      if (!data.ok()) {
        if (Field(source, "optional") == json(true))
          data = std::map<std::string, std::string>{};
        else
          return Status(data.status().code(), "MountVolume.SetUp failed for volume \"" + name +
                                                  "\" : " + data.status().message());
      }
      fs::create_directories(host, ec);
      std::map<std::string, std::string> files;  // path in the volume -> bytes
      if (Field(source, "items").empty()) {
        files = *data;
      } else {
        for (const json& item : source["items"]) {
          auto it = data->find(Str(item, "key"));
          if (it != data->end()) files[Str(item, "path")] = it->second;
        }
      }
      for (const auto& [path, bytes] : files) {
        fs::path file = host / path;
        fs::create_directories(file.parent_path(), ec);
        std::ofstream(file, std::ios::binary) << bytes;
      }
    } else if (!v.contains("emptyDir")) {
      return InvalidArgument("volume \"" + name +
                             "\": execute mode supports configMap, secret, "
                             "emptyDir, persistentVolumeClaim and hostPath volumes");
    }
    fs::create_directories(host, ec);
    volumes[name] = host;
  }
  std::vector<std::pair<std::string, std::string>> mounts;  // mount path -> where it is here
  for (const json& m : Field(c, "volumeMounts")) {
    auto it = volumes.find(Str(m, "name"));
    if (it == volumes.end())
      return InvalidArgument("volumeMount \"" + Str(m, "name") + "\" names no volume");
    fs::path source = it->second;
    if (!Str(m, "subPath").empty()) source /= Str(m, "subPath");
    fs::create_directories(source, ec);
    std::string mount = fs::path(Str(m, "mountPath")).lexically_normal().string();
    while (mount.size() > 1 && mount.back() == '/') mount.pop_back();
    fs::path link = root / fs::path(mount).relative_path();
    fs::create_directories(link.parent_path(), ec);
    fs::remove(link, ec);
    fs::create_directory_symlink(fs::absolute(source), link, ec);
    if (ec) return Internal("cannot link " + link.string() + ": " + ec.message());
    mounts.emplace_back(mount, link.string());
  }
  // Longest first, so /data/in wins over /data.
  std::sort(mounts.begin(), mounts.end(),
            [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  auto reroot = [&](const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size();) {
      bool done = false;
      bool boundary = i == 0 || std::string(" =:,\"'(").find(s[i - 1]) != std::string::npos;
      for (const auto& [from, to] : mounts) {
        size_t end = i + from.size();
        if (boundary && s.compare(i, from.size(), from) == 0 &&
            (end == s.size() || s[end] == '/' ||
             std::string(" :,\"');").find(s[end]) != std::string::npos)) {
          out += to;
          i = end;
          done = true;
          break;
        }
      }
      if (!done) out += s[i++];
    }
    return out;
  };
  // <pod>.<service>[.<namespace>[.svc[.cluster.local]]] -> 127.0.0.1
  auto resolve = [&](const std::string& s) {
    std::string out, token;
    auto flush = [&] {
      std::vector<std::string> parts;
      for (size_t start = 0;;) {
        size_t dot = token.find('.', start);
        parts.push_back(token.substr(start, dot - start));
        if (dot == std::string::npos) break;
        start = dot + 1;
      }
      bool local = false;
      if (parts.size() >= 2 && !parts[0].empty()) {
        std::string svc_ns = parts.size() >= 3 ? parts[2] : ns;
        std::string rest;
        for (size_t k = 3; k < parts.size(); ++k) rest += (k > 3 ? "." : "") + parts[k];
        local = (rest.empty() || rest == "svc" || rest == "svc.cluster.local") &&
                store_.Peek(Services(), svc_ns, parts[1]) != nullptr;
      }
      out += local ? "127.0.0.1" : token;
      token.clear();
    };
    for (char ch : s) {
      if (std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '.') {
        token += ch;
      } else {
        flush();
        out += ch;
      }
    }
    flush();
    return out;
  };

  std::map<std::string, std::string> vars;
  std::vector<std::string> order;
  auto set = [&](const std::string& k, const std::string& v) {
    if (!vars.count(k)) order.push_back(k);
    vars[k] = v;
  };
  for (const json& from : Field(c, "envFrom")) {
    bool secret = from.contains("secretRef");
    const json& ref = from[secret ? "secretRef" : "configMapRef"];
    auto data = DataOf(store_, ns, secret, Str(ref, "name"));
    if (!data.ok()) {
      if (Field(ref, "optional") == json(true)) continue;
      return data.status();
    }
    for (const auto& [k, v] : *data) set(Str(from, "prefix") + k, v);
  }
  for (const json& e : Field(c, "env")) {
    std::string name = Str(e, "name");
    if (e.contains("value")) {
      set(name, Expand(Scalar(e["value"]), vars));
      continue;
    }
    const json& from = Field(e, "valueFrom");
    if (from.contains("fieldRef")) {
      auto v = FieldRef(pod, Str(from["fieldRef"], "fieldPath"));
      if (!v)
        return InvalidArgument("env " + name + ": unsupported fieldPath \"" +
                               Str(from["fieldRef"], "fieldPath") + "\"");
      set(name, *v);
    } else if (from.contains("configMapKeyRef") || from.contains("secretKeyRef")) {
      bool secret = from.contains("secretKeyRef");
      const json& ref = from[secret ? "secretKeyRef" : "configMapKeyRef"];
      auto data = DataOf(store_, ns, secret, Str(ref, "name"));
      auto it = data.ok() ? data->find(Str(ref, "key")) : data->end();
      if (!data.ok() || it == data->end()) {
        if (Field(ref, "optional") == json(true)) continue;
        return data.ok()
                   ? NotFound("couldn't find key " + Str(ref, "key") + " in " +
                              (secret ? "Secret " : "ConfigMap ") + ns + "/" + Str(ref, "name"))
                   : data.status();
      }
      set(name, it->second);
    }
  }
  const char* path = std::getenv("PATH");
  std::vector<std::string> env = {
      "PATH=" + std::string(path ? path : "/usr/local/bin:/usr/bin:/bin"), "HOME=" + root.string(),
      "HOSTNAME=" + (Str(spec, "hostname").empty() ? Str(meta, "name") : Str(spec, "hostname"))};
  for (const std::string& k : order) env.push_back(k + "=" + reroot(resolve(vars[k])));

  std::vector<std::string> argv;
  for (const char* field : {"command", "args"}) {
    for (const json& a : Field(c, field)) argv.push_back(reroot(Expand(Scalar(a), vars)));
  }
  if (argv.empty()) {
    return FailedPrecondition("container \"" + Str(c, "name") +
                              "\" has no command: execute mode runs the container's command, "
                              "as it cannot know the image's entrypoint");
  }
  std::string cwd = root.string();
  if (std::string wd = Str(c, "workingDir"); !wd.empty()) {
    cwd = reroot(fs::path(wd).lexically_normal().string());
    if (cwd == fs::path(wd).lexically_normal().string())
      cwd = (root / fs::path(wd).relative_path()).string();
    fs::create_directories(cwd, ec);
  }
  env.push_back("PWD=" + cwd);  // so that a shell's pwd shows the path as mounted
  std::string log_path = (dir / "log").string();
  int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Internal("cannot open " + log_path + ": " + std::strerror(errno));
  Process p;
  p.uid = uid;
  p.log_path = log_path;
  p.started = store_.clock().Now();
  if (const json& g = Field(Field(pod, "spec"), "terminationGracePeriodSeconds"); g.is_number_integer())
    p.grace = std::chrono::seconds(std::max<int64_t>(0, g.get<int64_t>()));
  auto exe = FindExecutable(argv[0], path ? path : "/usr/bin:/bin", cwd);
  Result<pid_t> pid = exe.ok() ? SpawnProcess({*exe, {argv.begin() + 1, argv.end()}, env, cwd, fd})
                               : Result<pid_t>(exe.status());
  ::close(fd);
  if (!pid.ok()) {
    return FailedPrecondition("failed to start container \"" + Str(c, "name") +
                              "\": " + pid.status().message());
  }
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
    return FailedPrecondition("failed to start container \"" + Str(c, "name") +
                              "\": " + watched.message());
  }
  p.pid = *pid;
  std::lock_guard<std::mutex> l(logs_mu_);
  log_files_[uid] = log_path;
  return p;
}

// SIGTERM to the process group now, SIGKILL after the pod's grace period
// (once: a second Kill changes nothing).
void Controllers::Kill(const std::string& pod_key) {
  auto it = processes_.find(pod_key);
  if (it != processes_.end()) supervisor_.StopWithGrace(it->second.pid, it->second.grace);
}

bool Controllers::ReapProcesses() {
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
      ExitPod(pod, code, p.started, now);
      changed = store_.Update(Pods(), ns, std::move(pod)).ok() || changed;
    }
    processes_.erase(it);
  }
  return changed;
}

}  // namespace portflow::fake
