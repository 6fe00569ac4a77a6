// Benchmark: scheduling at scale in simulate mode and virtual
// time, in-process. Creates NODES nodes and JOBS Jobs of PODS pods each
// (zero-duration pods), runs the controllers until every pod has
// succeeded, and prints pods per second (creation to Succeeded, wall time)
// and the peak RSS. Usage: fake_cluster_bench [NODES] [JOBS] [PODS]
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "k8s_backend/fake_cluster/fake_cluster.h"

using namespace portflow;
using namespace portflow::fake;

int main(int argc, char** argv) {
  int nodes = argc > 1 ? std::atoi(argv[1]) : 100;
  int jobs = argc > 2 ? std::atoi(argv[2]) : 100;
  int pods = argc > 3 ? std::atoi(argv[3]) : 10;
  size_t history = argc > 4 ? std::strtoul(argv[4], nullptr, 10) : 20000;
  FakeClock clock;
  ClusterOptions o;
  o.nodes = nodes;
  o.cpu = "32";
  o.memory = "128Gi";
  o.watch_history = history;
  o.kubelet.default_duration = std::chrono::seconds(0);
  auto cluster = FakeCluster::Create(o, clock);
  if (!cluster.ok()) {
    std::fprintf(stderr, "%s\n", cluster.status().ToString().c_str());
    return 1;
  }
  auto start = std::chrono::steady_clock::now();
  for (int j = 0; j < jobs; ++j) {
    json container = {
        {"name", "c"}, {"image", "x"}, {"resources", {{"requests", {{"cpu", "100m"}}}}}};
    json pod_spec = {{"restartPolicy", "Never"}, {"containers", json::array({container})}};
    json job = {
        {"apiVersion", "batch/v1"},
        {"kind", "Job"},
        {"metadata", {{"name", "job-" + std::to_string(j)}}},
        {"spec",
         {{"completions", pods}, {"parallelism", pods}, {"template", {{"spec", pod_spec}}}}}};
    HttpResponse r = (*cluster)->Handle({"POST",
                                         "/apis/batch/v1/namespaces/default/jobs",
                                         {{"content-type", "application/json"}},
                                         job.dump()});
    if (r.status != 201) {
      std::fprintf(stderr, "create failed: %s\n", r.body.c_str());
      return 1;
    }
  }
  int64_t total = int64_t{jobs} * pods, done = 0;
  for (int round = 0; round < 10000 && done < total; ++round) {
    (*cluster)->RunFor(std::chrono::seconds(1));
    // The Jobs count their pods; listing 150,000 pods each round would
    // cost more than the scheduling being measured.
    auto list = (*cluster)->store().List(*FindKind("batch", "jobs"), "", {});
    done = 0;
    for (const json& job : list.ok() ? list->items : std::vector<json>{})
      done += job["status"].value("succeeded", 0);
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  // Every write (create, update, delete, events included) takes one resourceVersion.
  double writes = static_cast<double>((*cluster)->store().resource_version()) / total;
  std::printf(
      "nodes=%d jobs=%d pods=%lld succeeded=%lld wall=%.2fs pods/s=%.0f peak_rss=%.0fMiB "
      "writes/pod=%.1f\n",
      nodes, jobs, static_cast<long long>(total), static_cast<long long>(done), secs, done / secs,
      ru.ru_maxrss / 1024.0, writes);
  std::printf("figure: cluster.pods_per_s %.0f\nfigure: cluster.peak_mib %.0f\n", done / secs,
              ru.ru_maxrss / 1024.0);
  return done == total ? 0 : 1;
}
