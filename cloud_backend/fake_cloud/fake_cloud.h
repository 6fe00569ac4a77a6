// The fake cloud's control plane on one loopback port: EKS (REST-JSON) over
// FakeEc2, SQS (JSON protocol) over FakeSqs and S3 (REST-XML, path-style)
// over FakeS3, in AWS's wire shapes, so
// that boto3, the AWS CLI and portflow's own client work against it
// unchanged; every request SigV4-checked against the fake cloud's own keys.
// Its own fake Kubernetes cluster (served on a port of its own, HTTPS) gets a
// Node for each instance that joins, labelled as EKS labels them; a spot
// interruption puts EventBridge's warning on the interruption queue and
// taints the Node; an instance that ends takes its Node and pods with it.
// /portflow/faults and /portflow/bill (SigV4, service "portflow") drive it
// and read its ledger. Time moves on each request and, once served, on a
// ticker thread; in virtual time RunFor moves it. It may run a Cluster
// Autoscaler of its own (FakeCloudOptions::autoscaler).
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cloud_backend/fake_cloud/fake_autoscaler.h"
#include "cloud_backend/fake_cloud/fake_ec2.h"
#include "cloud_backend/fake_cloud/fake_s3.h"
#include "cloud_backend/fake_cloud/fake_sqs.h"
#include "cloud_backend/fake_cloud/sigv4.h"
#include "k8s_backend/fake_cluster/apiserver/http_server.h"
#include "k8s_backend/fake_cluster/fake_cluster.h"

namespace portflow::fake_cloud {

struct FakeCloudOptions {
  std::string region = "us-east-1";
  std::string cluster = "burst";
  std::string account = "123456789012";
  std::string queue = "portflow-interruptions";
  Duration provisioning = std::chrono::seconds(60);
  Duration spot_notice = std::chrono::seconds(120);
  // Random spot interruptions (Ec2Options): a rate an instance-hour, 0 for
  // none, and the seed of their draws.
  double spot_interruptions_per_hour = 0;
  uint64_t seed = 1;
  unsigned long long first_instance = 1;  // Ec2Options::first_instance
  // The prices and types it launches and bills; the shipped one when null.
  std::shared_ptr<const cloud::Catalog> catalog;
  // cpu-spot, cpu-ondemand, gpu-ondemand and gpu-spot at 0 when empty.
  std::vector<GroupConfig> groups;
  // A Cluster Autoscaler of the cluster's own (fake_autoscaler.h), sizing
  // the groups for pending pods; none by default.
  std::optional<AutoscalerOptions> autoscaler;
  // Random when empty.
  std::string access_key_id, secret_access_key;
  // Where S3 keeps its buckets and objects, so that a later cloud made with
  // the same folder has them (FakeS3); in memory only when empty.
  std::string s3_dir;
  Clock* clock = nullptr;  // the real clock when null
  // The cluster's pods: simulated by default; executed as local processes
  // (with exec_root) for the cloud-rehearsal target.
  fake::KubeletOptions kubelet;
};

class FakeCloud : private NodeEvents {
 public:
  // InvalidArgument for a node group the catalog cannot price.
  static Result<std::unique_ptr<FakeCloud>> Make(FakeCloudOptions options);
  ~FakeCloud() override;

  // One request, as the HTTP server hands it over (thread-safe).
  fake::HttpResponse Handle(const fake::HttpRequest& request);
  // Serves the AWS APIs on 127.0.0.1:`port` (0: a free one) and the
  // cluster's API on a free port until destroyed; time moves on a thread.
  Status Serve(int port);
  std::string url() const;  // http://127.0.0.1:PORT once serving
  // A kubeconfig for the cluster's API server (after Serve), its context
  // named after the cluster. A secret: write it mode 0600.
  std::string Kubeconfig() const;
  // Moves the cloud and its cluster on by `d`: in virtual time when the
  // clock is a FakeClock, else in real time.
  void RunFor(Duration d);
  // POST /portflow/faults, in process: the JSON body's faults, each key
  // optional:
  //   {"interruptSpot": {"nodeGroup": G, "count": N},
  //    "stockout": {"instanceType": T, "zone": Z, "clear": false},
  //    "vcpuQuota": N (null: none),
  //    "apiErrors": {"count": N, "code": "ThrottlingException"}}
  // apiErrors fails the next N EKS, SQS and S3 calls (throttling, S3's
  // SlowDown, or a server error for another code). The answer names what
  // was done.
  Result<std::string> InjectFaults(const std::string& body);
  // GET /portflow/bill: {"instances": [{"id", "nodeGroup", "type", "zone",
  // "capacityType", "hourlyPrice", "launch", "end", "cost"}], "cost": total},
  // times in epoch seconds, end null while running.
  std::string Bill();
  // EKS and SQS calls answered so far, and S3 calls apart (GET
  // /portflow/stats: {"awsCalls": N, "s3Calls": M}).
  int64_t aws_calls() const { return aws_calls_.load(); }
  int64_t s3_calls() const { return s3_calls_.load(); }

  const FakeCloudOptions& options() const { return options_; }
  const cloud::Catalog& catalog() const {
    return options_.catalog ? *options_.catalog : cloud::Catalog::Shipped();
  }
  // For tests and faults, under lock() (a long poll may be in flight). Its
  // callbacks from FakeEc2 (Warned) run under that lock and never take it.
  FakeEc2& ec2() { return *ec2_; }
  FakeSqs& sqs() { return sqs_; }
  FakeAutoscaler* autoscaler() { return autoscaler_.get(); }  // null when none
  std::mutex& lock() { return mu_; }
  fake::FakeCluster& cluster() { return *cluster_; }

 private:
  explicit FakeCloud(FakeCloudOptions options);
  void Joined(const Instance& instance) override;
  void Warned(const Instance& instance) override;
  void Left(const Instance& instance) override;
  void Drain(const Instance& instance) override;
  bool Drained(const Instance& instance) override;
  fake::HttpResponse Portflow(const fake::HttpRequest& request, const std::string& path);
  // An injected API error is due (mu_ held): takes it, and says whether it
  // is throttling; nullopt when none is.
  std::optional<bool> TakeApiError();
  // A refused signature, in the refusing service's wire shape and names.
  fake::HttpResponse Refused(const fake::HttpRequest& request, const std::string& path,
                             const SignatureError& refused);
  fake::HttpResponse Eks(const fake::HttpRequest& request, const std::string& path,
                         const std::string& query);
  fake::HttpResponse Sqs(const fake::HttpRequest& request, std::unique_lock<std::mutex>& lock);

  FakeCloudOptions options_;
  Clock& clock_;
  std::mutex mu_;
  std::unique_ptr<FakeEc2> ec2_;
  FakeSqs sqs_;
  FakeS3 s3_;  // under its own lock
  std::atomic<int64_t> aws_calls_{0}, s3_calls_{0};
  int api_errors_ = 0;  // the next N AWS calls fail with api_error_code_
  std::string api_error_code_;
  std::unique_ptr<fake::FakeCluster> cluster_;
  std::unique_ptr<FakeAutoscaler> autoscaler_;  // under mu_
  std::atomic<bool> stopping_{false};
  std::unique_ptr<fake::HttpServer> server_;
  std::condition_variable tick_cv_;  // under mu_: the ticker stops
  std::thread ticker_;
};

}  // namespace portflow::fake_cloud
