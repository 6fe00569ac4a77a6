// The real kubectl against `portflow cluster serve`: what kubectl users do.
// Table output, logs, describe, wait and Jobs running, as kubectl shows them.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "tests/testing/cli_runner.h"

namespace portflow::testing {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

using Shell = ShellResult;

class KubectlTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // CTest runs each case in its own process, in parallel: one server each.
    dir_ = new std::string(::testing::TempDir() + "kubectl_compat_" + std::to_string(::getpid()));
    fs::remove_all(*dir_);
    ServedCluster c = ServeCluster(*dir_, {"--nodes", "3", "--gpus", "1"});
    ASSERT_GT(c.pid, 0) << c.error;
    cluster_ = new ServedCluster(c);
  }
  static void TearDownTestSuite() {
    if (cluster_) {
      EXPECT_EQ(StopCluster(cluster_->pid), 0);  // Ctrl-C/SIGTERM stop it cleanly
    }
    fs::remove_all(*dir_);
    delete dir_;
    delete cluster_;
    cluster_ = nullptr;
  }

  // kubectl with a fresh HOME (its discovery cache lives there).
  Shell Kubectl(const std::string& args, const std::string& stdin_text = "") {
    return testing::Kubectl(*dir_, args, stdin_text);
  }

  static std::string* dir_;
  static ServedCluster* cluster_;
};

std::string* KubectlTest::dir_ = nullptr;
ServedCluster* KubectlTest::cluster_ = nullptr;

constexpr const char* kJob = R"yaml(apiVersion: batch/v1
kind: Job
metadata: {name: train, labels: {portflow.dev/run: r1}}
spec:
  completions: 3
  template:
    metadata: {annotations: {sim.portflow.dev/duration: 1h}}  # Running (0/3) while the test looks
    spec:
      restartPolicy: Never
      containers: [{name: main, image: python:3.12, command: [python3, -c, "print(1)"]}]
)yaml";

TEST_F(KubectlTest, VersionAndNodes) {
  Shell v = Kubectl("version -o json");
  ASSERT_EQ(v.code, 0) << v.out;
  auto j = nlohmann::json::parse(v.out.substr(v.out.find('{')));
  EXPECT_EQ(j["serverVersion"]["minor"], "32");
  Shell nodes = Kubectl("get nodes -o json");
  ASSERT_EQ(nodes.code, 0) << nodes.out;
  auto n = nlohmann::json::parse(nodes.out);
  ASSERT_EQ(n["items"].size(), 3u);
  EXPECT_EQ(n["items"][2]["metadata"]["labels"]["kubernetes.io/hostname"], "node-3");
  EXPECT_EQ(n["items"][0]["status"]["allocatable"]["nvidia.com/gpu"], "1");
  Shell plain = Kubectl("get nodes");
  EXPECT_THAT(plain.out,
              ::testing::MatchesRegex("NAME +STATUS +ROLES +AGE +VERSION\n"
                                      "node-1 +Ready +<none> +[0-9]+s +v1.32.0\n(.|\n)*"));
  EXPECT_THAT(Kubectl("get nodes -o wide").out, HasSubstr("INTERNAL-IP"));
  Shell yaml = Kubectl("get node node-2 -o yaml");
  EXPECT_THAT(yaml.out, HasSubstr("kubernetes.io/os: linux"));
}

