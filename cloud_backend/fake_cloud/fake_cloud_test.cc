// The fake cloud served on loopback, reached by portflow's AWS client and by
// boto3 (tests/testing/fake_cloud_boto3.py), each unchanged.
#include "cloud_backend/fake_cloud/fake_cloud.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "cloud_backend/aws/eks.h"
#include "cloud_backend/aws/sqs.h"
#include "tests/testing/cli_runner.h"

namespace portflow::fake_cloud {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

class FakeCloudTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FakeCloudOptions o;
    o.provisioning = 200ms;
    o.spot_notice = 1s;
    auto cloud = FakeCloud::Make(o);
    ASSERT_TRUE(cloud.ok()) << cloud.status().ToString();
    cloud_ = std::move(*cloud);
    ASSERT_TRUE(cloud_->Serve(0).ok());
  }
  aws::Client Client(const std::string& secret = "") {
    return aws::Client(cloud_->url(), "us-east-1",
                       {cloud_->options().access_key_id,
                        secret.empty() ? cloud_->options().secret_access_key : secret, "",
                        "the fake cloud's keys"});
  }
  std::unique_ptr<FakeCloud> cloud_;
};

TEST_F(FakeCloudTest, PortflowsClientResizesAGroupAndHearsOfItsInterruption) {
  aws::Client client = Client();
  aws::Eks eks(client, "burst");
  auto names = eks.ListNodegroups();
  ASSERT_TRUE(names.ok()) << names.status().ToString();
  EXPECT_EQ(names->size(), 4u);
  auto update = eks.SetDesiredSize("cpu-spot", 2);
  ASSERT_TRUE(update.ok()) << update.status().ToString();
  EXPECT_EQ(update->status, "InProgress");
  std::this_thread::sleep_for(250ms);
  EXPECT_EQ(eks.DescribeUpdate("cpu-spot", update->id)->status, "Successful");
  EXPECT_EQ(eks.DescribeNodegroup("cpu-spot")->desired_size, 2);
  EXPECT_EQ(eks.SetDesiredSize("cpu-spot", 11).status().code(), StatusCode::kInvalidArgument)
      << "over the max";

  {
    std::lock_guard<std::mutex> l(cloud_->lock());
    EXPECT_EQ(cloud_->ec2().InterruptSpot("cpu-spot", 1), 1);
  }
  aws::Sqs sqs(client);
  auto url = sqs.QueueUrl("portflow-interruptions");
  ASSERT_TRUE(url.ok()) << url.status().ToString();
  auto got = sqs.Receive(*url, 10, 1);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->size(), 1u);
  auto warning = nlohmann::json::parse((*got)[0].body);
  EXPECT_EQ(warning["detail-type"], "EC2 Spot Instance Interruption Warning");
  EXPECT_TRUE(sqs.Delete(*url, (*got)[0].receipt_handle).ok());
}

TEST_F(FakeCloudTest, OnlyItsKeysGetIn) {
  aws::Client wrong = Client("not-the-secret");
  auto names = aws::Eks(wrong, "burst").ListNodegroups();
  EXPECT_EQ(names.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(names.status().message(), HasSubstr("InvalidSignatureException"));
  aws::Client stranger(cloud_->url(), "us-east-1", {"AKIAOTHER", "x", "", "a stranger"});
  EXPECT_THAT(aws::Sqs(stranger).QueueUrl("portflow-interruptions").status().message(),
              HasSubstr("UnrecognizedClientException"));
  fake::HttpRequest unsigned_request{"GET", "/clusters/burst/node-groups", {}, ""};
  EXPECT_EQ(cloud_->Handle(unsigned_request).status, 403);
  aws::Client client = Client();
  auto odd =
      client.Call({"eks", "POST", "/clusters", {{"Content-Type", "application/json"}}, "{}"});
  EXPECT_EQ(odd.status().code(), StatusCode::kNotFound) << "not an operation it serves";
  auto long_wait = client.Call({"sqs",
                                "POST",
                                "/",
                                {{"Content-Type", "application/x-amz-json-1.0"},
                                 {"X-Amz-Target", "AmazonSQS.ReceiveMessage"}},
                                R"({"QueueUrl":"x/portflow-interruptions","WaitTimeSeconds":21})"});
  EXPECT_EQ(long_wait.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(FakeCloudTest, Boto3WorksAgainstItUnchanged) {
  testing::ShellResult r = testing::RunShell(std::string("python3 ") + PORTFLOW_SOURCE_DIR +
                                             "/tests/testing/fake_cloud_boto3.py " + cloud_->url() +
                                             " " + cloud_->options().access_key_id + " '" +
                                             cloud_->options().secret_access_key + "' 2>&1");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("boto3: ok"));
}

}  // namespace
}  // namespace portflow::fake_cloud
