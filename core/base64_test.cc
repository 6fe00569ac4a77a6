#include "core/base64.h"

#include <gtest/gtest.h>

#include <vector>

namespace portflow {
namespace {

TEST(Base64Test, RoundTripsEveryLengthModThree) {
  for (const std::string& s : std::vector<std::string>{"", "f", "fo", "foo", "foob", "fooba",
                                                       "foobar", std::string("\0\xff\x10", 3)}) {
    auto back = Base64Decode(Base64Encode(s));
    ASSERT_TRUE(back.has_value()) << s;
    EXPECT_EQ(*back, s);
  }
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(*Base64Decode("Zm9v\nYmE="), "fooba");
}

TEST(Base64Test, RejectsWhatIsNotBase64) {
  EXPECT_FALSE(Base64Decode("Zm9").has_value());
  EXPECT_FALSE(Base64Decode("Zm=v").has_value());
  EXPECT_FALSE(Base64Decode("Zm9v!!!!").has_value());
  EXPECT_FALSE(Base64Decode("Zg==Zg==").has_value());
}

}  // namespace
}  // namespace portflow
