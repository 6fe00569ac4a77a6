#include "cloud_backend/hybrid/hybrid_backend.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "core/engine.h"
#include "core/run_store.h"
#include "core/spec_loader.h"
#include "core/testing/event_recorder.h"
#include "core/testing/fake_backend.h"

namespace portflow {
namespace {

using testing::FakeBackend;
using ::testing::HasSubstr;
using testing::Outcome;

// A member that keeps outputs where only its cluster sees them, or one
// with a price.
class Apart : public FakeBackend {
 public:
  using FakeBackend::FakeBackend;
  std::string OutputsDir(const std::string&, const std::string&) const override { return ""; }
  std::string ArtifactRoot(const std::string& run, const std::string&) const override {
    return "/outputs/" + run;
  }
  std::string OutputsLocation(const std::string& run, const std::string&) const override {
    return "/outputs/" + run + " on the cluster's volume";
  }
};
class Priced : public FakeBackend {
 public:
  using FakeBackend::FakeBackend;
  std::optional<RunCost> FinishRun(const std::string&) override {
    return RunCost{1.25, 2, "2 c5.large for 10m"};
  }
};

ResourceRequest Cpus(int n) { return {n * 1000LL, 1LL << 20, 0}; }

// The clock and the hybrid backend under test, in that order (the clock
// outlives what it calls).
class HybridFixture : public ::testing::Test {
 protected:
  FakeClock clock_;
  std::unique_ptr<Backend> hybrid_;
  // Backends replaced in a test: kept to its end, as the clock still calls
  // their members.
  std::vector<std::unique_ptr<Backend>> retired_;
  void Replace(std::unique_ptr<Backend> next) {
    if (hybrid_) retired_.push_back(std::move(hybrid_));
    hybrid_ = std::move(next);
  }
};

class HybridBackendTest : public HybridFixture {
 protected:
  // Members "small" (one CPU) and "big" (four), in that order.
  void SetUp() override { Make(std::make_unique<FakeBackend>(clock_, Cpus(1))); }

  void Make(std::unique_ptr<FakeBackend> small_one) {
    small_ = small_one.get();
    auto big = std::make_unique<FakeBackend>(clock_, Cpus(4));
    big_ = big.get();
    std::vector<std::pair<std::string, std::unique_ptr<Backend>>> members;
    members.emplace_back("small", std::move(small_one));
    members.emplace_back("big", std::move(big));
    auto made = MakeHybridBackend({}, std::move(members));
    ASSERT_TRUE(made.ok()) << made.status().ToString();
    Replace(std::move(*made));
    hybrid_->SetEventSink(&events_);
  }

  TaskSpec Spec(const std::string& instance, const std::string& member, int cpus = 1) {
    TaskSpec t;
    t.run_id = "r";
    t.step = t.instance = instance;
    t.attempt = 1;
    t.argv = {"true"};
    t.resources = Cpus(cpus);
    t.member = member;
    return t;
  }

  Placement Place(int cpus) { return hybrid_->Place({Cpus(cpus), 1, {}}); }

