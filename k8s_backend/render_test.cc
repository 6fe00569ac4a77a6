#include "k8s_backend/render.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "k8s_backend/fake_cluster/fake_cluster.h"

namespace portflow::k8s {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
namespace fs = std::filesystem;

TaskSpec Gang() {
  TaskSpec t;
  t.run_id = "laptop-dev-20261130-053700-ab12";
  t.step = "train";
  t.instance = "train[lr=0.1]";
  t.attempt = 2;
  t.argv = {"python3", "train.py", "--out",
            "/portflow/artifacts/laptop-dev-20261130-053700-ab12/train/model/lr=0.1"};
  t.env = {{"PYTHONUNBUFFERED", "1"}, {"A", "first"}, {"A", "second"}};
  t.image = "python:3.12-slim";
  t.resources = {2000, int64_t{4} << 30, 1};
  t.replicas = 2;
  t.timeout = std::chrono::minutes(5) + std::chrono::milliseconds(300);
  t.outputs = {{"model", "/portflow/artifacts/laptop-dev-20261130-053700-ab12/train/model/lr=0.1"}};
  t.inputs = {
      {"prepare.dataset", "/portflow/artifacts/laptop-dev-20261130-053700-ab12/prepare/dataset"}};
  return t;
}

const json* Find(const std::vector<json>& objects, const std::string& kind) {
  for (const json& o : objects) {
    if (o["kind"] == kind) return &o;
  }
  return nullptr;
}

TEST(Render, NamesAreValidDeterministicAndShort) {
  EXPECT_EQ(KubernetesName("Train[LR=0.1]"), "train-lr-0-1");
  EXPECT_EQ(KubernetesName("7up"), "pf-7up");  // Service names start with a letter
  EXPECT_EQ(KubernetesName("--a--b--"), "a-b");
  std::string long_name(100, 'x');
  std::string a = KubernetesName(long_name + "a"), b = KubernetesName(long_name + "b");
  EXPECT_EQ(a.size(), 63u);
  EXPECT_NE(a, b);  // cut, but told apart by the hash
  EXPECT_EQ(a, KubernetesName(long_name + "a"));
  std::regex label("[a-z]([-a-z0-9]*[a-z0-9])?");
  for (const std::string& n : {a, b, KubernetesName("x"), KubernetesName("日本語")}) {
    EXPECT_TRUE(std::regex_match(n, label)) << n;
  }

  TaskSpec t = Gang();
  EXPECT_EQ(JobName(t), "laptop-dev-20261130-053700-ab12-train-lr-0-1-a2");
  t.run_id = "a-very-long-workload-name-for-testing-20261130-053700-ab12";
  t.replicas = 16;
  std::string job = JobName(t);
  EXPECT_LE(job.size() + std::string("-15").size(), 63u);  // host names <job>-<index> fit
  EXPECT_TRUE(std::regex_match(job, label)) << job;

  auto labels = TaskLabels(Gang());
  EXPECT_EQ(labels["portflow.dev/instance"], "train-lr-0.1");
  EXPECT_EQ(labels["portflow.dev/attempt"], "2");
  std::regex value("([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]");
  for (auto& [k, v] : labels) EXPECT_TRUE(std::regex_match(v, value) && v.size() <= 63) << v;
}

// Nodes an attempt must keep off (the group that took its last attempt
// back) are a required node affinity; none, no affinity.
TEST(Render, NodesToAvoidAreARequiredNodeAffinity) {
  TaskSpec t = Gang();
  auto plain = RenderTask(t, KubernetesTarget{}, "ml", {});
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE((*Find(*plain, "Job"))["spec"]["template"]["spec"].contains("affinity"));
  t.avoid = {{"eks.amazonaws.com/nodegroup", "cpu-spot"}};
  auto objects = RenderTask(t, KubernetesTarget{}, "ml", {});
  ASSERT_TRUE(objects.ok());
  EXPECT_EQ((*Find(*objects, "Job"))["spec"]["template"]["spec"]["affinity"], json::parse(R"({
    "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
      {"matchExpressions": [
        {"key": "eks.amazonaws.com/nodegroup", "operator": "NotIn", "values": ["cpu-spot"]}]}]}}})"));
}

