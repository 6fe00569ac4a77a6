#include "core/k8s_time.h"

#include <gtest/gtest.h>

namespace portflow {
namespace {

TEST(K8sTime, FormatsAndParsesRfc3339) {
  TimePoint t = FromUnixMillis(int64_t{1796000000} * 1000);
  EXPECT_EQ(K8sTime(t), "2026-11-30T00:53:20Z");
  EXPECT_EQ(ParseK8sTime("2026-11-30T00:53:20Z"), t);
  // What Go's RFC 3339 parser takes: fractions and offsets.
  EXPECT_EQ(ParseK8sTime("2026-11-30T00:53:20.5Z"), t + std::chrono::milliseconds(500));
  EXPECT_EQ(ParseK8sTime("2026-11-30T00:53:20.123456789Z"), t + std::chrono::milliseconds(123));
  EXPECT_EQ(ParseK8sTime("2026-11-30T01:53:20+01:00"), t);
  EXPECT_EQ(ParseK8sTime("2026-11-29T19:23:20-05:30"), t);
  for (const char* bad : {"", "soon", "2026-11-30", "2026-11-30T00:53:20", "2026-11-30T00:53:20Zx",
                          "2026-11-30T00:53:20.Z", "2026-11-30T00:53:20+1"}) {
    EXPECT_FALSE(ParseK8sTime(bad).has_value()) << bad;
  }
}

TEST(K8sTime, EachSecondIsFormattedAfresh) {
  // The last second formatted is kept: a new one must not read the kept one.
  TimePoint t = FromUnixMillis(int64_t{1796000000} * 1000);
  EXPECT_EQ(K8sTime(t), "2026-11-30T00:53:20Z");
  EXPECT_EQ(K8sTime(t + std::chrono::milliseconds(999)), "2026-11-30T00:53:20Z");
  EXPECT_EQ(K8sTime(t + std::chrono::seconds(1)), "2026-11-30T00:53:21Z");
  EXPECT_EQ(K8sTime(t), "2026-11-30T00:53:20Z");
  EXPECT_EQ(K8sTime(FromUnixMillis(-1000)), "1969-12-31T23:59:59Z");
}

}  // namespace
}  // namespace portflow