  testing::EventRecorder events_;
  FakeBackend* small_ = nullptr;
  FakeBackend* big_ = nullptr;
};

TEST_F(HybridBackendTest, TheFirstMemberThatCanStartItNowTakesIt) {
  Placement p = Place(1);
  EXPECT_TRUE(p.can_start_now);
  EXPECT_EQ(p.member, "small");
  EXPECT_EQ(p.why, "can start it now");
  small_->Script("a", {{TaskState::kSucceeded, 0, std::chrono::seconds(10)}});
  auto h = hybrid_->Submit(Spec("a", "small"));
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->member, "small");
  ASSERT_EQ(small_->submitted().size(), 1u);
  // The small member is full: the next attempt goes to the big one.
  p = Place(1);
  EXPECT_TRUE(p.can_start_now);
  EXPECT_EQ(p.member, "big");
  // Too big for the small member ever: passed over, and said why.
  p = Place(2);
  EXPECT_EQ(p.member, "big");
  EXPECT_THAT(p.why, HasSubstr("can start it now (small: "));
}

// No member can start it now: it waits on the first where it can ever fit,
// submitted there when that member queues (a cluster), else held by the
// engine for it.
TEST_F(HybridBackendTest, WhenNoneCanStartItNowItWaitsOnTheFirstWhereItFits) {
  small_->Script("a", {{TaskState::kSucceeded, 0, std::chrono::seconds(10)}});
  big_->Script("b", {{TaskState::kSucceeded, 0, std::chrono::seconds(10)}});
  ASSERT_TRUE(hybrid_->Submit(Spec("a", "small")).ok());
  ASSERT_TRUE(hybrid_->Submit(Spec("b", "big", 4)).ok());
  Placement p = Place(1);
  EXPECT_FALSE(p.can_start_now) << "the small member runs only what it can start";
  EXPECT_TRUE(p.can_ever_fit);
  EXPECT_EQ(p.member, "small");
  small_->SetQueues(true);
  p = Place(1);
  EXPECT_TRUE(p.can_start_now) << "submitted to the queue of the small member";
  EXPECT_EQ(p.member, "small");
  EXPECT_THAT(p.why, HasSubstr("waits there for room: "));
  EXPECT_THAT(p.why, HasSubstr("(big: "));
  // Two CPUs never fit the small member: it waits on the big one.
  p = Place(2);
  EXPECT_EQ(p.member, "big");
  EXPECT_FALSE(p.can_start_now);
  // Five fit no member.
  p = Place(5);
  EXPECT_FALSE(p.can_ever_fit);
  EXPECT_THAT(p.why, HasSubstr("no member can take it now (small: "));
  EXPECT_THAT(p.why, HasSubstr("; big: "));
}

// A member's own hold (a cloud's Budget) is not a wait for room: the
// attempt is not sent there to wait, and the hold is the reason when no
// member can take it.
TEST_F(HybridBackendTest, AMembersHoldIsNotRoom) {
  small_->SetQueues(true);
  small_->HoldReason("Budget");
  small_->Script("a", {{TaskState::kSucceeded, 0, std::chrono::seconds(10)}});
  big_->Script("b", {{TaskState::kSucceeded, 0, std::chrono::seconds(10)}});
  ASSERT_TRUE(hybrid_->Submit(Spec("a", "small")).ok());
  clock_.Advance(std::chrono::seconds(1));
  ASSERT_TRUE(hybrid_->Submit(Spec("b", "big", 4)).ok());
  Placement p = Place(1);
  EXPECT_EQ(p.member, "big");
  EXPECT_FALSE(p.can_start_now);
  big_->HoldReason("Budget");
  p = Place(1);
  EXPECT_EQ(p.member, "");
  EXPECT_FALSE(p.can_start_now);
  EXPECT_TRUE(p.can_ever_fit);
  EXPECT_EQ(p.reason, "Budget");
}

// Cancel, logs and recovery go to the member an attempt was placed on;
// the members' events all reach the engine.
TEST_F(HybridBackendTest, EachCallGoesToTheAttemptsMember) {
  small_->Script("a", {{TaskState::kSucceeded, 0, std::chrono::seconds(10)}});
  big_->Script("b", {{TaskState::kSucceeded, 0, std::chrono::seconds(20)}});
  auto a = hybrid_->Submit(Spec("a", "small"));
  auto b = hybrid_->Submit(Spec("b", "big"));
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(hybrid_->Cancel(*b, false).ok());
  EXPECT_TRUE(small_->cancelled().empty());
  EXPECT_EQ(big_->cancelled(), std::vector<std::string>{"r/b/1"});
  clock_.Advance(std::chrono::seconds(10));
  auto a_end = events_.WaitTerminal("r/a/1");
  auto b_end = events_.WaitTerminal("r/b/1");
  ASSERT_TRUE(a_end && b_end);
  EXPECT_EQ(a_end->state, TaskState::kSucceeded);
  EXPECT_EQ(b_end->state, TaskState::kCancelled);

  TaskHandle gone{"fake", "r/c/1", "{}", "retired"};
  auto recovered = hybrid_->Recover("r", {*a, *b, gone});
  ASSERT_TRUE(recovered.ok()) << recovered.status().ToString();
  ASSERT_EQ(recovered->size(), 3u);
  ASSERT_EQ(small_->recovered().size(), 1u);
  EXPECT_EQ(small_->recovered()[0].key, "r/a/1");
  ASSERT_EQ(big_->recovered().size(), 1u);
  EXPECT_EQ(big_->recovered()[0].key, "r/b/1");
  for (const RecoveredTask& t : *recovered) {
    EXPECT_EQ(t.state, TaskState::kUnknown) << t.handle.key;
    if (t.handle.key == "r/b/1") {
      EXPECT_EQ(t.handle.member, "big");
    }
  }

  EXPECT_EQ(hybrid_->Cancel(gone, true).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(hybrid_->Submit(Spec("d", "")).status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(hybrid_->Logs(*a, 0, false, [](std::string_view) { return true; }).ok());
  EXPECT_THAT(hybrid_->Logs(gone, 0, false, [](std::string_view) { return true; }).message(),
              HasSubstr("ran on no member of this hybrid target (\"retired\")"));
}

TEST_F(HybridBackendTest, RenderShowsEveryMemberBeforePlacement) {
  auto all = hybrid_->Render(Spec("a", ""));
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(*all, R"({"members":{"big":"r/a/1","small":"r/a/1"}})");
  auto one = hybrid_->Render(Spec("a", "big"));
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(*one, "r/a/1");
  EXPECT_EQ(hybrid_->Capacity().milli_cpu, 5000);
  auto caps = hybrid_->capabilities().unsupported;
  ASSERT_EQ(caps.size(), 2u);
  EXPECT_EQ(caps[0].reason, "member small: the fake runs nothing");
}

TEST_F(HybridBackendTest, TheRunCostsWhatItsPricedMembersCost) {
  EXPECT_FALSE(hybrid_->FinishRun("r").has_value()) << "no member is priced";
  Make(std::make_unique<Priced>(clock_, Cpus(1)));
  auto cost = hybrid_->FinishRun("r");
  ASSERT_TRUE(cost.has_value());
  EXPECT_DOUBLE_EQ(cost->usd, 1.25);
  EXPECT_EQ(cost->nodes, 2);
  EXPECT_EQ(cost->detail, "small: 2 c5.large for 10m");
}

TEST_F(HybridBackendTest, MembersThatKeepOutputsApartNeedAnObjectStore) {
  std::vector<std::pair<std::string, std::unique_ptr<Backend>>> members;
  members.emplace_back("laptop", std::make_unique<FakeBackend>(clock_));
  members.emplace_back("onprem", std::make_unique<Apart>(clock_));
  auto made = MakeHybridBackend({}, std::move(members));
  ASSERT_FALSE(made.ok());
  EXPECT_THAT(made.status().message(),
              HasSubstr("setting members: members laptop and onprem keep outputs in different "
                        "places (/RUN_DIR/outputs; /outputs/RUN_ID on the cluster's volume)"));
  EXPECT_THAT(made.status().message(), HasSubstr("artifacts: s3://BUCKET/PREFIX"));

  // With a store: members on this machine, each with a folder of its own;
  // a member on a cluster runs its pods under the agent.
  HybridTarget stored;
  stored.artifacts = "s3://runs/p";
  std::vector<std::pair<std::string, std::unique_ptr<Backend>>> here;
  here.emplace_back("laptop", std::make_unique<FakeBackend>(clock_));
  here.emplace_back("other", std::make_unique<FakeBackend>(clock_));
  auto both = MakeHybridBackend(stored, std::move(here), clock_);
  ASSERT_TRUE(both.ok()) << both.status().ToString();
  EXPECT_EQ((*both)->ArtifactRootOn("other", "r", "/runs/r"), "/runs/r/members/other/outputs");
  EXPECT_EQ((*both)->OutputsLocation("r", "/runs/r"), "s3://runs/p/r");
  retired_.push_back(std::move(*both));
  std::vector<std::pair<std::string, std::unique_ptr<Backend>>> apart;
  apart.emplace_back("laptop", std::make_unique<FakeBackend>(clock_));
  auto onprem = std::make_unique<Apart>(clock_);
  Apart* cluster = onprem.get();
  apart.emplace_back("onprem", std::move(onprem));
  stored.profile = "team";
  stored.agent_image = "registry.local/portflow:1";
  stored.credentials = {{"AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"}, {"AWS_SECRET_ACCESS_KEY", "s3cr3t"}};
  auto mixed = MakeHybridBackend(stored, std::move(apart), clock_);
  ASSERT_TRUE(mixed.ok()) << mixed.status().ToString();
  Replace(std::move(*mixed));
  hybrid_->SetEventSink(&events_);
  EXPECT_EQ(hybrid_->ArtifactRootOn("onprem", "r", "/runs/r"), "/outputs/r")
      << "the pod's own folder, as on the cluster alone";
  TaskSpec t;
  t.run_id = "r";
  t.step = t.instance = "train";
  t.argv = {"python3", "train.py"};
  t.outputs = {{"model", "/outputs/r/train/model"}};
  t.run_dir = "/runs/r";
  t.member = "onprem";
  auto submitted = hybrid_->Submit(t);
  ASSERT_TRUE(submitted.ok()) << submitted.status().ToString();
  ASSERT_EQ(cluster->submitted().size(), 1u);
  TaskSpec sent = cluster->submitted()[0];
  EXPECT_EQ(sent.argv, t.argv) << "the pod's agent runs it, not this machine's";
  ASSERT_TRUE(sent.store.has_value());
  EXPECT_EQ(sent.store->uri, "s3://runs/p");
  EXPECT_EQ(sent.store->agent_image, "registry.local/portflow:1");
  EXPECT_EQ(sent.store->profile, "") << "no profile in a pod: its Secret has the credentials";
  EXPECT_EQ(sent.store->credentials, stored.credentials);
  EXPECT_TRUE(sent.env.empty()) << "credentials go to the Secret, not to the Job's env";
}

// With no credentials on this machine (none in the environment, no
// shared files) and no profile named, a cluster member's attempts go
// without any: its pods may have a role of their own.
TEST_F(HybridBackendTest, NoCredentialsHereIsNoneForThePods) {
  ::setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials", 1);
  ::setenv("AWS_CONFIG_FILE", "/nonexistent/config", 1);
  for (const char* v : {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"}) ::unsetenv(v);
  HybridTarget target;
  target.artifacts = "s3://runs/p";
  std::vector<std::pair<std::string, std::unique_ptr<Backend>>> members;
  auto onprem = std::make_unique<Apart>(clock_);
  Apart* cluster = onprem.get();
  members.emplace_back("onprem", std::move(onprem));
  auto made = MakeHybridBackend(target, std::move(members), clock_);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  Replace(std::move(*made));
  hybrid_->SetEventSink(&events_);
  TaskSpec t = Spec("train", "onprem");
  auto submitted = hybrid_->Submit(t);
  ::unsetenv("AWS_SHARED_CREDENTIALS_FILE");
  ::unsetenv("AWS_CONFIG_FILE");
  ASSERT_TRUE(submitted.ok()) << submitted.status().ToString();
  ASSERT_EQ(cluster->submitted().size(), 1u);
  ASSERT_TRUE(cluster->submitted()[0].store.has_value());
  EXPECT_TRUE(cluster->submitted()[0].store->credentials.empty());
}

// The engine over a hybrid of "small" (one CPU) and "big" (four, each
// attempt after a minute of provisioning, as a cloud that adds a node),
// burstAfter 5m, in virtual time.
class HybridRunTest : public HybridFixture {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "hybrid_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name() + "_" +
           std::to_string(::getpid());
    std::filesystem::remove_all(dir_);
    store_ = std::move(RunStore::Open(dir_).value());
    auto small = std::make_unique<FakeBackend>(clock_, Cpus(1));
    auto big = std::make_unique<FakeBackend>(clock_, Cpus(4));
    small_ = small.get();
    big_ = big.get();
    big_->SetProvisioning(std::chrono::minutes(1));
    std::vector<std::pair<std::string, std::unique_ptr<Backend>>> members;
    members.emplace_back("small", std::move(small));
    members.emplace_back("big", std::move(big));
    Remake(std::move(members));
    // a runs 10 minutes on the small member; b waits behind it.
    small_->Script("a", {{TaskState::kSucceeded, 0, std::chrono::minutes(10)}});
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::string Run(const std::string& steps, const std::string& id = "run1") {
    LoadResult r = ParseWorkload(
        "apiVersion: portflow.dev/v1\nkind: Workload\nmetadata: {name: h}\nspec:\n"
        "  resources: {cpu: 1, memory: 1Mi}\n  steps:\n" +
            steps,
        "h.yaml", "/src");
    EXPECT_TRUE(r.ok()) << r.diagnostics.ToString();
    plan_ = std::move(*Plan::Build(std::move(*r.workload)));
    RunRecord run{id, "h", "h.yaml", "/src", "[]", "both", "Running", "", dir_ + "/runs/" + id,
                  1,  0,   1};
    if (!store_->GetRun(id).ok()) {
      EXPECT_TRUE(store_->CreateRun(run).ok());
    }
    Engine engine(*plan_, *hybrid_, *store_, clock_, {});
    auto state = engine.Run(run);
    EXPECT_TRUE(state.ok()) << state.status().ToString();
    return state.ok() ? *state : "";
  }

  std::vector<AttemptRecord> Attempts(const std::string& instance) {
    std::vector<AttemptRecord> out;
    auto all = store_->ListAttempts("run1");  // kept: the loop reads into it
    for (const AttemptRecord& a : *all)
      if (a.instance == instance) out.push_back(a);
    return out;
  }
  std::string Events(const std::string& type) {
    std::string out;
    auto all = store_->ListEvents("run1");
    for (const EventRecord& e : *all)
      if (e.type == type)
        out += e.instance + " #" + std::to_string(e.attempt) + " " + e.message + "\n";
    return out;
  }

  // Rebuilds the hybrid over `members` (burstAfter 5m, by default).
  void Remake(std::vector<std::pair<std::string, std::unique_ptr<Backend>>> members,
              const HybridTarget& target = {}) {
    auto made = MakeHybridBackend(target, std::move(members), clock_);
    ASSERT_TRUE(made.ok()) << made.status().ToString();
    Replace(std::move(*made));
  }

  const std::string kTwo = "    - {name: a, command: [x]}\n    - {name: b, command: [x]}\n";
  std::string dir_;
  FakeBackend* small_ = nullptr;
  FakeBackend* big_ = nullptr;
  std::unique_ptr<RunStore> store_;
  std::optional<Plan> plan_;
};

// b waits on the small member's queue (it starts there sooner or later),
// not on the big one that would add a node for it; after burstAfter it is
// withdrawn there and moved, without using a retry, and the move is a
// decision with its reason.
TEST_F(HybridRunTest, AnAttemptThatWaitedPastBurstAfterMoves) {
  small_->SetQueues(true);
  TimePoint start = clock_.Now();
  EXPECT_EQ(Run(kTwo), "Succeeded");
  auto b = Attempts("b");
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(b[0].member, "small");
  EXPECT_EQ(b[0].state, "Cancelled");
  EXPECT_EQ(b[0].reason, "Moved");
  EXPECT_THAT(b[0].message, HasSubstr("waited 5m0s for capacity (Unschedulable: no room: "));
  EXPECT_EQ(b[1].member, "big");
  EXPECT_EQ(b[1].state, "Succeeded");
  EXPECT_EQ(b[1].started_ms - ToUnixMillis(start), 5 * 60 * 1000) << "moved at burstAfter";
  EXPECT_THAT(Events("Moved"), HasSubstr("b #1 small -> big: waited 5m0s for capacity ("));
  EXPECT_THAT(Events("Moved"), HasSubstr("; big: can start it, est. start in 1m0s"));
  EXPECT_THAT(Events("Placed"), HasSubstr("b #2 big: "));
  ASSERT_EQ(big_->submitted().size(), 1u);
  EXPECT_EQ(big_->submitted()[0].attempt, 2);
  EXPECT_EQ(small_->cancelled(), std::vector<std::string>{"run1/b/1 force"});
}

// Sent to a member that foresaw a wait (a node 7 minutes away), it may
// wait that long plus burstAfter there before it moves: its node, 11
// minutes late, comes before that, so it does not move to the other
// member when that frees up (at 10m, when a ends there).
TEST_F(HybridRunTest, AnAttemptMayWaitWhatItsMemberForesaw) {
  auto big = std::make_unique<FakeBackend>(clock_, Cpus(4));
  big->SetProvisioning(std::chrono::minutes(7));
  big->SetStartDelay(std::chrono::minutes(11));
  FakeBackend* late = big.get();
  auto small = std::make_unique<FakeBackend>(clock_, Cpus(1));
  small->SetQueues(true);
  small->Script("a", {{TaskState::kSucceeded, 0, std::chrono::minutes(10)}});
  std::vector<std::pair<std::string, std::unique_ptr<Backend>>> members;
  members.emplace_back("big", std::move(big));
  members.emplace_back("small", std::move(small));
  Remake(std::move(members));
  EXPECT_EQ(Run(kTwo), "Succeeded");
  auto b = Attempts("b");
  ASSERT_EQ(b.size(), 1u) << Events("Moved");
  EXPECT_EQ(b[0].member, "big");
  EXPECT_EQ(late->submitted().size(), 1u);
  EXPECT_EQ(Events("Moved"), "");
}

// Moved away from a member, it never moves back there: its node on the
// big member comes 30 minutes late, and it waits for it there, though the
// small one frees up at 10m.
TEST_F(HybridRunTest, AMovedAttemptDoesNotMoveBack) {
  small_->SetQueues(true);
  big_->SetStartDelay(std::chrono::minutes(30));
  EXPECT_EQ(Run(kTwo), "Succeeded");
  auto b = Attempts("b");
  ASSERT_EQ(b.size(), 2u) << Events("Moved");
  EXPECT_EQ(b[1].member, "big");
  EXPECT_EQ(b[1].state, "Succeeded");
  EXPECT_THAT(Events("Moved"), HasSubstr("b #1 small -> big"));
  EXPECT_THAT(Events("Moved"), Not(HasSubstr("big -> small")));
}

// The small member runs only what it can start (a laptop): the engine holds
// b for it, and past burstAfter places it on the big member instead.
TEST_F(HybridRunTest, AnAttemptHeldForALaptopMovesToo) {
  TimePoint start = clock_.Now();
  EXPECT_EQ(Run(kTwo), "Succeeded");
  auto b = Attempts("b");
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].member, "big");
  EXPECT_EQ(b[0].started_ms - ToUnixMillis(start), 5 * 60 * 1000);
  EXPECT_THAT(Events("Placed"),
              HasSubstr("b #1 big: moved after waiting 5m0s for small (waits there for room: "));
}

// Where no other member can start it (one never fits it, one is full and
// would only queue it), it stays and starts when room comes.
TEST_F(HybridRunTest, AnAttemptNoOtherMemberCanStartStays) {
  auto small = std::make_unique<FakeBackend>(clock_, Cpus(2));
  small->SetQueues(true);
  small->Script("a", {{TaskState::kSucceeded, 0, std::chrono::minutes(10)}});
  auto busy = std::make_unique<FakeBackend>(clock_, Cpus(2));
  busy->SetQueues(true);
  busy->Script("z", {{TaskState::kSucceeded, 0, std::chrono::minutes(60)}});
  FakeBackend* busy_one = busy.get();
  std::vector<std::pair<std::string, std::unique_ptr<Backend>>> members;
  members.emplace_back("small", std::move(small));
  members.emplace_back("tiny", std::make_unique<FakeBackend>(clock_, Cpus(1)));
  members.emplace_back("busy", std::move(busy));
  Remake(std::move(members));
  // The busy member runs something else for an hour (its sink is the hybrid's).
  ASSERT_TRUE(busy_one
                  ->Submit([] {
                    TaskSpec z;
                    z.run_id = "other";
                    z.step = z.instance = "z";
                    z.resources = Cpus(2);
                    z.argv = {"x"};
                    z.attempt = 1;
                    return z;
                  }())
                  .ok());

  TimePoint start = clock_.Now();
  EXPECT_EQ(Run("    - {name: a, command: [x], resources: {cpu: 2}}\n"
                "    - {name: b, command: [x], resources: {cpu: 2}}\n"),
            "Succeeded");
  auto b = Attempts("b");
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].member, "small");
  EXPECT_EQ(b[0].started_ms - ToUnixMillis(start), 0) << "submitted at once, to wait there";
  EXPECT_EQ(Events("Moved"), "");
}

// Held for a laptop member, a queue of alike attempts costs one question a
// pass (Engine::Ask keeps the refusal), not one per attempt: 30 wait 10
// minutes for the small member while a runs there, about 6,000 passes of
// 100 ms, each question asking both members: about 12,000 member
// questions, not 360,000.
TEST_F(HybridRunTest, AQueueHeldForALaptopIsOneQuestionAPass) {
  HybridTarget target;
  target.burst_after = std::chrono::hours(1);
  std::vector<std::pair<std::string, std::unique_ptr<Backend>>> members;
  auto small = std::make_unique<FakeBackend>(clock_, Cpus(1));
  small->Script("a", {{TaskState::kSucceeded, 0, std::chrono::minutes(10)}});
  FakeBackend* laptop = small.get();
  auto big = std::make_unique<FakeBackend>(clock_, Cpus(4));
  big->SetProvisioning(std::chrono::minutes(1));
  FakeBackend* cloud = big.get();
  members.emplace_back("small", std::move(small));
  members.emplace_back("big", std::move(big));
  Remake(std::move(members), target);
  std::string steps = "    - {name: a, command: [x]}\n";
  for (int i = 0; i < 30; ++i) steps += "    - {name: w" + std::to_string(i) + ", command: [x]}\n";
  EXPECT_EQ(Run(steps), "Succeeded");
  EXPECT_EQ(Attempts("w29").back().member, "small");
  int asked = laptop->places() + cloud->places();
  EXPECT_LT(asked, 30000) << "asked about each held attempt each pass";
  EXPECT_GT(asked, 0);
}

// Alike waiting attempts ask as one (the longest waiting of them), but an
// attempt that cannot move does not hold back one of another size that
// can: b (4 cpus) fits only the small member, c (1 cpu) waits behind it
// there and moves at burstAfter.
TEST_F(HybridRunTest, AnAttemptThatCannotMoveDoesNotHoldBackOneThatCan) {
  auto small = std::make_unique<FakeBackend>(clock_, Cpus(4));
  small->SetQueues(true);
  small->Script("a", {{TaskState::kSucceeded, 0, std::chrono::minutes(60)}});
  auto big = std::make_unique<FakeBackend>(clock_, Cpus(2));
  big->SetProvisioning(std::chrono::minutes(1));
  std::vector<std::pair<std::string, std::unique_ptr<Backend>>> members;
  members.emplace_back("small", std::move(small));
  members.emplace_back("big", std::move(big));
  Remake(std::move(members));
  TimePoint start = clock_.Now();
  EXPECT_EQ(Run("    - {name: a, command: [x], resources: {cpu: 4}}\n"
                "    - {name: b, command: [x], resources: {cpu: 4}}\n"
                "    - {name: c, command: [x], resources: {cpu: 1}}\n"),
            "Succeeded");
  EXPECT_EQ(Attempts("b").size(), 1u);
  auto c = Attempts("c");
  ASSERT_EQ(c.size(), 2u) << Events("Moved");
  EXPECT_EQ(c[1].member, "big");
  EXPECT_EQ(c[1].started_ms - ToUnixMillis(start), 5 * 60 * 1000) << "moved at burstAfter";
}

// An attempt that waited, then started, is not moved when burstAfter
// comes: only a wait that goes on counts.
TEST_F(HybridRunTest, AnAttemptThatStartedStays) {
  auto small = std::make_unique<FakeBackend>(clock_, Cpus(1));
  small->SetQueues(true);
  small->Script("a", {{TaskState::kSucceeded, 0, std::chrono::minutes(3)}});
  small->Script("b", {{TaskState::kSucceeded, 0, std::chrono::minutes(10)}});
  auto big = std::make_unique<FakeBackend>(clock_, Cpus(4));
  big->SetProvisioning(std::chrono::minutes(1));
  std::vector<std::pair<std::string, std::unique_ptr<Backend>>> members;
  members.emplace_back("small", std::move(small));
  members.emplace_back("big", std::move(big));
  Remake(std::move(members));
  EXPECT_EQ(Run(kTwo), "Succeeded");
  auto b = Attempts("b");
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].member, "small");
}

