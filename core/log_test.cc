#include "core/log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

namespace portflow {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
namespace fs = std::filesystem;

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    saved_ = ConsoleLogLevel();
    dir_ = ::testing::TempDir() + "log_test_" + std::to_string(::getpid());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    SetConsoleLogLevel(saved_);
    fs::remove_all(dir_);
  }
  LogLevel saved_ = LogLevel::kWarn;
  std::string dir_;
};

TEST(LogLevelTest, ParsesEveryNameInAnyCase) {
  for (LogLevel l : {LogLevel::kTrace, LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarn,
                     LogLevel::kError, LogLevel::kOff}) {
    Result<LogLevel> parsed = ParseLogLevel(LogLevelName(l));
    ASSERT_TRUE(parsed.ok()) << LogLevelName(l);
    EXPECT_EQ(*parsed, l);
  }
  EXPECT_EQ(ParseLogLevel("DEBUG").value(), LogLevel::kDebug);
  EXPECT_EQ(ParseLogLevel("Warn").value(), LogLevel::kWarn);
}

TEST(LogLevelTest, RefusesAnUnknownNameListingTheKnownOnes) {
  for (const char* bad : {"", "verbose", "warning ", "3"}) {
    Result<LogLevel> parsed = ParseLogLevel(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(parsed.status().message(), "unknown log level \"" + std::string(bad) +
                                             "\"; one of trace, debug, info, warn, error, off");
  }
}

TEST_F(LogTest, EnabledFollowsTheConsoleLevel) {
  SetConsoleLogLevel(LogLevel::kInfo);
  EXPECT_EQ(ConsoleLogLevel(), LogLevel::kInfo);
  EXPECT_FALSE(LogEnabled(LogLevel::kDebug));
  EXPECT_TRUE(LogEnabled(LogLevel::kInfo));
  EXPECT_TRUE(LogEnabled(LogLevel::kError));
  EXPECT_FALSE(LogEnabled(LogLevel::kOff));
  SetConsoleLogLevel(LogLevel::kOff);
  EXPECT_FALSE(LogEnabled(LogLevel::kError));
}

TEST_F(LogTest, TheMacroDoesNotEvaluateADisabledMessage) {
  SetConsoleLogLevel(LogLevel::kWarn);
  int built = 0;
  auto message = [&] {
    ++built;
    return std::string("costly");
  };
  PORTFLOW_LOG(LogLevel::kDebug, "test", message());
  PORTFLOW_LOG(LogLevel::kTrace, "test", message());
  EXPECT_EQ(built, 0);
  SetConsoleLogLevel(LogLevel::kOff);  // enabled, yet nothing printed by this test
  PORTFLOW_LOG(LogLevel::kError, "test", message());
  EXPECT_EQ(built, 0);
  {
    auto run_log = RunLog::Open(dir_);
    ASSERT_TRUE(run_log.ok()) << run_log.status().ToString();
    PORTFLOW_LOG(LogLevel::kDebug, "test", message());
    EXPECT_EQ(built, 1);
    PORTFLOW_LOG(LogLevel::kTrace, "test", message());  // a run log takes debug and above
    EXPECT_EQ(built, 1);
  }
  PORTFLOW_LOG(LogLevel::kDebug, "test", message());
  EXPECT_EQ(built, 1);
}

TEST_F(LogTest, ARunLogTakesDebugAndAboveWhateverTheConsoleShows) {
  SetConsoleLogLevel(LogLevel::kOff);
  Log(LogLevel::kDebug, "engine", "before the run log");
  {
    auto run_log = RunLog::Open(dir_);
    ASSERT_TRUE(run_log.ok()) << run_log.status().ToString();
    EXPECT_EQ((*run_log)->path(), dir_ + "/portflow.log");
    Log(LogLevel::kTrace, "api", "too fine");
    Log(LogLevel::kDebug, "engine", "train: Waiting -> Pending");
    Log(LogLevel::kWarn, "api", "slow");
  }
  Log(LogLevel::kDebug, "engine", "after the run log");
  std::string text = Slurp(dir_ + "/portflow.log");
  EXPECT_THAT(text,
              ::testing::ContainsRegex(
                  "(^|\n)[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}"
                  "[+-][0-9]{2}:[0-9]{2} debug \\[[0-9]+\\] engine: train: Waiting -> Pending\n"));
  EXPECT_THAT(text, ::testing::ContainsRegex(" warning \\[[0-9]+\\] api: slow\n"));
  EXPECT_THAT(text, Not(HasSubstr("too fine")));
  EXPECT_THAT(text, Not(HasSubstr("before the run log")));
  EXPECT_THAT(text, Not(HasSubstr("after the run log")));

  // A second run log on the same directory (a resume) appends.
  {
    auto again = RunLog::Open(dir_);
    ASSERT_TRUE(again.ok());
    Log(LogLevel::kInfo, "engine", "resumed");
  }
  std::string more = Slurp(dir_ + "/portflow.log");
  EXPECT_EQ(more.rfind(text, 0), 0u);
  EXPECT_THAT(more, HasSubstr("engine: resumed\n"));
}

TEST_F(LogTest, ARunLogThatCannotBeOpenedSaysWhere) {
  std::ofstream(dir_ + "/file") << "not a directory";
  auto run_log = RunLog::Open(dir_ + "/file");
  ASSERT_FALSE(run_log.ok());
  EXPECT_THAT(run_log.status().message(), HasSubstr("cannot open " + dir_ + "/file/portflow.log"));
}

TEST_F(LogTest, ThreadsLogWholeLinesWhileRunLogsComeAndGo) {
  SetConsoleLogLevel(LogLevel::kOff);
  auto run_log = RunLog::Open(dir_);
  ASSERT_TRUE(run_log.ok());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([t] {
      for (int i = 0; i < 200; ++i) {
        Log(LogLevel::kDebug, "thread", std::to_string(t) + " line " + std::to_string(i));
      }
    });
  }
  fs::create_directories(dir_ + "/other");
  for (int i = 0; i < 20; ++i) {
    auto other = RunLog::Open(dir_ + "/other");
    ASSERT_TRUE(other.ok());
  }
  for (std::thread& t : threads) t.join();
  run_log->reset();
  std::istringstream lines(Slurp(dir_ + "/portflow.log"));
  int count = 0;
  for (std::string line; std::getline(lines, line);) {
    EXPECT_THAT(line, ::testing::MatchesRegex(".* debug \\[[0-9]+\\] thread: [0-3] line [0-9]+"));
    ++count;
  }
  EXPECT_EQ(count, 800);
}

}  // namespace
}  // namespace portflow
