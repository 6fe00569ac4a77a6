// The fake Kubernetes cluster: an object store plus the API handler that
// serves it, usable in-process by tests and over HTTP by real clients.
// The controllers (controllers/) run in passes on a thread of their own,
// or when a test drives them.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "core/clock.h"
#include "core/status.h"
#include "k8s_backend/fake_cluster/apiserver/http_server.h"
#include "k8s_backend/fake_cluster/apiserver/http_types.h"
#include "k8s_backend/fake_cluster/apiserver/reactors.h"
#include "k8s_backend/fake_cluster/apiserver/router.h"
#include "k8s_backend/fake_cluster/controllers/controller_manager.h"
#include "k8s_backend/fake_cluster/store/object_store.h"

namespace portflow::fake {

struct ClusterOptions {
  KubeletOptions kubelet;  // simulate mode by default
  int nodes = 1;
  std::string cpu = "4";         // per node
  std::string memory = "16Gi";   // per node
  int gpus = 0;                  // per node
  size_t watch_history = 20000;  // changes kept for watches that resume
  // As Kueue's webhook does: a Job created with the label
  // kueue.x-k8s.io/queue-name is stored suspended, until something (a test
  // playing Kueue's admission) sets spec.suspend to false.
  bool kueue_suspends = false;
};

// A Node as a cloud would add one at run time (FakeCluster::AddNode).
struct NodeSpec {
  std::string name;
  std::string cpu = "4", memory = "16Gi";     // capacity and allocatable
  int gpus = 0;                               // nvidia.com/gpu
  std::map<std::string, std::string> labels;  // beside the usual kubernetes.io ones
  std::string provider_id;                    // spec.providerID, as a cloud sets it
};

class FakeCluster {
 public:
  static Result<std::unique_ptr<FakeCluster>> Create(ClusterOptions options,
                                                     Clock& clock = RealClock());
  ~FakeCluster();

  ObjectStore& store() { return store_; }
  // Answers one API request, as the API server would.
  HttpResponse Handle(const HttpRequest& request);

  // Serves the API over HTTPS on 127.0.0.1:`port` (0: any free port), with a
  // certificate signed by the cluster's own CA; returns the port. `served`
  // hears of each request answered (see ServedHook). As a real API server
  // with anonymous access off, every request over the network (health,
  // discovery, /portflow/faults and /portflow/stats too) must carry
  // "Authorization: Bearer <token()>"; any other is answered 401. Handle(),
  // in-process, is not checked.
  Result<int> Serve(int port = 0, ServedHook served = nullptr);
  void StopServing();
  // Drives the controllers for `d` of cluster time: in virtual time when the
  // clock is a FakeClock (an hour takes milliseconds), else in real time.
  void RunFor(Duration d);
  // Runs the controllers on a thread of their own, in real time (Serve does).
  void StartControllers();

  // Fault injection, for tests of clients. API calls (not discovery or
  // /version) fail: `code` 429 comes with Retry-After: 1; 500 is an internal
  // error; 0 drops the connection without an answer. A served cluster takes
  // the same faults from outside as a JSON POST to /portflow/faults:
  //   {"failNext": N, "failRate": R, "code": C, "loseNode": "node-2",
  //    "failPod": {"namespace": NS, "name": POD, "exitCode": 137},
  //    "dropWatches": true, "missingImages": ["registry/app:1"]}
  //   (every key optional; code defaults to 500)
  void FailNextCalls(int count, int code);
  // Each API call fails with probability `rate` (deterministic sequence).
  void FailCallsAtRate(double rate, int code);
  // Ends every open watch, as a restarted API server would.
  void DropWatches() { store_.StopAllWatches(); }
  // The node stops reporting: it turns NotReady and its running pods fail
  // with reason NodeLost.
  Status LoseNode(const std::string& name);
  // The registry has none of `images` (and every other): pods that use one
  // wait in ErrImagePull, then ImagePullBackOff.
  void SetMissingImages(std::set<std::string> images);
  // A Ready Node joins (AlreadyExists when one has its name); the scheduler
  // places pods on it from its next pass.
  Status AddNode(const NodeSpec& spec);
  // A taint on the Node (kept when it has one with the same key).
  Status TaintNode(const std::string& name, const json& taint);
  // The machine behind the Node is gone: LoseNode, then the Node is deleted.
  Status RemoveNode(const std::string& name);
  // A running pod fails now with `exit_code` (its container is killed).
  Status FailPod(const std::string& ns, const std::string& name, int exit_code = 137);
  // Reactors answer API calls (paths under /api/ and /apis/) before the
  // router, as client-go's fake PrependReactor: a test may add its own.
  // /version, the discovery roots /api and /apis, OpenAPI and health never
  // reach them.
  ReactorChain& reactors() { return reactors_; }
  // API calls answered so far (requests per task in benchmarks).
  int64_t api_calls() const { return api_calls_.load(); }
  // The same by kind: method and path with names as "*", and "watch" or
  // "list" for a collection read ("GET /api/v1/namespaces/*/pods/*/log").
  std::map<std::string, int64_t> api_calls_by_kind() const;