// A preempted attempt (its spot node taken back) goes back to placement,
// not counted as a retry: here it is placed again on the first member that
// can start it, with a decision of its own.
TEST_F(HybridRunTest, APreemptedAttemptIsPlacedAgainWithoutARetry) {
  Outcome preempted;
  preempted.state = TaskState::kFailed;
  preempted.exit_code = 143;
  preempted.reason = "Preempted";
  preempted.runtime = std::chrono::minutes(3);
  small_->Script("p", {preempted});
  EXPECT_EQ(Run("    - {name: p, command: [x]}\n"), "Succeeded");
  auto p = Attempts("p");
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].reason, "Preempted");
  EXPECT_EQ(p[1].state, "Succeeded");
  EXPECT_EQ(p[1].member, "small") << "the first member that can start it, again";
  EXPECT_THAT(Events("Placed"), HasSubstr("p #2 small: can start it now"));
}

// A resumed run keeps away from the members its attempts were moved from.
TEST_F(HybridRunTest, AResumedRunStillAvoidsWhatItMovedFrom) {
  ASSERT_TRUE(store_->CreateRun({"run1", "h", "h.yaml", "/src", "[]", "both", "Running"}).ok());
  AttemptRecord moved;
  moved.run_id = "run1";
  moved.instance = "b";
  moved.attempt = 1;
  moved.state = "Cancelled";
  moved.reason = "Moved";
  moved.member = "small";
  ASSERT_TRUE(store_->PutAttempt(moved).ok());
  ASSERT_TRUE(store_->AddEvent({0, "run1", 0, "b", 1, "Moved", "small -> big: waited"}).ok());
  EXPECT_EQ(Run("    - {name: b, command: [x]}\n"), "Succeeded");
  auto b = Attempts("b");
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(b[1].member, "big") << "the small member is free, but b was moved away from it";
}

