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

#include "tests/testing/cli_runner.h"

namespace portflow::testing {
namespace {

using ::testing::HasSubstr;
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
  // The first step waited for the node it caused, and said so.
  EXPECT_THAT(Events(dir.path(), run, "Pending"),
              HasSubstr("Provisioning: a node of group cpu-spot is being added for it"));
  json status = json::parse(RunCli({"status", run, "-o", "json"}, dir.path()).out, nullptr, false);
  ASSERT_TRUE(status["cost"].is_object()) << status.dump();
  EXPECT_NEAR(status["cost"]["usd"].get<double>(), std::stod(cost[1].str()), 0.00005);
  EXPECT_EQ(status["cost"]["nodes"], std::stoi(cost[2]));
  EXPECT_THAT(RunCli({"runs"}, dir.path()).out, HasSubstr("$" + cost[1].str()));
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

TEST(CloudTest, ACloudTargetRunsTheScenarioAndCostsWhatTheBillSays) {
  TempDir dir, srv;
  CopyScenario("laptop-dev", dir.path());
  pid_t pid = -1;
  std::string why;
  std::string endpoint = ServeCloud(
      srv.path(),
      {"--provisioning", "1s", "--mode", "execute", "--work-dir", srv.path() + "/kubelet",
       "--kubeconfig", "kubeconfig", "--aws-credentials", "credentials"},
      pid, why);
  ASSERT_FALSE(endpoint.empty()) << why;
  WriteFile(dir.path() + "/portflow.yaml",
            "targets:\n  burst:\n    backend: cloud\n"
            "    cluster: burst\n    endpoint: " +
                endpoint + "\n    kubeconfig: " + srv.path() +
                "/kubeconfig\n"
                "    context: burst\n    namespace: default\n"
                "    nodeGroups: [cpu-ondemand, gpu-ondemand]\n"
                "    provisioning: 1s\n");
  ::setenv("AWS_SHARED_CREDENTIALS_FILE", (srv.path() + "/credentials").c_str(), 1);
  CliResult r = RunCli({"run", "pipeline.yaml", "--target", "burst", "-q"}, dir.path());
  ::unsetenv("AWS_SHARED_CREDENTIALS_FILE");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("m5.large for "));
  json status = json::parse(RunCli({"status", FirstLine(r.out), "-o", "json"}, dir.path()).out,
                            nullptr, false);
  // The fake cloud's own ledger.
  ShellResult bill = Portflow(srv.path(), endpoint, "GET", "/portflow/bill");
  ASSERT_EQ(bill.code, 0) << bill.out;
  json ledger = json::parse(bill.out, nullptr, false);
  ASSERT_TRUE(status["cost"].is_object()) << status.dump();
  ASSERT_GE(ledger["instances"].size(), 1u) << bill.out;
  for (const json& i : ledger["instances"]) EXPECT_FALSE(i["end"].is_null()) << "given back";
  EXPECT_NEAR(status["cost"]["usd"].get<double>(), ledger["cost"].get<double>(), 0.005)
      << "to the cent: " << bill.out;
  EXPECT_EQ(status["cost"]["nodes"], ledger["instances"].size());
  EXPECT_EQ(StopCluster(pid), 0);
}

TEST(CloudTest, ASpotInterruptionRunsTheStepAgainWithoutUsingARetry) {
  TempDir dir, srv;
  pid_t cloud = -1;
  std::string why;
  std::string endpoint = ServeCloud(
      srv.path(),
      {"--provisioning", "1s", "--spot-notice", "1s", "--mode", "execute", "--work-dir",
       srv.path() + "/kubelet", "--kubeconfig", "kubeconfig", "--aws-credentials", "credentials"},
      cloud, why);
  ASSERT_FALSE(endpoint.empty()) << why;
  WriteFile(dir.path() + "/portflow.yaml",
            "targets:\n  burst:\n    backend: cloud\n    cluster: burst\n    endpoint: " +
                endpoint + "\n    kubeconfig: " + srv.path() +
                "/kubeconfig\n    context: burst\n    namespace: default\n"
                "    nodeGroups: [cpu-spot, cpu-ondemand]\n    provisioning: 1s\n"
                "    spotNotice: 1s\n");
  WriteFile(dir.path() + "/w.yaml",
            "apiVersion: portflow.dev/v1\nkind: Workload\nmetadata: {name: w}\nspec:\n"
            "  image: busybox\n  resources: {cpu: 500m, memory: 256Mi}\n  steps:\n"
            "    - {name: long, command: [sh, -c, 'sleep 4; echo done']}\n");
  ::setenv("AWS_SHARED_CREDENTIALS_FILE", (srv.path() + "/credentials").c_str(), 1);
  pid_t run = StartCli({"run", "w.yaml", "--target", "burst", "--plain"}, dir.path(),
                       dir.path() + "/run.out", dir.path() + "/run.err");
  ::unsetenv("AWS_SHARED_CREDENTIALS_FILE");
  std::string id;
  bool running = WaitFor(
      [&] {
        if (::kill(run, 0) != 0) return true;  // it ended: said below
        id = FirstLine(ReadFile(dir.path() + "/run.out"));
        if (id.empty()) return false;
        json st = json::parse(RunCli({"status", id, "-o", "json"}, dir.path()).out, nullptr, false);
        return st.is_object() && st["instances"][0]["state"] == "Running";
      },
      std::chrono::seconds(30));
  ASSERT_TRUE(running && !id.empty()) << ReadFile(dir.path() + "/run.err");
  ShellResult fault = Portflow(srv.path(), endpoint, "POST", "/portflow/faults",
                               R"({"interruptSpot": {"nodeGroup": "cpu-spot"}})");
  EXPECT_THAT(fault.out, HasSubstr("\"interrupted\":1")) << fault.out;
  EXPECT_EQ(WaitChild(run, std::chrono::seconds(60)), 0) << ReadFile(dir.path() + "/run.err");
  json st = json::parse(RunCli({"status", id, "-o", "json"}, dir.path()).out, nullptr, false);
  const json& attempts = st["instances"][0]["attemptList"];
  ASSERT_EQ(attempts.size(), 2u) << st.dump(2);
  EXPECT_EQ(attempts[0]["reason"], "Preempted");
  EXPECT_THAT(attempts[0]["message"].get<std::string>(), HasSubstr("spot interruption of node"));
  EXPECT_EQ(attempts[1]["state"], "Succeeded");
  EXPECT_THAT(ReadFile(dir.path() + "/run.err"), HasSubstr("not a retry"));
  EXPECT_EQ(StopCluster(cloud), 0);
}

TEST(CloudTest, AKilledRunResumesWithItsNodesAndStillGivesThemBack) {
  TempDir dir, srv;
  pid_t cloud = -1;
  std::string why;
  std::string endpoint = ServeCloud(
      srv.path(),
      {"--provisioning", "1s", "--mode", "execute", "--work-dir", srv.path() + "/kubelet",
       "--kubeconfig", "kubeconfig", "--aws-credentials", "credentials"},
      cloud, why);
  ASSERT_FALSE(endpoint.empty()) << why;
  WriteFile(dir.path() + "/portflow.yaml",
            "targets:\n  burst:\n    backend: cloud\n    cluster: burst\n    endpoint: " +
                endpoint + "\n    kubeconfig: " + srv.path() +
                "/kubeconfig\n    context: burst\n    namespace: default\n"
                "    nodeGroups: [cpu-ondemand]\n    provisioning: 1s\n");
  WriteFile(dir.path() + "/w.yaml",
            "apiVersion: portflow.dev/v1\nkind: Workload\nmetadata: {name: w}\nspec:\n"
            "  image: busybox\n  resources: {cpu: 500m, memory: 256Mi}\n  steps:\n"
            "    - {name: long, command: [sh, -c, 'sleep 5; echo done']}\n"
            "    - {name: after, needs: [long], command: ['true']}\n");
  ::setenv("AWS_SHARED_CREDENTIALS_FILE", (srv.path() + "/credentials").c_str(), 1);
  pid_t run = StartCli({"run", "w.yaml", "--target", "burst", "--plain"}, dir.path(),
                       dir.path() + "/run.out", dir.path() + "/run.err");
  std::string id;
  bool running = WaitFor(
      [&] {
        if (::kill(run, 0) != 0) return true;
        id = FirstLine(ReadFile(dir.path() + "/run.out"));
        if (id.empty()) return false;
        json st = json::parse(RunCli({"status", id, "-o", "json"}, dir.path()).out, nullptr, false);
        return st.is_object() && st["instances"][0]["state"] == "Running";
      },
      std::chrono::seconds(30));
  ASSERT_TRUE(running && !id.empty()) << ReadFile(dir.path() + "/run.err");
  ::kill(run, SIGKILL);
  WaitChild(run, std::chrono::seconds(10));
  EXPECT_THAT(ReadFile(dir.path() + "/.portflow/runs/" + id + "/cloud-nodes.json"),
              HasSubstr("\"group\":\"cpu-ondemand\""));
  CliResult resumed = RunCli({"resume", id, "-q"}, dir.path());
  ::unsetenv("AWS_SHARED_CREDENTIALS_FILE");
  EXPECT_EQ(resumed.exit_code, 0) << resumed.out << resumed.err;
  EXPECT_THAT(resumed.err, HasSubstr("cost $"));
  json st = json::parse(RunCli({"status", id, "-o", "json"}, dir.path()).out, nullptr, false);
  json ledger =
      json::parse(Portflow(srv.path(), endpoint, "GET", "/portflow/bill").out, nullptr, false);
  ASSERT_TRUE(ledger.is_object());
  ASSERT_EQ(ledger["instances"].size(), 1u) << "the resumed run used the node it had: " << ledger;
  EXPECT_FALSE(ledger["instances"][0]["end"].is_null()) << "and gave it back";
  EXPECT_EQ(st["cost"]["nodes"], 1);
  EXPECT_NEAR(st["cost"]["usd"].get<double>(), ledger["cost"].get<double>(), 0.005);
  EXPECT_EQ(StopCluster(cloud), 0);
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
