// The fake cloud and the cloud targets through the real binary: `portflow
// cloud serve` for boto3 and kubectl.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "tests/testing/cli_runner.h"

namespace portflow::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using json = nlohmann::json;

std::string FirstLine(const std::string& s) { return s.substr(0, s.find('\n')); }

// The run's events of type `type` (Pending, Running...), "MESSAGE" a line,
// read from the run store by python's sqlite3.
std::string Events(const std::string& dir, const std::string& run, const std::string& type) {
  return RunShell("cd " + dir +
                  " && python3 -c \"import sqlite3\n"
                  "for (m,) in sqlite3.connect('.portflow/state.db').execute("
                  "'select message from events where run_id=? and type=?', ('" +
                  run + "', '" + type + "')): print(m)\"")
      .out;
}

// `method` `path` (with the JSON `body`) on the fake cloud served from
// `dir`, signed by botocore's own signer with the credentials file there
// (service "portflow"); the answer's body.
ShellResult Portflow(const std::string& dir, const std::string& endpoint, const std::string& method,
                     const std::string& path, const std::string& body = "") {
  return RunShell(
      "cd " + dir +
      " && python3 -c \"import botocore.auth, botocore.awsrequest, "
      "botocore.credentials, configparser, sys, urllib.request\n"
      "c = configparser.ConfigParser(); c.read('credentials'); d = c['default']\n"
      "body = sys.argv[1].encode() or None\n"
      "r = botocore.awsrequest.AWSRequest(method='" +
      method + "', url='" + endpoint + path +
      "', data=body)\n"
      "botocore.auth.SigV4Auth(botocore.credentials.Credentials(d['aws_access_key_id'], "
      "d['aws_secret_access_key']), 'portflow', 'us-east-1').add_auth(r)\n"
      "p = r.prepare()\n"
      "print(urllib.request.urlopen(urllib.request.Request(p.url, data=p.body, method='" +
      method + "', headers=dict(p.headers))).read().decode())\" '" + body + "' 2>&1");
}

// The laptop scenario's best model, as its pick step wrote it under `outputs`.
json BestModel(const std::string& outputs) {
  return json::parse(ReadFile(outputs + "/pick/best/best.json"), nullptr, false);
}

// `portflow cloud serve ARGS...` in `dir`, waited for until it prints its
// last line; the endpoint it printed, or "" (then `why` says why).
std::string ServeCloud(const std::string& dir, const std::vector<std::string>& args, pid_t& pid,
                       std::string& why) {
  std::vector<std::string> all = {"cloud", "serve"};
  all.insert(all.end(), args.begin(), args.end());
  pid = StartCli(all, dir, dir + "/serve.out", dir + "/serve.err");
  std::string endpoint;
  bool serving = WaitFor(
      [&] {
        std::string out = ReadFile(dir + "/serve.out");
        std::smatch m;
        if (out.find("server: ") == std::string::npos) return false;
        if (std::regex_search(out, m, std::regex("endpoint: (\\S+)"))) endpoint = m[1];
        return true;
      },
      std::chrono::seconds(30));
  if (!serving) why = ReadFile(dir + "/serve.err");
  return serving ? endpoint : "";
}

