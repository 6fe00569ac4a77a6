// The attempt-state function, one row per case. Rows marked "race" are the
// orders of news that a loaded machine produced and the backend once got
// wrong (see the ordering tests in kubernetes_backend_test.cc).
#include "k8s_backend/attempt_state.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace portflow::k8s {
namespace {

using ::testing::HasSubstr;

// A pod of replica `replica` in `phase`, created at second `created`.
json Pod(const std::string& name, int replica, const std::string& phase, int created = 0) {
  return {
      {"metadata",
       {{"name", name},
        {"uid", "uid-" + name},
        {"creationTimestamp", "2026-12-01T00:00:0" + std::to_string(created) + "Z"},
        {"annotations", {{"batch.kubernetes.io/job-completion-index", std::to_string(replica)}}}}},
      {"spec", {{"nodeName", phase == "Pending" ? "" : "node-1"}}},
      {"status", {{"phase", phase}}}};
}

json Unschedulable(json pod) {
  pod["status"]["conditions"] = {{{"type", "PodScheduled"},
                                  {"status", "False"},
                                  {"reason", "Unschedulable"},
                                  {"message", "0/3 nodes are available: 3 Insufficient cpu."}}};
  return pod;
}

json Waiting(json pod, const std::string& reason, const std::string& message) {
  pod["spec"]["nodeName"] = "node-2";
  pod["status"]["containerStatuses"] = {
      {{"name", "main"}, {"state", {{"waiting", {{"reason", reason}, {"message", message}}}}}}};
  return pod;
}

json Terminated(json pod, int code, const std::string& at, const std::string& reason = "Error",
                const std::string& message = "") {
  json t = {{"exitCode", code}, {"finishedAt", at}, {"reason", reason}};
  if (!message.empty()) t["message"] = message;
  pod["status"]["containerStatuses"] = {{{"name", "main"}, {"state", {{"terminated", t}}}}};
  return pod;
}

json Deleting(json pod) {
  pod["metadata"]["deletionTimestamp"] = "2026-12-01T00:00:09Z";
  return pod;
}

json Job(const std::string& condition = "", const std::string& reason = "") {
  json job = {{"metadata", {{"name", "j"}, {"labels", json::object()}}},
              {"spec", json::object()},
              {"status", json::object()}};
  if (!condition.empty()) {
    job["status"]["conditions"] = {
        {{"type", condition}, {"status", "True"}, {"reason", reason}, {"message", "job says"}}};
  }
  return job;
}

json Suspended(const std::string& queue) {
  json job = Job();
  job["spec"]["suspend"] = true;
  if (!queue.empty()) job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] = queue;
  return job;
}

struct Row {
  std::string name;
  int replicas;
  json job;  // null: not seen
  std::vector<json> pods;
  std::string refusal;
  std::string shown;  // the pending reason last reported
  // Expected:
  bool running;
  std::string reason;  // the pending reason ("" when none)
  PendingReason kind;
  std::string message;  // a part of the pending message, or of the result's
  bool settled = false;
  int exit_code = 0;
  int signal = 0;
  std::string result_reason = "";
};

const std::string kQuota =
    "pods \"j-1\" is forbidden: exceeded quota: team, requested: requests.cpu=3";

