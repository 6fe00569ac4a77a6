#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "core/k8s_time.h"
#include "k8s_backend/fake_cluster/controllers/controller_manager.h"
#include "k8s_backend/fake_cluster/fake_cluster.h"

namespace portflow::fake {
namespace {

using ::testing::HasSubstr;

class ControllersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ClusterOptions o;
    o.nodes = 2;
    o.cpu = "2";
    o.memory = "4Gi";
    cluster_ = std::move(FakeCluster::Create(o, clock_).value());
  }

  // Drives the controllers in virtual time for `d`.
  void RunFor(Duration d) { cluster_->RunFor(d); }

  json Job(const std::string& name, int completions, int parallelism, const std::string& duration,
           int exit_code = 0, bool indexed = false) {
    json container = {
        {"name", "main"}, {"image", "x"}, {"resources", {{"requests", {{"cpu", "1"}}}}}};
    json pod_spec = {{"restartPolicy", "Never"}, {"containers", json::array({container})}};
    json annotations = {{"sim.portflow.dev/duration", duration},
                        {"sim.portflow.dev/exit-code", std::to_string(exit_code)}};
    json spec = {{"completions", completions},
                 {"parallelism", parallelism},
                 {"backoffLimit", 1},
                 {"template", {{"metadata", {{"annotations", annotations}}}, {"spec", pod_spec}}}};
    if (indexed) spec["completionMode"] = "Indexed";
    return {{"apiVersion", "batch/v1"},
            {"kind", "Job"},
            {"metadata", {{"name", name}}},
            {"spec", spec}};
  }

  json Create(const std::string& path, const json& body) {
    HttpResponse r =
        cluster_->Handle({"POST", path, {{"content-type", "application/json"}}, body.dump()});
    EXPECT_EQ(r.status, 201) << r.body;
    return json::parse(r.body);
  }
  json Get(const std::string& path) {
    return json::parse(cluster_->Handle({"GET", path, {}, ""}).body);
  }
  bool HasCondition(const json& obj, const std::string& type, const std::string& reason = "") {
    for (const json& c : obj["status"].value("conditions", json::array())) {
      if (c["type"] == type && c["status"] == "True" && (reason.empty() || c["reason"] == reason))
        return true;
    }
    return false;
  }

  FakeClock clock_;
  std::unique_ptr<FakeCluster> cluster_;
};

TEST_F(ControllersTest, JobRunsItsCompletionsWithinParallelism) {
  Create("/apis/batch/v1/namespaces/default/jobs", Job("train", 3, 2, "10s"));
  TimePoint start = clock_.Now();
  RunFor(std::chrono::seconds(5));
  json job = Get("/apis/batch/v1/namespaces/default/jobs/train");
  EXPECT_EQ(job["status"]["active"], 2);
  json running = Get("/api/v1/namespaces/default/pods")["items"];
  EXPECT_EQ(running.size(), 2u);
  for (const json& p : running) {  // a running container's status, as the kubelet writes it
    const json& c = p["status"]["containerStatuses"][0];
    EXPECT_EQ(c["name"], "main");
    EXPECT_EQ(c["ready"], true);
    EXPECT_EQ(c["started"], true);
    EXPECT_EQ(c["restartCount"], 0);
    EXPECT_TRUE(c["state"]["running"]["startedAt"].is_string()) << c.dump();
  }
  RunFor(std::chrono::minutes(1));
  job = Get("/apis/batch/v1/namespaces/default/jobs/train");
  EXPECT_EQ(job["status"]["succeeded"], 3);
  EXPECT_EQ(job["status"]["active"], 0);
  EXPECT_TRUE(HasCondition(job, "SuccessCriteriaMet", "CompletionsReached"));
  EXPECT_TRUE(HasCondition(job, "Complete", "CompletionsReached"));
  EXPECT_TRUE(job["status"].contains("completionTime"));
  json pods = Get("/api/v1/namespaces/default/pods")["items"];
  ASSERT_EQ(pods.size(), 3u);
  for (const json& p : pods) {
    EXPECT_EQ(p["status"]["phase"], "Succeeded");
    const json& c = p["status"]["containerStatuses"][0];
    EXPECT_EQ(c["state"]["terminated"]["reason"], "Completed");
    EXPECT_EQ(c["state"]["terminated"]["exitCode"], 0);
    EXPECT_TRUE(c["state"]["terminated"]["startedAt"].is_string()) << c.dump();
    EXPECT_TRUE(c["state"]["terminated"]["finishedAt"].is_string()) << c.dump();
    EXPECT_EQ(c["ready"], false);
    EXPECT_EQ(p["metadata"]["ownerReferences"][0]["kind"], "Job");
    EXPECT_THAT(p["metadata"]["name"].get<std::string>(), ::testing::StartsWith("train-"));
  }
  EXPECT_LT(clock_.Now() - start, std::chrono::minutes(2));  // virtual time only
}

