#include "cloud_backend/fake_cloud/fake_sqs.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace portflow::fake_cloud {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

TEST(FakeSqsTest, AReceivedMessageHidesUntilDeletedOrItsTimeoutEnds) {
  FakeClock clock;
  FakeSqs sqs(clock);
  sqs.CreateQueue("q");
  ASSERT_TRUE(sqs.Send("q", "one").ok());
  ASSERT_TRUE(sqs.Send("q", "two").ok());
  auto first = sqs.Receive("q", 1, 30s);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->size(), 1u);
  EXPECT_EQ((*first)[0].body, "one");
  auto second = sqs.Receive("q", 10, 30s);
  ASSERT_EQ(second->size(), 1u);
  EXPECT_EQ((*second)[0].body, "two") << "the first is hidden";
  EXPECT_TRUE(sqs.Receive("q", 10, 30s)->empty());
  clock.Advance(30s);
  auto again = sqs.Receive("q", 10, 30s);
  ASSERT_EQ(again->size(), 2u) << "visible again: neither was deleted";
  EXPECT_NE((*again)[0].receipt_handle, (*first)[0].receipt_handle);
  EXPECT_EQ((*again)[0].receives, 2);
  ASSERT_TRUE(sqs.Delete("q", (*again)[0].receipt_handle).ok());
  ASSERT_TRUE(sqs.Delete("q", (*first)[0].receipt_handle).ok()) << "twice is fine";
  EXPECT_EQ(sqs.Size("q"), 1u);
}

TEST(FakeSqsTest, UnknownQueuesAndHandlesAreRefused) {
  FakeClock clock;
  FakeSqs sqs(clock);
  sqs.CreateQueue("q");
  EXPECT_EQ(sqs.Send("nope", "x").status().code(), StatusCode::kNotFound);
  EXPECT_THAT(sqs.Receive("nope", 1, 1s).status().message(), HasSubstr("QueueDoesNotExist"));
  auto bad = sqs.Delete("q", "rh-forged");
  EXPECT_EQ(bad.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.message(), HasSubstr("ReceiptHandleIsInvalid"));
}

TEST(FakeSqsTest, TheSpotWarningHasEventBridgesShape) {
  Instance i;
  i.id = "i-00000000000000001";
  i.zone = "us-east-1a";
  FakeClock clock;
  auto event =
      nlohmann::json::parse(SpotInterruptionWarning(i, clock.Now(), "123456789012", "us-east-1"));
  EXPECT_EQ(event["detail-type"], "EC2 Spot Instance Interruption Warning");
  EXPECT_EQ(event["source"], "aws.ec2");
  EXPECT_EQ(event["detail"]["instance-id"], i.id);
  EXPECT_EQ(event["detail"]["instance-action"], "terminate");
  EXPECT_EQ(event["resources"][0], "arn:aws:ec2:us-east-1a:instance/i-00000000000000001");
  std::string time = event["time"];
  EXPECT_EQ(time.size(), 20u);
  EXPECT_EQ(time.back(), 'Z');
}

}  // namespace
}  // namespace portflow::fake_cloud
