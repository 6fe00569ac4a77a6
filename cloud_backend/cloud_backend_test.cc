// The cloud backend over a fake cloud in simulate mode: nodes added for
// waiting pods and given back, the budget, stockouts, the quota, spot
// interruptions, resumes and API faults, and the run's cost against the
// fake cloud's bill. The scenarios (CloudBackendTest.*/RealTime and
// /VirtualTime) run twice: in real time with short delays and the cluster
// over HTTPS, and in virtual time (one FakeClock for the fake cloud, its
// cluster reached in process, and the backend) with every delay 60 times
// longer: nodes 18 s away, pods of a minute, a two-minute spot notice.
#include "cloud_backend/cloud_backend.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <nlohmann/json.hpp>
#include <thread>

#include "cloud_backend/cloud_backend_internal.h"
#include "cloud_backend/fake_cloud/fake_cloud.h"
#include "core/testing/event_recorder.h"
#include "k8s_backend/fake_cluster/fake_transport.h"
#include "k8s_backend/kubernetes_backend.h"
#include "tests/testing/cli_runner.h"

namespace portflow {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;

// The AWS provider, with one more spot warning in the first read of the
// queue after Arm(): for an instance whose node has not joined yet, warned
// when armed (in virtual time the first read may come much later).
class EarlyWarning : public cloud::Provider {
 public:
  EarlyWarning(std::unique_ptr<cloud::Provider> inner, std::string instance, Clock& clock)
      : inner_(std::move(inner)), instance_(std::move(instance)), clock_(clock) {}
  Result<cloud::NodeGroupState> Group(const std::string& name) override {
    return inner_->Group(name);
  }
  Result<TimePoint> Resize(const std::string& group, int desired, TimePoint now) override {
    return inner_->Resize(group, desired, now);
  }
  Result<std::vector<cloud::SpotWarning>> Interruptions() override {
    auto got = inner_->Interruptions();
    if (got.ok() && armed.exchange(false)) got->push_back({instance_, warned_at_});
    return got;
  }
  int64_t calls() const override { return inner_->calls(); }
  void Arm() {
    warned_at_ = clock_.Now();
    armed = true;
  }
  std::atomic<bool> armed{false};  // until the warning is read

 private:
  TimePoint warned_at_;  // set before `armed`
  std::unique_ptr<cloud::Provider> inner_;
  std::string instance_;
  Clock& clock_;
};

class CloudBackendFixture : public ::testing::Test {
 protected:
  // `d` as this test's time runs: 60 times longer in virtual time.
  Duration T(Duration d) const { return virtual_ ? d * 60 : d; }
  Clock& clock() { return virtual_ ? static_cast<Clock&>(fake_clock_) : RealClock(); }

  // A backend over a fresh fake cloud whose nodes join after
  // T(provisioning) and whose pods run for T(pod_duration).
  void Make(CloudTarget target, Duration pod_duration = 1s, Duration provisioning = 300ms) {
    provisioning_ = T(provisioning);
    fake_cloud::FakeCloudOptions f;
    if (virtual_) f.clock = &fake_clock_;
    if (target.autoscaler == CloudTarget::Autoscaler::kCluster)
      f.autoscaler = fake_cloud::AutoscalerOptions{T(100ms), T(1s)};  // the cluster has its own
    f.provisioning = provisioning_;
    f.spot_notice = T(2s);
    f.kubelet.default_duration = T(pod_duration);
    f.groups = groups_;
    f.catalog = catalog_;
    cloud_ = std::move(fake_cloud::FakeCloud::Make(f).value());
    ASSERT_TRUE(cloud_->Serve(0).ok());
    backend_ = NewBackend(std::move(target));
  }
  // A backend (as a new portflow makes one) over the fake cloud.
  std::unique_ptr<CloudBackend> NewBackend(CloudTarget target) {
    KubernetesBackendOptions k;
    k.target.namespace_name = "default";
    k.target.image = "busybox";
    CloudBackendOptions o;
    if (virtual_) {
      auto in_process = [this](const k8s::ClusterAccess&) {
        return fake::MakeFakeClusterTransport(cloud_->cluster());
      };
      k.target.ship_code = false;
      k.access = k8s::ClusterAccess{};
      k.access->server = "in-process";
      k.clock = &fake_clock_;
      k.transport = in_process;
      o.transport = in_process;
      o.clock = &fake_clock_;
    } else {
      k.access = fake::ServedAccess(cloud_->cluster());
    }
    o.access = *k.access;
    o.provider = cloud::NewAwsProvider(
        std::make_unique<aws::Client>(
            cloud_->url(), "us-east-1",
            aws::Credentials{cloud_->options().access_key_id, cloud_->options().secret_access_key,
                             "", "the test's keys"},
            clock()),
        "burst", "portflow-interruptions");
    if (wrap_provider_) o.provider = wrap_provider_(std::move(o.provider));
    o.inner = NewKubernetesBackend(std::move(k));
    target.cluster = "burst";
    target.provisioning = provisioning_;
    o.target = std::move(target);
    o.tick = T(50ms);
    auto backend = std::make_unique<CloudBackend>(std::move(o));
    backend->SetEventSink(&events_);
    return backend;
  }
  void TearDown() override {
    backend_.reset();
    cloud_.reset();
  }
  TaskSpec Spec(const std::string& instance, int64_t milli_cpu) {
    TaskSpec t;
    t.run_id = "run-1";
    t.step = t.instance = instance;
    t.argv = {"true"};
    t.workdir = dir_.path();
    t.run_dir = dir_.path();
    t.resources = {milli_cpu, int64_t{1} << 30, 0};
    return t;
  }
  // The node `t`'s pod was placed on ("" while it waits).
  std::string NodeOf(const TaskSpec& t) {
    auto pods = cloud_->cluster().Handle(
        {"GET",
         "/api/v1/namespaces/default/pods?labelSelector=portflow.dev%2Fattempt%3D" +
             std::to_string(t.attempt),
         {},
         ""});
    nlohmann::json list = nlohmann::json::parse(pods.body);
    for (const auto& p : list["items"]) return p["spec"].value("nodeName", "");
    return "";
  }
  std::string GroupOfNode(const std::string& node) {
    auto n = cloud_->cluster().Handle({"GET", "/api/v1/nodes/" + node, {}, ""});
    return nlohmann::json::parse(n.body)["metadata"]["labels"].value("eks.amazonaws.com/nodegroup",
                                                                     "");
  }
  int Desired(const std::string& group) {
    std::lock_guard<std::mutex> l(cloud_->lock());
    return cloud_->ec2().Group(group)->desired_size;
  }
  // The reasons `key` was said to wait for, in order.
  std::string Reasons(const std::string& key) {
    std::string out;
    for (const TaskEvent& e : events_.events()) {
      if (e.key == key && e.state == TaskState::kPending && !e.reason.empty() &&
          e.reason != "Submitted")
        out += (out.empty() ? "" : " ") + e.reason;
    }
    return out;
  }

