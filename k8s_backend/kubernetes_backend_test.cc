// What only a cluster can say about an attempt: why it waits. Against the
// fake cluster over loopback, in simulate mode.
#include "k8s_backend/kubernetes_backend.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include "core/base64.h"
#include "core/k8s_time.h"
#include "core/testing/event_recorder.h"
#include "k8s_backend/fake_cluster/controllers/pod_status.h"
#include "k8s_backend/fake_cluster/fake_cluster.h"
#include "k8s_backend/fake_cluster/fake_transport.h"
#include "k8s_backend/render.h"

namespace portflow {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;

// A run directory of this test process, emptied: a process of an earlier
// run with the same pid may have left logs there (a replica's log is
// appended to, so they would count).
std::string FreshRunDir(const std::string& name) {
  std::string dir = ::testing::TempDir() + name + "_" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  return dir;
}

// The first event of `key` with `reason` among those `events` got from the
// `from`th on, within `timeout`.
std::optional<TaskEvent> WaitReason(testing::EventRecorder& events, const std::string& key,
                                    const std::string& reason, size_t from = 0,
                                    std::chrono::seconds timeout = std::chrono::seconds(30)) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    auto seen = events.events();
    for (size_t i = from; i < seen.size(); ++i) {
      if (seen[i].key == key && seen[i].reason == reason) return seen[i];
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return std::nullopt;
}

class KubernetesBackendTest : public ::testing::Test {
 protected:
  // Whether the cluster plays Kueue's webhook (KubernetesBackendKueueTest).
  virtual bool Kueue() const { return false; }

  void SetUp() override {
    run_dir_ = FreshRunDir("k8s_pending");
    fake::ClusterOptions o;
    o.nodes = 3;  // 4 cpu each: 12 in all, but no node has 6
    o.kubelet.default_duration = std::chrono::seconds(0);
    o.kueue_suspends = Kueue();
    cluster_ = std::move(fake::FakeCluster::Create(o).value());
    ASSERT_TRUE(cluster_->Serve(0).ok());
    options_.target.image = "busybox";
    options_.target.ship_code = false;
    options_.target.namespace_name = "default";
    options_.access = fake::ServedAccess(*cluster_);
    if (Kueue()) options_.target.queue = "team-a";
    NewBackend();
  }
  // A backend made anew from options_ (as after a change to them, or after
  // a restart of portflow), sending its events to events_.
  void NewBackend() {
    backend_ = NewKubernetesBackend(options_);
    backend_->SetEventSink(&events_);
  }
  // The ResourceQuota "team" of the default namespace: made, then changed.
  void Quota(const std::string& cpu) {
    const std::string quotas = "/api/v1/namespaces/default/resourcequotas";
    const std::string hard = R"({"hard": {"requests.cpu": ")" + cpu + R"("}})";
    auto r = cluster_->Handle({"PATCH",
                               quotas + "/team",
                               {{"content-type", "application/merge-patch+json"}},
                               R"({"spec": )" + hard + "}"});
    if (r.status == 404) {
      r = cluster_->Handle({"POST",
                            quotas,
                            {{"content-type", "application/json"}},
                            R"({"metadata": {"name": "team"}, "spec": )" + hard + "}"});
    }
    ASSERT_TRUE(r.status == 200 || r.status == 201) << r.body;
  }
  // What Kueue does to the attempt's Job: suspend it, or admit it.
  void Suspend(const TaskSpec& t, bool on) {
    auto r = cluster_->Handle(
        {"PATCH",
         "/apis/batch/v1/namespaces/default/jobs/" + k8s::JobName(t),
         {{"content-type", "application/merge-patch+json"}},
         std::string(R"({"spec": {"suspend": )") + (on ? "true" : "false") + "}}"});
    ASSERT_EQ(r.status, 200) << r.body;
  }
  // The states sent for `key`, as "Pending:Submitted Pending:Queued Running".
  std::string States(const std::string& key) {
    std::string out;
    for (const TaskEvent& e : events_.events()) {
      if (e.key != key) continue;
      out += (out.empty() ? "" : " ") + std::string(TaskStateName(e.state));
      if (e.state == TaskState::kPending) out += ":" + e.reason;
    }
    return out;
  }
  // Until the states sent for `key` end with `tail` (30 s at most).
  bool WaitStates(const std::string& key, const std::string& tail) {
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < until) {
      std::string s = States(key);
      if (s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0)
        return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
  // The first Pending event of `key` with `reason` (from the `from`th
  // event on), within 30 s.
  std::optional<TaskEvent> WaitPending(const std::string& key, const std::string& reason,
                                       size_t from = 0) {
    return WaitReason(events_, key, reason, from);
  }
  void TearDown() override {
    backend_.reset();
    cluster_->StopServing();
    std::filesystem::remove_all(run_dir_);
  }
  TaskSpec Spec(const std::string& instance, int64_t milli_cpu) {
    TaskSpec t;
    t.run_id = "pending";
    t.step = instance;
    t.instance = instance;
    t.argv = {"true"};
    t.run_dir = run_dir_;
    t.resources = {milli_cpu, 0, 0};
    return t;
  }

  std::unique_ptr<fake::FakeCluster> cluster_;
  KubernetesBackendOptions options_;
  std::unique_ptr<Backend> backend_;
  testing::EventRecorder events_;
  std::string run_dir_;
};

TEST_F(KubernetesBackendTest, AnUnschedulablePodSaysWhyItWaits) {
  ResourceRequest capacity = backend_->Capacity();
  EXPECT_EQ(capacity.milli_cpu, 12000);  // what the engine admits against
  TaskSpec big = Spec("big", 6000);
  auto h = backend_->Submit(big);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  std::optional<TaskEvent> waiting = WaitPending(big.Key(), "Unschedulable");
  ASSERT_TRUE(waiting.has_value());
  EXPECT_EQ(waiting->state, TaskState::kPending);
  EXPECT_EQ(waiting->pending, PendingReason::kUnschedulable);
  EXPECT_TRUE(WaitsForCapacity(waiting->pending));
  EXPECT_THAT(waiting->message, HasSubstr("0/3 nodes are available: 3 Insufficient cpu"));
  // The scheduler takes its word back (as when it tries again): the reason
  // shown is no longer Unschedulable.
  auto pods = cluster_->Handle({"GET", "/api/v1/namespaces/default/pods", {}, ""});
  json pod = json::parse(pods.body)["items"][0];
  pod["status"]["conditions"] = json::array();
  auto put = cluster_->Handle(
      {"PUT",
       "/api/v1/namespaces/default/pods/" + pod["metadata"]["name"].get<std::string>() + "/status",
       {{"content-type", "application/json"}},
       pod.dump()});
  ASSERT_EQ(put.status, 200) << put.body;
  std::optional<TaskEvent> scheduling = WaitPending(big.Key(), "Scheduling");
  ASSERT_TRUE(scheduling.has_value());
  EXPECT_EQ(scheduling->message, "waiting for the scheduler");
  EXPECT_EQ(scheduling->pending, PendingReason::kScheduling);
  EXPECT_FALSE(WaitsForCapacity(scheduling->pending));
  // Cancelled while it waits: the Job goes, the attempt ends Cancelled.
  ASSERT_TRUE(backend_->Cancel(*h, false).ok());
  auto end = events_.WaitTerminal(big.Key());
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->state, TaskState::kCancelled);
  // A pod that fits runs, and ends.
  TaskSpec small = Spec("small", 1000);
  ASSERT_TRUE(backend_->Submit(small).ok());
  auto done = events_.WaitTerminal(small.Key());
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->state, TaskState::kSucceeded);
}