// With a budget: b moves to the priced member while its estimate fits
// (the minute its node takes and its timeout, at the member's price), c
// does not (b's estimate is
// counted until b ends) and waits for the laptop member instead.
TEST_F(HybridRunTest, APricedMemberTakesWhatTheBudgetAllows) {
  auto small = std::make_unique<FakeBackend>(clock_, Cpus(1));
  small->Script("a", {{TaskState::kSucceeded, 0, std::chrono::minutes(10)}});
  small->Script("c", {{TaskState::kSucceeded, 0, std::chrono::minutes(10)}});
  auto cloud = std::make_unique<FakeBackend>(clock_, Cpus(4));
  cloud->SetProvisioning(std::chrono::minutes(1));
  cloud->SetPrice(6.0);
  cloud->Script("b", {{TaskState::kSucceeded, 0, std::chrono::minutes(20)}});
  FakeBackend* cloud_one = cloud.get();
  std::vector<std::pair<std::string, std::unique_ptr<Backend>>> members;
  members.emplace_back("small", std::move(small));
  members.emplace_back("cloud", std::move(cloud));
  HybridTarget target;
  target.budget = 2.5;
  Remake(std::move(members), target);
  EXPECT_EQ(Run("    - {name: a, command: [x]}\n"
                "    - {name: b, command: [x], timeout: 20m}\n"
                "    - {name: c, command: [x], timeout: 20m}\n"),
            "Succeeded");
  EXPECT_EQ(Attempts("b").back().member, "cloud");
  EXPECT_EQ(Attempts("c").back().member, "small") << Events("Placed");
  EXPECT_THAT(Events("Placed"), HasSubstr("b #1 cloud: moved after waiting 5m0s for small"));
  EXPECT_THAT(Events("Placed"), HasSubstr("$6.00 an hour, est. $2.10"));
  EXPECT_DOUBLE_EQ(*cloud_one->CostSoFar(), 2.0) << "b's 20 minutes at $6 an hour";
  EXPECT_DOUBLE_EQ(*hybrid_->CostSoFar(), 2.0);
}