  // `end` ends its attempt by the spot interruption of `node` (group cpu-spot).
  static void ExpectPreempted(const std::optional<TaskEvent>& end, const std::string& node) {
    ASSERT_TRUE(end.has_value());
    ASSERT_TRUE(end->result.has_value());
    EXPECT_EQ(end->result->reason, "Preempted") << end->result->message;
    EXPECT_THAT(end->result->message,
                HasSubstr("spot interruption of node " + node + " (group cpu-spot)"));
  }

  bool virtual_ = false;
  FakeClock fake_clock_;
  Duration provisioning_{};
  std::vector<fake_cloud::GroupConfig> groups_;  // the fake cloud's own when empty
  // Put between the backend and the AWS provider, when set.
  std::function<std::unique_ptr<cloud::Provider>(std::unique_ptr<cloud::Provider>)> wrap_provider_;
  // The next backend's provider warns of `instance` early (`early_`, once made).
  void WarnEarly(const std::string& instance) {
    wrap_provider_ = [this, instance](std::unique_ptr<cloud::Provider> aws) {
      auto p = std::make_unique<EarlyWarning>(std::move(aws), instance, clock());
      early_ = p.get();
      return p;
    };
  }
  EarlyWarning* early_ = nullptr;
  std::shared_ptr<const cloud::Catalog> catalog_;  // the fake cloud's; the shipped one when null
  testing::TempDir dir_;
  std::unique_ptr<fake_cloud::FakeCloud> cloud_;
  std::unique_ptr<CloudBackend> backend_;
  testing::EventRecorder events_;
};

// The scenarios, in real time and in virtual time.
class CloudBackendTest : public CloudBackendFixture, public ::testing::WithParamInterface<bool> {
 protected:
  void SetUp() override { virtual_ = GetParam(); }
};
INSTANTIATE_TEST_SUITE_P(, CloudBackendTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& p) {
                           return p.param ? "VirtualTime" : "RealTime";
                         });

// What only one kind of time can show. In virtual time every thread that
// waits moves the shared FakeClock to its own deadline at once, so while
// the backend's loop is busy the cluster may run minutes ahead: scenarios
// whose outcome depends on a look coming within its tick (a quota's failed
// launch given back before the quota frees, a spot replacement lowered
// before the warned node goes, which pod waits for the budget, an attempt
// seen on its node by a look) run in real time only.
using CloudBackendRealTime = CloudBackendFixture;
class CloudBackendVirtualTime : public CloudBackendFixture {
 protected:
  void SetUp() override { virtual_ = true; }
};

TEST_P(CloudBackendTest, AddsANodeForAWaitingPodAndGivesItBackWhenIdle) {
  CloudTarget t;
  t.node_groups = {"cpu-spot", "cpu-ondemand"};
  t.scale_down_after = T(1s);
  Make(t);
  Placement p = backend_->Place({{1000, int64_t{1} << 30, 0}, 1, {}});
  EXPECT_TRUE(p.can_start_now) << p.why;
  EXPECT_TRUE(p.elastic);
  EXPECT_EQ(p.estimated_wait, std::optional<Duration>(T(300ms))) << "no node yet";
  EXPECT_DOUBLE_EQ(p.hourly_price.value_or(0), 0.0255) << "a spot c5.large";
  EXPECT_FALSE(backend_->Place({{3000, 0, 0}, 1, {}}).can_ever_fit) << "no type has 3 cpus";

  TaskSpec a = Spec("a", 1000);
  auto submitted_at = clock().Now();
  auto submitted = backend_->Submit(a);
  ASSERT_TRUE(submitted.ok()) << submitted.status().ToString();
  auto end = events_.WaitTerminal(a.Key());
  double hours_since_submit =
      std::chrono::duration<double>(clock().Now() - submitted_at).count() / 3600;
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->state, TaskState::kSucceeded);
  EXPECT_THAT(Reasons(a.Key()), HasSubstr("Provisioning"));
  // Half a c5.large (its cpu) for the time its pod was on the node: more
  // than nothing, and never more than half the node for all the time since
  // Submit (the whole node's price would pass it: the pod's second on the
  // node is most of that time).
  ASSERT_TRUE(end->result.has_value() && end->result->cost.has_value());
  EXPECT_GT(*end->result->cost, 0);
  EXPECT_LE(*end->result->cost, 0.0255 / 2 * hours_since_submit);
  EXPECT_EQ(Desired("cpu-ondemand"), 0);
  // Idle for scaleDownAfter, and that long after it grew: given back.
  EXPECT_TRUE(testing::WaitFor([&] { return Desired("cpu-spot") == 0; }, 10s));
  // What it spent so far (a hybrid target's budget reads it) bills the
  // node it added up to now, or to its end once that is seen: never less
  // than the run's cost says at its end.
  std::optional<double> so_far = backend_->CostSoFar();
  auto cost = backend_->FinishRun("run-1");
  ASSERT_TRUE(cost.has_value());
  ASSERT_TRUE(so_far.has_value());
  EXPECT_GT(*so_far, 0);
  EXPECT_GE(*so_far + 1e-9, cost->usd);
  EXPECT_EQ(cost->nodes, 1);
  EXPECT_THAT(cost->detail, HasSubstr("1 c5.large (spot) for "));
  auto bill = nlohmann::json::parse(cloud_->Bill());
  ASSERT_EQ(bill["instances"].size(), 1u) << "one spot node was added for it";
  EXPECT_EQ(bill["instances"][0]["nodeGroup"], "cpu-spot");
  EXPECT_NEAR(cost->usd, bill["cost"].get<double>(), 0.00001);
  // It went only after scaleDownAfter idle. The attempt's end is heard
  // through a watch, up to a look or two after the look that saw its node
  // idle; hence the two looks' slack. (In real time only: in virtual time
  // it may be heard well after its pod ended.)
  double ended = bill["instances"][0]["end"].get<double>();
  double idle = ended - std::chrono::duration<double>(end->time.time_since_epoch()).count();
  if (!virtual_) {
    EXPECT_GE(idle, std::chrono::duration<double>(T(1s) - 2 * T(50ms)).count());
  }
}

