#include "cloud_backend/fake_cloud/node_groups.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace portflow::fake_cloud {
namespace {

using ::testing::HasSubstr;

TEST(NodeGroupsTest, ReadsGroupsWithTheirDefaults) {
  auto groups = ParseNodeGroups(R"(nodeGroups:
  - name: small
    capacityType: SPOT
    instanceTypes: [c5.large, m5.large]
    zones: [us-east-1b]
    maxSize: 3
  - name: gpu
    instanceTypes: [g5.xlarge]
    minSize: 1
    desiredSize: 1
)",
                                "groups.yaml");
  ASSERT_TRUE(groups.ok()) << groups.status().ToString();
  ASSERT_EQ(groups->size(), 2u);
  const GroupConfig& small = (*groups)[0];
  EXPECT_EQ(small.capacity_type, "SPOT");
  EXPECT_EQ(small.instance_types, (std::vector<std::string>{"c5.large", "m5.large"}));
  EXPECT_EQ(small.zones, (std::vector<std::string>{"us-east-1b"}));
  EXPECT_EQ(small.max_size, 3);
  EXPECT_EQ((*groups)[1].capacity_type, "ON_DEMAND");
  EXPECT_EQ((*groups)[1].desired_size, 1);
}

// yaml-cpp stops nesting past its limit with "bad file"; the error says
// what is wrong, and where.
TEST(NodeGroupsTest, NestingTooDeepIsNamed) {
  auto groups = ParseNodeGroups("nodeGroups: " + std::string(5000, '['), "groups.yaml");
  ASSERT_FALSE(groups.ok());
  EXPECT_THAT(groups.status().message(), HasSubstr("groups.yaml:1:"));
  EXPECT_THAT(groups.status().message(), HasSubstr("nesting deeper than"));
}

TEST(NodeGroupsTest, MistakesNameTheirPlace) {
  auto error = [](const std::string& yaml) {
    return ParseNodeGroups(yaml, "g.yaml").status().message();
  };
  EXPECT_THAT(error("nodeGroups:\n  - name: a\n    instanceType: [c5.large]\n"),
              HasSubstr("g.yaml:3:5: unknown key \"instanceType\" in a node group; did you mean "
                        "\"instanceTypes\"?"));
  EXPECT_THAT(error("nodeGroups:\n  - name: a\n    instanceTypes: [c5.large]\n    maxSize: x\n"),
              HasSubstr("g.yaml:4:14: maxSize must be a whole number"));
  EXPECT_THAT(error("nodeGroups:\n  - name: a\n    instanceTypes: [c5.large]\n    minSize: 2\n"),
              HasSubstr("g.yaml:2:5: node group a: minSize <= desiredSize <= maxSize"));
  EXPECT_THAT(error("nodeGroups:\n  - name: a\n    instanceTypes: [c5.large]\n    maxSize: 2\n"
                    "    desiredSize: 3\n"),
              HasSubstr("g.yaml:2:5: node group a: minSize <= desiredSize <= maxSize"));
  EXPECT_THAT(error("nodeGroups:\n  - name: a\n    capacityType: spot\n"),
              HasSubstr("g.yaml:3:19: capacityType must be SPOT or ON_DEMAND"));
  EXPECT_THAT(error("nodeGroups:\n  - name: a\n"), HasSubstr("node group a needs instanceTypes"));
  EXPECT_THAT(error("nodeGroups: []\n"), HasSubstr("of one group or more"));
  EXPECT_THAT(error("nodeGroups: [\n"), HasSubstr("g.yaml:2:1:"));
  EXPECT_EQ(LoadNodeGroups("/nonexistent/groups.yaml").status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace portflow::fake_cloud
