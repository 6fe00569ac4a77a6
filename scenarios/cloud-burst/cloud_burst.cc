// scenarios/cloud-burst: the sweep of sweep.yaml run three ways in virtual
// time (on-prem only, cloud only, hybrid), printing the makespan, the cost
// and how many attempts ran where, as a table.
//
// The policy is portflow's own: the engine (core/engine.h) drives the run,
// records it in a run store and moves what waits past burstAfter; the
// hybrid backend (cloud_backend/hybrid) places each attempt and keeps the
// budget. The members are models in virtual time (core/testing/
// fake_backend.h), each attempt running for its PORTFLOW_SIM_DURATION:
//   onprem: 8 GPUs; what does not fit waits in its queue (Unschedulable);
//   cloud:  a node per attempt (g5.xlarge, one A10G, $1.006 an hour on
//           demand), ready PROVISIONING after it is asked for and billed
//           from then, as the cloud backend's estimate says.
//
// Usage: cloud_burst WORKLOAD.yaml [BURST_AFTER] [BUDGET_USD] [PROVISIONING]
//        (defaults 5m, 40, 90s)
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "cloud_backend/hybrid/hybrid_backend.h"
#include "core/engine.h"
#include "core/log.h"
#include "core/plan.h"
#include "core/quantity.h"
#include "core/run_store.h"
#include "core/spec_loader.h"
#include "core/testing/fake_backend.h"

using namespace portflow;

namespace {

constexpr double kGpuNodeHourly = 1.006;  // g5.xlarge on demand, catalog/aws.csv

struct Members {
  Duration provisioning;
  std::unique_ptr<testing::FakeBackend> OnPrem(FakeClock& clock) const {
    auto b = std::make_unique<testing::FakeBackend>(clock,
                                                    ResourceRequest{64000, int64_t{512} << 30, 8});
    b->SetQueues(true);
    return b;
  }
  std::unique_ptr<testing::FakeBackend> Cloud(FakeClock& clock) const {
    auto b = std::make_unique<testing::FakeBackend>(
        clock, ResourceRequest{4000, int64_t{16} << 30, 1});  // one node's room
    b->SetProvisioning(provisioning);
    b->SetStartDelay(provisioning);
    b->SetPrice(kGpuNodeHourly);
    return b;
  }
};

struct Outcome {
  std::string state;
  Duration makespan{};
  std::optional<double> cost;      // none where nothing is priced
  std::map<std::string, int> ran;  // member -> attempts that succeeded there
  int moved = 0;
};

// Runs `plan` on `backend` (named `where` when it has no members) to its
// end in a run store of its own, on `clock`.
Outcome Run(const Plan& plan, Backend& backend, FakeClock& clock, const std::string& where,
            const std::string& dir) {
  Outcome out;
  std::filesystem::remove_all(dir);
  auto store = RunStore::Open(dir);
  if (!store.ok()) {
    std::fprintf(stderr, "cloud_burst: %s\n", store.status().ToString().c_str());
    return out;
  }
  RunRecord run;
  run.id = "burst";
  run.workload = plan.workload().name;
  run.target = where;
  run.state = "Running";
  run.run_dir = dir + "/run";
  if (Status st = (*store)->CreateRun(run); !st.ok()) return out;
  TimePoint start = clock.Now();
  EngineOptions options;
  options.tick = std::chrono::seconds(1);  // virtual seconds: no one watches
  Engine engine(plan, backend, **store, clock, options);
  Result<std::string> state = engine.Run(run);
  out.state = state.ok() ? *state : state.status().ToString();
  out.makespan = clock.Now() - start;
  out.cost = backend.CostSoFar();
  if (auto attempts = (*store)->ListAttempts(run.id); attempts.ok()) {
    for (const AttemptRecord& a : *attempts) {
      if (a.state == "Succeeded") ++out.ran[a.member.empty() ? where : a.member];
      if (a.reason == "Moved") ++out.moved;
    }
  }
  return out;
}

std::string Minutes(Duration d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f min", std::chrono::duration<double>(d).count() / 60);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: cloud_burst WORKLOAD.yaml [BURST_AFTER] [BUDGET_USD] [PROVISIONING]\n");
    return 2;
  }
  if (std::getenv("BURST_DEBUG")) SetConsoleLogLevel(LogLevel::kDebug);
  LoadResult loaded = LoadWorkloadFile(argv[1]);
  if (!loaded.ok()) {
    std::fprintf(stderr, "%s", loaded.diagnostics.ToString().c_str());
    return 2;
  }
  auto plan = Plan::Build(std::move(*loaded.workload));
  if (!plan.ok()) {
    std::fprintf(stderr, "cloud_burst: %s\n", plan.status().ToString().c_str());
    return 2;
  }
  HybridTarget hybrid;
  hybrid.burst_after = ParseDuration(argc > 2 ? argv[2] : "5m").value();
  hybrid.budget = std::atof(argc > 3 ? argv[3] : "40");
  Members members{ParseDuration(argc > 4 ? argv[4] : "90s").value()};
  const std::string dir = std::filesystem::temp_directory_path().string() + "/portflow-burst-" +
                          std::to_string(::getpid());

  std::map<std::string, Outcome> ways;
  {
    FakeClock clock;
    auto onprem = members.OnPrem(clock);
    ways["on-prem only"] = Run(*plan, *onprem, clock, "onprem", dir + "/onprem");
  }
  {
    FakeClock clock;
    auto cloud = members.Cloud(clock);
    ways["cloud only"] = Run(*plan, *cloud, clock, "cloud", dir + "/cloud");
  }
  {
    FakeClock clock;
    std::vector<std::pair<std::string, std::unique_ptr<Backend>>> both;
    both.emplace_back("onprem", members.OnPrem(clock));
    both.emplace_back("cloud", members.Cloud(clock));
    auto backend = MakeHybridBackend(hybrid, std::move(both), clock);
    if (!backend.ok()) {
      std::fprintf(stderr, "cloud_burst: %s\n", backend.status().ToString().c_str());
      return 1;
    }
    ways["hybrid"] = Run(*plan, **backend, clock, "hybrid", dir + "/hybrid");
  }
  std::filesystem::remove_all(dir);

  std::printf(
      "%zu instances; on-prem: 8 GPUs; cloud: a g5.xlarge node per attempt, ready after "
      "%s; hybrid: burstAfter %s, budget %s\n\n",
      plan->instances().size(), FormatDuration(members.provisioning).c_str(),
      FormatDuration(hybrid.burst_after).c_str(), FormatUsd(*hybrid.budget).c_str());
  std::printf("| %-12s | %-9s | %-10s | %-8s | %-10s | %-9s | %-5s |\n", "way", "state", "makespan",
              "cost", "on on-prem", "on cloud", "moved");
  std::printf(
      "|--------------|-----------|------------|----------|------------|-----------|-------|\n");
  bool ok = true;
  for (const char* way : {"on-prem only", "cloud only", "hybrid"}) {
    const Outcome& o = ways[way];
    std::printf("| %-12s | %-9s | %-10s | %-8s | %10d | %9d | %5d |\n", way, o.state.c_str(),
                Minutes(o.makespan).c_str(), o.cost ? FormatUsd(*o.cost).c_str() : "-",
                o.ran.count("onprem") ? o.ran.at("onprem") : 0,
                o.ran.count("cloud") ? o.ran.at("cloud") : 0, o.moved);
    ok = ok && o.state == "Succeeded";
  }
  return ok ? 0 : 1;
}