TEST_F(CloudBackendRealTime, TheBudgetHoldsBackANodeThatWouldPassIt) {
  CloudTarget t;
  t.node_groups = {"cpu-spot"};
  t.max_hourly_cost = 0.03;  // one c5.large spot (0.0255), not two
  Make(t);
  TaskSpec a = Spec("a", 2000), b = Spec("b", 2000);  // a node each
  auto submitted = backend_->Submit(a);
  ASSERT_TRUE(submitted.ok()) << submitted.status().ToString();
  // With a's node on its way, placing b waits for the budget, by name.
  ASSERT_TRUE(testing::WaitFor([&] { return Desired("cpu-spot") == 1; }, 10s));
  Placement p = backend_->Place({{2000, int64_t{1} << 30, 0}, 1, {}});
  EXPECT_FALSE(p.can_start_now);
  EXPECT_TRUE(p.can_ever_fit);
  EXPECT_EQ(p.reason, "Budget");
  EXPECT_THAT(p.why, HasSubstr("would pass maxHourlyCost $0.0300"));
  ASSERT_TRUE(backend_->Submit(b).ok());
  ASSERT_TRUE(events_.WaitTerminal(a.Key()).has_value());
  ASSERT_TRUE(events_.WaitTerminal(b.Key()).has_value());
  std::string waits = Reasons(a.Key()) + " " + Reasons(b.Key());
  EXPECT_THAT(waits, HasSubstr("Budget")) << "one waited for the budget";
  EXPECT_EQ(backend_->FinishRun("run-1")->nodes, 1) << "never two nodes at once";
  std::lock_guard<std::mutex> l(cloud_->lock());
  EXPECT_EQ(cloud_->ec2().Instances().size(), 1u);
}

// Two groups that would grow in the same look are held to the budget
// together: a CPU and a GPU pod whose nodes cost more than maxHourlyCost
// together run one after the other.
TEST_F(CloudBackendRealTime, TheBudgetHoldsAcrossGroupsInOneLook) {
  CloudTarget t;
  t.node_groups = {"cpu-spot", "gpu-spot"};
  t.max_hourly_cost = 0.31;  // a c5.large (0.0255) or a g5.xlarge (0.3018) spot, not both
  t.scale_down_after = 1s;
  Make(t);
  // Both pods wait in the same look: the loop is held in a throttled call
  // (its retries back off for over a second) while they are submitted.
  ASSERT_TRUE(backend_->Probe().reachable.ok());
  std::this_thread::sleep_for(200ms);
  ASSERT_TRUE(cloud_->InjectFaults(R"({"apiErrors": {"count": 3}})").ok());
  std::this_thread::sleep_for(150ms);
  TaskSpec cpu = Spec("cpu", 1000), gpu = Spec("gpu", 1000);
  gpu.resources.gpus = 1;
  ASSERT_TRUE(backend_->Submit(cpu).ok());
  ASSERT_TRUE(backend_->Submit(gpu).ok());
  auto end_cpu = events_.WaitTerminal(cpu.Key());
  auto end_gpu = events_.WaitTerminal(gpu.Key());
  ASSERT_TRUE(end_cpu.has_value() && end_gpu.has_value());
  EXPECT_EQ(end_cpu->state, TaskState::kSucceeded);
  EXPECT_EQ(end_gpu->state, TaskState::kSucceeded);
  EXPECT_THAT(Reasons(gpu.Key()), HasSubstr("Budget"));
  (void)backend_->FinishRun("run-1");
  auto bill = nlohmann::json::parse(cloud_->Bill());
  ASSERT_EQ(bill["instances"].size(), 2u);
  EXPECT_GE(bill["instances"][1]["launch"].get<double>(), bill["instances"][0]["end"].get<double>())
      << "never both at once";
}

// A group out of its first type launches its next: the run is billed at
// the price of what was launched, as the bill is.
// A CPU and a GPU pod wait at once: each is told of the node coming for it.
TEST_P(CloudBackendTest, EachWaitingPodIsToldOfItsOwnNode) {
  CloudTarget t;
  t.node_groups = {"cpu-spot", "gpu-ondemand"};
  Make(t);
  TaskSpec cpu = Spec("cpu", 1000), gpu = Spec("gpu", 1000);
  gpu.resources.gpus = 1;
  ASSERT_TRUE(backend_->Submit(cpu).ok());
  // The GPU pod waits while the CPU node may still be on its way.
  ASSERT_TRUE(testing::WaitFor([&] { return Desired("cpu-spot") == 1; }, 10s));
  ASSERT_TRUE(backend_->Submit(gpu).ok());
  ASSERT_TRUE(events_.WaitTerminal(cpu.Key()).has_value());
  ASSERT_TRUE(events_.WaitTerminal(gpu.Key()).has_value());
  auto told = [&](const TaskSpec& t) {
    std::string out;
    for (const TaskEvent& e : events_.events())
      if (e.key == t.Key() && e.reason == "Provisioning") out += e.message + "\n";
    return out;
  };
  EXPECT_THAT(told(cpu), HasSubstr("a node of group cpu-spot"));
  EXPECT_THAT(told(gpu), HasSubstr("a node of group gpu-ondemand"));
  EXPECT_THAT(told(gpu), Not(HasSubstr("cpu-spot")));
}

