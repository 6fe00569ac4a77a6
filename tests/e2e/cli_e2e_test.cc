// End to end through the real binary: the commands a user types.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "tests/testing/cli_runner.h"

namespace portflow::testing {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;
namespace fs = std::filesystem;

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "e2e_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name() + "_" +
           std::to_string(::getpid());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // `spec` goes before the steps (such as "  image: busybox\n").
  std::string Workload(const std::string& steps, const std::string& name = "w",
                       const std::string& spec = "") {
    std::string path = dir_ + "/" + name + ".yaml";
    WriteFile(path, "apiVersion: portflow.dev/v1\nkind: Workload\nmetadata: {name: " + name +
                        "}\nspec:\n" + spec + "  steps:\n" + steps);
    return path;
  }

  CliResult Cli(const std::vector<std::string>& args) { return RunCli(args, dir_); }
  // The process has exited (a zombie whose parent died counts).
  static bool Gone(pid_t pid) {
    return ::kill(pid, 0) != 0 ||
           ReadFile("/proc/" + std::to_string(pid) + "/stat").find(" Z ") != std::string::npos;
  }

  json Status(const std::string& run) {
    CliResult r = Cli({"status", run, "-o", "json"});
    return json::parse(r.out, nullptr, false);
  }

  std::string InstanceState(const json& status, const std::string& name) {
    for (const auto& i : status["instances"]) {
      if (i["name"] == name) return i["state"];
    }
    return "";
  }

  std::string FirstLine(const std::string& s) { return s.substr(0, s.find('\n')); }

  std::string dir_;
};

TEST_F(CliTest, LaptopScenarioPicksAModel) {
  std::string pipeline = std::string(PORTFLOW_SOURCE_DIR) + "/scenarios/laptop-dev/pipeline.yaml";
  CliResult r = Cli({"run", pipeline});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  std::string run = FirstLine(r.out);
  EXPECT_THAT(run, ::testing::StartsWith("laptop-dev-"));
  std::string run_dir = dir_ + "/.portflow/runs/" + run;
  json best = json::parse(ReadFile(run_dir + "/outputs/pick/best/best.json"), nullptr, false);
  ASSERT_TRUE(best.is_object()) << ReadFile(run_dir + "/outputs/pick/best/best.json");
  EXPECT_EQ(best["model"], "lr=0.1");
  EXPECT_GT(best["accuracy"].get<double>(), 0.85);
  // Both replicas of both matrix instances logged, and really met.
  for (const char* inst : {"train[lr=0.1]", "train[lr=0.01]"}) {
    for (int rank = 0; rank < 2; ++rank) {
      std::string log = ReadFile(run_dir + "/logs/" + inst + ".attempt-1.replica-" +
                                 std::to_string(rank) + ".log");
      EXPECT_THAT(log, HasSubstr("rank " + std::to_string(rank) + "/2 done")) << inst;
    }
  }
  EXPECT_THAT(r.out, HasSubstr("train[lr=0.1]/1 | rank 1/2 done"));
  json st = Status(run);
  EXPECT_EQ(st["state"], "Succeeded");
  EXPECT_EQ(st["instances"].size(), 5u);
  CliResult logs = Cli({"logs", run, "pick"});
  EXPECT_EQ(logs.exit_code, 0);
  EXPECT_THAT(logs.out, HasSubstr("best model: lr=0.1"));
  CliResult runs = Cli({"runs"});
  EXPECT_THAT(runs.out, HasSubstr(run));
  EXPECT_THAT(runs.out, HasSubstr("Succeeded"));
}