TEST_F(KubectlTest, CreateApplyAndErrors) {
  Shell c = Kubectl("create -f -", kJob);
  ASSERT_EQ(c.code, 0) << c.out;
  EXPECT_THAT(c.out, HasSubstr("job.batch/train created"));
  Shell again = Kubectl("create -f -", kJob);
  EXPECT_NE(again.code, 0);
  EXPECT_THAT(again.out, HasSubstr("Error from server (AlreadyExists)"));
  EXPECT_THAT(again.out, HasSubstr("jobs.batch \"train\" already exists"));
  Shell applied = Kubectl("apply -f -", kJob);
  EXPECT_EQ(applied.code, 0) << applied.out;
  EXPECT_THAT(Kubectl("apply -f -", kJob).out, HasSubstr("job.batch/train unchanged"));
  std::string changed = kJob;
  changed.replace(changed.find("completions: 3"), 14, "completions: 3\n  parallelism: 2");
  EXPECT_THAT(Kubectl("apply -f -", changed).out, HasSubstr("job.batch/train configured"));
  EXPECT_EQ(Kubectl("get job train -o jsonpath={.spec.parallelism}").out, "2");
  EXPECT_THAT(Kubectl("get jobs").out,
              ::testing::MatchesRegex("NAME +STATUS +COMPLETIONS +DURATION +AGE\n"
                                      "train +Running +0/3 +[0-9]+s +[0-9]+s\n"));
  // As on a real cluster, a Job's completions and template are fixed.
  changed.replace(changed.find("completions: 3"), 14, "completions: 4");
  Shell immutable = Kubectl("apply -f -", changed);
  EXPECT_NE(immutable.code, 0);
  EXPECT_THAT(immutable.out, HasSubstr("The Job \"train\" is invalid: spec.completions: Invalid "
                                       "value: 4: field is immutable"));
  std::string invalid = kJob;
  invalid.replace(invalid.find("restartPolicy: Never"), 20, "restartPolicy: Always");
  invalid.replace(invalid.find("name: train"), 11, "name: bad");
  Shell rejected = Kubectl("create -f -", invalid);
  EXPECT_NE(rejected.code, 0);
  EXPECT_THAT(rejected.out,
              HasSubstr("The Job \"bad\" is invalid: spec.template.spec.restartPolicy: "
                        "Unsupported value: \"Always\""));
  Shell missing = Kubectl("get pod nope");
  EXPECT_NE(missing.code, 0);
  EXPECT_THAT(missing.out, HasSubstr("Error from server (NotFound): pods \"nope\" not found"));
  EXPECT_THAT(Kubectl("delete job train").out, HasSubstr("job.batch \"train\" deleted"));
}

// Jobs run in simulate mode: pods last sim.portflow.dev/duration and exit
// with sim.portflow.dev/exit-code.
std::string SimJob(const std::string& name, int completions, int exit_code) {
  return "apiVersion: batch/v1\nkind: Job\nmetadata: {name: " + name +
         "}\nspec:\n  completions: " + std::to_string(completions) +
         "\n  parallelism: 2\n  backoffLimit: 1\n  template:\n    metadata:\n"
         "      annotations: {sim.portflow.dev/duration: 300ms, sim.portflow.dev/exit-code: \"" +
         std::to_string(exit_code) +
         "\"}\n    spec:\n      restartPolicy: Never\n"
         "      containers: [{name: main, image: x}]\n";
}

