// The fake cloud served on loopback, reached by portflow's AWS client and by
// boto3 (tests/testing/fake_cloud_boto3.py), each unchanged.
#include "cloud_backend/fake_cloud/fake_cloud.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "cloud_backend/aws/ec2.h"
#include "cloud_backend/aws/eks.h"
#include "cloud_backend/aws/s3.h"
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
  // The group's subnets, and EC2's word on their zones.
  auto group = eks.DescribeNodegroup("cpu-spot");
  ASSERT_EQ(group->subnets.size(), 2u);
  aws::Ec2 ec2(client);
  auto zones = ec2.SubnetZones(group->subnets);
  ASSERT_TRUE(zones.ok()) << zones.status().ToString();
  EXPECT_EQ((*zones)[group->subnets[0]], "us-east-1a");
  EXPECT_EQ((*zones)[group->subnets[1]], "us-east-1b");
  auto missing = ec2.SubnetZones({"subnet-00000000000000000"});
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("InvalidSubnetID.NotFound"));

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

TEST_F(FakeCloudTest, FaultsAndTheBillAreSignedAndServed) {
  aws::Client client = Client();
  auto faults = [&](const std::string& body) {
    return client.Call(
        {"portflow", "POST", "/portflow/faults", {{"Content-Type", "application/json"}}, body});
  };
  ASSERT_TRUE(aws::Eks(client, "burst").SetDesiredSize("cpu-spot", 1).ok());
  std::this_thread::sleep_for(400ms);  // the ticker joins it, with no request
  auto done = faults(R"({"interruptSpot": {"nodeGroup": "cpu-spot", "count": 5}})");
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_EQ(nlohmann::json::parse(done->body)["interrupted"], 1);
  EXPECT_EQ(faults(R"({"interuptSpot": {}})").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(faults(R"({"interruptSpot": {"nodeGroup": "none"}})").status().code(),
            StatusCode::kNotFound);
  fake::HttpRequest unsigned_request{"POST", "/portflow/faults", {}, R"({"vcpuQuota": 0})"};
  EXPECT_EQ(cloud_->Handle(unsigned_request).status, 403);
  aws::Client wrong = Client("not-the-secret");
  EXPECT_EQ(wrong.Call({"portflow", "GET", "/portflow/bill", {}, ""}).status().code(),
            StatusCode::kFailedPrecondition);

  // Two throttled answers, which the client rides out.
  ASSERT_TRUE(faults(R"({"apiErrors": {"count": 2}})").ok());
  EXPECT_TRUE(aws::Eks(client, "burst").ListNodegroups().ok());
  ASSERT_TRUE(faults(R"({"apiErrors": {"count": 5, "code": "ServerException"}})").ok());
  EXPECT_EQ(aws::Eks(client, "burst").ListNodegroups().status().code(), StatusCode::kUnavailable);

  auto bill = client.Call({"portflow", "GET", "/portflow/bill", {}, ""});
  ASSERT_TRUE(bill.ok()) << bill.status().ToString();
  auto b = nlohmann::json::parse(bill->body);
  ASSERT_GE(b["instances"].size(), 1u) << "(and its replacement, once the notice ran out)";
  EXPECT_EQ(b["instances"][0]["type"], "c5.large");
  EXPECT_EQ(b["instances"][0]["capacityType"], "SPOT");
  EXPECT_NEAR(b["instances"][0]["cost"].get<double>(), 0.0255 / 60, 1e-9) << "the 60 s minimum";
}

// S3 throttled as S3 throttles (503 SlowDown): portflow's client tries
// again and the object goes in; past its tries it says why.
TEST_F(FakeCloudTest, ThrottledS3CallsAreTriedAgain) {
  aws::Client client = Client();
  aws::S3 s3(client);
  ASSERT_TRUE(s3.CreateBucket("artifacts").ok());
  ASSERT_TRUE(cloud_->InjectFaults(R"({"apiErrors": {"count": 2}})").ok());
  Status put = s3.Put("artifacts", "k", "v");
  EXPECT_TRUE(put.ok()) << put.ToString();
  EXPECT_EQ(*s3.Get("artifacts", "k"), "v");
  aws::Client impatient(cloud_->url(), "us-east-1",
                        {cloud_->options().access_key_id, cloud_->options().secret_access_key, "",
                         "the fake cloud's keys"},
                        RealClock(), {2, 1ms, 2ms});
  ASSERT_TRUE(cloud_->InjectFaults(R"({"apiErrors": {"count": 2}})").ok());
  Status refused = aws::S3(impatient).Put("artifacts", "k2", "v");
  EXPECT_EQ(refused.code(), StatusCode::kUnavailable);
  EXPECT_THAT(refused.message(), HasSubstr("503 SlowDown"));
}

TEST_F(FakeCloudTest, KubectlSeesTheClusterOfItsInstances) {
  aws::Client client = Client();
  ASSERT_TRUE(aws::Eks(client, "burst").SetDesiredSize("gpu-ondemand", 1).ok());
  auto described = client.Call({"eks", "GET", "/clusters/burst", {}, ""});
  ASSERT_TRUE(described.ok());
  EXPECT_EQ(nlohmann::json::parse(described->body)["cluster"]["endpoint"], cloud_->cluster().url());
  testing::TempDir dir;
  testing::WriteFile(dir.path() + "/kubeconfig", cloud_->Kubeconfig());
  std::this_thread::sleep_for(400ms);
  testing::ShellResult r = testing::Kubectl(
      dir.path(), "get nodes -L eks.amazonaws.com/nodegroup -L topology.kubernetes.io/zone");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("i-00000000000000001"));
  EXPECT_THAT(r.out, HasSubstr("gpu-ondemand"));
  EXPECT_THAT(r.out, HasSubstr("us-east-1a"));
}

