// A run as data, read from the run store: what `status -o json` prints and
// what `report`, `status --graph` and `ui` draw (report/report.h).
#pragma once

#include <nlohmann/json.hpp>

#include "core/run_store.h"

namespace portflow::cli {

// A run the store says is Running but whose portflow is gone (kill -9, a
// crash, a reboot) is shown as Interrupted: nothing drives it until
// `portflow resume`.
std::string ShownState(const RunRecord& r);

// The run's own fields (id, workload, target, state, times, params, cost).
nlohmann::json RunJson(const RunRecord& r);

// How long the run took, or has taken so far while it goes (ms).
int64_t Elapsed(const RunRecord& r);

struct DocumentOptions {
  // Each attempt's "timeline": when it was queued, the spans it waited
  // with their reasons (Unschedulable, Provisioning...), its moves, when
  // it was first seen running.
  bool timeline = false;
  // The last lines of each instance's latest log ("logTail"), at most this
  // many; none at 0.
  int log_lines = 0;
};

// The run with its steps (the DAG: "steps", each with its needs and
// instances), instances and their attempts, and the decisions of a
// composite target, as `status -o json` prints it; with more as `options`
// asks.
Result<nlohmann::json> RunDocument(RunStore& store, const RunRecord& run,
                                   const DocumentOptions& options = {});

}  // namespace portflow::cli
