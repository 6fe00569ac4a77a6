// The store's event log: events recorded as fields answer every call as
// stored objects do, and the cap lets the oldest go as the API server lets
// events expire.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <regex>

#include "k8s_backend/fake_cluster/controllers/event_recorder.h"
#include "k8s_backend/fake_cluster/store/object_store.h"

namespace portflow::fake {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

EventRecord About(const std::string& pod, const std::string& name, const std::string& reason) {
  EventRecord r;
  r.name = name;
  r.involved_api_version = "v1";
  r.involved_kind = "Pod";
  r.involved_name = pod;
  r.involved_uid = "uid-of-" + pod;
  r.involved_resource_version = "7";
  r.type = "Normal";
  r.reason = reason;
  r.message = "about " + pod;
  r.component = "kubelet";
  return r;
}

json ClientEvent(const std::string& name) {
  return {{"metadata", {{"name", name}}},
          {"involvedObject", {{"kind", "Pod"}, {"name", "x"}}},
          {"reason", "Custom"}};
}

std::vector<std::string> Names(const std::vector<json>& items) {
  std::vector<std::string> names;
  for (const json& e : items) names.push_back(e["metadata"]["name"]);
  return names;
}

// Every event queued on `w`, as "TYPE name@rv".
std::vector<std::string> Drain(Watch& w) {
  std::vector<std::string> seen;
  WatchEvent e;
  while (w.TryNext(&e)) {
    const json& meta = (*e.object)["metadata"];
    seen.push_back(e.type + " " + meta["name"].get<std::string>() + "@" +
                   meta["resourceVersion"].get<std::string>());
  }
  return seen;
}

class EventLogTest : public ::testing::Test {
 protected:
  FakeClock clock_;
  ObjectStore store_{clock_, 8};
};

TEST_F(EventLogTest, ARecordedEventReadsAsTheApiServersEvent) {
  int64_t before = store_.resource_version();
  ASSERT_TRUE(store_.RecordEvent("ml", About("p1", "p1.1", "Started")).ok());
  auto got = store_.Get(Events(), "ml", "p1.1");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  const json& e = *got;
  EXPECT_EQ(e["apiVersion"], "v1");
  EXPECT_EQ(e["kind"], "Event");
  EXPECT_EQ(e["metadata"]["namespace"], "ml");
  EXPECT_EQ(e["metadata"]["resourceVersion"], std::to_string(before + 1));
  EXPECT_EQ(e["metadata"]["creationTimestamp"], "2027-01-15T08:00:00Z");
  EXPECT_EQ(e["metadata"]["generation"], 1);
  EXPECT_TRUE(std::regex_match(e["metadata"]["uid"].get<std::string>(),
                               std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-"
                                          "[0-9a-f]{12}")))
      << e["metadata"]["uid"];
  EXPECT_EQ(e["involvedObject"], json({{"apiVersion", "v1"},
                                       {"kind", "Pod"},
                                       {"name", "p1"},
                                       {"namespace", "ml"},
                                       {"uid", "uid-of-p1"},
                                       {"resourceVersion", "7"}}));
  EXPECT_EQ(e["reason"], "Started");
  EXPECT_EQ(e["type"], "Normal");
  EXPECT_EQ(e["message"], "about p1");
  EXPECT_EQ(e["count"], 1);
  EXPECT_EQ(e["firstTimestamp"], "2027-01-15T08:00:00Z");
  EXPECT_EQ(e["lastTimestamp"], "2027-01-15T08:00:00Z");
  EXPECT_EQ(e["source"]["component"], "kubelet");
  EXPECT_EQ(e["reportingComponent"], "portflow-fake");
  // The same version reads the same, text included.
  EXPECT_EQ(*store_.Peek(Events(), "ml", "p1.1"), e);
  EXPECT_EQ(*store_.PeekText(Events(), "ml", "p1.1"), e.dump());
  EXPECT_EQ(store_.Get(Events(), "other", "p1.1").status().code(), StatusCode::kNotFound);
}

