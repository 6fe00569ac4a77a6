#include "k8s_backend/fake_cluster/apiserver/discovery.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "k8s_backend/fake_cluster/store/object_store.h"

namespace portflow::fake {
namespace {

// What kubectl 1.32 (client-go's discovery) sends to /api and /apis.
constexpr const char* kKubectlAccept =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
    "application/json";

const json* Find(const json& list, const std::string& field, const std::string& value) {
  for (const json& item : list) {
    if (item.value(field, "") == value) return &item;
  }
  return nullptr;
}

TEST(DiscoveryTest, NegotiatesLikeTheApiServer) {
  EXPECT_TRUE(WantsAggregatedDiscovery(kKubectlAccept));
  EXPECT_TRUE(WantsAggregatedDiscovery(
      "application/json; as=APIGroupDiscoveryList; v=v2; g=apidiscovery.k8s.io"));
  EXPECT_FALSE(WantsAggregatedDiscovery("application/json, */*"));
  EXPECT_FALSE(WantsAggregatedDiscovery(""));
  // The first entry the server can answer wins.
  EXPECT_FALSE(WantsAggregatedDiscovery(
      "application/json,application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"));
  // v2beta1 is not served here: the legacy form answers.
  EXPECT_FALSE(WantsAggregatedDiscovery(
      "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
      "application/json"));
  EXPECT_TRUE(WantsAggregatedDiscovery(
      "application/vnd.kubernetes.protobuf;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
      "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"));
}

TEST(DiscoveryTest, AggregatedCoreGroup) {
  json list = AggregatedDiscovery(true);
  EXPECT_EQ(list["kind"], "APIGroupDiscoveryList");
  EXPECT_EQ(list["apiVersion"], "apidiscovery.k8s.io/v2");
  ASSERT_EQ(list["items"].size(), 1u);
  const json& core = list["items"][0];
  EXPECT_FALSE(core["metadata"].contains("name"));
  ASSERT_EQ(core["versions"].size(), 1u);
  const json& v1 = core["versions"][0];
  EXPECT_EQ(v1["version"], "v1");
  EXPECT_EQ(v1["freshness"], "Current");
  const json* pods = Find(v1["resources"], "resource", "pods");
  ASSERT_NE(pods, nullptr);
  EXPECT_EQ((*pods)["responseKind"],
            json::parse(R"({"group": "", "version": "v1", "kind": "Pod"})"));
  EXPECT_EQ((*pods)["scope"], "Namespaced");
  EXPECT_EQ((*pods)["singularResource"], "pod");
  EXPECT_EQ((*pods)["shortNames"], json::parse(R"(["po"])"));
  EXPECT_EQ((*pods)["categories"], json::parse(R"(["all"])"));
  EXPECT_THAT((*pods)["verbs"].get<std::vector<std::string>>(),
              ::testing::IsSupersetOf({"get", "list", "watch", "create", "patch", "delete"}));
  EXPECT_EQ((*pods)["subresources"], json::parse(R"([
      {"subresource": "log", "responseKind": {"group": "", "version": "v1", "kind": "Pod"},
       "verbs": ["get"]},
      {"subresource": "status", "responseKind": {"group": "", "version": "v1", "kind": "Pod"},
       "verbs": ["get", "patch", "update"]}])"));
  const json* nodes = Find(v1["resources"], "resource", "nodes");
  ASSERT_NE(nodes, nullptr);
  EXPECT_EQ((*nodes)["scope"], "Cluster");
  EXPECT_EQ((*nodes)["shortNames"], json::parse(R"(["no"])"));
  EXPECT_FALSE(nodes->contains("categories"));
  for (const char* resource : {"namespaces", "services", "events", "configmaps", "secrets"}) {
    EXPECT_NE(Find(v1["resources"], "resource", resource), nullptr) << resource;
  }
  EXPECT_EQ((*Find(v1["resources"], "resource", "services"))["categories"],
            json::parse(R"(["all"])"));
  EXPECT_EQ(Find(v1["resources"], "resource", "jobs"), nullptr);  // not in the core group
}

TEST(DiscoveryTest, AggregatedNamedGroups) {
  json list = AggregatedDiscovery(false);
  ASSERT_EQ(list["items"].size(), 1u);
  const json& batch = list["items"][0];
  EXPECT_EQ(batch["metadata"]["name"], "batch");
  const json& v1 = batch["versions"][0];
  EXPECT_EQ(v1["version"], "v1");
  const json* jobs = Find(v1["resources"], "resource", "jobs");
  ASSERT_NE(jobs, nullptr);
  EXPECT_EQ((*jobs)["responseKind"],
            json::parse(R"({"group": "batch", "version": "v1", "kind": "Job"})"));
  EXPECT_EQ((*jobs)["categories"], json::parse(R"(["all"])"));
  EXPECT_FALSE(jobs->contains("shortNames"));
  EXPECT_EQ((*jobs)["subresources"][0]["subresource"], "status");
  EXPECT_EQ((*jobs)["subresources"][0]["responseKind"]["group"], "batch");
}

// Both forms describe the same API: converted as client-go converts the
// aggregated form, it gives the legacy resource lists entry for entry.
TEST(DiscoveryTest, BothFormsAgree) {
  for (bool core : {true, false}) {
    const json list = AggregatedDiscovery(core);
    for (const json& group : list["items"]) {
      std::string name = group["metadata"].value("name", "");
      for (const json& version : group["versions"]) {
        std::string v = version["version"];
        auto legacy = ResourceList(name, v);
        ASSERT_TRUE(legacy.has_value()) << name << "/" << v;
        json converted = json::array();
        for (const json& r : version["resources"]) {
          json entry = {{"name", r["resource"]},
                        {"singularName", r["singularResource"]},
                        {"namespaced", r["scope"] == "Namespaced"},
                        {"kind", r["responseKind"]["kind"]},
                        {"verbs", r["verbs"]}};
          if (r.contains("shortNames")) entry["shortNames"] = r["shortNames"];
          if (r.contains("categories")) entry["categories"] = r["categories"];
          converted.push_back(entry);
          for (const json& s : r.value("subresources", json::array())) {
            converted.push_back({{"name", r["resource"].get<std::string>() + "/" +
                                              s["subresource"].get<std::string>()},
                                 {"singularName", ""},
                                 {"namespaced", r["scope"] == "Namespaced"},
                                 {"kind", s["responseKind"]["kind"]},
                                 {"verbs", s["verbs"]}});
          }
        }
        EXPECT_EQ(converted, (*legacy)["resources"]) << name << "/" << v;
      }
    }
  }
  // Every served kind is in one of the two lists.
  size_t listed = 0;
  for (bool core : {true, false}) {
    const json list = AggregatedDiscovery(core);
    for (const json& group : list["items"]) {
      for (const json& version : group["versions"]) listed += version["resources"].size();
    }
  }
  EXPECT_EQ(listed, AllKinds().size());
}

TEST(DiscoveryTest, LegacyForm) {
  EXPECT_EQ(LegacyDiscovery(true)["versions"], json::parse(R"(["v1"])"));
  json apis = LegacyDiscovery(false);
  EXPECT_EQ(apis["kind"], "APIGroupList");
  EXPECT_EQ(apis["groups"][0]["name"], "batch");
  EXPECT_EQ(apis["groups"][0]["preferredVersion"]["groupVersion"], "batch/v1");
  EXPECT_EQ((*ResourceList("batch", "v1"))["groupVersion"], "batch/v1");
  EXPECT_FALSE(ResourceList("apps", "v1").has_value());
  EXPECT_FALSE(ResourceList("batch", "v2").has_value());
}

}  // namespace
}  // namespace portflow::fake
