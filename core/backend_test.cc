#include "core/backend.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "core/backend_wrapper.h"
#include "core/testing/event_recorder.h"
#include "core/testing/fake_backend.h"

namespace portflow {
namespace {

using ::testing::HasSubstr;

const ResourceRequest kCpu{1000, 0, 0};

TEST(PlaceInSlots, StartsWhatFitsWhatIsFree) {
  ResourceRequest capacity{4000, 8LL << 30, 1};
  Placement p = PlaceInSlots({kCpu, 2, {}}, capacity, {1000, 0, 0});
  EXPECT_TRUE(p.can_start_now);
  EXPECT_TRUE(p.can_ever_fit);
  EXPECT_EQ(p.estimated_wait, Duration::zero());
  EXPECT_FALSE(p.elastic);
  EXPECT_FALSE(p.hourly_price.has_value());
  // Exactly what is free still fits.
  EXPECT_TRUE(PlaceInSlots({kCpu, 3, {}}, capacity, {1000, 0, 0}).can_start_now);
}

TEST(PlaceInSlots, WhatIsHeldForOthersIsNotFree) {
  ResourceRequest capacity{4000, 0, 0};
  Placement p = PlaceInSlots({kCpu, 2, {2000, 0, 0}}, capacity, {1000, 0, 0});
  EXPECT_FALSE(p.can_start_now);
  EXPECT_TRUE(p.can_ever_fit);
  EXPECT_FALSE(p.estimated_wait.has_value());
  EXPECT_THAT(p.why, HasSubstr("needs cpu=2"));
}

TEST(PlaceInSlots, AGangLargerThanTheCapacityCanNeverFit) {
  Placement p = PlaceInSlots({kCpu, 5, {}}, {4000, 0, 0}, {});
  EXPECT_FALSE(p.can_start_now);
  EXPECT_FALSE(p.can_ever_fit);
  EXPECT_THAT(p.why, HasSubstr("has in all: cpu=4"));
  // Every resource counts, GPUs too.
  EXPECT_FALSE(PlaceInSlots({{0, 0, 1}, 1, {}}, {4000, 0, 0}, {}).can_ever_fit);
}

TEST(PendingReason, NamesAndWaitsForCapacity) {
  EXPECT_EQ(PendingReasonName(PendingReason::kQuotaWait), "QuotaWait");
  EXPECT_EQ(PendingReasonName(PendingReason::kNone), "");
  for (PendingReason r : {PendingReason::kUnschedulable, PendingReason::kQuotaWait,
                          PendingReason::kQueued, PendingReason::kProvisioning}) {
    EXPECT_TRUE(WaitsForCapacity(r)) << PendingReasonName(r);
  }
  for (PendingReason r :
       {PendingReason::kNone, PendingReason::kScheduling, PendingReason::kStarting,
        PendingReason::kImagePull, PendingReason::kConfigError, PendingReason::kBudget}) {
    EXPECT_FALSE(WaitsForCapacity(r)) << PendingReasonName(r);
  }
}

TEST(Capabilities, UnsupportedUsesNamesOnlyTheFeaturesASpecUses) {
  FakeClock clock;
  testing::FakeBackend backend(clock);  // cannot honour an image
  TaskSpec spec;
  spec.argv = {"x"};
  EXPECT_TRUE(backend.UnsupportedUses(spec).empty());
  spec.image = "python:3";
  auto used = backend.UnsupportedUses(spec);
  ASSERT_EQ(used.size(), 1u);
  EXPECT_EQ(used[0].feature, Feature::kImage);
  EXPECT_EQ(FeatureName(used[0].feature), "image");
}

class TailLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = ::testing::TempDir() + "tail_log_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name() + "_" +
            std::to_string(::getpid()) + ".log";
    std::filesystem::remove(path_);
  }
  void TearDown() override { std::filesystem::remove(path_); }
  void Append(const std::string& text) {
    std::ofstream(path_, std::ios::app | std::ios::binary) << text;
  }
  std::string path_;
};

TEST_F(TailLogTest, ReadsTheWholeFile) {
  std::string big(150000, 'x');  // more than one read
  Append(big + "end\n");
  std::string out;
  Status s = TailLog(
      path_, false, [] { return true; }, RealClock(),
      [&](std::string_view chunk) {
        out.append(chunk);
        return true;
      });
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(out, big + "end\n");
}

TEST_F(TailLogTest, FollowsUntilTheAttemptEndsThenReadsWhatIsLeft) {
  Append("one\n");
  std::atomic<bool> ended{false};
  std::string out;
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    Append("two\n");
    ended = true;
    Append("three\n");  // written as it ended: still read
  });
  Status s = TailLog(
      path_, true, [&] { return ended.load(); }, RealClock(),
      [&](std::string_view chunk) {
        out.append(chunk);
        return true;
      });
  writer.join();
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(out, "one\ntwo\nthree\n");
}