// Two attempts wait past burstAfter where the budget pays for one move:
// moves go one at a time, so that the budget counts the first before the
// second is decided; c stays in the small member's queue (not withdrawn
// for a member it cannot have) and starts there when a ends.
TEST_F(HybridRunTest, MovesGoOneAtATimeWithinTheBudget) {
  auto small = std::make_unique<FakeBackend>(clock_, Cpus(1));
  small->SetQueues(true);
  small->Script("a", {{TaskState::kSucceeded, 0, std::chrono::minutes(10)}});
  auto cloud = std::make_unique<FakeBackend>(clock_, Cpus(4));
  cloud->SetProvisioning(std::chrono::minutes(1));
  cloud->SetPrice(6.0);
  cloud->Script("b", {{TaskState::kSucceeded, 0, std::chrono::minutes(20)}});
  std::vector<std::pair<std::string, std::unique_ptr<Backend>>> members;
  members.emplace_back("small", std::move(small));
  members.emplace_back("cloud", std::move(cloud));
  HybridTarget target;
  target.budget = 3.0;  // one estimate of $2.10
  Remake(std::move(members), target);
  EXPECT_EQ(Run("    - {name: a, command: [x]}\n"
                "    - {name: b, command: [x], timeout: 20m}\n"
                "    - {name: c, command: [x], timeout: 20m}\n"),
            "Succeeded");
  ASSERT_EQ(Attempts("b").size(), 2u);
  EXPECT_EQ(Attempts("b").back().member, "cloud");
  ASSERT_EQ(Attempts("c").size(), 1u) << Events("Moved");
  EXPECT_EQ(Attempts("c")[0].member, "small");
}

