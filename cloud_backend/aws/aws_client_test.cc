// portflow's AWS client against moto's server, an independent AWS
// implementation that verifies SigV4 (tests/testing/moto_fixture.py).
#include "cloud_backend/aws/aws_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "cloud_backend/aws/ec2.h"
#include "cloud_backend/aws/eks.h"
#include "cloud_backend/aws/sqs.h"
#include "tests/testing/cli_runner.h"

namespace portflow::aws {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::UnorderedElementsAre;
using json = nlohmann::json;
using testing::RunShell;
using testing::ShellResult;

class MotoTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ShellResult r =
        RunShell(std::string("python3 ") + PORTFLOW_SOURCE_DIR + "/tests/testing/moto_fixture.py");
    ASSERT_EQ(r.code, 0) << r.out;
    moto_ = new json(json::parse(r.out, nullptr, false));
    ASSERT_TRUE(moto_->is_object()) << r.out;
  }
  static void TearDownTestSuite() {
    if (moto_ && moto_->contains("pid") && (*moto_)["pid"].get<pid_t>() > 0)
      ::kill((*moto_)["pid"].get<pid_t>(), SIGTERM);
    delete moto_;
    moto_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(moto_, nullptr); }

  static Credentials Keys(const std::string& secret = "") {
    std::string real = (*moto_)["secret_access_key"];
    return {(*moto_)["access_key_id"], secret.empty() ? real : secret, "", "test keys"};
  }
  static Client MakeClient(const std::string& secret = "") {
    return Client((*moto_)["endpoint"], (*moto_)["region"], Keys(secret));
  }

  static json* moto_;
};
json* MotoTest::moto_ = nullptr;

TEST_F(MotoTest, EksNodeGroupsAreReadAndResized) {
  Client client = MakeClient();
  Eks eks(client, "burst");
  auto names = eks.ListNodegroups();
  ASSERT_TRUE(names.ok()) << names.status().ToString();
  EXPECT_THAT(*names, UnorderedElementsAre("cpu-spot", "gpu-ondemand"));
  auto group = eks.DescribeNodegroup("cpu-spot");
  ASSERT_TRUE(group.ok()) << group.status().ToString();
  EXPECT_EQ(group->name, "cpu-spot");
  EXPECT_EQ(group->status, "ACTIVE");
  EXPECT_EQ(group->capacity_type, "SPOT");
  EXPECT_THAT(group->instance_types, ElementsAre("c5.large", "m5.large"));
  EXPECT_EQ(group->min_size, 0);
  EXPECT_EQ(group->max_size, 10);
  EXPECT_EQ(group->desired_size, 0);

  auto update = eks.SetDesiredSize("cpu-spot", 3);
  ASSERT_TRUE(update.ok()) << update.status().ToString();
  EXPECT_FALSE(update->id.empty());
  EXPECT_EQ(update->status, "Successful");  // moto completes an update at once
  EXPECT_EQ(eks.DescribeNodegroup("cpu-spot")->desired_size, 3);
  EXPECT_EQ(eks.DescribeNodegroup("gpu-ondemand")->desired_size, 1) << "the other group kept its";

  auto missing = eks.DescribeNodegroup("nope");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("ResourceNotFoundException"));
  EXPECT_EQ(Eks(client, "no-cluster").DescribeNodegroup("x").status().code(),
            StatusCode::kNotFound);
}

// A node group's subnets, and EC2's word on their zones.
TEST_F(MotoTest, SubnetsSayTheirZones) {
  Client client = MakeClient();
  auto group = Eks(client, "burst").DescribeNodegroup("cpu-spot");
  ASSERT_TRUE(group.ok()) << group.status().ToString();
  EXPECT_EQ(json(group->subnets), (*moto_)["subnets"]);
  Ec2 ec2(client);
  auto zones = ec2.SubnetZones(group->subnets);
  ASSERT_TRUE(zones.ok()) << zones.status().ToString();
  ASSERT_EQ(zones->size(), 2u);
  EXPECT_EQ((*zones)[group->subnets[0]], "us-east-1a");
  EXPECT_EQ((*zones)[group->subnets[1]], "us-east-1b");
  auto missing = ec2.SubnetZones({"subnet-00000000000000000"});
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("InvalidSubnetID.NotFound"));
  Client wrong = MakeClient("wrong");
  EXPECT_EQ(Ec2(wrong).SubnetZones(group->subnets).status().code(),
            StatusCode::kFailedPrecondition)
      << "a wrong secret";
}