// The recorder's events are what it wrote as JSON into the store before
// the log: the whole object, field for field.
TEST_F(EventLogTest, TheRecordersEventsAreWholeCoreV1Events) {
  EventRecorder recorder(store_, 100);
  json pod = {
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata", {{"name", "p1"}, {"namespace", "ml"}, {"uid", "u1"}, {"resourceVersion", "5"}}}};
  ASSERT_TRUE(recorder.Record(pod, "Warning", "BackOff", "restarting").ok());
  int64_t rv = store_.resource_version();
  json got = *store_.Get(Events(), "ml", "p1.1");
  json want = {{"apiVersion", "v1"},
               {"kind", "Event"},
               {"metadata",
                {{"name", "p1.1"},
                 {"namespace", "ml"},
                 {"uid", got["metadata"]["uid"]},
                 {"resourceVersion", std::to_string(rv)},
                 {"creationTimestamp", "2027-01-15T08:00:00Z"},
                 {"generation", 1}}},
               {"involvedObject",
                {{"apiVersion", "v1"},
                 {"kind", "Pod"},
                 {"name", "p1"},
                 {"namespace", "ml"},
                 {"uid", "u1"},
                 {"resourceVersion", "5"}}},
               {"type", "Warning"},
               {"reason", "BackOff"},
               {"message", "restarting"},
               {"count", 1},
               {"firstTimestamp", "2027-01-15T08:00:00Z"},
               {"lastTimestamp", "2027-01-15T08:00:00Z"},
               {"reportingComponent", "portflow-fake"},
               {"source", {{"component", "kubelet"}}}};
  EXPECT_EQ(got, want) << got.dump(1);
  // Who reports it, as `kubectl describe` shows; a cluster-scoped object's
  // events go to "default".
  ASSERT_TRUE(recorder.Record(pod, "Normal", "Scheduled", "assigned").ok());
  EXPECT_EQ(store_.Get(Events(), "ml", "p1.2")->at("source")["component"], "default-scheduler");
  json job = {{"apiVersion", "batch/v1"},
              {"kind", "Job"},
              {"metadata", {{"name", "j"}, {"namespace", "ml"}}}};
  ASSERT_TRUE(recorder.Record(job, "Normal", "SuccessfulCreate", "made").ok());
  json e = *store_.Get(Events(), "ml", "j.3");
  EXPECT_EQ(e["source"]["component"], "job-controller");
  EXPECT_EQ(e["involvedObject"]["apiVersion"], "batch/v1");
  json node = {{"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", {{"name", "n1"}}}};
  ASSERT_TRUE(recorder.Record(node, "Normal", "Ready", "up").ok());
  EXPECT_TRUE(store_.Get(Events(), "default", "n1.4").ok());
}

TEST_F(EventLogTest, ListsAreByNameWithSelectorsAndPages) {
  ASSERT_TRUE(store_.RecordEvent("ml", About("b", "b.1", "Started")).ok());
  ASSERT_TRUE(store_.RecordEvent("ml", About("a", "a.2", "Scheduled")).ok());
  ASSERT_TRUE(store_.Create(Events(), "ml", ClientEvent("c.3")).ok());
  ASSERT_TRUE(store_.RecordEvent("team", About("a", "a.4", "Started")).ok());
  auto all = store_.List(Events(), "", {});
  ASSERT_TRUE(all.ok());
  EXPECT_THAT(Names(all->items), ElementsAre("a.2", "b.1", "c.3", "a.4"));
  auto in_ml = store_.List(Events(), "ml", {"", "involvedObject.name=a"});
  ASSERT_TRUE(in_ml.ok());
  EXPECT_THAT(Names(in_ml->items), ElementsAre("a.2"));
  auto started = store_.List(Events(), "", {"", "reason=Started"});
  EXPECT_THAT(Names(started->items), ElementsAre("b.1", "a.4"));
  auto page = store_.List(Events(), "ml", {"", "", 2});
  EXPECT_THAT(Names(page->items), ElementsAre("a.2", "b.1"));
  EXPECT_EQ(page->remaining, 1);
  auto next = store_.List(Events(), "ml", {"", "", 2, page->continue_token});
  EXPECT_THAT(Names(next->items), ElementsAre("c.3"));
  EXPECT_EQ(next->continue_token, "");
  // A watch from now starts with what exists, in the same order.
  auto w = store_.StartWatch(Events(), "", {}, "0");
  ASSERT_TRUE(w.ok());
  std::vector<std::string> added;
  for (const std::string& e : Drain(**w)) added.push_back(e.substr(0, e.find('@')));
  EXPECT_THAT(added, ElementsAre("ADDED a.2", "ADDED b.1", "ADDED c.3", "ADDED a.4"));
}

// Lists and watches judge a recorded event by its fields before making
// its JSON: for every field events can be selected by, what they judge by
// is what the JSON holds (an event the JSON matches is never left out, one
// it does not match never let in), and a watch is offered what matches.
// Each case has a store of its own: a watch keeps the JSON it made of an
// event, and an event with JSON is judged by it.
TEST_F(EventLogTest, SelectingByAnyFieldAgreesWithTheEventsJson) {
  auto fill = [](ObjectStore& store) {
    ASSERT_TRUE(store.RecordEvent("ml", About("a", "a.1", "Started")).ok());
    ASSERT_TRUE(store.RecordEvent("team", About("b", "b.2", "Scheduled")).ok());
    ASSERT_TRUE(store.Create(Events(), "ml", ClientEvent("c.3")).ok());
  };
  ObjectStore model(clock_, 8);
  fill(model);
  auto all = model.List(Events(), "", {});  // made for the list, not kept
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->items.size(), 3u);
  std::vector<std::string> fields = {"metadata.name", "metadata.namespace"};
  fields.insert(fields.end(), Events().field_selectors.begin(), Events().field_selectors.end());
  for (const std::string& field : fields) {
    for (const json& e : all->items) {
      std::string name = e["metadata"]["name"], value = FieldValue(e, field);
      for (bool equals : {true, false}) {
        std::string selector = field + (equals ? "=" : "!=") + value;
        ObjectStore store(clock_, 8);
        fill(store);
        auto listed = store.List(Events(), "", {"", selector});
        ASSERT_TRUE(listed.ok()) << selector;
        std::vector<std::string> names = Names(listed->items);
        bool in = std::find(names.begin(), names.end(), name) != names.end();
        EXPECT_EQ(in, equals) << name << " listed by " << selector;
        auto w = store.StartWatch(Events(), "", {"", selector}, "");
        ASSERT_TRUE(w.ok()) << selector;
        bool added = false;
        for (const std::string& seen : Drain(**w))
          added = added || seen.starts_with("ADDED " + name + "@");
        EXPECT_EQ(added, equals) << name << " watched by " << selector;
      }
    }
  }
  // A watch by reason is told of a new event with that reason, not of others.
  auto started = store_.StartWatch(Events(), "", {"", "reason=Started"}, "");
  ASSERT_TRUE(started.ok());
  Drain(**started);
  ASSERT_TRUE(store_.RecordEvent("ml", About("a", "a.4", "Killing")).ok());
  ASSERT_TRUE(store_.RecordEvent("ml", About("a", "a.5", "Started")).ok());
  std::vector<std::string> seen;
  for (const std::string& e : Drain(**started)) seen.push_back(e.substr(0, e.find('@')));
  EXPECT_THAT(seen, ElementsAre("ADDED a.5"));
}