// Without the annotation, a pod runs for its first container's
// PORTFLOW_SIM_DURATION (a workload sets it per matrix instance).
TEST_F(ControllersTest, APodRunsForItsSimDurationVariable) {
  json job = Job("env", 1, 1, "");
  job["spec"]["template"]["metadata"].erase("annotations");
  job["spec"]["template"]["spec"]["containers"][0]["env"] =
      json::array({{{"name", "PORTFLOW_SIM_DURATION"}, {"value", "20m"}}});
  Create("/apis/batch/v1/namespaces/default/jobs", job);
  RunFor(std::chrono::minutes(19));
  EXPECT_EQ(Get("/apis/batch/v1/namespaces/default/jobs/env")["status"]["active"], 1);
  RunFor(std::chrono::minutes(2));
  EXPECT_EQ(Get("/apis/batch/v1/namespaces/default/jobs/env")["status"]["succeeded"], 1);
}

TEST_F(ControllersTest, APodChangedTwiceBeforeItStartsRunsItsWholeDuration) {
  // Made bound, then labelled, before the kubelet's next pass: two changes
  // of one Pending pod. The kubelet starts it once, and it runs its 10 s.
  Create("/api/v1/namespaces/default/pods",
         {{"metadata", {{"name", "p"}, {"annotations", {{"sim.portflow.dev/duration", "10"}}}}},
          {"spec", {{"nodeName", "node-1"}, {"containers", {{{"name", "c"}, {"image", "x"}}}}}}});
  HttpResponse labelled = cluster_->Handle({"PATCH",
                                            "/api/v1/namespaces/default/pods/p",
                                            {{"content-type", "application/merge-patch+json"}},
                                            R"({"metadata":{"labels":{"tier":"a"}}})"});
  ASSERT_EQ(labelled.status, 200) << labelled.body;
  RunFor(std::chrono::seconds(5));
  EXPECT_EQ(Get("/api/v1/namespaces/default/pods/p")["status"]["phase"], "Running");
  RunFor(std::chrono::seconds(6));
  EXPECT_EQ(Get("/api/v1/namespaces/default/pods/p")["status"]["phase"], "Succeeded");
}

TEST_F(ControllersTest, BackoffLimitFailsTheJob) {
  Create("/apis/batch/v1/namespaces/default/jobs", Job("bad", 1, 1, "1s", 3));
  RunFor(std::chrono::minutes(5));
  json job = Get("/apis/batch/v1/namespaces/default/jobs/bad");
  EXPECT_EQ(job["status"]["failed"], 2);  // backoffLimit 1: the second failure ends it
  EXPECT_TRUE(HasCondition(job, "FailureTarget", "BackoffLimitExceeded"));
  EXPECT_TRUE(HasCondition(job, "Failed", "BackoffLimitExceeded"));
  json pod = Get("/api/v1/namespaces/default/pods")["items"][0];
  EXPECT_EQ(pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"], 3);
  EXPECT_EQ(pod["status"]["containerStatuses"][0]["state"]["terminated"]["reason"], "Error");
}

TEST_F(ControllersTest, IndexedJobsCarryTheirIndex) {
  Create("/apis/batch/v1/namespaces/default/jobs", Job("idx", 3, 3, "2s", 0, true));
  RunFor(std::chrono::seconds(30));
  json job = Get("/apis/batch/v1/namespaces/default/jobs/idx");
  EXPECT_EQ(job["status"]["completedIndexes"], "0-2");
  EXPECT_TRUE(HasCondition(job, "Complete"));
  std::set<std::string> hosts;
  json pods = Get("/api/v1/namespaces/default/pods");
  for (const json& p : pods["items"]) {
    hosts.insert(p["spec"]["hostname"]);
    EXPECT_EQ(p["spec"]["containers"][0]["env"][0]["name"], "JOB_COMPLETION_INDEX");
    EXPECT_EQ(p["metadata"]["labels"]["batch.kubernetes.io/job-completion-index"],
              p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]);
  }
  EXPECT_EQ(hosts, (std::set<std::string>{"idx-0", "idx-1", "idx-2"}));
}