  // A kubeconfig for the served API (after Serve): its URL, the CA and the
  // token, a secret to be written only where its owner alone can read it
  // (mode 0600).
  std::string Kubeconfig(const std::string& context = "portflow-fake") const;
  // https://127.0.0.1:PORT once served.
  std::string url() const;
  // The CA that signed the serving certificate (PEM), new for each cluster.
  const std::string& ca_pem() const { return certificate_.ca_pem; }
  // This cluster's bearer token: 64 hex digits from the system's random
  // source, new for each cluster.
  const std::string& token() const { return token_; }

 private:
  FakeCluster(ClusterOptions options, Clock& clock)
      : options_(std::move(options)),
        clock_(clock),
        store_(clock, options_.watch_history),
        token_(NewToken()),
        bearer_("Bearer " + token_),
        controllers_(store_, options_.kubelet, [this] { WakeControllers(); }) {}
  static std::string NewToken();
  Status Bootstrap();
  void StopControllers();
  // The controllers' thread runs a pass now rather than at its next tick.
  void WakeControllers();
  // The token check in front of Handle for requests over HTTP.
  HttpResponse Authenticated(const HttpRequest& request);
  // What a GET of a pod's log asks for.
  struct LogOptions {
    bool follow = false;
    std::optional<int64_t> tail_lines;   // the last N lines only
    std::optional<int64_t> limit_bytes;  // at most N bytes in all
    std::string container;               // "" for the pod's only one
    bool empty = false;                  // a container without a log of its own
  };
  // The log of `pod` (stored as ns/name), as GetLog found it.
  HttpResponse Logs(const std::string& ns, const std::string& name, const json& pod,
                    const LogOptions& options);
  // The fault reactor, put in the chain on first use.
  FaultReactor& Faults();
  // POST /portflow/faults: the fault injection above, for a served cluster.
  HttpResponse InjectFaults(const std::string& body);
  // FailPod, with `more` changing the failed pod in the same update (a
  // client must never see the failure without its reason).
  Status FailPodWith(const std::string& ns, const std::string& name, int exit_code,
                     const std::function<void(json&)>& more);
  // The route table (apiserver/routes.cc): discovery, OpenAPI and health
  // paths, and a handler per verb on resources.
  void InstallRoutes();
  HttpResponse WatchResource(const ApiRequest& r);
  HttpResponse ListResource(const ApiRequest& r);
  HttpResponse CreateResource(const ApiRequest& r);
  HttpResponse GetResource(const ApiRequest& r);
  HttpResponse GetLog(const ApiRequest& r);
  HttpResponse WriteResource(const ApiRequest& r);  // update and patch
  HttpResponse DeleteResource(const ApiRequest& r);
  HttpResponse DeleteCollection(const ApiRequest& r);
  // One object deleted as `r` asks (`policy`: Orphan, Background or
  // Foreground): the object as it was, or marked for the garbage collector.
  Result<ObjectStore::Stored> DeleteNamed(const ApiRequest& r, const std::string& name,
                                          const std::string& policy);
  // Removes the owner reference to `owner_uid` from every pod (Orphan).
  void ReleaseDependents(const std::string& owner_uid);

  ClusterOptions options_;
  Clock& clock_;
  ObjectStore store_;
  Router router_;
  const std::string token_;
  const std::string bearer_;  // the Authorization header each request must carry
  ServingCertificate certificate_;
  std::unique_ptr<HttpServer> server_;
  // The store changed or a process ended: the controllers' thread runs a
  // pass now rather than at its next 20 ms tick. Before the controllers,
  // which wake it until they are destroyed.
  std::mutex wake_mu_;
  std::condition_variable wake_cv_;
  bool wake_ = false;
  ControllerManager controllers_;
  std::mutex controllers_mu_;  // one pass at a time
  std::thread controller_thread_;
  std::atomic<bool> stop_controllers_{false};
  bool listening_ = false;
  ReactorChain reactors_;
  std::mutex faults_mu_;
  std::shared_ptr<FaultReactor> faults_;  // in reactors_ once a fault is asked for
  std::atomic<int64_t> api_calls_{0};
  mutable std::mutex calls_mu_;
  std::map<std::string, int64_t> calls_by_kind_;
};

}  // namespace portflow::fake
