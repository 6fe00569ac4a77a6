#include "k8s_backend/fake_cluster/controllers.h"

#include <algorithm>
#include <ctime>
#include <set>

#include "core/quantity.h"
#include "k8s_backend/fake_cluster/k8s_time.h"
#include "k8s_backend/fake_cluster/selectors.h"

namespace portflow::fake {
namespace {

const ResourceKind& Pods() { return *FindKind("", "pods"); }
const ResourceKind& Nodes() { return *FindKind("", "nodes"); }
const ResourceKind& Jobs() { return *FindKind("batch", "jobs"); }
const ResourceKind& Events() { return *FindKind("", "events"); }

struct Request {
  int64_t milli_cpu = 0, memory = 0, gpus = 0;
};

int64_t Quantity(const json& v, bool milli) {
  std::string s = v.is_string() ? v.get<std::string>() : v.is_number() ? v.dump() : "";
  if (s.empty()) return 0;
  auto r = milli ? ParseMilliQuantity(s) : ParseQuantity(s);
  return r.ok() ? *r : 0;
}

Request PodRequest(const json& pod) {
  Request r;
  for (const json& c : pod.value("spec", json::object()).value("containers", json::array())) {
    json res = c.value("resources", json::object());
    json req = res.value("requests", json::object()), lim = res.value("limits", json::object());
    // As the API server defaults: a limit without a request is the request.
    auto get = [&](const char* name) {
      return req.contains(name) ? req[name] : lim.value(name, json());
    };
    r.milli_cpu += Quantity(get("cpu"), true);
    r.memory += Quantity(get("memory"), false);
    r.gpus += Quantity(get("nvidia.com/gpu"), false);
  }
  return r;
}

std::string Phase(const json& pod) {
  return pod.value("status", json::object()).value("phase", "Pending");
}
bool Terminal(const json& pod) { return Phase(pod) == "Succeeded" || Phase(pod) == "Failed"; }

// Sets (or replaces) a condition of type `type`; true when it changed.
bool SetCondition(json& status, const std::string& type, const std::string& value,
                  const std::string& reason, const std::string& message, TimePoint now) {
  json& conds = status["conditions"];
  if (!conds.is_array()) conds = json::array();
  for (json& c : conds) {
    if (c.value("type", "") != type) continue;
    if (c.value("status", "") == value && c.value("reason", "") == reason &&
        c.value("message", "") == message) {
      return false;
    }
    if (c.value("status", "") != value) c["lastTransitionTime"] = K8sTime(now);
    c["status"] = value;
    c["reason"] = reason;
    c["message"] = message;
    c["lastProbeTime"] = nullptr;
    return true;
  }
  conds.push_back({{"type", type},
                   {"status", value},
                   {"reason", reason},
                   {"message", message},
                   {"lastProbeTime", nullptr},
                   {"lastTransitionTime", K8sTime(now)}});
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

// Who reports an event, as `kubectl describe` shows it.
std::string Component(const json& object, const std::string& reason) {
  if (reason == "Scheduled" || reason == "FailedScheduling") return "default-scheduler";
  if (object.value("kind", "") == "Job") return "job-controller";
  return "kubelet";
}

}  // namespace

void EndPod(json& pod, int exit_code, TimePoint started, TimePoint finished) {
  json& status = pod["status"];
  status["phase"] = exit_code == 0 ? "Succeeded" : "Failed";
  json statuses = json::array();
  for (const json& c : pod["spec"].value("containers", json::array())) {
    json terminated = {{"exitCode", exit_code},
                       {"reason", exit_code == 0 ? "Completed" : "Error"},
                       {"startedAt", K8sTime(started)},
                       {"finishedAt", K8sTime(finished)}};
    statuses.push_back({{"name", c.value("name", "")},
                        {"image", c.value("image", "")},
                        {"ready", false},
                        {"started", false},
                        {"restartCount", 0},
                        {"imageID", ""},
                        {"state", {{"terminated", terminated}}}});
  }
  status["containerStatuses"] = statuses;
}

Controllers::Controllers(ObjectStore& store, SimulateOptions options)
    : store_(store), options_(options) {}

std::string Controllers::LogOf(const std::string& pod_uid) const {
  std::lock_guard<std::mutex> l(logs_mu_);
  auto it = logs_.find(pod_uid);
  return it == logs_.end() ? "" : it->second;
}

void Controllers::Due(TimePoint t) {
  if (!next_due_ || t < *next_due_) next_due_ = t;
}

bool Controllers::Reconcile() {
  next_due_.reset();
  bool changed = CollectGarbage();
  changed = SyncJobs() || changed;
  changed = Schedule() || changed;
  changed = RunKubelet() || changed;
  return changed;
}

void Controllers::Settle() {
  for (int i = 0; i < 100 && Reconcile(); ++i) {
  }
}

Status Controllers::Event(const json& object, const std::string& type, const std::string& reason,
                          const std::string& message) {
  const json meta = object.value("metadata", json::object());
  std::string ns = meta.value("namespace", "default");
  std::string now = K8sTime(store_.clock().Now());
  json e = {
      {"metadata",
       {{"name", meta.value("name", "") + "." + std::to_string(++names_)}, {"namespace", ns}}},
      {"involvedObject",
       {{"apiVersion", object.value("apiVersion", "")},
        {"kind", object.value("kind", "")},
        {"name", meta.value("name", "")},
        {"namespace", ns},
        {"uid", meta.value("uid", "")},
        {"resourceVersion", meta.value("resourceVersion", "")}}},
      {"type", type},
      {"reason", reason},
      {"message", message},
      {"count", 1},
      {"firstTimestamp", now},
      {"lastTimestamp", now},
      {"reportingComponent", "portflow-fake"},
      {"source", {{"component", Component(object, reason)}}}};
  return store_.Create(Events(), ns, e).status();
}

bool Controllers::Schedule() {
  auto pods = store_.List(Pods(), "", {});
  auto nodes = store_.List(Nodes(), "", {});
  if (!pods.ok() || !nodes.ok()) return false;
  // What is left on each node once the pods bound to it are counted.
  std::map<std::string, Request> free;
  for (const json& n : nodes->items) {
    json alloc = n.value("status", json::object()).value("allocatable", json::object());
    free[n["metadata"].value("name", "")] = {
        Quantity(alloc.value("cpu", json()), true), Quantity(alloc.value("memory", json()), false),
        Quantity(alloc.value("nvidia.com/gpu", json()), false)};
  }
  for (const json& p : pods->items) {
    std::string node = p.value("spec", json::object()).value("nodeName", "");
    if (node.empty() || Terminal(p) || !free.count(node)) continue;
    Request r = PodRequest(p);
    free[node].milli_cpu -= r.milli_cpu;
    free[node].memory -= r.memory;
    free[node].gpus -= r.gpus;
  }
  bool changed = false;
  TimePoint now = store_.clock().Now();
  for (json pod : pods->items) {
    json& spec = pod["spec"];
    if (!spec.value("nodeName", "").empty() || Terminal(pod) ||
        pod["metadata"].contains("deletionTimestamp"))
      continue;
    Request need = PodRequest(pod);
    json selector = spec.value("nodeSelector", json::object());
    json tolerations = spec.value("tolerations", json::array());
    std::string best;
    std::map<std::string, int> why;
    for (const json& n : nodes->items) {
      std::string name = n["metadata"].value("name", "");
      const json status = n.value("status", json::object());
      bool ready = false;
      for (const json& c : status.value("conditions", json::array())) {
        if (c.value("type", "") == "Ready") ready = c.value("status", "") == "True";
      }
      if (!ready) {
        ++why["node(s) were not ready"];
        continue;
      }
      bool untolerated = n.value("spec", json::object()).value("unschedulable", false);
      for (const json& taint : n.value("spec", json::object()).value("taints", json::array())) {
        std::string effect = taint.value("effect", "");
        if ((effect == "NoSchedule" || effect == "NoExecute") && !Tolerates(tolerations, taint))
          untolerated = true;
      }
      if (untolerated) {
        ++why["node(s) had untolerated taint"];
        continue;
      }
      json labels = n["metadata"].value("labels", json::object());
      bool match = true;
      for (auto it = selector.begin(); it != selector.end(); ++it) {
        match = match && labels.value(it.key(), "") ==
                             (it->is_string() ? it->get<std::string>() : it->dump());
      }
      if (!match) {
        ++why["node(s) didn't match Pod's node affinity/selector"];
        continue;
      }
      const Request& f = free[name];
      bool fits = true;
      if (need.milli_cpu > f.milli_cpu) fits = false, ++why["Insufficient cpu"];
      if (need.memory > f.memory) fits = false, ++why["Insufficient memory"];
      if (need.gpus > f.gpus) fits = false, ++why["Insufficient nvidia.com/gpu"];
      if (!fits) continue;
      // Least allocated first, then by name: spreads work like the default scheduler.
      if (best.empty() || f.milli_cpu > free[best].milli_cpu) best = name;
    }
    json& status = pod["status"];
    std::string uid = pod["metadata"].value("uid", "");
    if (best.empty()) {
      std::string message = "0/" + std::to_string(nodes->items.size()) + " nodes are available: ";
      bool first = true;
      for (const auto& [reason, count] : why) {
        message += (first ? "" : ", ") + std::to_string(count) + " " + reason;
        first = false;
      }
      message += ". preemption: 0/" + std::to_string(nodes->items.size()) +
                 " nodes are available: " + std::to_string(nodes->items.size()) +
                 " Preemption is not helpful for scheduling.";
      if (last_unschedulable_[uid] == message) continue;
      last_unschedulable_[uid] = message;
      SetCondition(status, "PodScheduled", "False", "Unschedulable", message, now);
      if (store_.Update(Pods(), pod["metadata"].value("namespace", ""), pod).ok()) {
        (void)Event(pod, "Warning", "FailedScheduling", message);
        changed = true;
      }
      continue;
    }
    spec["nodeName"] = best;
    SetCondition(status, "PodScheduled", "True", "", "", now);
    if (store_.Update(Pods(), pod["metadata"].value("namespace", ""), pod).ok()) {
      last_unschedulable_.erase(uid);
      free[best].milli_cpu -= need.milli_cpu;
      free[best].memory -= need.memory;
      free[best].gpus -= need.gpus;
      (void)Event(pod, "Normal", "Scheduled",
                  "Successfully assigned " + pod["metadata"].value("namespace", "") + "/" +
                      pod["metadata"].value("name", "") + " to " + best);
      changed = true;
    }
  }
  return changed;
}

bool Controllers::RunKubelet() {
  auto pods = store_.List(Pods(), "", {});
  if (!pods.ok()) return false;
  bool changed = false;
  TimePoint now = store_.clock().Now();
  for (json pod : pods->items) {
    if (pod.value("spec", json::object()).value("nodeName", "").empty() || Terminal(pod)) continue;
    json annotations = pod["metadata"].value("annotations", json::object());
    Duration duration = options_.default_duration;
    if (annotations.contains("sim.portflow.dev/duration") &&
        annotations["sim.portflow.dev/duration"].is_string()) {
      std::string d = annotations["sim.portflow.dev/duration"];
      bool plain = !d.empty() && d.find_first_not_of("0123456789.") == std::string::npos;
      auto parsed = ParseDuration(plain ? d + "s" : d);
      if (parsed.ok()) duration = *parsed;
    }
    int exit_code = options_.default_exit_code;
    if (annotations.contains("sim.portflow.dev/exit-code") &&
        annotations["sim.portflow.dev/exit-code"].is_string()) {
      exit_code = std::atoi(annotations["sim.portflow.dev/exit-code"].get<std::string>().c_str());
    }
    json& status = pod["status"];
    json containers = pod["spec"].value("containers", json::array());
    std::string ns = pod["metadata"].value("namespace", "");
    if (Phase(pod) == "Pending") {
      status["phase"] = "Running";
      status["startTime"] = K8sTime(now);
      status["hostIP"] = "127.0.0.1";
      status["podIP"] = "127.0.0.1";
      json statuses = json::array();
      for (const json& c : containers) {
        statuses.push_back({{"name", c.value("name", "")},
                            {"image", c.value("image", "")},
                            {"ready", true},
                            {"started", true},
                            {"restartCount", 0},
                            {"imageID", ""},
                            {"state", {{"running", {{"startedAt", K8sTime(now)}}}}}});
      }
      status["containerStatuses"] = statuses;
      SetCondition(status, "Initialized", "True", "", "", now);
      SetCondition(status, "ContainersReady", "True", "", "", now);
      SetCondition(status, "Ready", "True", "", "", now);
      // The precise start, for sub-second durations in virtual time.
      pod["metadata"]["annotations"]["sim.portflow.dev/started-ms"] =
          std::to_string(ToUnixMillis(now));
      if (store_.Update(Pods(), ns, pod).ok()) {
        {
          std::lock_guard<std::mutex> l(logs_mu_);
          logs_[pod["metadata"].value("uid", "")] =
              "portflow simulate: " + pod["metadata"].value("name", "") + " started; it runs for " +
              FormatDuration(duration) + " and exits with code " + std::to_string(exit_code) + "\n";
        }
        (void)Event(pod, "Normal", "Started",
                    "Started container " + containers[0].value("name", ""));
        changed = true;
        Due(now + duration);
      }
      continue;
    }
    TimePoint started =
        FromUnixMillis(std::atoll(annotations.value("sim.portflow.dev/started-ms", "0").c_str()));
    TimePoint end = started + std::chrono::duration_cast<TimePoint::duration>(duration);
    if (now < end) {
      Due(end);
      continue;
    }
    EndPod(pod, exit_code, started, now);
    SetCondition(status, "ContainersReady", "False", "PodCompleted", "", now);
    SetCondition(status, "Ready", "False", "PodCompleted", "", now);
    if (store_.Update(Pods(), ns, pod).ok()) {
      changed = true;
      std::lock_guard<std::mutex> l(logs_mu_);
      logs_[pod["metadata"].value("uid", "")] +=
          "portflow simulate: exited with code " + std::to_string(exit_code) + "\n";
    }
  }
  return changed;
}

// Deletes pods whose owner is gone, and finishes foreground deletions once
// an owner's dependents are gone.
bool Controllers::CollectGarbage() {
  auto jobs = store_.List(Jobs(), "", {});
  auto pods = store_.List(Pods(), "", {});
  if (!jobs.ok() || !pods.ok()) return false;
  std::map<std::string, bool> owners;  // uid -> being deleted (foreground)
  for (const json& j : jobs->items)
    owners[j["metadata"].value("uid", "")] = j["metadata"].contains("deletionTimestamp");
  std::map<std::string, int> remaining;  // dependents a leaving owner still has
  bool changed = false;
  for (const json& p : pods->items) {
    const json refs = p["metadata"].value("ownerReferences", json::array());
    if (refs.empty()) continue;
    bool has_owner = false, owner_leaving = false;
    for (const json& r : refs) {
      auto it = owners.find(r.value("uid", ""));
      if (it == owners.end()) continue;
      has_owner = true;
      owner_leaving = owner_leaving || it->second;
    }
    if (has_owner && !owner_leaving) continue;
    bool gone =
        store_.Delete(Pods(), p["metadata"].value("namespace", ""), p["metadata"].value("name", ""))
            .ok();
    changed = changed || gone;
    if (!gone) {
      for (const json& r : refs) ++remaining[r.value("uid", "")];
    }
  }
  for (const json& j : jobs->items) {
    const json meta = j["metadata"];
    if (!meta.contains("deletionTimestamp") || remaining[meta.value("uid", "")] > 0) continue;
    if (store_.Delete(Jobs(), meta.value("namespace", ""), meta.value("name", "")).ok())
      changed = true;
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

bool Controllers::SyncJobs() {
  auto jobs = store_.List(Jobs(), "", {});
  if (!jobs.ok()) return false;
  bool changed = false;
  TimePoint now = store_.clock().Now();
  for (json job : jobs->items) {
    json& status = job["status"];
    if (!status.is_object()) status = json::object();
    if (HasTrueCondition(status, "Complete") || HasTrueCondition(status, "Failed")) {
      // ttlSecondsAfterFinished: the finished Job goes, its pods with it.
      const json ttl = job["spec"].value("ttlSecondsAfterFinished", json());
      std::string finished;
      for (const json& c : status.value("conditions", json::array())) {
        if ((c.value("type", "") == "Complete" || c.value("type", "") == "Failed") &&
            c.value("status", "") == "True") {
          finished = c.value("lastTransitionTime", "");
        }
      }
      auto at = ParseK8sTime(finished);
      if (ttl.is_number_integer() && at) {
        TimePoint expiry = *at + std::chrono::seconds(ttl.get<int64_t>());
        if (now >= expiry) {
          if (store_
                  .Delete(Jobs(), job["metadata"].value("namespace", ""),
                          job["metadata"].value("name", ""))
                  .ok()) {
            changed = true;
          }
        } else {
          Due(expiry);
        }
      }
      continue;
    }
    if (job["metadata"].contains("deletionTimestamp")) continue;  // being deleted
    const json spec = job.value("spec", json::object());
    std::string ns = job["metadata"].value("namespace", "");
    std::string name = job["metadata"].value("name", "");
    std::string uid = job["metadata"].value("uid", "");
    if (spec.value("suspend", false)) {
      // Suspended: no pods run; the condition says so.
      json before = status;
      auto owned =
          store_.List(Pods(), ns, {"batch.kubernetes.io/controller-uid=" + uid, "", 0, ""});
      if (owned.ok()) {
        for (const json& p : owned->items) {
          if (!Terminal(p)) (void)store_.Delete(Pods(), ns, p["metadata"].value("name", ""));
        }
      }
      SetCondition(status, "Suspended", "True", "JobSuspended", "Job suspended", now);
      status.erase("startTime");
      status["active"] = 0;
      if (status != before && store_.Update(Jobs(), ns, job).ok()) changed = true;
      continue;
    }
    if (HasTrueCondition(status, "Suspended")) {
      SetCondition(status, "Suspended", "False", "JobResumed", "Job resumed", now);
    }
    bool indexed = spec.value("completionMode", "NonIndexed") == "Indexed";
    int64_t completions =
        spec.value("completions", json(1)).is_number() ? spec.value("completions", 1) : 1;
    int64_t parallelism = spec.value("parallelism", 1);
    int64_t backoff_limit = spec.value("backoffLimit", 6);
    json before = status;
    if (!status.contains("startTime")) status["startTime"] = K8sTime(now);

    auto owned = store_.List(Pods(), ns, {"batch.kubernetes.io/controller-uid=" + uid, "", 0, ""});
    if (!owned.ok()) continue;
    bool fail_job = false;
    std::string fail_job_message;
    int64_t succeeded = 0, failed = 0, active = 0, ready = 0;
    std::set<int64_t> done_indexes, active_indexes;
    TimePoint last_failure{};
    for (const json& p : owned->items) {
      std::string phase = Phase(p);
      int64_t index = std::atoll(p["metadata"]
                                     .value("annotations", json::object())
                                     .value("batch.kubernetes.io/job-completion-index", "-1")
                                     .c_str());
      if (phase == "Succeeded") {
        if (!indexed || done_indexes.insert(index).second) ++succeeded;
      } else if (phase == "Failed") {
        std::string action = PolicyAction(spec, p, &fail_job_message);
        if (action == "Ignore") continue;  // neither counted nor backed off
        if (action == "FailJob") fail_job = true;
        ++failed;
        for (const json& cs : p["status"].value("containerStatuses", json::array())) {
          auto t = ParseK8sTime(cs.value("state", json::object())
                                    .value("terminated", json::object())
                                    .value("finishedAt", ""));
          if (t && *t > last_failure) last_failure = *t;
        }
      } else {
        ++active;
        if (p["status"].value("phase", "") == "Running") ++ready;
        active_indexes.insert(index);
      }
    }
    auto finish = [&](const std::string& type, const std::string& target, const std::string& reason,
                      const std::string& message) {
      SetCondition(status, target, "True", reason, message, now);
      SetCondition(status, type, "True", reason, message, now);
      for (const json& p : owned->items) {
        if (!Terminal(p)) (void)store_.Delete(Pods(), ns, p["metadata"].value("name", ""));
      }
      active = 0;
      ready = 0;
      if (type == "Complete") status["completionTime"] = K8sTime(now);
      (void)Event(job, type == "Complete" ? "Normal" : "Warning",
                  type == "Complete" ? "Completed" : reason,
                  type == "Complete" ? "Job completed" : message);
    };
    auto deadline = spec.value("activeDeadlineSeconds", json());
    auto start = ParseK8sTime(status.value("startTime", ""));
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
      if (deadline.is_number() && start)
        Due(*start + std::chrono::seconds(deadline.get<int64_t>()));
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
        Due(allowed);
      } else {
        int64_t made = 0;
        for (int64_t i = 0; active + made < want && i < completions; ++i) {
          if (indexed && (done_indexes.count(i) || active_indexes.count(i))) continue;
          json tmpl = spec.value("template", json::object());
          json pod = {{"apiVersion", "v1"},
                      {"kind", "Pod"},
                      {"metadata", tmpl.value("metadata", json::object())},
                      {"spec", tmpl.value("spec", json::object())}};
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
          if (!pod["status"].is_object()) pod["status"] = {{"phase", "Pending"}};
          auto created = store_.Create(Pods(), ns, pod);
          if (created.ok()) {
            ++made;
            (void)Event(job, "Normal", "SuccessfulCreate",
                        "Created pod: " + (*created)["metadata"].value("name", ""));
          }
        }
        active += made;
      }
    }
    status["active"] = active;
    status["succeeded"] = succeeded;
    status["failed"] = failed;
    status["ready"] = ready;
    status["terminating"] = 0;
    status["uncountedTerminatedPods"] = json::object();
    if (indexed) status["completedIndexes"] = Ranges(done_indexes);
    if (status != before) {
      if (store_.Update(Jobs(), ns, job).ok()) changed = true;
    }
  }
  return changed;
}

}  // namespace portflow::fake