TEST(Render, AGangIsAnIndexedJobWithAHeadlessService) {
  KubernetesTarget target;
  target.queue = "team-a";
  target.node_selector = {{"gpu", "h200"}};
  target.tolerations =
      json::parse(R"([{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}])");
  target.service_account = "trainer";
  target.image_pull_secrets = {"registry"};
  target.env_from_secrets = {"hf-token", "s3"};
  target.labels = {{"team", "ml"}};
  target.ttl_seconds = 3600;
  auto objects =
      RenderTask(Gang(), target, "ml", {{"train.py", "print(1)\n"}, {"lib/util.py", "x = 1\n"}});
  ASSERT_TRUE(objects.ok()) << objects.status().ToString();
  ASSERT_EQ(objects->size(), 3u);  // code, Service, Job: the order they are created in
  EXPECT_EQ((*objects)[0]["kind"], "ConfigMap");
  EXPECT_EQ((*objects)[1]["kind"], "Service");
  EXPECT_EQ((*objects)[2]["kind"], "Job");
  const json& job = *Find(*objects, "Job");
  const json& svc = *Find(*objects, "Service");
  const json& cm = *Find(*objects, "ConfigMap");
  std::string name = job["metadata"]["name"];
  EXPECT_EQ(job["metadata"]["namespace"], "ml");
  EXPECT_EQ(job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"], "team-a");
  EXPECT_EQ(job["metadata"]["labels"]["team"], "ml");
  EXPECT_EQ(job["metadata"]["labels"][kJobLabel], name);  // for deletion in batches
  EXPECT_FALSE(job["spec"]["template"]["metadata"]["labels"].contains(kJobLabel));
  EXPECT_EQ(job["metadata"]["annotations"]["portflow.dev/instance-name"], "train[lr=0.1]");
  const json& spec = job["spec"];
  EXPECT_EQ(spec["completionMode"], "Indexed");
  EXPECT_EQ(spec["completions"], 2);
  EXPECT_EQ(spec["parallelism"], 2);
  EXPECT_EQ(spec["backoffLimit"], 0);
  EXPECT_EQ(spec["activeDeadlineSeconds"], 301);  // rounded up
  EXPECT_EQ(spec["ttlSecondsAfterFinished"], 3600);
  const json& pod = spec["template"]["spec"];
  EXPECT_EQ(pod["restartPolicy"], "Never");
  EXPECT_EQ(pod["subdomain"], name);
  EXPECT_EQ(svc["metadata"]["name"], name);
  EXPECT_EQ(svc["spec"]["clusterIP"], "None");
  EXPECT_EQ(svc["spec"]["selector"]["batch.kubernetes.io/job-name"], name);
  EXPECT_EQ(pod["serviceAccountName"], "trainer");
  EXPECT_EQ(pod["nodeSelector"]["gpu"], "h200");
  EXPECT_EQ(pod["tolerations"][0]["key"], "nvidia.com/gpu");
  EXPECT_EQ(pod["imagePullSecrets"][0]["name"], "registry");
  const json& c = pod["containers"][0];
  EXPECT_EQ(c["image"], "python:3.12-slim");
  EXPECT_EQ(c["workingDir"], "/portflow/code");
  EXPECT_EQ(c["envFrom"],
            json::parse(R"([{"secretRef": {"name": "hf-token"}}, {"secretRef": {"name": "s3"}}])"));
  EXPECT_EQ(c["resources"]["requests"],
            json::parse(R"({"cpu": "2", "memory": "4Gi", "nvidia.com/gpu": "1"})"));
  EXPECT_EQ(c["resources"]["limits"], json::parse(R"({"memory": "4Gi", "nvidia.com/gpu": "1"})"));
  // The env: the spec's (later wins), then the distributed contract.
  std::map<std::string, json> env;
  for (const json& e : c["env"]) env[e["name"]] = e;
  EXPECT_EQ(env["A"]["value"], "second");
  EXPECT_EQ(env["WORLD_SIZE"]["value"], "2");
  EXPECT_EQ(env["MASTER_ADDR"]["value"], name + "-0." + name);
  EXPECT_EQ(env["PORTFLOW_MASTER_ADDR"]["value"], name + "-0." + name);
  EXPECT_EQ(env["MASTER_PORT"]["value"],
            std::to_string(svc["spec"]["ports"][0]["port"].get<int>()));
  EXPECT_EQ(env["RANK"]["valueFrom"]["fieldRef"]["fieldPath"],
            "metadata.annotations['batch.kubernetes.io/job-completion-index']");
  // Outputs and inputs: sub-paths of the claim, inputs read-only; the code.
  EXPECT_EQ(pod["volumes"][0]["persistentVolumeClaim"]["claimName"], "portflow-artifacts");
  EXPECT_EQ(c["volumeMounts"][0]["subPath"], "laptop-dev-20261130-053700-ab12/train/model/lr=0.1");
  EXPECT_FALSE(c["volumeMounts"][0].contains("readOnly"));
  EXPECT_EQ(c["volumeMounts"][1]["readOnly"], true);
  EXPECT_EQ(pod["volumes"][1]["configMap"]["name"], cm["metadata"]["name"]);
  EXPECT_EQ(cm["data"]["lib_util.py"], "x = 1\n");
  EXPECT_EQ(pod["volumes"][1]["configMap"]["items"][0],
            json::parse(R"({"key": "lib_util.py", "path": "lib/util.py"})"));
}

// Everything rendered must be accepted by an API server: here the fake
// one, which validates names, labels, containers and restart policies.
TEST(Render, TheFakeClusterAcceptsWhatIsRendered) {
  FakeClock clock;
  auto cluster = fake::FakeCluster::Create({}, clock).value();
  TaskSpec single = Gang();
  single.replicas = 1;
  single.inputs.clear();
  single.attempt = 3;  // its own Job name
  KubernetesTarget plain;
  plain.ship_code = false;
  for (const TaskSpec& t : {Gang(), single}) {
    KubernetesTarget target;
    auto objects = RenderTask(t, t.replicas > 1 ? target : plain, "default",
                              {{"train.py", "print(1)\n"}, {"data.bin", std::string("\0\xff", 2)}});
    ASSERT_TRUE(objects.ok()) << objects.status().ToString();
    for (const json& o : *objects) {
      std::string kind = o["kind"];
      std::string path = kind == "Job"       ? "/apis/batch/v1/namespaces/default/jobs"
                         : kind == "Service" ? "/api/v1/namespaces/default/services"
                                             : "/api/v1/namespaces/default/configmaps";
      fake::HttpResponse r =
          cluster->Handle({"POST", path, {{"content-type", "application/json"}}, o.dump()});
      EXPECT_EQ(r.status, 201) << kind << ": " << r.body;
      if (kind == "ConfigMap") {
        EXPECT_EQ(o["binaryData"]["data.bin"], "AP8=");
      }
    }
    if (t.replicas == 1) {
      const json& job = objects->back();
      EXPECT_FALSE(job["spec"].contains("completionMode"));
      EXPECT_FALSE(job["spec"]["template"]["spec"].contains("subdomain"));
      EXPECT_FALSE(job["spec"]["template"]["spec"]["containers"][0].contains("workingDir"));
      EXPECT_EQ(objects->size(), 1u);
    }
  }
}

// With the run's outputs in an object store: the command runs under
// `portflow agent`, copied in from the agent image by an init container;
// the outputs are the pod's own folder (no shared volume); the credentials
// come from the run's Secret, never in the Job. The fake cluster takes it.
TEST(Render, AnObjectStoreRunsTheStepUnderTheAgent) {
  TaskSpec t = Gang();
  t.store = ObjectStoreRef{"s3://team-ml/portflow", "http://127.0.0.1:9000", "eu-west-1",
                           "registry.local/portflow:0.1"};
  t.store->credentials = {{"AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"},
                          {"AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI"}};
  KubernetesTarget target;
  target.ship_code = false;
  auto objects = RenderTask(t, target, "default", {});
  ASSERT_TRUE(objects.ok()) << objects.status().ToString();
  const json* job = Find(*objects, "Job");
  ASSERT_NE(job, nullptr);
  const json& pod = (*job)["spec"]["template"]["spec"];
  ASSERT_EQ(pod["initContainers"].size(), 1u);
  EXPECT_EQ(pod["initContainers"][0]["image"], "registry.local/portflow:0.1");
  EXPECT_EQ(pod["initContainers"][0]["command"],
            json({"cp", "/portflow", "/portflow/agent/portflow"}));
  const json& main = pod["containers"][0];
  EXPECT_EQ(main["command"], json({"/portflow/agent/portflow",
                                   "agent",
                                   "--artifacts",
                                   "s3://team-ml/portflow",
                                   "--region",
                                   "eu-west-1",
                                   "--run",
                                   t.run_id,
                                   "--root",
                                   "/portflow/artifacts/" + t.run_id,
                                   "--endpoint",
                                   "http://127.0.0.1:9000",
                                   "--rank-zero-stores",
                                   "--input",
                                   "prepare/dataset",
                                   "--output",
                                   "train/model/lr=0.1",
                                   "--",
                                   "python3",
                                   "train.py",
                                   "--out",
                                   t.outputs[0].path}));
  EXPECT_EQ(main["envFrom"],
            json({{{"secretRef", {{"name", StoreSecretName(t.run_id)}, {"optional", true}}}}}));
  EXPECT_THAT(pod["volumes"].dump(), Not(HasSubstr("persistentVolumeClaim")));
  EXPECT_THAT(pod["volumes"].dump(), HasSubstr(R"({"emptyDir":{},"name":"artifacts"})"));
  for (const json& o : *objects) {
    EXPECT_THAT(o.dump(), Not(HasSubstr("wJalrXUtnFEMI"))) << "never in a rendered object";
    EXPECT_THAT(o.dump(), Not(HasSubstr("AWS_SECRET_ACCESS_KEY")));
  }

  FakeClock clock;
  auto cluster = fake::FakeCluster::Create({}, clock).value();
  for (const json& o : *objects) {
    std::string path = o["kind"] == "Job" ? "/apis/batch/v1/namespaces/default/jobs"
                                          : "/api/v1/namespaces/default/services";
    fake::HttpResponse r =
        cluster->Handle({"POST", path, {{"content-type", "application/json"}}, o.dump()});
    EXPECT_EQ(r.status, 201) << o["kind"] << ": " << r.body;
  }

  t.store->agent_image.clear();
  EXPECT_THAT(RenderTask(t, target, "default", {}).status().message(),
              HasSubstr("need an agent image (agentImage)"));
}

TEST(Render, ErrorsSayWhatToDo) {
  TaskSpec t = Gang();
  t.image.reset();
  auto no_image = RenderTask(t, {}, "ml", {});
  EXPECT_THAT(no_image.status().message(),
              HasSubstr("step train has no image: set spec.image in the workload or image on the "
                        "target"));
  KubernetesTarget with_image;
  with_image.image = "python:3.12";
  EXPECT_TRUE(RenderTask(t, with_image, "ml", {}).ok());

  auto unknown = ParseKubernetesTarget({{"namespce", "ml"}});
  EXPECT_THAT(unknown.status().message(), HasSubstr("unknown setting \"namespce\""));
  EXPECT_FALSE(ParseKubernetesTarget({{"code", "git"}}).ok());
  EXPECT_THAT(ParseKubernetesTarget({{"image", "Python:3.12"}}).status().message(),
              HasSubstr("setting image: \"Python:3.12\" is not an image reference"));
  EXPECT_FALSE(ParseKubernetesTarget({{"tolerations", "[a, b]"}}).ok());
  EXPECT_FALSE(ParseKubernetesTarget({{"ttlAfterFinished", "soon"}}).ok());
  EXPECT_THAT(ParseKubernetesTarget({{"grace", "10"}}).status().message(),
              HasSubstr("setting grace: "));
  // Tolerations as the API server validates them.
  for (auto [toleration, why] : std::vector<std::pair<std::string, std::string>>{
           {"{key: gpu, operator: Exists, tolerationSeconds: 30}",
            "tolerationSeconds needs effect NoExecute"},
           {"{key: gpu, operator: Exists, effect: NoExecute, tolerationSeconds: soon}",
            "tolerationSeconds must be a whole number of seconds"},
           {"{key: gpu, operator: In}", "operator must be Exists or Equal"},
           {"{key: gpu, operator: Exists, value: x}", "value must be empty"},
           {"{value: x}", "operator must be Exists when key is empty"},
           {"{key: gpu, effect: NoRun}", "effect must be NoSchedule, PreferNoSchedule or"},
           {"{key: gpu, efect: NoSchedule}", "unknown field \"efect\""}}) {
    auto bad = ParseKubernetesTarget({{"tolerations", "[" + toleration + "]"}});
    EXPECT_THAT(bad.status().message(), HasSubstr(why)) << toleration;
  }
  auto parsed = ParseKubernetesTarget(
      {{"tolerations",
        "[{key: gpu, operator: Exists, effect: NoExecute, tolerationSeconds: 30}, "
        "{key: pool, value: 1}]"},
       {"nodeSelector", "{pool: gpu}"},
       {"imagePullSecrets", "regcred"},
       {"envFromSecrets", "[hf-token, s3]"},
       {"ttlAfterFinished", "1h"},
       {"grace", "2500ms"},
       {"code", "image"}});
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->tolerations[0]["tolerationSeconds"], 30);
  EXPECT_EQ(parsed->tolerations[1]["value"], "1");  // a string, as the API wants it
  EXPECT_EQ(parsed->node_selector["pool"], "gpu");
  EXPECT_EQ(parsed->image_pull_secrets, std::vector<std::string>{"regcred"});
  EXPECT_EQ(parsed->env_from_secrets, (std::vector<std::string>{"hf-token", "s3"}));
  EXPECT_THAT(ParseKubernetesTarget({{"envFromSecrets", "{a: b}"}}).status().message(),
              HasSubstr("setting envFromSecrets must be a list of names"));
  EXPECT_EQ(parsed->ttl_seconds, 3600);
  EXPECT_FALSE(parsed->ship_code);
  EXPECT_EQ(parsed->grace_seconds, 3);              // rounded up: never cut short
  EXPECT_EQ(KubernetesTarget{}.grace_seconds, 10);  // as the local backend's
  parsed->image = "python:3.12";
  auto job = RenderTask(Gang(), *parsed, "ml", {})->back();
  EXPECT_EQ(job["spec"]["template"]["spec"]["terminationGracePeriodSeconds"], 3);
}

