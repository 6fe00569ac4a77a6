#include "k8s_backend/client/watcher.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "core/json_parse.h"
#include "k8s_backend/fake_cluster/fake_cluster.h"
#include "k8s_backend/fake_cluster/fake_transport.h"

namespace portflow::k8s {
namespace {

using json = nlohmann::json;

// The watcher against the fake cluster over loopback HTTP, in real time
// with short backoffs.
class WatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fake::ClusterOptions o;
    o.nodes = 1;
    o.watch_history = 5;  // small, so that a watcher can fall behind it
    cluster_ = std::move(fake::FakeCluster::Create(o, RealClock()).value());
    ASSERT_TRUE(cluster_->Serve(0).ok());
    ClusterAccess access = fake::ServedAccess(*cluster_);
    RetryPolicy fast{5, std::chrono::milliseconds(1), std::chrono::milliseconds(10)};
    client_ = std::make_unique<ApiClient>(MakeCurlTransport(access).value(),
                                          std::make_shared<Credentials>(access, RealClock()),
                                          RealClock(), fast);
    WatchOptions w{"/api/v1/namespaces/default/configmaps", "run=r1", "", 30,
                   std::chrono::milliseconds(20)};
    watcher_ = std::make_unique<Watcher>(
        *client_, w,
        [this](const std::string& type, const Watcher::Object& object) {
          std::lock_guard<std::mutex> l(mu_);
          seen_.push_back(type + " " + (*object)["metadata"].value("name", ""));
          delivered_[seen_.back()] = object.get();
          cv_.notify_all();
        },
        RealClock());
  }
  void TearDown() override {
    watcher_->Stop();
    cluster_->StopServing();
  }

  void Create(const std::string& name, const std::string& run = "r1") {
    json cm = {{"metadata", {{"name", name}, {"labels", {{"run", run}}}}}, {"data", {{"k", "1"}}}};
    ASSERT_TRUE(cluster_->store().Create(*fake::FindKind("", "configmaps"), "default", cm).ok());
  }
  // Waits until `event` has been seen (5 s at most).
  bool Saw(const std::string& event) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, std::chrono::seconds(5), [&] {
      return std::find(seen_.begin(), seen_.end(), event) != seen_.end();
    });
  }

  std::unique_ptr<fake::FakeCluster> cluster_;
  std::unique_ptr<ApiClient> client_;
  std::unique_ptr<Watcher> watcher_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> seen_;
  std::map<std::string, const json*> delivered_;  // "TYPE name" -> the object handed over
};

TEST_F(WatcherTest, ListsThenFollowsChangesThroughTheSelector) {
  Create("a");
  Create("b");
  Create("other", "r2");
  watcher_->Start();
  ASSERT_TRUE(watcher_->WaitSynced(std::chrono::seconds(5)));
  EXPECT_TRUE(Saw("ADDED a"));
  EXPECT_TRUE(Saw("ADDED b"));
  Create("c");
  EXPECT_TRUE(Saw("ADDED c"));
  auto& kind = *fake::FindKind("", "configmaps");
  json a = *cluster_->store().Peek(kind, "default", "a");
  a["data"]["k"] = "2";
  ASSERT_TRUE(cluster_->store().Update(kind, "default", a).ok());
  EXPECT_TRUE(Saw("MODIFIED a"));
  ASSERT_TRUE(cluster_->store().Delete(kind, "default", "b").ok());
  EXPECT_TRUE(Saw("DELETED b"));
  std::lock_guard<std::mutex> l(mu_);
  EXPECT_EQ(std::count(seen_.begin(), seen_.end(), "ADDED other"), 0);
  EXPECT_EQ(watcher_->lists(), 1);
}

// An event nested past ParseJson's limit (a hostile server's) is skipped:
// nothing of it is handed over, and the events after it still come.
TEST_F(WatcherTest, AnEventNestedTooDeepIsSkipped) {
  watcher_->Start();
  ASSERT_TRUE(watcher_->WaitSynced(std::chrono::seconds(5)));
  fake::json deep = 1;
  for (size_t i = 0; i < kMaxJsonDepth + 10; ++i) deep = fake::json::array({std::move(deep)});
  fake::json cm = {{"metadata", {{"name", "deep"}, {"labels", {{"run", "r1"}}}}}};
  cm["spec"] = std::move(deep);  // stored as it is: the store's API checks are bypassed
  ASSERT_TRUE(cluster_->store().Create(*fake::FindKind("", "configmaps"), "default", cm).ok());
  Create("after");
  EXPECT_TRUE(Saw("ADDED after"));
  std::lock_guard<std::mutex> l(mu_);
  EXPECT_EQ(std::count(seen_.begin(), seen_.end(), "ADDED deep"), 0);
}

