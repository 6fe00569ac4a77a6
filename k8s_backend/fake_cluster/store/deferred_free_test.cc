#include "k8s_backend/fake_cluster/store/deferred_free.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>
#include <vector>

#include "k8s_backend/fake_cluster/store/object_store.h"

namespace portflow::fake {
namespace {

// Says which thread freed it, and can make that thread wait.
struct Tracked {
  std::atomic<int>* freed = nullptr;
  std::thread::id* freed_on = nullptr;
  std::shared_future<void> hold;  // the destructor waits for it when valid
  std::promise<void>* started = nullptr;
  ~Tracked() {
    if (started) started->set_value();
    // Bounded: under a bug that frees on the test's own thread, the test
    // fails rather than waits for ever.
    if (hold.valid()) hold.wait_for(std::chrono::seconds(10));
    if (freed_on) *freed_on = std::this_thread::get_id();
    ++*freed;
  }
};

std::shared_ptr<Tracked> Make(std::atomic<int>* freed, std::thread::id* freed_on = nullptr,
                              std::shared_future<void> hold = {},
                              std::promise<void>* started = nullptr) {
  auto t = std::make_shared<Tracked>();
  t->freed = freed;
  t->freed_on = freed_on;
  t->hold = std::move(hold);
  t->started = started;
  return t;
}

TEST(DeferredFree, AFullBatchIsFreedOffTheCallersThread) {
  std::atomic<int> freed = 0;
  std::vector<std::thread::id> on(4);
  DeferredFree later(/*batch=*/4);
  for (int i = 0; i < 4; ++i) {
    later.Drop(Make(&freed, &on[i]));
  }
  later.Flush();
  EXPECT_EQ(freed, 4);
  for (const auto& id : on) EXPECT_NE(id, std::this_thread::get_id());
}

TEST(DeferredFree, APartBatchWaitsForFlushOrTheEnd) {
  std::atomic<int> freed = 0;
  {
    DeferredFree later(/*batch=*/100);
    for (int i = 0; i < 3; ++i) later.Drop(Make(&freed));
    EXPECT_EQ(freed, 0);  // held until the batch fills
    later.Flush();
    EXPECT_EQ(freed, 3);
    for (int i = 0; i < 10; ++i) later.Drop(Make(&freed));
  }
  EXPECT_EQ(freed, 13);  // the destructor frees what waits, handed over or not
}

TEST(DeferredFree, DroppingAnObjectStillHeldElsewhereDoesNotFreeIt) {
  std::atomic<int> freed = 0;
  auto kept = Make(&freed);
  DeferredFree later(/*batch=*/1);
  later.Drop(kept);
  later.Drop(nullptr);  // ignored
  later.Flush();
  EXPECT_EQ(freed, 0);
  kept.reset();
  EXPECT_EQ(freed, 1);
}

// With the thread busy and its queue full, the caller frees its own batch:
// what waits stays bounded.
TEST(DeferredFree, ACallerFreesItsBatchWhenTheThreadIsBehind) {
  std::atomic<int> freed = 0;
  std::promise<void> release, started;
  std::thread::id first_on, second_on, third_on;
  DeferredFree later(/*batch=*/1, /*max_pending=*/1);
  later.Drop(Make(&freed, &first_on, release.get_future().share(), &started));
  // The thread is inside the first batch.
  ASSERT_EQ(started.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
  ASSERT_NE(first_on, std::this_thread::get_id());
  later.Drop(Make(&freed, &second_on));  // queued
  later.Drop(Make(&freed, &third_on));   // queue full
  EXPECT_EQ(freed, 1);
  EXPECT_EQ(third_on, std::this_thread::get_id());
  release.set_value();
  later.Flush();
  EXPECT_EQ(freed, 3);
  EXPECT_NE(first_on, std::this_thread::get_id());
  EXPECT_NE(second_on, std::this_thread::get_id());
}

// Versions that leave the store's history are freed off its thread, in
// batches: until a batch fills they are kept; FreeDropped frees them;
// those still in the history are never freed.
TEST(DeferredFree, VersionsLeavingTheStoresHistoryAreFreedLater) {
  FakeClock clock;
  ObjectStore store(clock, /*history=*/4);
  const ResourceKind& config_maps = *FindKind("", "configmaps");
  std::vector<std::weak_ptr<const json>> versions;
  {
    auto made = store.Create(config_maps, "ml", {{"metadata", {{"name", "c"}}}, {"data", {}}});
    ASSERT_TRUE(made.ok()) << made.status().ToString();
    versions.push_back(*made);
  }
  for (int i = 0; i < 5000; ++i) {
    json next = *store.Peek(config_maps, "ml", "c");
    next["data"]["i"] = std::to_string(i);
    auto stored = store.Update(config_maps, "ml", std::move(next));
    ASSERT_TRUE(stored.ok()) << stored.status().ToString();
    versions.push_back(*stored);
  }
  auto alive = [&] {
    size_t n = 0;
    for (const auto& v : versions) n += !v.expired();
    return n;
  };
  // 4,997 changes left the history, dropping 9,993 pointers (the create
  // had no previous version): 777 wait in the part batch (1,024 a batch),
  // about 389 versions.
  EXPECT_GT(alive(), 300u);
  store.FreeDropped();
  // Left: the four changes in the history, their objects and previous ones.
  EXPECT_EQ(alive(), 5u);
  for (size_t i = versions.size() - 5; i < versions.size(); ++i)
    EXPECT_FALSE(versions[i].expired()) << i;
}

}  // namespace
}  // namespace portflow::fake