TEST_F(KubectlTest, JobsRunToCompleteOrFailed) {
  ASSERT_EQ(Kubectl("create -f -", SimJob("done", 3, 0)).code, 0);
  Shell wait = Kubectl("wait --for=condition=complete job/done --timeout=60s");
  EXPECT_EQ(wait.code, 0) << wait.out;
  EXPECT_THAT(wait.out, HasSubstr("job.batch/done condition met"));
  EXPECT_THAT(Kubectl("get jobs done").out, ::testing::ContainsRegex("done +Complete +3/3"));
  Shell pods = Kubectl("get pods -l job-name=done");
  EXPECT_THAT(pods.out, ::testing::ContainsRegex("done-[a-z0-9]{5} +0/1 +Completed +0"));
  ASSERT_EQ(Kubectl("create -f -", SimJob("broken", 1, 2)).code, 0);
  Shell failed = Kubectl("wait --for=condition=failed job/broken --timeout=60s");
  EXPECT_EQ(failed.code, 0) << failed.out;
  EXPECT_EQ(
      Kubectl("get job broken -o 'jsonpath={.status.conditions[?(@.type==\"Failed\")].reason}'")
          .out,
      "BackoffLimitExceeded");
  EXPECT_THAT(Kubectl("get pods -l job-name=broken").out, HasSubstr("Error"));
  // Logs of a pod and of a Job; -f ends when the pod does.
  EXPECT_THAT(Kubectl("logs job/done").out, HasSubstr("exited with code 0"));
  // (kubectl's "Found 3 pods, using pod/..." line comes first.)
  EXPECT_THAT(Kubectl("logs job/done --tail=1").out,
              ::testing::EndsWith("\nportflow simulate: exited with code 0\n"));
  EXPECT_THAT(Kubectl("logs job/done --limit-bytes=17").out,
              ::testing::EndsWith("\nportflow simulate"));
  EXPECT_THAT(Kubectl("logs job/done --previous").out,
              HasSubstr("previous terminated container \"main\" in pod"));
  ASSERT_EQ(Kubectl("create -f -", SimJob("talk", 1, 0)).code, 0);
  ASSERT_EQ(Kubectl("wait --for=jsonpath={.status.active}=1 job/talk --timeout=30s").code, 0);
  Shell follow = Kubectl("logs -f job/talk");
  EXPECT_EQ(follow.code, 0);
  EXPECT_THAT(follow.out, HasSubstr("started; it runs for 300ms"));
  EXPECT_THAT(follow.out, HasSubstr("exited with code 0"));
  // describe shows the owner and the events of a pod.
  std::string pod = Kubectl("get pods -l job-name=done -o name").out;
  pod = pod.substr(0, pod.find('\n'));
  Shell describe = Kubectl("describe " + pod);
  EXPECT_THAT(describe.out, ::testing::ContainsRegex("Controlled By: +Job/done"));
  EXPECT_THAT(describe.out, ::testing::ContainsRegex(
                                "Normal +Scheduled .* default-scheduler +Successfully assigned"));
  EXPECT_THAT(describe.out, ::testing::ContainsRegex("Normal +Started .* kubelet "));
  // A Job's pod takes a label, as on a real cluster: its spec was stored
  // as the API server defaults it, so the update changes no spec field.
  Shell label = Kubectl("label " + pod + " team=ml");
  EXPECT_EQ(label.code, 0) << label.out;
  EXPECT_THAT(label.out, HasSubstr(pod + " labeled"));
  // --sort-by needs whole objects in the Table rows (includeObject=Object).
  Shell sorted = Kubectl("get events --sort-by=.metadata.creationTimestamp -o name");
  EXPECT_THAT(sorted.out, HasSubstr("event/"));
  Shell by_name = Kubectl("get pods -l job-name=done --sort-by=.metadata.name");
  EXPECT_THAT(by_name.out, ::testing::ContainsRegex("NAME +READY +STATUS"));
  EXPECT_THAT(by_name.out, HasSubstr("Completed"));
  // Deleting a Job: foreground waits for its pods; orphan keeps them.
  EXPECT_EQ(Kubectl("delete job done --cascade=foreground").code, 0);
  EXPECT_THAT(Kubectl("get pods -l job-name=done").out, HasSubstr("No resources found"));
  EXPECT_EQ(Kubectl("delete job broken --cascade=orphan").code, 0);
  EXPECT_THAT(Kubectl("get pods -l job-name=broken -o name").out, HasSubstr("pod/broken-"));
  EXPECT_THAT(Kubectl("get jobs").out, ::testing::Not(HasSubstr("broken")));
}

// kubectl apply sends a strategic merge patch: the containers merge by name,
// so a second apply that changes one image keeps everything else.
TEST_F(KubectlTest, ApplyMergesContainersByName) {
  std::string pod = R"yaml(apiVersion: v1
kind: Pod
metadata: {name: two-containers}
spec:
  containers:
  - name: main
    image: train:1
    command: [python3, train.py]
    env: [{name: A, value: "1"}, {name: B, value: "2"}]
  - {name: sidecar, image: log:1, command: [tail, -f, /log]}
)yaml";
  ASSERT_EQ(Kubectl("apply -f -", pod).code, 0);
  pod.replace(pod.find("image: log:1"), 12, "image: log:2");
  Shell applied = Kubectl("apply -f -", pod);
  ASSERT_EQ(applied.code, 0) << applied.out;
  EXPECT_THAT(applied.out, HasSubstr("pod/two-containers configured"));
  Shell got = Kubectl("get pod two-containers -o json");
  ASSERT_EQ(got.code, 0) << got.out;
  nlohmann::json spec = nlohmann::json::parse(got.out)["spec"];
  ASSERT_EQ(spec["containers"].size(), 2u) << spec.dump(2);
  const nlohmann::json& main = spec["containers"][0];
  const nlohmann::json& sidecar = spec["containers"][1];
  EXPECT_EQ(main["name"], "main");
  EXPECT_EQ(main["image"], "train:1");
  EXPECT_EQ(main["command"], nlohmann::json::parse(R"(["python3", "train.py"])"));
  EXPECT_EQ(main["env"].size(), 2u);
  EXPECT_EQ(sidecar["name"], "sidecar");
  EXPECT_EQ(sidecar["image"], "log:2");
  EXPECT_EQ(sidecar["command"], nlohmann::json::parse(R"(["tail", "-f", "/log"])"));
  EXPECT_EQ(got.out.find("$setElementOrder"), std::string::npos);  // directives are not stored
  // Taking an env entry out of the file would delete it (kubectl sends
  // $patch: delete), but a pod's env is fixed once created.
  const std::string env_a = "{name: A, value: \"1\"}, ";
  pod.replace(pod.find(env_a), env_a.size(), "");
  Shell forbidden = Kubectl("apply -f -", pod);
  EXPECT_NE(forbidden.code, 0);
  EXPECT_THAT(forbidden.out, HasSubstr("spec: Forbidden: pod updates may not change fields other "
                                       "than `spec.containers[*].image`"));
  EXPECT_EQ(Kubectl("get pod two-containers -o jsonpath={.spec.containers[0].env[*].name}").out,
            "A B");
}