// A budget below the price of every node that fits: the attempt could
// never start (refused before the run), rather than wait for ever.
TEST_P(CloudBackendTest, ABudgetNoNodeFitsCanNeverStart) {
  CloudTarget t;
  t.node_groups = {"cpu-spot", "cpu-ondemand"};
  t.max_hourly_cost = 0.02;  // below a c5.large spot (0.0255)
  Make(t);
  Placement p = backend_->Place({{1000, int64_t{1} << 30, 0}, 1, {}});
  EXPECT_FALSE(p.can_ever_fit);
  EXPECT_THAT(p.why, HasSubstr("the cheapest node that fits it, a c5.large of group cpu-spot "
                               "($0.0255 an hour), costs more than maxHourlyCost $0.0200"));
}

TEST_P(CloudBackendTest, ANodeOfTheGroupsNextTypeCostsItsOwnPrice) {
  CloudTarget t;
  t.node_groups = {"cpu-spot"};  // c5.large, then m5.large
  Make(t);
  ASSERT_TRUE(cloud_->InjectFaults(R"({"stockout": {"instanceType": "c5.large"}})").ok());
  TaskSpec a = Spec("a", 1000);
  ASSERT_TRUE(backend_->Submit(a).ok());
  auto end = events_.WaitTerminal(a.Key());
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->state, TaskState::kSucceeded);
  auto cost = backend_->FinishRun("run-1");
  auto bill = nlohmann::json::parse(cloud_->Bill());
  ASSERT_EQ(bill["instances"].size(), 1u);
  EXPECT_EQ(bill["instances"][0]["type"], "m5.large");
  EXPECT_THAT(cost->detail, HasSubstr("1 m5.large (spot) for ")) << "named as launched";
  EXPECT_NEAR(cost->usd, bill["cost"].get<double>(), 0.00001);
}

// Each look reads the nodes, then the queue: a warning can name an instance
// whose node joined in between (seen under load: the attempt then ended
// NodeLost once the notice ran out). Such a warning waits for the next
// looks instead of being dropped; and a pod that binds to the warned node
// after a look's list of pods (seen under load, about one run in 30 with
// four at once: the attempt then ran on the doomed node, never preempted)
// is stopped at the next look while the notice runs.
TEST_P(CloudBackendTest, AWarningReadBeforeItsNodeJoinedStillPreempts) {
  WarnEarly("i-00000000000000001");
  CloudTarget t;
  t.node_groups = {"cpu-spot"};
  t.spot_notice = T(10s);  // the backend's wait for the node (the fake cloud ends nothing)
  Make(t, 30s);
  ASSERT_NE(early_, nullptr);
  ASSERT_EQ(Desired("cpu-spot"), 0);  // the warned instance is not launched yet
  early_->Arm();                      // read by a look with no node: it launches, it joins later
  TaskSpec a = Spec("a", 1000);
  ASSERT_TRUE(backend_->Submit(a).ok());
  auto end = events_.WaitTerminal(a.Key(), 15s);
  EXPECT_FALSE(early_->armed) << "the warning was never read";
  ExpectPreempted(end, "i-00000000000000001");
  auto node = cloud_->cluster().Handle({"GET", "/api/v1/nodes/i-00000000000000001", {}, ""});
  EXPECT_NE(node.body.find("\"unschedulable\":true"), std::string::npos) << node.body;
  ASSERT_TRUE(backend_->FinishRun("run-1").has_value());
}

// ... but only while its notice runs: an instance not among the nodes by
// then is gone, or was never this cluster's.
TEST_P(CloudBackendTest, AWarningWhoseNodeJoinsPastItsNoticeIsForgotten) {
  WarnEarly("i-00000000000000001");
  CloudTarget t;
  t.node_groups = {"cpu-spot"};
  t.spot_notice = T(100ms);
  // Warned before the instance is launched, which takes T(3s) to join: its
  // notice is long over by then, however late (in virtual time) a look is.
  Make(t, 1s, 3s);
  ASSERT_NE(early_, nullptr);
  early_->Arm();
  TaskSpec a = Spec("a", 1000);
  ASSERT_TRUE(backend_->Submit(a).ok());
  auto end = events_.WaitTerminal(a.Key(), 15s);
  ASSERT_TRUE(end.has_value());
  EXPECT_FALSE(early_->armed) << "the warning was never read";
  EXPECT_EQ(end->state, TaskState::kSucceeded)
      << (end->result ? end->result->reason + ": " + end->result->message : "");
  ASSERT_TRUE(backend_->FinishRun("run-1").has_value());
}

// A pod that the look reading a warning did not list on the warned node
// (under load it binds between the look's list of pods and the cordon) is
// stopped at the next look while the notice runs. Here the looks' lists of
// pods are made to miss it until a look has read the warning.
TEST_P(CloudBackendTest, APodTheWarningsLookMissedIsPreemptedAtTheNext) {
  CloudTarget t;
  t.node_groups = {"cpu-spot"};
  t.spot_notice = T(2s);  // as the fake cloud's
  // While the looks see no pod the node looks idle: it must not be let go.
  t.scale_down_after = T(1h);
  Make(t, 30s);
  TaskSpec a = Spec("a", 1000);
  ASSERT_TRUE(backend_->Submit(a).ok());
  ASSERT_TRUE(testing::WaitFor([&] { return !NodeOf(a).empty(); }, 10s));
  const std::string node = NodeOf(a);
  // Shared with the reactor, which the cluster keeps after this test's
  // body (the backend may look again before TearDown ends it).
  struct Hider {
    std::atomic<bool> hiding{true};
    std::atomic<int> hidden{0};
  };
  auto hider = std::make_shared<Hider>();
  fake::FakeCluster* cluster = &cloud_->cluster();  // holds the reactor, so outlives it
  cluster->reactors().Prepend(
      "list", "pods",
      [hider, cluster, node](const fake::RequestInfo&,
                             const fake::HttpRequest& r) -> std::optional<fake::HttpResponse> {
        // Only the looks' list of every pod (by phase), not the watches'.
        if (!hider->hiding || r.target.find("fieldSelector=status.phase") == std::string::npos)
          return std::nullopt;
        auto n = cluster->store().Peek(*fake::FindKind("", "nodes"), "", node);
        if (!n || (*n)["spec"].value("unschedulable", false)) {
          hider->hiding = false;  // the look after the one that read the warning sees the pod
          return std::nullopt;
        }
        ++hider->hidden;
        return fake::HttpResponse{
            200, "application/json",
            R"({"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":[]})",
            nullptr};
      });
  // Warned once a look has started since (its list hidden): the look that
  // reads the warning cannot have listed the pod before.
  ASSERT_TRUE(testing::WaitFor([&] { return hider->hidden > 0; }, 10s));
  ASSERT_TRUE(cloud_->InjectFaults(R"({"interruptSpot": {"nodeGroup": "cpu-spot"}})").ok());
  auto end = events_.WaitTerminal(a.Key(), 20s);
  EXPECT_FALSE(hider->hiding) << "no look saw the pod after the cordon";
  ExpectPreempted(end, node);
  ASSERT_TRUE(backend_->FinishRun("run-1").has_value());
}

