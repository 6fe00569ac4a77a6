// Helpers shared by the subcommands.
#pragma once

#include <signal.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/backend.h"
#include "core/log.h"
#include "core/plan.h"
#include "core/run_store.h"
#include "core/spec_loader.h"
#include "core/targets.h"

namespace portflow::cli {

// JSON text for output; a string that is not valid UTF-8 (a file or folder
// name with such bytes) is written with U+FFFD for the bad bytes instead of
// aborting the command.
std::string DumpJson(const nlohmann::json& j, int indent = -1);

// Writes a secret (a kubeconfig with its token, AWS keys) to `path`, its
// folders made: mode 0600 before a byte is written, also when the file was
// there; a link at `path` is refused.
Status WritePrivateFile(const std::string& path, const std::string& text);

// Blocks SIGINT and SIGTERM in this thread (and the threads it starts
// after), for a serve command to sigwait() on the set it returns.
sigset_t BlockStopSignals();

// Prints "portflow: MESSAGE" to stderr.
void PrintError(const std::string& message);
// PrintError, then `code`: what a command returns when it cannot go on.
int Fail(const Status& s, int code = kExitFailed);
// The plan of a run as it was started: its own copy of the workload, with
// its -p overrides, in its workload's directory.
std::optional<Plan> LoadRunPlan(const RunRecord& run);

// An output of a run's instance: where its task wrote it (`path`, under the
// artifact root; `rel` below that root) and where a person finds it
// (`location`: a folder on this machine, or a path on a cluster's volume).
struct OutputPlace {
  std::string instance, step, name, path, rel, location;
};
// The outputs of run `run`'s instances (of step `step` only, when given),
// `plan` being the run's (LoadRunPlan).
Result<std::vector<OutputPlace>> OutputsOf(const RunRecord& run, const Plan& plan,
                                           const std::string& step);

// What the live views say once a cancel is asked for.
std::string CancellingNote(bool force);

// Loads and validates; on failure prints every diagnostic to stderr. With
// `dir`, the file is a snapshot and `dir` is the workload's own directory.
std::optional<Plan> LoadPlan(const std::string& file, const std::vector<std::string>& params,
                             const std::string& dir = "");

// The backend of target `name` as seen from `workload_dir`; `target` (when
// given) receives the target itself. `strict`: a local target's tasks do
// not inherit the host's environment (unless its env setting says so).
Result<std::unique_ptr<Backend>> BackendFor(const std::string& workload_dir,
                                            const std::string& name, Target* target = nullptr,
                                            bool strict = false);

Result<std::unique_ptr<RunStore>> OpenStore(const std::string& state_dir);
// The store that holds run `run_id`: the one in `state_dir`, else the one
// the per-user index names (run_index.h); NotFound when neither has it.
Result<std::unique_ptr<RunStore>> OpenStoreOf(const std::string& state_dir,
                                              const std::string& run_id);

// "laptop-dev-20261130-014501-3fa2"
std::string NewRunId(const std::string& workload);

// Absolute run directory of `run_id` under `state_dir`.
std::string RunDir(const std::string& state_dir, const std::string& run_id);

// RUN_DIR/portflow.log while the result lives; null, after a warning (the
// diagnostics then reach the console only), when it cannot be written.
std::unique_ptr<RunLog> OpenRunLog(const std::string& run_dir);

// The portflow process driving a run is still alive.
bool EngineAlive(int pid);

// The last `bytes` of the file at `path` ("" when it cannot be read), read
// from its end: logs run to gigabytes. `*cut` says whether the file holds
// more before them.
std::string FileEnd(const std::string& path, size_t bytes, bool* cut = nullptr);

}  // namespace portflow::cli