TEST(Render, CodeIsCollectedWithinTheLimit) {
  std::string dir = ::testing::TempDir() + "render_code_" + std::to_string(::getpid());
  fs::remove_all(dir);
  fs::create_directories(dir + "/pkg/__pycache__");
  fs::create_directories(dir + "/.git");
  fs::create_directories(dir + "/.portflow");
  std::ofstream(dir + "/train.py") << "print(1)\n";
  std::ofstream(dir + "/pkg/m.py") << "x = 1\n";
  std::ofstream(dir + "/pkg/__pycache__/m.pyc") << "junk";
  std::ofstream(dir + "/.git/HEAD") << "ref";
  std::ofstream(dir + "/.portflow/state.db") << "db";
  // Symlinks: one to a file ships that file; a loop and a dangling link are
  // left out (they lead to nothing), not a crash.
  fs::create_symlink("train.py", dir + "/link.py");
  fs::create_symlink("loop-b", dir + "/loop-a");
  fs::create_symlink("loop-a", dir + "/loop-b");
  fs::create_symlink("../pkg", dir + "/pkg/self");
  fs::create_symlink("nowhere", dir + "/dangling");
  auto files = CollectCode(dir);
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  EXPECT_EQ(files->files.size(), 3u);
  EXPECT_EQ(files->files["pkg/m.py"], "x = 1\n");
  EXPECT_EQ(files->files["link.py"], "print(1)\n");
  std::ofstream(dir + "/big.bin") << std::string(kMaxShippedCode, 'x');
  auto big = CollectCode(dir);
  EXPECT_EQ(big.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(
      big.status().message(),
      HasSubstr(
          "The largest files:\n  1Mi  big.bin\n  9  link.py\n  9  train.py\n  6  pkg/m.py\n"));
  EXPECT_THAT(big.status().message(), HasSubstr("/.portflowignore (gitignore syntax)"));
  EXPECT_THAT(big.status().message(), HasSubstr("set `code: image` on the target"));
  // .portflowignore leaves out what the steps do not need.
  std::ofstream(dir + "/.portflowignore") << "*.bin\npkg/\n";
  auto kept = CollectCode(dir);
  ASSERT_TRUE(kept.ok()) << kept.status().ToString();
  EXPECT_EQ(kept->files.size(), 2u);
  EXPECT_TRUE(kept->files.count("train.py"));
  fs::remove_all(dir);
}

// What looks like credentials stays home unless .portflowignore takes it
// back; a link to a file outside the folder is refused, naming the link; a
// link inside ships under its own name (and its target under its own).
TEST(Render, CredentialsStayAndLinksMayNotLeaveTheFolder) {
  std::string base = ::testing::TempDir() + "render_secrets_" + std::to_string(::getpid());
  std::string dir = base + "/work";
  fs::remove_all(base);
  fs::create_directories(dir + "/v2");
  fs::create_directories(base + "/outside");
  std::ofstream(base + "/outside/secret.txt") << "secret";
  std::ofstream(dir + "/v2/train.py") << "print(2)\n";
  fs::create_symlink("v2/train.py", dir + "/latest.py");
  for (const char* name : {"kubeconfig", "prod.kubeconfig", "tls.key", "ca.pem", "id_ed25519",
                           "credentials", "prod.env", "v2/server.key"}) {
    std::ofstream(dir + "/" + name) << "token: planted\n";
  }
  auto code = CollectCode(dir);
  ASSERT_TRUE(code.ok()) << code.status().ToString();
  std::vector<std::string> shipped;
  for (const auto& [path, bytes] : code->files) shipped.push_back(path);
  EXPECT_EQ(shipped, (std::vector<std::string>{"latest.py", "v2/train.py"}));
  EXPECT_EQ(code->files["latest.py"], "print(2)\n");
  EXPECT_EQ(code->left_out,
            (std::vector<std::string>{"ca.pem", "credentials", "id_ed25519", "kubeconfig",
                                      "prod.env", "prod.kubeconfig", "tls.key", "v2/server.key"}));
  // The rendered ConfigMap says what stayed.
  KubernetesTarget target;
  target.image = "busybox";
  auto objects = RenderTask(Gang(), target, "ml", code->files, code->left_out);
  ASSERT_TRUE(objects.ok()) << objects.status().ToString();
  EXPECT_EQ((*objects)[0]["metadata"]["annotations"]["portflow.dev/credentials-left-out"],
            "ca.pem, credentials, id_ed25519, kubeconfig, prod.env, prod.kubeconfig, tls.key, "
            "v2/server.key");

  // .portflowignore decides beyond the defaults: `!` ships one, and what
  // the user leaves out is not listed as a credential.
  std::ofstream(dir + "/.portflowignore") << "!ca.pem\nkubeconfig\n";
  code = CollectCode(dir);
  ASSERT_TRUE(code.ok()) << code.status().ToString();
  EXPECT_TRUE(code->files.count("ca.pem"));
  EXPECT_EQ(code->left_out,
            (std::vector<std::string>{"credentials", "id_ed25519", "prod.env", "prod.kubeconfig",
                                      "tls.key", "v2/server.key"}));

  fs::create_symlink("../outside/secret.txt", dir + "/leak.txt");
  auto leak = CollectCode(dir);
  EXPECT_EQ(leak.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(leak.status().message(),
              HasSubstr("holds a link to a file outside it: leak.txt -> ../outside/secret.txt"));
  // Left out by the user, the link is no longer a problem.
  std::ofstream(dir + "/.portflowignore", std::ios::app) << "leak.txt\n";
  EXPECT_TRUE(CollectCode(dir).ok());
  fs::remove_all(base);
}

}  // namespace
}  // namespace portflow::k8s