// portflow restarts while a pod waits: the re-attached attempt says again
// why it waits (Recover reports it Running, but the backend then tells).
TEST_F(KubernetesBackendTest, ARecoveredAttemptThatWaitsSaysWhy) {
  TaskSpec big = Spec("big", 6000);
  auto h = backend_->Submit(big);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  ASSERT_TRUE(WaitPending(big.Key(), "Unschedulable").has_value());
  backend_.reset();
  size_t before = events_.events().size();
  NewBackend();
  auto recovered = backend_->Recover(big.run_id, {*h});
  ASSERT_TRUE(recovered.ok()) << recovered.status().ToString();
  ASSERT_EQ(recovered->size(), 1u);
  EXPECT_EQ((*recovered)[0].state, TaskState::kRunning);  // re-attached
  std::optional<TaskEvent> again = WaitPending(big.Key(), "Unschedulable", before);
  ASSERT_TRUE(again.has_value()) << States(big.Key());
  EXPECT_EQ(again->state, TaskState::kPending);
  EXPECT_THAT(again->message, HasSubstr("Insufficient cpu"));
  ASSERT_TRUE(backend_->Cancel((*recovered)[0].handle, true).ok());
}

// The target's namespace changed between the run and its resume: Recover
// says so rather than miss the Job and run its work again.
TEST_F(KubernetesBackendTest, RecoverRefusesHandlesOfAnotherNamespace) {
  TaskSpec t = Spec("moved", 100);
  auto h = backend_->Submit(t);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  backend_.reset();
  options_.target.namespace_name = "elsewhere";
  NewBackend();
  auto recovered = backend_->Recover(t.run_id, {*h});
  ASSERT_FALSE(recovered.ok());
  EXPECT_THAT(recovered.status().message(),
              HasSubstr("are in namespace default, but the target now uses namespace elsewhere"));
}

TEST_F(KubernetesBackendTest, APodTheQuotaRefusesWaitsWithReasonQuotaWait) {
  Quota("2");
  TaskSpec wide = Spec("wide", 3000);
  ASSERT_TRUE(backend_->Submit(wide).ok());
  std::optional<TaskEvent> waiting = WaitPending(wide.Key(), "QuotaWait");
  ASSERT_TRUE(waiting.has_value());
  EXPECT_EQ(waiting->state, TaskState::kPending);
  EXPECT_EQ(waiting->pending, PendingReason::kQuotaWait);
  EXPECT_THAT(waiting->message, HasSubstr("exceeded quota: team, requested: requests.cpu=3, used: "
                                          "requests.cpu=0, limited: requests.cpu=2"));
  // The quota grows: the Job controller's next try makes the pod, and it runs.
  Quota("4");
  auto done = events_.WaitTerminal(wide.Key());
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->state, TaskState::kSucceeded);
}

// A gang runs only with every replica: one replica the quota refuses keeps
// the attempt Pending (QuotaWait), though the other runs.
TEST_F(KubernetesBackendTest, AGangWithARefusedReplicaIsPendingNotRunning) {
  options_.target.annotations = {{"sim.portflow.dev/duration", "60"}};
  NewBackend();
  Quota("1");
  TaskSpec gang = Spec("gang", 600);
  gang.replicas = 2;
  auto h = backend_->Submit(gang);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  ASSERT_TRUE(WaitPending(gang.Key(), "QuotaWait").has_value());
  // Replica 0 runs (the case under test), and the backend has time to hear it.
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  auto running = [&] {
    auto pods = cluster_->Handle({"GET", "/api/v1/namespaces/default/pods", {}, ""});
    return pods.body.find(R"("phase":"Running")") != std::string::npos;
  };
  while (!running() && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_TRUE(running());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_THAT(States(gang.Key()), ::testing::Not(HasSubstr("Running")));
  Quota("2");
  EXPECT_TRUE(WaitStates(gang.Key(), "Running")) << States(gang.Key());
  ASSERT_TRUE(backend_->Cancel(*h, true).ok());
  ASSERT_TRUE(events_.WaitTerminal(gang.Key()).has_value());
}

TEST_F(KubernetesBackendTest, AnImageThatCannotBePulledWaitsWithReasonImagePull) {
  cluster_->SetMissingImages({"registry.local/trainer:2"});
  TaskSpec t = Spec("pull", 500);
  t.image = "registry.local/trainer:2";
  ASSERT_TRUE(backend_->Submit(t).ok());
  std::optional<TaskEvent> waiting = WaitPending(t.Key(), "ImagePull");
  ASSERT_TRUE(waiting.has_value());
  EXPECT_EQ(waiting->pending, PendingReason::kImagePull);
  EXPECT_FALSE(WaitsForCapacity(waiting->pending));
  EXPECT_THAT(waiting->message,
              HasSubstr("failed to pull and unpack image \"registry.local/trainer:2\""));
  cluster_->SetMissingImages({});  // pushed at last
  auto done = events_.WaitTerminal(t.Key());
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->state, TaskState::kSucceeded);
}

TEST_F(KubernetesBackendTest, AMissingSecretWaitsWithReasonCreateContainerConfigError) {
  options_.target.env_from_secrets = {"hf-token"};
  NewBackend();
  TaskSpec t = Spec("secret", 500);
  ASSERT_TRUE(backend_->Submit(t).ok());
  std::optional<TaskEvent> waiting = WaitPending(t.Key(), "CreateContainerConfigError");
  ASSERT_TRUE(waiting.has_value());
  EXPECT_EQ(waiting->pending, PendingReason::kConfigError);
  EXPECT_EQ(waiting->message, "secret \"hf-token\" not found");
  auto created = cluster_->Handle({"POST",
                                   "/api/v1/namespaces/default/secrets",
                                   {{"content-type", "application/json"}},
                                   R"({"metadata": {"name": "hf-token"},
                                       "stringData": {"HF_TOKEN": "x"}})"});
  ASSERT_EQ(created.status, 201) << created.body;
  auto done = events_.WaitTerminal(t.Key());
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->state, TaskState::kSucceeded);
}

