// portflow run / resume: drive a run to its end on the chosen target.
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/progress_view.h"
#include "cli/run_index.h"
#include "cli/terminal_view.h"
#include "core/engine.h"
#include "core/log.h"
#include "core/quantity.h"

namespace portflow::cli {
namespace {

namespace fs = std::filesystem;

void OnSignal(int) { RequestCancel(); }

void InstallSignalHandlers() {
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

// Runs the engine over `run` (already in the store) and records the end.
int Drive(RunStore& store, RunRecord run, const Plan& plan, Backend& backend, const Target& target,
          bool quiet, bool plain) {
  PORTFLOW_LOG(LogLevel::kInfo, "run",
               "run " + run.id + " of " + run.workload + " on target " + run.target + " (" +
                   backend.name() + " backend), portflow pid " + std::to_string(::getpid()));
  EngineOptions opts;
  // The target's grace period applies to timeouts and cancels too.
  if (auto g = target.settings.find("grace"); g != target.settings.end()) {
    if (auto d = ParseDuration(g->second); d.ok()) opts.kill_grace = *d;
  }
  // A cloud target's limit on preemptions that are not retries.
  if (auto p = target.settings.find("preemptions"); p != target.settings.end()) {
    opts.max_preemptions = std::atoi(p->second.c_str());
  }
  opts.keep_going = run.keep_going;
  opts.strict = run.strict;
  Result<std::string> state = Status(StatusCode::kInternal, "the engine did not run");
  {
    // On a terminal, a compact live view; elsewhere (and with --plain),
    // prefixed log lines that scripts and CI logs can read.
    std::unique_ptr<RunObserver> view;
    if (!quiet && !plain && ::isatty(STDOUT_FILENO) && ::isatty(STDERR_FILENO)) {
      view = std::make_unique<ProgressView>(run.id, plan.instances().size());
    } else {
      view = std::make_unique<TerminalView>(!quiet);
    }
    backend.StartRun(run.id, run.run_dir);
    Engine engine(plan, backend, store, RealClock(), opts, view.get());
    InstallSignalHandlers();
    try {
      state = engine.Run(run);
    } catch (const std::exception& e) {  // recorded as the run's failure, not left Running
      state = Internal(std::string("portflow failed: ") + e.what());
    }
  }
  // What the target added for the run goes back, and the run's cost is
  // known once it has.
  std::optional<Backend::RunCost> cost = backend.FinishRun(run.id);
  if (cost) {
    run.cost =
        nlohmann::json{{"usd", cost->usd}, {"nodes", cost->nodes}, {"detail", cost->detail}}.dump();
  }
  run.finished_ms = ToUnixMillis(RealClock().Now());
  run.state = state.ok() ? *state : "Failed";
  run.message = state.ok() ? "" : state.status().ToString();
  PORTFLOW_LOG(LogLevel::kInfo, "run",
               "run " + run.id + " " + run.state + (state.ok() ? "" : ": " + run.message));
  Status saved = store.UpdateRun(run);
  if (!state.ok()) {
    PrintError("the engine stopped: " + state.status().ToString());
    return kExitFailed;
  }
  if (!saved.ok()) PrintError(saved.ToString());
  // Outputs live in the run directory locally; on a cluster, on its
  // artifacts volume.
  std::string outputs = backend.OutputsLocation(run.id, run.run_dir);
  bool local_outputs = outputs.rfind(run.run_dir, 0) == 0;
  std::cerr << "portflow: run " << run.id << " " << run.state << " in "
            << FormatElapsed(run.finished_ms - run.created_ms)
            << (local_outputs ? "; logs and outputs in " + run.run_dir
                              : "; logs in " + run.run_dir + ", outputs in " + outputs)
            << "\n";
  if (cost) std::cerr << "portflow: cost " << FormatUsd(cost->usd) << " (" << cost->detail << ")\n";
  if (run.state != "Succeeded") {
    std::cerr << "portflow: see `portflow status " << run.id << "` and `portflow logs " << run.id
              << " INSTANCE`\n";
  }
  return run.state == "Succeeded" ? kExitOk : kExitFailed;
}

// A target that cannot be reached (no kubeconfig, a server that does not
// answer) is said at once, naming what failed, before a run is made.
Status Reachable(Backend& backend, const std::string& target) {
  Backend::Availability a = backend.Probe();
  if (a.reachable.ok()) return OkStatus();
  return Status(a.reachable.code(),
                "target " + target + " is unreachable: " + a.reachable.message());
}

}  // namespace

int Run(const GlobalOptions& g, const RunOptions& o) {
  std::unique_ptr<RunLog> run_log;  // outlives the backend: its clean-up is logged too
  std::optional<Plan> plan = LoadPlan(o.file, o.params);
  if (!plan) return kExitUsage;
  Target target;
  auto backend = BackendFor(plan->workload().dir, o.target, &target, o.strict);
  if (!backend.ok()) {
    PrintError(backend.status().message());
    return kExitUsage;
  }
  auto store = OpenStore(g.state_dir);
  if (!store.ok()) {
    PrintError(store.status().message());
    return kExitFailed;
  }
  if (Status reachable = Reachable(**backend, o.target); !reachable.ok()) {
    PrintError("nothing was started: " + reachable.message());
    return kExitUsage;
  }
  RunRecord run;
  run.id = NewRunId(plan->workload().name);
  run.run_dir = RunDir(g.state_dir, run.id);
  TaskContext ctx{run.id, run.run_dir, (*backend)->ArtifactRoot(run.id, run.run_dir)};
  std::vector<std::string> warnings;
  Status pre = Preflight(*plan, **backend, ctx, o.strict, &warnings);
  for (const std::string& w : warnings) std::cerr << "portflow: warning: " << w << "\n";
  if (!pre.ok()) {
    PrintError("nothing was started:\n" + pre.message());
    return kExitUsage;
  }
  std::error_code ec;
  fs::create_directories(run.run_dir, ec);
  // The run keeps its own copy of the workload: resume uses it even if the
  // file changes meanwhile.
  fs::copy_file(o.file, run.run_dir + "/workload.yaml", fs::copy_options::overwrite_existing, ec);
  if (ec) {
    PrintError("cannot prepare " + run.run_dir + ": " + ec.message());
    return kExitFailed;
  }
  run_log = OpenRunLog(run.run_dir);
  run.workload = plan->workload().name;
  run.workload_file = o.file;
  run.workload_dir = plan->workload().dir;
  run.params = DumpJson(nlohmann::json(o.params));
  run.target = o.target;
  run.state = "Running";
  run.created_ms = ToUnixMillis(RealClock().Now());
  run.engine_pid = static_cast<int>(::getpid());
  run.keep_going = o.keep_going;
  run.strict = o.strict;
  run.outputs =
      DumpJson(nlohmann::json{{"root", ctx.artifact_root},
                              {"dir", (*backend)->OutputsDir(run.id, run.run_dir)},
                              {"where", (*backend)->OutputsLocation(run.id, run.run_dir)}});
  if (Status s = (*store)->CreateRun(run); !s.ok()) {
    PrintError(s.ToString());
    return kExitFailed;
  }
  // Found from any directory later; a run goes on without it.
  if (Status s = IndexRun(run.id, g.state_dir); !s.ok()) {
    std::cerr << "portflow: warning: the run is not in the per-user index: " << s.message() << "\n";
  }
  std::cout << run.id << std::endl;
  return Drive(**store, run, *plan, **backend, target, o.quiet, o.plain);
}

int Resume(const GlobalOptions& g, const RunOptions& o) {
  std::unique_ptr<RunLog> run_log;  // outlives the backend: its clean-up is logged too
  auto store = OpenStoreOf(g.state_dir, o.run_id);
  if (!store.ok()) {
    PrintError(store.status().message());
    return kExitUsage;
  }
  Result<RunRecord> run = (*store)->GetRun(o.run_id);
  if (!run.ok()) {
    PrintError(run.status().message());
    return kExitUsage;
  }
  if (run->state == "Succeeded") {
    std::cerr << "portflow: run " << run->id << " already succeeded; nothing to do\n";
    return kExitOk;
  }
  if (run->state == "Running" && EngineAlive(run->engine_pid) && run->engine_pid != ::getpid()) {
    PrintError("run " + run->id + " is still being driven by portflow pid " +
               std::to_string(run->engine_pid) + "; cancel it or wait");
    return kExitFailed;
  }
  run_log = OpenRunLog(run->run_dir);
  std::optional<Plan> plan = LoadRunPlan(*run);
  if (!plan) return kExitFailed;
  Target target;
  auto backend = BackendFor(run->workload_dir, run->target, &target, run->strict);
  if (!backend.ok()) {
    PrintError(backend.status().message());
    return kExitFailed;
  }
  if (Status reachable = Reachable(**backend, run->target); !reachable.ok()) {
    PrintError("nothing was resumed: " + reachable.message());
    return kExitFailed;
  }
  run->state = "Running";
  run->finished_ms = 0;
  run->cancel_requested = false;
  run->engine_pid = static_cast<int>(::getpid());
  if (Status s = (*store)->UpdateRun(*run); !s.ok()) {
    PrintError(s.ToString());
    return kExitFailed;
  }
  std::cout << run->id << std::endl;
  return Drive(**store, *run, *plan, **backend, target, o.quiet, o.plain);
}

}  // namespace portflow::cli