// kubectl's generator commands send protobuf bodies and never fall back to
// JSON; each must work as on a real cluster.
TEST_F(KubectlTest, GeneratorCommandsSendProtobuf) {
  Shell ns = Kubectl("create namespace ml -v=8");
  ASSERT_EQ(ns.code, 0) << ns.out;
  EXPECT_THAT(ns.out, HasSubstr("Content-Type: application/vnd.kubernetes.protobuf"));
  EXPECT_THAT(ns.out, HasSubstr("namespace/ml created"));
  EXPECT_THAT(Kubectl("get namespace ml").out, ::testing::ContainsRegex("ml +Active"));
  Shell cm =
      Kubectl("create configmap settings -n ml --from-literal=lr=0.1 --from-literal=epochs=3");
  ASSERT_EQ(cm.code, 0) << cm.out;
  EXPECT_EQ(Kubectl("get configmap settings -n ml -o jsonpath={.data.lr}/{.data.epochs}").out,
            "0.1/3");
  Shell secret = Kubectl("create secret generic token -n ml --from-literal=key=s3cret");
  ASSERT_EQ(secret.code, 0) << secret.out;
  EXPECT_EQ(Kubectl("get secret token -n ml -o jsonpath={.data.key}").out, "czNjcmV0");
  EXPECT_EQ(Kubectl("get secret token -n ml -o jsonpath={.type}").out, "Opaque");
  Shell svc = Kubectl("create service clusterip ddp -n ml --clusterip=None --tcp=29500:29500");
  ASSERT_EQ(svc.code, 0) << svc.out;
  EXPECT_EQ(Kubectl("get service ddp -n ml -o jsonpath={.spec.clusterIP}/{.spec.ports[0].port}/"
                    "{.spec.ports[0].targetPort}/{.spec.selector.app}")
                .out,
            "None/29500/29500/ddp");
  Shell job = Kubectl("create job hello -n ml --image=python:3.12 -- python3 -c 'print(1)'");
  ASSERT_EQ(job.code, 0) << job.out;
  EXPECT_THAT(job.out, HasSubstr("job.batch/hello created"));
  EXPECT_EQ(
      Kubectl("get job hello -n ml -o jsonpath={.spec.template.spec.containers[0].command}").out,
      R"js(["python3","-c","print(1)"])js");
  EXPECT_EQ(Kubectl("wait -n ml --for=condition=complete job/hello --timeout=30s").code, 0);
  // Errors come back as for JSON bodies.
  Shell again = Kubectl("create namespace ml");
  EXPECT_NE(again.code, 0);
  EXPECT_THAT(again.out, HasSubstr("Error from server (AlreadyExists): namespaces \"ml\" already "
                                   "exists"));
  Shell bad = Kubectl("create job Bad_Name -n ml --image=x");
  EXPECT_NE(bad.code, 0);
  EXPECT_THAT(bad.out, HasSubstr("error: failed to create job: Job.batch \"Bad_Name\" is invalid: "
                                 "[metadata.name: Invalid value: \"Bad_Name\""));
}

