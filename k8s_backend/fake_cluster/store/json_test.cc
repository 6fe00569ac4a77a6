#include "k8s_backend/fake_cluster/store/json.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

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

// Serialize writes what dump() writes, byte for byte, or throws where it
// throws (a string that is not UTF-8).
TEST(Serialize, WritesWhatDumpWrites) {
  auto same = [](const json& v) {
    std::string want, got;
    bool want_threw = false, got_threw = false;
    try {
      want = v.dump();
    } catch (const json::type_error&) {
      want_threw = true;
    }
    try {
      got = Serialize(v);
    } catch (const json::type_error&) {
      got_threw = true;
    }
    EXPECT_EQ(got_threw, want_threw);
    EXPECT_EQ(got, want);
  };
  same(json::parse(kPod));
  for (const char* s : {"", "plain", "a\"b\\c/d", "\n\r\t\b\f", "\x01\x1f\x7f",
                        "caf\xc3\xa9 \xe2\x82\xac", "\xff", "ok\xc3"}) {
    same(json(s));
    same(json{{s, 1}});
  }
  same(json(std::string("nul\0byte", 8)));
  for (double d : {0.0, -0.0, 1.0, 0.1, 1e20, -2.5e-7, 123456789.125}) same(json(d));
  same(json(std::numeric_limits<int64_t>::min()));
  same(json(std::numeric_limits<uint64_t>::max()));
  same(json::object());
  same(json::array());
  same(json{{"long", std::string(10000, 'x')}, {"more", std::string(3000, '\n')}});

  // Random trees: every kind of value, strings drawn from every kind of byte.
  std::mt19937_64 rng(16);
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  const std::vector<std::string> pieces = {
      "a",   "Z",  "9",    " ",    "-",    "\"",       "\\",
      "/",   "\n", "\x01", "\x1f", "\x7f", "\xc3\xa9", "\xf0\x9f\x98\x80",
      "\x80"};
  auto text = [&] {
    std::string s;
    for (size_t n = pick(12); n > 0; --n) s += pieces[pick(pieces.size() - (pick(8) ? 1 : 0))];
    return s;
  };
  std::function<json(int)> tree = [&](int depth) -> json {
    switch (pick(depth > 3 ? 6 : 8)) {
      case 0:
        return text();
      case 1:
        return static_cast<int64_t>(rng());
      case 2:
        return static_cast<uint64_t>(rng());
      case 3:
        return static_cast<double>(static_cast<int64_t>(rng() % 2000000) - 1000000) / 64;
      case 4:
        return pick(2) == 0;
      case 5:
        return nullptr;
      case 6: {
        json a = json::array();
        for (size_t n = pick(5); n > 0; --n) a.push_back(tree(depth + 1));
        return a;
      }
      default: {
        json o = json::object();
        for (size_t n = pick(6); n > 0; --n) o[text()] = tree(depth + 1);
        return o;
      }
    }
  };
  for (int i = 0; i < 3000; ++i) same(tree(0));
}

}  // namespace
}  // namespace portflow::fake
