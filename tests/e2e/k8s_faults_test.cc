// The kubernetes backend under faults, against `portflow cluster serve
// --mode execute`: API calls failing (429, 500, dropped connections) on 10%
// of requests while watches are dropped again and again, and a node lost
// under a running step. The runs finish, with no duplicate Job and no lost
// log, and the engine's retry carries the step whose node was lost.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <thread>

#include "tests/testing/cli_runner.h"

namespace portflow::testing {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

class K8sFaultsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "k8s_faults_" + std::to_string(::getpid());
    fs::remove_all(dir_);
    fs::create_directories(dir_ + "/work");
    ServedCluster c =
        ServeCluster(dir_, {"--mode", "execute", "--nodes", "2", "--work-dir", dir_ + "/cluster"});
    ASSERT_GT(c.pid, 0) << c.error;
    cluster_ = c;
    WriteFile(dir_ + "/work/portflow.yaml",
              "targets:\n  onprem: {backend: kubernetes, kubeconfig: " + dir_ +
                  "/kubeconfig, namespace: default, cleanup: keep}\n");
  }
  void TearDown() override {
    if (cluster_.pid > 0) {
      EXPECT_EQ(StopCluster(cluster_.pid), 0);
    }
    fs::remove_all(dir_);
  }
  // POST /portflow/faults.
  void Fault(const std::string& json) {
    ShellResult r = ClusterRequest(cluster_, "POST", "/portflow/faults", json);
    ASSERT_EQ(r.code, 0) << r.out;
  }
  ShellResult Kubectl(const std::string& args) { return testing::Kubectl(dir_, args); }
  // Runs `file` on the cluster and kill -9s portflow once `step`'s pod runs;
  // returns the run's id ("" if the pod never ran).
  std::string KillNineWhileRunning(const std::string& file, const std::string& step) {
    pid_t engine = StartCli({"run", file, "--target", "onprem"}, dir_ + "/work", dir_ + "/run.out",
                            dir_ + "/run.err");
    if (engine <= 0) return "";
    bool running = WaitFor(
        [&] {
          return Kubectl("get pods -l portflow.dev/step=" + step +
                         " -o jsonpath={.items[0].status.phase}")
                     .out == "Running";
        },
        std::chrono::seconds(30));
    ::kill(engine, SIGKILL);
    WaitChild(engine, std::chrono::seconds(10));
    std::string run = ReadFile(dir_ + "/run.out");
    return running ? run.substr(0, run.find('\n')) : "";
  }

  std::string dir_;
  ServedCluster cluster_;
};

TEST_F(K8sFaultsTest, FailingCallsAndDroppedWatchesDoNotDuplicateOrLoseWork) {
  CopyScenario("laptop-dev", dir_ + "/work");
  for (int code : {429, 500, 0}) {
    SCOPED_TRACE("code " + std::to_string(code));
    Fault("{\"failRate\": 0.1, \"code\": " + std::to_string(code) + "}");
    std::atomic<bool> running{true};
    std::thread dropper([&] {
      while (running) {
        Fault("{\"dropWatches\": true}");
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
      }
    });
    CliResult r = RunCli({"run", "pipeline.yaml", "--target", "onprem"}, dir_ + "/work");
    running = false;
    dropper.join();
    Fault("{\"failRate\": 0}");
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_THAT(r.out, HasSubstr("best model: lr=0.1"));
    std::string run = r.out.substr(0, r.out.find('\n'));
    // No duplicate: one Job per attempt (names are per attempt), and an
    // attempt after the first only where the one before really failed.
    ShellResult jobs = Kubectl("get jobs --no-headers -l portflow.dev/run=" + run);
    int complete = 0, other = 0;
    std::stringstream lines(jobs.out);
    for (std::string line; std::getline(lines, line);) {
      if (line.find(" Complete ") != std::string::npos) {
        ++complete;
      } else {
        ++other;
        EXPECT_THAT(line, HasSubstr(" Failed ")) << jobs.out;
      }
    }
    EXPECT_EQ(complete, 5) << jobs.out;
    EXPECT_EQ(other, 0) << "attempts failed under the faults:\n" << jobs.out << r.err;
    CliResult logs = RunCli({"logs", run, "train[lr=0.01]"}, dir_ + "/work");
    EXPECT_THAT(logs.out, HasSubstr("rank 0/2 done"));  // no log lost
    EXPECT_THAT(logs.out, HasSubstr("rank 1/2 done"));
  }
}