TEST_F(EventLogTest, TheCapLetsTheOldestGoAndWatchesSeeThemGo) {
  auto w = store_.StartWatch(Events(), "", {}, "");
  ASSERT_TRUE(w.ok());
  int64_t rv = store_.resource_version();
  ASSERT_TRUE(store_.RecordEvent("ml", About("p", "p.1", "Started")).ok());
  ASSERT_TRUE(store_.Create(Events(), "ml", ClientEvent("mine")).ok());
  store_.LimitEvents(2);
  ASSERT_TRUE(store_.RecordEvent("ml", About("p", "p.2", "Started")).ok());
  ASSERT_TRUE(store_.RecordEvent("ml", About("p", "p.3", "Started")).ok());
  auto at = [&](int n) { return "@" + std::to_string(rv + n); };
  // A client's event counts as the recorded ones do; a deletion takes a
  // version of its own.
  EXPECT_THAT(Drain(**w),
              ElementsAre("ADDED p.1" + at(1), "ADDED mine" + at(2), "ADDED p.2" + at(3),
                          "DELETED p.1" + at(4), "ADDED p.3" + at(5), "DELETED mine" + at(6)));
  EXPECT_THAT(Names(store_.List(Events(), "ml", {})->items), ElementsAre("p.2", "p.3"));
  EXPECT_EQ(store_.Get(Events(), "ml", "p.1").status().code(), StatusCode::kNotFound);
  // Pods are not events: the cap leaves them.
  ASSERT_TRUE(store_.Create(Pods(), "ml", {{"metadata", {{"name", "a"}}}}).ok());
  ASSERT_TRUE(store_.Create(Pods(), "ml", {{"metadata", {{"name", "b"}}}}).ok());
  ASSERT_TRUE(store_.Create(Pods(), "ml", {{"metadata", {{"name", "c"}}}}).ok());
  EXPECT_EQ(store_.List(Pods(), "ml", {})->items.size(), 3u);
}

