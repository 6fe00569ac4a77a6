// Timestamps as the API server writes them: RFC 3339, UTC, whole seconds.
#pragma once

#include <optional>
#include <string>

#include "core/clock.h"

namespace portflow::fake {

std::string K8sTime(TimePoint t);                             // "2026-11-30T01:02:03Z"
std::optional<TimePoint> ParseK8sTime(const std::string& s);  // nullopt when not one

}  // namespace portflow::fake