TEST_P(CloudBackendTest, ASpotInterruptionPreemptsTheAttemptWhichAvoidsThatGroupNext) {
  CloudTarget t;
  t.node_groups = {"cpu-spot", "cpu-ondemand"};
  t.spot_notice = T(2s);  // as the fake cloud's
  Make(t, 30s);
  TaskSpec a = Spec("a", 1000);
  ASSERT_TRUE(backend_->Submit(a).ok());
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        for (const TaskEvent& e : events_.events())
          if (e.key == a.Key() && e.state == TaskState::kRunning) return true;
        return false;
      },
      10s));
  ASSERT_TRUE(cloud_->InjectFaults(R"({"interruptSpot": {"nodeGroup": "cpu-spot"}})").ok());
  auto end = events_.WaitTerminal(a.Key(), 10s);
  ASSERT_NO_FATAL_FAILURE(ExpectPreempted(end, "i-00000000000000001"));
  EXPECT_EQ(end->state, TaskState::kFailed);
  auto node = cloud_->cluster().Handle({"GET", "/api/v1/nodes/i-00000000000000001", {}, ""});
  // Cordoned (in virtual time its notice may have run out already: gone).
  EXPECT_TRUE(node.status == 404 || node.body.find("\"unschedulable\":true") != std::string::npos)
      << node.body;

  // Placed again (as the engine does, attempt 2): not in the spot group,
  // though its replacement node joins it with room.
  TaskSpec again = a;
  again.attempt = 2;
  ASSERT_TRUE(backend_->Submit(again).ok());
  EXPECT_TRUE(testing::WaitFor([&] { return Desired("cpu-ondemand") == 1; }, 10s));
  ASSERT_TRUE(testing::WaitFor([&] { return !NodeOf(again).empty(); }, 10s));
  EXPECT_EQ(GroupOfNode(NodeOf(again)), "cpu-ondemand");
  // An attempt after that may go anywhere: to the emptiest node, the spot
  // replacement (the on-demand node holds attempt 2).
  TaskSpec third = a;
  third.attempt = 3;
  ASSERT_TRUE(backend_->Submit(third).ok());
  ASSERT_TRUE(testing::WaitFor([&] { return !NodeOf(third).empty(); }, 10s));
  EXPECT_EQ(GroupOfNode(NodeOf(third)), "cpu-spot");
  for (const TaskSpec& t : {again, third}) {
    ASSERT_TRUE(backend_->Cancel(*backend_->Submit(t), true).ok());
    ASSERT_TRUE(events_.WaitTerminal(t.Key()).has_value());
  }
  // The run pays for the warned node until its notice runs out, its
  // replacement and the on-demand node: what the bill says once all ended.
  auto cost = backend_->FinishRun("run-1");
  ASSERT_TRUE(cost.has_value());
  EXPECT_EQ(cost->nodes, 3);
  SleepFor(clock(), T(2s));  // the notice runs out
  auto bill = nlohmann::json::parse(cloud_->Bill());
  EXPECT_EQ(bill["instances"].size(), 3u);
  for (const auto& i : bill["instances"]) EXPECT_FALSE(i["end"].is_null()) << i.dump();
  EXPECT_NEAR(cost->usd, bill["cost"].get<double>(), 0.0001);
}

// maxHourlyCost allows one spot node: the replacement its group launches
// when it is warned would make two, so the group is lowered at the look
// that reads the warning, and the replacement ends long before the warned
// node does.
TEST_F(CloudBackendRealTime, ASpotReplacementPastTheBudgetIsGivenBack) {
  CloudTarget t;
  t.node_groups = {"cpu-spot"};
  t.max_hourly_cost = 0.03;  // one c5.large spot (0.0255), not two
  t.spot_notice = T(2s);
  Make(t, 30s);
  backend_->StartRun("run-1", dir_.path() + "/run");
  TaskSpec a = Spec("a", 1000);
  ASSERT_TRUE(backend_->Submit(a).ok());
  ASSERT_TRUE(testing::WaitFor([&] { return !NodeOf(a).empty(); }, 10s));
  ASSERT_TRUE(cloud_->InjectFaults(R"({"interruptSpot": {"nodeGroup": "cpu-spot"}})").ok());
  auto end = events_.WaitTerminal(a.Key(), 10s);
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->result->reason, "Preempted");
  EXPECT_TRUE(testing::WaitFor([&] { return Desired("cpu-spot") == 0; }, 10s));
  auto cost = backend_->FinishRun("run-1");
  SleepFor(clock(), T(2s));  // the warned node's notice runs out
  auto bill = nlohmann::json::parse(cloud_->Bill());
  ASSERT_EQ(bill["instances"].size(), 2u) << bill.dump();
  const auto& warned = bill["instances"][0];
  const auto& replacement = bill["instances"][1];
  EXPECT_LT(replacement["end"].get<double>(), warned["end"].get<double>())
      << "the replacement went before the warned node";
  EXPECT_LT(replacement["end"].get<double>() - replacement["launch"].get<double>(),
            std::chrono::duration<double>(T(2s)).count())
      << "within the warned node's notice";
  EXPECT_NEAR(cost->usd, bill["cost"].get<double>(), 0.0001);
}