// A task under the agent gets the object store's credentials from the
// run's Secret, made at its first attempt (made anew by a resumed
// portflow, whose credentials may be new) and deleted when the run ends;
// the Job names it and holds none of it.
TEST_F(KubernetesBackendTest, TheStoresCredentialsAreTheRunsSecretUntilItEnds) {
  const std::string secret =
      "/api/v1/namespaces/default/secrets/" + k8s::StoreSecretName("pending");
  TaskSpec t = Spec("train", 500);
  t.store = ObjectStoreRef{"s3://runs/p", "http://127.0.0.1:9", "us-east-1", "agent:1"};
  t.store->credentials = {{"AWS_ACCESS_KEY_ID", "AKID1"}, {"AWS_SECRET_ACCESS_KEY", "first"}};
  ASSERT_TRUE(backend_->Submit(t).ok());
  auto made = cluster_->Handle({"GET", secret, {}, ""});
  ASSERT_EQ(made.status, 200) << made.body;
  auto data = nlohmann::json::parse(made.body)["data"];
  EXPECT_EQ(data["AWS_SECRET_ACCESS_KEY"], Base64Encode("first"));
  auto job = cluster_->Handle(
      {"GET", "/apis/batch/v1/namespaces/default/jobs/" + k8s::JobName(t), {}, ""});
  ASSERT_EQ(job.status, 200);
  EXPECT_THAT(job.body, HasSubstr(k8s::StoreSecretName("pending")));
  EXPECT_THAT(job.body, Not(HasSubstr("first")));
  EXPECT_THAT(job.body, Not(HasSubstr(Base64Encode("first"))));

  NewBackend();  // a resumed portflow, with new credentials
  t.attempt = 2;
  t.store->credentials["AWS_SECRET_ACCESS_KEY"] = "second";
  ASSERT_TRUE(backend_->Submit(t).ok());
  data = nlohmann::json::parse(cluster_->Handle({"GET", secret, {}, ""}).body)["data"];
  EXPECT_EQ(data["AWS_SECRET_ACCESS_KEY"], Base64Encode("second"));

  NewBackend();  // a run with no store: its end deletes nothing
  (void)backend_->FinishRun("pending");
  EXPECT_EQ(cluster_->Handle({"GET", secret, {}, ""}).status, 200);

  // The run ends in a portflow that made none of it but recovered its
  // attempt under the agent.
  auto handle = backend_->Submit(t);
  ASSERT_TRUE(handle.ok());
  NewBackend();
  ASSERT_TRUE(backend_->Recover("pending", {*handle}).ok());
  (void)backend_->FinishRun("pending");
  EXPECT_EQ(cluster_->Handle({"GET", secret, {}, ""}).status, 404);
}

// The shipped code's ConfigMap, shared by the run's attempts, belongs to
// every Job that mounts it: an attempt whose Job cannot be made leaves it
// for the others, and with cleanup: delete it goes with the last Job.
TEST_F(KubernetesBackendTest, TheShippedCodeGoesWithTheLastJobThatMountsIt) {
  options_.target.ship_code = true;
  options_.target.cleanup = "delete";
  options_.target.annotations["sim.portflow.dev/duration"] = "1s";  // both run at once
  NewBackend();
  std::filesystem::create_directories(run_dir_ + "/code");
  std::ofstream(run_dir_ + "/code/train.py") << "print(1)\n";
  int refused = 0;
  cluster_->reactors().Prepend(
      "create", "jobs", [&refused](const fake::RequestInfo&, const fake::HttpRequest& r) {
        if (r.body.find("\"refused\"") == std::string::npos)
          return std::optional<fake::HttpResponse>();
        ++refused;
        return std::optional<fake::HttpResponse>(fake::HttpResponse{
            403, "application/json",
            R"({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Forbidden",
                "code": 403, "message": "jobs is forbidden, for this test"})",
            nullptr});
      });
  auto code_maps = [&] {
    auto r = cluster_->Handle(
        {"GET",
         "/api/v1/namespaces/default/configmaps?labelSelector=portflow.dev%2Frun%3Dpending",
         {},
         ""});
    return json::parse(r.body)["items"];
  };
  TaskSpec refused_task = Spec("refused", 100);
  refused_task.workdir = run_dir_ + "/code";
  EXPECT_FALSE(backend_->Submit(refused_task).ok());
  EXPECT_EQ(refused, 1);
  ASSERT_EQ(code_maps().size(), 1u) << "the code went with an attempt that made no Job";

  TaskSpec a = Spec("a", 100), b = Spec("b", 100);
  a.workdir = b.workdir = run_dir_ + "/code";
  ASSERT_TRUE(backend_->Submit(a).ok());
  ASSERT_TRUE(backend_->Submit(b).ok());
  json owners = code_maps()[0]["metadata"]["ownerReferences"];
  ASSERT_EQ(owners.size(), 2u) << owners.dump();
  std::set<std::string> names;
  for (const json& o : owners) {
    EXPECT_EQ(o["kind"], "Job");
    names.insert(o["name"].get<std::string>());
  }
  EXPECT_EQ(names, (std::set<std::string>{k8s::JobName(a), k8s::JobName(b)}));
  ASSERT_TRUE(events_.WaitTerminal(a.Key()).has_value());
  ASSERT_TRUE(events_.WaitTerminal(b.Key()).has_value());
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!code_maps().empty() && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_TRUE(code_maps().empty()) << code_maps().dump();
}

// The same, on a cluster that plays Kueue's webhook (a Job with the queue
// label is made suspended); the tests play Kueue's admission (Suspend).
class KubernetesBackendKueueTest : public KubernetesBackendTest {
 protected:
  bool Kueue() const override { return true; }
};

// A gang a quota holds back, then suspended: Queued, not the refusal of a
// pod its suspended Job no longer asks for.
TEST_F(KubernetesBackendKueueTest, ASuspendedJobIsQueuedNotQuotaWait) {
  Quota("1");
  options_.target.annotations = {{"sim.portflow.dev/duration", "60"}};
  NewBackend();
  TaskSpec t = Spec("g", 600);
  t.replicas = 2;
  auto h = backend_->Submit(t);
  ASSERT_TRUE(h.ok());
  ASSERT_TRUE(WaitStates(t.Key(), "Pending:Queued")) << States(t.Key());
  Suspend(t, false);
  ASSERT_TRUE(WaitStates(t.Key(), "Pending:QuotaWait"))  // replica 1 does not fit
      << States(t.Key());
  Suspend(t, true);
  EXPECT_TRUE(WaitStates(t.Key(), "Pending:Queued")) << States(t.Key());
  ASSERT_TRUE(backend_->Cancel(*h, true).ok());
  ASSERT_TRUE(events_.WaitTerminal(t.Key()).has_value());
}

