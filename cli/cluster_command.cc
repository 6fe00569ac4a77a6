// portflow cluster serve: the fake Kubernetes cluster for real clients.
#include <signal.h>

#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/log.h"
#include "core/quantity.h"
#include "k8s_backend/client/api_client.h"
#include "k8s_backend/fake_cluster/fake_cluster.h"

namespace portflow::cli {
namespace {

// The access log, at info: `portflow -v cluster serve` shows it. Through
// the server's hook rather than logging in the fake cluster itself, which
// also runs embedded (the rehearsal target, tests, benchmarks) where the
// client's own log already has every request.
void LogServed(const fake::HttpRequest& r, int status, std::chrono::microseconds latency) {
  PORTFLOW_LOG(LogLevel::kInfo, "serve",
               r.method + " " + r.target + " " +
                   (status ? k8s::HttpStatusText(status) : "connection dropped") + " in " +
                   std::to_string(latency.count() / 1000) + " ms");
}

}  // namespace

int ClusterServe(const GlobalOptions& g, const ClusterOptions& o) {
  // Blocked before any thread starts, then waited for here.
  sigset_t stop = BlockStopSignals();

  fake::ClusterOptions options;
  options.nodes = o.nodes;
  options.cpu = o.cpu;
  options.memory = o.memory;
  options.gpus = o.gpus;
  options.kubelet.execute = o.mode == "execute";
  auto duration = ParseDuration(o.pod_duration);
  if (!duration.ok()) {
    PrintError("--pod-duration: " + duration.status().message());
    return kExitUsage;
  }
  options.kubelet.default_duration = *duration;
  options.kubelet.exec_root =
      std::filesystem::absolute(o.work_dir.empty() ? g.state_dir + "/cluster/kubelet" : o.work_dir)
          .string();
  auto cluster = fake::FakeCluster::Create(options);
  if (!cluster.ok()) {
    PrintError(cluster.status().message());
    return kExitUsage;
  }
  auto port = (*cluster)->Serve(o.port, LogServed);
  if (!port.ok()) {
    PrintError(port.status().message());
    return kExitFailed;
  }
  std::string path = o.kubeconfig.empty() ? g.state_dir + "/cluster/kubeconfig" : o.kubeconfig;
  if (Status st = WritePrivateFile(path, (*cluster)->Kubeconfig()); !st.ok())
    return Fail(st, kExitFailed);
  std::cout << "kubeconfig: " << std::filesystem::absolute(path).string() << "\n"
            << "server: " << (*cluster)->url() << "\n"
            << std::flush;
  std::cerr << "portflow: serving a fake Kubernetes v1.32 API with " << o.nodes << " node(s) in "
            << o.mode << " mode; Ctrl-C stops it\n";
  int sig = 0;
  sigwait(&stop, &sig);
  std::cerr << "portflow: stopping the fake cluster\n";
  (*cluster)->StopServing();
  return kExitOk;
}

}  // namespace portflow::cli