TEST_P(CloudBackendTest, ANewBackendForTheResumedRunTakesOverItsNodes) {
  CloudTarget t;
  t.node_groups = {"cpu-ondemand"};
  Make(t);
  backend_->StartRun("run-1", dir_.path() + "/run");
  TaskSpec a = Spec("a", 1000);
  ASSERT_TRUE(backend_->Submit(a).ok());
  ASSERT_TRUE(events_.WaitTerminal(a.Key()).has_value());
  backend_.reset();  // its portflow died: nothing given back
  EXPECT_EQ(Desired("cpu-ondemand"), 1);
  // A ledger entry half written by hand is skipped, not a crash.
  std::string ledger = dir_.path() + "/run/cloud-nodes.json";
  auto saved = nlohmann::json::parse(testing::ReadFile(ledger));
  ASSERT_EQ(saved["nodes"].size(), 1u);
  EXPECT_EQ(saved["nodes"][0]["type"], "m5.large");
  saved["nodes"].push_back({{"group", "cpu-ondemand"}, {"launched", "yesterday"}});
  testing::WriteFile(ledger, saved.dump());
  backend_ = NewBackend(t);
  backend_->StartRun("run-1", dir_.path() + "/run");
  auto cost = backend_->FinishRun("run-1");
  ASSERT_TRUE(cost.has_value());
  EXPECT_EQ(cost->nodes, 1);
  EXPECT_EQ(Desired("cpu-ondemand"), 0) << "given back by the new one";
  auto bill = nlohmann::json::parse(cloud_->Bill());
  EXPECT_NEAR(cost->usd, bill["cost"].get<double>(), 0.00001);
}

// A run cancelled while its node is on the way: EKS takes no new size
// while the group applies the last one, so the end of the run waits for it
// and then gives the node back; none is left up, and the run pays what the
// bill says.
TEST_P(CloudBackendTest, ARunEndedWhileItsNodeComesGivesItBackOnceItHasCome) {
  CloudTarget t;
  t.node_groups = {"cpu-ondemand"};
  // Virtual time runs ahead of this thread's looks: there the node is ten
  // minutes away, so that the test sees it on its way.
  Make(t, 30s, virtual_ ? 10s : 300ms);
  TaskSpec a = Spec("a", 1000);
  auto h = backend_->Submit(a);
  ASSERT_TRUE(h.ok());
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        std::lock_guard<std::mutex> l(cloud_->lock());
        return cloud_->ec2().Updating("cpu-ondemand");
      },
      10s));
  ASSERT_TRUE(backend_->Cancel(*h, true).ok());
  ASSERT_TRUE(events_.WaitTerminal(a.Key()).has_value());
  auto cost = backend_->FinishRun("run-1");
  ASSERT_TRUE(cost.has_value());
  EXPECT_EQ(Desired("cpu-ondemand"), 0) << "given back once the group took a new size";
  auto bill = nlohmann::json::parse(cloud_->Bill());
  ASSERT_EQ(bill["instances"].size(), 1u);
  EXPECT_FALSE(bill["instances"][0]["end"].is_null());
  EXPECT_NEAR(cost->usd, bill["cost"].get<double>(), 0.00001);
}

TEST_P(CloudBackendTest, AStockoutSendsThePodToTheNextGroupThatFits) {
  CloudTarget t;
  t.node_groups = {"cpu-spot", "gpu-ondemand"};
  Make(t);
  // cpu-spot's types (c5.large, then m5.large) are out in every zone.
  ASSERT_TRUE(cloud_->InjectFaults(R"({"stockout": {"instanceType": "c5.large"}})").ok());
  ASSERT_TRUE(cloud_->InjectFaults(R"({"stockout": {"instanceType": "m5.large"}})").ok());
  TaskSpec a = Spec("a", 1000);
  ASSERT_TRUE(backend_->Submit(a).ok());
  auto end = events_.WaitTerminal(a.Key());
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->state, TaskState::kSucceeded);
  EXPECT_EQ(Desired("cpu-spot"), 0) << "what it could not launch was given back";
  EXPECT_EQ(Desired("gpu-ondemand"), 1);
  auto cost = backend_->FinishRun("run-1");
  auto bill = nlohmann::json::parse(cloud_->Bill());
  ASSERT_EQ(bill["instances"].size(), 1u);
  EXPECT_EQ(bill["instances"][0]["type"], "g5.xlarge");
  EXPECT_EQ(cost->nodes, 1) << "the launch that never happened is not billed";
  EXPECT_NEAR(cost->usd, bill["cost"].get<double>(), 0.00001);
}

// The account's vCPU quota allows one 2-vCPU node: the second pod's node
// cannot launch in any group, so what was asked is given back and the pod
// waits, then runs on the first node once that is free. One instance in the
// bill, both attempts run.
TEST_F(CloudBackendRealTime, TheVcpuQuotaKeepsToTheNodesItAllows) {
  CloudTarget t;
  t.node_groups = {"cpu-spot", "cpu-ondemand"};
  Make(t);
  ASSERT_TRUE(cloud_->InjectFaults(R"({"vcpuQuota": 2})").ok());
  TaskSpec a = Spec("a", 1500), b = Spec("b", 1500);  // a node each
  ASSERT_TRUE(backend_->Submit(a).ok());
  ASSERT_TRUE(backend_->Submit(b).ok());
  auto end_a = events_.WaitTerminal(a.Key());
  auto end_b = events_.WaitTerminal(b.Key());
  ASSERT_TRUE(end_a.has_value() && end_b.has_value());
  EXPECT_EQ(end_a->state, TaskState::kSucceeded);
  EXPECT_EQ(end_b->state, TaskState::kSucceeded);
  auto cost = backend_->FinishRun("run-1");
  auto bill = nlohmann::json::parse(cloud_->Bill());
  EXPECT_EQ(bill["instances"].size(), 1u) << "no launch past the quota";
  EXPECT_EQ(cost->nodes, 1);
  EXPECT_NEAR(cost->usd, bill["cost"].get<double>(), 0.00001);
}

