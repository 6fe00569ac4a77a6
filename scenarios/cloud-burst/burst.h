// The members of scenarios/cloud-burst and a run through portflow's engine
// in virtual time, shared by cloud_burst (the sweep, three ways) and
// trace_replay (a long trace through the hybrid).
//
// The members are models in virtual time (core/testing/fake_backend.h),
// each attempt running for its PORTFLOW_SIM_DURATION:
//   onprem: GPUS GPUs (8 by default) with 8 CPUs and 64 GiB each; what
//           does not fit waits in its queue (Unschedulable);
//   cloud:  a node per attempt (of the g5 family: $1.006 an hour per A10G
//           GPU, as g5.xlarge on demand; up to 4 GPUs), ready PROVISIONING
//           after it is asked for and billed from then, as the cloud
//           backend's estimate says.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "cloud_backend/hybrid/hybrid_backend.h"
#include "core/backend.h"
#include "core/clock.h"
#include "core/plan.h"
#include "core/run_store.h"
#include "core/testing/fake_backend.h"

namespace portflow::burst {

constexpr double kGpuHourly = 1.006;  // g5.xlarge on demand, catalog/aws.csv

struct Members {
  Duration provisioning;
  int onprem_gpus = 8;
  std::unique_ptr<testing::FakeBackend> OnPrem(FakeClock& clock) const;
  std::unique_ptr<testing::FakeBackend> Cloud(FakeClock& clock) const;
  // Both, as the members "onprem" and "cloud" of a hybrid target.
  Result<std::unique_ptr<Backend>> Hybrid(const HybridTarget& target, FakeClock& clock) const;
};

// A trace as a workload, made in code (as YAML it would pass the 1 MiB a
// workload file may hold): each job is a step job-N that needs a step
// arrive-N, a timer that holds next to nothing and ends at the job's
// arrival. Run counts the jobs only.
Workload EmptyTrace();
void AddTraceJob(Workload& w, size_t n, int64_t arrival_s, const Resources& need,
                 int64_t duration_s);

struct Outcome {
  std::string state;
  Duration makespan{};
  std::optional<double> cost;      // none where nothing is priced
  std::map<std::string, int> ran;  // member -> attempts that succeeded there
  int moved = 0;
  std::unique_ptr<RunStore> store;  // the run's record (run id "burst"), kept when asked
};

// Runs `plan` on `backend` (named `where` when it has no members) to its
// end in a run store of its own under `dir`, on `clock`, the engine waking
// at least each `tick`. Instances named arrive-N (a trace's timers) are not
// counted.
Outcome Run(const Plan& plan, Backend& backend, FakeClock& clock, const std::string& where,
            const std::string& dir, Duration tick, bool keep_store = false);

// "45.2 min", or "989.4 h" past ten hours.
std::string Span(Duration d);

}  // namespace portflow::burst