// A fake cloud in virtual time: RunFor moves it.
class FakeCloudVirtualTime : public ::testing::Test {
 protected:
  FakeCloud& Make(FakeCloudOptions o = {}) {
    o.clock = &clock_;
    auto made = FakeCloud::Make(o);
    EXPECT_TRUE(made.ok()) << made.status().ToString();
    cloud_ = std::move(*made);
    return *cloud_;
  }
  FakeClock clock_;
  std::unique_ptr<FakeCloud> cloud_;
};

TEST_F(FakeCloudVirtualTime, InstancesBecomeNodesAndTakeThemWhenTheyGo) {
  FakeCloud& cloud = Make();
  auto nodes = [&] {
    auto r = cloud.cluster().Handle({"GET", "/api/v1/nodes", {}, ""});
    return nlohmann::json::parse(r.body)["items"];
  };
  {
    std::lock_guard<std::mutex> l(cloud.lock());
    ASSERT_TRUE(cloud.ec2().Resize("cpu-spot", 2).ok());
    ASSERT_TRUE(cloud.ec2().Resize("gpu-ondemand", 1).ok());
  }
  cloud.RunFor(59s);
  EXPECT_EQ(nodes().size(), 0u) << "still provisioning";
  cloud.RunFor(2s);
  nlohmann::json n = nodes();
  ASSERT_EQ(n.size(), 3u);
  const nlohmann::json& spot = n[0];
  EXPECT_EQ(spot["metadata"]["labels"]["eks.amazonaws.com/nodegroup"], "cpu-spot");
  EXPECT_EQ(spot["metadata"]["labels"]["eks.amazonaws.com/capacityType"], "SPOT");
  EXPECT_EQ(spot["metadata"]["labels"]["node.kubernetes.io/instance-type"], "c5.large");
  EXPECT_EQ(spot["metadata"]["labels"]["topology.kubernetes.io/zone"], "us-east-1a");
  EXPECT_EQ(spot["status"]["allocatable"]["cpu"], "2");
  EXPECT_EQ(spot["status"]["allocatable"]["memory"], "4096Mi");
  EXPECT_EQ(n[2]["status"]["allocatable"]["nvidia.com/gpu"], "1");

  auto done = cloud.InjectFaults(R"({"interruptSpot": {"nodeGroup": "cpu-spot"}})");
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  std::string warned = n[1]["metadata"]["name"];  // the newest goes first
  auto warned_node = cloud.cluster().Handle({"GET", "/api/v1/nodes/" + warned, {}, ""});
  EXPECT_THAT(warned_node.body, HasSubstr("aws-node-termination-handler/spot-itn"));
  cloud.RunFor(119s);
  EXPECT_EQ(nodes().size(), 4u) << "its replacement joined; the notice has not run out";
  cloud.RunFor(2s);
  n = nodes();
  ASSERT_EQ(n.size(), 3u) << "gone";
  for (const nlohmann::json& node : n) EXPECT_NE(node["metadata"]["name"], warned);

  auto bill = nlohmann::json::parse(cloud.Bill());
  ASSERT_EQ(bill["instances"].size(), 4u);
  EXPECT_NEAR(bill["instances"][1]["cost"].get<double>(), 0.0255 * 181 / 3600, 1e-9)
      << "launched at 0 s, warned at 61 s, ended at 181 s";
  EXPECT_TRUE(bill["instances"][3]["end"].is_null());
  ASSERT_TRUE(cloud.InjectFaults(R"({"stockout": {"instanceType": "g5.xlarge"}})").ok());
  {
    std::lock_guard<std::mutex> l(cloud.lock());
    ASSERT_TRUE(cloud.ec2().Resize("gpu-ondemand", 2).ok());
  }
  cloud.RunFor(120s);
  EXPECT_EQ(nodes().size(), 3u) << "no g5.xlarge in any zone";
  EXPECT_EQ(cloud.InjectFaults(R"({"stockout": {"instanceType": "p9.huge"}})").status().code(),
            StatusCode::kInvalidArgument);
}

