#include "k8s_backend/fake_cluster/store/object_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

namespace portflow::fake {
namespace {

using ::testing::HasSubstr;

json Pod(const std::string& name, const std::string& phase = "Pending",
         const std::map<std::string, std::string>& labels = {}) {
  json p = {{"metadata", {{"name", name}}},
            {"spec", {{"containers", json::array()}}},
            {"status", {{"phase", phase}}}};
  for (const auto& [k, v] : labels) p["metadata"]["labels"][k] = v;
  return p;
}

class ObjectStoreTest : public ::testing::Test {
 protected:
  FakeClock clock_;
  ObjectStore store_{clock_, 8};
  const ResourceKind& pods_ = *FindKind("", "pods");
  const ResourceKind& nodes_ = *FindKind("", "nodes");
  const ResourceKind& jobs_ = *FindKind("batch", "jobs");
};

TEST_F(ObjectStoreTest, CreateFillsWhatTheServerOwns) {
  auto p = store_.Create(pods_, "ml", Pod("a"));
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ((**p)["apiVersion"], "v1");
  EXPECT_EQ((**p)["kind"], "Pod");
  EXPECT_EQ((**p)["metadata"]["namespace"], "ml");
  EXPECT_FALSE((**p)["metadata"]["uid"].get<std::string>().empty());
  EXPECT_EQ((**p)["metadata"]["generation"], 1);
  EXPECT_EQ((**p)["metadata"]["creationTimestamp"], "2027-01-15T08:00:00Z");
  auto j = store_.Create(jobs_, "ml", {{"metadata", {{"generateName", "train-"}}}});
  ASSERT_TRUE(j.ok());
  EXPECT_EQ((**j)["apiVersion"], "batch/v1");
  std::string name = (**j)["metadata"]["name"];
  EXPECT_EQ(name.size(), 11u);
  EXPECT_EQ(name.rfind("train-", 0), 0u);
  EXPECT_NE((**p)["metadata"]["uid"], (**j)["metadata"]["uid"]);
  // As the API server's name generator: a long prefix is cut to 58
  // characters, so that the name is 63 (a label's length).
  auto long_name =
      store_.Create(jobs_, "ml", {{"metadata", {{"generateName", std::string(70, 'a')}}}});
  ASSERT_TRUE(long_name.ok());
  name = (**long_name)["metadata"]["name"];
  EXPECT_EQ(name.size(), 63u);
  EXPECT_EQ(name.rfind(std::string(58, 'a'), 0), 0u);
  EXPECT_EQ((**long_name)["metadata"]["generateName"], std::string(70, 'a'));
}

// A GET's text is made once per version: the same bytes until the object
// changes, then the new version's.
TEST_F(ObjectStoreTest, TextIsMadeOncePerVersion) {
  EXPECT_EQ(store_.PeekText(pods_, "ml", "a"), nullptr);
  auto p = store_.Create(pods_, "ml", Pod("a"));
  ASSERT_TRUE(p.ok());
  auto text = store_.PeekText(pods_, "ml", "a");
  ASSERT_NE(text, nullptr);
  EXPECT_EQ(*text, (*p)->dump());
  EXPECT_EQ(store_.PeekText(pods_, "ml", "a"), text);  // shared, not made again
  json next = **p;
  next["status"]["phase"] = "Running";
  auto updated = store_.Update(pods_, "ml", next);
  ASSERT_TRUE(updated.ok());
  auto after = store_.PeekText(pods_, "ml", "a");
  ASSERT_NE(after, nullptr);
  EXPECT_EQ(*after, (*updated)->dump());
  EXPECT_NE(*after, *text);
  ASSERT_TRUE(store_.Delete(pods_, "ml", "a").ok());
  EXPECT_EQ(store_.PeekText(pods_, "ml", "a"), nullptr);
}

// A version is serialised once for everyone: the text a watch's event
// carries is the one GETs serve, and a watch from "0" reuses it too.
TEST_F(ObjectStoreTest, WatchesAndGetsShareAVersionsText) {
  std::string now = std::to_string(store_.resource_version());
  auto w = store_.StartWatch(pods_, "ml", {}, now);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(store_.Create(pods_, "ml", Pod("a")).ok());
  WatchEvent e;
  ASSERT_TRUE((*w)->Next(&e, clock_.Now() + std::chrono::seconds(1)));
  ASSERT_NE(e.text, nullptr);
  EXPECT_EQ(store_.PeekText(pods_, "ml", "a"), e.text);
  ASSERT_TRUE(store_.Create(pods_, "ml", Pod("b")).ok());
  auto b = store_.PeekText(pods_, "ml", "b");
  auto listed = store_.StartWatch(pods_, "ml", {}, "0");
  ASSERT_TRUE(listed.ok());
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE((*listed)->Next(&e, clock_.Now() + std::chrono::seconds(1)));
    EXPECT_EQ(e.text, store_.PeekText(pods_, "ml", e.object->at("metadata").at("name")));
  }
  EXPECT_EQ(store_.PeekText(pods_, "ml", "b"), b);
}

TEST_F(ObjectStoreTest, ErrorsWhereTheApiServerGivesThem) {
  ASSERT_TRUE(store_.Create(pods_, "ml", Pod("a")).ok());
  auto dup = store_.Create(pods_, "ml", Pod("a"));
  EXPECT_EQ(dup.status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(dup.status().message(), "pods \"a\" already exists");
  EXPECT_TRUE(store_.Create(pods_, "other", Pod("a")).ok());  // names are per namespace
  EXPECT_EQ(store_.Get(pods_, "ml", "b").status().message(), "pods \"b\" not found");
  EXPECT_EQ(store_.Get(jobs_, "ml", "b").status().message(), "jobs.batch \"b\" not found");
  EXPECT_EQ(store_.Create(pods_, "ml", json::object()).status().code(),
            StatusCode::kInvalidArgument);
  json wrong_ns = Pod("c");
  wrong_ns["metadata"]["namespace"] = "elsewhere";
  EXPECT_EQ(store_.Create(pods_, "ml", wrong_ns).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_.Delete(pods_, "ml", "zz").status().code(), StatusCode::kNotFound);
}

TEST_F(ObjectStoreTest, UpdateChecksTheResourceVersionAndBumpsGeneration) {
  json a = **store_.Create(pods_, "ml", Pod("a"));
  json stale = a;
  a["status"]["phase"] = "Running";
  json updated = **store_.Update(pods_, "ml", a);
  EXPECT_EQ(updated["metadata"]["generation"], 1);  // status changes keep the generation
  EXPECT_NE(updated["metadata"]["resourceVersion"], a["metadata"]["resourceVersion"]);
  stale["status"]["phase"] = "Failed";
  auto conflict = store_.Update(pods_, "ml", stale);
  EXPECT_EQ(conflict.status().code(), StatusCode::kAborted);
  EXPECT_THAT(conflict.status().message(), HasSubstr("the object has been modified"));
  updated["spec"]["nodeName"] = "n1";
  json again = **store_.Update(pods_, "ml", updated);
  EXPECT_EQ(again["metadata"]["generation"], 2);
  again["metadata"].erase("resourceVersion");  // no precondition: last write wins
  again["metadata"]["uid"] = "forged";
  json forced = **store_.Update(pods_, "ml", again);
  EXPECT_EQ(forced["metadata"]["uid"], a["metadata"]["uid"]);
  // A server-owned number sent equal but as another type is the server's again.
  forced["metadata"]["generation"] = 2.0;
  json typed = **store_.Update(pods_, "ml", forced);
  EXPECT_TRUE(typed["metadata"]["generation"].is_number_integer()) << typed["metadata"].dump();
}

TEST_F(ObjectStoreTest, ListsInStableOrderWithSelectorsAndPages) {
  for (const char* ns : {"b", "a"}) {
    for (const char* name : {"z", "y", "x"}) {
      ASSERT_TRUE(
          store_
              .Create(pods_, ns,
                      Pod(name, name == std::string("y") ? "Running" : "Pending", {{"app", ns}}))
              .ok());
    }
  }
  auto all = store_.List(pods_, "", {});
  ASSERT_TRUE(all.ok());
  std::vector<std::string> got;
  for (const json& p : all->items)
    got.push_back(p["metadata"]["namespace"].get<std::string>() + "/" +
                  p["metadata"]["name"].get<std::string>());
  EXPECT_EQ(got, (std::vector<std::string>{"a/x", "a/y", "a/z", "b/x", "b/y", "b/z"}));
  EXPECT_EQ(store_.List(pods_, "b", {})->items.size(), 3u);
  EXPECT_EQ(store_.List(pods_, "", {"app=a", "", 0, ""})->items.size(), 3u);
  EXPECT_EQ(store_.List(pods_, "", {"", "status.phase=Running", 0, ""})->items.size(), 2u);
  EXPECT_FALSE(store_.List(pods_, "", {"", "spec.bogus=1", 0, ""}).ok());
  // Pages of two, following continue tokens.
  ListOptions page{"", "", 2, ""};
  std::vector<std::string> paged;
  for (int i = 0; i < 10; ++i) {
    auto r = store_.List(pods_, "", page);
    ASSERT_TRUE(r.ok());
    for (const json& p : r->items) paged.push_back(p["metadata"]["name"]);
    if (r->continue_token.empty()) break;
    EXPECT_EQ(r->remaining, 6 - static_cast<int64_t>(paged.size()));
    page.continue_token = r->continue_token;
  }
  EXPECT_EQ(paged.size(), 6u);
  EXPECT_FALSE(store_.List(pods_, "", {"", "", 2, "zz-not-a-token"}).ok());
}

TEST_F(ObjectStoreTest, ClusterScopedKindsIgnoreNamespaces) {
  auto n = store_.Create(nodes_, "", {{"metadata", {{"name", "node-1"}, {"namespace", "x"}}}});
  ASSERT_TRUE(n.ok());
  EXPECT_FALSE((**n)["metadata"].contains("namespace"));
  EXPECT_TRUE(store_.Get(nodes_, "whatever", "node-1").ok());
}

TEST_F(ObjectStoreTest, WatchFromNowSeesChangesThroughSelectors) {
  auto w = store_.StartWatch(pods_, "ml", {"app=web", "", 0, ""},
                             std::to_string(store_.resource_version()));
  ASSERT_TRUE(w.ok());
  json a = **store_.Create(pods_, "ml", Pod("a", "Pending", {{"app", "web"}}));
  ASSERT_TRUE(store_.Create(pods_, "ml", Pod("b", "Pending", {{"app", "db"}})).ok());
  ASSERT_TRUE(store_.Create(pods_, "other", Pod("c", "Pending", {{"app", "web"}})).ok());
  a["metadata"]["labels"]["app"] = "gone";  // leaves the selector: DELETED
  ASSERT_TRUE(store_.Update(pods_, "ml", a).ok());
  WatchEvent e;
  TimePoint soon = clock_.Now() + std::chrono::seconds(1);
  ASSERT_TRUE((*w)->Next(&e, soon));
  EXPECT_EQ(e.type, "ADDED");
  EXPECT_EQ((*e.object)["metadata"]["name"], "a");
  ASSERT_TRUE((*w)->Next(&e, soon));
  EXPECT_EQ(e.type, "DELETED");
  EXPECT_FALSE((*w)->Next(&e, soon));  // nothing else; virtual time jumped to the deadline
  EXPECT_EQ(clock_.Now(), soon);
}

TEST_F(ObjectStoreTest, WatchersShareOneSerialisationPerChange) {
  std::string now = std::to_string(store_.resource_version());
  auto w1 = store_.StartWatch(pods_, "", {}, now);
  auto w2 = store_.StartWatch(pods_, "ml", {}, now);
  ASSERT_TRUE(w1.ok() && w2.ok());
  json a = **store_.Create(pods_, "ml", Pod("a"));
  WatchEvent e1, e2;
  TimePoint soon = clock_.Now() + std::chrono::seconds(1);
  ASSERT_TRUE((*w1)->Next(&e1, soon));
  ASSERT_TRUE((*w2)->Next(&e2, soon));
  ASSERT_TRUE(e1.text && e2.text);
  EXPECT_EQ(e1.text.get(), e2.text.get());
  EXPECT_EQ(json::parse(*e1.text), a);
  EXPECT_EQ(e1.object.get(), e2.object.get());
}

// A reader that does not wait in Next is woken once per burst: when an
// event reaches an empty queue, at once for what is queued already, and
// when the watch stops; never after the waker is removed.
TEST_F(ObjectStoreTest, AWakerIsToldWhenAnEmptyWatchGetsAnEvent) {
  std::string now = std::to_string(store_.resource_version());
  auto w = store_.StartWatch(pods_, "ml", {}, now);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(store_.Create(pods_, "ml", Pod("a")).ok());
  int woken = 0;
  (*w)->SetWaker([&woken] { ++woken; });
  EXPECT_EQ(woken, 1) << "an event was queued already";
  ASSERT_TRUE(store_.Create(pods_, "ml", Pod("b")).ok());
  EXPECT_EQ(woken, 1) << "the queue was not empty";
  WatchEvent e;
  while ((*w)->TryNext(&e)) {
  }
  ASSERT_TRUE(store_.Create(pods_, "ml", Pod("c")).ok());
  EXPECT_EQ(woken, 2);
  ASSERT_TRUE(store_.Create(pods_, "other", Pod("d")).ok());
  EXPECT_EQ(woken, 2) << "not this watch's namespace";
  (*w)->Stop();
  EXPECT_EQ(woken, 3);
  (*w)->SetWaker(nullptr);
  ASSERT_TRUE(store_.Create(pods_, "ml", Pod("e")).ok());
  EXPECT_EQ(woken, 3);
}

TEST_F(ObjectStoreTest, WatchFromZeroListsFirstAndTooOldIsExpired) {
  ASSERT_TRUE(store_.Create(pods_, "ml", Pod("a")).ok());
  ASSERT_TRUE(store_.Create(pods_, "ml", Pod("b")).ok());
  auto w = store_.StartWatch(pods_, "ml", {}, "0");
  ASSERT_TRUE(w.ok());
  WatchEvent e;
  TimePoint soon = clock_.Now() + std::chrono::seconds(1);
  ASSERT_TRUE((*w)->Next(&e, soon));
  EXPECT_EQ(e.type, "ADDED");
  ASSERT_TRUE((*w)->Next(&e, soon));
  EXPECT_EQ((*e.object)["metadata"]["name"], "b");
  // The store keeps 8 changes: a version from before them is gone.
  int64_t start = store_.resource_version();
  for (int i = 0; i < 12; ++i)
    ASSERT_TRUE(store_.Create(pods_, "ml", Pod("p" + std::to_string(i))).ok());
  auto old = store_.StartWatch(pods_, "ml", {}, std::to_string(start));
  EXPECT_EQ(old.status().code(), StatusCode::kOutOfRange);
  EXPECT_THAT(old.status().message(), HasSubstr("too old resource version"));
  auto recent = store_.StartWatch(pods_, "ml", {}, std::to_string(store_.resource_version() - 3));
  ASSERT_TRUE(recent.ok());
  int n = 0;
  while ((*recent)->Next(&e, clock_.Now() + std::chrono::seconds(1))) ++n;
  EXPECT_EQ(n, 3);
  EXPECT_FALSE(store_.StartWatch(pods_, "ml", {}, "abc").ok());
}

TEST_F(ObjectStoreTest, ADeleteLeavesEveryVersionThatIsStillHeldWhole) {
  // Held by the history (8 changes) and by a reader: the DELETED version is
  // a copy, and both still read as they were.
  auto held = store_.Create(pods_, "ml", Pod("a", "Running"));
  ASSERT_TRUE(held.ok());
  auto gone = store_.Delete(pods_, "ml", "a");
  ASSERT_TRUE(gone.ok());
  EXPECT_EQ((**held)["status"]["phase"], "Running");
  EXPECT_EQ((**gone)["status"]["phase"], "Running");
  EXPECT_NE((**gone)["metadata"]["resourceVersion"], (**held)["metadata"]["resourceVersion"]);
  // Held by the history only: a watch from before the create sees it whole.
  int64_t before = store_.resource_version();
  ASSERT_TRUE(store_.Create(pods_, "ml", Pod("b", "Running")).ok());
  ASSERT_TRUE(store_.Delete(pods_, "ml", "b").ok());
  auto w = store_.StartWatch(pods_, "ml", {}, std::to_string(before));
  ASSERT_TRUE(w.ok());
  WatchEvent e;
  for (const char* type : {"ADDED", "DELETED"}) {
    ASSERT_TRUE((*w)->Next(&e, clock_.Now() + std::chrono::seconds(1)));
    EXPECT_EQ(e.type, type);
    EXPECT_EQ((*e.object)["status"]["phase"], "Running") << type;
  }
  // Held by nothing else (the history has moved on): moved, and whole.
  ASSERT_TRUE(store_.Create(pods_, "ml", Pod("c", "Running")).ok());
  for (int i = 0; i < 10; ++i)
    ASSERT_TRUE(store_.Create(pods_, "ml", Pod("p" + std::to_string(i))).ok());
  auto last = store_.Delete(pods_, "ml", "c");
  ASSERT_TRUE(last.ok());
  EXPECT_EQ((**last)["status"]["phase"], "Running");
  EXPECT_EQ((**last)["metadata"]["name"], "c");
}

TEST_F(ObjectStoreTest, StoppedWatchesEndAndDeliveryIsThreadSafe) {
  auto w = store_.StartWatch(pods_, "", {}, "");
  ASSERT_TRUE(w.ok());
  std::thread writer([&] {
    for (int i = 0; i < 100; ++i)
      ASSERT_TRUE(store_.Create(pods_, "ml", Pod("t" + std::to_string(i))).ok());
  });
  writer.join();
  int n = 0;
  WatchEvent e;
  while ((*w)->Next(&e, clock_.Now() + std::chrono::seconds(1))) ++n;
  EXPECT_EQ(n, 100);
  store_.StopAllWatches();
  EXPECT_TRUE((*w)->stopped());
  ASSERT_TRUE(store_.Create(pods_, "ml", Pod("late")).ok());
  EXPECT_FALSE((*w)->Next(&e, clock_.Now() + std::chrono::seconds(1)));
}

TEST(Kinds, ServedKinds) {
  EXPECT_NE(FindKind("", "configmaps"), nullptr);
  EXPECT_NE(FindKind("batch", "jobs"), nullptr);
  EXPECT_EQ(FindKind("", "jobs"), nullptr);
  EXPECT_FALSE(FindKind("", "nodes")->namespaced);
  const auto& event_fields = FindKind("", "events")->field_selectors;
  for (const char* f : {"involvedObject.kind", "involvedObject.uid"})
    EXPECT_NE(std::find(event_fields.begin(), event_fields.end(), f), event_fields.end()) << f;
}

}  // namespace
}  // namespace portflow::fake