TEST_F(ControllersTest, UnschedulablePodsWaitAndGetAnEvent) {
  json pod = {{"metadata", {{"name", "big"}}},
              {"spec",
               {{"containers",
                 {{{"name", "c"},
                   {"image", "x"},
                   {"resources", {{"limits", {{"nvidia.com/gpu", "1"}}}}}}}}}}};
  Create("/api/v1/namespaces/default/pods", pod);
  RunFor(std::chrono::seconds(5));
  json got = Get("/api/v1/namespaces/default/pods/big");
  EXPECT_EQ(got["status"]["phase"], "Pending");
  bool unschedulable = false;
  for (const json& c : got["status"]["conditions"]) {
    if (c["type"] == "PodScheduled" && c["status"] == "False" && c["reason"] == "Unschedulable") {
      unschedulable = true;
      EXPECT_THAT(c["message"].get<std::string>(),
                  HasSubstr("0/2 nodes are available: 2 Insufficient nvidia.com/gpu"));
    }
  }
  EXPECT_TRUE(unschedulable);
  json events =
      Get("/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%3Dbig")["items"];
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["reason"], "FailedScheduling");
}

// Required node affinity, as kube-scheduler reads it: the terms are ORed,
// a term's expressions ANDed; a pod no node matches waits, saying so.
TEST_F(ControllersTest, NodeAffinityAndSelectorKeepPodsToTheNodesTheyName) {
  auto pod = [&](const std::string& name, const json& terms) {
    Create("/api/v1/namespaces/default/pods",
           {{"metadata", {{"name", name}}},
            {"spec",
             {{"affinity",
               {{"nodeAffinity",
                 {{"requiredDuringSchedulingIgnoredDuringExecution",
                   {{"nodeSelectorTerms", terms}}}}}}},
              {"containers", {{{"name", "c"}, {"image", "x"}}}}}}});
  };
  auto expr = [](const std::string& op, const json& values) {
    json e = {{"key", "kubernetes.io/hostname"}, {"operator", op}};
    if (!values.is_null()) e["values"] = values;
    return json{{"matchExpressions", json::array({e})}};
  };
  pod("not-1", json::array({expr("NotIn", {"node-1"})}));
  pod("in-1", json::array({expr("In", {"node-1"})}));
  pod("either", json::array({expr("In", {"node-9"}), expr("In", {"node-2"})}));
  pod("none", json::array({expr("In", {"node-9"})}));
  pod("nowhere", json::array({expr("DoesNotExist", nullptr)}));
  pod("anywhere", json::array({expr("Exists", nullptr)}));
  // A nodeSelector is checked as well, beside the affinity.
  for (const std::string host : {"node-2", "node-9"}) {
    Create("/api/v1/namespaces/default/pods",
           {{"metadata", {{"name", "selects-" + host}}},
            {"spec",
             {{"nodeSelector", {{"kubernetes.io/hostname", host}}},
              {"containers", {{{"name", "c"}, {"image", "x"}}}}}}});
  }
  RunFor(std::chrono::seconds(2));
  auto node = [&](const std::string& name) {
    return Get("/api/v1/namespaces/default/pods/" + name)["spec"].value("nodeName", "");
  };
  EXPECT_EQ(node("not-1"), "node-2");
  EXPECT_EQ(node("in-1"), "node-1");
  EXPECT_EQ(node("either"), "node-2");
  EXPECT_NE(node("anywhere"), "");
  EXPECT_EQ(node("selects-node-2"), "node-2");
  for (const std::string name : {"none", "nowhere", "selects-node-9"}) {
    json got = Get("/api/v1/namespaces/default/pods/" + name);
    EXPECT_EQ(node(name), "");
    EXPECT_THAT(got["status"]["conditions"].dump(),
                HasSubstr("2 node(s) didn't match Pod's node affinity/selector"));
  }
}

TEST_F(ControllersTest, SchedulerRespectsCapacity) {
  // 2 nodes x 2 cpu: four 1-cpu pods run, the fifth waits until one ends.
  for (int i = 0; i < 5; ++i) {
    Create(
        "/api/v1/namespaces/default/pods",
        {{"metadata",
          {{"name", "p" + std::to_string(i)},
           {"annotations", {{"sim.portflow.dev/duration", "10"}}}}},
         {"spec",
          {{"containers",
            {{{"name", "c"}, {"image", "x"}, {"resources", {{"requests", {{"cpu", "1"}}}}}}}}}}});
  }
  RunFor(std::chrono::seconds(1));
  int running = 0;
  json pods = Get("/api/v1/namespaces/default/pods");
  for (const json& p : pods["items"]) running += p["status"]["phase"] == "Running";
  EXPECT_EQ(running, 4);
  RunFor(std::chrono::seconds(30));
  int done = 0;
  pods = Get("/api/v1/namespaces/default/pods");
  for (const json& p : pods["items"]) done += p["status"]["phase"] == "Succeeded";
  EXPECT_EQ(done, 5);
}