// Its Cluster Autoscaler, in virtual time: pending pods grow the cheapest
// group that fits each (spot first, as cheaper; a nodeSelector is met), as
// the Auto Scaling API does, never through an EKS update; nodes idle for
// the unneeded time go, their groups shrinking with them.
TEST_F(FakeCloudVirtualTime, ItsAutoscalerGrowsForPendingPodsAndGivesIdleNodesBack) {
  FakeCloudOptions o;
  o.autoscaler = AutoscalerOptions{1s, 5min};
  FakeCloud& cloud = Make(o);
  auto pod = [&](const std::string& name, nlohmann::json requests, nlohmann::json selector) {
    nlohmann::json p = {
        {"metadata", {{"name", name}, {"annotations", {{"sim.portflow.dev/duration", "30"}}}}},
        {"spec",
         {{"containers",
           {{{"name", "c"}, {"image", "x"}, {"resources", {{"requests", requests}}}}}},
          {"nodeSelector", selector}}}};
    return cloud.cluster().Handle({"POST", "/api/v1/namespaces/default/pods", {}, p.dump()}).status;
  };
  auto desired = [&](const std::string& group) {
    std::lock_guard<std::mutex> l(cloud.lock());
    return cloud.ec2().Group(group)->desired_size;
  };
  auto phase = [&](const std::string& name) {
    auto r = cloud.cluster().Handle({"GET", "/api/v1/namespaces/default/pods/" + name, {}, ""});
    return nlohmann::json::parse(r.body)["status"].value("phase", "");
  };
  ASSERT_EQ(pod("a", {{"cpu", "1500m"}}, nlohmann::json::object()), 201);
  ASSERT_EQ(pod("b", {{"cpu", "1500m"}}, nlohmann::json::object()), 201);
  ASSERT_EQ(pod("gpu", {{"nvidia.com/gpu", "1"}, {"cpu", "3500m"}}, nlohmann::json::object()), 201);
  ASSERT_EQ(pod("od", {{"cpu", "1"}}, {{"eks.amazonaws.com/capacityType", "ON_DEMAND"}}), 201);
  ASSERT_EQ(pod("huge", {{"cpu", "64"}}, nlohmann::json::object()), 201);
  cloud.RunFor(3s);
  EXPECT_EQ(desired("cpu-spot"), 2) << "a c5.large each: 1.5 of its 2 cpus";
  EXPECT_EQ(desired("gpu-spot"), 1) << "cheaper than gpu-ondemand";
  EXPECT_EQ(desired("gpu-ondemand"), 0);
  EXPECT_EQ(desired("cpu-ondemand"), 1) << "the nodeSelector's";
  cloud.RunFor(10s);
  EXPECT_EQ(desired("cpu-spot"), 2) << "nodes on their way are counted";
  cloud.RunFor(60s);
  EXPECT_EQ(phase("a"), "Running");
  EXPECT_EQ(phase("gpu"), "Running");
  EXPECT_EQ(phase("od"), "Running");
  EXPECT_EQ(phase("huge"), "Pending") << "no group has 64 cpus on a node";
  cloud.RunFor(40s);
  EXPECT_EQ(phase("a"), "Succeeded");
  cloud.RunFor(4min);
  EXPECT_EQ(desired("cpu-spot"), 2) << "idle for less than 5 minutes";
  cloud.RunFor(2min);
  EXPECT_EQ(desired("cpu-spot"), 0);
  EXPECT_EQ(desired("gpu-spot"), 0);
  EXPECT_EQ(desired("cpu-ondemand"), 0);
  std::lock_guard<std::mutex> l(cloud.lock());
  EXPECT_EQ(cloud.autoscaler()->scale_ups(), 4);
  EXPECT_EQ(cloud.autoscaler()->scale_downs(), 4);
  EXPECT_EQ(cloud.ec2().UpdateCount(), 0u) << "no EKS update: the Auto Scaling side";
  for (const Instance& i : cloud.ec2().Instances()) EXPECT_TRUE(i.ended) << i.id;
}