// A Job that Kueue holds suspended waits as Pending, reason Queued, naming
// the queue.
TEST_F(KubernetesBackendKueueTest, ASuspendedJobIsQueuedUntilAdmitted) {
  TaskSpec t = Spec("q", 500);
  ASSERT_TRUE(backend_->Submit(t).ok());
  std::optional<TaskEvent> queued = WaitPending(t.Key(), "Queued");
  ASSERT_TRUE(queued.has_value());
  EXPECT_EQ(queued->pending, PendingReason::kQueued);
  EXPECT_TRUE(WaitsForCapacity(queued->pending));
  EXPECT_EQ(queued->message, "the Job is suspended until Kueue admits it to queue team-a");
  Suspend(t, false);
  auto done = events_.WaitTerminal(t.Key());
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->state, TaskState::kSucceeded);
}

// Kueue's preemption: a running Job is suspended (its pods go), then
// admitted again (new pods). The attempt goes back to Pending/Queued and runs
// again, and its log holds both runs, though portflow restarted between them.
TEST_F(KubernetesBackendKueueTest, APreemptedJobIsQueuedAgainAndKeepsBothLogs) {
  options_.target.annotations = {{"sim.portflow.dev/duration", "6"}};
  NewBackend();
  TaskSpec t = Spec("p", 500);
  auto h = backend_->Submit(t);
  ASSERT_TRUE(h.ok());
  ASSERT_TRUE(WaitStates(t.Key(), "Pending:Queued")) << States(t.Key());
  Suspend(t, false);
  ASSERT_TRUE(WaitStates(t.Key(), "Running")) << States(t.Key());
  auto saved = [&] {
    std::string log;
    (void)backend_->Logs(*h, 0, false, [&](std::string_view d) {
      log += d;
      return true;
    });
    return log;
  };
  // Preempted once its first log line is saved (a deleted pod's log is gone,
  // on a real cluster too), within the pod's 6 s.
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (saved().find(" started;") == std::string::npos && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_NE(saved().find(" started;"), std::string::npos);
  Suspend(t, true);
  ASSERT_TRUE(WaitStates(t.Key(), "Running Pending:Queued")) << States(t.Key());
  // portflow restarts while the Job waits, and re-attaches to it.
  backend_.reset();
  NewBackend();
  auto recovered = backend_->Recover(t.run_id, {*h});
  ASSERT_TRUE(recovered.ok()) << recovered.status().ToString();
  Suspend(t, false);
  auto done = events_.WaitTerminal(t.Key(), std::chrono::seconds(20));
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->state, TaskState::kSucceeded);
  std::string log = saved();
  size_t starts = 0;
  for (size_t at = 0; (at = log.find(" started;", at)) != std::string::npos; ++at) ++starts;
  EXPECT_EQ(starts, 2u) << log;  // both runs
  EXPECT_THAT(log, HasSubstr("exited with code 0")) << log;
}

// The same backend, in process and in virtual time: requests go straight
// to the fake cluster's handler, and pods that run for an hour end after
// about two seconds of real time, as the watches move the clock on.
TEST(KubernetesBackendVirtualTime, AnHourOfPodsTakesSeconds) {
  FakeClock clock;
  fake::ClusterOptions o;
  o.nodes = 2;
  o.kubelet.default_duration = std::chrono::hours(1);
  auto cluster = fake::FakeCluster::Create(o, clock).value();
  cluster->StartControllers();
  KubernetesBackendOptions k;
  k.target.image = "busybox";
  k.target.ship_code = false;
  k.target.namespace_name = "default";
  k.access = k8s::ClusterAccess{};
  k.access->server = "in-process";
  k.clock = &clock;
  k.transport = [&](const k8s::ClusterAccess&) -> Result<std::unique_ptr<k8s::Transport>> {
    return fake::MakeFakeClusterTransport(*cluster);
  };
  auto backend = NewKubernetesBackend(k);
  testing::EventRecorder events;
  backend->SetEventSink(&events);
  TimePoint start = clock.Now();
  auto real_start = std::chrono::steady_clock::now();
  std::vector<TaskSpec> specs;
  const std::string run_dir = FreshRunDir("k8s_virtual");
  for (int i = 0; i < 3; ++i) {
    TaskSpec t;
    t.run_id = "virtual";
    t.step = t.instance = "s" + std::to_string(i);
    t.argv = {"true"};
    t.run_dir = run_dir;
    t.resources = {500, 0, 0};
    t.replicas = i == 2 ? 2 : 1;
    ASSERT_TRUE(backend->Submit(t).ok());
    specs.push_back(t);
  }
  for (const TaskSpec& t : specs) {
    auto end = events.WaitTerminal(t.Key(), std::chrono::seconds(30));
    if (!end) {
      for (const TaskEvent& e : events.events())
        ADD_FAILURE() << e.key << " " << TaskStateName(e.state) << " " << e.reason << " "
                      << e.message;
      ADD_FAILURE()
          << "virtual time passed: "
          << std::chrono::duration_cast<std::chrono::seconds>(clock.Now() - start).count();
    }
    ASSERT_TRUE(end.has_value()) << t.instance;
    EXPECT_EQ(end->state, TaskState::kSucceeded) << t.instance;
  }
  EXPECT_GE(clock.Now() - start, std::chrono::hours(1));
  // Seconds, not an hour (a minute at most on a loaded machine under TSan).
  EXPECT_LT(std::chrono::steady_clock::now() - real_start, std::chrono::seconds(60));
  backend.reset();
  std::filesystem::remove_all(run_dir);
}