TEST(CloudServeTest, Boto3AndKubectlWorkAgainstItWithTheFilesItWrites) {
  TempDir dir;
  WriteFile(dir.path() + "/groups.yaml", R"(nodeGroups:
  - name: small
    instanceTypes: [c5.large]
    zones: [us-east-1b]
    maxSize: 2
)");
  pid_t pid = -1;
  std::string why;
  std::string endpoint = ServeCloud(dir.path(),
                                    {"--provisioning", "500ms", "--node-groups", "groups.yaml",
                                     "--kubeconfig", "kubeconfig", "--aws-credentials", "creds"},
                                    pid, why);
  ASSERT_FALSE(endpoint.empty()) << why;
  std::string out = ReadFile(dir.path() + "/serve.out");
  EXPECT_THAT(out, HasSubstr("credentials: " + dir.path() + "/creds\n"));
  EXPECT_THAT(out, HasSubstr("cluster: burst\n"));
  for (const char* secret : {"/kubeconfig", "/creds"}) {
    struct stat st {};
    ASSERT_EQ(::stat((dir.path() + secret).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u) << secret;
  }
  EXPECT_THAT(ReadFile(dir.path() + "/creds"), HasSubstr("[default]\naws_access_key_id = AKIA"));

  // boto3, with nothing but the credentials file and the endpoint.
  ShellResult py =
      RunShell("cd " + dir.path() + " && AWS_SHARED_CREDENTIALS_FILE=creds python3 -c \"" +
               "import boto3, time\n"
               "eks = boto3.client('eks', endpoint_url='" +
               endpoint +
               "', region_name='us-east-1')\n"
               "eks.update_nodegroup_config(clusterName='burst', "
               "nodegroupName='small', scalingConfig={'desiredSize': 1})\n"
               "print(eks.list_nodegroups(clusterName='burst')['nodegroups'])\n"
               "\" 2>&1");
  EXPECT_EQ(py.code, 0) << py.out;
  EXPECT_THAT(py.out, HasSubstr("['small']"));
  std::filesystem::create_directories(dir.path() + "/home");
  bool joined = WaitFor(
      [&] {
        return Kubectl(dir.path(), "get nodes -L topology.kubernetes.io/zone")
                   .out.find("us-east-1b") != std::string::npos;
      },
      std::chrono::seconds(20));
  EXPECT_TRUE(joined) << Kubectl(dir.path(), "get nodes").out;
  EXPECT_EQ(StopCluster(pid), 0);
}

TEST(CloudTest, TheLaptopScenarioRunsOnTheCloudRehearsalAndCostsItsNodes) {
  TempDir dir;
  CopyScenario("laptop-dev", dir.path());
  CliResult r = RunCli({"run", "pipeline.yaml", "--target", "cloud-rehearsal", "-q"}, dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  std::string run = FirstLine(r.out);
  std::smatch cost;
  ASSERT_TRUE(std::regex_search(r.err, cost,
                                std::regex("portflow: cost \\$(0\\.\\d+) \\((\\d) "
                                           "c5\\.large \\(spot\\) for (\\d+) s\\)")))
      << r.err;
  EXPECT_GE(std::stoi(cost[3]), 60) << "billed a minute at least";
  std::string outputs =
      dir.path() + "/.portflow/cloud-rehearsal/volumes/default/portflow-artifacts/" + run;
  EXPECT_EQ(BestModel(outputs)["model"], "lr=0.1") << ReadFile(outputs + "/pick/best/best.json");
  // The first step waited for the node it caused, and said so, with when.
  EXPECT_THAT(Events(dir.path(), run, "Pending"),
              HasSubstr("Provisioning: a node of group cpu-spot is being added for it "
                        "(expected to start by 20"));
  json status = json::parse(RunCli({"status", run, "-o", "json"}, dir.path()).out, nullptr, false);
  ASSERT_TRUE(status["cost"].is_object()) << status.dump();
  EXPECT_NEAR(status["cost"]["usd"].get<double>(), std::stod(cost[1].str()), 0.00005);
  EXPECT_EQ(status["cost"]["nodes"], std::stoi(cost[2]));
  EXPECT_THAT(RunCli({"runs"}, dir.path()).out, HasSubstr("$" + cost[1].str()));
  // The text status: the run's cost with its nodes, and a COST column.
  std::string text = RunCli({"status", run}, dir.path()).out;
  EXPECT_THAT(text, HasSubstr("cost:     $" + cost[1].str() + " (" + cost[2].str() +
                              " c5.large (spot) for "));
  EXPECT_THAT(text, ::testing::ContainsRegex("INSTANCE +STATE +ATTEMPTS +DURATION +COST +MESSAGE"));
  // Each attempt's share of its node's time (null for one that ended
  // between two of the backend's looks), within what the nodes cost.
  double attempts = 0;
  for (const json& i : status["instances"]) {
    for (const json& a : i["attemptList"]) {
      ASSERT_TRUE(a["cost"].is_number() || a["cost"].is_null()) << a.dump();
      if (a["cost"].is_number()) attempts += a["cost"].get<double>();
    }
  }
  EXPECT_LT(attempts, status["cost"]["usd"].get<double>());
}

// The built-in hybrid rehearsal runs the laptop pipeline unchanged: one
// training gang does not fit beside the other on the on-prem member and
// moves to the cloud, whose node it waits for; the evaluation reads the
// models trained on both, through the fake cloud's S3; the run costs the
// cloud's node.
TEST(CloudTest, TheLaptopScenarioRunsOnTheHybridRehearsalWithStepsOnBothMembers) {
  TempDir dir;
  CopyScenario("laptop-dev", dir.path());
  CliResult r =
      RunCli({"run", "pipeline.yaml", "--target", "hybrid-rehearsal", "--plain"}, dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  std::string run = FirstLine(r.out);
  json status = json::parse(RunCli({"status", run, "-o", "json"}, dir.path()).out, nullptr, false);
  ASSERT_TRUE(status.is_object());
  std::map<std::string, std::string> member;
  for (const json& i : status["instances"])
    member[i["name"]] = i["attemptList"].back().value("member", "");
  EXPECT_EQ(member["prepare"], "onprem") << status.dump(2);
  std::set<std::string> trained = {member["train[lr=0.1]"], member["train[lr=0.01]"]};
  EXPECT_EQ(trained, (std::set<std::string>{"onprem", "cloud"})) << status.dump(2);
  std::string decisions = status["decisions"].dump();
  EXPECT_THAT(decisions, HasSubstr("onprem -> cloud: waited "));
  EXPECT_THAT(decisions, HasSubstr("(Unschedulable: 0/1 nodes are available: 1 Insufficient cpu."));
  // The evaluation fetched both models from the store, and pick its metrics.
  std::string log = r.out + r.err;
  EXPECT_THAT(log, HasSubstr("evaluate/0 | portflow agent: fetched train/model (2 files)"));
  EXPECT_THAT(log, HasSubstr("evaluate/0 | lr=0.1: accuracy="));
  EXPECT_THAT(log, HasSubstr("evaluate/0 | lr=0.01: accuracy="));
  EXPECT_THAT(log, HasSubstr("pick/0 | portflow agent: fetched train/model (2 files)"))
      << "the pick step reads outputs made on both members";
  EXPECT_THAT(log, HasSubstr("pick/0 | best model: lr=0.1"));
  EXPECT_THAT(r.err,
              ::testing::ContainsRegex(R"(portflow: cost \$0\.[0-9]+ \(cloud: 1 c5\.large)"));
  ASSERT_TRUE(status["cost"].is_object()) << status.dump();
  EXPECT_GT(status["cost"]["usd"].get<double>(), 0);
}

// kill -9 of portflow on the hybrid rehearsal while a step runs, then
// resume: the new rehearsal's S3 (kept under its work folder) still has
// what the steps before the kill stored, so the step after reads it, and
// `outputs --to` fetches from the rehearsal's store.
TEST(CloudTest, AKilledHybridRehearsalRunResumesWithTheOutputsItStored) {
  TempDir dir;
  WriteFile(dir.path() + "/w.yaml",
            "apiVersion: portflow.dev/v1\nkind: Workload\nmetadata: {name: w}\nspec:\n"
            "  image: busybox\n  resources: {cpu: 500m, memory: 256Mi}\n  steps:\n"
            "    - {name: make, script: 'echo made > {{outputs.data}}/f', outputs: [data]}\n"
            "    - name: long\n      needs: [make]\n      script: |\n"
            "        echo $$ > " +
                dir.path() +
                "/long.pid\n        if [ $PORTFLOW_ATTEMPT = 1 ]; then sleep 30; fi\n"
                "    - {name: use, needs: [long], script: 'cat {{steps.make.outputs.data}}/f'}\n");
  pid_t run = StartCli({"run", "w.yaml", "--target", "hybrid-rehearsal", "--plain"}, dir.path(),
                       dir.path() + "/run.out", dir.path() + "/run.err");
  ASSERT_TRUE(WaitFor([&] { return !ReadFile(dir.path() + "/long.pid").empty(); },
                      std::chrono::seconds(60)))
      << ReadFile(dir.path() + "/run.err");
  ::kill(run, SIGKILL);
  WaitChild(run, std::chrono::seconds(10));
  std::string id = FirstLine(ReadFile(dir.path() + "/run.out"));
  pid_t orphan = std::stoi(ReadFile(dir.path() + "/long.pid"));
  CliResult resumed = RunCli({"resume", id, "--plain"}, dir.path());
  EXPECT_EQ(resumed.exit_code, 0) << resumed.out << resumed.err;
  EXPECT_THAT(resumed.out, HasSubstr("use/0 | portflow agent: fetched make/data (1 files)"));
  EXPECT_THAT(resumed.out, HasSubstr("use/0 | made"));
  json st = json::parse(RunCli({"status", id, "-o", "json"}, dir.path()).out, nullptr, false);
  ASSERT_TRUE(st.is_object());
  EXPECT_EQ(st["state"], "Succeeded") << st.dump(2);
  EXPECT_NE(::kill(orphan, 0), 0) << "the resume stopped what the dead portflow left running";
  CliResult fetched = RunCli({"outputs", id, "make", "--to", "got"}, dir.path());
  EXPECT_EQ(fetched.exit_code, 0) << fetched.err;
  EXPECT_EQ(ReadFile(dir.path() + "/got/make/data/f"), "made\n");
}

// A cloud target on `portflow cloud serve` (execute mode, nodes in 1 s):
// the served cloud in srv_, the workload's folder dir_ with a
// portflow.yaml naming target burst.
class CloudTargetTest : public ::testing::Test {
 protected:
  // Serves the cloud with `flags` and writes target burst, scaling `groups`,
  // with `settings` (YAML lines) added.
  void Serve(const std::vector<std::string>& flags, const std::string& groups,
             const std::string& settings = "") {
    std::vector<std::string> args = {
        "--provisioning",         "1s",           "--mode",     "execute",           "--work-dir",
        srv_.path() + "/kubelet", "--kubeconfig", "kubeconfig", "--aws-credentials", "credentials"};
    args.insert(args.end(), flags.begin(), flags.end());
    std::string why;
    endpoint_ = ServeCloud(srv_.path(), args, cloud_, why);
    ASSERT_FALSE(endpoint_.empty()) << why;
    WriteFile(dir_.path() + "/portflow.yaml",
              "targets:\n  burst:\n    backend: cloud\n    cluster: burst\n    endpoint: " +
                  endpoint_ + "\n    kubeconfig: " + srv_.path() +
                  "/kubeconfig\n    context: burst\n    namespace: default\n"
                  "    nodeGroups: [" +
                  groups + "]\n    provisioning: 1s\n" + settings);
  }
  void TearDown() override {
    if (cloud_ > 0) {
      EXPECT_EQ(StopCluster(cloud_), 0);
    }
  }
  // `portflow ARGS...` with the served cloud's credentials, to the end, or
  // in the background (its output in dir_/run.out and run.err).
  CliResult Cli(const std::vector<std::string>& args) {
    ::setenv("AWS_SHARED_CREDENTIALS_FILE", (srv_.path() + "/credentials").c_str(), 1);
    CliResult r = RunCli(args, dir_.path());
    ::unsetenv("AWS_SHARED_CREDENTIALS_FILE");
    return r;
  }
  pid_t Start(const std::vector<std::string>& args) {
    ::setenv("AWS_SHARED_CREDENTIALS_FILE", (srv_.path() + "/credentials").c_str(), 1);
    pid_t pid = StartCli(args, dir_.path(), dir_.path() + "/run.out", dir_.path() + "/run.err");
    ::unsetenv("AWS_SHARED_CREDENTIALS_FILE");
    return pid;
  }
  // The id of the run `run` started, once its first instance is Running;
  // "" when it ended first or 30 s passed.
  std::string WaitRunning(pid_t run) {
    std::string id;
    bool running = WaitFor(
        [&] {
          if (::kill(run, 0) != 0) return true;
          id = FirstLine(ReadFile(dir_.path() + "/run.out"));
          if (id.empty()) return false;
          json st = Status(id);
          return st.is_object() && st["instances"][0]["state"] == "Running";
        },
        std::chrono::seconds(30));
    return running && ::kill(run, 0) == 0 ? id : "";
  }
  json Status(const std::string& run) {
    return json::parse(RunCli({"status", run, "-o", "json"}, dir_.path()).out, nullptr, false);
  }
  json Bill() {
    return json::parse(Portflow(srv_.path(), endpoint_, "GET", "/portflow/bill").out, nullptr,
                       false);
  }
  void LongStepWorkload(const std::string& more_steps = "") {
    WriteFile(dir_.path() + "/w.yaml",
              "apiVersion: portflow.dev/v1\nkind: Workload\nmetadata: {name: w}\nspec:\n"
              "  image: busybox\n  resources: {cpu: 500m, memory: 256Mi}\n  steps:\n"
              "    - {name: long, command: [sh, -c, 'sleep 5; echo done']}\n" +
                  more_steps);
  }

  TempDir dir_, srv_;
  pid_t cloud_ = -1;
  std::string endpoint_;
};

TEST_F(CloudTargetTest, TheScenarioCostsWhatTheBillSays) {
  CopyScenario("laptop-dev", dir_.path());
  Serve({}, "cpu-ondemand, gpu-ondemand");
  CliResult r = Cli({"run", "pipeline.yaml", "--target", "burst", "-q"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("m5.large for "));
  json status = Status(FirstLine(r.out));
  json ledger = Bill();  // the fake cloud's own
  ASSERT_TRUE(status["cost"].is_object()) << status.dump();
  ASSERT_GE(ledger["instances"].size(), 1u) << ledger;
  for (const json& i : ledger["instances"]) EXPECT_FALSE(i["end"].is_null()) << "given back";
  EXPECT_NEAR(status["cost"]["usd"].get<double>(), ledger["cost"].get<double>(), 0.005)
      << "to the cent: " << ledger;
  EXPECT_EQ(status["cost"]["nodes"], ledger["instances"].size());
}

TEST_F(CloudTargetTest, ASpotInterruptionRunsTheStepAgainWithoutUsingARetry) {
  Serve({"--spot-notice", "1s"}, "cpu-spot, cpu-ondemand", "    spotNotice: 1s\n");
  LongStepWorkload();
  pid_t run = Start({"run", "w.yaml", "--target", "burst", "--plain"});
  std::string id = WaitRunning(run);
  ASSERT_FALSE(id.empty()) << ReadFile(dir_.path() + "/run.err");
  ShellResult fault = Portflow(srv_.path(), endpoint_, "POST", "/portflow/faults",
                               R"({"interruptSpot": {"nodeGroup": "cpu-spot"}})");
  EXPECT_THAT(fault.out, HasSubstr("\"interrupted\":1")) << fault.out;
  EXPECT_EQ(WaitChild(run, std::chrono::seconds(60)), 0) << ReadFile(dir_.path() + "/run.err");
  const json attempts = Status(id)["instances"][0]["attemptList"];
  ASSERT_EQ(attempts.size(), 2u) << attempts.dump(2);
  EXPECT_EQ(attempts[0]["reason"], "Preempted");
  EXPECT_THAT(attempts[0]["message"].get<std::string>(), HasSubstr("spot interruption of node"));
  EXPECT_EQ(attempts[1]["state"], "Succeeded");
  EXPECT_THAT(ReadFile(dir_.path() + "/run.err"), HasSubstr("not a retry"));
}

TEST_F(CloudTargetTest, AKilledRunResumesWithItsNodesAndStillGivesThemBack) {
  Serve({}, "cpu-ondemand");
  LongStepWorkload("    - {name: after, needs: [long], command: ['true']}\n");
  pid_t run = Start({"run", "w.yaml", "--target", "burst", "--plain"});
  std::string id = WaitRunning(run);
  ASSERT_FALSE(id.empty()) << ReadFile(dir_.path() + "/run.err");
  ::kill(run, SIGKILL);
  WaitChild(run, std::chrono::seconds(10));
  EXPECT_THAT(ReadFile(dir_.path() + "/.portflow/runs/" + id + "/cloud-nodes.json"),
              HasSubstr("\"group\":\"cpu-ondemand\""));
  CliResult resumed = Cli({"resume", id, "-q"});
  EXPECT_EQ(resumed.exit_code, 0) << resumed.out << resumed.err;
  EXPECT_THAT(resumed.err, HasSubstr("cost $"));
  json st = Status(id);
  json ledger = Bill();
  ASSERT_EQ(ledger["instances"].size(), 1u) << "the resumed run used the node it had: " << ledger;
  EXPECT_FALSE(ledger["instances"][0]["end"].is_null()) << "and gave it back";
  EXPECT_EQ(st["cost"]["nodes"], 1);
  EXPECT_NEAR(st["cost"]["usd"].get<double>(), ledger["cost"].get<double>(), 0.005);
}

// A step that no instance type of the target's groups fits on one node is
// refused before the run starts (exit 2), naming the groups.
TEST(CloudTest, AStepNoGroupCanFitIsRefusedBeforeTheRun) {
  TempDir dir;
  WriteFile(dir.path() + "/big.yaml",
            "apiVersion: portflow.dev/v1\nkind: Workload\nmetadata: {name: big}\nspec:\n  image: "
            "busybox\n"
            "  steps:\n    - name: huge\n      command: [\"true\"]\n"
            "      resources: {cpu: \"64\", memory: 1Gi}\n");
  CliResult r = RunCli({"run", "big.yaml", "--target", "cloud-rehearsal"}, dir.path());
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("huge"));
  EXPECT_THAT(r.err, HasSubstr("no node group portflow may scale (cpu-spot, cpu-ondemand, "
                               "gpu-ondemand, gpu-spot) has an instance type with room for"));
  EXPECT_THAT(RunCli({"runs"}, dir.path()).out, Not(HasSubstr("big-"))) << "no run was made";
}

// A budget below the price of any node that fits a step: refused before the
// run (exit 2), not a run that waits for ever.
TEST(CloudTest, ABudgetNoNodeFitsIsRefusedBeforeTheRun) {
  TempDir dir;
  CopyScenario("laptop-dev", dir.path());
  WriteFile(dir.path() + "/portflow.yaml",
            "targets:\n  tight:\n    backend: cloud-rehearsal\n    maxHourlyCost: 0.01\n");
  CliResult r = RunCli({"run", "pipeline.yaml", "--target", "tight"}, dir.path());
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("costs more than maxHourlyCost $0.0100"));
}

// cloud-rehearsal's own cloud launches and bills from the target's catalog:
// one that lacks a type its node groups name is said, not ignored.
TEST(CloudTest, TheCloudRehearsalUsesTheTargetsCatalog) {
  TempDir dir;
  CopyScenario("laptop-dev", dir.path());
  WriteFile(dir.path() + "/cat.csv",
            "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,Price,SpotPrice,"
            "Region,AvailabilityZone\nc5.large,,0,2,4,0.085,0.0255,us-east-1,us-east-1a\n"
            "g5.xlarge,A10G,1,4,16,1.006,0.3018,us-east-1,us-east-1a\n");
  WriteFile(dir.path() + "/portflow.yaml",
            "targets:\n  mine:\n    backend: cloud-rehearsal\n    nodeGroups: [cpu-spot]\n"
            "    catalog: cat.csv\n");
  CliResult r = RunCli({"run", "pipeline.yaml", "--target", "mine"}, dir.path());
  EXPECT_NE(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("m5.large"));
}

TEST(CloudTest, CloudTargetSettingsAreCheckedWhereTheyAreWritten) {
  TempDir dir;
  CopyScenario("laptop-dev", dir.path());
  WriteFile(dir.path() + "/portflow.yaml",
            "targets:\n  burst:\n    backend: cloud\n    cluster: burst\n"
            "    nodeGroups: [cpu-spot]\n    spot: sometimes\n"
            "  cheap:\n    backend: cloud-rehearsal\n    maxHourlyCost: lots\n"
            "  odd:\n    backend: cloud-rehearsal\n    nodeGroup: [cpu-spot]\n");
  CliResult r = RunCli({"run", "pipeline.yaml", "--target", "burst"}, dir.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("portflow.yaml:6:11: target burst: setting spot: \"sometimes\" "
                               "must be prefer, never or only"));
  r = RunCli({"run", "pipeline.yaml", "--target", "cheap"}, dir.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("portflow.yaml:9:20: target cheap: setting maxHourlyCost: "
                               "\"lots\" must be an amount of US dollars above 0"));
  r = RunCli({"run", "pipeline.yaml", "--target", "odd"}, dir.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("unknown setting \"nodeGroup\" for the cloud backend (known: "
                               "provider, region, cluster"));
}

TEST(CloudServeTest, ABadNodeGroupsFileNamesItsPlace) {
  TempDir dir;
  WriteFile(dir.path() + "/groups.yaml",
            "nodeGroups:\n  - name: a\n    instanceTypes: [x9.tiny]\n");
  CliResult r = RunCli({"cloud", "serve", "--node-groups", "groups.yaml"}, dir.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(
      r.err,
      HasSubstr(
          "groups.yaml: node group a: instance type x9.tiny is not in the catalog for us-east-1"));
  WriteFile(dir.path() + "/groups.yaml", "nodeGroups:\n  - name: a\n    size: 3\n");
  r = RunCli({"cloud", "serve", "--node-groups", "groups.yaml"}, dir.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("groups.yaml:3:5: unknown key \"size\""));
  r = RunCli({"cloud", "serve", "--provisioning", "soon"}, dir.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--provisioning: "));
}

}  // namespace
}  // namespace portflow::testing
