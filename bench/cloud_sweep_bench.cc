// Benchmark (issue 13): a sweep of ATTEMPTS single-pod attempts on the
// cloud backend over the fake cloud, in simulate mode and virtual time, in
// process: no node at the start, nodes join PROVISIONING seconds after they
// are asked for, each pod runs POD_SECONDS. The baseline is the same sweep
// on the kubernetes backend over a fake cluster whose nodes are already up
// (as many as the cloud run's peak: the rehearsal's shape). Both submit as
// the engine does, while the backend's placement says an attempt can start
// now, else after the next attempt ends. Prints, for each, the wall time,
// the virtual time, the peak nodes and the cost, and the ratios.
//
// Virtual time: every component reads one FakeClock, which moves on
// whenever a thread waits on it with nothing ready (the cloud backend's
// loop, the watches, the fake cluster's controllers). The fake cloud's AWS
// APIs are real HTTP on loopback; the clusters are reached in process.
//
// Usage: cloud_sweep_bench [ATTEMPTS] [POD_SECONDS] [PROVISIONING_SECONDS]
#include <sys/resource.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>

#include "cloud_backend/cloud_backend_internal.h"
#include "cloud_backend/fake_cloud/fake_cloud.h"
#include "k8s_backend/fake_cluster/fake_transport.h"
#include "k8s_backend/kubernetes_backend.h"

using namespace portflow;

