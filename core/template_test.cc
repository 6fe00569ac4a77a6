#include "core/template.h"

#include <gtest/gtest.h>

namespace portflow {
namespace {

TEST(Template, FindsReferencesWithSpaces) {
  auto refs = FindTemplateRefs("a {{ params.x }} b {{steps.s.outputs.o}}");
  ASSERT_TRUE(refs.ok());
  ASSERT_EQ(refs->size(), 2u);
  EXPECT_EQ(JoinRef((*refs)[0]), "params.x");
  EXPECT_EQ((*refs)[0].offset, 2u);
  EXPECT_EQ((*refs)[1].path.size(), 4u);
}

TEST(Template, Malformed) {
  EXPECT_FALSE(FindTemplateRefs("{{params.x").ok());
  EXPECT_FALSE(FindTemplateRefs("{{}}").ok());
  EXPECT_FALSE(FindTemplateRefs("{{a..b}}").ok());
  EXPECT_FALSE(FindTemplateRefs("{{a b}}").ok());
  EXPECT_TRUE(FindTemplateRefs("no refs } here {").ok());
}

TEST(Template, Expands) {
  auto out =
      ExpandTemplate("lr={{matrix.lr}}/{{matrix.lr}}!",
                     [](const TemplateRef&) -> Result<std::string> { return std::string("0.1"); });
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, "lr=0.1/0.1!");
  auto err = ExpandTemplate(
      "{{x.y}}", [](const TemplateRef&) -> Result<std::string> { return NotFound("nope"); });
  EXPECT_EQ(err.status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace portflow
