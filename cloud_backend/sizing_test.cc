#include "cloud_backend/sizing.h"

#include <gtest/gtest.h>

namespace portflow::cloud {
namespace {

constexpr int64_t kGi = int64_t{1} << 30;

GroupView Group(const std::string& name, const std::string& type, bool spot, int max = 10) {
  GroupView g{name, spot, *Catalog::Shipped().Find(type, "us-east-1"), 0, max, 0};
  return g;
}

SizingInput Groups() {
  SizingInput in;
  in.groups = {Group("cpu-ondemand", "m5.large", false), Group("cpu-spot", "c5.large", true),
               Group("gpu-ondemand", "g5.xlarge", false, 2)};
  return in;
}

TEST(SizingTest, PodsFillNodesBeforeNewOnesAreAskedFor) {
  SizingInput in = Groups();
  in.free_on_nodes = {{"", {1000, 2 * kGi, 0}}};
  in.waiting = {{500, kGi, 0}, {500, kGi, 0}, {1500, kGi, 0}, {500, kGi, 0}};
  // The first two take the node; the third needs a new one (a spot c5.large,
  // the cheapest), and the fourth fits beside it.
  EXPECT_EQ(GrowFor(in), (std::map<std::string, int>{{"cpu-spot", 1}}));
  in.joining["cpu-spot"] = 1;
  in.groups[1].desired_size = 1;
  EXPECT_TRUE(GrowFor(in).empty()) << "the joining node has room for them";
  EXPECT_EQ(Covered(in), (std::vector<bool>{true, true, true, true}));
  in.joining.clear();
  EXPECT_EQ(Covered(in), (std::vector<bool>{true, true, false, false}));
}

TEST(SizingTest, ThePolicyTheTypeAndTheMaxChooseTheGroup) {
  SizingInput in = Groups();
  in.waiting = {{1000, 6 * kGi, 0}};  // more memory than a c5.large has
  EXPECT_EQ(GrowFor(in), (std::map<std::string, int>{{"cpu-ondemand", 1}}));
  in.waiting = {{1000, kGi, 0}};
  in.spot = SpotPolicy::kNever;
  EXPECT_EQ(GrowFor(in), (std::map<std::string, int>{{"cpu-ondemand", 1}}));
  in.spot = SpotPolicy::kOnly;
  in.waiting = {{1000, 6 * kGi, 0}};
  EXPECT_TRUE(GrowFor(in).empty()) << "no spot group fits it";
  in.spot = SpotPolicy::kPrefer;
  in.waiting = {{1000, kGi, 1}, {1000, kGi, 1}, {1000, kGi, 1}};
  EXPECT_EQ(GrowFor(in), (std::map<std::string, int>{{"gpu-ondemand", 2}})) << "max 2";
  in.waiting = {{1000, kGi, 0}};
  in.avoid = {"cpu-spot"};
  EXPECT_EQ(GrowFor(in), (std::map<std::string, int>{{"cpu-ondemand", 1}}))
      << "a group that failed to launch is passed over";
  // A pod without GPUs goes on demand before it takes a GPU spot node, and
  // to a GPU node only when nothing else fits.
  in.avoid.clear();
  in.groups.push_back(Group("gpu-spot", "g5.xlarge", true));
  in.waiting = {{1000, 6 * kGi, 0}};
  EXPECT_EQ(GrowFor(in), (std::map<std::string, int>{{"cpu-ondemand", 1}}));
  in.waiting = {{1000, 12 * kGi, 0}};  // more than any CPU type here has
  EXPECT_EQ(GrowFor(in), (std::map<std::string, int>{{"gpu-spot", 1}}));
}

TEST(SizingTest, APreemptedPodAvoidsItsGroupOnlyItself) {
  SizingInput in = Groups();
  in.joining["cpu-spot"] = 1;
  in.waiting = {{1000, kGi, 0}, {1000, kGi, 0}};
  in.waiting_avoid = {"cpu-spot", ""};
  // The first may not take the joining spot node nor a new spot one; the
  // second may.
  EXPECT_EQ(GrowFor(in), (std::map<std::string, int>{{"cpu-ondemand", 1}}));
  EXPECT_EQ(Covered(in), (std::vector<bool>{false, true}));
  in.free_on_nodes = {{"cpu-spot", {2000, 2 * kGi, 0}}, {"cpu-ondemand", {1000, kGi, 0}}};
  EXPECT_EQ(Covered(in), (std::vector<bool>{true, true}));
  EXPECT_TRUE(GrowFor(in).empty());
}

TEST(SizingTest, APodIsBilledItsLargestShareOfTheNode) {
  ResourceRequest node{2000, 8 * kGi, 0};
  EXPECT_DOUBLE_EQ(Share({500, kGi, 0}, node), 0.25);
  EXPECT_DOUBLE_EQ(Share({500, 4 * kGi, 0}, node), 0.5) << "memory is the larger share";
  EXPECT_DOUBLE_EQ(Share({4000, kGi, 0}, node), 1.0) << "never more than the node";
  EXPECT_DOUBLE_EQ(Share({1000, kGi, 1}, {4000, 16 * kGi, 1}), 1.0) << "its only GPU";
}

TEST(SizingTest, PricesComeFromTheCatalog) {
  SizingInput in = Groups();
  EXPECT_DOUBLE_EQ(in.groups[0].HourlyPrice(), 0.096);
  EXPECT_DOUBLE_EQ(in.groups[1].HourlyPrice(), 0.0255);
  ResourceRequest gpu = Allocatable(in.groups[2].type);
  EXPECT_EQ(gpu.milli_cpu, 4000);
  EXPECT_EQ(gpu.memory_bytes, 16 * kGi);
  EXPECT_EQ(gpu.gpus, 1);
}

}  // namespace
}  // namespace portflow::cloud