TEST_F(MotoTest, SqsMessagesAreReceivedAndDeleted) {
  Client client = MakeClient();
  Sqs sqs(client);
  auto url = sqs.QueueUrl("portflow-interruptions");
  ASSERT_TRUE(url.ok()) << url.status().ToString();
  EXPECT_EQ(*url, (*moto_)["queue_url"]);
  std::string warning = R"({"detail-type":"EC2 Spot Instance Interruption Warning"})";
  ASSERT_TRUE(sqs.Send(*url, warning).ok());
  auto got = sqs.Receive(*url, 10, 1);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].body, warning);
  EXPECT_FALSE((*got)[0].receipt_handle.empty());
  ASSERT_TRUE(sqs.Delete(*url, (*got)[0].receipt_handle).ok());
  auto empty = sqs.Receive(*url, 10, 0);
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_TRUE(empty->empty());
  EXPECT_EQ(sqs.QueueUrl("nope").status().code(), StatusCode::kNotFound);
}

// A wrong secret is refused by the server's signature check: the error
// names where the keys came from, never the secret.
TEST_F(MotoTest, AWrongSecretIsRefusedNamingTheSourceNotTheSecret) {
  Client client = MakeClient("not-the-secret-4711");
  auto names = Eks(client, "burst").ListNodegroups();
  EXPECT_EQ(names.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(names.status().message(), HasSubstr("AWS refused the credentials from test keys"));
  EXPECT_THAT(names.status().message(), HasSubstr("SignatureDoesNotMatch"));
  EXPECT_THAT(names.status().message(), Not(HasSubstr("4711")));
  auto url = Sqs(client).QueueUrl("portflow-interruptions");
  EXPECT_EQ(url.status().code(), StatusCode::kFailedPrecondition);
}

TEST(AwsClientTest, NoAnswerIsTriedAgainThenUnavailable) {
  Client client("http://127.0.0.1:1", "us-east-1", {"AK", "secret", "", "test"}, RealClock(),
                {3, std::chrono::milliseconds(1), std::chrono::milliseconds(2)});
  auto r = client.Call({"eks", "GET", "/clusters"});
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(r.status().message(), HasSubstr("no answer from http://127.0.0.1:1/clusters"));
  EXPECT_EQ(Client("", "eu-west-1", {}).Endpoint("sqs"), "https://sqs.eu-west-1.amazonaws.com");
}

// Throttled twice, then answered: the call succeeds on its third try; one
// throttled past the tries left is Unavailable, naming the code.
TEST(AwsClientTest, ThrottlingIsTriedAgainWithBackoff) {
  auto serve = [](const std::string& script) {
    std::string command = std::string("python3 ") + PORTFLOW_SOURCE_DIR +
                          "/tests/testing/scripted_http.py " + script + " &";
    FILE* p = ::popen(command.c_str(), "r");
    int pid = 0, port = 0;
    if (std::fscanf(p, "%d %d", &pid, &port) != 2) pid = port = 0;
    ::pclose(p);
    return std::pair{pid, port};
  };
  Retries quick{3, std::chrono::milliseconds(1), std::chrono::milliseconds(2)};
  auto [pid, port] = serve(
      "'429:{\"__type\":\"ThrottlingException\"}' "
      "'400:{\"__type\":\"com.amazon#ThrottlingException\"}' '200:{\"nodegroups\":[\"a\"]}'");
  ASSERT_GT(port, 0);
  Client client("http://127.0.0.1:" + std::to_string(port), "us-east-1", {"AK", "s", "", "t"},
                RealClock(), quick);
  auto names = Eks(client, "c").ListNodegroups();
  if (pid > 0) ::kill(pid, SIGTERM);
  ASSERT_TRUE(names.ok()) << names.status().ToString();
  EXPECT_EQ(*names, std::vector<std::string>{"a"});

  auto [pid2, port2] = serve("'503:{\"message\":\"busy\"}'");
  ASSERT_GT(port2, 0);
  Client busy("http://127.0.0.1:" + std::to_string(port2), "us-east-1", {"AK", "s", "", "t"},
              RealClock(), quick);
  auto r = busy.Call({"eks", "GET", "/clusters"});
  if (pid2 > 0) ::kill(pid2, SIGTERM);
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(r.status().message(), HasSubstr("503: busy (after 3 tries)"));
}

TEST(AwsClientTest, ErrorCodesComeFromEachProtocolsPlace) {
  EXPECT_EQ(ErrorCode({400, R"({"__type":"com.amazonaws.sqs#QueueDoesNotExist"})", {}}),
            "QueueDoesNotExist");
  EXPECT_EQ(ErrorCode({404, "{}", {{"x-amzn-errortype", "ResourceNotFoundException:http://x"}}}),
            "ResourceNotFoundException");
  EXPECT_EQ(ErrorCode({403, "<Error><Code>SignatureDoesNotMatch</Code></Error>", {}}),
            "SignatureDoesNotMatch");
  EXPECT_EQ(ErrorCode({400, "{}", {{"x-amzn-errortype", "com.amazonaws.sqs#QueueDoesNotExist"}}}),
            "QueueDoesNotExist");
  EXPECT_EQ(ErrorCode({500, "oops", {}}), "");
}

}  // namespace
}  // namespace portflow::aws
