#include "k8s_backend/attempt_state.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>

#include "core/json_fields.h"
#include "core/k8s_time.h"

namespace portflow::k8s {
namespace {

// The kind of wait behind a pending reason.
PendingReason KindOf(const std::string& reason) {
  if (reason == "Unschedulable") return PendingReason::kUnschedulable;
  if (reason == "QuotaWait") return PendingReason::kQuotaWait;
  if (reason == "Queued") return PendingReason::kQueued;
  if (reason == "ImagePull") return PendingReason::kImagePull;
  if (reason == "ContainerCreating") return PendingReason::kStarting;
  if (reason == "CreateContainerConfigError" || reason == "FailedCreate")
    return PendingReason::kConfigError;
  return PendingReason::kScheduling;  // Submitted, Scheduling
}

// Unschedulable, ImagePull or CreateContainerConfigError, with the message,
// when a pending pod says so. (QuotaWait, when the API refused the pod,
// comes from the Job's events.)
void PodWaitReason(const json& pod, std::string* reason, std::string* message) {
  for (const json& c : Sub(pod, "status").value("conditions", json::array())) {
    if (Str(c, "type") == "PodScheduled" && Str(c, "status") == "False" &&
        Str(c, "reason") == "Unschedulable") {
      *reason = "Unschedulable";
      *message = Str(c, "message");
    }
  }
  for (const json& s : Sub(pod, "status").value("containerStatuses", json::array())) {
    std::string why = Str(Sub(Sub(s, "state"), "waiting"), "reason");
    if (why == "ErrImagePull" || why == "ImagePullBackOff" || why == "InvalidImageName") {
      *reason = "ImagePull";
      *message = Str(Sub(Sub(s, "state"), "waiting"), "message");
    } else if (why == "CreateContainerConfigError") {
      *reason = why;
      *message = Str(Sub(Sub(s, "state"), "waiting"), "message");
    }
  }
}

// The pods that tell how an ended Job ended are known: all of them
// succeeded, or one failed (a timeout needs none).
bool Settled(const Observation& o) {
  if (o.end->state == TaskState::kFailed && o.end->result.reason == "Timeout") return true;
  int succeeded = 0;
  for (const json* pod : o.pods) {
    std::string phase = Str(Sub(*pod, "status"), "phase");
    if (phase == "Failed") return true;
    succeeded += phase == "Succeeded";
  }
  return o.end->state == TaskState::kSucceeded && succeeded >= o.replicas;
}

// A failure's exit code: from the replica that failed first. The others
// were stopped because of it; a pod being deleted was stopped (the Job
// controller stops the rest of a gang so) and comes after every other, as
// its finishedAt (whole seconds) often ties with the cause's.
ExitResult Outcome(const Observation& o) {
  ExitResult result = o.end->result;
  if (o.end->state != TaskState::kFailed || result.reason == "Timeout") return result;
  std::map<int, const json*> by_replica;
  for (const json* pod : o.pods) by_replica[ReplicaOf(*pod)] = pod;
  std::optional<std::pair<bool, std::string>> first;  // (stopped, finishedAt)
  for (const auto& [replica, pod] : by_replica) {
    // The pod's own reason when the container is not to blame (a lost node).
    std::string pod_reason = Str(Sub(*pod, "status"), "reason");
    std::string pod_message = Str(Sub(*pod, "status"), "message");
    bool stopped = Sub(*pod, "metadata").contains("deletionTimestamp");
    for (const json& s : Sub(*pod, "status").value("containerStatuses", json::array())) {
      const json& t = Sub(Sub(s, "state"), "terminated");
      int code = t.value("exitCode", 0);
      if (t.empty() || code == 0) continue;
      std::string at = Str(t, "finishedAt");  // RFC 3339: text order is time order
      std::pair<bool, std::string> key{stopped, at.empty() ? "~" : at};
      if (first && !(key < *first)) continue;
      first = key;
      std::string why = pod_reason.empty() ? Str(t, "reason") : pod_reason;
      std::string message =
          pod_reason == "NodeLost"
              ? "the node of replica " + std::to_string(replica) +
                    " was lost, and its pod killed (exit code " + std::to_string(code) + ")"
              : "replica " + std::to_string(replica) + " exited with code " + std::to_string(code);
      // The pod's word (a lost node), then the container's (why it could
      // not start, or what it wrote to its termination log).
      for (const std::string& m : {pod_message, Str(t, "message")})
        if (!m.empty()) message += ": " + m;
      // A container killed by signal N exits 128 + N (N is 64 at most);
      // a higher code is the program's own.
      int signal = code > 128 && code <= 128 + 64 ? code - 128 : 0;
      result = {code, signal, why == "OOMKilled", why.empty() ? "Error" : why, message};
    }
  }
  return result;
}

}  // namespace

std::optional<JobEnd> EndOfJob(const json& job) {
  for (const json& c : Sub(job, "status").value("conditions", json::array())) {
    if (Str(c, "status") != "True") continue;
    std::string type = Str(c, "type"), reason = Str(c, "reason");
    if (type == "Complete") return JobEnd{TaskState::kSucceeded, {0, 0, false, "Completed", ""}};
    if (type != "Failed") continue;
    return JobEnd{TaskState::kFailed,
                  reason == "DeadlineExceeded"
                      ? ExitResult{0, 0, false, "Timeout", "the attempt ran past its timeout"}
                      : ExitResult{1, 0, false, "Error", Str(c, "message")}};
  }
  return std::nullopt;
}

AttemptState Assess(const Observation& o) {
  AttemptState st;
  // The pods, oldest first. The attempt runs once a pod runs and every
  // replica has started: a gang with a replica still waiting (for a quota,
  // say) is Pending, with that replica's reason. Pods on their way out
  // (deletionTimestamp) count for logs only.
  std::vector<const json*> by_age = o.pods;
  std::stable_sort(by_age.begin(), by_age.end(), [](const json* a, const json* b) {
    return Str(Sub(*a, "metadata"), "creationTimestamp") <
           Str(Sub(*b, "metadata"), "creationTimestamp");
  });
  bool running = false;
  std::set<int> started_replicas, live_replicas;
  std::string reason, message;
  for (const json* pod : by_age) {
    int replica = ReplicaOf(*pod);
    std::string phase = Str(Sub(*pod, "status"), "phase");
    bool leaving = Sub(*pod, "metadata").contains("deletionTimestamp");
    bool started = phase == "Running" || PodEnded(*pod);
    if (!leaving) {
      if (phase == "Running") running = true;
      if (phase == "Pending") PodWaitReason(*pod, &reason, &message);
      if (started) started_replicas.insert(replica);
      if (phase != "Failed") live_replicas.insert(replica);
    }
    if (started) st.started.emplace_back(replica, Str(Sub(*pod, "metadata"), "name"));
  }
  st.running = running && started_replicas.size() >= static_cast<size_t>(o.replicas);
  // A refusal holds while a replica has no live pod. (Not cleared because
  // the Job looks suspended: the events' watch can run ahead of the Jobs',
  // and tell of a refusal made after the Job was let go; while the Job is
  // suspended, Queued comes first below.)
  st.refusal_holds = !o.refusal.empty() && live_replicas.size() < static_cast<size_t>(o.replicas);
  bool suspended = o.job && Sub(*o.job, "spec").value("suspend", json()) == json(true);
  if (suspended && !running) {
    // Held suspended: what Kueue does until it admits the Job to its queue,
    // and again when it preempts it.
    std::string queue = Str(Sub(Sub(*o.job, "metadata"), "labels"), "kueue.x-k8s.io/queue-name");
    reason = "Queued";
    message = queue.empty() ? "the Job is suspended"
                            : "the Job is suspended until Kueue admits it to queue " + queue;
  } else if (st.refusal_holds) {
    // A pod is missing because the API refused it.
    bool quota = o.refusal.find("exceeded quota") != std::string::npos ||
                 o.refusal.find("failed quota") != std::string::npos;
    reason = quota ? "QuotaWait" : "FailedCreate";
    message = o.refusal;
  } else if (reason.empty() && !o.shown_reason.empty() && !o.pods.empty()) {
    // The reason last shown no longer holds: say what the pods do now.
    std::string node;
    bool unscheduled = false;
    for (const json* pod : o.pods) {
      node = Str(Sub(*pod, "spec"), "nodeName");
      unscheduled = unscheduled || node.empty();
    }
    reason = unscheduled ? "Scheduling" : "ContainerCreating";
    message = unscheduled ? "waiting for the scheduler" : "starting on " + node;
  }
  if (!st.running && !reason.empty()) {
    st.pending_reason = reason;
    st.pending_message = message;
    st.pending_kind = KindOf(reason);
  }
  if (o.end) {
    st.settled = Settled(o);
    st.result = Outcome(o);
  }
  return st;
}

int ReplicaOf(const json& pod) {
  std::string index =
      Str(Sub(Sub(pod, "metadata"), "annotations"), "batch.kubernetes.io/job-completion-index");
  return index.empty() ? 0 : std::atoi(index.c_str());
}

bool PodEnded(const json& pod) {
  std::string phase = Str(Sub(pod, "status"), "phase");
  return phase == "Succeeded" || phase == "Failed";
}

bool PastDeletion(const json& pod, TimePoint now) {
  auto deadline = ParseK8sTime(Str(Sub(pod, "metadata"), "deletionTimestamp"));
  return deadline && now >= *deadline + std::chrono::seconds(5);
}

bool Supersedes(const json& kept, const json& incoming) {
  return !(kept.is_object() && PodEnded(kept) && !PodEnded(incoming) &&
           Str(Sub(kept, "metadata"), "uid") == Str(Sub(incoming, "metadata"), "uid"));
}

bool KeepDeletedPod(const json& pod, bool attempt_ended) { return PodEnded(pod) && !attempt_ended; }

}  // namespace portflow::k8s