namespace {

// Counts the attempts that ended, and how many succeeded.
class Ends : public EventSink {
 public:
  void OnTaskEvent(TaskEvent e) override {
    if (!IsTerminal(e.state)) return;
    std::lock_guard<std::mutex> l(mu_);
    ++ended_;
    succeeded_ += e.state == TaskState::kSucceeded;
    if (e.state != TaskState::kSucceeded)
      std::fprintf(stderr, "%s ended %s: %s %s\n", e.key.c_str(),
                   std::string(TaskStateName(e.state)).c_str(), e.reason.c_str(),
                   e.message.c_str());
    cv_.notify_all();
  }
  // Waits (real time, bounded) until more than `seen` have ended.
  int WaitMore(int seen) {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait_for(l, std::chrono::seconds(60), [&] { return ended_ > seen; });
    return ended_;
  }
  int succeeded() {
    std::lock_guard<std::mutex> l(mu_);
    return succeeded_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int ended_ = 0, succeeded_ = 0;
};

struct Outcome {
  double wall_s = 0, virtual_s = 0;
  int succeeded = 0;
};

// Submits `n` attempts of half a cpu as placement allows; waits for all.
Outcome Sweep(Backend& backend, Ends& ends, Clock& clock, int n, const std::string& run_dir) {
  auto wall = std::chrono::steady_clock::now();
  TimePoint start = clock.Now();
  int submitted = 0, ended = 0;
  const ResourceRequest need{500, int64_t{512} << 20, 0};
  while (ended < n) {
    while (submitted < n && backend.Place({need, 1, {}}).can_start_now) {
      TaskSpec t;
      t.run_id = "sweep";
      t.step = "s";
      t.instance = "s[" + std::to_string(submitted) + "]";
      t.argv = {"true"};
      t.workdir = t.run_dir = run_dir;
      t.resources = need;
      if (!backend.Submit(t).ok()) {
        std::fprintf(stderr, "submit %d failed\n", submitted);
        return {};
      }
      ++submitted;
    }
    int now_ended = ends.WaitMore(ended);
    if (now_ended == ended) {
      std::fprintf(stderr, "no attempt ended for a minute (%d of %d; %d submitted; %s)\n", ended, n,
                   submitted, backend.Place({need, 1, {}}).why.c_str());
      break;
    }
    ended = now_ended;
  }
  return {std::chrono::duration<double>(std::chrono::steady_clock::now() - wall).count(),
          std::chrono::duration<double>(clock.Now() - start).count(), ends.succeeded()};
}

// The most instances of the bill running at one time.
int PeakNodes(const nlohmann::json& bill) {
  std::vector<std::pair<double, int>> changes;
  for (const auto& i : bill["instances"]) {
    changes.push_back({i["launch"].get<double>(), 1});
    if (!i["end"].is_null()) changes.push_back({i["end"].get<double>(), -1});
  }
  std::sort(changes.begin(), changes.end());
  int now = 0, peak = 0;
  for (const auto& [t, d] : changes) peak = std::max(peak, now += d);
  return peak;
}

// The kubernetes backend over `cluster`, in process, on `clock`.
KubernetesBackendOptions Kubernetes(fake::FakeCluster& cluster, Clock& clock) {
  KubernetesBackendOptions k;
  k.target.namespace_name = "default";
  k.target.image = "busybox";
  k.target.ship_code = false;
  k.access = k8s::ClusterAccess{};
  k.access->server = "in-process";
  k.clock = &clock;
  k.transport = [&cluster](const k8s::ClusterAccess&) -> Result<std::unique_ptr<k8s::Transport>> {
    return fake::MakeFakeClusterTransport(cluster);
  };
  return k;
}

}  // namespace

int main(int argc, char** argv) {
  int attempts = argc > 1 ? std::atoi(argv[1]) : 1000;
  int pod_seconds = argc > 2 ? std::atoi(argv[2]) : 60;
  int provisioning = argc > 3 ? std::atoi(argv[3]) : 60;
  std::string run_dir = std::filesystem::temp_directory_path() / "portflow-cloud-sweep";
  std::filesystem::create_directories(run_dir);

  // The cloud: four groups at 0, nodes after `provisioning`.
  FakeClock cloud_clock;
  fake_cloud::FakeCloudOptions f;
  f.clock = &cloud_clock;
  f.provisioning = std::chrono::seconds(provisioning);
  f.kubelet.default_duration = std::chrono::seconds(pod_seconds);
  auto cloud = fake_cloud::FakeCloud::Make(f);
  if (!cloud.ok() || !(*cloud)->Serve(0).ok()) {
    std::fprintf(stderr, "the fake cloud did not start\n");
    return 1;
  }
  Outcome cloud_run;
  double cost = 0;
  int peak = 0;
  {
    KubernetesBackendOptions k = Kubernetes((*cloud)->cluster(), cloud_clock);
    CloudBackendOptions o;
    o.access = *k.access;
    o.transport = k.transport;
    o.clock = &cloud_clock;
    o.provider = cloud::NewAwsProvider(
        std::make_unique<aws::Client>(
            (*cloud)->url(), "us-east-1",
            aws::Credentials{(*cloud)->options().access_key_id,
                             (*cloud)->options().secret_access_key, "", "the bench's keys"},
            cloud_clock),
        "burst", "portflow-interruptions");
    o.inner = NewKubernetesBackend(std::move(k));
    o.target.cluster = "burst";
    o.target.node_groups = {"cpu-spot", "cpu-ondemand"};
    o.target.provisioning = std::chrono::seconds(provisioning);
    CloudBackend backend(std::move(o));
    Ends ends;
    backend.SetEventSink(&ends);
    cloud_run = Sweep(backend, ends, cloud_clock, attempts, run_dir);
    auto run_cost = backend.FinishRun("sweep");
    cost = run_cost ? run_cost->usd : 0;
    peak = PeakNodes(nlohmann::json::parse((*cloud)->Bill()));
    backend.SetEventSink(nullptr);
  }

  // The baseline: a cluster with the cloud run's peak of c5.large-sized
  // nodes already up.
  FakeClock clock;
  fake::ClusterOptions c;
  c.nodes = std::max(peak, 1);
  c.cpu = "2";
  c.memory = "4Gi";
  c.kubelet.default_duration = std::chrono::seconds(pod_seconds);
  auto cluster = fake::FakeCluster::Create(c, clock);
  if (!cluster.ok()) return 1;
  (*cluster)->StartControllers();
  Outcome base;
  {
    KubernetesBackendOptions k = Kubernetes(**cluster, clock);
    auto backend = NewKubernetesBackend(std::move(k));
    Ends ends;
    backend->SetEventSink(&ends);
    base = Sweep(*backend, ends, clock, attempts, run_dir);
    backend->SetEventSink(nullptr);
  }
  std::filesystem::remove_all(run_dir);

  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  std::printf("%d attempts of half a cpu, %d s each; nodes join after %d s\n", attempts,
              pod_seconds, provisioning);
  std::printf("%-28s %10s %12s %10s %10s %11s\n", "", "wall s", "virtual s", "succeeded",
              "peak nodes", "cost USD");
  std::printf("%-28s %10.2f %12.0f %10d %10d %11.4f\n", "cloud backend, from 0 nodes",
              cloud_run.wall_s, cloud_run.virtual_s, cloud_run.succeeded, peak, cost);
  std::printf("%-28s %10.2f %12.0f %10d %10d %11s\n", "kubernetes, nodes up", base.wall_s,
              base.virtual_s, base.succeeded, std::max(peak, 1), "-");
  std::printf("ratio (cloud / kubernetes): wall %.2fx, virtual %.2fx; peak RSS %.1f MiB\n",
              base.wall_s > 0 ? cloud_run.wall_s / base.wall_s : 0,
              base.virtual_s > 0 ? cloud_run.virtual_s / base.virtual_s : 0,
              usage.ru_maxrss / 1024.0);
  return cloud_run.succeeded == attempts && base.succeeded == attempts ? 0 : 1;
}
