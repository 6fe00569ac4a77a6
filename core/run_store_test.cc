#include "core/run_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

namespace portflow {
namespace {

std::string TempDir() {
  std::string dir = ::testing::TempDir() + "run_store_" +
                    ::testing::UnitTest::GetInstance()->current_test_info()->name() + "_" +
                    std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  return dir;
}

TEST(RunStore, RoundTripsRunsInstancesAttemptsEvents) {
  auto store = RunStore::Open(TempDir());
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  RunStore& s = **store;
  RunRecord run{"r1", "w", "w.yaml", "/d", "[]", "laptop", "Running", "", "/d/r1", 100, 0, 42};
  ASSERT_TRUE(s.CreateRun(run).ok());
  EXPECT_EQ(s.CreateRun(run).code(), StatusCode::kAlreadyExists);
  run.state = "Succeeded";
  run.finished_ms = 200;
  ASSERT_TRUE(s.UpdateRun(run).ok());
  auto got = s.GetRun("r1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->state, "Succeeded");
  EXPECT_EQ(got->finished_ms, 200);
  EXPECT_EQ(got->engine_pid, 42);
  EXPECT_EQ(s.GetRun("nope").status().code(), StatusCode::kNotFound);

  ASSERT_TRUE(s.PutInstance({"r1", "a", "a", "Running", 1, "", 1}).ok());
  ASSERT_TRUE(s.PutInstance({"r1", "a", "a", "Succeeded", 2, "done", 7}).ok());
  auto inst = s.ListInstances("r1");
  ASSERT_TRUE(inst.ok());
  ASSERT_EQ(inst->size(), 1u);
  // The upsert keeps every field of the newer record.
  EXPECT_EQ((*inst)[0].state, "Succeeded");
  EXPECT_EQ((*inst)[0].attempts, 2);
  EXPECT_EQ((*inst)[0].message, "done");
  EXPECT_EQ((*inst)[0].updated_ms, 7);

  AttemptRecord a;
  a.run_id = "r1";
  a.instance = "a";
  a.attempt = 1;
  a.state = "Failed";
  a.exit_code = 3;
  a.handle = "{\"pids\":[1]}";
  ASSERT_TRUE(s.PutAttempt(a).ok());
  auto attempts = s.ListAttempts("r1");
  ASSERT_TRUE(attempts.ok());
  ASSERT_EQ(attempts->size(), 1u);
  EXPECT_EQ((*attempts)[0].exit_code, 3);
  EXPECT_EQ((*attempts)[0].handle, a.handle);

  ASSERT_TRUE(s.AddEvent({0, "r1", 5, "a", 1, "Failed", "x"}).ok());
  ASSERT_TRUE(s.AddEvent({0, "r1", 6, "a", 2, "Succeeded", ""}).ok());
  auto events = s.ListEvents("r1");
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 2u);
  auto later = s.ListEvents("r1", (*events)[0].seq);
  ASSERT_EQ(later->size(), 1u);
  EXPECT_EQ((*later)[0].type, "Succeeded");
}

TEST(RunStore, TwoConnectionsSeeEachOther) {
  std::string dir = TempDir();
  auto writer = RunStore::Open(dir);
  auto reader = RunStore::Open(dir);
  ASSERT_TRUE(writer.ok() && reader.ok());
  ASSERT_TRUE((*writer)->CreateRun({"r", "w", "f", "d", "[]", "t", "Running"}).ok());
  std::thread t([&] {
    for (int i = 0; i < 200; ++i) {
      ASSERT_TRUE((*writer)->AddEvent({0, "r", i, "x", 1, "E", ""}).ok());
    }
  });
  ASSERT_TRUE((*reader)->RequestCancel("r").ok());
  t.join();
  EXPECT_TRUE((*writer)->GetRun("r")->cancel_requested);
  EXPECT_EQ((*reader)->ListEvents("r")->size(), 200u);
}

TEST(RunStore, UnwritableDirectoryIsAnError) {
  auto store = RunStore::Open("/proc/portflow-cannot-exist");
  EXPECT_FALSE(store.ok());
}

}  // namespace
}  // namespace portflow
