// Timestamps as Kubernetes writes them: RFC 3339, UTC, whole seconds
// ("2026-11-30T01:02:03Z"). Parsing takes any RFC 3339 time, as Go's
// time.RFC3339 does: fractional seconds and numeric offsets included (exec
// credential plugins write those).
#pragma once

#include <optional>
#include <string>

#include "core/clock.h"

namespace portflow {

std::string K8sTime(TimePoint t);                             // "2026-11-30T01:02:03Z"
std::optional<TimePoint> ParseK8sTime(const std::string& s);  // nullopt when not one

}  // namespace portflow