// A priced attempt that ends inside Submit (its member reported the end
// before Submit returned) no longer counts against the budget: the next
// one, which the budget pays for only alone, runs.
TEST_F(HybridRunTest, APricedAttemptThatEndsAtOnceFreesItsEstimate) {
  auto cloud = std::make_unique<FakeBackend>(clock_, Cpus(4));
  cloud->SetPrice(6.0);
  std::vector<std::pair<std::string, std::unique_ptr<Backend>>> members;
  members.emplace_back("cloud", std::move(cloud));
  HybridTarget target;
  target.budget = 2.5;  // one estimate of $2.00
  Remake(std::move(members), target);
  EXPECT_EQ(Run("    - {name: a, command: [x], timeout: 20m}\n"
                "    - {name: b, command: [x], timeout: 20m, needs: [a]}\n"),
            "Succeeded");
  EXPECT_EQ(Attempts("b").back().member, "cloud");
}

// An attempt the budget can never pay for, with what the run has spent,
// fails with reason Budget rather than wait for ever.
TEST_F(HybridRunTest, WhatTheBudgetCanNeverPayForFails) {
  auto cloud = std::make_unique<FakeBackend>(clock_, Cpus(4));
  cloud->SetPrice(6.0);
  cloud->Script("a", {{TaskState::kSucceeded, 0, std::chrono::minutes(10)}});
  std::vector<std::pair<std::string, std::unique_ptr<Backend>>> members;
  members.emplace_back("cloud", std::move(cloud));
  HybridTarget target;
  target.budget = 1.5;
  Remake(std::move(members), target);
  EXPECT_EQ(Run("    - {name: a, command: [x], timeout: 10m}\n"
                "    - {name: b, command: [x], timeout: 10m, needs: [a]}\n"),
            "Failed");
  EXPECT_TRUE(Attempts("b").empty());
  std::string b_state;
  auto instances = store_->ListInstances("run1");
  for (const InstanceRecord& i : *instances)
    if (i.name == "b") b_state = i.state + " " + i.message;
  EXPECT_THAT(b_state, HasSubstr("Failed Budget: no member can take it now (cloud: the run has "
                                 "spent $1.00 of its budget $1.50; this attempt would cost est. "
                                 "$1.00 ($6.00 an hour for 10m0s))"));
}