TEST_F(KubectlTest, QuotaRefusalsShowAsOnARealCluster) {
  ASSERT_EQ(Kubectl("create namespace team").code, 0);
  Shell q = Kubectl("create quota compute -n team --hard=requests.cpu=1,pods=4 -v=8");
  ASSERT_EQ(q.code, 0) << q.out;
  EXPECT_THAT(q.out, HasSubstr("Content-Type: application/vnd.kubernetes.protobuf"));
  EXPECT_THAT(q.out, HasSubstr("resourcequota/compute created"));
  ASSERT_TRUE(
      WaitFor([&] { return Kubectl("get quota -n team").out.find("0/4") != std::string::npos; },
              std::chrono::seconds(10)));
  EXPECT_THAT(Kubectl("get quota -n team").out,
              ::testing::MatchesRegex("NAME +AGE +REQUEST +LIMIT\n"
                                      "compute +[0-9]+s +pods: 0/4, requests.cpu: 0/1 +\n"));
  Shell naked = Kubectl("run naked -n team --image=busybox");
  EXPECT_NE(naked.code, 0);
  EXPECT_THAT(naked.out, HasSubstr("Error from server (Forbidden): pods \"naked\" is forbidden: "
                                   "failed quota: compute: must specify requests.cpu for: naked"));
  // A Job whose pod does not fit: the Job controller says why in an event.
  Shell job = Kubectl("apply -n team -f -", R"yaml(apiVersion: batch/v1
kind: Job
metadata: {name: wide}
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: main, image: busybox, resources: {requests: {cpu: "2"}}}
)yaml");
  ASSERT_EQ(job.code, 0) << job.out;
  std::string why;
  ASSERT_TRUE(WaitFor(
      [&] {
        why = Kubectl("get events -n team --field-selector reason=FailedCreate").out;
        return why.find("exceeded quota") != std::string::npos;
      },
      std::chrono::seconds(20)));
  EXPECT_THAT(why, ::testing::ContainsRegex(
                       "Warning +FailedCreate +job/wide +Error creating: pods \"wide-[a-z0-9]{5}\" "
                       "is forbidden: exceeded quota: compute, requested: requests.cpu=2, used: "
                       "requests.cpu=0, limited: requests.cpu=1"));
  Shell describe = Kubectl("describe quota compute -n team");
  ASSERT_EQ(describe.code, 0) << describe.out;
  EXPECT_THAT(describe.out, ::testing::ContainsRegex("requests.cpu +0 +1"));
  EXPECT_TRUE(Kubectl("get pods -n team -o name").out.empty());
}

// kubectl 1.32 asks /api and /apis for aggregated discovery first; answered
// so, it needs no request per group version.
TEST_F(KubectlTest, AggregatedDiscovery) {
  // A HOME of its own: without a discovery cache kubectl asks the server.
  Shell r = RunShell("HOME=" + *dir_ + "/discovery-home KUBECONFIG=" + *dir_ +
                     "/kubeconfig timeout 60 /usr/bin/kubectl api-resources -v=6 2>&1");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_THAT(r.out, ::testing::ContainsRegex("\npods +po +v1 +true +Pod"));
  EXPECT_THAT(r.out, ::testing::ContainsRegex("\njobs +batch/v1 +true +Job"));
  EXPECT_THAT(r.out, ::testing::ContainsRegex("\nnodes +no +v1 +false +Node"));
  EXPECT_THAT(r.out, HasSubstr("/apis?timeout=32s 200 OK"));
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("/api/v1?timeout")));
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("/apis/batch/v1?timeout")));
}