TEST_F(K8sFaultsTest, ALostNodeFailsItsPodAndTheRetryFinishesTheStep) {
  WriteFile(dir_ + "/work/slow.yaml", R"yaml(apiVersion: portflow.dev/v1
kind: Workload
metadata: {name: slow}
spec:
  image: busybox
  steps:
    - name: work
      retries: {limit: 1, backoff: 1s}
      script: "echo attempt $PORTFLOW_ATTEMPT; sleep 3; echo finished"
)yaml");
  pid_t run = StartCli({"run", "slow.yaml", "--target", "onprem"}, dir_ + "/work",
                       dir_ + "/run.out", dir_ + "/run.err");
  ASSERT_GT(run, 0);
  // Once the pod runs, its node is lost.
  std::string node;
  ASSERT_TRUE(WaitFor(
      [&] {
        ShellResult r = Kubectl(
            "get pods -l portflow.dev/attempt=1 -o "
            "jsonpath={.items[0].spec.nodeName}/{.items[0].status.phase}");
        if (r.out.find("/Running") == std::string::npos) return false;
        node = r.out.substr(0, r.out.find('/'));
        return true;
      },
      std::chrono::seconds(30)));
  Fault("{\"loseNode\": \"" + node + "\"}");
  ASSERT_EQ(WaitChild(run, std::chrono::seconds(60)), 0)
      << ReadFile(dir_ + "/run.out") << ReadFile(dir_ + "/run.err");
  std::string out = ReadFile(dir_ + "/run.out") + ReadFile(dir_ + "/run.err");
  // Attempt 1 failed with its node, and says so.
  EXPECT_THAT(out, ::testing::ContainsRegex(
                       "attempt 1 failed: NodeLost .*: the node of replica 0 was lost, and its pod "
                       "killed \\(exit code 137\\): Node " +
                       node + " which was running pod"));
  EXPECT_THAT(out, HasSubstr("attempt 2"));
  EXPECT_THAT(out, HasSubstr("finished"));
  ShellResult second =
      Kubectl("get pods -l portflow.dev/attempt=2 -o jsonpath={.items[0].spec.nodeName}");
  EXPECT_NE(second.out, node);  // not on the lost node
}

// kill -9 of portflow while a Job runs, then `portflow resume RUN`: the
// attempt is re-attached (its Job finished meanwhile), not run again, and
// its whole log is saved.
TEST_F(K8sFaultsTest, KillNineThenResumeLeavesNoDuplicateAndLosesNoLog) {
  WriteFile(dir_ + "/work/slow.yaml", R"yaml(apiVersion: portflow.dev/v1
kind: Workload
metadata: {name: slow}
spec:
  image: busybox
  steps:
    - {name: first, script: "echo first"}
    - {name: work, needs: [first], script: "echo begin; sleep 2; echo finished"}
    - {name: after, needs: [work], script: "echo after"}
)yaml");
  std::string run = KillNineWhileRunning("slow.yaml", "work");
  ASSERT_FALSE(run.empty());
  // The Job ends while nobody watches.
  ASSERT_TRUE(WaitFor(
      [&] {
        return Kubectl(
                   "get jobs -l portflow.dev/step=work -o "
                   "jsonpath={.items[0].status.succeeded}")
                   .out == "1";
      },
      std::chrono::seconds(30)));
  CliResult resumed = RunCli({"resume", run}, dir_ + "/work");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.out << resumed.err;
  EXPECT_THAT(resumed.err, HasSubstr("work Running: re-attached after restart"));
  ShellResult jobs = Kubectl("get jobs --no-headers -l portflow.dev/run=" + run);
  EXPECT_EQ(std::count(jobs.out.begin(), jobs.out.end(), '\n'), 3) << jobs.out;
  // (Not "-a2" alone: the run id's random suffix may hold it, as in -a298.)
  EXPECT_THAT(Kubectl("get jobs --no-headers -l portflow.dev/step=work").out,
              ::testing::Not(HasSubstr("-work-a2 ")));
  EXPECT_EQ(RunCli({"logs", run, "work"}, dir_ + "/work").out, "begin\nfinished\n");
}

