// portflow's own diagnostics through the real binary: -v, -vv, --log-level
// and PORTFLOW_LOG on the console, RUN_DIR/portflow.log, the access log of
// `cluster serve`, an unchanged default output, and no credential or
// Secret in any of them.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <regex>
#include <sstream>

#include "core/base64.h"
#include "tests/testing/cli_runner.h"

namespace portflow::testing {
namespace {

using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::Not;
namespace fs = std::filesystem;

constexpr char kWorkload[] =
    "apiVersion: portflow.dev/v1\nkind: Workload\nmetadata: {name: diag}\nspec:\n  steps:\n"
    "    - name: hello\n      command: [sh, -c, 'echo task-output-marker']\n";

std::string RunIdOf(const CliResult& r) { return r.out.substr(0, r.out.find('\n')); }

// The run's summary line on stderr, with the run id and the elapsed time
// made alike.
std::string Summary(const CliResult& r) {
  std::smatch m;
  std::regex_search(r.err, m, std::regex("portflow: run [^\n]*"));
  std::string line = std::regex_replace(m.str(), std::regex(RunIdOf(r)), "RUN");
  return std::regex_replace(line, std::regex(" in [0-9.]+s;"), " in Ts;");
}

class DiagnosticsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    unsetenv("PORTFLOW_LOG");
    dir_ = ::testing::TempDir() + "diagnostics_" + std::to_string(::getpid());
    fs::remove_all(dir_);
    fs::create_directories(dir_ + "/work");
    WriteFile(dir_ + "/work/w.yaml", kWorkload);
  }
  void TearDown() override {
    unsetenv("PORTFLOW_LOG");
    if (cluster_.pid > 0) {
      EXPECT_EQ(StopCluster(cluster_.pid), 0);
    }
    fs::remove_all(dir_);
  }
  // `portflow [-v] cluster serve`; its stderr is DIR/serve.err.
  void Serve(std::vector<std::string> args) {
    ServedCluster c = ServeCluster(dir_, std::move(args));
    ASSERT_GT(c.pid, 0) << c.error;
    cluster_ = c;
  }
  std::string RunLogOf(const std::string& run) {
    return ReadFile(dir_ + "/work/.portflow/runs/" + run + "/portflow.log");
  }

  std::string dir_;
  ServedCluster cluster_;
};

TEST_F(DiagnosticsTest, VerboseShowsApiRequestsAndTheDefaultOutputIsUnchanged) {
  Serve({"-v", "--pod-duration", "200ms"});
  WriteFile(dir_ + "/work/portflow.yaml", "targets:\n  onprem: {backend: kubernetes, kubeconfig: " +
                                              dir_ + "/kubeconfig, image: busybox}\n");
  CliResult verbose = RunCli({"-v", "run", "w.yaml", "--target", "onprem"}, dir_ + "/work");
  ASSERT_EQ(verbose.exit_code, 0) << verbose.out << verbose.err;
  EXPECT_THAT(verbose.err,
              ContainsRegex("\nportflow\\[debug\\] api: POST https://127\\.0\\.0\\.1:[0-9]+/apis/"
                            "batch/v1/namespaces/default/jobs 201 Created in [0-9]+ ms\n"));
  EXPECT_THAT(verbose.err, ContainsRegex("\nportflow\\[debug\\] api: GET https://127\\.0\\.0\\.1:"
                                         "[0-9]+/api/v1/namespaces/default/pods\\?labelSelector="
                                         "portflow\\.dev/run%3D[^ ]+ 200 OK in [0-9]+ ms\n"));
  EXPECT_THAT(verbose.err,
              ContainsRegex("portflow\\[debug\\] engine: hello attempt 1: (Pending|Running) -> "
                            "Succeeded\n"));
  EXPECT_THAT(verbose.err, Not(HasSubstr("portflow[trace]")));
  // The served side's access log (-v given after `cluster serve`).
  EXPECT_THAT(ReadFile(dir_ + "/serve.err"),
              ContainsRegex("\nportflow\\[info\\] serve: POST /apis/batch/v1/namespaces/default/"
                            "jobs 201 Created in [0-9]+ ms\n"));

  // Without -v: the run's own lines only, as before diagnostics existed.
  CliResult plain = RunCli({"run", "w.yaml", "--target", "onprem"}, dir_ + "/work");
  ASSERT_EQ(plain.exit_code, 0) << plain.out << plain.err;
  EXPECT_THAT(plain.err, Not(HasSubstr("portflow[")));
  EXPECT_THAT(plain.err, Not(HasSubstr(" api: ")));
  std::istringstream lines(plain.err);
  for (std::string line; std::getline(lines, line);) {
    EXPECT_EQ(line.rfind("portflow: ", 0), 0u) << line;
  }
  EXPECT_EQ(Summary(plain), Summary(verbose));
  // The run log is written either way.
  EXPECT_THAT(RunLogOf(RunIdOf(plain)), HasSubstr(" api: POST "));
}

