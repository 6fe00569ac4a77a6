#include "core/run_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <thread>
#include <vector>

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

// A store written before runs had an outputs column gets one, and its runs
// read back with none.
TEST(RunStore, AnOlderStoreGetsTheNewColumns) {
  std::string dir = TempDir();
  std::filesystem::create_directories(dir);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir + "/state.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "CREATE TABLE runs (id TEXT PRIMARY KEY, workload TEXT, workload_file "
                         "TEXT, workload_dir TEXT, params TEXT, target TEXT, state TEXT, message "
                         "TEXT, run_dir TEXT, created_ms INTEGER, finished_ms INTEGER, engine_pid "
                         "INTEGER, keep_going INTEGER, strict INTEGER, cancel_requested INTEGER "
                         "DEFAULT 0); INSERT INTO runs (id, state) VALUES ('old', 'Succeeded');"
                         "CREATE TABLE attempts (run_id TEXT, instance TEXT, attempt INTEGER, "
                         "state TEXT, backend TEXT, handle TEXT, replicas INTEGER, started_ms "
                         "INTEGER, finished_ms INTEGER, exit_code INTEGER, signal INTEGER, reason "
                         "TEXT, message TEXT, PRIMARY KEY (run_id, instance, attempt));"
                         "INSERT INTO attempts (run_id, instance, attempt, state) VALUES "
                         "('old', 'a', 1, 'Succeeded');",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto store = RunStore::Open(dir);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto old = (*store)->GetRun("old");
  ASSERT_TRUE(old.ok()) << old.status().ToString();
  EXPECT_EQ(old->outputs, "");
  RunRecord run{"new", "w", "w.yaml", "/d", "[]", "laptop", "Running", "", "/d/new", 1, 0, 1};
  run.outputs = R"({"root":"/d/new/outputs"})";
  ASSERT_TRUE((*store)->CreateRun(run).ok());
  EXPECT_EQ((*store)->GetRun("new")->outputs, run.outputs);
  // Attempts get their cost and member (a hybrid target's), "" for the old.
  auto attempts = (*store)->ListAttempts("old");
  ASSERT_TRUE(attempts.ok()) << attempts.status().ToString();
  ASSERT_EQ(attempts->size(), 1u);
  EXPECT_EQ((*attempts)[0].member, "");
  AttemptRecord placed{"new", "a", 1, "Running", "hybrid", "", 1, 1, 0, 0, 0, "", "", ""};
  placed.member = "onprem";
  ASSERT_TRUE((*store)->PutAttempt(placed).ok());
  EXPECT_EQ((*store)->ListAttempts("new")->at(0).member, "onprem");
  EXPECT_TRUE(RunStore::Open(dir).ok());  // and opens again once it has them
}

// Several portflows creating one store at once all open it (the first
// setup of a store can find it locked, past the busy timeout).
TEST(RunStore, ManyOpenANewStoreAtOnce) {
  for (int round = 0; round < 10; ++round) {
    std::string dir = TempDir() + "_" + std::to_string(round);
    std::vector<pid_t> children;
    for (int i = 0; i < 8; ++i) {
      pid_t pid = ::fork();
      if (pid == 0) _exit(RunStore::Open(dir).ok() ? 0 : 1);  // a portflow of its own
      children.push_back(pid);
    }
    int failed = 0;
    for (pid_t pid : children) {
      int status = 0;
      ::waitpid(pid, &status, 0);
      failed += !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    }
    EXPECT_EQ(failed, 0) << "round " << round;
    std::filesystem::remove_all(dir);
  }
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

// Keep marks what a transaction holds so far: Abandon commits that and
// rolls back only what came after the last Keep; a Commit commits all.
TEST(RunStore, AbandonKeepsWhatKeepKept) {
  std::string dir = TempDir();
  auto store = RunStore::Open(dir);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  RunStore& s = **store;
  auto events = [&] {
    auto other = RunStore::Open(dir);
    auto listed = (*other)->ListEvents("r1");  // kept: the loop reads it
    std::vector<std::string> out;
    for (const EventRecord& e : *listed) out.push_back(e.type);
    return out;
  };
  ASSERT_TRUE(s.Begin().ok());
  EXPECT_FALSE(s.Dirty());
  ASSERT_TRUE(s.AddEvent({0, "r1", 1, "a", 1, "one", ""}).ok());
  EXPECT_TRUE(s.Dirty());
  ASSERT_TRUE(s.Keep().ok());
  ASSERT_TRUE(s.AddEvent({0, "r1", 2, "a", 1, "two", ""}).ok());
  ASSERT_TRUE(s.Keep().ok());  // a later Keep keeps more
  ASSERT_TRUE(s.AddEvent({0, "r1", 3, "a", 1, "three", ""}).ok());
  s.Abandon();
  EXPECT_EQ(events(), (std::vector<std::string>{"one", "two"}));
  ASSERT_TRUE(s.Begin().ok());
  ASSERT_TRUE(s.AddEvent({0, "r1", 4, "a", 1, "four", ""}).ok());
  ASSERT_TRUE(s.Keep().ok());
  ASSERT_TRUE(s.AddEvent({0, "r1", 5, "a", 1, "five", ""}).ok());
  ASSERT_TRUE(s.Commit().ok());
  EXPECT_FALSE(s.Dirty());
  s.Abandon();  // nothing open: nothing happens
  EXPECT_EQ(events(), (std::vector<std::string>{"one", "two", "four", "five"}));
  ASSERT_TRUE(s.Begin().ok());
  ASSERT_TRUE(s.AddEvent({0, "r1", 6, "a", 1, "six", ""}).ok());
  s.Abandon();  // nothing kept: all rolled back
  EXPECT_EQ(events().size(), 4u);
  EXPECT_FALSE(s.Keep().ok());  // no transaction
}

TEST(RunStore, UnwritableDirectoryIsAnError) {
  auto store = RunStore::Open("/proc/portflow-cannot-exist");
  EXPECT_FALSE(store.ok());
}

}  // namespace
}  // namespace portflow
