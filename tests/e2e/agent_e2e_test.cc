// `portflow agent` through the real binary, against the fake cloud's S3
// and moto's: inputs fetched, the command run with its exit code and
// signals, outputs stored only when it succeeds.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <thread>

#include "cloud_backend/aws/s3.h"
#include "tests/testing/s3_servers.h"

namespace portflow::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
namespace fs = std::filesystem;

class AgentTest : public S3ServerTest {
 protected:
  void SetUp() override {
    S3ServerTest::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_TRUE(s3_->CreateBucket("runs").ok());
    ::setenv("AWS_ACCESS_KEY_ID", server_.key.c_str(), 1);
    ::setenv("AWS_SECRET_ACCESS_KEY", server_.secret.c_str(), 1);
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

  TempDir dir_;
};

// Cases that fetch (moto cannot list a prefix with '/' as portflow signs
// it, see s3_test.cc) or make no store call: on the fake cloud's S3 alone.
class AgentOnFakeS3Test : public AgentTest {};

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

// In a gang whose replicas each have a folder (pods), only replica 0
// stores: another's outputs would replace its own.
TEST_P(AgentTest, WithRankZeroStoresOnlyReplicaZeroStores) {
  fs::create_directories(dir_.path() + "/pod");
  std::vector<std::string> args =
      Agent("pod", {"--rank-zero-stores", "--output", "train/model"}, "echo w > train/model/m");
  ::setenv("PORTFLOW_RANK", "1", 1);
  CliResult other = RunCli(args, dir_.path() + "/pod");
  ::setenv("PORTFLOW_RANK", "0", 1);
  CliResult zero = RunCli(args, dir_.path() + "/pod");
  ::unsetenv("PORTFLOW_RANK");
  EXPECT_EQ(other.exit_code, 0) << other.err;
  EXPECT_THAT(other.err, Not(HasSubstr("stored")));
  EXPECT_EQ(zero.exit_code, 0) << zero.err;
  EXPECT_THAT(zero.err, HasSubstr("portflow agent: stored train/model (1 files)"));
}

// SIGTERM to the agent (a pod's deletion) reaches the command, whose end
// is the agent's: 143.
TEST_P(AgentOnFakeS3Test, ASignalReachesTheCommand) {
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

// The replicas of a gang on one machine share the root: while one holds
// its lock (fetching or storing), another waits before its own fetch, and
// so before its command.
TEST_P(AgentOnFakeS3Test, ReplicasOnOneMachineTakeTheRootInTurn) {
  fs::create_directories(dir_.path() + "/pod");
  int held = ::open((dir_.path() + "/pod/.portflow-agent.lock").c_str(),
                    O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(held, 0);
  ASSERT_EQ(::flock(held, LOCK_EX), 0);
  pid_t pid = StartCli(Agent("pod", {}, "touch ran"), dir_.path() + "/pod", dir_.path() + "/out",
                       dir_.path() + "/err");
  std::this_thread::sleep_for(std::chrono::seconds(1));
  EXPECT_FALSE(fs::exists(dir_.path() + "/pod/ran")) << "ran while the root was held";
  ::close(held);
  EXPECT_EQ(WaitChild(pid, std::chrono::seconds(20)), 0) << ReadFile(dir_.path() + "/err");
  EXPECT_TRUE(fs::exists(dir_.path() + "/pod/ran"));
}

// A command killed by a signal ends the agent by the same signal, so that
// what runs the agent (a local member, a kubelet) sees the signal.
TEST_P(AgentOnFakeS3Test, ACommandsSignalIsTheAgentsEnd) {
  fs::create_directories(dir_.path() + "/pod");
  pid_t pid = StartCli(Agent("pod", {}, "kill -9 $$"), dir_.path() + "/pod", dir_.path() + "/out",
                       dir_.path() + "/err");
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFSIGNALED(status)) << ReadFile(dir_.path() + "/err");
  EXPECT_EQ(WTERMSIG(status), SIGKILL);
}

// A hybrid target of two laptops whose outputs go through the store: each
// member has a folder of its own, so the evaluation (on the first) reads
// the model the second trained only through S3, checked by its manifest;
// the laptop pipeline runs unchanged and picks its model.
TEST_P(AgentOnFakeS3Test, AHybridRunsOutputsGoThroughTheStore) {
  CopyScenario("laptop-dev", dir_.path() + "/laptop");
  WriteFile(dir_.path() + "/laptop/portflow.yaml",
            "targets:\n"
            "  small: {backend: local, cpu: 1}\n"
            "  big: {backend: local, cpu: 2}\n"
            "  both: {backend: hybrid, members: [small, big], artifacts: s3://runs/hybrid,\n"
            "         artifactsEndpoint: " +
                server_.endpoint + "}\n");
  CliResult r =
      RunCli({"run", "pipeline.yaml", "--target", "both", "--plain"}, dir_.path() + "/laptop");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  std::string run = r.out.substr(0, r.out.find('\n'));
  auto st = nlohmann::json::parse(
      RunCli({"status", run, "-o", "json"}, dir_.path() + "/laptop").out, nullptr, false);
  ASSERT_TRUE(st.is_object());
  std::map<std::string, std::string> member;
  for (const auto& i : st["instances"])
    member[i["name"]] = i["attemptList"].back().value("member", "");
  EXPECT_EQ(member["train[lr=0.01]"], "big");
  EXPECT_EQ(member["evaluate"], "small");
  std::string members = dir_.path() + "/laptop/.portflow/runs/" + run + "/members/";
  EXPECT_TRUE(fs::exists(members + "big/outputs/train/model/lr=0.01"));
  EXPECT_TRUE(fs::exists(members + "small/outputs/train/model/lr=0.01"))
      << "the evaluation on small fetched the model trained on big";
  auto best = nlohmann::json::parse(ReadFile(members + "small/outputs/pick/best/best.json"),
                                    nullptr, false);
  EXPECT_EQ(best["model"], "lr=0.1") << best.dump();
  // In the store, with its manifest.
  EXPECT_TRUE(s3_->Head("runs", "hybrid/" + run + "/pick/best/best.json").ok());
  EXPECT_TRUE(s3_->Head("runs", "hybrid/" + run + "/.portflow/manifests/pick/best.json").ok());

  // `portflow outputs` names them there, and fetches them from there.
  CliResult listed = RunCli({"outputs", run}, dir_.path() + "/laptop");
  EXPECT_THAT(listed.out, HasSubstr("pick\tbest\ts3://runs/hybrid/" + run + "/pick/best\n"));
  CliResult got =
      RunCli({"outputs", run, "pick", "--to", dir_.path() + "/got"}, dir_.path() + "/laptop");
  EXPECT_EQ(got.exit_code, 0) << got.err;
  auto fetched =
      nlohmann::json::parse(ReadFile(dir_.path() + "/got/pick/best/best.json"), nullptr, false);
  EXPECT_EQ(fetched, best);
}

INSTANTIATE_TEST_SUITE_P(Servers, AgentTest, ::testing::Values("moto", "fake"),
                         [](const auto& info) { return info.param; });
INSTANTIATE_TEST_SUITE_P(Servers, AgentOnFakeS3Test, ::testing::Values("fake"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace portflow::testing
