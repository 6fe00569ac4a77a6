#include "k8s_backend/fake_cluster/store/json.h"

#include <gtest/gtest.h>

#include <string>

namespace portflow::fake {
namespace {

const char* const kPod = R"({"status": {"phase": "Running", "conditions": [{"type": "Ready"}]},
  "metadata": {"name": "a", "labels": {"z": "1", "a": "2", "m": "3"}, "uid": "u"},
  "kind": "Pod", "apiVersion": "v1", "spec": {"containers": [{"name": "c", "image": "x"}]}})";

TEST(CompactJson, ReadsWritesAndSerialisesAsNlohmannJson) {
  json compact = json::parse(kPod);
  nlohmann::json plain = nlohmann::json::parse(kPod);
  // The same text, keys in order, both ways round.
  EXPECT_EQ(compact.dump(), plain.dump());
  EXPECT_EQ(json(plain), compact);
  EXPECT_EQ(nlohmann::json(compact), plain);
  std::string keys;
  for (const auto& [k, v] : compact["metadata"]["labels"].items()) keys += k;
  EXPECT_EQ(keys, "amz");
  // Lookups, inserts and erases, in a small object and a large one.
  for (int size : {3, 40}) {
    json o = json::object();
    for (int i = size - 1; i >= 0; --i) o["k" + std::to_string(100 + i)] = i;
    ASSERT_EQ(o.size(), static_cast<size_t>(size));
    EXPECT_EQ(o.begin().key(), "k100");
    EXPECT_EQ(o["k101"], 1);
    EXPECT_TRUE(o.contains("k102"));
    EXPECT_FALSE(o.contains("k10"));
    EXPECT_FALSE(o.contains("k1020"));
    EXPECT_EQ(o.find("nope"), o.end());
    EXPECT_EQ(o.erase("k101"), 1u);
    EXPECT_EQ(o.erase("k101"), 0u);
    EXPECT_FALSE(o.contains("k101"));
    EXPECT_EQ(o.value("k102", -1), 2);
    o.emplace("k000", 7);
    EXPECT_EQ(o.begin().key(), "k000");
    EXPECT_FALSE(o.emplace("k000", 8).second);
    EXPECT_EQ(o["k000"], 7);
  }
}

TEST(CompactJson, EqualObjectsAreEqualWhateverTheOrderTheirKeysCameIn) {
  json a = json::object(), b = json::object();
  a["x"] = 1;
  a["y"] = json{{"q", 1}, {"p", 2}};
  b["y"] = json{{"p", 2}, {"q", 1}};
  b["x"] = 1;
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.dump(), b.dump());
  b["y"]["p"] = 3;
  EXPECT_NE(a, b);
  // merge_patch and update go through the same inserts and erases.
  a.merge_patch(json{{"y", {{"p", 3}}}, {"x", nullptr}});
  b.erase("x");
  EXPECT_EQ(a, b);
}

}  // namespace
}  // namespace portflow::fake