std::vector<Row> Rows() {
  using P = PendingReason;
  return {
      {"a new pod, nothing to say yet",
       1,
       Job(),
       {Pod("p", 0, "Pending")},
       "",
       "",
       false,
       "",
       P::kNone,
       ""},
      {"no node has room",
       1,
       Job(),
       {Unschedulable(Pod("p", 0, "Pending"))},
       "",
       "",
       false,
       "Unschedulable",
       P::kUnschedulable,
       "3 Insufficient cpu"},
      {"room again, not yet placed",
       1,
       Job(),
       {Pod("p", 0, "Pending")},
       "",
       "Unschedulable",
       false,
       "Scheduling",
       P::kScheduling,
       "waiting for the scheduler"},
      {"placed, containers being made",
       1,
       Job(),
       {Waiting(Pod("p", 0, "Pending"), "", "")},
       "",
       "Unschedulable",
       false,
       "ContainerCreating",
       P::kStarting,
       "starting on node-2"},
      {"an image that cannot be pulled",
       1,
       Job(),
       {Waiting(Pod("p", 0, "Pending"), "ImagePullBackOff", "failed to pull")},
       "",
       "",
       false,
       "ImagePull",
       P::kImagePull,
       "failed to pull"},
      {"a missing secret",
       1,
       Job(),
       {Waiting(Pod("p", 0, "Pending"), "CreateContainerConfigError", "secret \"s\" not found")},
       "",
       "",
       false,
       "CreateContainerConfigError",
       P::kConfigError,
       "secret \"s\" not found"},
      {"its pod runs", 1, Job(), {Pod("p", 0, "Running")}, "", "", true, "", P::kNone, ""},
      {"a gang with a replica the quota refused is not running",
       2,
       Job(),
       {Pod("p0", 0, "Running")},
       kQuota,
       "",
       false,
       "QuotaWait",
       P::kQuotaWait,
       "exceeded quota: team"},
      {"a gang whose replicas all run: the refusal no longer holds",
       2,
       Job(),
       {Pod("p0", 0, "Running"), Pod("p1", 1, "Running")},
       kQuota,
       "",
       true,
       "",
       P::kNone,
       ""},
      {"held suspended by Kueue",
       1,
       Suspended("team-a"),
       {},
       "",
       "",
       false,
       "Queued",
       P::kQueued,
       "until Kueue admits it to queue team-a"},
      {"suspended with no queue",
       1,
       Suspended(""),
       {},
       "",
       "",
       false,
       "Queued",
       P::kQueued,
       "the Job is suspended"},
      {"race: suspended again, with a refusal of a pod it no longer asks for",
       2,
       Suspended("q"),
       {},
       kQuota,
       "QuotaWait",
       false,
       "Queued",
       P::kQueued,
       "queue q"},
      {"a gang still being let go: its pod runs, a refusal holds for the other",
       2,
       Suspended("q"),
       {Pod("p0", 0, "Running")},
       kQuota,
       "",
       false,
       "QuotaWait",
       P::kQuotaWait,
       "exceeded quota"},
      {"race: a refusal heard before the Job is seen let go still shows",
       1,
       Job(),
       {},
       kQuota,
       "",
       false,
       "QuotaWait",
       P::kQuotaWait,
       "exceeded quota"},
      {"a refusal that is not a quota's",
       1,
       Job(),
       {},
       "admission webhook denied the request",
       "",
       false,
       "FailedCreate",
       P::kConfigError,
       "webhook denied"},
      {"complete, every pod succeeded",
       2,
       Job("Complete"),
       {Pod("p0", 0, "Succeeded"), Pod("p1", 1, "Succeeded")},
       "",
       "",
       false,
       "",
       P::kNone,
       "",
       true,
       0,
       0,
       "Completed"},
      {"race: complete, but the pods' watch lags",
       2,
       Job("Complete"),
       {Pod("p0", 0, "Succeeded"), Pod("p1", 1, "Running")},
       "",
       "",
       true,
       "",
       P::kNone,
       "",
       false,
       0,
       0,
       "Completed"},
      {"failed with its pod's exit code",
       1,
       Job("Failed", "BackoffLimitExceeded"),
       {Terminated(Pod("p", 0, "Failed"), 7, "2026-12-01T00:00:05Z")},
       "",
       "",
       false,
       "",
       P::kNone,
       "replica 0 exited with code 7",
       true,
       7,
       0,
       "Error"},
      {"race: failed, but the pods' watch still says running",
       1,
       Job("Failed", "BackoffLimitExceeded"),
       {Pod("p", 0, "Running")},
       "",
       "",
       true,
       "",
       P::kNone,
       "job says",
       false,
       1,
       0,
       "Error"},
      {"past its deadline: no pod needed",
       1,
       Job("Failed", "DeadlineExceeded"),
       {},
       "",
       "",
       false,
       "",
       P::kNone,
       "ran past its timeout",
       true,
       0,
       0,
       "Timeout"},
      {"race: a gang's cause, not the replica stopped for it in the same second",
       2,
       Job("Failed", "BackoffLimitExceeded"),
       {Deleting(Terminated(Pod("p0", 0, "Failed"), 143, "2026-12-01T00:00:05Z")),
        Terminated(Pod("p1", 1, "Failed"), 7, "2026-12-01T00:00:05Z")},
       "",
       "",
       false,
       "",
       P::kNone,
       "replica 1 exited with code 7",
       true,
       7,
       0,
       "Error"},
      {"the replica that failed first",
       2,
       Job("Failed", "BackoffLimitExceeded"),
       {Terminated(Pod("p0", 0, "Failed"), 9, "2026-12-01T00:00:07Z"),
        Terminated(Pod("p1", 1, "Failed"), 3, "2026-12-01T00:00:04Z")},
       "",
       "",
       false,
       "",
       P::kNone,
       "replica 1 exited with code 3",
       true,
       3,
       0,
       "Error"},
      {"killed by SIGKILL: 137 is signal 9",
       1,
       Job("Failed", "BackoffLimitExceeded"),
       {Terminated(Pod("p", 0, "Failed"), 137, "2026-12-01T00:00:05Z")},
       "",
       "",
       false,
       "",
       P::kNone,
       "exited with code 137",
       true,
       137,
       9,
       "Error"},
      {"a code above 128 + 64 is the program's own",
       1,
       Job("Failed", "BackoffLimitExceeded"),
       {Terminated(Pod("p", 0, "Failed"), 200, "2026-12-01T00:00:05Z")},
       "",
       "",
       false,
       "",
       P::kNone,
       "exited with code 200",
       true,
       200,
       0,
       "Error"},
      {"a command that cannot start says why",
       1,
       Job("Failed", "BackoffLimitExceeded"),
       {Terminated(Pod("p", 0, "Failed"), 128, "2026-12-01T00:00:05Z", "StartError",
                   "exec: \"nope\": executable file not found")},
       "",
       "",
       false,
       "",
       P::kNone,
       "code 128: exec: \"nope\": executable file not found",
       true,
       128,
       0,
       "StartError"},
      {"out of memory",
       1,
       Job("Failed", "BackoffLimitExceeded"),
       {Terminated(Pod("p", 0, "Failed"), 137, "2026-12-01T00:00:05Z", "OOMKilled")},
       "",
       "",
       false,
       "",
       P::kNone,
       "exited with code 137",
       true,
       137,
       9,
       "OOMKilled"},
  };
}

