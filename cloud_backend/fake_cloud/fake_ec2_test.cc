#include "cloud_backend/fake_cloud/fake_ec2.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace portflow::fake_cloud {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// What the cluster saw, in order: "+ID", "!ID" (warned), "-ID".
class Seen : public NodeEvents {
 public:
  void Joined(const Instance& i) override { log.push_back("+" + i.id); }
  void Warned(const Instance& i) override { log.push_back("!" + i.id); }
  void Left(const Instance& i) override { log.push_back("-" + i.id); }
  std::vector<std::string> log;
};

class FakeEc2Test : public ::testing::Test {
 protected:
  FakeEc2Test() : ec2_(clock_, {"us-east-1", 60s, 120s, nullptr}, &seen_) {
    EXPECT_TRUE(ec2_.AddGroup({"cpu-spot", "SPOT", {"c5.large"}, {}, 0, 5, 0}).ok());
    EXPECT_TRUE(ec2_.AddGroup({"cpu-ondemand", "ON_DEMAND", {"m5.large"}, {}, 0, 5, 0}).ok());
  }
  // Syncs, then moves time on by `d`, syncing at every due time on the way.
  void Run(Duration d) {
    TimePoint end = clock_.Now() + d;
    while (true) {
      auto next = ec2_.Sync();
      if (!next || *next > end) break;
      if (*next > clock_.Now()) clock_.Advance(*next - clock_.Now());
    }
    if (end > clock_.Now()) clock_.Advance(end - clock_.Now());
    ec2_.Sync();
  }
  std::string UpdateStatus(const std::string& id) { return ec2_.Update(id)->status; }

  FakeClock clock_;
  Seen seen_;
  FakeEc2 ec2_;
};

TEST_F(FakeEc2Test, ScalingUpLaunchesInstancesThatJoinAfterProvisioning) {
  auto update = ec2_.Resize("cpu-spot", 2);
  ASSERT_TRUE(update.ok()) << update.status().ToString();
  EXPECT_EQ(update->status, "InProgress");
  Run(59s);
  EXPECT_EQ(ec2_.Instances().size(), 2u);
  EXPECT_TRUE(seen_.log.empty()) << "not before the provisioning delay";
  EXPECT_EQ(UpdateStatus(update->id), "InProgress");
  Run(1s);
  auto instances = ec2_.Instances();
  EXPECT_THAT(seen_.log, ElementsAre("+" + instances[0].id, "+" + instances[1].id));
  EXPECT_EQ(UpdateStatus(update->id), "Successful");
  EXPECT_EQ(instances[0].type, "c5.large");
  EXPECT_EQ(instances[0].zone, "us-east-1a");
  EXPECT_EQ(instances[0].capacity_type, "SPOT");
  EXPECT_DOUBLE_EQ(instances[0].hourly_price, 0.0255) << "the catalog's spot price";
}

TEST_F(FakeEc2Test, ScalingDownEndsTheNewestAndTheBillCountsSecondsWithAMinute) {
  ASSERT_TRUE(ec2_.Resize("cpu-ondemand", 2).ok());
  Run(60s);
  clock_.Advance(10s);
  ASSERT_TRUE(ec2_.Resize("cpu-ondemand", 3).ok());
  Run(30s);  // the third has not joined: it goes first (through Auto
  // Scaling: EKS takes no update while one is under way)
  ASSERT_TRUE(ec2_.SetDesired("cpu-ondemand", 1).ok());
  Run(0s);
  auto all = ec2_.Instances();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_FALSE(all[0].ended.has_value());
  ASSERT_TRUE(all[1].ended.has_value());
  ASSERT_TRUE(all[2].ended.has_value());
  EXPECT_EQ(seen_.log.back(), "-" + all[1].id) << "the unjoined third left no Node";
  TimePoint now = clock_.Now();
  // m5.large at 0.096 USD an hour: 100 s, 100 s, and 30 s billed as 60 s.
  EXPECT_NEAR(all[0].Cost(now), 100 * 0.096 / 3600, 1e-12);
  EXPECT_NEAR(all[1].Cost(now), 100 * 0.096 / 3600, 1e-12);
  EXPECT_NEAR(all[2].Cost(now), 60 * 0.096 / 3600, 1e-12);
  EXPECT_NEAR(ec2_.Cost(now), 260 * 0.096 / 3600, 1e-12);
}

// A cloud made again (a resumed cloud-rehearsal) numbers its instances on
// from where it is told to, so no new instance takes an old one's id.
TEST(FakeEc2Ids, InstancesAreNumberedFromTheFirstGiven) {
  FakeClock clock;
  Ec2Options o{"us-east-1", 60s, 120s, nullptr};
  o.first_instance = 0x19af3b2c4d0;  // 2026-12-05 in ms since the epoch
  FakeEc2 ec2(clock, o);
  ASSERT_TRUE(ec2.AddGroup({"cpu", "ON_DEMAND", {"m5.large"}, {}, 0, 5, 0}).ok());
  ASSERT_TRUE(ec2.Resize("cpu", 2).ok());
  ec2.Sync();
  ASSERT_EQ(ec2.Instances().size(), 2u);
  EXPECT_EQ(ec2.Instances()[0].id, "i-00000019af3b2c4d0");
  EXPECT_EQ(ec2.Instances()[1].id, "i-00000019af3b2c4d1");
}

