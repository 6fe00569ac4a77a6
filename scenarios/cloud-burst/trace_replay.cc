// trace_replay: a generated trace of jobs through portflow's engine and
// hybrid backend (on-prem first, bursting to the cloud past burstAfter,
// within a budget), in virtual time, printing the makespan, the queueing
// delay's percentiles, the cost and where the jobs ran; then the wall time
// and peak memory of the replay as `figure:` lines for bench/run.sh.
//
// The trace (seeded; its shape is documented in scenarios/cloud-burst/
// README.md): bursty arrivals, a Poisson process whose rate switches
// between calm (one job every 2.24 minutes on average) and burst (six
// times that) spells, exponentially long (8 hours and 1 hour on average);
// each job asks for 1, 2 or 4 GPUs (60/25/15%), 2, 4 or 8 CPUs per GPU and
// 8 GiB per GPU, and runs for a log-normal time (median 15 minutes,
// sigma 1.5, within 1 minute and 48 hours: a heavy tail, mean about 45
// minutes). On average that is 85% of 64 GPUs' work, and about four times
// it in a burst.
//
// Each job's arrival is a step of its own (arrive-N, a timer that holds
// next to nothing) that the job (job-N) needs, as in cloud_burst.
//
// Usage: trace_replay JOBS [SEED] [BURST_AFTER] [BUDGET_USD] [ONPREM_GPUS]
//        (defaults: seed 7, 5m, 10000, 64)
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "cloud_backend/hybrid/hybrid_backend.h"
#include "core/quantity.h"
#include "scenarios/cloud-burst/burst.h"

using namespace portflow;
using namespace portflow::burst;