TEST_F(EventLogTest, AWatchFromAVersionReplaysTheEventsHistory) {
  int64_t start = store_.resource_version();
  store_.LimitEvents(1);
  ASSERT_TRUE(store_.RecordEvent("ml", About("p", "p.1", "Started")).ok());
  ASSERT_TRUE(store_.RecordEvent("ml", About("p", "p.2", "Started")).ok());
  // Changes to other kinds are not in the events' history, however many.
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(store_.Create(Pods(), "ml", {{"metadata", {{"name", std::to_string(i)}}}}).ok());
  }
  auto w = store_.StartWatch(Events(), "ml", {}, std::to_string(start));
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  auto at = [&](int n) { return "@" + std::to_string(start + n); };
  EXPECT_THAT(Drain(**w),
              ElementsAre("ADDED p.1" + at(1), "ADDED p.2" + at(2), "DELETED p.1" + at(3)));
  auto later = store_.StartWatch(Events(), "ml", {}, std::to_string(start + 2));
  EXPECT_THAT(Drain(**later), ElementsAre("DELETED p.1" + at(3)));
  // The history keeps 8 changes: a version from before them is gone.
  for (int i = 3; i < 10; ++i) {
    ASSERT_TRUE(store_.RecordEvent("ml", About("p", "p." + std::to_string(i), "x")).ok());
  }
  auto old = store_.StartWatch(Events(), "ml", {}, std::to_string(start));
  EXPECT_EQ(old.status().code(), StatusCode::kOutOfRange);
  EXPECT_THAT(old.status().message(), HasSubstr("too old resource version"));
  // Each event since is an ADDED and an expiry, versions in a row: the 8
  // kept are the last 8 versions, so from 8 back replays all of them and
  // from 9 back one is missing.
  int64_t last = store_.resource_version();
  auto edge = store_.StartWatch(Events(), "ml", {}, std::to_string(last - 8));
  ASSERT_TRUE(edge.ok()) << edge.status().ToString();
  EXPECT_EQ(Drain(**edge).size(), 8u);
  EXPECT_EQ(store_.StartWatch(Events(), "ml", {}, std::to_string(last - 9)).status().code(),
            StatusCode::kOutOfRange);
  auto now = store_.StartWatch(Events(), "ml", {}, std::to_string(store_.resource_version()));
  ASSERT_TRUE(now.ok());
  EXPECT_TRUE(Drain(**now).empty());
}

TEST_F(EventLogTest, ClientsUpdateAndDeleteRecordedEvents) {
  ASSERT_TRUE(store_.RecordEvent("ml", About("p", "p.1", "Started")).ok());
  ASSERT_TRUE(store_.RecordEvent("ml", About("p", "p.2", "Started")).ok());
  auto w = store_.StartWatch(Events(), "ml", {"", "reason=Started"}, "");
  ASSERT_TRUE(w.ok());
  Drain(**w);
  json e = *store_.Get(Events(), "ml", "p.1");
  std::string uid = e["metadata"]["uid"];
  e["reason"] = "Changed";
  e["metadata"]["uid"] = "mine";
  auto updated = store_.Update(Events(), "ml", e);
  ASSERT_TRUE(updated.ok()) << updated.status().ToString();
  EXPECT_EQ((**updated)["metadata"]["uid"], uid);  // the server's field kept
  EXPECT_EQ(store_.Get(Events(), "ml", "p.1")->at("reason"), "Changed");
  // A stale version is a conflict.
  EXPECT_EQ(store_.Update(Events(), "ml", e).status().code(), StatusCode::kAborted);
  // Left the selector: DELETED to the watch, as for any object.
  int64_t rv = store_.resource_version();
  EXPECT_THAT(Drain(**w), ElementsAre("DELETED p.1@" + std::to_string(rv)));
  auto gone = store_.Delete(Events(), "ml", "p.2");
  ASSERT_TRUE(gone.ok());
  EXPECT_EQ((**gone)["metadata"]["resourceVersion"], std::to_string(rv + 1));
  EXPECT_EQ((**gone)["reason"], "Started");
  EXPECT_THAT(Drain(**w), ElementsAre("DELETED p.2@" + std::to_string(rv + 1)));
  EXPECT_EQ(store_.Delete(Events(), "ml", "p.2").status().code(), StatusCode::kNotFound);
}

