// The per-user index of runs: which state directory holds each run, so
// that `status`, `logs`, `cancel`, `resume` and `runs --all` find a run by
// its id from any directory. One line per run ("ID<TAB>STATE_DIR") in
// $XDG_STATE_HOME/portflow/runs.index (~/.local/state/portflow/ without
// it), appended with O_APPEND: concurrent portflows never interleave a
// line. The per-project store stays the record; the index only points to it.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace portflow::cli {

// The index file; empty when neither XDG_STATE_HOME nor HOME is set.
std::string RunIndexPath();

// Records that `state_dir` holds run `id`.
Status IndexRun(const std::string& id, const std::string& state_dir);

// The state directory of run `id`, if the index knows it.
std::optional<std::string> IndexedStateDir(const std::string& id);

// Every state directory the index names that still exists, first seen first.
std::vector<std::string> IndexedStateDirs();

}  // namespace portflow::cli
