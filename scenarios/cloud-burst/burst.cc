#include "scenarios/cloud-burst/burst.h"

#include <cstdio>
#include <filesystem>

#include "core/engine.h"

namespace portflow::burst {

std::unique_ptr<testing::FakeBackend> Members::OnPrem(FakeClock& clock) const {
  auto b = std::make_unique<testing::FakeBackend>(
      clock, ResourceRequest{8000 * onprem_gpus, (int64_t{64} << 30) * onprem_gpus, onprem_gpus});
  b->SetQueues(true);
  return b;
}

std::unique_ptr<testing::FakeBackend> Members::Cloud(FakeClock& clock) const {
  auto b = std::make_unique<testing::FakeBackend>(
      clock, ResourceRequest{48000, int64_t{192} << 30, 4});  // the largest node's room
  b->SetProvisioning(provisioning);
  b->SetStartDelay(provisioning);
  b->SetPrice(kGpuHourly, /*per_gpu=*/true);
  return b;
}

Result<std::unique_ptr<Backend>> Members::Hybrid(const HybridTarget& target,
                                                 FakeClock& clock) const {
  std::vector<std::pair<std::string, std::unique_ptr<Backend>>> both;
  both.emplace_back("onprem", OnPrem(clock));
  both.emplace_back("cloud", Cloud(clock));
  return MakeHybridBackend(target, std::move(both), clock);
}

Workload EmptyTrace() {
  Workload w;
  w.file = "trace";
  w.dir = ".";
  w.name = "trace";
  w.image = "registry.local/team/trainer:1";
  return w;
}

void AddTraceJob(Workload& w, size_t n, int64_t arrival_s, const Resources& need,
                 int64_t duration_s) {
  Step arrive;
  arrive.name = "arrive-" + std::to_string(n);
  arrive.command = {{"sleep", {}}};
  arrive.resources = {1, 1 << 20, 0};
  arrive.env = {{"PORTFLOW_SIM_DURATION", {std::to_string(arrival_s) + "s", {}}}};
  Step job;
  job.name = "job-" + std::to_string(n);
  job.needs = {arrive.name};
  job.needs_pos = {{}};
  job.command = {{"train", {}}};
  job.resources = need;
  job.env = {{"PORTFLOW_SIM_DURATION", {std::to_string(duration_s) + "s", {}}}};
  w.steps.push_back(std::move(arrive));
  w.steps.push_back(std::move(job));
}

Outcome Run(const Plan& plan, Backend& backend, FakeClock& clock, const std::string& where,
            const std::string& dir, Duration tick, bool keep_store) {
  Outcome out;
  std::filesystem::remove_all(dir);
  auto store = RunStore::Open(dir);
  if (!store.ok()) {
    std::fprintf(stderr, "cloud-burst: %s\n", store.status().ToString().c_str());
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
  options.tick = tick;  // virtual time: no one watches
  Engine engine(plan, backend, **store, clock, options);
  Result<std::string> state = engine.Run(run);
  out.state = state.ok() ? *state : state.status().ToString();
  out.makespan = clock.Now() - start;
  out.cost = backend.CostSoFar();
  if (auto attempts = (*store)->ListAttempts(run.id); attempts.ok()) {
    for (const AttemptRecord& a : *attempts) {
      if (a.instance.rfind("arrive-", 0) == 0) continue;  // a trace's timers
      if (a.state == "Succeeded") ++out.ran[a.member.empty() ? where : a.member];
      if (a.reason == "Moved") ++out.moved;
    }
  }
  if (keep_store) out.store = std::move(*store);
  return out;
}

std::string Span(Duration d) {
  double minutes = std::chrono::duration<double>(d).count() / 60;
  char buf[32];
  if (minutes < 600) {
    std::snprintf(buf, sizeof buf, "%.1f min", minutes);
  } else {
    std::snprintf(buf, sizeof buf, "%.1f h", minutes / 60);
  }
  return buf;
}

}  // namespace portflow::burst