// EKS runs one update of a node group at a time: a second one while the
// first is InProgress is refused (ResourceInUseException through EKS).
TEST_F(FakeEc2Test, OneUpdateOfAGroupAtATime) {
  auto first = ec2_.Resize("cpu-spot", 1);
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(ec2_.Updating("cpu-spot"));
  auto second = ec2_.Resize("cpu-spot", 2);
  EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(second.status().message(), HasSubstr("not in Active State"));
  EXPECT_TRUE(ec2_.Resize("cpu-ondemand", 1).ok()) << "another group's update is its own";
  Run(60s);
  EXPECT_EQ(UpdateStatus(first->id), "Successful");
  EXPECT_TRUE(ec2_.Resize("cpu-spot", 2).ok());
  EXPECT_EQ(ec2_.Group("cpu-spot")->desired_size, 2);
}

TEST_F(FakeEc2Test, AStockoutMovesToTheNextZoneThenFailsTheUpdate) {
  ec2_.SetStockout("c5.large", "us-east-1a", true);
  ASSERT_TRUE(ec2_.Resize("cpu-spot", 1).ok());
  Run(60s);
  EXPECT_EQ(ec2_.Instances()[0].zone, "us-east-1b");
  ec2_.SetStockout("c5.large", "us-east-1b", true);
  auto update = ec2_.Resize("cpu-spot", 2);
  Run(0s);
  EXPECT_EQ(UpdateStatus(update->id), "Failed");
  EXPECT_EQ(ec2_.Update(update->id)->error_code, "InsufficientInstanceCapacity");
  EXPECT_EQ(ec2_.Health("cpu-spot").first, "InsufficientInstanceCapacity");
  EXPECT_THAT(ec2_.Health("cpu-spot").second, HasSubstr("sufficient c5.large capacity"));
  ec2_.SetStockout("c5.large", "us-east-1a", false);
  Run(60s);  // the group still wants 2: it launches once there is stock
  EXPECT_EQ(ec2_.Instances().size(), 2u);
  EXPECT_EQ(ec2_.Health("cpu-spot").first, "");
}

TEST_F(FakeEc2Test, TheVcpuQuotaStopsLaunches) {
  ec2_.SetVcpuQuota(4);  // two c5.large
  auto update = ec2_.Resize("cpu-spot", 3);
  Run(60s);
  EXPECT_EQ(ec2_.Instances().size(), 2u);
  EXPECT_EQ(UpdateStatus(update->id), "Failed");
  EXPECT_EQ(ec2_.Update(update->id)->error_code, "VcpuLimitExceeded");
}

TEST_F(FakeEc2Test, ASpotInterruptionWarnsThenEndsTheInstanceAndTheGroupReplacesIt) {
  ASSERT_TRUE(ec2_.Resize("cpu-spot", 1).ok());
  Run(60s);
  std::string first = ec2_.Instances()[0].id;
  EXPECT_EQ(ec2_.InterruptSpot("cpu-spot", 5), 1);
  EXPECT_EQ(ec2_.InterruptSpot("cpu-ondemand", 1), 0);
  Run(119s);
  EXPECT_FALSE(ec2_.Instances()[0].ended.has_value()) << "still within the notice";
  EXPECT_EQ(ec2_.Instances().size(), 2u) << "a replacement is launched at once";
  Run(1s);
  EXPECT_TRUE(ec2_.Instances()[0].ended.has_value());
  std::string second = ec2_.Instances()[1].id;
  EXPECT_THAT(seen_.log, ElementsAre("+" + first, "!" + first, "+" + second, "-" + first));
}

TEST_F(FakeEc2Test, BadGroupsAndSizesAreRefused) {
  EXPECT_EQ(ec2_.AddGroup({"x", "SPOT", {"z9.huge"}, {}, 0, 1, 0}).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ec2_.AddGroup({"cpu-spot", "SPOT", {"c5.large"}, {}, 0, 1, 0}).code(),
            StatusCode::kAlreadyExists);
  EXPECT_EQ(ec2_.Resize("cpu-spot", 6).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ec2_.Resize("nope", 1).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(ec2_.Update("nope").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(ec2_.Resize("cpu-spot", 6, std::nullopt, 8).ok()) << "a new max with it";
  EXPECT_EQ(ec2_.Group("cpu-spot")->max_size, 8);
}

// Spot instances taken back at random, at a rate, from a seeded generator:
// the same seed warns the same instances at the same times; another seed
// others; no rate, none.
TEST(FakeEc2RandomTest, SpotInterruptionsAtARateFollowTheSeed) {
  auto warned = [](double rate, uint64_t seed) {
    FakeClock clock;
    Seen seen;
    Ec2Options o{"us-east-1", 60s, 120s, nullptr};
    o.spot_interruptions_per_hour = rate;
    o.seed = seed;
    FakeEc2 ec2(clock, o, &seen);
    EXPECT_TRUE(ec2.AddGroup({"cpu-spot", "SPOT", {"c5.large"}, {}, 0, 10, 10}).ok());
    EXPECT_TRUE(ec2.AddGroup({"cpu-ondemand", "ON_DEMAND", {"m5.large"}, {}, 0, 10, 10}).ok());
    for (int i = 0; i < 360; ++i) {  // an hour, a look every 10 s
      ec2.Sync();
      clock.Advance(10s);
    }
    std::vector<std::string> out;
    for (const std::string& e : seen.log)
      if (e[0] == '!') out.push_back(e);
    for (const Instance& i : ec2.Instances())
      EXPECT_TRUE(i.capacity_type == "SPOT" || !i.warned) << "on-demand is never taken back";
    return out;
  };
  std::vector<std::string> first = warned(1, 7);
  EXPECT_GE(first.size(), 3u) << "ten spot nodes for an hour at one an hour each";
  EXPECT_EQ(warned(1, 7), first);
  EXPECT_NE(warned(1, 8), first);
  EXPECT_TRUE(warned(0, 7).empty());
}

}  // namespace
}  // namespace portflow::fake_cloud
