// Exact parsing of Kubernetes resource quantities and Go-style durations.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/status.h"

namespace portflow {

// Parses a Kubernetes quantity ("500m", "1.5Gi", "2e3", "128974848") and
// returns its value times 1000, rounded up, as the API server does for
// milli-values. Negative and out-of-range values are errors.
Result<int64_t> ParseMilliQuantity(std::string_view text);

// Whole units rounded up: "1.5Gi" -> 1610612736, "100m" -> 1.
Result<int64_t> ParseQuantity(std::string_view text);

// Go time.ParseDuration grammar without a sign: "90s", "1h30m", "1.5s",
// "500ms"; "0" alone is allowed. Returns nanoseconds.
Result<Duration> ParseDuration(std::string_view text);

// "1m05s", "2h03m", "4.2s" from milliseconds: a run's or a step's length.
std::string FormatElapsed(int64_t ms);

// Formats for humans and for round-trips: 1500 -> "1500m", 2000 -> "2".
std::string FormatMilliCpu(int64_t milli);
// 1073741824 -> "1Gi", 1500 -> "1500".
std::string FormatBytes(int64_t bytes);
// For people: the largest binary unit with one decimal at most ("23.5Gi",
// "512Mi", "100"); not exact, so not for objects a cluster reads.
std::string FormatBytesShort(int64_t bytes);
// 5400s -> "1h30m0s" style, like Go's Duration.String().
std::string FormatDuration(Duration d);
// Whole milliseconds, as diagnostics print latencies: "120 ms".
std::string FormatMillis(Duration d);

// US dollars for people: "$0.000425" under a cent, "$0.0123" under a
// dollar, "$12.34" from one on.
std::string FormatUsd(double usd);
// "20USD" or "20" (US dollars, above 0), as targets write amounts.
Result<double> ParseUsd(std::string_view text);

}  // namespace portflow