TEST_F(ControllersTest, LostNodeFailsItsPodsAndTheJobRetriesElsewhere) {
  json job = Job("survive", 1, 1, "1m");
  job["spec"]["backoffLimit"] = 2;
  Create("/apis/batch/v1/namespaces/default/jobs", job);
  RunFor(std::chrono::seconds(1));
  json pods = Get("/api/v1/namespaces/default/pods");
  ASSERT_EQ(pods["items"].size(), 1u);
  std::string node = pods["items"][0]["spec"]["nodeName"];
  ASSERT_TRUE(cluster_->LoseNode(node).ok());
  json lost = Get("/api/v1/namespaces/default/pods/" +
                  pods["items"][0]["metadata"]["name"].get<std::string>());
  EXPECT_EQ(lost["status"]["phase"], "Failed");
  EXPECT_EQ(lost["status"]["reason"], "NodeLost");
  json n = Get("/api/v1/nodes/" + node);
  EXPECT_EQ(n["status"]["conditions"][0]["status"], "Unknown");
  RunFor(std::chrono::minutes(5));
  json done = Get("/apis/batch/v1/namespaces/default/jobs/survive");
  EXPECT_TRUE(HasCondition(done, "Complete"));
  EXPECT_EQ(done["status"]["failed"], 1);
  pods = Get("/api/v1/namespaces/default/pods");
  ASSERT_EQ(pods["items"].size(), 2u);
  for (const json& p : pods["items"]) {
    if (p["status"]["phase"] == "Succeeded") {
      EXPECT_NE(p["spec"]["nodeName"], node);  // not on the lost node
    }
  }
  EXPECT_FALSE(cluster_->LoseNode("node-99").ok());
}

// A failed pod comes back after 10 s, then 20 s, ...: the Job controller's
// backoff doubles with each failure (as the real one's does).
TEST_F(ControllersTest, FailedPodsComeBackAfterADoublingBackoff) {
  json job = Job("flaky", 1, 1, "1s", /*exit_code=*/1);
  job["spec"]["backoffLimit"] = 3;
  Create("/apis/batch/v1/namespaces/default/jobs", job);
  RunFor(std::chrono::minutes(2));
  json pods = Get("/api/v1/namespaces/default/pods");
  std::vector<TimePoint> created;
  for (const json& p : pods["items"]) {
    created.push_back(*ParseK8sTime(p["metadata"]["creationTimestamp"].get<std::string>()));
  }
  std::sort(created.begin(), created.end());
  ASSERT_GE(created.size(), 3u);
  // Each pod runs 1 s; then the wait before the next one doubles.
  EXPECT_GE(created[1] - created[0], std::chrono::seconds(11));
  EXPECT_LT(created[1] - created[0], std::chrono::seconds(13));
  EXPECT_GE(created[2] - created[1], std::chrono::seconds(21));
  EXPECT_LT(created[2] - created[1], std::chrono::seconds(23));
}