TEST_F(DiagnosticsTest, TheLevelComesFromTheFlagsThenPortflowLog) {
  setenv("PORTFLOW_LOG", "debug", 1);
  CliResult env = RunCli({"run", "w.yaml"}, dir_ + "/work");
  ASSERT_EQ(env.exit_code, 0) << env.err;
  EXPECT_THAT(env.err, HasSubstr("portflow[debug] engine: hello attempt 1: Waiting -> Pending"));
  EXPECT_THAT(env.err, HasSubstr("portflow[debug] engine: admitting hello attempt 1: "
                                 "needs cpu=1 memory=0 gpu=0 (local can start it now)"));
  EXPECT_THAT(env.err, ContainsRegex("portflow\\[debug\\] local: started hello attempt 1 replica 0 "
                                     "as pid [0-9]+: /[^ ]*/sh, output to "));
  // The flag wins, before or after the subcommand.
  CliResult quiet = RunCli({"run", "w.yaml", "--log-level", "warn"}, dir_ + "/work");
  ASSERT_EQ(quiet.exit_code, 0) << quiet.err;
  EXPECT_THAT(quiet.err, Not(HasSubstr("portflow[")));
  setenv("PORTFLOW_LOG", "off", 1);
  CliResult verbose = RunCli({"run", "-v", "w.yaml"}, dir_ + "/work");
  ASSERT_EQ(verbose.exit_code, 0) << verbose.err;
  EXPECT_THAT(verbose.err, HasSubstr("portflow[debug] engine: "));
  // The local run's log: the engine's decisions, not the task's output.
  std::string log = RunLogOf(RunIdOf(verbose));
  EXPECT_THAT(log, ContainsRegex(" debug \\[[0-9]+\\] engine: hello attempt 1: (Pending|Running) "
                                 "-> Succeeded\n"));
  EXPECT_THAT(verbose.out, HasSubstr("task-output-marker"));
  EXPECT_THAT(log, Not(HasSubstr("task-output-marker")));

  // A wrong level is a usage error, whichever way it comes.
  CliResult bad_flag = RunCli({"runs", "--log-level", "loud"}, dir_ + "/work");
  EXPECT_EQ(bad_flag.exit_code, 2);
  EXPECT_EQ(bad_flag.err,
            "portflow: --log-level: unknown log level \"loud\"; one of trace, debug, info, warn, "
            "error, off\n");
  setenv("PORTFLOW_LOG", "chatty", 1);
  CliResult bad_env = RunCli({"runs"}, dir_ + "/work");
  EXPECT_EQ(bad_env.exit_code, 2);
  EXPECT_EQ(bad_env.err,
            "portflow: PORTFLOW_LOG: unknown log level \"chatty\"; one of trace, debug, info, "
            "warn, error, off\n");
  unsetenv("PORTFLOW_LOG");

  CliResult help = RunCli({"--help"}, dir_ + "/work");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, HasSubstr("-v,--verbose"));
  EXPECT_THAT(help.out, HasSubstr("--log-level LEVEL"));
  EXPECT_THAT(help.out, HasSubstr("$PORTFLOW_LOG"));
  EXPECT_THAT(help.out, HasSubstr("RUN_DIR/portflow.log"));
}