// The in-process fake behind hooks that set the order in which the backend
// hears things, to force the interleavings of its watches that a loaded
// machine makes by chance. Each call passes Before() and After(); each line
// of a watch (one event a line) passes Deliver(), which may wait or drop it,
// then Delivered(). Flags are set and awaited (10 s at most) under one lock.
class GatedTransport : public k8s::Transport {
 public:
  explicit GatedTransport(fake::FakeCluster& cluster)
      : inner_(fake::MakeFakeClusterTransport(cluster)) {}
  Result<k8s::ApiResponse> Send(const k8s::ApiRequest& request,
                                const k8s::Credential& credential) override {
    Before(request.path);
    auto r = inner_->Send(request, credential);
    After(request.path);
    return r;
  }
  Result<k8s::ApiResponse> Stream(const k8s::ApiRequest& request, const k8s::Credential& credential,
                                  const std::function<bool(std::string_view)>& on_data,
                                  k8s::StreamStop* stop) override {
    Before(request.path);
    if (request.path.find("watch=true") == std::string::npos)
      return inner_->Stream(request, credential, on_data, stop);
    std::string line;  // so far
    return inner_->Stream(
        request, credential,
        [&](std::string_view data) {
          for (size_t end; (end = data.find('\n')) != std::string_view::npos;) {
            line.append(data.substr(0, end + 1));
            data.remove_prefix(end + 1);
            bool more = !Deliver(request.path, line) || on_data(line);
            Delivered(request.path, line);
            line.clear();
            if (!more) return false;
          }
          line.append(data);
          return on_data("");
        },
        stop);
  }
  bool Get(const bool& flag) {
    std::lock_guard<std::mutex> l(mu_);
    return flag;
  }

 protected:
  virtual void Before(const std::string& /*path*/) {}
  virtual void After(const std::string& /*path*/) {}
  virtual bool Deliver(const std::string& /*path*/, const std::string& /*line*/) { return true; }
  virtual void Delivered(const std::string& /*path*/, const std::string& /*line*/) {}
  static bool Has(const std::string& text, const char* part) {
    return text.find(part) != std::string::npos;
  }
  // False when the 10 s ran out first.
  bool Await(const bool& flag) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, std::chrono::seconds(10), [&] { return flag; });
  }
  void Set(bool& flag) {
    std::lock_guard<std::mutex> l(mu_);
    flag = true;
    cv_.notify_all();
  }

 private:
  std::unique_ptr<k8s::Transport> inner_;
  std::mutex mu_;
  std::condition_variable cv_;
};

// A backend on a GatedTransport, against a fake cluster whose pods fail
// with exit code 7 (after 50 ms unless the test says otherwise), and one
// failing attempt submitted to it.
class KubernetesBackendOrderTest : public ::testing::Test {
 protected:
  // `drive`: the test runs the controllers (RunFor), so that it can change
  // pods between their passes; else they run on their own thread.
  template <typename T>
  void Start(T** transport, int replicas = 1, Duration pod_duration = std::chrono::milliseconds(50),
             bool drive = false) {
    fake::ClusterOptions o;
    o.kubelet.default_duration = pod_duration;
    o.kubelet.default_exit_code = 7;
    o.kueue_suspends = kueue_;
    cluster_ = std::move(fake::FakeCluster::Create(o).value());
    if (!drive) cluster_->StartControllers();
    KubernetesBackendOptions k;
    k.target.image = "busybox";
    k.target.ship_code = false;
    k.target.namespace_name = "default";
    k.target.cleanup = "keep";
    k.access = k8s::ClusterAccess{};
    k.access->server = "in-process";
    k.retry = retry_;
    if (kueue_) k.target.queue = "team-a";
    k.transport =
        [this, transport](const k8s::ClusterAccess&) -> Result<std::unique_ptr<k8s::Transport>> {
      auto t = std::make_unique<T>(*cluster_);
      *transport = t.get();
      return std::unique_ptr<k8s::Transport>(std::move(t));
    };
    backend_ = NewKubernetesBackend(k);
    backend_->SetEventSink(&events_);
    task_.run_id = "order";
    task_.step = task_.instance = "fails";
    task_.argv = {"false"};
    task_.run_dir = FreshRunDir("k8s_order");
    task_.resources = {100, 0, 0};
    task_.replicas = replicas;
    submitted_ = backend_->Submit(task_);
    if (expect_submitted_) {
      ASSERT_TRUE(submitted_.ok()) << submitted_.status().ToString();
    }
  }
  std::optional<TaskEvent> End() {
    return events_.WaitTerminal(task_.Key(), std::chrono::seconds(20));
  }
  // `end` is the attempt's failure, with its pod's exit code.
  static void ExpectThePodsExitCode(const std::optional<TaskEvent>& end) {
    ASSERT_TRUE(end.has_value());
    EXPECT_EQ(end->state, TaskState::kFailed);
    ASSERT_TRUE(end->result.has_value());
    EXPECT_EQ(end->result->exit_code, 7);
  }
  // The pods as stored, with the store's own lock (no API call).
  std::vector<fake::json> Pods() {
    auto list = cluster_->store().List(*fake::FindKind("", "pods"), "default", {});
    return list.ok() ? list->items : std::vector<fake::json>{};
  }
  void TearDown() override {
    backend_.reset();
    if (!task_.run_dir.empty()) std::filesystem::remove_all(task_.run_dir);
  }

  std::unique_ptr<fake::FakeCluster> cluster_;
  testing::EventRecorder events_;
  std::unique_ptr<Backend> backend_;
  TaskSpec task_;
  k8s::RetryPolicy retry_;
  bool kueue_ = false;  // the cluster plays Kueue's webhook: Jobs start suspended
  bool expect_submitted_ = true;
  Result<TaskHandle> submitted_ = FailedPrecondition("not submitted");
};

// The Jobs watch says the Job failed before the Pods watch says its pod did;
// the backend lists the pods, then the Pods watch tells of the pod running,
// which is older news than the list. Here the Pods watch's "Running" waits
// for that list, its "Failed" never comes, and the log is served only once
// the late "Running" has been read.
class LatePodWatch : public GatedTransport {
 public:
  using GatedTransport::GatedTransport;
  bool listed = false, late_read = false;
  bool listed_in_time = false;  // not by the gate's own 10 s running out

 protected:
  void Before(const std::string& path) override {
    if (Has(path, "/log")) Await(late_read);
  }
  void After(const std::string& path) override {
    if (Has(path, "/pods?labelSelector=batch.kubernetes.io")) Set(listed);
  }
  bool Deliver(const std::string& path, const std::string& line) override {
    if (!Has(path, "/pods?")) return true;
    if (Has(line, R"("phase":"Failed")")) return false;
    if (Has(line, R"("phase":"Running")") && Await(listed)) Set(listed_in_time);
    return true;
  }
  void Delivered(const std::string& path, const std::string& line) override {
    if (Has(path, "/pods?") && Has(line, R"("phase":"Running")")) Set(late_read);
  }
};

TEST_F(KubernetesBackendOrderTest, APodsWatchBehindAListDoesNotLoseTheExitCode) {
  LatePodWatch* gate = nullptr;
  Start(&gate);
  ExpectThePodsExitCode(End());
  EXPECT_TRUE(gate->Get(gate->late_read));  // the stale word came, after the list
  // Listed once the pods' watch had its moment, with nothing else to prompt it.
  EXPECT_TRUE(gate->Get(gate->listed_in_time));
}