// kill -9 of portflow while a Job runs, then `portflow cancel RUN`: the Job
// is deleted on the cluster, not only marked Cancelled in the run store.
TEST_F(K8sFaultsTest, KillNineThenCancelDeletesTheJob) {
  WriteFile(dir_ + "/work/long.yaml", R"yaml(apiVersion: portflow.dev/v1
kind: Workload
metadata: {name: long}
spec:
  image: busybox
  steps:
    - {name: long, script: "echo begin; sleep 120"}
)yaml");
  std::string run = KillNineWhileRunning("long.yaml", "long");
  ASSERT_FALSE(run.empty());
  CliResult cancelled = RunCli({"cancel", run}, dir_ + "/work");
  EXPECT_EQ(cancelled.exit_code, 0) << cancelled.err;
  EXPECT_EQ(cancelled.out, run + " Cancelled\n");
  EXPECT_EQ(Kubectl("get jobs -l portflow.dev/run=" + run).out,
            "No resources found in default namespace.\n");
  std::string pods;
  EXPECT_TRUE(WaitFor(
      [&] {
        pods = Kubectl("get pods -l portflow.dev/run=" + run).out;
        return pods == "No resources found in default namespace.\n";
      },
      std::chrono::seconds(30)))
      << pods;
  auto status = nlohmann::json::parse(RunCli({"status", run, "-o", "json"}, dir_ + "/work").out);
  EXPECT_EQ(status["state"], "Cancelled");
}

// Not a fault, but the cluster saying no: a ResourceQuota too small for a
// step holds it Pending with reason QuotaWait, in `portflow status` as in the
// live view, and the step runs once the quota grows.
TEST_F(K8sFaultsTest, AStepOverQuotaWaitsWithReasonQuotaWaitThenRuns) {
  ASSERT_EQ(Kubectl("create quota team --hard=requests.cpu=500m").code, 0);
  WriteFile(dir_ + "/work/wide.yaml", R"yaml(apiVersion: portflow.dev/v1
kind: Workload
metadata: {name: wide}
spec:
  image: busybox
  steps:
    - {name: wide, script: "echo ran", resources: {cpu: 1}}
)yaml");
  pid_t engine = StartCli({"run", "wide.yaml", "--target", "onprem"}, dir_ + "/work",
                          dir_ + "/run.out", dir_ + "/run.err");
  ASSERT_GT(engine, 0);
  std::string run, status;
  ASSERT_TRUE(WaitFor(
      [&] {
        run = ReadFile(dir_ + "/run.out");
        run = run.substr(0, run.find('\n'));
        if (run.empty()) return false;
        status = RunCli({"status", run, "-o", "json"}, dir_ + "/work").out;
        return status.find("QuotaWait: ") != std::string::npos;
      },
      std::chrono::seconds(30)))
      << status << ReadFile(dir_ + "/run.err");
  auto instance = nlohmann::json::parse(status)["instances"][0];
  EXPECT_EQ(instance["state"], "Pending");
  EXPECT_THAT(instance["message"].get<std::string>(),
              HasSubstr("exceeded quota: team, requested: requests.cpu=1, used: requests.cpu=0, "
                        "limited: requests.cpu=500m"));
  EXPECT_THAT(ReadFile(dir_ + "/run.err"),
              HasSubstr("Pending: QuotaWait: "));  // the live view says it too
  ASSERT_EQ(Kubectl("patch quota team -p '{\"spec\": {\"hard\": {\"requests.cpu\": \"2\"}}}'").code,
            0);
  EXPECT_EQ(WaitChild(engine, std::chrono::seconds(60)), 0) << ReadFile(dir_ + "/run.err");
  EXPECT_EQ(RunCli({"logs", run, "wide"}, dir_ + "/work").out, "ran\n");
}

}  // namespace
}  // namespace portflow::testing
