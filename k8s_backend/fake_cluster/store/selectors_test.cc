#include "k8s_backend/fake_cluster/store/selectors.h"

#include <gtest/gtest.h>

namespace portflow::fake {
namespace {

bool Match(const std::string& selector, const std::map<std::string, std::string>& labels) {
  auto s = LabelSelector::Parse(selector);
  EXPECT_TRUE(s.ok()) << selector << ": " << s.status().ToString();
  return s.ok() && s->Matches(labels);
}

TEST(LabelSelector, EveryOperator) {
  std::map<std::string, std::string> l{
      {"app", "web"}, {"tier", "front"}, {"portflow.dev/run", "r1"}};
  EXPECT_TRUE(Match("", l));
  EXPECT_TRUE(Match("app=web", l));
  EXPECT_TRUE(Match("app==web", l));
  EXPECT_FALSE(Match("app=db", l));
  EXPECT_TRUE(Match("app!=db", l));
  EXPECT_TRUE(Match("missing!=x", l));  // != matches when the label is absent
  EXPECT_TRUE(Match("tier in (front, back)", l));
  EXPECT_FALSE(Match("tier notin (front,back)", l));
  EXPECT_TRUE(Match("other notin (a)", l));
  EXPECT_TRUE(Match("app", l));
  EXPECT_FALSE(Match("!app", l));
  EXPECT_TRUE(Match("!missing", l));
  EXPECT_TRUE(Match("portflow.dev/run=r1,app=web", l));
  EXPECT_FALSE(Match("portflow.dev/run=r1,app=db", l));
  EXPECT_TRUE(Match("inventory=x", {{"inventory", "x"}}));  // "in" prefix is not the operator
}

TEST(LabelSelector, BadSyntax) {
  for (const char* bad : {"app in web", "app in (a", "=x", "a=b,,", "!"}) {
    EXPECT_FALSE(LabelSelector::Parse(bad).ok()) << bad;
  }
}

TEST(FieldSelector, SupportedFieldsOnly) {
  std::vector<std::string> supported{"metadata.name", "status.phase"};
  auto s = FieldSelector::Parse("status.phase!=Running,metadata.name=a", supported);
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->Matches({{"metadata.name", "a"}, {"status.phase", "Pending"}}));
  EXPECT_FALSE(s->Matches({{"metadata.name", "a"}, {"status.phase", "Running"}}));
  auto bad = FieldSelector::Parse("spec.nodeName=n1", supported);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "field label not supported: spec.nodeName");
  EXPECT_FALSE(FieldSelector::Parse("metadata.name", supported).ok());
}

TEST(LabelsOf, ReadsMetadataLabels) {
  auto obj = json::parse(R"({"metadata": {"labels": {"a": "1", "b": "2"}}})");
  EXPECT_EQ(LabelsOf(obj).size(), 2u);
  EXPECT_TRUE(LabelsOf(json::object()).empty());
}

}  // namespace
}  // namespace portflow::fake
