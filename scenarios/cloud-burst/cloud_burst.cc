// scenarios/cloud-burst: the sweep of sweep.yaml, or a generated trace of
// jobs arriving over time, run three ways in virtual time (on-prem only,
// cloud only, hybrid), printing the makespan, the cost and how many
// attempts ran where, as a table.
//
// The policy is portflow's own: the engine (core/engine.h) drives the run,
// records it in a run store and moves what waits past burstAfter; the
// hybrid backend (cloud_backend/hybrid) places each attempt and keeps the
// budget. The members are models in virtual time (burst.h): on-prem has 8
// GPUs, the cloud a node per attempt.
//
// The trace: JOBS jobs (seeded) arriving as a Poisson process, one every
// 4.3 minutes on average (about 1.25 times what 8 GPUs serve), each with
// 1, 2 or 4 GPUs (60/25/15%) for 10 to 40 minutes. A job's arrival is a
// step of its own (arrive-N, a timer on the on-prem member that holds
// nothing) that the job (job-N) needs; only jobs are counted.
//
// Usage: cloud_burst WORKLOAD.yaml [BURST_AFTER] [BUDGET_USD] [PROVISIONING]
//        cloud_burst --trace JOBS [SEED] [BURST_AFTER] [BUDGET_USD] [PROVISIONING]
//        (defaults: seed 7, 5m, 40, 90s)
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <string>

#include "cloud_backend/hybrid/hybrid_backend.h"
#include "core/log.h"
#include "core/plan.h"
#include "core/quantity.h"
#include "core/spec_loader.h"
#include "scenarios/cloud-burst/burst.h"

using namespace portflow;
using namespace portflow::burst;

// The trace (see the top of this file) as a workload (burst.h).
Workload TraceWorkload(int jobs, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::exponential_distribution<double> gap(1.0 / (4.3 * 60));  // seconds between arrivals
  std::uniform_int_distribution<int> seconds(600, 2400);
  std::discrete_distribution<int> size({60, 25, 15});
  const int gpus[] = {1, 2, 4};
  Workload w = EmptyTrace();
  double at = 0;
  for (int j = 0; j < jobs; ++j) {
    at += gap(rng);
    int g = gpus[size(rng)];  // drawn before the duration, as the trace always was
    AddTraceJob(w, j, static_cast<int64_t>(at), {2000, int64_t{8} << 30, g}, seconds(rng));
  }
  return w;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: cloud_burst WORKLOAD.yaml [BURST_AFTER] [BUDGET_USD] [PROVISIONING]\n"
                 "       cloud_burst --trace JOBS [SEED] [BURST_AFTER] [BUDGET_USD] "
                 "[PROVISIONING]\n");
    return 2;
  }
  if (std::getenv("BURST_DEBUG")) SetConsoleLogLevel(LogLevel::kDebug);
  const bool trace = std::string(argv[1]) == "--trace";
  if (trace && argc < 3) return std::fprintf(stderr, "cloud_burst: --trace JOBS\n"), 2;
  std::optional<Workload> workload;
  if (trace) {
    workload =
        TraceWorkload(std::atoi(argv[2]), argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 7);
  } else {
    LoadResult loaded = LoadWorkloadFile(argv[1]);
    if (!loaded.ok()) {
      std::fprintf(stderr, "%s", loaded.diagnostics.ToString().c_str());
      return 2;
    }
    workload = std::move(*loaded.workload);
  }
  auto plan = Plan::Build(std::move(*workload));
  if (!plan.ok()) {
    std::fprintf(stderr, "cloud_burst: %s\n", plan.status().ToString().c_str());
    return 2;
  }
  int a = trace ? 4 : 2;  // the first of BURST_AFTER, BUDGET_USD, PROVISIONING
  HybridTarget hybrid;
  hybrid.burst_after = ParseDuration(argc > a ? argv[a] : "5m").value();
  hybrid.budget = std::atof(argc > a + 1 ? argv[a + 1] : "40");
  Members members{ParseDuration(argc > a + 2 ? argv[a + 2] : "90s").value()};
  // A trace spans weeks of virtual time: the engine looks each minute.
  Duration tick = trace ? std::chrono::minutes(1) : std::chrono::seconds(1);
  const std::string dir = std::filesystem::temp_directory_path().string() + "/portflow-burst-" +
                          std::to_string(::getpid());

  std::map<std::string, Outcome> ways;
  {
    FakeClock clock;
    auto onprem = members.OnPrem(clock);
    ways["on-prem only"] = Run(*plan, *onprem, clock, "onprem", dir + "/onprem", tick);
  }
  {
    FakeClock clock;
    auto cloud = members.Cloud(clock);
    ways["cloud only"] = Run(*plan, *cloud, clock, "cloud", dir + "/cloud", tick);
  }
  {
    FakeClock clock;
    auto backend = members.Hybrid(hybrid, clock);
    if (!backend.ok()) {
      std::fprintf(stderr, "cloud_burst: %s\n", backend.status().ToString().c_str());
      return 1;
    }
    ways["hybrid"] = Run(*plan, **backend, clock, "hybrid", dir + "/hybrid", tick);
  }
  std::filesystem::remove_all(dir);

  std::printf(
      "%s; on-prem: 8 GPUs; cloud: a node per attempt, ready after %s; hybrid: "
      "burstAfter %s, budget %s\n\n",
      trace ? (std::string(argv[2]) + " jobs arriving over time").c_str()
            : (std::to_string(plan->instances().size()) + " instances").c_str(),
      FormatDuration(members.provisioning).c_str(), FormatDuration(hybrid.burst_after).c_str(),
      FormatUsd(*hybrid.budget).c_str());
  std::printf("| %-12s | %-9s | %-10s | %-8s | %-10s | %-9s | %-5s |\n", "way", "state", "makespan",
              "cost", "on on-prem", "on cloud", "moved");
  std::printf(
      "|--------------|-----------|------------|----------|------------|-----------|-------|\n");
  bool ok = true;
  for (const char* way : {"on-prem only", "cloud only", "hybrid"}) {
    const Outcome& o = ways[way];
    std::printf("| %-12s | %-9s | %-10s | %-8s | %10d | %9d | %5d |\n", way, o.state.c_str(),
                Span(o.makespan).c_str(), o.cost ? FormatUsd(*o.cost).c_str() : "-",
                o.ran.count("onprem") ? o.ran.at("onprem") : 0,
                o.ran.count("cloud") ? o.ran.at("cloud") : 0, o.moved);
    ok = ok && o.state == "Succeeded";
  }
  return ok ? 0 : 1;
}