TEST(HybridTargetTest, SettingsAreReadAndMistakesNamed) {
  auto t = ParseHybridTarget({{"backend", "hybrid"},
                              {"member.1.name", "cloud"},
                              {"member.1.backend", "cloud"},
                              {"member.1.cluster", "burst"},
                              {"member.0.name", "onprem"},
                              {"member.0.backend", "kubernetes"}});
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->burst_after, std::chrono::minutes(5)) << "the default";
  ASSERT_EQ(t->members.size(), 2u);
  EXPECT_EQ(t->members[0].first, "onprem");
  EXPECT_EQ(t->members[1].first, "cloud");
  EXPECT_EQ(t->members[1].second.at("cluster"), "burst");
  EXPECT_EQ(t->members[1].second.at("backend"), "cloud");

  EXPECT_THAT(ParseHybridTarget({{"backend", "hybrid"}}).status().message(),
              HasSubstr("setting members: a hybrid target names its members"));
  EXPECT_THAT(ParseHybridTarget(
                  {{"member.0.name", "a"}, {"member.0.backend", "local"}, {"burstAfer", "5m"}})
                  .status()
                  .message(),
              HasSubstr("unknown setting \"burstAfer\" for the hybrid backend (known: members"));
  EXPECT_THAT(ParseHybridTarget({{"member.0.name", "a"},
                                 {"member.0.backend", "local"},
                                 {"artifacts", "team-ml/portflow"}})
                  .status()
                  .message(),
              HasSubstr("setting artifacts: \"team-ml/portflow\" is not an S3 URI"));
  auto quick = ParseHybridTarget({{"member.0.name", "a"},
                                  {"member.0.backend", "local"},
                                  {"burstAfter", "90s"},
                                  {"budget", "40USD"}});
  ASSERT_TRUE(quick.ok());
  EXPECT_EQ(quick->burst_after, std::chrono::seconds(90));
  EXPECT_EQ(quick->budget, 40.0);
  EXPECT_THAT(
      ParseHybridTarget({{"member.0.name", "a"}, {"member.0.backend", "local"}, {"budget", "-3"}})
          .status()
          .message(),
      HasSubstr("setting budget: \"-3\" must be an amount of US dollars above 0"));
  EXPECT_THAT(ParseHybridTarget(
                  {{"member.0.name", "a"}, {"member.0.backend", "local"}, {"burstAfter", "soon"}})
                  .status()
                  .message(),
              HasSubstr("setting burstAfter: "));
}

}  // namespace
}  // namespace portflow
