#include "cloud_backend/catalog.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace portflow::cloud {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(CatalogTest, TheShippedCatalogHasTheScenariosTypes) {
  const Catalog& c = Catalog::Shipped();
  auto gpu = c.Find("g5.xlarge", "us-east-1");
  ASSERT_TRUE(gpu.has_value());
  EXPECT_EQ(gpu->accelerator, "A10G");
  EXPECT_EQ(gpu->accelerators, 1);
  EXPECT_EQ(gpu->vcpus, 4);
  EXPECT_EQ(gpu->memory_gib, 16);
  EXPECT_DOUBLE_EQ(gpu->price, 1.006);
  EXPECT_LT(gpu->spot_price, gpu->price);
  EXPECT_THAT(c.Zones("c5.large", "us-east-1"), ElementsAre("us-east-1a", "us-east-1b"));
  EXPECT_EQ(c.Find("c5.large", "us-east-1", "us-east-1b")->zone, "us-east-1b");
  EXPECT_FALSE(c.Find("c5.large", "eu-west-1").has_value());
  // In the first of a group's zones the catalog has, else its first zone.
  EXPECT_EQ(c.FindIn("c5.large", "us-east-1", {"us-east-1z", "us-east-1b"})->zone, "us-east-1b");
  EXPECT_EQ(c.FindIn("c5.large", "us-east-1", {"us-east-1z"})->zone, "us-east-1a");
  EXPECT_EQ(c.FindIn("c5.large", "us-east-1", {})->zone, "us-east-1a");
  EXPECT_FALSE(c.Find("x1.nothing", "us-east-1").has_value());
}

// SkyPilot's own files have more columns (GpuInfo, quoted, with commas):
// columns are found by name.
TEST(CatalogTest, ColumnsAreFoundByNameAndQuotedFieldsKeepTheirCommas) {
  auto c = Catalog::Parse(
      "Region,InstanceType,GpuInfo,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,Price,"
      "SpotPrice,AvailabilityZone\r\n"
      "us-west-2,g5.xlarge,\"{'Gpus': [{'Name': 'A10G', 'Count': 1}], \"\"x\"\": 2}\",A10G,1,4,"
      "16,1.006,,us-west-2a\r\n",
      "sky.csv");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ(c->rows().size(), 1u);
  EXPECT_EQ(c->rows()[0].name, "g5.xlarge");
  EXPECT_EQ(c->rows()[0].zone, "us-west-2a");
  EXPECT_EQ(c->rows()[0].spot_price, 0) << "no spot offered";
}

TEST(CatalogTest, BadRowsAreRefusedWithTheirPlace) {
  const std::string header =
      "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,Price,SpotPrice,Region,"
      "AvailabilityZone\n";
  auto missing = Catalog::Parse("InstanceType,vCPUs\nc5.large,2\n", "a.csv");
  EXPECT_EQ(missing.status().message(), "a.csv:1:1: no column AcceleratorName");
  auto bad = Catalog::Parse(header + "c5.large,,0,2,4,abc,,us-east-1,us-east-1a\n", "b.csv");
  EXPECT_EQ(bad.status().message(), "b.csv:2:17: Price must be a number, 0 or more, not \"abc\"");
  auto negative = Catalog::Parse(header + "c5.large,,0,2,4,-1,,us-east-1,us-east-1a\n", "c.csv");
  EXPECT_THAT(negative.status().message(), HasSubstr("c.csv:2:17: Price must be a number"));
  auto short_row = Catalog::Parse(header + "c5.large,,0\n", "d.csv");
  EXPECT_THAT(short_row.status().message(), HasSubstr("d.csv:2: 3 fields; column vCPUs"));
  auto open_quote = Catalog::Parse(header + "\"c5.large,,0\n", "e.csv");
  EXPECT_EQ(open_quote.status().message(), "e.csv:2:1: a quoted field does not end");
  EXPECT_EQ(Catalog::Parse("", "f.csv").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Catalog::Load("/nonexistent/x.csv").status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace portflow::cloud
