#include "core/json_parse.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>

namespace portflow {
namespace {

using nlohmann::json;

// Equal trees with equal types all the way down (json's == calls 1 and 1u
// equal; a consumer asking is_number_unsigned() would not).
void ExpectSameAsNlohmann(const std::string& text) {
  SCOPED_TRACE("text: " + text);
  json want = json::parse(text, nullptr, false);
  json got = ParseJson(text);
  ASSERT_EQ(got.is_discarded(), want.is_discarded());
  if (want.is_discarded()) return;
  EXPECT_EQ(got.dump(), want.dump());
  std::function<void(const json&, const json&)> same_types = [&](const json& a, const json& b) {
    ASSERT_EQ(a.type(), b.type()) << a.dump() << " against " << b.dump();
    if (a.is_object()) {
      for (auto it = a.begin(); it != a.end(); ++it) same_types(*it, b.at(it.key()));
    } else if (a.is_array()) {
      for (size_t i = 0; i < a.size(); ++i) same_types(a[i], b[i]);
    }
  };
  same_types(got, want);
}

TEST(ParseJson, ReadsAnApiObjectAsNlohmannDoes) {
  ExpectSameAsNlohmann(
      R"({"type":"MODIFIED","object":{"apiVersion":"v1","kind":"Pod","metadata":)"
      R"({"name":"p","labels":{"b":"2","a":"1"},"resourceVersion":"12","generation":2},)"
      R"("spec":{"containers":[{"name":"main","command":["true"],"resources":{"limits":)"
      R"({"cpu":1.5}}}],"nodeName":"node-1"},"status":{"phase":"Succeeded","conditions":)"
      R"([{"type":"Ready","status":"False","lastProbeTime":null}],"exit":-3,"ok":true,)"
      R"("message":"caf\u00e9\n\"quoted\"\ttab \ud83d\ude00"}}})");
}

TEST(ParseJson, KeepsNlohmannsNumberTypes) {
  for (const char* text :
       {"5", "0", "-0", "-5", "0.5", "-0.0", "1E2", "1e-2", "1.0", "18446744073709551615",
        "18446744073709551616", "-9223372036854775808", "-9223372036854775809",
        "123456789012345678901234567890", "1.7976931348623157e308", "4.9e-324",
        "2.2250738585072011e-308", "1e-999", "[1,-1,1.5,-1.5]"}) {
    ExpectSameAsNlohmann(text);
  }
  EXPECT_TRUE(ParseJson("7").is_number_unsigned());
  EXPECT_TRUE(ParseJson("-7").is_number_integer() && !ParseJson("-7").is_number_unsigned());
  EXPECT_TRUE(ParseJson("18446744073709551616").is_number_float());
}

TEST(ParseJson, TheLastOfARepeatedKeyWins) {
  ExpectSameAsNlohmann(R"({"a":1,"b":{"c":[]},"a":{"x":2}})");
  EXPECT_EQ(ParseJson(R"({"a":1,"a":2})").at("a"), 2);
}

TEST(ParseJson, RefusesWhatNlohmannRefuses) {
  for (const char* text : {"",
                           " ",
                           "{} x",
                           "{}{}",
                           "[1,2",
                           "[1,]",
                           "{\"a\":1,}",
                           "tru",
                           "nul",
                           "01",
                           "1.",
                           ".5",
                           "// c\n1",
                           "/* c */ 1",
                           "1e999",
                           "-1e999",
                           "\"\\ud800\"",
                           "\"\\udc00\"",
                           "\"\\ud800\\u0041\"",
                           "\"\xff\"",
                           "\"\xc3\"",
                           "\"\xed\xa0\x80\"",
                           "\"\t\"",
                           "{\"a\" 1}",
                           "[\"x\" \"y\"]",
                           "'a'",
                           "NaN",
                           "Infinity",
                           "\"\\x41\""}) {
    ExpectSameAsNlohmann(text);
    EXPECT_TRUE(ParseJson(text).is_discarded()) << text;
  }
}

TEST(ParseJson, AcceptsWhatNlohmannAccepts) {
  for (const char* text : {"{}", " {} ", "\n\r\t 7 \n", "true", "false", "null", "\"\"",
                           "\"a\\u0000b\"", "\"\\ud800\\udc00\"", "\"\xc3\xa9\"", "[[[[[]]]]]",
                           "[\"x\",{\"y\":[null,false]}]", "\"\\/\\b\\f\\n\\r\\t\\\\\""}) {
    ExpectSameAsNlohmann(text);
    EXPECT_FALSE(ParseJson(text).is_discarded()) << text;
  }
}

TEST(ParseJson, WhatBoostRefusesReadsAsNlohmannReadsIt) {
  // nlohmann takes a NUL byte for the end of its input; Boost.JSON refuses
  // an exponent past 64 bits, which nlohmann's strtod reads as 0.
  for (std::string text : {std::string("[1]\0garbage", 11), std::string("\"a\0b\"", 5),
                           std::string("[-1.5e-3709551615,1e-99999999999999999999]")}) {
    ExpectSameAsNlohmann(text);
  }
  EXPECT_EQ(ParseJson(std::string("[1]\0garbage", 11)), json::array({1}));
}

TEST(ParseJson, NestingStopsAtAThousandLevels) {
  auto arrays = [](size_t n) { return std::string(n, '[') + std::string(n, ']'); };
  auto objects = [](size_t n) {
    std::string text;
    for (size_t i = 0; i < n; ++i) text += "{\"k\":";
    return text + "1" + std::string(n, '}');
  };
  for (const std::string& text : {arrays(kMaxJsonDepth), objects(kMaxJsonDepth)}) {
    ExpectSameAsNlohmann(text);
    EXPECT_FALSE(ParseJson(text).is_discarded());
  }
  for (const std::string& text : {arrays(kMaxJsonDepth + 1), objects(kMaxJsonDepth + 1),
                                  "[" + arrays(kMaxJsonDepth) + ",1]", arrays(200000)}) {
    EXPECT_TRUE(ParseJson(text).is_discarded()) << text.size();
  }
  // Brackets inside strings are text, not nesting.
  std::string quoted = "[\"" + std::string(5000, '[') + "\"]";
  ExpectSameAsNlohmann(quoted);
  EXPECT_FALSE(ParseJson(quoted).is_discarded());
}

TEST(ParseJson, LongStringsAndKeysComeWhole) {
  std::string big(100000, 'x');
  std::string text = "{\"" + big + "\":\"" + big + "\\n" + big + "\"}";
  json got = ParseJson(text);
  ASSERT_TRUE(got.is_object());
  EXPECT_EQ(got.at(big), big + "\n" + big);
}

}  // namespace
}  // namespace portflow