TEST_F(CliTest, ValidateAndUsageExitCodes) {
  std::string good = Workload("    - {name: a, command: [echo, hi]}\n");
  EXPECT_EQ(Cli({"validate", good}).exit_code, 0);
  std::string bad = Workload("    - {name: a, comand: [echo, hi]}\n", "bad");
  CliResult r = Cli({"validate", bad});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(
      r.err,
      HasSubstr("bad.yaml:6:17: unknown field \"comand\" in step; did you mean \"command\"?"));
  EXPECT_EQ(Cli({"run", bad}).exit_code, 2);
  EXPECT_EQ(Cli({"frobnicate"}).exit_code, 2);
  EXPECT_EQ(Cli({"status", "no-such-run"}).exit_code, 2);
  EXPECT_EQ(Cli({"validate", dir_ + "/missing.yaml"}).exit_code, 1);
  CliResult help = Cli({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, HasSubstr("resume"));
}

TEST_F(CliTest, RenderShowsExactlyWhatWouldRun) {
  std::string w = Workload(
      "    - {name: a, command: [echo, \"{{outputs.o}}\"], outputs: [o], env: {X: \"1\"}}\n"
      "    - {name: b, needs: [a], matrix: {lr: [\"0.1\"]}, replicas: 2, command: [cat, "
      "\"{{steps.a.outputs.o}}\"]}\n");
  CliResult r = Cli({"render", w, "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json doc = json::parse(r.out);
  ASSERT_EQ(doc["tasks"].size(), 2u);
  const json& a = doc["tasks"][0];
  EXPECT_EQ(a["instance"], "a");
  EXPECT_EQ(a["replicas"][0]["argv"][1], dir_ + "/.portflow/runs/RUN_ID/outputs/a/o");
  EXPECT_EQ(a["replicas"][0]["env"]["X"], "1");
  EXPECT_EQ(a["replicas"][0]["cwd"], dir_);
  const json& b = doc["tasks"][1];
  EXPECT_EQ(b["instance"], "b[lr=0.1]");
  EXPECT_EQ(b["needs"][0], "a");
  EXPECT_EQ(b["replicas"].size(), 2u);
  EXPECT_EQ(b["replicas"][1]["env"]["RANK"], "1");
  EXPECT_FALSE(fs::exists(dir_ + "/.portflow"));  // nothing ran, nothing was written
  CliResult yaml = Cli({"render", w});
  EXPECT_EQ(yaml.exit_code, 0);
  EXPECT_THAT(yaml.out, HasSubstr("instance: \"b[lr=0.1]\""));
}

// The laptop scenario rendered for a cluster target: compared with a golden
// file (PORTFLOW_UPDATE_GOLDEN=1 rewrites it), then the shipped-code form.
TEST_F(CliTest, RenderForAClusterTarget) {
  const std::string scenario = std::string(PORTFLOW_SOURCE_DIR) + "/scenarios/laptop-dev";
  CopyScenario("laptop-dev", dir_ + "/laptop");
  WriteFile(
      dir_ + "/laptop/portflow.yaml",
      "targets:\n"
      "  onprem: {backend: kubernetes, namespace: ml, queue: team-a, code: image,\n"
      "           tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]}\n"
      "  shipped: {backend: kubernetes, namespace: ml}\n"
      "  full: {backend: kubernetes, namespace: ml, serviceAccount: trainer, queue: team-a,\n"
      "         imagePullSecrets: [regcred], envFromSecrets: [hf-token], nodeSelector: {pool: "
      "gpu},\n"
      "         labels: {team: a},\n"
      "         annotations: {owner: me}, artifactsClaim: ml-artifacts, ttlAfterFinished: 10m,\n"
      "         cleanup: keep, tolerations: [{key: g, operator: Exists, effect: NoExecute,\n"
      "                                       tolerationSeconds: 30}, {key: pool, value: 1}]}\n"
      "  typo: {backend: kubernetes, namespce: ml}\n");
  const std::string pipeline = dir_ + "/laptop/pipeline.yaml";
  CliResult r = Cli({"render", pipeline, "--target", "onprem"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string golden =
      std::string(PORTFLOW_SOURCE_DIR) + "/tests/golden/render-laptop-dev-onprem.yaml";
  if (std::getenv("PORTFLOW_UPDATE_GOLDEN")) WriteFile(golden, r.out);
  EXPECT_EQ(r.out, ReadFile(golden)) << "the rendered Jobs changed; if that is meant, run the test "
                                        "with PORTFLOW_UPDATE_GOLDEN=1 and review the diff";

  CliResult shipped = Cli({"render", pipeline, "--target", "shipped", "-o", "json"});
  ASSERT_EQ(shipped.exit_code, 0) << shipped.err;
  json doc = json::parse(shipped.out);
  const json& objects = doc["tasks"][0]["objects"];
  ASSERT_EQ(objects[0]["kind"], "ConfigMap");
  EXPECT_EQ(objects[0]["data"]["train.py"], ReadFile(scenario + "/train.py"));
  const json& pod = objects[1]["spec"]["template"]["spec"];
  EXPECT_EQ(pod["containers"][0]["workingDir"], "/portflow/code");
  EXPECT_EQ(pod["volumes"][1]["configMap"]["name"], objects[0]["metadata"]["name"]);
  EXPECT_FALSE(fs::exists(dir_ + "/laptop/.portflow"));  // nothing ran, nothing was written

  // Every rendered object, with every target setting, against the
  // Kubernetes API's schema as the official Python client carries it.
  CliResult full = Cli({"render", pipeline, "--target", "full"});
  ASSERT_EQ(full.exit_code, 0) << full.err;
  WriteFile(dir_ + "/full.yaml", full.out);
  WriteFile(dir_ + "/shipped.json", shipped.out);
  for (const std::string& rendered : {golden, dir_ + "/full.yaml", dir_ + "/shipped.json"}) {
    ShellResult schema = RunShell("/usr/bin/python3 " + std::string(PORTFLOW_SOURCE_DIR) +
                                  "/tests/e2e/rendered_objects_check.py " + rendered + " 2>&1");
    EXPECT_EQ(schema.code, 0) << rendered << "\n" << schema.out;
    EXPECT_THAT(schema.out, HasSubstr("rendered objects: ok")) << rendered;
  }
  // And against the 1.33 OpenAPI schema (types, formats, enums, required
  // fields) with kubernetes-models (scripts/install-deps.sh installs it).
  CliResult full_json = Cli({"render", pipeline, "--target", "full", "-o", "json"});
  ASSERT_EQ(full_json.exit_code, 0) << full_json.err;
  WriteFile(dir_ + "/full.json", full_json.out);
  ShellResult openapi =
      RunShell("node " + std::string(PORTFLOW_SOURCE_DIR) + "/tests/schema/check.mjs " + dir_ +
               "/full.json " + dir_ + "/shipped.json 2>&1");
  EXPECT_EQ(openapi.code, 0) << openapi.out;
  EXPECT_THAT(openapi.out, HasSubstr("schema: ok"));

  CliResult typo = Cli({"render", pipeline, "--target", "typo"});
  EXPECT_EQ(typo.exit_code, 2);
  EXPECT_THAT(typo.err, HasSubstr("unknown setting \"namespce\" for the kubernetes backend"));
}

// The built-in rehearsal target: the laptop scenario as Kubernetes Jobs on
// the embedded fake cluster, with no kubeconfig and no portflow.yaml.
TEST_F(CliTest, RehearsalTargetNeedsNoSetup) {
  CopyScenario("laptop-dev", dir_ + "/laptop");
  CliResult r = RunCli({"run", "pipeline.yaml", "--target", "rehearsal"}, dir_ + "/laptop");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("best model: lr=0.1"));
  EXPECT_THAT(r.err, HasSubstr("Submitted: Job default/"));  // Jobs, not processes
  std::string run = FirstLine(r.out);
  // The summary names the outputs' directory on this machine.
  const std::string outputs = fs::absolute(dir_).lexically_normal().string() +
                              "/laptop/.portflow/rehearsal/volumes/default/portflow-artifacts/" +
                              run;
  EXPECT_THAT(r.err, HasSubstr(", outputs in " + outputs + "\n"));
  EXPECT_TRUE(fs::exists(outputs + "/pick/best/best.json"));
  CliResult copied = RunCli({"outputs", run, "pick", "--to", dir_ + "/got"}, dir_ + "/laptop");
  EXPECT_EQ(copied.exit_code, 0) << copied.err;
  EXPECT_EQ(ReadFile(dir_ + "/got/pick/best/best.json"),
            ReadFile(outputs + "/pick/best/best.json"));
  CliResult logs = RunCli({"logs", run, "train[lr=0.1]"}, dir_ + "/laptop");
  EXPECT_THAT(logs.out, HasSubstr("rank 1/2 done"));
}

TEST_F(CliTest, FailureIsReportedWithExitCodeAndLogs) {
  std::string w = Workload(
      "    - {name: a, script: \"echo failing now; exit 4\"}\n"
      "    - {name: b, needs: [a], command: [echo, never]}\n");
  CliResult r = Cli({"run", w});
  EXPECT_EQ(r.exit_code, 1);
  std::string run = FirstLine(r.out);
  json st = Status(run);
  EXPECT_EQ(st["state"], "Failed");
  EXPECT_EQ(InstanceState(st, "a"), "Failed");
  EXPECT_EQ(InstanceState(st, "b"), "Skipped");
  EXPECT_EQ(st["instances"][0]["attemptList"][0]["exitCode"], 4);
  EXPECT_THAT(Cli({"logs", run, "a"}).out, HasSubstr("failing now"));
}

// A step that printed nothing: its log is empty, though its file went to
// the next step's log (local target), and `logs` says so once the run is
// over.
TEST_F(CliTest, TheLogOfAStepThatPrintedNothingIsEmpty) {
  std::string w = Workload(
      "    - {name: quiet, command: [\"true\"]}\n"
      "    - {name: loud, needs: [quiet], command: [echo, said]}\n");
  CliResult r = Cli({"run", w});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string run = FirstLine(r.out);
  std::string logs = dir_ + "/.portflow/runs/" + run + "/logs/";
  EXPECT_FALSE(fs::exists(logs + "quiet.attempt-1.replica-0.log"));
  CliResult quiet = Cli({"logs", run, "quiet"});
  EXPECT_EQ(quiet.exit_code, 0);
  EXPECT_EQ(quiet.out, "");
  EXPECT_EQ(quiet.err, "portflow: no log output: printed nothing\n");
  EXPECT_EQ(Cli({"logs", run, "loud"}).out, "said\n");
}

TEST_F(CliTest, ImpossibleGpuRequestFailsBeforeAnythingStarts) {
  std::string w = Workload("    - {name: a, command: [touch, started], resources: {gpu: 4}}\n");
  CliResult r = Cli({"run", w});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("step \"a\" needs cpu=1 memory=0 gpu=4"));
  EXPECT_THAT(r.err, HasSubstr("it could never start"));
  EXPECT_FALSE(fs::exists(dir_ + "/started"));
  EXPECT_TRUE(r.out.empty());
}

// What the target refuses or cannot do is said before a run exists (exit
// 2, "nothing was started"): no image, code too large to ship, a missing
// kubeconfig, an API server that does not answer (at once, naming its URL).
TEST_F(CliTest, TargetProblemsStopTheRunBeforeItStarts) {
  WriteFile(dir_ + "/kc",
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: "
            "\"http://127.0.0.1:1\"}\nusers:\n- name: u\n  user: {}\ncontexts:\n- name: c\n"
            "  context: {cluster: c, user: u}\ncurrent-context: c\n");
  // A cluster that answers, reached with a wrong token, or without its CA.
  fs::create_directories(dir_ + "/srv");
  ServedCluster cluster = ServeCluster(dir_ + "/srv", {});
  ASSERT_EQ(cluster.error, "");
  std::string kubeconfig = ReadFile(cluster.kubeconfig);
  std::string wrong_token = kubeconfig, no_ca;
  wrong_token.replace(wrong_token.find(cluster.token), cluster.token.size(), "0123");
  std::istringstream lines(kubeconfig);
  for (std::string line; std::getline(lines, line);)
    if (line.find("certificate-authority-data") == std::string::npos) no_ca += line + "\n";
  WriteFile(dir_ + "/srv/wrong-token", wrong_token);
  WriteFile(dir_ + "/srv/no-ca", no_ca);
  WriteFile(dir_ + "/portflow.yaml",
            "targets:\n  down: {backend: kubernetes, kubeconfig: " + dir_ +
                "/kc}\n  nokc: {backend: kubernetes, kubeconfig: " + dir_ +
                "/missing}\n  badtoken: {backend: kubernetes, kubeconfig: " + dir_ +
                "/srv/wrong-token}\n  untrusted: {backend: kubernetes, kubeconfig: " + dir_ +
                "/srv/no-ca}\n");
  std::string no_image = Workload("    - {name: a, command: [touch, started]}\n", "noimage");
  CliResult r = Cli({"run", no_image, "--target", "rehearsal"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("nothing was started"));
  EXPECT_THAT(r.err, HasSubstr("\nstep a has no image: set spec.image"));

  std::string w = Workload("    - {name: a, command: [touch, started]}\n", "w", "  image: x\n");
  auto start = std::chrono::steady_clock::now();
  r = Cli({"run", w, "--target", "down"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("nothing was started: target down is unreachable"));
  EXPECT_THAT(r.err, HasSubstr("http://127.0.0.1:1"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
  r = Cli({"run", w, "--target", "nokc"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("target nokc is unreachable: kubeconfig " + dir_ + "/missing"));
  r = Cli({"run", w, "--target", "badtoken"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("target badtoken is unreachable: the API server at " + cluster.url +
                               " refused the credentials of kubeconfig " + dir_ +
                               "/srv/wrong-token (context portflow-fake, user portflow-fake) "
                               "(Unauthorized): its token or client certificate is wrong or "
                               "has expired"));
  r = Cli({"run", w, "--target", "untrusted"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err,
              HasSubstr("target untrusted is unreachable: TLS: the certificate of " + cluster.url +
                        " is not trusted by the certificate authority of "
                        "kubeconfig " +
                        dir_ + "/srv/no-ca (context portflow-fake"));
  EXPECT_EQ(StopCluster(cluster.pid), 0);

  WriteFile(dir_ + "/big.bin", std::string(1200 * 1024, 'x'));
  r = Cli({"run", w, "--target", "rehearsal"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(
      r.err,
      HasSubstr("bytes, over the 1 MiB a ConfigMap holds. The largest files:\n  1.2Mi  big.bin\n"));

  EXPECT_FALSE(fs::exists(dir_ + "/started"));
  EXPECT_EQ(Cli({"runs", "-o", "json"}).out, "[]\n") << "a run was made";

  // `targets`: a broken target keeps to its line; memory in binary units.
  std::string table = Cli({"targets"}).out;
  EXPECT_EQ(std::count(table.begin(), table.end(), '\n'), 9) << table;  // a header, 8 targets
  EXPECT_THAT(table, ::testing::ContainsRegex("\nlaptop +local +ready +[^ ]+ +-/[0-9.]+[KMGT]i "));
}

TEST_F(CliTest, StrictRefusesWhatTheBackendIgnores) {
  std::string path = dir_ + "/img.yaml";
  WriteFile(path,
            "apiVersion: portflow.dev/v1\nkind: Workload\nmetadata: {name: img}\nspec:\n"
            "  image: python:3\n  steps:\n    - {name: a, command: [\"true\"]}\n");
  CliResult loose = Cli({"run", path});
  EXPECT_EQ(loose.exit_code, 0);
  EXPECT_THAT(loose.err,
              HasSubstr("warning: the local backend ignores image (local runs the command "
                        "on the host, without a container); used by: a"));
  CliResult strict = Cli({"run", "--strict", path});
  EXPECT_EQ(strict.exit_code, 2);
  EXPECT_THAT(strict.err, HasSubstr("used by: a; --strict refuses it"));
}

// A hybrid target of two laptops, one of one CPU and one of two: the
// laptop pipeline runs unchanged, each attempt placed on the first member
// that can start it (the second training on the bigger one), the pick step
// reading what both made; status names each attempt's member and the
// decisions with their reasons.
TEST_F(CliTest, AHybridTargetPlacesEachAttemptOnAMember) {
  CopyScenario("laptop-dev", dir_ + "/laptop");
  WriteFile(dir_ + "/laptop/portflow.yaml",
            "targets:\n"
            "  small: {backend: local, cpu: 1}\n"
            "  big: {backend: local, cpu: 2}\n"
            "  both: {backend: hybrid, members: [small, big]}\n");
  CliResult r = Cli({"run", dir_ + "/laptop/pipeline.yaml", "--target", "both", "--plain"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  std::string run = FirstLine(r.out);
  json st = Status(run);
  std::map<std::string, std::string> member;
  for (const auto& i : st["instances"]) {
    ASSERT_FALSE(i["attemptList"].empty()) << i.dump();
    member[i["name"]] = i["attemptList"].back().value("member", "");
  }
  EXPECT_EQ(member["prepare"], "small");
  EXPECT_EQ(member["train[lr=0.1]"], "small");
  EXPECT_EQ(member["train[lr=0.01]"], "big") << st.dump(2);
  EXPECT_EQ(member["pick"], "small");
  // One placement decision an attempt: five, or more where a training's
  // rendezvous failed and was retried (the step allows one retry).
  size_t attempts = 0;
  for (const auto& i : st["instances"]) attempts += i["attemptList"].size();
  EXPECT_GE(attempts, 5u);
  ASSERT_EQ(st["decisions"].size(), attempts) << st["decisions"].dump(2);
  std::string placed;
  for (const auto& d : st["decisions"])
    placed += d["instance"].get<std::string>() + " -> " + d["message"].get<std::string>() + "\n";
  EXPECT_THAT(placed, HasSubstr("train[lr=0.01] -> big: can start it now (small: "));
  json best = json::parse(
      ReadFile(dir_ + "/.portflow/runs/" + run + "/outputs/pick/best/best.json"), nullptr, false);
  EXPECT_EQ(best["model"], "lr=0.1") << best.dump();
  std::string text = Cli({"status", run}).out;
  EXPECT_THAT(text, ::testing::ContainsRegex("\ntrain\\[lr=0.01\\] +Succeeded +1 +[^ ]+ +big "));
  EXPECT_THAT(text, HasSubstr("\ndecisions:\n"));
  EXPECT_THAT(text, HasSubstr(" train[lr=0.01] #1 -> big: can start it now"));
  // render shows each member's form of a task before placement.
  json rendered =
      json::parse(Cli({"render", dir_ + "/laptop/pipeline.yaml", "-t", "both", "-o", "json"}).out,
                  nullptr, false);
  ASSERT_TRUE(rendered.contains("tasks")) << rendered.dump();
  EXPECT_TRUE(rendered["tasks"][0]["members"].contains("big")) << rendered["tasks"][0].dump();
}

// kill -9 of portflow mid-run on a hybrid target, then resume: each
// member is asked about its own attempts, nothing is lost and every
// decision is kept; then kill -9 again and `cancel` reaches both members.
TEST_F(CliTest, AHybridRunSurvivesKill9AndCancelReachesEveryMember) {
  WriteFile(dir_ + "/portflow.yaml",
            "targets:\n"
            "  small: {backend: local, cpu: 1}\n"
            "  big: {backend: local, cpu: 1}\n"
            "  both: {backend: hybrid, members: [small, big]}\n");
  const std::string task =
      "echo $$ >> $PORTFLOW_INSTANCE.pids; if [ $PORTFLOW_ATTEMPT = 1 ]; then sleep 60; fi";
  std::string w = Workload("    - {name: a, resources: {cpu: 1}, script: \"" + task +
                           "\"}\n"
                           "    - {name: b, resources: {cpu: 1}, script: \"" +
                           task + "\"}\n");
  auto started = [&](const std::string& name) { return !ReadFile(dir_ + "/" + name).empty(); };
  pid_t pid = StartCli({"run", w, "-t", "both"}, dir_, dir_ + "/run.out", dir_ + "/run.err");
  ASSERT_TRUE(
      WaitFor([&] { return started("a.pids") && started("b.pids"); }, std::chrono::seconds(30)))
      << ReadFile(dir_ + "/run.err");
  ::kill(pid, SIGKILL);
  WaitChild(pid, std::chrono::seconds(10));
  std::string run = FirstLine(ReadFile(dir_ + "/run.out"));
  pid_t orphan_a = std::stoi(ReadFile(dir_ + "/a.pids"));
  pid_t orphan_b = std::stoi(ReadFile(dir_ + "/b.pids"));
  CliResult r = Cli({"resume", run});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(WaitFor([&] { return Gone(orphan_a) && Gone(orphan_b); }, std::chrono::seconds(10)));
  json st = Status(run);
  EXPECT_EQ(st["state"], "Succeeded");
  std::set<std::string> first_members;
  for (const auto& i : st["instances"]) {
    ASSERT_EQ(i["attemptList"].size(), 2u) << i.dump();
    EXPECT_EQ(i["attemptList"][0]["reason"], "Interrupted");
    first_members.insert(i["attemptList"][0].value("member", ""));
    EXPECT_NE(i["attemptList"][1].value("member", ""), "");
  }
  EXPECT_EQ(first_members, (std::set<std::string>{"small", "big"})) << st.dump(2);
  EXPECT_EQ(st["decisions"].size(), 4u) << "two placements before the kill, two after";

  // Again, and this time cancel what the dead portflow left on both.
  std::string w2 = Workload(
      "    - {name: a, resources: {cpu: 1}, script: \"echo $$ > a.pid; sleep 60\"}\n"
      "    - {name: b, resources: {cpu: 1}, script: \"echo $$ > b.pid; sleep 60\"}\n",
      "w2");
  pid = StartCli({"run", w2, "-t", "both"}, dir_, dir_ + "/run2.out", dir_ + "/run2.err");
  ASSERT_TRUE(
      WaitFor([&] { return started("a.pid") && started("b.pid"); }, std::chrono::seconds(30)));
  ::kill(pid, SIGKILL);
  WaitChild(pid, std::chrono::seconds(10));
  pid_t task_a = std::stoi(ReadFile(dir_ + "/a.pid")),
        task_b = std::stoi(ReadFile(dir_ + "/b.pid"));
  std::string run2 = FirstLine(ReadFile(dir_ + "/run2.out"));
  CliResult c = Cli({"cancel", run2});
  EXPECT_EQ(c.exit_code, 0) << c.err;
  EXPECT_TRUE(WaitFor([&] { return Gone(task_a) && Gone(task_b); }, std::chrono::seconds(10)));
  for (pid_t t : {task_a, task_b})
    if (!Gone(t)) ::kill(t, SIGKILL);  // ours: not left behind by a failure
  json st2 = Status(run2);
  EXPECT_EQ(st2["state"], "Cancelled");
  EXPECT_EQ(InstanceState(st2, "a"), "Cancelled");
  EXPECT_EQ(InstanceState(st2, "b"), "Cancelled");
}

// A hybrid target's mistakes point at the line: an unknown member at the
// members setting, a broken member at its own setting.
TEST_F(CliTest, HybridTargetErrorsPointAtTheLine) {
  std::string w = Workload("    - {name: a, command: [\"true\"]}\n");
  WriteFile(dir_ + "/portflow.yaml",
            "targets:\n"
            "  small: {backend: local, cpu: lots}\n"
            "  typo: {backend: hybrid, members: [laptop, smal]}\n"
            "  broken: {backend: hybrid, members: [laptop, small]}\n"
            "  self: {backend: hybrid, members: [self]}\n"
            "  apart: {backend: hybrid, members: [laptop, rehearsal]}\n");
  CliResult typo = Cli({"run", w, "--target", "typo"});
  EXPECT_EQ(typo.exit_code, 2);
  EXPECT_THAT(typo.err, HasSubstr(dir_ + "/portflow.yaml:3:36: target typo: setting members: "
                                         "unknown target \"smal\"; did you mean \"small\"?"));
  CliResult broken = Cli({"run", w, "--target", "broken"});
  EXPECT_EQ(broken.exit_code, 2);
  EXPECT_THAT(broken.err, HasSubstr(dir_ + "/portflow.yaml:2:32: target small: setting cpu: "));
  CliResult self = Cli({"run", w, "--target", "self"});
  EXPECT_THAT(self.err, HasSubstr("a hybrid target cannot be its own member"));
  CliResult apart = Cli({"run", w, "--target", "apart"});
  EXPECT_EQ(apart.exit_code, 2);
  EXPECT_THAT(apart.err, HasSubstr("setting members: members laptop and rehearsal keep outputs in "
                                   "different places"));
}

// Laptop tasks inherit the shell's environment, which a cluster's
// container does not; render names what is inherited, and --strict (or
// env: clean on a local target) keeps only what finds the tools.
TEST_F(CliTest, StrictRunsWithoutTheShellsEnvironment) {
  std::string w =
      Workload("    - {name: a, script: \"echo got=${PORTFLOW_TEST_EXPORTED:-none}\"}\n");
  ::setenv("PORTFLOW_TEST_EXPORTED", "yes", 1);
  CliResult loose = Cli({"run", w, "--plain"});
  CliResult strict = Cli({"run", w, "--plain", "--strict"});
  CliResult render = Cli({"render", w, "-o", "json"});
  WriteFile(dir_ + "/portflow.yaml", "targets:\n  clean: {backend: local, env: clean}\n");
  CliResult clean = Cli({"run", w, "--plain", "--target", "clean"});
  ::unsetenv("PORTFLOW_TEST_EXPORTED");
  EXPECT_THAT(loose.out, HasSubstr("a/0 | got=yes"));
  EXPECT_EQ(strict.exit_code, 0) << strict.err;
  EXPECT_THAT(strict.out, HasSubstr("a/0 | got=none"));
  EXPECT_THAT(clean.out, HasSubstr("a/0 | got=none"));
  json rendered = json::parse(render.out, nullptr, false);
  ASSERT_TRUE(rendered.contains("tasks")) << render.out;
  const json& inherited = rendered["tasks"][0]["inheritedEnv"];
  EXPECT_EQ(inherited["mode"], "inherit");
  EXPECT_THAT(inherited["names"].dump(), HasSubstr("\"PORTFLOW_TEST_EXPORTED\""));
}

TEST_F(CliTest, TimeoutStopsTheProcessGroup) {
  std::string w = Workload(
      "    - {name: slow, timeout: 1s, script: \"sleep 60 & echo $! > child.pid; wait\"}\n");
  auto start = std::chrono::steady_clock::now();
  CliResult r = Cli({"run", w});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
  json st = Status(FirstLine(r.out));
  EXPECT_EQ(st["instances"][0]["attemptList"][0]["reason"], "Timeout");
  pid_t child = std::stoi(ReadFile(dir_ + "/child.pid"));
  EXPECT_TRUE(WaitFor(
      [&] {
        return ::kill(child, 0) != 0 ||
               ReadFile("/proc/" + std::to_string(child) + "/stat").find(" Z ") !=
                   std::string::npos;
      },
      std::chrono::seconds(5)));
}

TEST_F(CliTest, CancelFromAnotherTerminal) {
  std::string w = Workload("    - {name: slow, script: \"echo started; sleep 60\"}\n");
  pid_t pid = StartCli({"run", w}, dir_, dir_ + "/run.out", dir_ + "/run.err");
  ASSERT_GT(pid, 0);
  std::string run;
  ASSERT_TRUE(WaitFor(
      [&] {
        run = FirstLine(ReadFile(dir_ + "/run.out"));
        return !run.empty() && ReadFile(dir_ + "/run.out").find("started") != std::string::npos;
      },
      std::chrono::seconds(30)));
  CliResult c = Cli({"cancel", run});
  EXPECT_EQ(c.exit_code, 0) << c.err;
  EXPECT_THAT(c.out, HasSubstr("Cancelled"));
  EXPECT_EQ(WaitChild(pid, std::chrono::seconds(30)), 1);
  EXPECT_EQ(Status(run)["state"], "Cancelled");
}

TEST_F(CliTest, CtrlCCancelsGracefully) {
  std::string w = Workload(
      "    - {name: slow, script: \"trap 'echo got TERM; exit 0' TERM; echo started; sleep 60 & "
      "wait\"}\n");
  pid_t pid = StartCli({"run", w}, dir_, dir_ + "/run.out", dir_ + "/run.err");
  ASSERT_TRUE(
      WaitFor([&] { return ReadFile(dir_ + "/run.out").find("started") != std::string::npos; },
              std::chrono::seconds(30)));
  ::kill(pid, SIGINT);
  EXPECT_EQ(WaitChild(pid, std::chrono::seconds(30)), 1);
  std::string run = FirstLine(ReadFile(dir_ + "/run.out"));
  EXPECT_EQ(Status(run)["state"], "Cancelled");
  EXPECT_THAT(ReadFile(dir_ + "/run.out"), HasSubstr("got TERM"));
}

TEST_F(CliTest, SecondCtrlCForces) {
  // The task ignores SIGTERM: only the second Ctrl-C (SIGKILL) stops it.
  std::string w = Workload(
      "    - {name: stubborn, script: \"trap '' TERM; echo started; while true; do sleep 0.1; "
      "done\"}\n");
  pid_t pid = StartCli({"run", w}, dir_, dir_ + "/run.out", dir_ + "/run.err");
  ASSERT_TRUE(
      WaitFor([&] { return ReadFile(dir_ + "/run.out").find("started") != std::string::npos; },
              std::chrono::seconds(30)));
  ::kill(pid, SIGINT);
  // The first is taken (and said) before the second is sent: two signals
  // that come before the engine looks count as one.
  ASSERT_TRUE(WaitFor(
      [&] {
        return ReadFile(dir_ + "/run.err")
                   .find(
                       "portflow: cancelling: stopping running tasks gracefully; Ctrl-C again "
                       "kills them\n") != std::string::npos;
      },
      std::chrono::seconds(30)));
  auto start = std::chrono::steady_clock::now();
  ::kill(pid, SIGINT);
  EXPECT_EQ(WaitChild(pid, std::chrono::seconds(30)), 1);
  // Well inside the 10 s grace period that the first Ctrl-C granted.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_THAT(ReadFile(dir_ + "/run.err"),
              HasSubstr("portflow: cancelling: killing running tasks\n"));
  EXPECT_EQ(Status(FirstLine(ReadFile(dir_ + "/run.out")))["state"], "Cancelled");
}

TEST_F(CliTest, LogsFollowEndsWithTheRun) {
  std::string w = Workload(
      "    - {name: talk, script: \"for i in 1 2 3 4 5; do echo line $i; sleep 0.2; done\"}\n");
  pid_t run = StartCli({"run", w}, dir_, dir_ + "/run.out", dir_ + "/run.err");
  std::string id;
  ASSERT_TRUE(WaitFor(
      [&] {
        id = FirstLine(ReadFile(dir_ + "/run.out"));
        return !id.empty();
      },
      std::chrono::seconds(30)));
  pid_t follow = StartCli({"logs", id, "talk", "-f"}, dir_, dir_ + "/logs.out", dir_ + "/logs.err");
  EXPECT_EQ(WaitChild(follow, std::chrono::seconds(30)), 0);  // returns by itself
  EXPECT_EQ(WaitChild(run, std::chrono::seconds(30)), 0);
  EXPECT_EQ(ReadFile(dir_ + "/logs.out"), "line 1\nline 2\nline 3\nline 4\nline 5\n");
}

TEST_F(CliTest, TerminalGetsTheCompactLiveView) {
  std::string w = Workload(
      "    - {name: a, script: \"echo first; sleep 0.5; echo the answer is 42\"}\n"
      "    - {name: b, needs: [a], command: [echo, bye]}\n");
  // script(1) gives portflow a terminal; its output is what a user would see.
  ShellResult tty = RunShell("cd " + dir_ + " && script -qec '" + PortflowBinary() + " run " + w +
                             "' /dev/null 2>&1");
  const std::string& screen = tty.out;
  EXPECT_EQ(tty.code, 0) << screen;
  EXPECT_THAT(screen, HasSubstr("\x1b["));  // redrawn in place
  EXPECT_THAT(screen, HasSubstr("2/2 done"));
  EXPECT_THAT(screen, HasSubstr("| the answer is 42"));           // a task's last line
  EXPECT_THAT(screen, ::testing::Not(HasSubstr("a/0 | first")));  // no interleaved lines
  // --plain keeps the prefixed lines on a terminal.
  ShellResult plain = RunShell("cd " + dir_ + " && script -qec '" + PortflowBinary() +
                               " run --plain " + w + "' /dev/null 2>&1");
  EXPECT_THAT(plain.out, HasSubstr("a/0 | first"));
  // A Ctrl-C (here the task sends portflow its SIGINT) is said under the
  // heading while the tasks stop.
  std::string c = Workload("    - {name: c, script: \"kill -INT $PPID; sleep 5\"}\n", "c");
  ShellResult cancelled = RunShell("cd " + dir_ + " && script -qec '" + PortflowBinary() + " run " +
                                   c + "' /dev/null 2>&1");
  EXPECT_NE(cancelled.code, 0) << cancelled.out;
  EXPECT_THAT(
      cancelled.out,
      HasSubstr("  cancelling: stopping running tasks gracefully; Ctrl-C again kills them"));
}

// kill -9 of portflow in the middle of a run, then resume: what succeeded is
// not run again, orphans are stopped, and no record or log is lost.
TEST_F(CliTest, ResumeAfterKill9) {
  std::string w = Workload(
      "    - {name: first, script: \"echo ran >> first.count\"}\n"
      "    - {name: second, needs: [first], script: \"echo attempt $PORTFLOW_ATTEMPT; echo $$ >> "
      "second.pids; "
      "if [ $PORTFLOW_ATTEMPT = 1 ]; then sleep 60; fi\"}\n"
      "    - {name: third, needs: [second], command: [echo, done]}\n");
  pid_t pid = StartCli({"run", w}, dir_, dir_ + "/run.out", dir_ + "/run.err");
  ASSERT_TRUE(
      WaitFor([&] { return ReadFile(dir_ + "/run.out").find("attempt 1") != std::string::npos; },
              std::chrono::seconds(30)));
  std::string run = FirstLine(ReadFile(dir_ + "/run.out"));
  ::kill(pid, SIGKILL);
  WaitChild(pid, std::chrono::seconds(10));
  pid_t orphan = std::stoi(ReadFile(dir_ + "/second.pids"));
  ASSERT_EQ(::kill(orphan, 0), 0) << "the orphan should still run after kill -9";
  // Its portflow is gone: shown as Interrupted, with what to do.
  EXPECT_EQ(Status(run)["state"], "Interrupted");
  EXPECT_THAT(Cli({"runs"}).out, HasSubstr(" Interrupted "));
  EXPECT_THAT(Cli({"status", run}).out, HasSubstr("`portflow resume " + run + "` goes on"));

  CliResult r = Cli({"resume", run});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(FirstLine(r.out), run);
  EXPECT_EQ(ReadFile(dir_ + "/first.count"), "ran\n");  // not run again
  EXPECT_TRUE(WaitFor([&] { return Gone(orphan); }, std::chrono::seconds(5)));
  json st = Status(run);
  EXPECT_EQ(st["state"], "Succeeded");
  EXPECT_EQ(InstanceState(st, "third"), "Succeeded");
  const json& attempts = st["instances"][1]["attemptList"];
  ASSERT_EQ(attempts.size(), 2u);
  EXPECT_EQ(attempts[0]["reason"], "Interrupted");
  EXPECT_EQ(attempts[1]["state"], "Succeeded");
  std::string runs = dir_ + "/.portflow/runs/" + run + "/logs/second";
  EXPECT_THAT(ReadFile(runs + ".attempt-1.replica-0.log"), HasSubstr("attempt 1"));
  EXPECT_THAT(ReadFile(runs + ".attempt-2.replica-0.log"), HasSubstr("attempt 2"));
  // Each attempt's log by number; the latest by default.
  EXPECT_EQ(Cli({"logs", run, "second", "--attempt", "1"}).out, "attempt 1\n");
  EXPECT_EQ(Cli({"logs", run, "second"}).out, "attempt 2\n");
  CliResult none = Cli({"logs", run, "second", "--attempt", "3"});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_THAT(none.err, HasSubstr("has no attempt 3 of \"second\""));
  EXPECT_GT(st["instances"][1]["durationMs"].get<int64_t>(), 0);
  EXPECT_THAT(Cli({"status", run}).out, HasSubstr("ATTEMPTS   DURATION"));
  EXPECT_EQ(Cli({"resume", run}).exit_code, 0);  // nothing left to do
}

// kill -9 of portflow on the rehearsal target: its embedded cluster dies
// with it, but the pods it ran as processes here do not. `portflow cancel`
// stops them (as `resume` does before running the work again).
TEST_F(CliTest, RehearsalPodsOutlivingPortflowAreStoppedByCancel) {
  std::string w =
      Workload("    - {name: long, script: \"echo $$ > " + dir_ + "/pod.pid; sleep 60\"}\n",
               "orphan", "  image: busybox\n");
  pid_t pid =
      StartCli({"run", w, "--target", "rehearsal"}, dir_, dir_ + "/run.out", dir_ + "/run.err");
  ASSERT_TRUE(
      WaitFor([&] { return !ReadFile(dir_ + "/pod.pid").empty(); }, std::chrono::seconds(30)))
      << ReadFile(dir_ + "/run.err");
  ::kill(pid, SIGKILL);
  WaitChild(pid, std::chrono::seconds(10));
  pid_t pod = std::stoi(ReadFile(dir_ + "/pod.pid"));
  ASSERT_FALSE(Gone(pod)) << "the pod's process should outlive portflow";
  std::string run = FirstLine(ReadFile(dir_ + "/run.out"));
  CliResult r = Cli({"cancel", run});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(WaitFor([&] { return Gone(pod); }, std::chrono::seconds(10)));
  if (!Gone(pod)) ::kill(pod, SIGKILL);  // ours: not left behind by a failure
  EXPECT_EQ(InstanceState(Status(run), "long"), "Cancelled");
}

// kill -9 of portflow, then `cancel`: the run, its attempts and every
// instance (running or still waiting) end Cancelled; none stays Running.
TEST_F(CliTest, CancelAfterKill9EndsEveryInstance) {
  std::string w = Workload("    - {name: long, script: \"echo $$ > " + dir_ +
                           "/task.pid; sleep 60\"}\n"
                           "    - {name: after, needs: [long], command: [echo, later]}\n");
  pid_t pid = StartCli({"run", w}, dir_, dir_ + "/run.out", dir_ + "/run.err");
  ASSERT_TRUE(
      WaitFor([&] { return !ReadFile(dir_ + "/task.pid").empty(); }, std::chrono::seconds(30)));
  ::kill(pid, SIGKILL);
  WaitChild(pid, std::chrono::seconds(10));
  pid_t task = std::stoi(ReadFile(dir_ + "/task.pid"));
  std::string run = FirstLine(ReadFile(dir_ + "/run.out"));
  CliResult r = Cli({"cancel", run});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(WaitFor([&] { return Gone(task); }, std::chrono::seconds(10)));
  if (!Gone(task)) ::kill(task, SIGKILL);
  json st = Status(run);
  EXPECT_EQ(st["state"], "Cancelled");
  EXPECT_EQ(InstanceState(st, "long"), "Cancelled");
  EXPECT_EQ(InstanceState(st, "after"), "Cancelled");
  EXPECT_EQ(st["instances"][0]["attemptList"][0]["state"], "Cancelled");
}

// Two rehearsal runs at once from one directory: their embedded clusters
// give their pods different uids, so neither touches the other's pod
// folders, and no folder is left once they have ended.
TEST_F(CliTest, TwoRehearsalRunsAtOnceFromOneDirectory) {
  std::string w = Workload(
      "    - {name: a, script: \"echo a-$PORTFLOW_RUN_ID > $HOME/out; sleep 0.5; cat $HOME/out\"}\n"
      "    - {name: b, needs: [a], script: \"echo b\"}\n",
      "w", "  image: busybox\n");
  pid_t one = StartCli({"run", w, "--target", "rehearsal", "--plain"}, dir_, dir_ + "/one.out",
                       dir_ + "/one.err");
  pid_t two = StartCli({"run", w, "--target", "rehearsal", "--plain"}, dir_, dir_ + "/two.out",
                       dir_ + "/two.err");
  EXPECT_EQ(WaitChild(one, std::chrono::seconds(60)), 0) << ReadFile(dir_ + "/one.err");
  EXPECT_EQ(WaitChild(two, std::chrono::seconds(60)), 0) << ReadFile(dir_ + "/two.err");
  for (const char* name : {"one", "two"}) {
    std::string out = ReadFile(dir_ + "/" + name + ".out");
    EXPECT_THAT(out, HasSubstr("a/0 | a-" + FirstLine(out))) << "a run read another's file";
  }
  std::error_code ec;
  EXPECT_TRUE(fs::is_empty(dir_ + "/.portflow/rehearsal/pods", ec)) << "pod folders left behind";
}

// A run is found by its id from any directory (the per-user index), and
// `runs --all` lists the runs of every directory portflow ran in.
TEST_F(CliTest, RunsAreFoundFromAnyDirectory) {
  const std::string before = std::getenv("XDG_STATE_HOME") ? std::getenv("XDG_STATE_HOME") : "";
  ::setenv("XDG_STATE_HOME", (dir_ + "/xdg").c_str(), 1);
  fs::create_directories(dir_ + "/project");
  fs::create_directories(dir_ + "/elsewhere");
  WriteFile(dir_ + "/project/w.yaml",
            "apiVersion: portflow.dev/v1\nkind: Workload\nmetadata: {name: w}\nspec:\n  steps:\n"
            "    - {name: a, command: [echo, found]}\n");
  CliResult r = RunCli({"run", "w.yaml"}, dir_ + "/project");
  std::string run = FirstLine(r.out);
  CliResult status = RunCli({"status", run, "-o", "json"}, dir_ + "/elsewhere");
  CliResult logs = RunCli({"logs", run, "a"}, dir_ + "/elsewhere");
  CliResult all = RunCli({"runs", "--all", "-o", "json"}, dir_ + "/elsewhere");
  CliResult unknown = RunCli({"status", "no-such-run"}, dir_ + "/elsewhere");
  ::setenv("XDG_STATE_HOME", before.c_str(), 1);  // the other tests' own again
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(status.exit_code, 0) << status.err;
  EXPECT_EQ(json::parse(status.out, nullptr, false)["state"], "Succeeded");
  EXPECT_EQ(logs.out, "found\n");
  json listed = json::parse(all.out, nullptr, false);
  ASSERT_EQ(listed.size(), 1u) << all.out;
  EXPECT_EQ(listed[0]["id"], run);
  EXPECT_EQ(listed[0]["stateDir"], fs::absolute(dir_ + "/project/.portflow").string());
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_THAT(unknown.err, HasSubstr("no run \"no-such-run\""));
  EXPECT_FALSE(fs::exists(dir_ + "/elsewhere/.portflow")) << "looking made a store";
}

// Problems in portflow.yaml carry FILE:LINE:COL, as workload errors do: at
// the setting a backend refuses, at an unknown top-level key.
TEST_F(CliTest, TargetFileErrorsPointAtTheLine) {
  std::string w = Workload("    - {name: a, command: [\"true\"]}\n");
  WriteFile(dir_ + "/portflow.yaml",
            "targets:\n  small:\n    backend: local\n    cpu: lots\n"
            "  k8s: {backend: kubernetes, namespce: ml}\n");
  CliResult cpu = Cli({"run", w, "--target", "small"});
  EXPECT_EQ(cpu.exit_code, 2);
  EXPECT_THAT(cpu.err, HasSubstr(dir_ + "/portflow.yaml:4:10: target small: setting cpu: "));
  CliResult typo = Cli({"render", w, "--target", "k8s"});
  EXPECT_EQ(typo.exit_code, 2);
  EXPECT_THAT(typo.err, HasSubstr(dir_ + "/portflow.yaml:5:40: target k8s: unknown setting "
                                         "\"namespce\" for the kubernetes backend"));
  // `targets` lists a broken target on its line, and the others.
  WriteFile(dir_ + "/portflow.yaml",
            "targets:\n  nobackend: {cpu: 2}\n  small:\n    backend: local\n    cpu: lots\n");
  CliResult listed = Cli({"targets"});
  EXPECT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_THAT(listed.out, ::testing::ContainsRegex("\nnobackend +broken: [^\n]*portflow.yaml:2:14: "
                                                   "target nobackend has no"));
  EXPECT_THAT(listed.out, ::testing::ContainsRegex("\nsmall +local +broken: "));
  EXPECT_THAT(listed.out, ::testing::ContainsRegex("\nlaptop +local +ready "));
  CliResult chosen = Cli({"run", w, "--target", "nobackend"});
  EXPECT_EQ(chosen.exit_code, 2);
  EXPECT_THAT(chosen.err, HasSubstr("portflow.yaml:2:14: target nobackend has no backend"));
  WriteFile(dir_ + "/portflow.yaml", "# mine\ntarget:\n  small: {backend: local}\n");
  CliResult key = Cli({"run", w, "--target", "small"});
  EXPECT_EQ(key.exit_code, 2);
  EXPECT_THAT(key.err, HasSubstr(dir_ + "/portflow.yaml:2:1: unknown key \"target\" (known: "
                                        "targets); did you mean \"targets\"?"));
}

// The rehearsal fails what a real cluster fails: a step that writes into
// its shipped working directory (a read-only ConfigMap volume there). The
// laptop allows it.
TEST_F(CliTest, RehearsalRefusesWritesIntoTheShippedCode) {
  std::string w =
      Workload("    - {name: a, script: \"echo x > out.txt\"}\n", "w", "  image: busybox\n");
  CliResult laptop = Cli({"run", w});
  EXPECT_EQ(laptop.exit_code, 0) << laptop.err;
  CliResult rehearsal = Cli({"run", w, "--target", "rehearsal"});
  EXPECT_EQ(rehearsal.exit_code, 1);
  json st = Status(FirstLine(rehearsal.out));
  EXPECT_THAT(st["instances"][0]["message"].get<std::string>(),
              HasSubstr("the container wrote /portflow/code/out.txt, where a real cluster mounts "
                        "its volume read-only (Read-only file system)"));
}

// A symlink loop in the workload's folder is not shipped, and aborts
// nothing (render and run used to die on an uncaught filesystem_error).
TEST_F(CliTest, ASymlinkLoopInTheWorkloadFolderIsLeftOut) {
  std::string w = Workload("    - {name: a, script: \"ls\"}\n", "w", "  image: busybox\n");
  fs::create_symlink("loop-b", dir_ + "/loop-a");
  fs::create_symlink("loop-a", dir_ + "/loop-b");
  CliResult render = Cli({"render", w, "--target", "rehearsal"});
  EXPECT_EQ(render.exit_code, 0) << render.err;
  CliResult run = Cli({"run", w, "--target", "rehearsal", "--plain"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("a/0 | w.yaml"));
  EXPECT_THAT(run.out, ::testing::Not(HasSubstr("loop-a")));
}

// Bytes that are not UTF-8: a -p value is refused (it would reach commands
// and JSON), and a workload file whose name holds one runs and stays
// readable through -o json (the bad byte shown as U+FFFD).
TEST_F(CliTest, BytesThatAreNotUtf8AbortNothing) {
  std::string w =
      Workload("    - {name: a, command: [echo, \"{{params.p}}\"]}\n", "w", "  params: {p: x}\n");
  for (const char* command : {"validate", "render", "run"}) {
    CliResult r = Cli({command, w, "-p", "p=\xff"});
    EXPECT_EQ(r.exit_code, std::string(command) == "validate" ? 1 : 2) << command << r.err;
    EXPECT_THAT(r.err, HasSubstr("-p p: not valid UTF-8")) << command;
  }
  std::string odd = dir_ + "/w\xff.yaml";
  fs::copy_file(w, odd);
  CliResult run = Cli({"run", odd});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  CliResult runs = Cli({"runs", "-o", "json"});
  EXPECT_EQ(runs.exit_code, 0) << runs.err;
  json listed = json::parse(runs.out, nullptr, false);
  ASSERT_TRUE(listed.is_array()) << runs.out;
  EXPECT_EQ(listed[0]["file"], odd.substr(0, odd.size() - 6) + "\xef\xbf\xbd.yaml");
  EXPECT_EQ(Cli({"status", FirstLine(run.out), "-o", "json"}).exit_code, 0);
}

// Under a low limit on open files, 200 steps wait for room instead of
// aborting portflow or failing; a gang that could never fit is refused.
TEST_F(CliTest, ALowLimitOnOpenFilesIsAWait) {
  std::string values;
  for (int i = 0; i < 200; ++i) values += (i ? "," : "") + std::to_string(i);
  std::string w = Workload("    - name: s\n      matrix: {i: [" + values +
                               "]}\n      resources: {cpu: 1m, memory: 1Mi}\n"
                               "      command: [sleep, \"0.2\"]\n",
                           "w", "  image: busybox\n");
  // portflow ARGS under a hard and soft limit of `files` open files.
  auto under = [&](int files, const std::string& args) {
    ShellResult r = RunShell(
        "cd " + dir_ + " && timeout 60 prlimit --nofile=" + std::to_string(files) + ":" +
        std::to_string(files) + " " + PortflowBinary() + " " + args + " 2>" + dir_ + ".err");
    CliResult result{r.code, r.out, ReadFile(dir_ + ".err")};
    std::remove((dir_ + ".err").c_str());
    return result;
  };
  CliResult run = under(40, "run " + w);
  EXPECT_EQ(run.exit_code, 0) << run.err;
  json status = Status(FirstLine(run.out));
  EXPECT_EQ(status["state"], "Succeeded");
  ASSERT_EQ(status["instances"].size(), 200u);
  for (const auto& i : status["instances"]) EXPECT_EQ(i["attempts"], 1) << i.dump();

  // The rehearsal's cluster shares portflow's descriptors: its pods wait too.
  CliResult rehearsal = under(96, "run --target rehearsal " + w);
  EXPECT_EQ(rehearsal.exit_code, 0) << rehearsal.err;
  EXPECT_EQ(Status(FirstLine(rehearsal.out))["state"], "Succeeded");

  std::string gang = Workload(
      "    - {name: g, replicas: 20, resources: {cpu: 1m, memory: 1Mi}, command: [true]}\n",
      "gang");
  CliResult refused = under(40, "run " + gang);
  EXPECT_EQ(refused.exit_code, 2) << refused.err;
  EXPECT_THAT(refused.err, HasSubstr("step \"g\" could never start on the local backend: its 20 "
                                     "processes would pass the limit on open files "
                                     "(ulimit -n 40 lets 16 run at once): raise it"));
}

TEST_F(CliTest, TargetCapacityLimitsParallelism) {
  // Two steps that fail if they ever overlap.
  std::string w = Workload(
      "    - {name: a, script: \"mkdir lock || exit 9; sleep 0.5; rmdir lock\"}\n"
      "    - {name: b, script: \"mkdir lock || exit 9; sleep 0.5; rmdir lock\"}\n");
  WriteFile(dir_ + "/portflow.yaml", "targets:\n  one-cpu: {backend: local, cpu: 1}\n");
  CliResult serial = Cli({"run", "--target", "one-cpu", w});
  EXPECT_EQ(serial.exit_code, 0) << serial.err;
  CliResult parallel = Cli({"run", w});  // the laptop target has this machine's 2+ cores
  EXPECT_EQ(parallel.exit_code, 1);
  CliResult unknown = Cli({"run", "--target", "one-cpus", w});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_THAT(unknown.err, HasSubstr("unknown target \"one-cpus\"; did you mean \"one-cpu\"?"));
}

TEST_F(CliTest, ParamsOverrideAndUnknownParams) {
  std::string path = dir_ + "/p.yaml";
  WriteFile(path,
            "apiVersion: portflow.dev/v1\nkind: Workload\nmetadata: {name: p}\nspec:\n"
            "  params: {who: world}\n  steps:\n    - {name: a, command: [echo, \"hello "
            "{{params.who}}\"]}\n");
  CliResult r = Cli({"run", path, "-p", "who=portflow"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr("a/0 | hello portflow"));
  CliResult bad = Cli({"run", path, "-p", "wh0=x"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.err, HasSubstr("did you mean \"who\""));
}

}  // namespace
}  // namespace portflow::testing
