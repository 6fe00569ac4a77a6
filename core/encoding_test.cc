#include "core/encoding.h"

#include <gtest/gtest.h>

namespace portflow {
namespace {

TEST(EncodingTest, HexRoundTripsAndRefusesWhatIsNotHex) {
  std::string bytes("\0\x01\xab\xff", 4);
  EXPECT_EQ(HexEncode(bytes), "0001abff");
  EXPECT_EQ(HexDecode("0001abff"), bytes);
  EXPECT_FALSE(HexDecode("abc").has_value());
  EXPECT_FALSE(HexDecode("AB").has_value()) << "lower case only";
  EXPECT_FALSE(HexDecode("zz").has_value());
}

TEST(EncodingTest, PercentEncodingKeepsUnreservedCharactersAndSlashesWhenAsked) {
  EXPECT_EQ(PercentEncode("a+b/c=d e~", false), "a%2Bb%2Fc%3Dd%20e~");
  EXPECT_EQ(PercentEncode("a+b/c=d e~", true), "a%2Bb/c%3Dd%20e~");
  EXPECT_EQ(PercentEncode("status.phase!=Succeeded,x", true), "status.phase%21%3DSucceeded%2Cx");
}

}  // namespace
}  // namespace portflow
