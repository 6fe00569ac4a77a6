// The fake Kubernetes cluster: an object store plus the API handler that
// serves it, usable in-process by tests and over HTTP by real clients.
// Controllers (scheduler, Job controller, kubelet) arrive with issue 3's next
// pieces; this first one serves objects as the API server does.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "core/clock.h"
#include "core/status.h"
#include "k8s_backend/fake_cluster/controllers.h"
#include "k8s_backend/fake_cluster/http_server.h"
#include "k8s_backend/fake_cluster/http_types.h"
#include "k8s_backend/fake_cluster/object_store.h"

namespace portflow::fake {

struct ClusterOptions {
  SimulateOptions simulate;
  int nodes = 1;
  std::string cpu = "4";        // per node
  std::string memory = "16Gi";  // per node
  int gpus = 0;                 // per node
};

class FakeCluster {
 public:
  static Result<std::unique_ptr<FakeCluster>> Create(ClusterOptions options,
                                                     Clock& clock = RealClock());
  ~FakeCluster();

  ObjectStore& store() { return store_; }
  // Answers one API request, as the API server would.
  HttpResponse Handle(const HttpRequest& request);

  // Serves the API on 127.0.0.1:`port` (0: any free port); returns the port.
  Result<int> Serve(int port = 0);
  void StopServing();
  // Drives the controllers for `d` of cluster time: in virtual time when the
  // clock is a FakeClock (an hour takes milliseconds), else in real time.
  void RunFor(Duration d);
  // Runs the controllers on a thread of their own, in real time (Serve does).
  void StartControllers();

  // A kubeconfig for the served API (after Serve).
  std::string Kubeconfig(const std::string& context = "portflow-fake") const;

 private:
  FakeCluster(ClusterOptions options, Clock& clock)
      : options_(std::move(options)),
        clock_(clock),
        store_(clock),
        controllers_(store_, options_.simulate) {}
  Status Bootstrap();
  void StopControllers();
  // Removes the owner reference to `owner_uid` from every pod (Orphan).
  void ReleaseDependents(const std::string& owner_uid);

  ClusterOptions options_;
  Clock& clock_;
  ObjectStore store_;
  std::unique_ptr<HttpServer> server_;
  Controllers controllers_;
  std::mutex controllers_mu_;  // one pass at a time
  std::thread controller_thread_;
  std::atomic<bool> stop_controllers_{false};
};

}  // namespace portflow::fake
