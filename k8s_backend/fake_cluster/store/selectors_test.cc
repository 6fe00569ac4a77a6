#include "k8s_backend/fake_cluster/store/selectors.h"

#include <gtest/gtest.h>

#include <map>

namespace portflow::fake {
namespace {

// Whether `selector` selects an object with `labels`.
bool Match(const std::string& selector, const std::map<std::string, std::string>& labels) {
  auto s = LabelSelector::Parse(selector);
  EXPECT_TRUE(s.ok()) << selector << ": " << s.status().ToString();
  json object = {{"metadata", {{"name", "o"}}}};
  for (const auto& [k, v] : labels) object["metadata"]["labels"][k] = v;
  return s.ok() && s->Matches(object);
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
  // No labels at all, or labels that are not strings: absent.
  EXPECT_TRUE(Match("!app,x!=y", {}));
  EXPECT_FALSE(Match("app", {}));
  auto app = LabelSelector::Parse("app");
  EXPECT_FALSE(app->Matches(json::parse(R"({"metadata": {"labels": {"app": 1}}})")));
  EXPECT_FALSE(app->Matches(json::parse(R"({"metadata": []})")));
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
  EXPECT_TRUE(
      s->Matches(json::parse(R"({"metadata": {"name": "a"}, "status": {"phase": "Pending"}})")));
  EXPECT_FALSE(
      s->Matches(json::parse(R"({"metadata": {"name": "a"}, "status": {"phase": "Running"}})")));
  EXPECT_TRUE(s->Matches(json::parse(R"({"metadata": {"name": "a"}})")));  // absent: ""
  auto bad = FieldSelector::Parse("spec.nodeName=n1", supported);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "field label not supported: spec.nodeName");
  EXPECT_FALSE(FieldSelector::Parse("metadata.name", supported).ok());
}

TEST(FieldValue, ScalarsAsTheApiServerPrintsThem) {
  auto obj = json::parse(
      R"({"metadata": {"name": "a"}, "spec": {"replicas": 3, "suspend": true, "list": [1]}})");
  EXPECT_EQ(FieldValue(obj, "metadata.name"), "a");
  EXPECT_EQ(FieldValue(obj, "spec.replicas"), "3");
  EXPECT_EQ(FieldValue(obj, "spec.suspend"), "true");
  EXPECT_EQ(FieldValue(obj, "spec.list"), "");
  EXPECT_EQ(FieldValue(obj, "spec.missing"), "");
  EXPECT_EQ(FieldValue(obj, "metadata.name.deeper"), "");
}

}  // namespace
}  // namespace portflow::fake
