// `portflow agent` through the real binary, against the fake cloud's S3
// and moto's: inputs fetched, the command run with its exit code and
// signals, outputs stored only when it succeeds.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "cloud_backend/aws/s3.h"
#include "tests/testing/s3_servers.h"

namespace portflow::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
namespace fs = std::filesystem;

class AgentTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() { servers_.Start(); }
  static void TearDownTestSuite() { servers_.Stop(); }
  void SetUp() override {
    const S3Server* s = servers_.Get(GetParam());
    ASSERT_NE(s, nullptr) << GetParam() << " did not start";
    server_ = *s;
    aws::Client client(s->endpoint, "us-east-1", {s->key, s->secret, "", "test keys"});
    ASSERT_TRUE(aws::S3(client).CreateBucket("runs").ok());
    ::setenv("AWS_ACCESS_KEY_ID", s->key.c_str(), 1);
    ::setenv("AWS_SECRET_ACCESS_KEY", s->secret.c_str(), 1);
  }
  void TearDown() override {
    ::unsetenv("AWS_ACCESS_KEY_ID");
    ::unsetenv("AWS_SECRET_ACCESS_KEY");
  }

  // `portflow agent` for run "r" with its outputs under dir_/ROOT.
  std::vector<std::string> Agent(const std::string& root, std::vector<std::string> io,
                                 const std::string& script) {
    // A run of each test's own: the servers live for the whole suite.
    std::string run = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    run = run.substr(run.find('.') + 1);
    run = run.substr(0, run.find('/'));
    std::vector<std::string> args = {"agent",      "--artifacts",    "s3://runs/team",
                                     "--endpoint", server_.endpoint, "--run",
                                     run,          "--root",         dir_.path() + "/" + root};
    args.insert(args.end(), io.begin(), io.end());
    for (const char* a : {"--", "/bin/sh", "-c"}) args.push_back(a);
    args.push_back(script);
    return args;
  }

  static S3Servers servers_;
  S3Server server_;
  TempDir dir_;
};
S3Servers AgentTest::servers_;

// On moto (which cannot list what a fetch lists, see s3_test.cc): a step
// without inputs stores its outputs. On the fake cloud's S3: the next step,
// in another folder as another pod would be, reads them.
TEST_P(AgentTest, OutputsAreStoredAndTheNextStepReadsThem) {
  fs::create_directories(dir_.path() + "/pod1");
  CliResult first = RunCli(
      Agent("pod1", {"--output", "prepare/data"}, "echo rows > prepare/data/d.csv; echo ran"),
      dir_.path() + "/pod1");
  EXPECT_EQ(first.exit_code, 0) << first.err;
  EXPECT_THAT(first.out, HasSubstr("ran"));
  EXPECT_THAT(first.err, HasSubstr("portflow agent: stored prepare/data (1 files)"));
  if (GetParam() == "moto") return;
  fs::create_directories(dir_.path() + "/pod2");
  CliResult second =
      RunCli(Agent("pod2", {"--input", "prepare/data", "--output", "train/model/lr=0.1"},
                   "cat prepare/data/d.csv > train/model/lr=0.1/m.txt"),
             dir_.path() + "/pod2");
  EXPECT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(ReadFile(dir_.path() + "/pod2/train/model/lr=0.1/m.txt"), "rows\n");
  // A third place reads the training's output.
  fs::create_directories(dir_.path() + "/pod3");
  CliResult third = RunCli(Agent("pod3", {"--input", "train/model"}, "cat train/model/*/m.txt"),
                           dir_.path() + "/pod3");
  EXPECT_EQ(third.exit_code, 0) << third.err;
  EXPECT_THAT(third.out, HasSubstr("rows"));
}

// The command's exit code is the agent's, and a failed attempt's outputs
// are not stored; an input that is not there is the agent's failure (125).
TEST_P(AgentTest, ExitCodesAreKeptAndFailuresNamed) {
  fs::create_directories(dir_.path() + "/pod");
  CliResult failed =
      RunCli(Agent("pod", {"--output", "train/model"}, "echo half > train/model/m.txt; exit 3"),
             dir_.path() + "/pod");
  EXPECT_EQ(failed.exit_code, 3) << failed.err;
  EXPECT_THAT(failed.err, Not(HasSubstr("stored")));
  if (GetParam() == "moto") return;
  CliResult missing =
      RunCli(Agent("pod", {"--input", "train/model"}, "true"), dir_.path() + "/pod");
  EXPECT_EQ(missing.exit_code, 125);
  EXPECT_THAT(missing.err, HasSubstr("portflow: agent: input train/model: no finished output "
                                     "train/model of run ExitCodesAreKeptAndFailuresNamed"));
  CliResult bad = RunCli(
      {"agent", "--artifacts", "gs://x", "--run", "r", "--root", ".", "--", "true"}, dir_.path());
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.err, HasSubstr("--artifacts: \"gs://x\" is not an S3 URI"));
}

// SIGTERM to the agent (a pod's deletion) reaches the command, whose end
// is the agent's: 143.
TEST_P(AgentTest, ASignalReachesTheCommand) {
  if (GetParam() == "moto") return;  // no store call is made
  fs::create_directories(dir_.path() + "/pod");
  pid_t pid = StartCli(Agent("pod", {}, "trap 'echo got-term; exit 143' TERM; sleep 30 & wait"),
                       dir_.path() + "/pod", dir_.path() + "/out", dir_.path() + "/err");
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ::kill(pid, SIGTERM);
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(WaitChild(pid, std::chrono::seconds(20)), 143) << ReadFile(dir_.path() + "/err");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_THAT(ReadFile(dir_.path() + "/out"), HasSubstr("got-term"));
}

INSTANTIATE_TEST_SUITE_P(Servers, AgentTest, ::testing::Values("moto", "fake"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace portflow::testing