// The Jobs watch says the Job failed a moment before the Pods watch says its
// pod did, as on a loaded machine: the backend waits for the Pods watch
// (kPodsWatchGrace) instead of listing the pods. Here the pod's "Failed"
// is held until the Job's "Failed" has been read.
class PodWatchAMomentBehind : public GatedTransport {
 public:
  using GatedTransport::GatedTransport;
  bool job_failed = false, listed = false;

 protected:
  void After(const std::string& path) override {
    if (Has(path, "/pods?labelSelector=batch.kubernetes.io")) Set(listed);
  }
  bool Deliver(const std::string& path, const std::string& line) override {
    if (Has(path, "/pods?") && Has(line, R"("phase":"Failed")")) Await(job_failed);
    return true;
  }
  void Delivered(const std::string& path, const std::string& line) override {
    if (Has(path, "/jobs?") && Has(line, R"("type":"Failed")")) Set(job_failed);
  }
};

TEST_F(KubernetesBackendOrderTest, APodsWatchAMomentBehindCostsNoList) {
  PodWatchAMomentBehind* gate = nullptr;
  Start(&gate);
  ExpectThePodsExitCode(End());
  EXPECT_TRUE(gate->Get(gate->job_failed));  // the Job's end came first
  EXPECT_FALSE(gate->Get(gate->listed));
}

// The pod fails and is deleted (a TTL, a person) before the Jobs watch says
// the Job failed: the list made then finds no pod, but the exit code is
// still the pod's. Here the Jobs watch's "Failed" waits until the Pods
// watch has told of the deletion.
class JobFailsAfterItsPodIsGone : public GatedTransport {
 public:
  using GatedTransport::GatedTransport;
  bool deleted = false;

 protected:
  bool Deliver(const std::string& path, const std::string& line) override {
    if (Has(path, "/jobs?") && Has(line, R"("type":"Failed")")) Await(deleted);
    return true;
  }
  void Delivered(const std::string& path, const std::string& line) override {
    if (Has(path, "/pods?") && Has(line, R"("type":"DELETED")")) Set(deleted);
  }
};

