// An attempt's state on a cluster, computed from what was observed of it
// (its Job, its pods, the API's refusals of its pods) by pure functions, as
// the kubelet computes a pod's phase (getPhase): no clock, no I/O, no locks.
// The Kubernetes backend feeds them what its watches saw and acts on the
// answer; attempt_state_test.cc holds one row per case, every race the
// backend has met among them.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/task.h"

namespace portflow::k8s {

using json = nlohmann::json;

// Where the backend is in following one attempt.
enum class AttemptPhase {
  kActive,       // its Job runs or waits; events follow what its pods do
  kEnding,       // the Job ended: waiting for the pods that tell how, and the logs
  kListingPods,  // ending, and the pods' watch lags: they are being listed once
  kListed,       // ending, and listed (or the list failed three times): settles on what is known
  kEnded,        // the terminal event went out
};

// How a Job ended, from its final condition: Succeeded (Completed), or
// Failed with reason Timeout (DeadlineExceeded) or Error (exit code 1 until
// a pod says better). nullopt while it has no final condition.
struct JobEnd {
  TaskState state = TaskState::kUnknown;
  ExitResult result;
};
std::optional<JobEnd> EndOfJob(const json& job);

// What the backend has seen of one attempt.
struct Observation {
  int replicas = 1;
  const json* job = nullptr;      // as last seen; null before it is seen, or once deleted
  std::vector<const json*> pods;  // as kept (an ended pod outlives its deletion), any order
  std::string refusal;            // the last FailedCreate event's message; "" when none
  std::string shown_reason;       // the pending reason last reported; "" when none
  std::optional<JobEnd> end;      // how the Job ended, once it has
};

// What follows from an Observation.
struct AttemptState {
  // Every replica has started and one runs (a gang with a replica still
  // waiting is not running).
  bool running = false;
  // When not running: why it waits, the cluster's word and the kind ("" and
  // kNone when there is nothing new to say).
  std::string pending_reason, pending_message;
  PendingReason pending_kind = PendingReason::kNone;
  // False once every replica has a live pod: the refusal no longer holds.
  bool refusal_holds = false;
  // Every pod that started, as (replica, pod name), oldest first: the logs
  // to save (a replica's replacement after a preemption comes after the pod
  // it replaces).
  std::vector<std::pair<int, std::string>> started;
  // With `end`: the pods that tell how it ended are known (all succeeded,
  // or one failed; a timeout needs none).
  bool settled = false;
  // With `end`: the attempt's result, the failed replica's exit code and
  // reason where a pod tells them.
  ExitResult result;
};
AttemptState Assess(const Observation& o);

// The replica a pod runs (its completion index; 0 when not indexed).
int ReplicaOf(const json& pod);
// Succeeded or Failed.
bool PodEnded(const json& pod);
// Being deleted, and 5 s past its deadline (deletionTimestamp, the end of
// its grace period): a pod on a lost node never says it ended.
bool PastDeletion(const json& pod, TimePoint now);
// Whether `incoming`, a watch event or a list item, replaces `kept`, the pod
// as known: a pod that ended never runs again, so later news of it running
// is older news (the pods' watch runs behind a list made since).
bool Supersedes(const json& kept, const json& incoming);
// Whether a pod the API reports deleted is still kept: one that ended says
// how its attempt ended, so it is kept until the attempt has ended (a TTL or
// a person can delete it first).
bool KeepDeletedPod(const json& pod, bool attempt_ended);

}  // namespace portflow::k8s
