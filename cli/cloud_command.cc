// portflow cloud serve: the fake cloud (EKS, SQS, its own Kubernetes
// cluster) for real clients: boto3, the AWS CLI, kubectl, portflow's cloud
// backend.
#include <signal.h>

#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "cli/common.h"
#include "cloud_backend/fake_cloud/fake_cloud.h"
#include "cloud_backend/fake_cloud/node_groups.h"
#include "core/quantity.h"

namespace portflow::cli {

int CloudServe(const GlobalOptions& g, const CloudServeOptions& o) {
  // Blocked before any thread starts, then waited for here.
  sigset_t stop = BlockStopSignals();

  fake_cloud::FakeCloudOptions options;
  options.region = o.region;
  options.cluster = o.cluster;
  for (auto [flag, text, into] :
       {std::tuple{"--provisioning", o.provisioning, &options.provisioning},
        std::tuple{"--spot-notice", o.spot_notice, &options.spot_notice},
        std::tuple{"--pod-duration", o.pod_duration, &options.kubelet.default_duration}}) {
    auto d = ParseDuration(text);
    if (!d.ok())
      return Fail(InvalidArgument(std::string(flag) + ": " + d.status().message()), kExitUsage);
    *into = *d;
  }
  options.spot_interruptions_per_hour = o.spot_interruptions;
  options.seed = o.seed;
  if (o.autoscaler) {
    auto unneeded = ParseDuration(o.scale_down_unneeded);
    if (!unneeded.ok())
      return Fail(InvalidArgument("--scale-down-unneeded: " + unneeded.status().message()),
                  kExitUsage);
    options.autoscaler = fake_cloud::AutoscalerOptions{};
    options.autoscaler->scale_down_unneeded = *unneeded;
  }
  if (!o.node_groups.empty()) {
    auto groups = fake_cloud::LoadNodeGroups(o.node_groups);
    if (!groups.ok()) return Fail(groups.status(), kExitUsage);
    options.groups = std::move(*groups);
  }
  options.kubelet.execute = o.mode == "execute";
  options.kubelet.exec_root =
      std::filesystem::absolute(o.work_dir.empty() ? g.state_dir + "/cloud/kubelet" : o.work_dir)
          .string();
  auto cloud = fake_cloud::FakeCloud::Make(options);
  if (!cloud.ok()) {
    std::string from = o.node_groups.empty() ? "" : o.node_groups + ": ";
    return Fail(InvalidArgument(from + cloud.status().message()), kExitUsage);
  }
  if (Status st = (*cloud)->Serve(o.port); !st.ok()) return Fail(st, kExitFailed);

  std::string kubeconfig = o.kubeconfig.empty() ? g.state_dir + "/cloud/kubeconfig" : o.kubeconfig;
  std::string credentials =
      o.aws_credentials.empty() ? g.state_dir + "/cloud/credentials" : o.aws_credentials;
  const fake_cloud::FakeCloudOptions& made = (*cloud)->options();
  for (const auto& [path, text] :
       {std::pair{kubeconfig, (*cloud)->Kubeconfig()},
        std::pair{credentials, "[default]\naws_access_key_id = " + made.access_key_id +
                                   "\naws_secret_access_key = " + made.secret_access_key + "\n"}}) {
    if (Status st = WritePrivateFile(path, text); !st.ok()) return Fail(st, kExitFailed);
  }
  // What a script needs, one "key: value" a line.
  std::cout << "endpoint: " << (*cloud)->url() << "\n"
            << "region: " << made.region << "\n"
            << "cluster: " << made.cluster << "\n"
            << "kubeconfig: " << std::filesystem::absolute(kubeconfig).string() << "\n"
            << "credentials: " << std::filesystem::absolute(credentials).string() << "\n"
            << "server: " << (*cloud)->cluster().url() << "\n"
            << std::flush;
  std::cerr << "portflow: serving a fake cloud (EKS cluster " << made.cluster << " with "
            << made.groups.size() << " node group(s), SQS queue " << made.queue
            << ", S3 path-style, in memory" << (o.autoscaler ? ", a Cluster Autoscaler" : "")
            << (o.spot_interruptions > 0 ? ", spot interruptions at random" : "") << ") in "
            << o.mode << " mode; Ctrl-C stops it\n";
  int sig = 0;
  sigwait(&stop, &sig);
  std::cerr << "portflow: stopping the fake cloud\n";
  return kExitOk;
}

}  // namespace portflow::cli
