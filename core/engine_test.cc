#include "core/engine.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <future>
#include <set>
#include <stdexcept>
#include <thread>

#include "core/spec_loader.h"
#include "core/testing/fake_backend.h"

namespace portflow {
namespace {

using ::testing::ElementsAre;
using testing::FakeBackend;
using testing::Outcome;

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ResetCancelRequests();
    dir_ = ::testing::TempDir() + "engine_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name() + "_" +
           std::to_string(::getpid());
    std::filesystem::remove_all(dir_);
    store_ = std::move(RunStore::Open(dir_).value());
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  void Load(const std::string& steps) {
    std::string text =
        "apiVersion: portflow.dev/v1\nkind: Workload\nmetadata: {name: e}\nspec:\n  steps:\n" +
        steps;
    LoadResult r = ParseWorkload(text, "e.yaml", "/src");
    ASSERT_TRUE(r.ok()) << r.diagnostics.ToString();
    plan_ = std::move(*Plan::Build(std::move(*r.workload)));
  }

  std::string RunIt(EngineOptions opts = {}, const std::string& id = "run1") {
    RunRecord run{id, "e", "e.yaml", "/src", "[]", "t", "Running", "", dir_ + "/runs/" + id,
                  1,  0,   1};
    if (!store_->GetRun(id).ok()) {
      EXPECT_TRUE(store_->CreateRun(run).ok());
    }
    Engine engine(*plan_, backend_, *store_, clock_, opts);
    auto state = engine.Run(run);
    EXPECT_TRUE(state.ok()) << state.status().ToString();
    return state.ok() ? *state : "";
  }