class AssessTest : public ::testing::TestWithParam<Row> {};

TEST_P(AssessTest, Row) {
  const Row& row = GetParam();
  Observation o;
  o.replicas = row.replicas;
  o.job = row.job.is_null() ? nullptr : &row.job;
  for (const json& p : row.pods) o.pods.push_back(&p);
  o.refusal = row.refusal;
  o.shown_reason = row.shown;
  if (o.job) o.end = EndOfJob(*o.job);
  AttemptState st = Assess(o);
  EXPECT_EQ(st.running, row.running);
  EXPECT_EQ(st.pending_reason, row.reason);
  EXPECT_EQ(st.pending_kind, row.kind);
  EXPECT_EQ(st.settled, row.settled);
  if (!o.end) {
    if (!row.message.empty()) {
      EXPECT_THAT(st.pending_message, HasSubstr(row.message));
    }
    return;
  }
  EXPECT_EQ(st.result.reason, row.result_reason);
  EXPECT_EQ(st.result.exit_code, row.exit_code);
  EXPECT_EQ(st.result.signal, row.signal);
  EXPECT_EQ(st.result.oom, row.result_reason == "OOMKilled");
  EXPECT_THAT(st.result.message, HasSubstr(row.message));
}

INSTANTIATE_TEST_SUITE_P(Rows, AssessTest, ::testing::ValuesIn(Rows()), [](const auto& info) {
  std::string name;
  for (char c : info.param.name) name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return name;
});

