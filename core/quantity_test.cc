#include "core/quantity.h"

#include <gtest/gtest.h>

namespace portflow {
namespace {

TEST(Quantity, MilliValuesAreExact) {
  EXPECT_EQ(*ParseMilliQuantity("500m"), 500);
  EXPECT_EQ(*ParseMilliQuantity("2"), 2000);
  EXPECT_EQ(*ParseMilliQuantity("0.5"), 500);
  EXPECT_EQ(*ParseMilliQuantity("1.5"), 1500);
  EXPECT_EQ(*ParseMilliQuantity("2e3"), 2'000'000);
  EXPECT_EQ(*ParseMilliQuantity("1k"), 1'000'000);
  EXPECT_EQ(*ParseMilliQuantity(".5"), 500);
  EXPECT_EQ(*ParseMilliQuantity("0"), 0);
  EXPECT_EQ(*ParseMilliQuantity("+1"), 1000);
}

TEST(Quantity, RoundsUpLikeTheApiServer) {
  EXPECT_EQ(*ParseMilliQuantity("0.0001"), 1);
  EXPECT_EQ(*ParseMilliQuantity("1.5m"), 2);
  EXPECT_EQ(*ParseQuantity("100m"), 1);
  EXPECT_EQ(*ParseQuantity("1.5Gi"), 1610612736);
}

TEST(Quantity, BinaryAndDecimalSuffixes) {
  EXPECT_EQ(*ParseQuantity("1Ki"), 1024);
  EXPECT_EQ(*ParseQuantity("4Gi"), 4LL << 30);
  EXPECT_EQ(*ParseQuantity("1M"), 1'000'000);
  EXPECT_EQ(*ParseQuantity("128974848"), 128974848);
  EXPECT_EQ(*ParseQuantity("129e6"), 129'000'000);
  EXPECT_EQ(*ParseQuantity("1E3"), 1000);
  EXPECT_EQ(*ParseQuantity("1E"), 1'000'000'000'000'000'000);  // exa, not an exponent
  EXPECT_EQ(*ParseQuantity("1e-3"), 1);                        // rounds up
}

TEST(Quantity, RejectsBadInput) {
  for (const char* bad : {"", "abc", "1.5Xi", "1Gb", "--1", "1..5", "-1", "1e", "1e9999", "Gi",
                          "1 Gi", "99999999999999999999999999999999"}) {
    EXPECT_FALSE(ParseQuantity(bad).ok()) << bad;
  }
  EXPECT_FALSE(ParseQuantity("9Ei").ok());  // does not fit
  EXPECT_NE(ParseQuantity("-1").status().message().find("negative"), std::string::npos);
}

TEST(Duration, GoGrammar) {
  using namespace std::chrono;
  EXPECT_EQ(*ParseDuration("90s"), seconds(90));
  EXPECT_EQ(*ParseDuration("1h30m"), minutes(90));
  EXPECT_EQ(*ParseDuration("1.5s"), milliseconds(1500));
  EXPECT_EQ(*ParseDuration("500ms"), milliseconds(500));
  EXPECT_EQ(*ParseDuration("2m3s"), seconds(123));
  EXPECT_EQ(*ParseDuration("10us"), microseconds(10));
  EXPECT_EQ(*ParseDuration("0"), nanoseconds(0));
}

TEST(Duration, RejectsBadInput) {
  for (const char* bad :
       {"", "10", "5 minutes", "-1s", "1x", "s", "1.s.", "1h-5m", "99999999999h"}) {
    EXPECT_FALSE(ParseDuration(bad).ok()) << bad;
  }
}

TEST(Format, RoundTrips) {
  EXPECT_EQ(FormatMilliCpu(1500), "1500m");
  EXPECT_EQ(FormatMilliCpu(2000), "2");
  EXPECT_EQ(FormatBytes(1LL << 30), "1Gi");
  EXPECT_EQ(FormatBytes(1500), "1500");
  EXPECT_EQ(FormatDuration(std::chrono::minutes(90)), "1h30m0s");
  EXPECT_EQ(FormatDuration(std::chrono::seconds(2)), "2s");
}

TEST(Format, BytesForPeople) {
  EXPECT_EQ(FormatBytesShort(24683792LL * 1024), "23.5Gi");
  EXPECT_EQ(FormatBytesShort(512LL << 20), "512Mi");
  EXPECT_EQ(FormatBytesShort(100), "100");
  EXPECT_EQ(FormatBytesShort(0), "0");
}

TEST(FormatUsdTest, KeepsTheDigitsThatMatter) {
  EXPECT_EQ(FormatUsd(0.000425), "$0.000425");
  EXPECT_EQ(FormatUsd(0.0352), "$0.0352");
  EXPECT_EQ(FormatUsd(12.345), "$12.35");
  EXPECT_EQ(FormatUsd(0), "$0.000000");
}

}  // namespace
}  // namespace portflow
