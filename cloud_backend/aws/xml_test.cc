#include "cloud_backend/aws/xml.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace portflow::aws {
namespace {

using ::testing::ElementsAre;

TEST(XmlTest, ElementsAreReadByTagNameWithAttributesAndEmptyOnes) {
  std::string xml =
      R"(<?xml version="1.0"?><R xmlns="x"><Contents><Key>a &amp; b</Key></Contents>)"
      R"(<Contents ><Key>c</Key><KeyCount>2</KeyCount></Contents><Key/><Keys>no</Keys></R>)";
  EXPECT_THAT(XmlElements(xml, "Key"), ElementsAre("a &amp; b", "c", ""));
  EXPECT_EQ(XmlElements(xml, "Contents").size(), 2u);
  EXPECT_EQ(XmlText(xml, "Key"), "a & b");
  EXPECT_EQ(XmlText(xml, "KeyCount"), "2");
  EXPECT_EQ(XmlText(xml, "Missing"), "");
  EXPECT_TRUE(XmlElements("<Key>unclosed", "Key").empty());
}

TEST(XmlTest, EscapingRoundTrips) {
  std::string text = "<a href=\"x\">it's & more</a>";
  EXPECT_EQ(XmlEscape(text), "&lt;a href=&quot;x&quot;&gt;it&apos;s &amp; more&lt;/a&gt;");
  EXPECT_EQ(XmlUnescape(XmlEscape(text)), text);
  EXPECT_EQ(XmlUnescape("&#13;&#x41;&bogus; & &amp"), "\rA&bogus; & &amp");
}

}  // namespace
}  // namespace portflow::aws
