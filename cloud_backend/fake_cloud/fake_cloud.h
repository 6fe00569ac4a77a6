// The fake cloud's control plane on one loopback port: EKS (REST-JSON) over
// FakeEc2 and SQS (JSON protocol) over FakeSqs, in AWS's wire shapes, so
// that boto3, the AWS CLI and portflow's own client work against it
// unchanged; every request SigV4-checked against the fake cloud's own keys.
// A spot interruption puts EventBridge's warning on the interruption queue.
// Time moves on each request (FakeEc2::Sync), in virtual or real time.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cloud_backend/fake_cloud/fake_ec2.h"
#include "cloud_backend/fake_cloud/fake_sqs.h"
#include "k8s_backend/fake_cluster/apiserver/http_server.h"

namespace portflow::fake_cloud {

struct FakeCloudOptions {
  std::string region = "us-east-1";
  std::string cluster = "burst";
  std::string account = "123456789012";
  std::string queue = "portflow-interruptions";
  Duration provisioning = std::chrono::seconds(60);
  Duration spot_notice = std::chrono::seconds(120);
  // cpu-spot, cpu-ondemand, gpu-ondemand and gpu-spot at 0 when empty.
  std::vector<GroupConfig> groups;
  // Random when empty.
  std::string access_key_id, secret_access_key;
  Clock* clock = nullptr;  // the real clock when null
};

class FakeCloud : private NodeEvents {
 public:
  // InvalidArgument for a node group the catalog cannot price.
  static Result<std::unique_ptr<FakeCloud>> Make(FakeCloudOptions options);
  ~FakeCloud() override;

  // One request, as the HTTP server hands it over (thread-safe).
  fake::HttpResponse Handle(const fake::HttpRequest& request);
  // Serves on 127.0.0.1:`port` (0: a free one) until destroyed.
  Status Serve(int port);
  std::string url() const;  // http://127.0.0.1:PORT once serving

  const FakeCloudOptions& options() const { return options_; }
  // For tests and faults, under lock() (a long poll may be in flight). Its
  // callbacks from FakeEc2 (Warned) run under that lock and never take it.
  FakeEc2& ec2() { return *ec2_; }
  FakeSqs& sqs() { return sqs_; }
  std::mutex& lock() { return mu_; }

 private:
  explicit FakeCloud(FakeCloudOptions options);
  void Joined(const Instance&) override {}
  void Warned(const Instance& instance) override;
  void Left(const Instance&) override {}
  fake::HttpResponse Eks(const fake::HttpRequest& request, const std::string& path,
                         const std::string& query);
  fake::HttpResponse Sqs(const fake::HttpRequest& request, std::unique_lock<std::mutex>& lock);

  FakeCloudOptions options_;
  Clock& clock_;
  std::mutex mu_;
  std::unique_ptr<FakeEc2> ec2_;
  FakeSqs sqs_;
  std::atomic<bool> stopping_{false};
  std::unique_ptr<fake::HttpServer> server_;
};

}  // namespace portflow::fake_cloud