  static std::string ReadAll(const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  std::vector<std::string> Submitted() {
    std::vector<std::string> out;
    for (const TaskSpec& t : backend_.submitted())
      out.push_back(t.instance + "#" + std::to_string(t.attempt));
    return out;
  }

  // The run of a test that drives its own Engine.
  RunRecord Run1() const {
    return {"run1", "e", "e.yaml", "/src", "[]", "t", "Running", "", dir_ + "/runs/run1", 1, 0, 1};
  }

  // Reads `other` (a connection of another process's) until run1's first
  // instance is in `state` or `within` has passed; the last state seen.
  static std::string AwaitState(RunStore& other, const std::string& state, Duration within) {
    std::string seen;
    auto deadline = std::chrono::steady_clock::now() + within;
    while (seen != state && std::chrono::steady_clock::now() < deadline) {
      auto instances = other.ListInstances("run1");
      if (instances.ok() && !instances->empty()) seen = instances->front().state;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return seen;
  }

  std::string InstanceState(const std::string& name) {
    auto instances = store_->ListInstances("run1");
    for (const auto& i : *instances) {
      if (i.name == name) return i.state;
    }
    return "";
  }

  std::string dir_;
  FakeClock clock_;
  FakeBackend backend_{clock_};
  std::unique_ptr<RunStore> store_;
  std::optional<Plan> plan_;
};

TEST_F(EngineTest, RunsTheDagInOrder) {
  Load(
      "    - {name: a, command: [x]}\n    - {name: b, needs: [a], command: [x]}\n"
      "    - {name: c, needs: [a], command: [x]}\n    - {name: d, needs: [b, c], command: [x]}\n");
  EXPECT_EQ(RunIt(), "Succeeded");
  auto s = Submitted();
  ASSERT_EQ(s.size(), 4u);
  EXPECT_EQ(s.front(), "a#1");
  EXPECT_EQ(s.back(), "d#1");
  EXPECT_EQ(InstanceState("d"), "Succeeded");
}

TEST_F(EngineTest, AdmitsOnlyWhatFitsTheCapacity) {
  // Capacity 2 cpu; each step asks 1 cpu by default and runs 10 virtual seconds.
  std::string steps;
  for (int i = 0; i < 6; ++i) {
    steps += "    - {name: s" + std::to_string(i) + ", command: [x]}\n";
    backend_.Script("s" + std::to_string(i),
                    {Outcome{TaskState::kSucceeded, 0, std::chrono::seconds(10)}});
  }
  Load(steps);
  TimePoint start = clock_.Now();
  EXPECT_EQ(RunIt(), "Succeeded");
  EXPECT_EQ(backend_.max_parallel(), 2);
  EXPECT_GE(clock_.Now() - start, std::chrono::seconds(30));
  EXPECT_LT(clock_.Now() - start, std::chrono::seconds(31));
}

// A wait the backend names (a cloud's Budget) is said on the waiting
// instance and in its events; a plain wait for room is not.
TEST_F(EngineTest, AWaitTheBackendNamesIsSaid) {
  std::string steps;
  for (int i = 0; i < 3; ++i) {
    steps += "    - {name: s" + std::to_string(i) + ", command: [x]}\n";
    backend_.Script("s" + std::to_string(i),
                    {Outcome{TaskState::kSucceeded, 0, std::chrono::seconds(10)}});
  }
  Load(steps);
  backend_.HoldReason("Budget");
  EXPECT_EQ(RunIt(), "Succeeded");
  std::vector<std::string> waits;
  auto events = store_->ListEvents("run1");
  ASSERT_TRUE(events.ok());
  for (const EventRecord& e : *events)
    if (e.type == "Waiting") waits.push_back(e.instance + " " + e.message);
  ASSERT_EQ(waits.size(), 1u) << "the third waited";
  EXPECT_THAT(waits[0], ::testing::StartsWith("s2 Budget: "));
}

TEST_F(EngineTest, GangNeedsAllItsReplicasAtOnce) {
  Load("    - {name: g, replicas: 3, command: [x]}\n");
  // 3 replicas x 1 cpu never fit in 2 cpus: preflight says so before anything starts.
  std::vector<std::string> warnings;
  Status s = Preflight(*plan_, backend_, {"r", "/r", "/r/o"}, false, &warnings);
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_THAT(s.message(), ::testing::HasSubstr("step \"g\" needs cpu=3"));
}

TEST_F(EngineTest, SmallTasksDoNotStarveAGang) {
  // 2 cpus. The gang (2 x 1 cpu) is ready before the small tasks: it runs as
  // soon as `a` frees a cpu, not after every small task.
  std::string steps = "    - {name: a, command: [x]}\n    - {name: g, replicas: 2, command: [x]}\n";
  for (int i = 0; i < 4; ++i) steps += "    - {name: s" + std::to_string(i) + ", command: [x]}\n";
  Load(steps);
  for (const char* n : {"a", "g", "s0", "s1", "s2", "s3"}) {
    backend_.Script(n, {Outcome{TaskState::kSucceeded, 0, std::chrono::seconds(10)}});
  }
  EXPECT_EQ(RunIt(), "Succeeded");
  auto s = Submitted();
  ASSERT_EQ(s.size(), 6u);
  EXPECT_EQ(s[0], "a#1");
  EXPECT_EQ(s[1], "g#1");
}

TEST_F(EngineTest, RetriesWithDoublingBackoffInVirtualTime) {
  Load("    - {name: a, retries: {limit: 3, backoff: 10s}, command: [x]}\n");
  Outcome fail{TaskState::kFailed, 1};
  backend_.Script("a", {fail, fail, fail, Outcome{}});
  TimePoint start = clock_.Now();
  EXPECT_EQ(RunIt(), "Succeeded");
  EXPECT_THAT(Submitted(), ElementsAre("a#1", "a#2", "a#3", "a#4"));
  // 10s + 20s + 40s of backoff.
  EXPECT_GE(clock_.Now() - start, std::chrono::seconds(70));
  EXPECT_LT(clock_.Now() - start, std::chrono::seconds(71));
  auto attempts = *store_->ListAttempts("run1");
  ASSERT_EQ(attempts.size(), 4u);
  EXPECT_EQ(attempts[0].state, "Failed");
  EXPECT_EQ(attempts[0].exit_code, 1);
  EXPECT_EQ(attempts[3].state, "Succeeded");
  // What `portflow status` shows: the instance ran four attempts.
  auto instances = *store_->ListInstances("run1");
  ASSERT_EQ(instances.size(), 1u);
  EXPECT_EQ(instances[0].attempts, 4);
}

// A retry whose backoff is over but that cannot start yet (a holds the
// room) waits for the room without spinning: time moves on to a's end.
TEST_F(EngineTest, ARetryHeldForRoomAfterItsBackoffWaitsForIt) {
  Load(
      "    - {name: b, resources: {cpu: 2}, retries: {limit: 1, backoff: 1s}, command: [x]}\n"
      "    - {name: a, resources: {cpu: 2}, command: [x]}\n");
  backend_.Script("b", {Outcome{TaskState::kFailed, 1}, Outcome{}});
  backend_.Script("a", {Outcome{TaskState::kSucceeded, 0, std::chrono::minutes(10)}});
  TimePoint start = clock_.Now();
  EXPECT_EQ(RunIt(), "Succeeded");
  EXPECT_THAT(Submitted(), ElementsAre("b#1", "a#1", "b#2"));
  auto attempts = *store_->ListAttempts("run1");
  ASSERT_EQ(attempts.size(), 3u);
  for (const AttemptRecord& r : attempts) {
    if (r.instance == "b" && r.attempt == 2) {
      EXPECT_GE(r.started_ms - ToUnixMillis(start), 10 * 60 * 1000) << "after a, not before";
    }
  }
}

// A long queue of alike instances costs one placement question a pass,
// not one per instance: 100 wait while a runs for 10 minutes (a pass each
// virtual second), and the backend is asked about 600 times, not 60,000.
TEST_F(EngineTest, AQueueOfAlikeInstancesIsOneQuestionAPass) {
  std::string steps = "    - {name: a, resources: {cpu: 2}, command: [x]}\n";
  for (int i = 0; i < 100; ++i)
    steps += "    - {name: w" + std::to_string(i) + ", resources: {cpu: 2}, command: [x]}\n";
  Load(steps);
  backend_.Script("a", {Outcome{TaskState::kSucceeded, 0, std::chrono::minutes(10)}});
  EngineOptions opts;
  opts.tick = std::chrono::seconds(1);
  EXPECT_EQ(RunIt(opts), "Succeeded");
  EXPECT_LT(backend_.places(), 2000);
  EXPECT_GT(backend_.places(), 500) << "asked each pass";
}

// A backend that notes, as each Submit begins, the attempts the store
// holds as another process (portflow status, or the engine restarted after
// a crash in that Submit) reads them: through a connection of its own.
class WitnessBackend : public FakeBackend {
 public:
  WitnessBackend(FakeClock& clock, std::string dir) : FakeBackend(clock), dir_(std::move(dir)) {}
  std::vector<std::string> seen;

 protected:
  Result<TaskHandle> DoSubmit(const TaskSpec& spec) override {
    auto other = RunStore::Open(dir_);
    if (!other.ok()) return other.status();
    auto attempts = (*other)->ListAttempts(spec.run_id);
    if (!attempts.ok()) return attempts.status();
    for (const AttemptRecord& a : *attempts)
      seen.push_back(a.instance + "/" + std::to_string(a.attempt) + " " + a.state);
    return FakeBackend::DoSubmit(spec);
  }

 private:
  std::string dir_;
};

// A backend that throws from inside a turn, in its second Place (as a bug
// would), with the turn's transaction open.
class ThrowingBackend : public FakeBackend {
 public:
  using FakeBackend::FakeBackend;

 protected:
  Placement DoPlace(const PlacementRequest& request) override {
    if (++places_seen_ == 2) throw std::runtime_error("a bug in Place");
    return FakeBackend::DoPlace(request);
  }

 private:
  int places_seen_ = 0;
};

// An exception out of a turn leaves no transaction open: what the caller
// records next (the run Failed, as `portflow run` does) lands, and another
// connection sees it.
TEST_F(EngineTest, AnExceptionOutOfATurnLeavesNoTransactionOpen) {
  Load("    - {name: a, command: [x]}\n    - {name: b, command: [x]}\n");
  ThrowingBackend backend(clock_);
  RunRecord run = Run1();
  ASSERT_TRUE(store_->CreateRun(run).ok());
  Engine engine(*plan_, backend, *store_, clock_, {});
  EXPECT_THROW((void)engine.Run(run), std::runtime_error);
  run.state = "Failed";
  ASSERT_TRUE(store_->UpdateRun(run).ok());
  auto other = RunStore::Open(dir_);
  ASSERT_TRUE(other.ok());
  auto seen = (*other)->GetRun("run1");
  ASSERT_TRUE(seen.ok());
  EXPECT_EQ(seen->state, "Failed");
}

// A turn's writes are one transaction, but what comes before a Submit is
// committed before it: the attempt about to be submitted is on record.
TEST_F(EngineTest, AnAttemptIsOnRecordBeforeItIsSubmitted) {
  Load("    - {name: a, command: [x]}\n    - {name: b, needs: [a], command: [x]}\n");
  WitnessBackend witness(clock_, dir_);
  RunRecord run = Run1();
  ASSERT_TRUE(store_->CreateRun(run).ok());
  Engine engine(*plan_, witness, *store_, clock_, {});
  auto state = engine.Run(run);
  ASSERT_TRUE(state.ok()) << state.status().ToString();
  EXPECT_EQ(*state, "Succeeded");
  EXPECT_THAT(witness.seen, ElementsAre("a/1 Submitting", "a/1 Succeeded", "b/1 Submitting"));
}

// Sizes that differ do not make it one question each: once the backend
// says nothing at all could start beside what is held back, the rest of
// the queue is not asked about in that pass (here 100 sizes, about 600
// passes: about 1,200 questions, not 60,000).
TEST_F(EngineTest, AQueueThatCannotStartIsNotAskedAboutEachPass) {
  std::string steps = "    - {name: a, resources: {cpu: 2}, command: [x]}\n";
  for (int i = 0; i < 100; ++i)
    steps += "    - {name: w" + std::to_string(i) +
             ", resources: {cpu: " + std::to_string(1001 + i) + "m}, command: [x]}\n";
  Load(steps);
  backend_.Script("a", {Outcome{TaskState::kSucceeded, 0, std::chrono::minutes(10)}});
  EngineOptions opts;
  opts.tick = std::chrono::seconds(1);
  EXPECT_EQ(RunIt(opts), "Succeeded");
  EXPECT_LT(backend_.places(), 5000);
}

TEST_F(EngineTest, APreemptionRunsAgainWithoutUsingARetry) {
  Load("    - {name: a, command: [x]}\n    - {name: b, command: [x]}\n");
  Outcome preempted{TaskState::kFailed, 137};
  preempted.reason = "Preempted";
  backend_.Script("a", {preempted, preempted, preempted, Outcome{}});
  backend_.Script("b", {preempted, preempted, preempted, preempted, Outcome{}});
  EngineOptions keep_going;
  keep_going.keep_going = true;
  EXPECT_EQ(RunIt(keep_going), "Failed");
  EXPECT_EQ(InstanceState("a"), "Succeeded") << "three preemptions, no retries.limit";
  EXPECT_EQ(InstanceState("b"), "Failed") << "the fourth counts as a failure";
  auto attempts = *store_->ListAttempts("run1");
  ASSERT_EQ(attempts.size(), 8u);
  EXPECT_EQ(attempts[0].reason, "Preempted");
  EXPECT_EQ(attempts[0].state, "Failed");
}

TEST_F(EngineTest, GivesUpAfterTheLimitAndSkipsDependents) {
  Load(
      "    - {name: a, retries: {limit: 1, backoff: 1s}, command: [x]}\n"
      "    - {name: b, needs: [a], command: [x]}\n");
  backend_.Script("a", {Outcome{TaskState::kFailed, 2}, Outcome{TaskState::kFailed, 2}});
  EXPECT_EQ(RunIt(), "Failed");
  EXPECT_THAT(Submitted(), ElementsAre("a#1", "a#2"));
  EXPECT_EQ(InstanceState("a"), "Failed");
  EXPECT_EQ(InstanceState("b"), "Skipped");
}

// An attempt that ends inside its own Submit (here: no runtime) opens what
// needs it at once: the turn that saw the end inside Submit is followed by
// another without a wait (the tick is an hour here).
TEST_F(EngineTest, AnEndInsideSubmitStartsWhatNeedsItWithoutAWait) {
  Load(
      "    - {name: a, command: [x]}\n"
      "    - {name: b, needs: [a], command: [x]}\n");
  EngineOptions opts;
  opts.tick = std::chrono::hours(1);
  TimePoint start = clock_.Now();
  EXPECT_EQ(RunIt(opts), "Succeeded");
  EXPECT_THAT(Submitted(), ElementsAre("a#1", "b#1"));
  EXPECT_LT(clock_.Now() - start, std::chrono::seconds(1));
}

// A backend on the real clock whose tasks run `runtime` on a thread of
// their own: they start at Submit and end from that thread, as a local
// process's end comes from its pidfd.
class RealTimeBackend : public Backend {
 public:
  // With `chatter`, a running task says something new that often (a
  // Running event with another reason), as a cluster's pod conditions do.
  explicit RealTimeBackend(Duration runtime, std::optional<Duration> chatter = std::nullopt)
      : runtime_(runtime), chatter_(chatter) {}
  ~RealTimeBackend() override {
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    Join();
  }
  // Waits for the tasks' threads to be gone (an end's Emit may still be
  // waking the engine after Run has returned): before the engine goes.
  void Join() {
    for (std::thread& t : threads_)
      if (t.joinable()) t.join();
  }
  std::atomic<int> ended{0};
  int throw_at_place = 0;  // the Place call (1, 2, ...) that throws, as a bug would
  // Ends every task now, Succeeded.
  void EndNow() {
    {
      std::lock_guard<std::mutex> l(mu_);
      end_now_ = true;
    }
    cv_.notify_all();
  }

  std::string name() const override { return "realtime"; }
  Capabilities capabilities() const override { return {}; }
  std::string ArtifactRoot(const std::string&, const std::string& dir) const override {
    return dir;
  }
  ResourceRequest Capacity() override { return {4000, 1LL << 30, 0}; }
  // Ends every task at once, Cancelled.
  Status Cancel(const TaskHandle&, bool) override {
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    return OkStatus();
  }
  Result<std::vector<RecoveredTask>> Recover(const std::string&,
                                             const std::vector<TaskHandle>&) override {
    return std::vector<RecoveredTask>{};
  }
  Status Logs(const TaskHandle&, int, bool, const std::function<bool(std::string_view)>&) override {
    return OkStatus();
  }

 protected:
  Result<std::string> DoRender(const TaskSpec& spec) const override { return spec.Key(); }
  Placement DoPlace(const PlacementRequest& request) override {
    if (++places_ == throw_at_place) throw std::runtime_error("a bug in Place");
    return PlaceInSlots(request, Capacity(), {});
  }
  Result<TaskHandle> DoSubmit(const TaskSpec& spec) override {
    std::string key = spec.Key();
    Emit({key, TaskState::kRunning, RealClock().Now(), std::nullopt, "", "started"});
    std::lock_guard<std::mutex> l(mu_);
    threads_.emplace_back([this, key] {
      bool stopped = false;
      auto end = std::chrono::steady_clock::now() + runtime_;
      for (int n = 1; !stopped; ++n) {
        auto until = chatter_ ? std::min(end, std::chrono::steady_clock::now() + *chatter_) : end;
        {
          std::unique_lock<std::mutex> l(mu_);
          stopped = cv_.wait_until(l, until, [this] { return stop_ || end_now_; }) && stop_;
          if (end_now_) break;
        }
        if (stopped || until == end) break;
        Emit({key, TaskState::kRunning, RealClock().Now(), std::nullopt, "Said" + std::to_string(n),
              ""});
      }
      ++ended;
      if (stopped) {
        Emit({key, TaskState::kCancelled, RealClock().Now(),
              ExitResult{143, 15, false, "Cancelled", ""}, "Cancelled", ""});
      } else {
        Emit({key, TaskState::kSucceeded, RealClock().Now(),
              ExitResult{0, 0, false, "Completed", ""}, "Completed", ""});
      }
    });
    return TaskHandle{name(), key, ""};
  }

 private:
  Duration runtime_;
  std::optional<Duration> chatter_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool end_now_ = false;
  int places_ = 0;
  std::vector<std::thread> threads_;
};

// Group commit: on the real clock, a start's writes (Pending, Running)
// wait uncommitted for what comes within commit_delay, here the task's own
// end, and land with the next start's intent: a chain of short tasks costs
// about one commit a task, not two.
TEST_F(EngineTest, AChainOfShortTasksIsAboutOneCommitATask) {
  std::string steps = "    - {name: s0, command: [x]}\n";
  for (int i = 1; i < 20; ++i)
    steps += "    - {name: s" + std::to_string(i) + ", needs: [s" + std::to_string(i - 1) +
             "], command: [x]}\n";
  Load(steps);
  RealTimeBackend backend(Duration::zero());
  RunRecord run = Run1();
  ASSERT_TRUE(store_->CreateRun(run).ok());
  EngineOptions opts;
  opts.commit_delay = std::chrono::seconds(5);  // the ends come far sooner
  int64_t before = store_->commits();
  Engine engine(*plan_, backend, *store_, RealClock(), opts);
  auto state = engine.Run(run);
  backend.Join();
  ASSERT_TRUE(state.ok()) << state.status().ToString();
  EXPECT_EQ(*state, "Succeeded");
  EXPECT_LE(store_->commits() - before, 20 + 3);  // 41 without: two a task and Restore's
  EXPECT_EQ(InstanceState("s19"), "Succeeded");
}

// Writes held open for the next turn are the last turn's, whole: when the
// next turn fails (a bug throws out of Place), its own writes go and the
// held ones land. Here a's Running, held while a ran, stays; the next
// turn's a Succeeded, made in the turn that threw, does not.
TEST_F(EngineTest, ATurnThatFailsKeepsTheWritesHeldBeforeIt) {
  Load("    - {name: a, command: [x]}\n    - {name: b, needs: [a], command: [x]}\n");
  RealTimeBackend backend(std::chrono::seconds(1));
  backend.throw_at_place = 2;  // b's
  RunRecord run = Run1();
  ASSERT_TRUE(store_->CreateRun(run).ok());
  EngineOptions opts;
  opts.commit_delay = std::chrono::seconds(5);  // a's end comes within it
  {
    Engine engine(*plan_, backend, *store_, RealClock(), opts);
    EXPECT_THROW((void)engine.Run(run), std::runtime_error);
    backend.Join();
  }
  auto other = RunStore::Open(dir_);
  ASSERT_TRUE(other.ok());
  auto attempts = (*other)->ListAttempts("run1");
  ASSERT_TRUE(attempts.ok());
  ASSERT_EQ(attempts->size(), 1u);
  EXPECT_EQ(attempts->front().state, "Running");
}

// A timer due while writes are held is not put off: the wait for the held
// writes ends at it and its turn comes then (a timeout here; with no other
// wake-up, one put off would wait for the next tick, an hour).
TEST_F(EngineTest, ATimerDueWhileWritesAreHeldIsHandledAtIt) {
  Load("    - {name: a, timeout: 100ms, command: [x]}\n");
  RealTimeBackend backend(std::chrono::seconds(30));
  RunRecord run = Run1();
  ASSERT_TRUE(store_->CreateRun(run).ok());
  EngineOptions opts;
  opts.commit_delay = std::chrono::seconds(5);
  opts.tick = std::chrono::hours(1);
  Engine engine(*plan_, backend, *store_, RealClock(), opts);
  std::promise<std::string> result;
  std::thread runner([&] {
    auto state = engine.Run(run);
    result.set_value(state.ok() ? *state : state.status().ToString());
  });
  auto ended = result.get_future();
  bool in_time = ended.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
  if (!in_time) backend.EndNow();  // so that the test ends
  runner.join();
  backend.Join();
  EXPECT_TRUE(in_time) << "the timeout was put off";
  EXPECT_EQ(ended.get(), "Failed");
  auto attempts = store_->ListAttempts("run1");
  ASSERT_TRUE(attempts.ok());
  ASSERT_EQ(attempts->size(), 1u);
  EXPECT_EQ(attempts->front().reason, "Timeout");
}

// Only writes are held: once a start's writes are committed, the turns that
// only wake (each tick) write nothing and hold nothing, so another
// process's write (`portflow cancel`) goes through at once, not after a
// commit_delay of each idle turn.
TEST_F(EngineTest, IdleTurnsHoldNoWriteLock) {
  Load("    - {name: a, command: [x]}\n");
  RealTimeBackend backend(std::chrono::seconds(30));
  RunRecord run = Run1();
  ASSERT_TRUE(store_->CreateRun(run).ok());
  EngineOptions opts;
  opts.commit_delay = std::chrono::seconds(3);
  opts.tick = std::chrono::milliseconds(10);  // idle turns, often
  auto other = RunStore::Open(dir_);
  ASSERT_TRUE(other.ok());
  Engine engine(*plan_, backend, *store_, RealClock(), opts);
  std::thread runner([&] { (void)engine.Run(run); });
  // The start's writes, committed once the delay passed.
  EXPECT_EQ(AwaitState(**other, "Running", std::chrono::seconds(10)), "Running");
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // idle turns
  auto start = std::chrono::steady_clock::now();
  Status cancelled = (*other)->RequestCancel("run1");  // as `portflow cancel` writes
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(cancelled.ok()) << cancelled.ToString();
  EXPECT_LT(took, std::chrono::seconds(1)) << "the write waited for a held lock";
  runner.join();  // the engine sees the cancel, and the backend ends the task
  backend.Join();
}

// What waits uncommitted waits commit_delay at most: a task that runs on
// is seen Running from another connection long before it ends.
TEST_F(EngineTest, HeldWritesReachOtherReadersWithinTheCommitDelay) {
  Load("    - {name: a, command: [x]}\n");
  RealTimeBackend backend(std::chrono::seconds(30));
  RunRecord run = Run1();
  ASSERT_TRUE(store_->CreateRun(run).ok());
  EngineOptions opts;
  opts.commit_delay = std::chrono::milliseconds(50);
  opts.tick = std::chrono::hours(1);  // no other wake-up
  auto other = RunStore::Open(dir_);
  ASSERT_TRUE(other.ok());
  Engine engine(*plan_, backend, *store_, RealClock(), opts);
  std::thread runner([&] { (void)engine.Run(run); });
  EXPECT_EQ(AwaitState(**other, "Running", std::chrono::seconds(5)), "Running");
  EXPECT_EQ(backend.ended.load(), 0);  // seen while it ran, not at its end
  backend.EndNow();
  runner.join();
  backend.Join();
}

// Nor do events that keep coming within the delay hold the writes longer:
// a task that says something new every 5 ms is seen saying new things
// while it runs, not only its last word at its end.
TEST_F(EngineTest, AStreamOfEventsDoesNotHoldWritesPastTheCommitDelay) {
  Load("    - {name: a, command: [x]}\n");
  RealTimeBackend backend(std::chrono::seconds(30), std::chrono::milliseconds(5));
  RunRecord run = Run1();
  ASSERT_TRUE(store_->CreateRun(run).ok());
  EngineOptions opts;
  opts.commit_delay = std::chrono::milliseconds(50);
  opts.tick = std::chrono::hours(1);
  auto other = RunStore::Open(dir_);
  ASSERT_TRUE(other.ok());
  Engine engine(*plan_, backend, *store_, RealClock(), opts);
  std::thread runner([&] { (void)engine.Run(run); });
  std::set<std::string> said;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (said.size() < 3 && std::chrono::steady_clock::now() < deadline) {
    auto instances = (*other)->ListInstances("run1");
    if (instances.ok() && !instances->empty() && instances->front().state == "Running")
      said.insert(instances->front().message);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GE(said.size(), 3u);
  EXPECT_EQ(backend.ended.load(), 0);
  RequestCancel();
  runner.join();
  backend.Join();
}

TEST_F(EngineTest, TimeoutStopsGracefullyThenForces) {
  Load("    - {name: a, timeout: 5s, command: [x]}\n");
  backend_.Script("a", {Outcome{TaskState::kSucceeded, 0, {}, /*hang=*/true}});
  EXPECT_EQ(RunIt(), "Failed");
  EXPECT_THAT(backend_.cancelled(), ElementsAre("run1/a/1"));
  auto attempts = *store_->ListAttempts("run1");
  EXPECT_EQ(attempts[0].reason, "Timeout");
  EXPECT_EQ(attempts[0].state, "Failed");
}

TEST_F(EngineTest, ATimedOutTaskThatIgnoresSigtermIsKilledAfterTheGrace) {
  Load("    - {name: a, timeout: 5s, command: [x]}\n");
  Outcome stubborn{TaskState::kSucceeded, 0, {}, /*hang=*/true};
  stubborn.ignores_sigterm = true;
  backend_.Script("a", {stubborn});
  EngineOptions opts;
  opts.kill_grace = std::chrono::seconds(7);
  opts.tick = std::chrono::hours(1);  // it wakes for its timers, not its tick
  TimePoint start = clock_.Now();
  EXPECT_EQ(RunIt(opts), "Failed");
  EXPECT_THAT(backend_.cancelled(), ElementsAre("run1/a/1", "run1/a/1 force"));
  // The timeout (5 s), then the grace (7 s), in virtual time.
  EXPECT_GE(clock_.Now() - start, std::chrono::seconds(12));
  EXPECT_LT(clock_.Now() - start, std::chrono::seconds(13));
  auto attempts = *store_->ListAttempts("run1");
  EXPECT_EQ(attempts[0].reason, "Timeout");
}

TEST_F(EngineTest, ACancelledRunKillsWhatIgnoresSigtermAfterTheGrace) {
  Load("    - {name: a, command: [x]}\n");
  Outcome stubborn{TaskState::kSucceeded, 0, {}, /*hang=*/true};
  stubborn.ignores_sigterm = true;
  backend_.Script("a", {stubborn});
  clock_.OnAdvance([](TimePoint) {
    if (CancelRequests() == 0) RequestCancel();
  });
  EXPECT_EQ(RunIt(), "Cancelled");
  EXPECT_THAT(backend_.cancelled(), ElementsAre("run1/a/1", "run1/a/1 force"));
}

// A step that needs a matrix step waits for every instance of it: here the
// second one fails, so the step never starts.
TEST_F(EngineTest, AStepWaitsForEveryInstanceOfAMatrixStepItNeeds) {
  Load(
      "    - {name: m, matrix: {x: [\"1\", \"2\"]}, command: [x]}\n"
      "    - {name: b, needs: [m], command: [x]}\n");
  backend_.Script("m[x=2]", {Outcome{TaskState::kFailed, 1, std::chrono::seconds(10)}});
  EngineOptions opts;
  opts.keep_going = true;
  EXPECT_EQ(RunIt(opts), "Failed");
  EXPECT_THAT(Submitted(), ::testing::UnorderedElementsAre("m[x=1]#1", "m[x=2]#1"));
  EXPECT_EQ(InstanceState("b"), "Skipped");
}

TEST_F(EngineTest, StopsOnFirstFailureUnlessKeepGoing) {
  std::string steps =
      "    - {name: bad, command: [x]}\n    - {name: slow, command: [x]}\n"
      "    - {name: after, needs: [slow], command: [x]}\n";
  Load(steps);
  backend_.Script("bad", {Outcome{TaskState::kFailed, 1}});
  backend_.Script("slow", {Outcome{TaskState::kSucceeded, 0, std::chrono::seconds(60)}});
  EXPECT_EQ(RunIt(), "Failed");
  EXPECT_EQ(InstanceState("slow"), "Cancelled");
  EXPECT_EQ(InstanceState("after"), "Skipped");
}

TEST_F(EngineTest, KeepGoingRunsWhatDoesNotDependOnTheFailure) {
  Load(
      "    - {name: bad, command: [x]}\n    - {name: slow, command: [x]}\n"
      "    - {name: after, needs: [slow], command: [x]}\n    - {name: child, needs: [bad], "
      "command: [x]}\n");
  backend_.Script("bad", {Outcome{TaskState::kFailed, 1}});
  backend_.Script("slow", {Outcome{TaskState::kSucceeded, 0, std::chrono::seconds(60)}});
  EngineOptions opts;
  opts.keep_going = true;
  EXPECT_EQ(RunIt(opts), "Failed");
  EXPECT_EQ(InstanceState("after"), "Succeeded");
  EXPECT_EQ(InstanceState("child"), "Skipped");
}

TEST_F(EngineTest, CancelRequestStopsTheRun) {
  Load("    - {name: a, command: [x]}\n    - {name: b, needs: [a], command: [x]}\n");
  backend_.Script("a", {Outcome{TaskState::kSucceeded, 0, {}, true}});
  clock_.OnAdvance([](TimePoint) {
    if (CancelRequests() == 0) RequestCancel();
  });
  EXPECT_EQ(RunIt(), "Cancelled");
  EXPECT_EQ(InstanceState("a"), "Cancelled");
  EXPECT_EQ(InstanceState("b"), "Cancelled");
}

// `portflow cancel` from another terminal marks the run in the store; a run
// on a virtual clock still looks for that mark (in real time).
TEST_F(EngineTest, ACancelMarkedInTheStoreStopsARunOnAVirtualClock) {
  Load("    - {name: a, command: [x]}\n");
  backend_.Script("a", {Outcome{TaskState::kSucceeded, 0, {}, true}});
  std::unique_ptr<RunStore> other;
  clock_.OnAdvance([&](TimePoint) {
    if (other) return;
    other = std::move(RunStore::Open(dir_).value());
    EXPECT_TRUE(other->RequestCancel("run1").ok());
  });
  EXPECT_EQ(RunIt(), "Cancelled");
  EXPECT_TRUE(other);  // asked while a ran, not before
  EXPECT_THAT(Submitted(), ElementsAre("a#1"));
  EXPECT_EQ(InstanceState("a"), "Cancelled");
}

TEST_F(EngineTest, ResumeDoesNotRerunWhatSucceeded) {
  Load("    - {name: a, command: [x]}\n    - {name: b, needs: [a], command: [x]}\n");
  backend_.Script("b", {Outcome{TaskState::kFailed, 1}});
  EXPECT_EQ(RunIt(), "Failed");
  EXPECT_EQ(RunIt(), "Succeeded");  // the same run again: a is done, b runs attempt 2
  EXPECT_THAT(Submitted(), ElementsAre("a#1", "b#1", "b#2"));
}

TEST_F(EngineTest, InterruptedAttemptsRunAgainWithANewNumber) {
  Load("    - {name: a, command: [x]}\n");
  // A dead engine left attempt 1 without an end.
  ASSERT_TRUE(store_->CreateRun({"run1", "e", "e.yaml", "/src", "[]", "t", "Running"}).ok());
  AttemptRecord open;
  open.run_id = "run1";
  open.instance = "a";
  open.attempt = 1;
  open.state = "Running";
  open.started_ms = 1'700'000'000'000;
  ASSERT_TRUE(store_->PutAttempt(open).ok());
  EXPECT_EQ(RunIt(), "Succeeded");
  EXPECT_THAT(Submitted(), ElementsAre("a#2"));
  auto attempts = *store_->ListAttempts("run1");
  EXPECT_EQ(attempts[0].state, "Cancelled");
  EXPECT_EQ(attempts[0].reason, "Interrupted");
  EXPECT_EQ(attempts[0].started_ms, 1'700'000'000'000) << "its start is kept with its end";
}

// On a composite backend, the member Place chose goes with the task, into
// the attempt's record (with the Submitting row, before Submit) and a
// Placed event; a resumed run hands each open attempt's member to Recover.
TEST_F(EngineTest, ThePlacementsMemberIsRecordedAndResumed) {
  Load("    - {name: a, command: [x]}\n");
  backend_.SetMember("onprem");
  EXPECT_EQ(RunIt(), "Succeeded");
  ASSERT_EQ(backend_.submitted().size(), 1u);
  EXPECT_EQ(backend_.submitted()[0].member, "onprem");
  auto attempts = store_->ListAttempts("run1");
  ASSERT_TRUE(attempts.ok());
  EXPECT_EQ((*attempts)[0].member, "onprem");
  auto events = store_->ListEvents("run1");
  ASSERT_TRUE(events.ok());
  std::string placed;
  for (const EventRecord& e : *events)
    if (e.type == "Placed") placed += e.message;
  EXPECT_THAT(placed, ::testing::StartsWith("onprem: "));

  // A dead engine left an attempt open on member "cloud".
  ASSERT_TRUE(store_->CreateRun({"run2", "e", "e.yaml", "/src", "[]", "t", "Running"}).ok());
  AttemptRecord open;
  open.run_id = "run2";
  open.instance = "a";
  open.attempt = 1;
  open.state = "Running";
  open.member = "cloud";
  ASSERT_TRUE(store_->PutAttempt(open).ok());
  EXPECT_EQ(RunIt({}, "run2"), "Succeeded");
  ASSERT_EQ(backend_.recovered().size(), 1u);
  EXPECT_EQ(backend_.recovered()[0].member, "cloud");
}

// On a plain backend there is no member, and no Placed event.
TEST_F(EngineTest, APlainBackendRecordsNoMember) {
  Load("    - {name: a, command: [x]}\n");
  EXPECT_EQ(RunIt(), "Succeeded");
  EXPECT_EQ((*store_->ListAttempts("run1"))[0].member, "");
  auto events = store_->ListEvents("run1");
  ASSERT_TRUE(events.ok());
  for (const EventRecord& e : *events) EXPECT_NE(e.type, "Placed");
}

TEST_F(EngineTest, SubmitErrorsCountAsFailedAttempts) {
  Load("    - {name: a, retries: {limit: 1, backoff: 1s}, command: [x]}\n");
  Outcome err;
  err.submit_error = true;
  backend_.Script("a", {err, Outcome{}});
  EXPECT_EQ(RunIt(), "Succeeded");
  auto attempts = *store_->ListAttempts("run1");
  ASSERT_EQ(attempts.size(), 2u);
  EXPECT_EQ(attempts[0].reason, "SubmitFailed");
}

// A shortage at Submit (too many open files) while others run is a wait,
// not a failure: the same attempt is submitted again, even with no retries
// allowed. With nothing running, nothing would free what is short: it fails.
TEST_F(EngineTest, ASubmitShortageWaitsForOthersWithoutCountingAnAttempt) {
  Load("    - {name: a, command: [x]}\n    - {name: b, command: [x]}\n");
  Outcome shortage;
  shortage.submit_short = true;
  Outcome slow;
  slow.runtime = std::chrono::seconds(30);
  backend_.Script("a", {slow});
  backend_.Script("b", {shortage, shortage, Outcome{}});
  EXPECT_EQ(RunIt(), "Succeeded");
  EXPECT_THAT(Submitted(), ElementsAre("a#1", "b#1"));
  auto attempts = *store_->ListAttempts("run1");
  ASSERT_EQ(attempts.size(), 2u);
  EXPECT_EQ(attempts[1].instance, "b");
  EXPECT_EQ(attempts[1].attempt, 1);
  EXPECT_EQ(attempts[1].state, "Succeeded");
  EXPECT_FALSE(std::filesystem::exists(LogPath(dir_ + "/runs/run1", "b", 1, 0)))
      << "a shortage is not a failure to note in the log";
}

TEST_F(EngineTest, ASubmitShortageWithNothingRunningFails) {
  Load("    - {name: a, command: [x]}\n");
  Outcome shortage;
  shortage.submit_short = true;
  backend_.Script("a", {shortage, shortage});
  EXPECT_EQ(RunIt(), "Failed");
  auto attempts = *store_->ListAttempts("run1");
  ASSERT_EQ(attempts.size(), 1u);
  EXPECT_EQ(attempts[0].reason, "SubmitFailed");
  EXPECT_THAT(attempts[0].message, ::testing::HasSubstr("scripted shortage"));
}

// Why a submit failed is in the attempt's replica-0 log too.
TEST_F(EngineTest, ASubmitFailureIsWrittenToTheLog) {
  Load("    - {name: a, command: [x]}\n");
  Outcome err;
  err.submit_error = true;
  backend_.Script("a", {err});
  EXPECT_EQ(RunIt(), "Failed");
  EXPECT_EQ(ReadAll(LogPath(dir_ + "/runs/run1", "a", 1, 0)),
            "portflow: scripted submit failure\n");
}

// A command a cluster could not start (StartError) is not retried, as one
// the local backend refuses at Submit is not, and the reason is logged.
TEST_F(EngineTest, AStartErrorIsNotRetried) {
  Load("    - {name: a, retries: {limit: 3, backoff: 1s}, command: [x]}\n");
  Outcome start_error;
  start_error.state = TaskState::kFailed;
  start_error.exit_code = 128;
  start_error.reason = "StartError";
  backend_.Script("a", {start_error, Outcome{}});
  EXPECT_EQ(RunIt(), "Failed");
  EXPECT_THAT(Submitted(), ElementsAre("a#1"));
  EXPECT_EQ(ReadAll(LogPath(dir_ + "/runs/run1", "a", 1, 0)), "portflow: scripted end\n");
}

TEST_F(EngineTest, StrictRefusesUnsupportedFields) {
  std::string text =
      "apiVersion: portflow.dev/v1\nkind: Workload\nmetadata: {name: e}\nspec:\n"
      "  image: python:3\n  steps:\n    - {name: a, command: [x]}\n";
  LoadResult r = ParseWorkload(text, "e.yaml", "/src");
  Plan plan = std::move(*Plan::Build(std::move(*r.workload)));
  std::vector<std::string> warnings;
  EXPECT_TRUE(Preflight(plan, backend_, {"r", "/r", "/r/o"}, false, &warnings).ok());
  EXPECT_EQ(warnings.size(), 1u);
  Status strict = Preflight(plan, backend_, {"r", "/r", "/r/o"}, true, &warnings);
  EXPECT_FALSE(strict.ok());
  EXPECT_THAT(strict.message(),
              ::testing::HasSubstr("the fake backend ignores image (the fake runs "
                                   "nothing); used by: a; --strict refuses it"));
}

// A workload of many steps gets one line a field, naming the first few.
TEST_F(EngineTest, AnUnsupportedFieldNamesItsFirstStepsAndCountsTheRest) {
  auto preflight = [&](int steps, bool strict, std::vector<std::string>* warnings) {
    std::string text =
        "apiVersion: portflow.dev/v1\nkind: Workload\nmetadata: {name: e}\nspec:\n"
        "  image: python:3\n  steps:\n";
    for (int i = 0; i < steps; ++i)
      text += "    - {name: s" + std::to_string(i) + ", command: [x]}\n";
    LoadResult r = ParseWorkload(text, "e.yaml", "/src");
    Plan plan = std::move(*Plan::Build(std::move(*r.workload)));
    return Preflight(plan, backend_, {"r", "/r", "/r/o"}, strict, warnings);
  };
  std::vector<std::string> warnings;
  EXPECT_TRUE(preflight(200, false, &warnings).ok());
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_THAT(warnings[0],
              ::testing::EndsWith("used by: s0, s1, s2, s3, s4, s5, s6, s7 and 192 more steps"));
  EXPECT_THAT(preflight(200, true, nullptr).message(),
              ::testing::HasSubstr("s7 and 192 more steps; --strict refuses it"));
  warnings.clear();
  EXPECT_TRUE(preflight(9, false, &warnings).ok());
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_THAT(warnings[0], ::testing::EndsWith("s7 and 1 more step"));
  warnings.clear();
  EXPECT_TRUE(preflight(8, false, &warnings).ok());
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_THAT(warnings[0], ::testing::EndsWith("used by: s0, s1, s2, s3, s4, s5, s6, s7"));
}

}  // namespace
}  // namespace portflow