// autoscaler: cluster: the cluster's autoscaler adds the node and gives it
// back; portflow never resizes a group, says what the pod waits for, and
// costs the run by its attempts' share of the nodes.
TEST_F(CloudBackendRealTime, WithTheClustersAutoscalerItOnlyReads) {
  CloudTarget t;
  t.node_groups = {"cpu-spot", "cpu-ondemand"};
  t.autoscaler = CloudTarget::Autoscaler::kCluster;
  Make(t);
  Placement p = backend_->Place({{1000, int64_t{1} << 30, 0}, 1, {}});
  EXPECT_TRUE(p.can_start_now) << p.why;
  EXPECT_THAT(p.why, HasSubstr("cluster's autoscaler"));
  EXPECT_FALSE(backend_->Place({{3000, 0, 0}, 1, {}}).can_ever_fit) << "no type has 3 cpus";

  TaskSpec a = Spec("a", 1000);
  ASSERT_TRUE(backend_->Submit(a).ok());
  auto end = events_.WaitTerminal(a.Key());
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->state, TaskState::kSucceeded);
  EXPECT_THAT(Reasons(a.Key()), HasSubstr("Provisioning"));
  bool said = false;
  for (const TaskEvent& e : events_.events())
    said = said || e.message.find("expected from the cluster's autoscaler") != std::string::npos;
  EXPECT_TRUE(said) << "the wait names who adds the node";
  ASSERT_TRUE(end->result.has_value() && end->result->cost.has_value());
  EXPECT_GT(*end->result->cost, 0);
  auto cost = backend_->FinishRun("run-1");
  ASSERT_TRUE(cost.has_value());
  EXPECT_DOUBLE_EQ(cost->usd, *end->result->cost) << "the run's cost is its attempts'";
  EXPECT_EQ(cost->nodes, 1);
  EXPECT_THAT(cost->detail, HasSubstr("the cluster's autoscaler"));
  // The autoscaler gives the idle node back after its unneeded time (1 s).
  EXPECT_TRUE(testing::WaitFor([&] { return Desired("cpu-spot") == 0; }, 10s));
  std::lock_guard<std::mutex> l(cloud_->lock());
  EXPECT_EQ(cloud_->ec2().UpdateCount(), 0u) << "portflow never resized a group";
  EXPECT_EQ(cloud_->autoscaler()->scale_ups(), 1);
  EXPECT_EQ(cloud_->autoscaler()->scale_downs(), 1);
}

// The cloud throttles the first calls: they are tried again with backoff
// and the attempt runs as if nothing happened.
TEST_P(CloudBackendTest, ThrottledCallsAreTriedAgain) {
  CloudTarget t;
  t.node_groups = {"cpu-spot"};
  Make(t);
  ASSERT_TRUE(
      cloud_->InjectFaults(R"({"apiErrors": {"count": 3, "code": "ThrottlingException"}})").ok());
  TaskSpec a = Spec("a", 1000);
  auto submitted = backend_->Submit(a);
  ASSERT_TRUE(submitted.ok()) << submitted.status().ToString();
  auto end = events_.WaitTerminal(a.Key());
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->state, TaskState::kSucceeded) << end->message;
  EXPECT_GE(cloud_->aws_calls(), 4) << "three refused, then answered";
}

// A group's zones come from its subnets (EKS names them, EC2 says where
// they are): it is priced in the first of them, where it launches.
TEST_P(CloudBackendTest, AGroupIsPricedInItsOwnZone) {
  groups_ = {{"cpu-spot", "SPOT", {"c5.large"}, {"us-east-1b"}, 0, 10, 0}};
  std::string catalog = dir_.path() + "/zones.csv";
  testing::WriteFile(catalog,
                     "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,Price,"
                     "SpotPrice,Region,AvailabilityZone\n"
                     "c5.large,,0,2,4,0.085,0.0255,us-east-1,us-east-1a\n"
                     "c5.large,,0,2,4,0.085,0.0301,us-east-1,us-east-1b\n");
  catalog_ = std::make_shared<const cloud::Catalog>(*cloud::Catalog::Load(catalog));
  CloudTarget t;
  t.node_groups = {"cpu-spot"};
  t.catalog = catalog;
  Make(t);
  Placement p = backend_->Place({{1000, int64_t{1} << 30, 0}, 1, {}});
  EXPECT_TRUE(p.can_start_now) << p.why;
  EXPECT_DOUBLE_EQ(p.hourly_price.value_or(0), 0.0301) << "the spot price in us-east-1b";
  // The cloud bills from the same catalog: the run costs what it says.
  TaskSpec a = Spec("a", 1000);
  ASSERT_TRUE(backend_->Submit(a).ok());
  ASSERT_TRUE(events_.WaitTerminal(a.Key()).has_value());
  auto cost = backend_->FinishRun("run-1");
  auto bill = nlohmann::json::parse(cloud_->Bill());
  ASSERT_EQ(bill["instances"].size(), 1u);
  EXPECT_EQ(bill["instances"][0]["zone"], "us-east-1b");
  EXPECT_NEAR(cost->usd, bill["cost"].get<double>(), 0.00001);
  const auto& node = bill["instances"][0];
  double hours = std::max(60.0, node["end"].get<double>() - node["launch"].get<double>()) / 3600;
  EXPECT_NEAR(node["cost"].get<double>(), hours * 0.0301, 1e-9) << "at us-east-1b's price";
}

TEST_P(CloudBackendTest, ANodeGroupTheCloudDoesNotHaveIsNamed) {
  CloudTarget t;
  t.node_groups = {"cpu-spot", "tpu-pod"};
  Make(t);
  Backend::Availability a = backend_->Probe();
  EXPECT_FALSE(a.reachable.ok());
  EXPECT_THAT(a.reachable.message(), HasSubstr("node group tpu-pod of cluster burst"));
  EXPECT_THAT(backend_->Submit(Spec("a", 100)).status().message(), HasSubstr("tpu-pod"));
}

