#include "k8s_backend/fake_cluster/controllers/job_controller.h"

#include <algorithm>
#include <utility>

#include "core/k8s_time.h"
#include "k8s_backend/fake_cluster/controllers/pod_status.h"
#include "k8s_backend/fake_cluster/store/json_fields.h"

namespace portflow::fake {
namespace {

using Owned = std::vector<std::shared_ptr<const json>>;

constexpr const char* kIndexKey = "batch.kubernetes.io/job-completion-index";

int64_t SpecInt(const json& spec, const char* key, int64_t fallback) {
  const json& v = Field(spec, key);
  return v.is_number() ? v.get<int64_t>() : fallback;
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

// Failed pods come back after an exponential backoff: 10 s, 20 s... 6 min.
Duration PodBackoff(int64_t failed) {
  if (failed == 0) return Duration{0};
  Duration backoff = std::chrono::seconds(10);
  for (int64_t k = 1; k < failed && backoff < std::chrono::minutes(6); ++k) backoff *= 2;
  return std::min<Duration>(backoff, std::chrono::minutes(6));
}

// The exit code of container status `cs` when it is not 0 and matches the
// rule's onExitCodes `on`.
std::optional<int> MatchingExitCode(const json& on, const json& cs) {
  if (on.contains("containerName") && on["containerName"] != cs.value("name", "")) return {};
  const json& t = Field(Field(cs, "state"), "terminated");
  if (!t.contains("exitCode") || t.value("exitCode", 0) == 0) return {};
  int code = t.value("exitCode", 0);
  const json& values = Field(on, "values");
  bool listed = std::find(values.begin(), values.end(), json(code)) != values.end();
  bool in = Str(on, "operator").empty() || Str(on, "operator") == "In";
  if (listed != in) return {};
  return code;
}

// The action of the first podFailurePolicy rule that matches a failed pod
// ("FailJob", "Ignore", "Count"), or "Count" when none does.
std::string PolicyAction(const json& job_spec, const json& pod, std::string* message) {
  const json& rules = Field(Field(job_spec, "podFailurePolicy"), "rules");
  const json& status = Field(pod, "status");
  for (size_t i = 0; i < rules.size(); ++i) {
    const json& rule = rules[i];
    std::string action = rule.value("action", "Count");
    std::string matching = " matching " + action + " rule at index " + std::to_string(i);
    for (const json& cs : Field(status, "containerStatuses")) {
      if (!rule.contains("onExitCodes")) break;
      if (auto code = MatchingExitCode(rule["onExitCodes"], cs)) {
        *message = "Container " + Str(cs, "name") + " for pod " + KeyOf(pod) +
                   " failed with exit code " + std::to_string(*code) + matching;
        return action;
      }
    }
    for (const json& pattern : Field(rule, "onPodConditions")) {
      for (const json& c : Field(status, "conditions")) {
        if (c.value("type", "") == pattern.value("type", "") &&
            c.value("status", "") == pattern.value("status", "True")) {
          *message = "Pod " + KeyOf(pod) + " has condition " + c.value("type", "") + matching;
          return action;
        }
      }
    }
  }
  return "Count";
}

// A pod of `job` from its template: owned by the Job, and for Indexed Jobs
// carrying index `i` as annotation, label, hostname and JOB_COMPLETION_INDEX.
json NewPod(const json& job, int64_t i, bool indexed) {
  const json& tmpl = Field(Field(job, "spec"), "template");
  const json& job_meta = Field(job, "metadata");
  std::string name = Str(job_meta, "name");
  json pod = {{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata", Field(tmpl, "metadata").is_object() ? tmpl["metadata"] : json::object()},
              {"spec", Field(tmpl, "spec").is_object() ? tmpl["spec"] : json::object()}};
  json& meta = pod["metadata"];
  meta["namespace"] = Str(job_meta, "namespace");
  meta["generateName"] = indexed ? name + "-" + std::to_string(i) + "-" : name + "-";
  meta.erase("name");
  meta["ownerReferences"] = {{{"apiVersion", "batch/v1"},
                              {"kind", "Job"},
                              {"name", name},
                              {"uid", Str(job_meta, "uid")},
                              {"controller", true},
                              {"blockOwnerDeletion", true}}};
  if (indexed) {
    meta["annotations"][kIndexKey] = std::to_string(i);
    meta["labels"][kIndexKey] = std::to_string(i);
    pod["spec"]["hostname"] = name + "-" + std::to_string(i);
    json index_env = {
        {"name", "JOB_COMPLETION_INDEX"},
        {"valueFrom",
         {{"fieldRef",
           {{"fieldPath", std::string("metadata.annotations['") + kIndexKey + "']"}}}}}};
    for (json& c : pod["spec"]["containers"]) {
      json& env = c["env"];
      if (!env.is_array()) env = json::array();
      env.push_back(index_env);
    }
  }
  pod["status"] = {{"phase", "Pending"}};
  return pod;
}

void DeleteActive(ObjectStore& store, const Owned& owned) {
  for (const auto& p : owned) {
    if (!Terminal(*p))
      (void)DeletePod(store, Str((*p)["metadata"], "namespace"), Str((*p)["metadata"], "name"));
  }
}

}  // namespace

struct JobController::Counts {
  int64_t succeeded = 0, failed = 0, active = 0, ready = 0;
  std::set<int64_t> done_indexes, active_indexes;
  TimePoint last_failure{};
  bool fail_job = false;  // a podFailurePolicy rule said FailJob
  std::string fail_job_message;
};

void JobController::ObservePod(const PodChange& c) {
  const json& meta = Field(c.pod, "metadata");
  std::string owner;
  for (const json& ref : Field(meta, "ownerReferences")) {
    if (Field(ref, "controller") == json(true)) owner = Str(ref, "uid");
  }
  // The usual change (a pod's status moved) keeps its owner, known since the
  // pod was first observed: only its Job is due, with no lookup of the pod.
  bool kept =
      !c.gone && !owner.empty() && c.previous &&
      Field(Field(*c.previous, "metadata"), "ownerReferences") == Field(meta, "ownerReferences");
  if (!kept) {
    auto was = owners_.owner_of.find(c.key);
    bool known = was != owners_.owner_of.end();
    bool moved = known && (c.gone || was->second != owner);
    if (moved) {
      auto set = owners_.pods.find(was->second);
      if (set != owners_.pods.end()) {
        set->second.erase(c.key);
        if (set->second.empty() && !owners_.job_by_uid.count(was->second)) owners_.pods.erase(set);
      }
      if (auto j = owners_.job_by_uid.find(was->second); j != owners_.job_by_uid.end())
        dirty_.insert(j->second);
      owners_.owner_of.erase(was);
    }
    if (c.gone || owner.empty()) return;
    if (!known || moved) {
      owners_.owner_of[c.key] = owner;
      owners_.pods[owner].insert(c.key);
    }
  }
  if (auto j = owners_.job_by_uid.find(owner); j != owners_.job_by_uid.end())
    dirty_.insert(j->second);
}

bool JobController::ObserveJob(const ObjectStore::Change& c) {
  const json& meta = Field(*c.object, "metadata");
  std::string key = KeyOf(c.ns, Str(meta, "name"));
  std::string uid = Str(meta, "uid");
  if (c.type == "DELETED") {
    owners_.job_by_uid.erase(uid);
    owners_.leaving.erase(uid);
    SetTimer(key, std::nullopt);
    dirty_.erase(key);
    failed_create_.erase(key);
    if (auto it = owners_.pods.find(uid); it != owners_.pods.end() && it->second.empty())
      owners_.pods.erase(it);
    return true;
  }
  owners_.job_by_uid[uid] = key;
  dirty_.insert(key);
  return meta.contains("deletionTimestamp") && owners_.leaving.insert(uid).second;
}

std::optional<TimePoint> JobController::NextDue() const {
  if (timers_.empty()) return std::nullopt;
  return timers_.begin()->first;
}

void JobController::SetTimer(const std::string& key, std::optional<TimePoint> t) {
  if (auto it = timer_of_.find(key); it != timer_of_.end()) {
    if (t && *t >= it->second) return;  // an earlier one is set
    timers_.erase({it->second, key});
    timer_of_.erase(it);
  }
  if (!t) return;
  timers_.insert({*t, key});
  timer_of_[key] = *t;
}

bool JobController::Sync() {
  TimePoint now = store_.clock().Now();
  while (!timers_.empty() && timers_.begin()->first <= now) {
    dirty_.insert(timers_.begin()->second);
    timer_of_.erase(timers_.begin()->second);
    timers_.erase(timers_.begin());
  }
  bool changed = false;
  std::set<std::string> work;
  work.swap(dirty_);
  for (const std::string& key : work) {
    changed = SyncJob(key) || changed;
    feed_.Drain();
  }
  return changed;
}

bool JobController::ExpireFinished(const std::string& key, const json& job) {
  const json& ttl = Field(Field(job, "spec"), "ttlSecondsAfterFinished");
  std::string finished;
  for (const json& c : Field(Field(job, "status"), "conditions")) {
    if ((Str(c, "type") == "Complete" || Str(c, "type") == "Failed") &&
        Str(c, "status") == "True") {
      finished = Str(c, "lastTransitionTime");
    }
  }
  auto at = ParseK8sTime(finished);
  if (!ttl.is_number_integer() || !at) return false;
  TimePoint expiry = *at + std::chrono::seconds(ttl.get<int64_t>());
  if (store_.clock().Now() < expiry) {
    SetTimer(key, expiry);
    return false;
  }
  auto [ns, name] = SplitKey(key);
  return store_.Delete(Jobs(), ns, name).ok();
}

// Suspended: no pods run; the condition says so.
bool JobController::Suspend(json job, const Owned& owned) {
  json& status = job["status"];
  json before = status;
  DeleteActive(store_, owned);
  SetCondition(status, "Suspended", "True", "JobSuspended", "Job suspended", store_.clock().Now());
  status.erase("startTime");
  status["active"] = 0;
  std::string ns = Str(job["metadata"], "namespace");
  return status != before && store_.Update(Jobs(), ns, std::move(job)).ok();
}

JobController::Counts JobController::CountPods(const json& spec, const Owned& owned) const {
  bool indexed = Str(spec, "completionMode") == "Indexed";
  Counts n;
  for (const auto& pp : owned) {
    const json& p = *pp;
    const json& annotations = Field(p["metadata"], "annotations");
    int64_t index =
        annotations.contains(kIndexKey) ? std::atoll(Str(annotations, kIndexKey).c_str()) : -1;
    std::string phase = Phase(p);
    if (phase == "Succeeded") {
      if (!indexed || n.done_indexes.insert(index).second) ++n.succeeded;
    } else if (phase == "Failed") {
      std::string action = PolicyAction(spec, p, &n.fail_job_message);
      if (action == "Ignore") continue;  // neither counted nor backed off
      if (action == "FailJob") n.fail_job = true;
      ++n.failed;
      for (const json& cs : Field(p["status"], "containerStatuses")) {
        auto t = ParseK8sTime(Str(Field(Field(cs, "state"), "terminated"), "finishedAt"));
        if (t && *t > n.last_failure) n.last_failure = *t;
      }
    } else {
      ++n.active;
      if (phase == "Running") ++n.ready;
      n.active_indexes.insert(index);
    }
  }
  return n;
}

int64_t JobController::CreatePods(const std::string& key, const json& job, const Counts& n,
                                  int64_t want, std::optional<TimePoint>& due) {
  const json& spec = Field(job, "spec");
  bool indexed = Str(spec, "completionMode") == "Indexed";
  int64_t completions = SpecInt(spec, "completions", 1);
  std::string ns = Str(Field(job, "metadata"), "namespace");
  TimePoint now = store_.clock().Now();
  int64_t made = 0;
  for (int64_t i = 0; n.active + made < want && i < completions; ++i) {
    if (indexed && (n.done_indexes.count(i) || n.active_indexes.count(i))) continue;
    auto created = admission_.Create(ns, NewPod(job, i, indexed));
    if (!created.ok()) {
      // Refused (a ResourceQuota): said on the Job as the Job controller's
      // FailedCreate event, once per cause (the pod's generated name
      // aside), and tried again later.
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
  return made;
}

bool JobController::SyncJob(const std::string& key) {
  auto [ns, name] = SplitKey(key);
  auto stored = store_.Peek(Jobs(), ns, name);
  if (!stored) {
    failed_create_.erase(key);
    return false;
  }
  const json& spec = Field(*stored, "spec");
  if (HasTrueCondition(Field(*stored, "status"), "Complete") ||
      HasTrueCondition(Field(*stored, "status"), "Failed"))
    return ExpireFinished(key, *stored);
  if (Deleting(*stored)) return false;
  Owned owned;
  if (auto it = owners_.pods.find(Str((*stored)["metadata"], "uid")); it != owners_.pods.end()) {
    for (const std::string& pod_key : it->second) {
      auto [pns, pname] = SplitKey(pod_key);
      if (auto p = store_.Peek(Pods(), pns, pname)) owned.push_back(std::move(p));
    }
  }
  if (Field(spec, "suspend") == json(true)) return Suspend(*stored, owned);

  TimePoint now = store_.clock().Now();
  json job = *stored;
  json& status = job["status"];
  if (!status.is_object()) status = json::object();
  if (HasTrueCondition(status, "Suspended"))
    SetCondition(status, "Suspended", "False", "JobResumed", "Job resumed", now);
  json before = status;
  if (!status.contains("startTime")) status["startTime"] = K8sTime(now);
  int64_t completions = SpecInt(spec, "completions", 1);
  Counts n = CountPods(spec, owned);

  // The first cause that ends the Job, if any.
  const json& deadline = Field(spec, "activeDeadlineSeconds");
  auto start = ParseK8sTime(Str(status, "startTime"));
  bool past_deadline = deadline.is_number() && start &&
                       now - *start >= std::chrono::seconds(deadline.get<int64_t>());
  std::string end, reason, message;
  if (n.fail_job) {
    end = "Failed", reason = "PodFailurePolicy", message = n.fail_job_message;
  } else if (n.failed > SpecInt(spec, "backoffLimit", 6)) {
    end = "Failed", reason = "BackoffLimitExceeded";
    message = "Job has reached the specified backoff limit";
  } else if (past_deadline) {
    end = "Failed", reason = "DeadlineExceeded";
    message = "Job was active longer than specified deadline";
  } else if (n.succeeded >= completions) {
    end = "Complete", reason = "CompletionsReached";
    message = "Reached expected number of succeeded pods";
  }

  std::optional<TimePoint> due;
  if (!end.empty()) {
    bool complete = end == "Complete";
    SetCondition(status, complete ? "SuccessCriteriaMet" : "FailureTarget", "True", reason, message,
                 now);
    SetCondition(status, end, "True", reason, message, now);
    DeleteActive(store_, owned);
    n.active = n.ready = 0;
    if (complete) status["completionTime"] = K8sTime(now);
    (void)recorder_.Record(job, complete ? "Normal" : "Warning", complete ? "Completed" : reason,
                           complete ? "Job completed" : message);
    const json& ttl = Field(spec, "ttlSecondsAfterFinished");
    if (ttl.is_number_integer()) due = now + std::chrono::seconds(ttl.get<int64_t>());
  } else {
    if (deadline.is_number() && start) due = *start + std::chrono::seconds(deadline.get<int64_t>());
    TimePoint allowed =
        n.last_failure + std::chrono::duration_cast<TimePoint::duration>(PodBackoff(n.failed));
    int64_t want = std::min(SpecInt(spec, "parallelism", 1), completions - n.succeeded);
    if (n.active < want && now < allowed) {
      if (!due || allowed < *due) due = allowed;
    } else {
      n.active += CreatePods(key, job, n, want, due);
    }
  }
  SetTimer(key, std::nullopt);
  if (due) SetTimer(key, due);
  status["active"] = n.active;
  status["succeeded"] = n.succeeded;
  status["failed"] = n.failed;
  status["ready"] = n.ready;
  status["terminating"] = 0;
  status["uncountedTerminatedPods"] = json::object();
  if (Str(spec, "completionMode") == "Indexed") status["completedIndexes"] = Ranges(n.done_indexes);
  return status != before && store_.Update(Jobs(), ns, std::move(job)).ok();
}

void GarbageCollector::ObservePod(const PodChange& c) {
  if (c.gone) return;
  // Owners that are gone, or leaving in the foreground: the GC decides.
  for (const json& ref : Field(Field(c.pod, "metadata"), "ownerReferences")) {
    std::string uid = Str(ref, "uid");
    if (!owners_.job_by_uid.count(uid) || owners_.leaving.count(uid)) pods_.insert(c.key);
  }
}

void GarbageCollector::CollectPodsOf(const std::string& uid) {
  if (auto it = owners_.pods.find(uid); it != owners_.pods.end())
    pods_.insert(it->second.begin(), it->second.end());
}

bool GarbageCollector::CollectOrphans() {
  bool changed = false;
  for (const ResourceKind* kind : {&ConfigMaps(), &Services()}) {
    auto all = store_.List(*kind, "", {});
    if (!all.ok()) continue;
    for (const json& o : all->items) {
      const json& meta = Field(o, "metadata");
      const json& refs = Field(meta, "ownerReferences");
      bool orphan = refs.is_array() && !refs.empty();
      for (const json& ref : refs) {
        orphan = orphan && Str(ref, "kind") == "Job" && !owners_.job_by_uid.count(Str(ref, "uid"));
      }
      if (orphan)
        changed = store_.Delete(*kind, Str(meta, "namespace"), Str(meta, "name")).ok() || changed;
    }
  }
  return changed;
}

bool GarbageCollector::Sync() {
  bool changed = false;
  if (job_gone_) {
    job_gone_ = false;
    changed = CollectOrphans();
  }
  std::set<std::string> work;
  work.swap(pods_);
  for (const std::string& key : work) {
    auto [ns, name] = SplitKey(key);
    auto pod = store_.Peek(Pods(), ns, name);
    if (!pod || Deleting(*pod)) continue;  // on its way
    bool has_owner = false, owner_leaving = false;
    const json& refs = Field(Field(*pod, "metadata"), "ownerReferences");
    for (const json& ref : refs) {
      std::string uid = Str(ref, "uid");
      if (!owners_.job_by_uid.count(uid)) continue;
      has_owner = true;
      owner_leaving = owner_leaving || owners_.leaving.count(uid);
    }
    if (refs.empty() || (has_owner && !owner_leaving)) continue;
    changed = DeletePod(store_, ns, name).ok() || changed;
  }
  feed_.Drain();
  for (const std::string& uid :
       std::vector<std::string>(owners_.leaving.begin(), owners_.leaving.end())) {
    auto pods = owners_.pods.find(uid);
    if (pods != owners_.pods.end() && !pods->second.empty()) continue;
    auto job = owners_.job_by_uid.find(uid);
    if (job == owners_.job_by_uid.end()) continue;
    auto [ns, name] = SplitKey(job->second);
    changed = store_.Delete(Jobs(), ns, name).ok() || changed;
  }
  return changed;
}

}  // namespace portflow::fake