// Only a request with the token of the kubeconfig that cluster serve wrote
// gets in: no token, a wrong one or another scheme is 401, on the API, on
// health and discovery, and on the fault and stats endpoints; and no user
// but its owner can read that kubeconfig.
TEST_F(KubectlTest, OnlyTheKubeconfigsTokenIsLetIn) {
  const std::string pod =
      R"({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "intruder"}, "spec": )"
      R"({"containers": [{"name": "c", "image": "x", "command": ["true"]}]}})";
  const std::string& token = cluster_->token;
  const std::vector<std::string> wrong = {"",
                                          "Bearer",
                                          "Bearer " + token.substr(1),
                                          "Bearer " + token + "0",
                                          "Bearer  " + token,
                                          "bearer " + token,
                                          "Basic " + token};
  std::string refused;  // each wrong credential is answered 401
  for (size_t i = 0; i < wrong.size(); ++i) refused += "401\n";
  for (const auto& [method, path, body] : std::vector<std::array<std::string, 3>>{
           {"POST", "/api/v1/namespaces/default/pods", pod},
           {"GET", "/api/v1/namespaces/default/pods", ""},
           {"GET", "/healthz", ""},
           {"GET", "/version", ""},
           {"GET", "/apis", ""},
           {"GET", "/portflow/stats", ""},
           {"POST", "/portflow/faults", R"({"failNext": 100})"}}) {
    Shell r = ClusterRequest(*cluster_, method, path, body, wrong);
    EXPECT_EQ(r.out, refused) << method << " " << path;
  }
  Shell let_in = ClusterRequest(*cluster_, "GET", "/api/v1/namespaces/default/pods");
  EXPECT_EQ(let_in.out, "200\n");
  Shell get = Kubectl("get pod intruder");  // the faults were refused too
  EXPECT_THAT(get.out, HasSubstr("\"intruder\" not found"));

  // kubectl with another token is refused as by a real cluster.
  std::string without = ReadFile(*dir_ + "/kubeconfig");
  without.replace(without.find(token), token.size(), std::string(token.size(), 'f'));
  WriteFile(*dir_ + "/kubeconfig-without", without);
  Shell without_token =
      RunShell("HOME=" + *dir_ + "/home timeout 60 /usr/bin/kubectl --kubeconfig " + *dir_ +
               "/kubeconfig-without get pods 2>&1");
  EXPECT_NE(without_token.code, 0);
  EXPECT_THAT(without_token.out, HasSubstr("Unauthorized"));

  // The kubeconfig is its owner's alone: mode 0600, which another user
  // (nobody) cannot open when the test runs as root.
  struct stat st {};
  ASSERT_EQ(::stat((*dir_ + "/kubeconfig").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  if (::geteuid() == 0) {
    Shell other = RunShell("setpriv --reuid=65534 --regid=65534 --clear-groups cat " + *dir_ +
                           "/kubeconfig 2>&1");
    EXPECT_NE(other.code, 0);
    EXPECT_THAT(other.out, HasSubstr("Permission denied"));
  }
}

// A second real client: the official Python client (Debian's python3-kubernetes).
TEST_F(KubectlTest, OfficialPythonClient) {
  ShellResult r = RunShell("/usr/bin/python3 " + std::string(PORTFLOW_SOURCE_DIR) +
                           "/tests/e2e/python_client_check.py " + *dir_ + "/kubeconfig 2>&1");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("python client: ok"));
}

TEST_F(KubectlTest, SelectorsAllNamespacesAndChunks) {
  // Its own namespace, so that other tests' pods do not show.
  ASSERT_EQ(Kubectl("create -f -", "apiVersion: v1\nkind: Namespace\nmetadata: {name: sel}\n").code,
            0);
  std::string pods;
  for (int i = 0; i < 5; ++i) {
    pods += "---\napiVersion: v1\nkind: Pod\nmetadata: {name: p" + std::to_string(i) +
            ", namespace: sel, labels: {app: " + (i % 2 ? "odd" : "even") +
            "}}\nspec: {containers: [{name: c, image: x}]}\n";
  }
  ASSERT_EQ(Kubectl("create -f -", pods).code, 0);
  EXPECT_EQ(Kubectl("get pods -n sel -l app=odd -o name").out, "pod/p1\npod/p3\n");
  EXPECT_EQ(Kubectl("get pods -n sel -l 'app in (even)',app!=odd -o name").out,
            "pod/p0\npod/p2\npod/p4\n");
  EXPECT_EQ(Kubectl("get pods -n sel --field-selector metadata.name=p3 -o name").out, "pod/p3\n");
  Shell bad = Kubectl("get pods -n sel --field-selector spec.bogus=1");
  EXPECT_NE(bad.code, 0);
  EXPECT_THAT(bad.out, HasSubstr("field label not supported: spec.bogus"));
  EXPECT_EQ(Kubectl("get pods -A -l app --chunk-size=2 -o name").out,
            "pod/p0\npod/p1\npod/p2\npod/p3\npod/p4\n");
  EXPECT_THAT(Kubectl("get pods -A -l app").out, ::testing::StartsWith("NAMESPACE   NAME   READY"));
  EXPECT_THAT(Kubectl("label pod p0 -n sel tier=front").out, HasSubstr("pod/p0 labeled"));
  EXPECT_EQ(Kubectl("get pods -n sel -l tier=front -o name").out, "pod/p0\n");
  // get -w streams Table rows until it is stopped.
  Shell watch = Kubectl("get pods -n sel -l app=odd -w --request-timeout=2s");
  EXPECT_THAT(watch.out,
              ::testing::ContainsRegex("NAME +READY +STATUS +RESTARTS +AGE\np1 +[01]/1 "));
  EXPECT_EQ(Kubectl("delete pods -n sel -l app").code, 0);
  EXPECT_THAT(Kubectl("get pods -n sel").out, HasSubstr("No resources found in sel namespace."));
}

}  // namespace
}  // namespace portflow::testing