// A node whose Ready condition is not True gets no new pods, though it has
// room and no taint keeps them off (a lost node also gets taints).
TEST_F(ControllersTest, ANodeThatIsNotReadyGetsNoPods) {
  json first = Get("/api/v1/nodes")["items"][0];
  std::string down = first["metadata"]["name"];
  json conditions = first["status"]["conditions"];
  for (json& c : conditions) {
    if (c["type"] == "Ready") c["status"] = "False";
  }
  HttpResponse patched = cluster_->Handle({"PATCH",
                                           "/api/v1/nodes/" + down + "/status",
                                           {{"content-type", "application/merge-patch+json"}},
                                           json{{"status", {{"conditions", conditions}}}}.dump()});
  ASSERT_EQ(patched.status, 200) << patched.body;
  json job = Job("spread", 4, 4, "1h");
  job["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "100m";
  Create("/apis/batch/v1/namespaces/default/jobs", job);
  RunFor(std::chrono::seconds(5));
  json pods = Get("/api/v1/namespaces/default/pods");
  ASSERT_EQ(pods["items"].size(), 4u);
  for (const json& p : pods["items"]) {
    EXPECT_NE(p["spec"].value("nodeName", ""), down) << p["metadata"]["name"];
    EXPECT_FALSE(p["spec"].value("nodeName", "").empty()) << p["metadata"]["name"];
  }
}

TEST_F(ControllersTest, FailPodFailsTheAttempt) {
  Create("/apis/batch/v1/namespaces/default/jobs", Job("once", 1, 1, "1h"));
  RunFor(std::chrono::seconds(1));
  std::string pod = Get("/api/v1/namespaces/default/pods")["items"][0]["metadata"]["name"];
  ASSERT_TRUE(cluster_->FailPod("default", pod, 42).ok());
  RunFor(std::chrono::seconds(1));
  EXPECT_EQ(Get("/api/v1/namespaces/default/pods/" +
                pod)["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"],
            42);
  EXPECT_EQ(Get("/apis/batch/v1/namespaces/default/jobs/once")["status"]["failed"], 1);
}

// The stats count calls by kind, names as "*": what a benchmark reads to
// tell which requests an attempt costs.
TEST_F(ControllersTest, ApiCallsAreCountedByKind) {
  auto before = cluster_->api_calls_by_kind();
  for (const char* target :
       {"/api/v1/namespaces/default/pods", "/api/v1/namespaces/default/pods?watch=true&x=1",
        "/api/v1/namespaces/default/pods/p1", "/api/v1/namespaces/kube-system/pods/p2/log",
        "/apis/batch/v1/namespaces/default/jobs", "/api/v1/nodes", "/api/v1/nodes/n1/status",
        "/api/v1/namespaces"})
    (void)cluster_->Handle({"GET", target, {}, ""});
  (void)cluster_->Handle({"DELETE", "/apis/batch/v1/namespaces/default/jobs/j1", {}, ""});
  (void)cluster_->Handle({"GET", "/version", {}, ""});  // not an API call
  std::map<std::string, int64_t> added;
  for (const auto& [kind, n] : cluster_->api_calls_by_kind())
    if (n != (before.count(kind) ? before[kind] : 0)) added[kind] = n - before[kind];
  EXPECT_EQ(added, (std::map<std::string, int64_t>{
                       {"GET /api/v1/namespaces/*/pods (list)", 1},
                       {"GET /api/v1/namespaces/*/pods (watch)", 1},
                       {"GET /api/v1/namespaces/*/pods/*", 1},
                       {"GET /api/v1/namespaces/*/pods/*/log", 1},
                       {"GET /apis/batch/v1/namespaces/*/jobs (list)", 1},
                       {"GET /api/v1/nodes (list)", 1},
                       {"GET /api/v1/nodes/*/status", 1},
                       {"GET /api/v1/namespaces (list)", 1},
                       {"DELETE /apis/batch/v1/namespaces/*/jobs/*", 1},
                   }));
}

TEST_F(ControllersTest, InjectedApiFailures) {
  auto call = [&] { return cluster_->Handle({"GET", "/api/v1/namespaces/default/pods", {}, ""}); };
  int64_t before = cluster_->api_calls();
  cluster_->FailNextCalls(2, 429);
  HttpResponse throttled = call();
  EXPECT_EQ(throttled.status, 429);
  EXPECT_EQ(throttled.headers["Retry-After"], "1");
  EXPECT_EQ(call().status, 429);
  EXPECT_EQ(call().status, 200);
  cluster_->FailNextCalls(1, 0);
  EXPECT_TRUE(call().drop_connection);
  cluster_->FailNextCalls(1, 500);
  EXPECT_EQ(call().status, 500);
  EXPECT_EQ(cluster_->Handle({"GET", "/version", {}, ""}).status, 200);  // not an API call
  EXPECT_EQ(cluster_->api_calls() - before, 5);
  cluster_->FailCallsAtRate(0.1, 500);
  int failed = 0;
  for (int i = 0; i < 1000; ++i) failed += call().status == 500;
  EXPECT_GT(failed, 60);
  EXPECT_LT(failed, 140);
  cluster_->FailCallsAtRate(0, 500);
  EXPECT_EQ(call().status, 200);
}

TEST_F(ControllersTest, SuspendResumeAndTtl) {
  json job = Job("paused", 1, 1, "10s");
  job["spec"]["suspend"] = true;
  job["spec"]["ttlSecondsAfterFinished"] = 60;
  Create("/apis/batch/v1/namespaces/default/jobs", job);
  RunFor(std::chrono::seconds(30));
  json got = Get("/apis/batch/v1/namespaces/default/jobs/paused");
  EXPECT_TRUE(HasCondition(got, "Suspended", "JobSuspended"));
  EXPECT_EQ(Get("/api/v1/namespaces/default/pods")["items"].size(), 0u);
  HttpResponse resumed = cluster_->Handle({"PATCH",
                                           "/apis/batch/v1/namespaces/default/jobs/paused",
                                           {{"content-type", "application/merge-patch+json"}},
                                           R"({"spec":{"suspend":false}})"});
  ASSERT_EQ(resumed.status, 200) << resumed.body;
  RunFor(std::chrono::seconds(20));
  got = Get("/apis/batch/v1/namespaces/default/jobs/paused");
  EXPECT_FALSE(HasCondition(got, "Suspended"));
  EXPECT_TRUE(HasCondition(got, "Complete"));
  RunFor(std::chrono::seconds(90));  // past the TTL: the Job and its pods are gone
  EXPECT_EQ(
      cluster_->Handle({"GET", "/apis/batch/v1/namespaces/default/jobs/paused", {}, ""}).status,
      404);
  EXPECT_EQ(Get("/api/v1/namespaces/default/pods")["items"].size(), 0u);
}

// The kubelet says when a pod's container started, as `kubectl describe`
// shows it: once, from the kubelet, naming the container.
TEST_F(ControllersTest, AStartedPodGetsAStartedEvent) {
  Create("/apis/batch/v1/namespaces/default/jobs", Job("go", 1, 1, "5s"));
  RunFor(std::chrono::seconds(1));
  std::string pod = Get("/api/v1/namespaces/default/pods")["items"][0]["metadata"]["name"];
  json events =
      Get("/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%3D" + pod)["items"];
  std::vector<std::string> started;
  for (const json& e : events) {
    if (e["reason"] == "Started") started.push_back(e["message"]);
  }
  EXPECT_THAT(started, ::testing::ElementsAre("Started container main"));
}

// A log's GET takes PodLogOptions as the API server does: tailLines and
// limitBytes cut it (following too), the container must be the pod's, and
// bad values are refused naming the field.
TEST_F(ControllersTest, LogsTakeTailLinesLimitBytesAndTheContainer) {
  Create("/apis/batch/v1/namespaces/default/jobs", Job("talk", 1, 1, "5s"));
  RunFor(std::chrono::seconds(10));
  std::string pod = Get("/api/v1/namespaces/default/pods")["items"][0]["metadata"]["name"];
  auto log = [&](const std::string& query) {
    return cluster_->Handle(
        {"GET", "/api/v1/namespaces/default/pods/" + pod + "/log?" + query, {}, ""});
  };
  std::string all = log("").body;
  ASSERT_THAT(all, HasSubstr("runs for 5s"));
  const std::string last = "portflow simulate: exited with code 0\n";
  ASSERT_TRUE(all.ends_with(last)) << all;
  EXPECT_EQ(log("tailLines=1").body, last);
  EXPECT_EQ(log("tailLines=2").body, all);
  EXPECT_EQ(log("tailLines=99").body, all);
  EXPECT_EQ(log("tailLines=0").body, "");
  EXPECT_EQ(log("limitBytes=9").body, all.substr(0, 9));
  EXPECT_EQ(log("tailLines=1&limitBytes=8").body, last.substr(0, 8));
  EXPECT_EQ(log("container=main").body, all);
  // Followed: the same cut, and the stream ends with the pod (or the limit).
  for (auto [query, want] :
       {std::pair{std::string("follow=true&tailLines=1"), last},
        std::pair{std::string("follow=true&limitBytes=9"), all.substr(0, 9)}}) {
    HttpResponse followed = log(query);
    ASSERT_TRUE(followed.stream) << query;
    std::string got, chunk;
    for (int i = 0; i < 100; ++i) {
      chunk.clear();
      bool more = followed.stream(&chunk);
      got += chunk;
      if (!more) break;
    }
    EXPECT_EQ(got, want) << query;
  }

  HttpResponse nope = log("container=nope");
  EXPECT_EQ(nope.status, 400);
  EXPECT_THAT(nope.body, HasSubstr("container nope is not valid for pod " + pod));
  HttpResponse previous = log("previous=true");
  EXPECT_EQ(previous.status, 400);
  EXPECT_THAT(previous.body,
              HasSubstr("previous terminated container \\\"main\\\" in pod \\\"" + pod));
  HttpResponse negative = log("tailLines=-1&limitBytes=0");
  EXPECT_EQ(negative.status, 422);
  EXPECT_THAT(negative.body,
              HasSubstr("PodLogOptions \\\"" + pod +
                        "\\\" is invalid: [tailLines: Invalid value: -1: must be greater than or "
                        "equal to 0, limitBytes: Invalid value: 0: must be greater than 0]"));
  EXPECT_EQ(log("tailLines=ten").status, 400);

  // A pod of two containers: which one must be said.
  Create("/api/v1/namespaces/default/pods",
         {{"metadata", {{"name", "two"}}},
          {"spec",
           {{"containers", {{{"name", "a"}, {"image", "x"}}, {{"name", "b"}, {"image", "x"}}}}}}});
  HttpResponse unnamed =
      cluster_->Handle({"GET", "/api/v1/namespaces/default/pods/two/log", {}, ""});
  EXPECT_EQ(unnamed.status, 400);
  EXPECT_THAT(unnamed.body,
              HasSubstr("a container name must be specified for pod two, choose one of: [a b]"));
  // An init container's log may be asked for (it counts for no choice).
  Create("/api/v1/namespaces/default/pods",
         {{"metadata", {{"name", "setup"}}},
          {"spec",
           {{"initContainers", {{{"name", "fetch"}, {"image", "x"}}}},
            {"containers", {{{"name", "main"}, {"image", "x"}}}}}}});
  RunFor(std::chrono::seconds(3));
  EXPECT_EQ(
      cluster_->Handle({"GET", "/api/v1/namespaces/default/pods/setup/log?container=fetch", {}, ""})
          .status,
      200);
  // A pod not started yet has no log; a pod that is not there, not found.
  Create("/api/v1/namespaces/default/pods",
         {{"metadata", {{"name", "stuck"}}},
          {"spec",
           {{"nodeSelector", {{"nowhere", "true"}}},
            {"containers", {{{"name", "main"}, {"image", "x"}}}}}}});
  RunFor(std::chrono::seconds(1));
  HttpResponse waiting =
      cluster_->Handle({"GET", "/api/v1/namespaces/default/pods/stuck/log", {}, ""});
  EXPECT_EQ(waiting.status, 400);
  EXPECT_THAT(waiting.body, HasSubstr("container \\\"main\\\" in pod \\\"stuck\\\" is waiting to "
                                      "start: ContainerCreating"));
  HttpResponse gone = cluster_->Handle({"GET", "/api/v1/namespaces/default/pods/gone/log", {}, ""});
  EXPECT_EQ(gone.status, 404);
  EXPECT_THAT(gone.body, HasSubstr("pods \\\"gone\\\" not found"));
}

TEST_F(ControllersTest, SimulatedLogsAndBookmarks) {
  Create("/apis/batch/v1/namespaces/default/jobs", Job("talk", 1, 1, "5s", 3));
  RunFor(std::chrono::seconds(1));
  std::string pod = Get("/api/v1/namespaces/default/pods")["items"][0]["metadata"]["name"];
  HttpResponse log =
      cluster_->Handle({"GET", "/api/v1/namespaces/default/pods/" + pod + "/log", {}, ""});
  EXPECT_EQ(log.status, 200);
  EXPECT_THAT(log.body, HasSubstr("runs for 5s and exits with code 3"));
  RunFor(std::chrono::seconds(10));
  log = cluster_->Handle({"GET", "/api/v1/namespaces/default/pods/" + pod + "/log", {}, ""});
  EXPECT_THAT(log.body, HasSubstr("exited with code 3"));
  EXPECT_EQ(cluster_->Handle({"GET", "/api/v1/namespaces/default/pods/nope/log", {}, ""}).status,
            404);
  // A quiet watch that allows bookmarks gets one each minute of cluster time.
  HttpResponse w = cluster_->Handle(
      {"GET",
       "/api/v1/namespaces/default/configmaps?watch=1&allowWatchBookmarks=true&timeoutSeconds=300",
       {},
       ""});
  ASSERT_TRUE(w.stream);
  std::string chunk;
  for (int i = 0; i < 200 && chunk.empty(); ++i) w.stream(&chunk);
  ASSERT_FALSE(chunk.empty());
  json mark = json::parse(chunk);
  EXPECT_EQ(mark["type"], "BOOKMARK");
  EXPECT_EQ(mark["object"]["kind"], "ConfigMap");
  EXPECT_FALSE(mark["object"]["metadata"]["resourceVersion"].get<std::string>().empty());
}

TEST_F(ControllersTest, PodFailurePolicy) {
  json fatal = Job("fatal", 1, 1, "1s", 42);
  fatal["spec"]["backoffLimit"] = 5;
  fatal["spec"]["podFailurePolicy"] = {
      {"rules",
       {{{"action", "FailJob"}, {"onExitCodes", {{"operator", "In"}, {"values", {42}}}}}}}};
  Create("/apis/batch/v1/namespaces/default/jobs", fatal);
  json tolerant = Job("tolerant", 1, 1, "1m");
  tolerant["spec"]["backoffLimit"] = 0;
  tolerant["spec"]["podFailurePolicy"] = {
      {"rules", {{{"action", "Ignore"}, {"onPodConditions", {{{"type", "DisruptionTarget"}}}}}}}};
  Create("/apis/batch/v1/namespaces/default/jobs", tolerant);
  RunFor(std::chrono::seconds(5));
  json got = Get("/apis/batch/v1/namespaces/default/jobs/fatal");
  EXPECT_TRUE(HasCondition(got, "Failed", "PodFailurePolicy"));  // at once, despite backoffLimit 5
  EXPECT_EQ(got["status"]["failed"], 1);
  // A pod lost with its node is ignored: no failure counted, a new pod runs.
  json pods = Get("/api/v1/namespaces/default/pods?labelSelector=job-name%3Dtolerant");
  ASSERT_EQ(pods["items"].size(), 1u);
  ASSERT_TRUE(cluster_->LoseNode(pods["items"][0]["spec"]["nodeName"]).ok());
  RunFor(std::chrono::minutes(3));
  got = Get("/apis/batch/v1/namespaces/default/jobs/tolerant");
  EXPECT_TRUE(HasCondition(got, "Complete"));
  EXPECT_EQ(got["status"]["failed"], 0);
}

TEST_F(ControllersTest, DeletePropagation) {
  auto pods_of = [&](const std::string& job) {
    json pods = Get("/api/v1/namespaces/default/pods?labelSelector=job-name%3D" + job);
    return pods["items"].size();
  };
  for (const char* name : {"bg", "fg", "orphan", "legacy"}) {
    Create("/apis/batch/v1/namespaces/default/jobs", Job(name, 2, 2, "1h"));
  }
  RunFor(std::chrono::seconds(1));
  ASSERT_EQ(pods_of("bg"), 2u);
  auto del = [&](const std::string& name, const std::string& body) {
    return cluster_->Handle({"DELETE", "/apis/batch/v1/namespaces/default/jobs/" + name, {}, body});
  };
  // Background: the Job goes at once, the garbage collector takes its pods.
  EXPECT_EQ(del("bg", R"({"propagationPolicy":"Background"})").status, 200);
  // Foreground: the Job stays, marked, until its pods are gone.
  HttpResponse fg = del("fg", R"({"propagationPolicy":"Foreground"})");
  EXPECT_EQ(fg.status, 200);
  EXPECT_TRUE(json::parse(fg.body)["metadata"].contains("deletionTimestamp"));
  EXPECT_EQ(cluster_->Handle({"GET", "/apis/batch/v1/namespaces/default/jobs/fg", {}, ""}).status,
            200);
  // Orphan (and the batch/v1 default without a policy): pods stay, unowned.
  EXPECT_EQ(del("orphan", R"({"propagationPolicy":"Orphan"})").status, 200);
  EXPECT_EQ(del("legacy", "").status, 200);
  EXPECT_EQ(del("nope", "").status, 404);
  EXPECT_EQ(cluster_
                ->Handle({"DELETE",
                          "/apis/batch/v1/namespaces/default/jobs/x?propagationPolicy=Bogus",
                          {},
                          ""})
                .status,
            404);
  RunFor(std::chrono::seconds(1));
  EXPECT_EQ(pods_of("bg"), 0u);
  EXPECT_EQ(pods_of("fg"), 0u);
  EXPECT_EQ(cluster_->Handle({"GET", "/apis/batch/v1/namespaces/default/jobs/fg", {}, ""}).status,
            404);
  EXPECT_EQ(pods_of("orphan"), 2u);
  EXPECT_EQ(pods_of("legacy"), 2u);
  json orphan = Get("/api/v1/namespaces/default/pods?labelSelector=job-name%3Dorphan")["items"][0];
  EXPECT_FALSE(orphan["metadata"].contains("ownerReferences"));
}

// A pod handed from one Job to another (its controlling ownerReference
// changed) is the new Job's to count, and no longer the old one's.
TEST_F(ControllersTest, APodHandedToAnotherJobCountsForThatJob) {
  Create("/apis/batch/v1/namespaces/default/jobs", Job("giver", 1, 1, "1h"));
  json taker = Create("/apis/batch/v1/namespaces/default/jobs", Job("taker", 1, 0, "1h"));
  RunFor(std::chrono::seconds(1));
  json pods = Get("/api/v1/namespaces/default/pods?labelSelector=job-name%3Dgiver")["items"];
  ASSERT_EQ(pods.size(), 1u);
  json ref = pods[0]["metadata"]["ownerReferences"][0];
  ref["name"] = "taker";
  ref["uid"] = taker["metadata"]["uid"];
  json patch = {{"metadata", {{"ownerReferences", json::array({ref})}}}};
  HttpResponse r = cluster_->Handle(
      {"PATCH",
       "/api/v1/namespaces/default/pods/" + pods[0]["metadata"]["name"].get<std::string>(),
       {{"content-type", "application/merge-patch+json"}},
       patch.dump()});
  ASSERT_EQ(r.status, 200) << r.body;
  RunFor(std::chrono::seconds(1));
  EXPECT_EQ(Get("/apis/batch/v1/namespaces/default/jobs/taker")["status"].value("active", 0), 1);
  // The giver, down a pod, makes another.
  EXPECT_EQ(Get("/apis/batch/v1/namespaces/default/jobs/giver")["status"].value("active", 0), 1);
  EXPECT_EQ(Get("/api/v1/namespaces/default/pods")["items"].size(), 2u);
}

}  // namespace
}  // namespace portflow::fake