// Credentials (a static token, basic auth, a client certificate and key, an
// exec plugin's token and what else it prints) and a Secret's data, planted
// where portflow meets them, reach none of its output at -vv.
TEST_F(DiagnosticsTest, NoCredentialOrSecretReachesAnyLog) {
  Serve({"-v", "--mode", "execute", "--work-dir", dir_ + "/cluster"});
  // The exec plugin hands out the cluster's own token (which it checks);
  // the other credentials are refused with 401, after being sent.
  const std::vector<std::string> planted = {cluster_.token,
                                            "planted-plugin-stderr-07b1",
                                            "planted-static-token-5d1e",
                                            "planted-password-c3aa",
                                            "planted-client-key-e8f0",
                                            "planted-client-cert-2a64",
                                            "planted-secret-data-44aa",
                                            Base64Encode("planted-secret-data-44aa")};

  // A Secret with planted data, created through the API; the step's pod
  // takes it as environment variables.
  ShellResult secret =
      ClusterRequest(cluster_, "POST", "/api/v1/namespaces/default/secrets",
                     "{\"apiVersion\": \"v1\", \"kind\": \"Secret\", "
                     "\"metadata\": {\"name\": \"planted\"}, \"data\": {\"PLANTED\": \"" +
                         planted.back() + "\"}}");
  ASSERT_EQ(secret.code, 0) << secret.out;

  WriteFile(dir_ + "/plugin.sh",
            "#!/bin/sh\necho planted-plugin-stderr-07b1 >&2\n"
            "echo '{\"apiVersion\": \"client.authentication.k8s.io/v1beta1\", \"kind\": "
            "\"ExecCredential\", \"status\": {\"token\": \"" +
                cluster_.token + "\"}}'\n");
  fs::permissions(dir_ + "/plugin.sh", fs::perms::owner_all);
  std::smatch ca;
  std::string served = ReadFile(cluster_.kubeconfig);
  ASSERT_TRUE(std::regex_search(served, ca, std::regex("certificate-authority-data: (\\S+)")));
  auto kubeconfig = [&](const std::string& name, const std::string& user) {
    WriteFile(dir_ + "/" + name,
              "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: '" +
                  cluster_.url + "', certificate-authority-data: " + ca[1].str() +
                  "}\nusers:\n- name: u\n  user:\n" + user +
                  "contexts:\n- name: c\n  context: {cluster: c, user: u, namespace: default}\n"
                  "current-context: c\n");
  };
  kubeconfig(
      "kc-exec",
      "    exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: ./plugin.sh}\n");
  kubeconfig("kc-token", "    token: planted-static-token-5d1e\n");
  kubeconfig("kc-basic", "    username: admin\n    password: planted-password-c3aa\n");
  kubeconfig("kc-cert", "    client-certificate-data: " +
                            Base64Encode("-----BEGIN CERTIFICATE-----\nplanted-client-cert-2a64\n"
                                         "-----END CERTIFICATE-----\n") +
                            "\n    client-key-data: " +
                            Base64Encode("-----BEGIN PRIVATE KEY-----\nplanted-client-key-e8f0\n"
                                         "-----END PRIVATE KEY-----\n") +
                            "\n");
  std::string targets = "targets:\n";
  for (const char* name : {"exec", "token", "basic", "cert"}) {
    targets += std::string("  ") + name + ": {backend: kubernetes, kubeconfig: " + dir_ + "/kc-" +
               name + ", image: busybox, envFromSecrets: [planted]}\n";
  }
  WriteFile(dir_ + "/work/portflow.yaml", targets);

  CliResult run = RunCli({"-vv", "run", "w.yaml", "--target", "exec"}, dir_ + "/work");
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  std::string run_log = RunLogOf(RunIdOf(run));
  ASSERT_FALSE(run_log.empty()) << "no portflow.log in the run directory";
  EXPECT_THAT(run_log, ContainsRegex(" debug \\[[0-9]+\\] api: POST https://127\\.0\\.0\\.1:[0-9]+/"
                                     "apis/batch/v1/namespaces/default/jobs 201 Created in "));
  EXPECT_THAT(run_log, HasSubstr(" engine: hello attempt 1: Waiting -> Pending (attempt 1)\n"));
  // (A quick task may end before it is seen running.)
  EXPECT_THAT(run_log, ContainsRegex(" engine: hello attempt 1: (Pending|Running) -> Succeeded\n"));
  EXPECT_THAT(run_log, HasSubstr(" k8s: created in default for hello attempt 1: "));
  EXPECT_THAT(run_log, Not(HasSubstr(" trace ")));  // the run log stops at debug
  EXPECT_THAT(run_log, Not(HasSubstr("task-output-marker")));
  EXPECT_THAT(run.out, HasSubstr("task-output-marker"));
  EXPECT_THAT(run.err, HasSubstr("portflow[debug] api: GET https://127.0.0.1:"));
  EXPECT_THAT(run.err, HasSubstr("portflow[trace] watch: "));

  // Every target probed: the other credentials are sent too.
  CliResult probed = RunCli({"targets", "-vv", "-o", "json"}, dir_ + "/work");
  ASSERT_EQ(probed.exit_code, 0) << probed.err;
  EXPECT_THAT(probed.out, ContainsRegex("\"name\": \"exec\",[^}]*\"reachable\": true"));
  for (const char* name : {"token", "basic"}) {
    EXPECT_THAT(
        probed.out,
        ContainsRegex(std::string("\"message\": \"[^\"]*Unauthorized[^\"]*\",\\s*\"name\": \"") +
                      name + "\",\\s*\"reachable\": false"));
  }
  EXPECT_THAT(probed.out, ContainsRegex("\"name\": \"cert\",\\s*\"reachable\": false"));
  EXPECT_THAT(probed.err, HasSubstr("portflow[debug] api: GET https://127.0.0.1:"));

  std::string serve_log = ReadFile(dir_ + "/serve.err");
  EXPECT_THAT(serve_log, HasSubstr("portflow[info] serve: POST /api/v1/namespaces/default/secrets "
                                   "201 Created in "));
  for (const std::string& secret_text : planted) {
    for (const auto& [where, text] :
         std::vector<std::pair<std::string, std::string>>{{"run stdout", run.out},
                                                          {"run stderr", run.err},
                                                          {"portflow.log", run_log},
                                                          {"targets stdout", probed.out},
                                                          {"targets stderr", probed.err},
                                                          {"cluster serve stderr", serve_log}}) {
      EXPECT_THAT(text, Not(HasSubstr(secret_text))) << secret_text << " in " << where;
    }
  }
}

}  // namespace
}  // namespace portflow::testing
