#include "cloud_backend/hybrid/hybrid_backend.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/testing/event_recorder.h"
#include "core/testing/fake_backend.h"

namespace portflow {
namespace {

using testing::FakeBackend;
using ::testing::HasSubstr;

// A member that keeps outputs where only its cluster sees them, or one
// with a price.
class Apart : public FakeBackend {
 public:
  using FakeBackend::FakeBackend;
  std::string OutputsDir(const std::string&, const std::string&) const override { return ""; }
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

class HybridBackendTest : public ::testing::Test {
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
    hybrid_ = std::move(*made);
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

  FakeClock clock_;
  testing::EventRecorder events_;
  FakeBackend* small_ = nullptr;
  FakeBackend* big_ = nullptr;
  std::unique_ptr<Backend> hybrid_;
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
}

TEST(HybridTargetTest, SettingsAreReadAndMistakesNamed) {
  auto t = ParseHybridTarget({{"backend", "hybrid"},
                              {"member.1.name", "cloud"},
                              {"member.1.backend", "cloud"},
                              {"member.1.cluster", "burst"},
                              {"member.0.name", "onprem"},
                              {"member.0.backend", "kubernetes"}});
  ASSERT_TRUE(t.ok()) << t.status().ToString();
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
}

}  // namespace
}  // namespace portflow
