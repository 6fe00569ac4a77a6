// Loads and validates a workload file. Every problem is reported, each as
// FILE:LINE:COL: message; a workload is returned only when there are none.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/diagnostics.h"
#include "core/spec.h"
#include "core/status.h"

namespace portflow {

using ParamOverrides = std::vector<std::pair<std::string, std::string>>;

struct LoadResult {
  std::optional<Workload> workload;  // set only when diagnostics is empty
  Diagnostics diagnostics;
  bool ok() const { return workload.has_value(); }
};

// Input larger than this is refused before parsing.
inline constexpr size_t kMaxWorkloadBytes = 1 << 20;
// Bounds that keep validation and planning linear and small.
inline constexpr size_t kMaxSteps = 5000;
inline constexpr size_t kMaxInstances = 10000;

// `file` names the input in messages; `dir` is the default working directory.
LoadResult ParseWorkload(std::string_view text, const std::string& file, const std::string& dir,
                         const ParamOverrides& overrides = {});

LoadResult LoadWorkloadFile(const std::string& path, const ParamOverrides& overrides = {});

// Parses "-p key=value" arguments.
Result<ParamOverrides> ParseParamArgs(const std::vector<std::string>& args);

// Semantic checks over a parsed workload (names, needs, cycles, references).
void ValidateWorkload(const Workload& w, Diagnostics& diags);

bool IsDns1123Label(std::string_view s);

}  // namespace portflow