TEST(Assess, LogsAreSavedForEveryPodThatStartedOldestFirst) {
  // Replica 0 was preempted and replaced; replica 1 never started.
  json job = Job();
  json first = Pod("a-old", 0, "Failed", 1), second = Pod("b-new", 0, "Running", 3);
  json waiting = Pod("c", 1, "Pending", 2);
  Observation o;
  o.replicas = 2;
  o.job = &job;
  o.pods = {&second, &waiting, &first};
  AttemptState st = Assess(o);
  ASSERT_EQ(st.started.size(), 2u);
  EXPECT_EQ(st.started[0], (std::pair<int, std::string>{0, "a-old"}));
  EXPECT_EQ(st.started[1], (std::pair<int, std::string>{0, "b-new"}));
  EXPECT_FALSE(st.running);  // replica 1 has not started
}

TEST(EndOfJob, OnlyAFinalConditionEndsIt) {
  EXPECT_FALSE(EndOfJob(Job()).has_value());
  json not_yet = Job("Failed");
  not_yet["status"]["conditions"][0]["status"] = "False";
  EXPECT_FALSE(EndOfJob(not_yet).has_value());
  EXPECT_FALSE(EndOfJob(Job("Suspended")).has_value());
  EXPECT_EQ(EndOfJob(Job("Complete"))->state, TaskState::kSucceeded);
  auto failed = EndOfJob(Job("Failed", "BackoffLimitExceeded"));
  EXPECT_EQ(failed->state, TaskState::kFailed);
  EXPECT_EQ(failed->result.exit_code, 1);
  EXPECT_EQ(EndOfJob(Job("Failed", "DeadlineExceeded"))->result.reason, "Timeout");
}

// race: the pods' watch ran behind a list of the Job's pods, and its older
// word of the pod running overwrote the list's Failed pod (the CI failure
// that lost an exit code).
TEST(Supersedes, AnEndedPodNeverGoesBackToRunning) {
  json failed = Pod("p", 0, "Failed"), running = Pod("p", 0, "Running");
  EXPECT_FALSE(Supersedes(failed, running));
  EXPECT_TRUE(Supersedes(running, failed));
  EXPECT_TRUE(Supersedes(json(), running));  // not known yet
  json other = Pod("p", 0, "Running");
  other["metadata"]["uid"] = "a-new-pod-of-that-name";
  EXPECT_TRUE(Supersedes(failed, other));
}

// race: an ended pod deleted (a TTL, a person) before its Job's end was
// seen took the exit code with it.
TEST(KeepDeletedPod, AnEndedPodIsKeptUntilItsAttemptEnds) {
  EXPECT_TRUE(KeepDeletedPod(Pod("p", 0, "Failed"), false));
  EXPECT_TRUE(KeepDeletedPod(Pod("p", 0, "Succeeded"), false));
  EXPECT_FALSE(KeepDeletedPod(Pod("p", 0, "Failed"), true));
  EXPECT_FALSE(KeepDeletedPod(Pod("p", 0, "Running"), false));
}

TEST(ReplicaOf, TheCompletionIndex) {
  EXPECT_EQ(ReplicaOf(Pod("p", 3, "Running")), 3);
  EXPECT_EQ(ReplicaOf(json{{"metadata", json::object()}}), 0);
}

}  // namespace
}  // namespace portflow::k8s