TEST_F(EventLogTest, AnUpdatedEventKeepsItsPlaceInLine) {
  for (const char* name : {"p.1", "p.2", "p.3"}) {
    ASSERT_TRUE(store_.RecordEvent("ml", About("p", name, "Started")).ok());
  }
  ASSERT_TRUE(store_.Delete(Events(), "ml", "p.2").ok());
  json e = *store_.Get(Events(), "ml", "p.1");
  e["message"] = "changed";
  ASSERT_TRUE(store_.Update(Events(), "ml", e).ok());
  // p.1 is still the oldest: the cap lets it go first.
  store_.LimitEvents(1);
  EXPECT_THAT(Names(store_.List(Events(), "ml", {})->items), ElementsAre("p.3"));
  EXPECT_EQ(store_.Get(Events(), "ml", "p.3")->at("message"), "about p");
}

// Events take versions that the other kinds' history does not hold: a
// watch from before them has missed nothing.
TEST_F(EventLogTest, VersionsTakenByEventsAreNoGapInOtherKindsHistory) {
  int64_t start = store_.resource_version();
  ASSERT_TRUE(store_.RecordEvent("ml", About("p", "p.1", "Started")).ok());
  ASSERT_TRUE(store_.Create(Pods(), "ml", {{"metadata", {{"name", "a"}}}}).ok());
  auto w = store_.StartWatch(Pods(), "ml", {}, std::to_string(start));
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_THAT(Drain(**w), ElementsAre("ADDED a@" + std::to_string(start + 2)));
}

TEST_F(EventLogTest, NamesAreUniqueWhoeverTookThem) {
  ASSERT_TRUE(store_.RecordEvent("ml", About("p", "p.1", "Started")).ok());
  auto taken = store_.Create(Events(), "ml", ClientEvent("p.1"));
  EXPECT_EQ(taken.status().code(), StatusCode::kAlreadyExists);
  EXPECT_THAT(taken.status().message(), HasSubstr("events \"p.1\" already exists"));
  ASSERT_TRUE(store_.Create(Events(), "ml", ClientEvent("p.2")).ok());
  EXPECT_EQ(store_.RecordEvent("ml", About("p", "p.2", "Started")).code(),
            StatusCode::kAlreadyExists);
  EXPECT_TRUE(store_.RecordEvent("other", About("p", "p.2", "Started")).ok());
  // A deleted event's name is free again, a client's as a recorded one's.
  ASSERT_TRUE(store_.Delete(Events(), "ml", "p.2").ok());
  EXPECT_TRUE(store_.RecordEvent("ml", About("p", "p.2", "Started")).ok());
  ASSERT_TRUE(store_.Create(Events(), "ml", ClientEvent("p.5")).ok());
  ASSERT_TRUE(store_.RecordEvent("ml", About("p", "p.6", "Started")).ok());
  store_.LimitEvents(1);  // p.5 expires
  EXPECT_TRUE(store_.RecordEvent("ml", About("p", "p.5", "Started")).ok());
  auto generated = store_.Create(Events(), "ml", {{"metadata", {{"generateName", "g-"}}}});
  ASSERT_TRUE(generated.ok());
  EXPECT_EQ((**generated)["metadata"]["name"].get<std::string>().rfind("g-", 0), 0u);
}

TEST_F(EventLogTest, ListenersAreNotToldOfEvents) {
  std::vector<std::string> told;
  store_.AddListener([&](const ObjectStore::Change& c) { told.push_back(c.kind->resource); });
  ASSERT_TRUE(store_.RecordEvent("ml", About("p", "p.1", "Started")).ok());
  ASSERT_TRUE(store_.Create(Events(), "ml", ClientEvent("mine")).ok());
  ASSERT_TRUE(store_.Create(Pods(), "ml", {{"metadata", {{"name", "a"}}}}).ok());
  EXPECT_THAT(told, ElementsAre("pods"));
}

}  // namespace
}  // namespace portflow::fake