TEST_F(TailLogTest, StopsWhenTheSinkSaysSo) {
  Append("one\n");
  int calls = 0;
  Status s = TailLog(
      path_, true, [] { return false; }, RealClock(),
      [&](std::string_view) { return ++calls < 1; });
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(calls, 1);
}

TEST_F(TailLogTest, AMissingFileIsNotFound) {
  Status s = TailLog(
      path_, false, [] { return true; }, RealClock(), [](std::string_view) { return true; });
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
}

TEST_F(TailLogTest, ReadLogReadsFromAnOffsetOrTheEnd) {
  Append("first\nsecond\n");
  LogRead all = ReadLog(path_, 0);
  EXPECT_TRUE(all.found);
  EXPECT_EQ(all.text, "first\nsecond\n");
  LogRead rest = ReadLog(path_, 6);
  EXPECT_EQ(rest.from, 6u);
  EXPECT_EQ(rest.text, "second\n");
  LogRead head = ReadLog(path_, 0, 3);
  EXPECT_EQ(head.from, 0u);
  EXPECT_EQ(head.text, "fir");
  LogRead end = ReadLog(path_, 0, 4, /*last=*/true);
  EXPECT_EQ(end.from, 9u);
  EXPECT_EQ(end.text, "ond\n");
  EXPECT_EQ(ReadLog(path_, 100).text, "");
  EXPECT_TRUE(ReadLog(path_, 100).found);
  EXPECT_FALSE(ReadLog(path_ + ".none", 0).found);
}

// A file opened by its path and given to another attempt (renamed) before
// it is read holds that attempt's output: not read as this one's, nor when
// a new file has been made at the path since.
TEST_F(TailLogTest, ReadLogCountsOnlyWhatThePathStillNames) {
  Append("");
  int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  EXPECT_TRUE(ReadLog(fd, path_, 0).found);
  std::string next = path_ + ".next";
  ASSERT_EQ(::rename(path_.c_str(), next.c_str()), 0);
  std::ofstream(next, std::ios::app) << "the next attempt's\n";
  EXPECT_FALSE(ReadLog(fd, path_, 0).found);
  Append("a note made afterwards\n");
  LogRead r = ReadLog(fd, path_, 0);
  EXPECT_FALSE(r.found);
  EXPECT_EQ(r.text, "");
  EXPECT_EQ(ReadLog(path_, 0).text, "a note made afterwards\n");
  ::close(fd);
  std::filesystem::remove(next);
}

// A decorator that renames the backend and counts the events it forwards.
class Renamed : public BackendWrapper {
 public:
  using BackendWrapper::BackendWrapper;
  std::string name() const override { return "renamed"; }
  int forwarded = 0;

 protected:
  void OnInnerEvent(TaskEvent event) override {
    ++forwarded;
    BackendWrapper::OnInnerEvent(std::move(event));
  }
};

TEST(BackendWrapper, ForwardsCallsAndEventsAndOverridesOnlyWhatItChanges) {
  FakeClock clock;
  auto inner = std::make_unique<testing::FakeBackend>(clock);
  testing::FakeBackend* fake = inner.get();
  fake->Script("a", {testing::Outcome{TaskState::kFailed, 3}});
  Renamed wrapper(std::move(inner));
  testing::EventRecorder events;
  wrapper.SetEventSink(&events);

  EXPECT_EQ(wrapper.name(), "renamed");
  EXPECT_EQ(wrapper.ArtifactRoot("r", "/runs/r"), "/runs/r/outputs");
  EXPECT_EQ(wrapper.capabilities().unsupported.size(), 1u);
  EXPECT_EQ(wrapper.Capacity().milli_cpu, 2000);
  EXPECT_TRUE(wrapper.Place({kCpu, 2, {}}).can_start_now);
  EXPECT_FALSE(wrapper.Place({kCpu, 3, {}}).can_ever_fit);

  TaskSpec spec;
  spec.run_id = "r";
  spec.instance = spec.step = "a";
  spec.argv = {"x"};
  spec.resources = kCpu;
  EXPECT_EQ(*wrapper.Render(spec), "r/a/1");
  auto h = wrapper.Submit(spec);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  auto end = events.WaitTerminal(spec.Key(), std::chrono::seconds(5));
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->state, TaskState::kFailed);
  EXPECT_EQ(end->result->exit_code, 3);
  EXPECT_EQ(wrapper.forwarded, 2);  // Running, then Failed
  EXPECT_EQ(fake->submitted().size(), 1u);
  EXPECT_TRUE(wrapper.Cancel(*h, false).ok());
  EXPECT_EQ(fake->cancelled().size(), 1u);
  // The contract's checks run once, in the wrapper, before the inner backend.
  spec.argv.clear();
  EXPECT_EQ(wrapper.Submit(spec).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(fake->submitted().size(), 1u);
}

}  // namespace
}  // namespace portflow