// Lowering a group's size drains the node it lets go before the instance
// ends: cordoned, its pods evicted (gone after their grace period), then
// the instance and its Node go.
TEST_F(FakeCloudVirtualTime, ScaleInDrainsTheNodeFirst) {
  FakeCloud& cloud = Make();
  {
    std::lock_guard<std::mutex> l(cloud.lock());
    ASSERT_TRUE(cloud.ec2().Resize("cpu-spot", 1).ok());
  }
  cloud.RunFor(61s);
  nlohmann::json pod = {
      {"metadata", {{"name", "p"}, {"annotations", {{"sim.portflow.dev/duration", "3600"}}}}},
      {"spec", {{"containers", {{{"name", "c"}, {"image", "x"}}}}}}};
  ASSERT_EQ(
      cloud.cluster().Handle({"POST", "/api/v1/namespaces/default/pods", {}, pod.dump()}).status,
      201);
  cloud.RunFor(2s);
  auto get = [&](const std::string& path) {
    return nlohmann::json::parse(cloud.cluster().Handle({"GET", path, {}, ""}).body);
  };
  std::string node = get("/api/v1/namespaces/default/pods/p")["spec"].value("nodeName", "");
  ASSERT_FALSE(node.empty()) << "running on the group's node";
  {
    std::lock_guard<std::mutex> l(cloud.lock());
    ASSERT_TRUE(cloud.ec2().Resize("cpu-spot", 0).ok());
    cloud.ec2().Sync();
    EXPECT_FALSE(cloud.ec2().Instances()[0].ended) << "draining first";
  }
  EXPECT_EQ(get("/api/v1/nodes/" + node)["spec"].value("unschedulable", false), true);
  cloud.RunFor(31s);  // the pod's grace period
  EXPECT_EQ(cloud.cluster().Handle({"GET", "/api/v1/namespaces/default/pods/p", {}, ""}).status,
            404)
      << "evicted";
  std::lock_guard<std::mutex> l(cloud.lock());
  EXPECT_TRUE(cloud.ec2().Instances()[0].ended.has_value());
  EXPECT_EQ(cloud.cluster().Handle({"GET", "/api/v1/nodes/" + node, {}, ""}).status, 404);
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
