// The on-prem promotion story end to end: the laptop scenario, unchanged,
// runs as Kubernetes Jobs on `portflow cluster serve --mode execute` through
// a kubeconfig, with `--target onprem` the only difference, and picks the
// same model as on the laptop; kubectl sees the Jobs portflow created.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>

#include "tests/testing/cli_runner.h"

namespace portflow::testing {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

std::string BestModel(const std::string& out) {
  std::smatch m;
  return std::regex_search(out, m, std::regex("best model: [^\n]*")) ? m.str() : "";
}

TEST(OnpremPromotion, TheLaptopScenarioRunsUnchangedOnTheCluster) {
  const std::string dir = ::testing::TempDir() + "onprem_" + std::to_string(::getpid());
  fs::remove_all(dir);
  CopyScenario("laptop-dev", dir + "/laptop");
  ServedCluster cluster =
      ServeCluster(dir, {"--mode", "execute", "--nodes", "3", "--work-dir", dir + "/cluster"});
  ASSERT_GT(cluster.pid, 0) << cluster.error;
  // The one thing the team adds: a target. cleanup: keep leaves the Jobs for kubectl.
  WriteFile(dir + "/laptop/portflow.yaml",
            "targets:\n  onprem: {backend: kubernetes, kubeconfig: " + dir +
                "/kubeconfig, namespace: default, cleanup: keep}\n");

  CliResult local = RunCli({"run", "pipeline.yaml"}, dir + "/laptop");
  ASSERT_EQ(local.exit_code, 0) << local.out << local.err;
  CliResult onprem = RunCli({"run", "pipeline.yaml", "--target", "onprem"}, dir + "/laptop");
  ASSERT_EQ(onprem.exit_code, 0) << onprem.out << onprem.err << ReadFile(dir + "/serve.err");
  EXPECT_FALSE(BestModel(local.out).empty()) << local.out;
  EXPECT_EQ(BestModel(onprem.out), BestModel(local.out));

  std::string run = onprem.out.substr(0, onprem.out.find('\n'));
  EXPECT_THAT(onprem.err, HasSubstr(", outputs in /portflow/artifacts/" + run +
                                    " on the cluster's volume portflow-artifacts\n"));
  ShellResult jobs = Kubectl(dir, "get jobs -l portflow.dev/run=" + run);
  ASSERT_EQ(jobs.code, 0) << jobs.out;
  for (const char* job :
       {"-prepare-a1 ", "-train-lr-0-1-a1 ", "-train-lr-0-01-a1 ", "-evaluate-a1 ", "-pick-a1 "}) {
    EXPECT_THAT(jobs.out, ::testing::ContainsRegex(run + job + " +Complete"));
  }
  // The logs were saved in the run directory; the outputs are on the claim.
  CliResult logs = RunCli({"logs", run, "train[lr=0.1]"}, dir + "/laptop");
  EXPECT_THAT(logs.out, HasSubstr("rank 0/2 done"));
  EXPECT_THAT(logs.out, HasSubstr("rank 1/2 done"));
  EXPECT_TRUE(
      fs::exists(dir + "/cluster/volumes/default/portflow-artifacts/" + run + "/pick/best"));
  // `portflow outputs --to` copies them here through a reader pod, which
  // goes once read; the laptop run's outputs come from its run directory.
  CliResult copied = RunCli({"outputs", run, "pick", "--to", dir + "/got"}, dir + "/laptop");
  ASSERT_EQ(copied.exit_code, 0) << copied.err;
  EXPECT_EQ(ReadFile(dir + "/got/pick/best/best.json"),
            ReadFile(dir + "/cluster/volumes/default/portflow-artifacts/" + run +
                     "/pick/best/best.json"));
  EXPECT_THAT(Kubectl(dir, "get pods -o name").out, ::testing::Not(HasSubstr("portflow-outputs")));
  std::string local_run = local.out.substr(0, local.out.find('\n'));
  CliResult listed = RunCli({"outputs", local_run, "pick"}, dir + "/laptop");
  EXPECT_EQ(listed.out, "pick\tbest\t" + fs::absolute(dir).lexically_normal().string() +
                            "/laptop/.portflow/runs/" + local_run + "/outputs/pick/best\n");
  ASSERT_EQ(RunCli({"outputs", local_run, "--to", dir + "/got-local"}, dir + "/laptop").exit_code,
            0);
  EXPECT_EQ(ReadFile(dir + "/got-local/pick/best/best.json"),
            ReadFile(dir + "/got/pick/best/best.json"));
  nlohmann::json status =
      nlohmann::json::parse(RunCli({"status", run, "-o", "json"}, dir + "/laptop").out);
  EXPECT_EQ(status["instances"][4]["outputs"][0]["location"],
            "/portflow/artifacts/" + run + "/pick/best on the cluster's volume portflow-artifacts");

  // portflow targets: the cluster is reachable; what a running pod asks
  // for is not free; a target whose kubeconfig is missing is unreachable.
  ASSERT_EQ(Kubectl(dir, "create -f -",
                    "apiVersion: v1\nkind: Pod\nmetadata: {name: hold}\nspec:\n  containers:\n"
                    "  - {name: c, image: busybox, command: [sleep, '30'], resources: {requests: "
                    "{cpu: '1'}}}\n")
                .code,
            0);
  ASSERT_EQ(Kubectl(dir, "wait --for=jsonpath={.status.phase}=Running pod/hold --timeout=30s").code,
            0);
  WriteFile(dir + "/laptop/portflow.yaml",
            ReadFile(dir + "/laptop/portflow.yaml") +
                "  offline: {backend: kubernetes, kubeconfig: " + dir + "/missing}\n");
  CliResult targets = RunCli({"targets", "-o", "json"}, dir + "/laptop");
  ASSERT_EQ(targets.exit_code, 0) << targets.err;
  nlohmann::json list = nlohmann::json::parse(targets.out);
  std::map<std::string, nlohmann::json> by_name;
  for (const auto& t : list) by_name[t["name"]] = t;
  EXPECT_EQ(by_name["onprem"]["reachable"], true);
  EXPECT_EQ(by_name["onprem"]["capacity"]["cpu"], "12");  // 3 nodes of 4
  EXPECT_EQ(by_name["onprem"]["free"]["cpu"], "11");
  EXPECT_EQ(by_name["offline"]["reachable"], false);
  EXPECT_THAT(by_name["offline"]["message"].get<std::string>(), HasSubstr("no such file"));
  EXPECT_EQ(by_name["laptop"]["reachable"], true);
  EXPECT_EQ(by_name["rehearsal"]["backend"], "rehearsal");

  EXPECT_EQ(StopCluster(cluster.pid), 0);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace portflow::testing