namespace {

struct Job {
  double arrival_s = 0;
  int64_t duration_s = 0;
  int gpus = 1;
};

std::vector<Job> MakeTrace(int jobs, uint64_t seed) {
  std::mt19937_64 rng(seed);
  const double calm_gap_s = 2.24 * 60, burst_gap_s = calm_gap_s / 6;
  std::exponential_distribution<double> calm_spell(1.0 / (8 * 3600.0));
  std::exponential_distribution<double> burst_spell(1.0 / 3600.0);
  std::lognormal_distribution<double> minutes(std::log(15.0), 1.5);
  std::discrete_distribution<int> size({60, 25, 15});
  const int gpus[] = {1, 2, 4};
  std::vector<Job> out;
  double at = 0;
  bool burst = false;
  double spell_end = calm_spell(rng);
  while (static_cast<int>(out.size()) < jobs) {
    double gap =
        std::exponential_distribution<double>(1.0 / (burst ? burst_gap_s : calm_gap_s))(rng);
    if (at + gap >= spell_end) {  // the spell ends first: memoryless, so draw again
      at = spell_end;
      burst = !burst;
      spell_end = at + (burst ? burst_spell(rng) : calm_spell(rng));
      continue;
    }
    at += gap;
    Job j;
    j.arrival_s = at;
    j.duration_s = std::clamp<int64_t>(std::llround(minutes(rng) * 60), 60, 48 * 3600);
    j.gpus = gpus[size(rng)];
    out.push_back(j);
  }
  return out;
}

Workload TraceWorkload(const std::vector<Job>& jobs, uint64_t seed) {
  std::mt19937_64 rng(seed + 1);
  std::uniform_int_distribution<int> cpus_per_gpu(0, 2);
  Workload w = EmptyTrace();
  w.steps.reserve(2 * jobs.size());
  for (size_t n = 0; n < jobs.size(); ++n) {
    int g = jobs[n].gpus;
    AddTraceJob(w, n, std::llround(jobs[n].arrival_s),
                {int64_t{1000} * g * (2 << cpus_per_gpu(rng)), (int64_t{8} << 30) * g, g},
                jobs[n].duration_s);
  }
  return w;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  size_t k = std::min(v.size() - 1, static_cast<size_t>(p / 100 * v.size()));
  std::nth_element(v.begin(), v.begin() + k, v.end());
  return v[k];
}

std::string Minutes(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, s < 600 ? "%.1f min" : "%.0f min", s / 60);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::atoi(argv[1]) <= 0) {
    std::fprintf(stderr,
                 "usage: trace_replay JOBS [SEED] [BURST_AFTER] [BUDGET_USD] [ONPREM_GPUS]\n"
                 "  (defaults: seed 7, 5m, 10000, 64)\n");
    return 2;
  }
  auto wall = std::chrono::steady_clock::now();
  const int n = std::atoi(argv[1]);
  const uint64_t seed = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 7;
  HybridTarget hybrid;
  auto burst_after = ParseDuration(argc > 3 ? argv[3] : "5m");
  if (!burst_after.ok()) {
    std::fprintf(stderr, "trace_replay: BURST_AFTER: %s\n",
                 burst_after.status().ToString().c_str());
    return 2;
  }
  hybrid.burst_after = *burst_after;
  hybrid.budget = std::atof(argc > 4 ? argv[4] : "10000");
  Members members{std::chrono::seconds(90), argc > 5 ? std::atoi(argv[5]) : 64};

  std::vector<Job> jobs = MakeTrace(n, seed);
  auto plan = Plan::Build(TraceWorkload(jobs, seed));
  if (!plan.ok()) {
    std::fprintf(stderr, "trace_replay: %s\n", plan.status().ToString().c_str());
    return 1;
  }
  FakeClock clock;
  const int64_t start_ms = ToUnixMillis(clock.Now());
  auto backend = members.Hybrid(hybrid, clock);
  if (!backend.ok()) {
    std::fprintf(stderr, "trace_replay: %s\n", backend.status().ToString().c_str());
    return 1;
  }
  const std::string dir = std::filesystem::temp_directory_path().string() + "/portflow-replay-" +
                          std::to_string(::getpid());
  Outcome o = Run(*plan, **backend, clock, "hybrid", dir, std::chrono::minutes(1), true);

  // Queueing delay: from a job's arrival to the start of its attempt that
  // succeeded (its end less its duration: the model runs it exactly that).
  std::vector<double> delay_s;
  int jobs_done = 0;
  if (o.store) {
    if (auto attempts = o.store->ListAttempts("burst"); attempts.ok()) {
      for (const AttemptRecord& a : *attempts) {
        if (a.instance.rfind("job-", 0) != 0 || a.state != "Succeeded") continue;
        const Job& j = jobs[std::stoul(a.instance.substr(4))];
        double began_s = (a.finished_ms - start_ms) / 1000.0 - j.duration_s;
        delay_s.push_back(std::max(0.0, began_s - j.arrival_s));
        ++jobs_done;
      }
    }
    o.store.reset();
  }
  std::filesystem::remove_all(dir);
  double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall).count();
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);

  auto ran = [&](const char* m) { return o.ran.count(m) ? o.ran.at(m) : 0; };
  std::printf(
      "%d jobs over %.1f days (seed %llu); on-prem: %d GPUs; cloud: a node per attempt, "
      "ready after %s; burstAfter %s, budget %s\n",
      n, jobs.back().arrival_s / 86400, static_cast<unsigned long long>(seed), members.onprem_gpus,
      FormatDuration(members.provisioning).c_str(), FormatDuration(hybrid.burst_after).c_str(),
      FormatUsd(*hybrid.budget).c_str());
  std::printf("state %s; makespan %s; cost %s; jobs on on-prem %d, on cloud %d; moved %d\n",
              o.state.c_str(), Span(o.makespan).c_str(), o.cost ? FormatUsd(*o.cost).c_str() : "-",
              ran("onprem"), ran("cloud"), o.moved);
  std::printf("queueing delay (arrival to start) of %d jobs: p50 %s, p90 %s, p99 %s, max %s\n",
              jobs_done, Minutes(Percentile(delay_s, 50)).c_str(),
              Minutes(Percentile(delay_s, 90)).c_str(), Minutes(Percentile(delay_s, 99)).c_str(),
              Minutes(Percentile(delay_s, 100)).c_str());
  std::printf("wall %.1f s, peak RSS %.0f MiB\n", wall_s, ru.ru_maxrss / 1024.0);
  std::printf("figure: trace.wall_s %.1f\nfigure: trace.peak_mib %.0f\n", wall_s,
              ru.ru_maxrss / 1024.0);
  return o.state == "Succeeded" && jobs_done == n ? 0 : 1;
}