TEST_F(WatcherTest, ResumesADroppedWatchWithoutListingAgain) {
  watcher_->Start();
  ASSERT_TRUE(watcher_->WaitSynced(std::chrono::seconds(5)));
  Create("before");
  ASSERT_TRUE(Saw("ADDED before"));
  cluster_->DropWatches();
  Create("after");
  EXPECT_TRUE(Saw("ADDED after"));
  EXPECT_EQ(watcher_->lists(), 1);
  EXPECT_GE(watcher_->watches(), 2);
  std::lock_guard<std::mutex> l(mu_);
  EXPECT_EQ(std::count(seen_.begin(), seen_.end(), "ADDED before"), 1);  // not twice
}

TEST_F(WatcherTest, ListsAgainAfterGoneAndReportsWhatVanished) {
  Create("kept");
  Create("removed");
  watcher_->Start();
  ASSERT_TRUE(watcher_->WaitSynced(std::chrono::seconds(5)));
  ASSERT_TRUE(Saw("ADDED removed"));
  // The watcher cannot reach the server while more changes happen than the
  // server keeps: its version expires (410), so it lists again.
  cluster_->FailNextCalls(1000000, 503);
  // Dropped until the watcher has tried again: its first watch may still
  // have been on its way to the server at the first drop.
  int watches = watcher_->watches();
  for (int i = 0; i < 500 && watcher_->watches() == watches; ++i) {
    cluster_->DropWatches();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_GT(watcher_->watches(), watches);
  auto& kind = *fake::FindKind("", "configmaps");
  ASSERT_TRUE(cluster_->store().Delete(kind, "default", "removed").ok());
  for (int i = 0; i < 8; ++i) Create("new-" + std::to_string(i));
  cluster_->FailNextCalls(0, 503);
  EXPECT_TRUE(Saw("DELETED removed"));
  EXPECT_TRUE(Saw("ADDED new-7"));
  EXPECT_EQ(watcher_->lists(), 2);
  std::lock_guard<std::mutex> l(mu_);
  // What vanished comes as the object last seen, shared with the handler
  // since: the same one, not a copy.
  EXPECT_EQ(delivered_["DELETED removed"], delivered_["ADDED removed"]);
  EXPECT_EQ(std::count(seen_.begin(), seen_.end(), "ADDED kept"), 1);  // unchanged: not again
}

TEST_F(WatcherTest, StopsPromptlyOnAQuietWatch) {
  watcher_->Start();
  ASSERT_TRUE(watcher_->WaitSynced(std::chrono::seconds(5)));
  auto start = std::chrono::steady_clock::now();
  watcher_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
}

// Lists answered, watches refused (403: a role that may list but not
// watch), each watch's time noted. The transport's progress ticks reach the
// stream before the refusal, as libcurl's do.
class WatchRefusingTransport : public Transport {
 public:
  explicit WatchRefusingTransport(Clock& clock, std::vector<TimePoint>* watches)
      : clock_(clock), watches_(watches) {}
  Result<ApiResponse> Send(const ApiRequest&, const Credential&) override {
    ApiResponse r;
    r.status = 200;
    r.body = R"({"kind": "ConfigMapList", "metadata": {"resourceVersion": "5"}, "items": []})";
    return r;
  }
  Result<ApiResponse> Stream(const ApiRequest&, const Credential&,
                             const std::function<bool(std::string_view)>& on_data,
                             StreamStop*) override {
    {
      std::lock_guard<std::mutex> l(mu_);
      watches_->push_back(clock_.Now());
    }
    on_data(std::string_view());
    ApiResponse r;
    r.status = 403;
    return r;
  }
  std::mutex mu_;

 private:
  Clock& clock_;
  std::vector<TimePoint>* watches_;
};

TEST(WatcherBackoff, RefusedWatchesAreTriedLessAndLessOften) {
  FakeClock clock;  // pauses pass in virtual time
  ClusterAccess access;
  access.server = "in-process";
  std::vector<TimePoint> watches;
  auto transport = std::make_unique<WatchRefusingTransport>(clock, &watches);
  std::mutex& mu = transport->mu_;
  ApiClient client(std::move(transport), std::make_shared<Credentials>(access, clock), clock,
                   RetryPolicy{});
  Watcher watcher(
      client, WatchOptions{"/api/v1/namespaces/default/configmaps", "", "", 30},
      [](const std::string&, const Watcher::Object&) {}, clock);
  watcher.Start();
  auto count = [&] {
    std::lock_guard<std::mutex> l(mu);
    return watches.size();
  };
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (count() < 9 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  watcher.Stop();
  ASSERT_GE(count(), 9u);
  // 1, 2, 4, 8, 16 s between tries, then 30 s.
  std::vector<int64_t> gaps;
  for (size_t i = 1; i < 9; ++i)
    gaps.push_back(
        std::chrono::duration_cast<std::chrono::seconds>(watches[i] - watches[i - 1]).count());
  EXPECT_EQ(gaps, (std::vector<int64_t>{1, 2, 4, 8, 16, 30, 30, 30}));
  EXPECT_EQ(watcher.lists(), 1);
}

}  // namespace
}  // namespace portflow::k8s