TEST_F(KubernetesBackendOrderTest, APodDeletedBeforeItsJobFailsKeepsTheExitCode) {
  JobFailsAfterItsPodIsGone* gate = nullptr;
  Start(&gate);
  // The pod is deleted once its Job has failed (in the store: the backend
  // does not know yet).
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  bool deleted = false;
  while (!deleted && std::chrono::steady_clock::now() < until) {
    auto job = cluster_->Handle({"GET", "/apis/batch/v1/namespaces/default/jobs", {}, ""});
    if (job.body.find(R"("type":"Failed")") != std::string::npos) {
      for (const fake::json& pod : Pods()) {
        std::string path =
            "/api/v1/namespaces/default/pods/" + pod["metadata"]["name"].get<std::string>();
        ASSERT_EQ(cluster_->Handle({"DELETE", path, {}, ""}).status, 200);
        deleted = true;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_TRUE(deleted);
  ExpectThePodsExitCode(End());
  EXPECT_TRUE(gate->Get(gate->deleted));  // the deletion came first
}

// The pod ends, but its log's follow stream stays open and quiet, as one
// from a lost node's kubelet does: the backend cuts it, reads the log whole,
// and the attempt ends.
class StuckLogFollow : public GatedTransport {
 public:
  using GatedTransport::GatedTransport;
  bool cut = false;
  Result<k8s::ApiResponse> Stream(const k8s::ApiRequest& request, const k8s::Credential& credential,
                                  const std::function<bool(std::string_view)>& on_data,
                                  k8s::StreamStop* stop) override {
    if (!Has(request.path, "/log?follow=true"))
      return GatedTransport::Stream(request, credential, on_data, stop);
    bool stopped = false;
    auto r = GatedTransport::Stream(
        request, credential, [&](std::string_view data) { return !(stopped = !on_data(data)); },
        stop);
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!stopped && !(stop && stop->stopped()) && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      if (!on_data("")) {
        Set(cut);
        break;
      }
    }
    return r;
  }
};

TEST_F(KubernetesBackendOrderTest, AStuckLogFollowIsCutOnceThePodHasEnded) {
  StuckLogFollow* gate = nullptr;
  Start(&gate);
  ExpectThePodsExitCode(End());
  EXPECT_TRUE(gate->Get(gate->cut));
  std::string pod = Pods().at(0)["metadata"]["name"];
  auto log = cluster_->Handle({"GET", "/api/v1/namespaces/default/pods/" + pod + "/log", {}, ""});
  ASSERT_EQ(log.status, 200);
  EXPECT_FALSE(log.body.empty());
  std::ifstream file(LogPath(task_.run_dir, task_.instance, 1, 0), std::ios::binary);
  std::string saved((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  EXPECT_EQ(saved, log.body);
}

// Every answer to the Job's create is lost, though the cluster made it (the
// retries then find it made, and lose that answer too): Submit fails, and
// takes the Job back, so that it does not run beside the engine's next
// attempt.
class LostCreateAnswers : public GatedTransport {
 public:
  using GatedTransport::GatedTransport;
  Result<k8s::ApiResponse> Send(const k8s::ApiRequest& request,
                                const k8s::Credential& credential) override {
    auto r = GatedTransport::Send(request, credential);
    if (request.method != "POST" || !request.path.ends_with("/jobs")) return r;
    k8s::ApiResponse lost;
    lost.network_error = "connection reset (test)";
    return lost;
  }
};

TEST_F(KubernetesBackendOrderTest, ASubmitThatFailsTakesBackTheJobItMayHaveMade) {
  LostCreateAnswers* gate = nullptr;
  retry_ = {3, std::chrono::milliseconds(1), std::chrono::milliseconds(5)};
  expect_submitted_ = false;
  Start(&gate);
  ASSERT_FALSE(submitted_.ok());
  EXPECT_EQ(submitted_.status().code(), StatusCode::kUnavailable);
  auto job = cluster_->Handle(
      {"GET", "/apis/batch/v1/namespaces/default/jobs/" + k8s::JobName(task_), {}, ""});
  EXPECT_EQ(job.status, 404) << job.body;
}

// The first answer to the Job's create is lost, though the cluster made the
// Job: the retry finds it made, sees this attempt's labels on it and adopts
// it, and the attempt is followed to its end.
class FirstJobCreateAnswerLost : public GatedTransport {
 public:
  using GatedTransport::GatedTransport;
  int job_creates = 0;
  Result<k8s::ApiResponse> Send(const k8s::ApiRequest& request,
                                const k8s::Credential& credential) override {
    auto r = GatedTransport::Send(request, credential);
    if (request.method != "POST" || !request.path.ends_with("/jobs") || job_creates++ > 0) return r;
    k8s::ApiResponse lost;
    lost.network_error = "connection reset (test)";
    return lost;
  }
};

TEST_F(KubernetesBackendOrderTest, ASubmitWhoseCreateAnswerIsLostAdoptsTheJobItMade) {
  FirstJobCreateAnswerLost* gate = nullptr;
  retry_ = {3, std::chrono::milliseconds(1), std::chrono::milliseconds(5)};
  Start(&gate);
  EXPECT_EQ(gate->job_creates, 2);  // the lost one, then AlreadyExists
  ExpectThePodsExitCode(End());
}

// A Job of the attempt's name that portflow did not make for this attempt
// (another run's labels) is neither adopted nor touched: Submit fails.
TEST_F(KubernetesBackendTest, ASameNamedJobOfAnotherRunIsNotAdopted) {
  TaskSpec t = Spec("taken", 100);
  auto objects = k8s::RenderTask(t, options_.target, "default", {});
  ASSERT_TRUE(objects.ok()) << objects.status().ToString();
  json job;
  for (const json& o : *objects) {
    if (o["kind"] == "Job") job = o;
  }
  ASSERT_TRUE(job.is_object());
  job["metadata"]["labels"]["portflow.dev/run"] = "someone-else";
  auto made = cluster_->Handle({"POST",
                                "/apis/batch/v1/namespaces/default/jobs",
                                {{"content-type", "application/json"}},
                                job.dump()});
  ASSERT_EQ(made.status, 201) << made.body;
  auto h = backend_->Submit(t);
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(h.status().message(), HasSubstr("that portflow did not create for this attempt"));
  auto kept = cluster_->Handle(
      {"GET", "/apis/batch/v1/namespaces/default/jobs/" + k8s::JobName(t), {}, ""});
  ASSERT_EQ(kept.status, 200) << kept.body;
  EXPECT_EQ(json::parse(kept.body)["metadata"]["labels"]["portflow.dev/run"], "someone-else");
}

// Kueue lets a gang go, and a ResourceQuota refuses its second replica:
// the events' watch tells of the refusal before the Jobs' watch tells that
// the Job was let go. The refusal still shows, once the Job is seen running.
class UnsuspendSeenAfterTheRefusal : public GatedTransport {
 public:
  using GatedTransport::GatedTransport;
  bool refused = false;
  bool released_early = false;  // the Job's line went on before the refusal

 protected:
  bool Deliver(const std::string& path, const std::string& line) override {
    if (Has(path, "/jobs?") && Has(line, R"("suspend":false)")) {
      Await(refused);
      if (!Get(refused)) Set(released_early);
    }
    return true;
  }
  void Delivered(const std::string& path, const std::string& line) override {
    if (Has(path, "/events?") && Has(line, "FailedCreate")) Set(refused);
  }
};

TEST_F(KubernetesBackendOrderTest, ARefusalSeenBeforeTheJobIsLetGoStillShows) {
  UnsuspendSeenAfterTheRefusal* gate = nullptr;
  kueue_ = true;
  Start(&gate, /*replicas=*/2, std::chrono::hours(1));
  auto made = cluster_->Handle(
      {"POST",
       "/api/v1/namespaces/default/resourcequotas",
       {{"content-type", "application/json"}},
       R"({"metadata": {"name": "team"}, "spec": {"hard": {"requests.cpu": "150m"}}})"});
  ASSERT_EQ(made.status, 201) << made.body;
  auto admitted = cluster_->Handle({"PATCH",
                                    "/apis/batch/v1/namespaces/default/jobs/" + k8s::JobName(task_),
                                    {{"content-type", "application/merge-patch+json"}},
                                    R"({"spec": {"suspend": false}})"});
  ASSERT_EQ(admitted.status, 200) << admitted.body;
  std::optional<TaskEvent> quota =
      WaitReason(events_, task_.Key(), "QuotaWait", 0, std::chrono::seconds(20));
  // The refusal was heard first. (Not `refused` itself: that is set once
  // the backend has taken the event's line, which can be just after it
  // reports QuotaWait.)
  EXPECT_FALSE(gate->Get(gate->released_early));
  ASSERT_TRUE(quota.has_value());
  EXPECT_THAT(quota->message, HasSubstr("exceeded quota: team"));
  ASSERT_TRUE(backend_->Cancel(*submitted_, true).ok());
}

// A gang's replica 1 fails with 7; the Job controller stops replica 0, which
// ends with 143 (SIGTERM) in the same second while being deleted. The cause
// is replica 1. (The fake's controller deletes such pods outright; here the
// test writes what a real cluster shows, between two passes of the
// controllers, and the Jobs watch's "Failed" waits for both pods' ends.)
class JobFailsAfterBothPodsEnd : public GatedTransport {
 public:
  using GatedTransport::GatedTransport;
  bool both = false;

 protected:
  bool Deliver(const std::string& path, const std::string& line) override {
    if (Has(path, "/jobs?") && Has(line, R"("type":"Failed")")) Await(both);
    return true;
  }
  void Delivered(const std::string& path, const std::string& line) override {
    if (Has(path, "/pods?") && Has(line, R"("phase":"Failed")") && ++failed_ == 2) Set(both);
  }

 private:
  int failed_ = 0;  // the pods' watch's thread only
};

TEST_F(KubernetesBackendOrderTest, AGangFailsWithTheCauseNotTheReplicaStoppedForIt) {
  JobFailsAfterBothPodsEnd* gate = nullptr;
  Start(&gate, /*replicas=*/2, std::chrono::hours(1), /*drive=*/true);
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  std::vector<fake::json> pods;
  auto running = [&] {
    pods = Pods();
    return pods.size() == 2 && pods[0]["status"]["phase"] == "Running" &&
           pods[1]["status"]["phase"] == "Running";
  };
  while (!running() && std::chrono::steady_clock::now() < until)
    cluster_->RunFor(std::chrono::milliseconds(20));
  ASSERT_TRUE(running());
  TimePoint now = RealClock().Now();
  for (fake::json& pod : pods) {
    bool cause = pod["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"] == "1";
    if (!cause) pod["metadata"]["deletionTimestamp"] = K8sTime(now);
    fake::EndPod(pod, cause ? 7 : 143, now, now);
    ASSERT_TRUE(cluster_->store().Update(*fake::FindKind("", "pods"), "default", pod).ok());
  }
  std::optional<TaskEvent> end;
  while (!end && std::chrono::steady_clock::now() < until + std::chrono::seconds(10)) {
    cluster_->RunFor(std::chrono::milliseconds(20));
    end = events_.WaitTerminal(task_.Key(), std::chrono::milliseconds(1));
  }
  ASSERT_TRUE(end.has_value());
  EXPECT_TRUE(gate->Get(gate->both));
  ASSERT_TRUE(end->result.has_value());
  EXPECT_EQ(end->result->exit_code, 7);
  EXPECT_EQ(end->result->message, "replica 1 exited with code 7");
}

// With cleanup: delete, Jobs that end close together go in one
// deletecollection by their names' label, not one DELETE each; the run's
// end sends what is still queued. A server that refuses deletecollection
// gets one DELETE a Job, and is not asked again.
class JobDeletionTest : public KubernetesBackendTest, public ::testing::WithParamInterface<bool> {
 protected:
  int Calls(const std::string& kind) {
    json stats = json::parse(cluster_->Handle({"GET", "/portflow/stats", {}, ""}).body);
    return stats["byKind"].value(kind, 0);
  }
  json Jobs() {
    return json::parse(
        cluster_->Handle({"GET", "/apis/batch/v1/namespaces/default/jobs", {}, ""}).body)["items"];
  }
};

TEST_P(JobDeletionTest, FinishedJobsAreDeletedInBatches) {
  const bool refused = GetParam();
  if (refused) {
    cluster_->reactors().Prepend(
        "deletecollection", "jobs", [](const fake::RequestInfo&, const fake::HttpRequest&) {
          return std::optional<fake::HttpResponse>(
              fake::HttpResponse{405, "application/json",
                                 R"({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                  "reason": "MethodNotAllowed", "code": 405, "message": "for this test"})",
                                 nullptr});
        });
  }
  // What the deletions accept: their answer is read for the names only.
  // (Shared with the reactor, which the cluster keeps past an early return.)
  struct Accepted {
    std::mutex mu;
    std::set<std::string> seen;
  };
  auto accepted = std::make_shared<Accepted>();
  cluster_->reactors().Prepend(
      "deletecollection", "jobs", [accepted](const fake::RequestInfo&, const fake::HttpRequest& r) {
        std::lock_guard<std::mutex> l(accepted->mu);
        accepted->seen.insert(r.headers.count("accept") ? r.headers.at("accept") : "");
        return std::optional<fake::HttpResponse>();
      });
  // A Job of another run that matches no name: it stays.
  auto other =
      cluster_->Handle({"POST",
                        "/apis/batch/v1/namespaces/default/jobs",
                        {{"content-type", "application/json"}},
                        R"({"metadata": {"name": "other", "labels": {"portflow.dev/job": "other"}},
           "spec": {"suspend": true, "template": {"spec": {"restartPolicy": "Never",
           "containers": [{"name": "c", "image": "x"}]}}}})"});
  ASSERT_EQ(other.status, 201) << other.body;
  // Two waves, each ended before the next starts (two batches at least).
  for (int wave = 0; wave < 2; ++wave) {
    std::vector<TaskSpec> tasks;
    for (int i = 0; i < 3; ++i) {
      tasks.push_back(Spec("w" + std::to_string(wave) + "t" + std::to_string(i), 100));
      ASSERT_TRUE(backend_->Submit(tasks.back()).ok());
    }
    for (const TaskSpec& t : tasks) ASSERT_TRUE(events_.WaitTerminal(t.Key()).has_value());
    (void)backend_->FinishRun("pending");
  }
  const std::string collection = "DELETE /apis/batch/v1/namespaces/*/jobs";
  const std::string one = "DELETE /apis/batch/v1/namespaces/*/jobs/*";
  if (refused) {
    EXPECT_EQ(Calls(collection), 1);  // refused once, not asked again
    EXPECT_EQ(Calls(one), 6);
  } else {
    EXPECT_GE(Calls(collection), 2);
    EXPECT_LE(Calls(collection), 4);  // the ends come within a moment of each other
    EXPECT_EQ(Calls(one), 0);         // the names read from metadata-only answers
  }
  {
    std::lock_guard<std::mutex> l(accepted->mu);
    EXPECT_EQ(accepted->seen, std::set<std::string>{k8s::kAcceptMetadataList});
  }
  // Deleted with their pods: only the other run's Job is left.
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (Jobs().size() != 1 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_EQ(Jobs().size(), 1u) << Jobs().dump();
  EXPECT_EQ(Jobs()[0]["metadata"]["name"], "other");
}

INSTANTIATE_TEST_SUITE_P(Both, JobDeletionTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& p) {
                           return p.param ? "CollectionRefused" : "Collection";
                         });

// The log of a pod that has ended before its copy starts (here: while no
// portflow ran) is read whole with one call, not followed: a stream takes
// a connection of its own.
TEST_F(KubernetesBackendTest, TheLogOfAnEndedPodIsReadWholeNotFollowed) {
  TaskSpec t = Spec("ended", 100);
  auto h = backend_->Submit(t);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  backend_.reset();
  std::mutex mu;
  std::vector<std::string> log_calls;
  cluster_->reactors().Prepend("get", "pods",
                               [&](const fake::RequestInfo& info, const fake::HttpRequest& r) {
                                 if (info.subresource == "log") {
                                   std::lock_guard<std::mutex> l(mu);
                                   log_calls.push_back(r.target);
                                 }
                                 return std::optional<fake::HttpResponse>();
                               });
  auto phase = [&] {
    json pods = json::parse(
        cluster_->Handle({"GET", "/api/v1/namespaces/default/pods", {}, ""}).body)["items"];
    return pods.empty() ? "" : pods[0]["status"].value("phase", "");
  };
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (phase() != "Succeeded" && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_EQ(phase(), "Succeeded");
  NewBackend();
  ASSERT_TRUE(backend_->Recover(t.run_id, {*h}).ok());
  auto end = events_.WaitTerminal(t.Key());
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->state, TaskState::kSucceeded);
  {
    std::lock_guard<std::mutex> l(mu);  // (the reactor takes it: not held past here)
    ASSERT_EQ(log_calls.size(), 1u);
    EXPECT_THAT(log_calls[0], ::testing::Not(HasSubstr("follow=true")));
  }
  // The whole log, as the cluster has it.
  json pods = json::parse(
      cluster_->Handle({"GET", "/api/v1/namespaces/default/pods", {}, ""}).body)["items"];
  ASSERT_EQ(pods.size(), 1u);
  std::string log = cluster_
                        ->Handle({"GET",
                                  "/api/v1/namespaces/default/pods/" +
                                      pods[0]["metadata"]["name"].get<std::string>() + "/log",
                                  {},
                                  ""})
                        .body;
  EXPECT_FALSE(log.empty());
  std::ifstream file(LogPath(run_dir_, t.instance, t.attempt, 0), std::ios::binary);
  std::string saved((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  EXPECT_EQ(saved, log);
}

}  // namespace
}  // namespace portflow