// In virtual time: one FakeClock for the fake cloud, its cluster (reached
// in process) and the backend, moved on by whichever waits. Thirty attempts
// of a minute each, from no node, with nodes a minute away: hours of cloud
// time in seconds, every attempt run, the run's cost the bill's to the cent.
TEST_F(CloudBackendVirtualTime, ASweepFromNoNodesTakesSecondsAndCostsWhatTheBillSays) {
  CloudTarget t;
  t.node_groups = {"cpu-spot", "cpu-ondemand"};
  Make(t, 1s, 1s);  // a minute each
  TimePoint start = clock().Now();
  auto wall = std::chrono::steady_clock::now();
  const ResourceRequest need{1000, int64_t{1} << 30, 0};
  std::vector<std::string> keys;
  size_t done = 0;
  while (done < 30) {
    while (keys.size() < 30 && backend_->Place({need, 1, {}}).can_start_now) {
      TaskSpec a = Spec("s[" + std::to_string(keys.size()) + "]", need.milli_cpu);
      ASSERT_TRUE(backend_->Submit(a).ok());
      keys.push_back(a.Key());
    }
    ASSERT_LT(done, keys.size()) << backend_->Place({need, 1, {}}).why;
    auto end = events_.WaitTerminal(keys[done]);
    ASSERT_TRUE(end.has_value()) << keys[done] << " did not end";
    EXPECT_EQ(end->state, TaskState::kSucceeded) << end->message;
    ++done;
  }
  EXPECT_GE(clock().Now() - start, 2min) << "a node's minute, then a pod's";
  EXPECT_LT(std::chrono::steady_clock::now() - wall, 60s);
  auto cost = backend_->FinishRun("run-1");
  ASSERT_TRUE(cost.has_value());
  EXPECT_GT(cost->nodes, 1);
  EXPECT_NEAR(cost->usd, nlohmann::json::parse(cloud_->Bill())["cost"].get<double>(), 0.00001);
}

// A cloud target whose kubeconfig cannot be read says so at its first
// call, not what reading the cluster without it then meets.
TEST(CloudTargetTest, AKubeconfigThatCannotBeReadIsNamed) {
  RegisterCloudBackends();
  ::setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE", 1);
  ::setenv("AWS_SECRET_ACCESS_KEY", "not-a-real-secret", 1);
  auto backend = CreateBackend("cloud", {{"backend", "cloud"},
                                         {"cluster", "burst"},
                                         {"nodeGroups", "[cpu-spot]"},
                                         {"endpoint", "http://127.0.0.1:9"},
                                         {"kubeconfig", "/nonexistent/kubeconfig"}});
  ::unsetenv("AWS_ACCESS_KEY_ID");
  ::unsetenv("AWS_SECRET_ACCESS_KEY");
  ASSERT_TRUE(backend.ok()) << backend.status().ToString();
  testing::EventRecorder events;
  (*backend)->SetEventSink(&events);
  TaskSpec t;
  t.run_id = "r";
  t.step = t.instance = "a";
  t.argv = {"true"};
  auto submitted = (*backend)->Submit(t);
  EXPECT_FALSE(submitted.ok());
  EXPECT_THAT(submitted.status().message(), HasSubstr("/nonexistent/kubeconfig"));
  (*backend)->SetEventSink(nullptr);
}

TEST(CloudTargetTest, SettingsAreReadAndMistakesNamed) {
  auto t = ParseCloudTarget({{"backend", "cloud"},
                             {"cluster", "burst"},
                             {"nodeGroups", "[a, b]"},
                             {"spot", "never"},
                             {"maxHourlyCost", "20USD"},
                             {"scaleDownAfter", "5m"},
                             {"spotNotice", "30s"},
                             {"preemptions", "1"},
                             {"context", "burst"},
                             {"namespace", "ml"}});
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->node_groups, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(t->spot, cloud::SpotPolicy::kNever);
  EXPECT_DOUBLE_EQ(t->max_hourly_cost.value_or(0), 20);
  EXPECT_EQ(t->scale_down_after, std::chrono::minutes(5));
  EXPECT_EQ(t->spot_notice, std::chrono::seconds(30));
  EXPECT_EQ(t->preemptions, 1);
  EXPECT_EQ(t->kubernetes.at("namespace"), "ml");
  auto error = [](std::map<std::string, std::string> s) {
    s.emplace("cluster", "burst");
    s.emplace("nodeGroups", "[a]");
    return ParseCloudTarget(s).status().message();
  };
  EXPECT_THAT(error({{"provider", "gcp"}}), HasSubstr("setting provider: \"gcp\""));
  EXPECT_THAT(error({{"maxHourlyCost", "-1"}}), HasSubstr("setting maxHourlyCost"));
  EXPECT_THAT(error({{"scaleDownAfter", "soon"}}), HasSubstr("setting scaleDownAfter"));
  EXPECT_THAT(error({{"endpoint", "localhost:1"}}), HasSubstr("not an http(s) URL"));
  EXPECT_THAT(error({{"preemptions", "many"}}), HasSubstr("setting preemptions"));
  EXPECT_THAT(error({{"cleanup", "never"}}), HasSubstr("cleanup"));
  EXPECT_THAT(error({{"autoscaler", "karpenter"}}), HasSubstr("setting autoscaler: \"karpenter\""));
  EXPECT_EQ(ParseCloudTarget({{"cluster", "b"}, {"nodeGroups", "[a]"}, {"autoscaler", "cluster"}})
                ->autoscaler,
            CloudTarget::Autoscaler::kCluster);
  EXPECT_THAT(error({{"autoscaler", "cluster"}, {"maxHourlyCost", "5USD"}}),
              HasSubstr("setting maxHourlyCost: with autoscaler: cluster"));
  EXPECT_THAT(error({{"autoscaler", "cluster"}, {"scaleDownAfter", "5m"}}),
              HasSubstr("setting scaleDownAfter: with autoscaler: cluster"));
  EXPECT_THAT(ParseCloudTarget({{"nodeGroups", "[a]"}}).status().message(),
              HasSubstr("setting cluster"));
  EXPECT_THAT(ParseCloudTarget({{"cluster", "b"}}).status().message(),
              HasSubstr("setting nodeGroups"));
}

}  // namespace
}  // namespace portflow
