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
