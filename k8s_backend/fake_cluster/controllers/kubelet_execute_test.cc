// The kubelet in execute mode: pods run as real local processes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "k8s_backend/fake_cluster/controllers/kubelet/container.h"
#include "k8s_backend/fake_cluster/fake_cluster.h"

namespace portflow::fake {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

class ExecuteModeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/portflow-kubelet-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    ClusterOptions o;
    o.nodes = 2;
    o.kubelet.execute = true;
    o.kubelet.exec_root = root_;
    o.kubelet.logs_kept = std::chrono::seconds(1);
    cluster_ = std::move(FakeCluster::Create(o).value());
  }
  void TearDown() override {
    cluster_.reset();
    fs::remove_all(root_);
  }

  json Call(const std::string& method, const std::string& path, const json& body = nullptr,
            int want = 0) {
    HttpResponse r = cluster_->Handle(
        {method, path, {{"content-type", "application/json"}}, body.is_null() ? "" : body.dump()});
    if (want) {
      EXPECT_EQ(r.status, want) << r.body;
    }
    return json::parse(r.body, nullptr, false);
  }
  // Runs the controllers in real time until `done` or 20 s.
  bool RunUntil(const std::function<bool()>& done) {
    for (int i = 0; i < 1000; ++i) {
      cluster_->RunFor(std::chrono::milliseconds(20));
      if (done()) return true;
    }
    return false;
  }
  std::string PodLog(const std::string& name) {
    return cluster_->Handle({"GET", "/api/v1/namespaces/default/pods/" + name + "/log", {}, ""})
        .body;
  }
  json Pods() { return Call("GET", "/api/v1/namespaces/default/pods")["items"]; }
  // A pod whose process ignores SIGTERM, with a grace period of `grace`
  // seconds: the process's pid once it runs, 0 when it does not.
  pid_t StartPodIgnoringSigterm(const std::string& name, int grace) {
    Call(
        "POST", "/api/v1/namespaces/default/pods",
        {{"metadata", {{"name", name}}},
         {"spec",
          {{"restartPolicy", "Never"},
           {"terminationGracePeriodSeconds", grace},
           {"containers",
            {{{"name", "c"},
              {"image", "x"},
              {"command",
               {"sh", "-c", "trap '' TERM; echo $$$$ > pid; while true; do sleep 0.1; done"}}}}}}}},
        201);
    std::string uid = Call("GET", "/api/v1/namespaces/default/pods/" + name)["metadata"]["uid"];
    std::string pid_file = root_ + "/pods/" + uid + "/root/pid";
    if (!RunUntil([&] { return fs::exists(pid_file) && fs::file_size(pid_file) > 0; })) return 0;
    pid_t pid = 0;
    std::ifstream(pid_file) >> pid;
    return pid;
  }

  std::string root_;
  std::unique_ptr<FakeCluster> cluster_;
};

TEST_F(ExecuteModeTest, IndexedJobRunsItsCommandWithEnvVolumesAndServiceNames) {
  Call("POST", "/api/v1/namespaces/default/configmaps",
       {{"metadata", {{"name", "code"}}}, {"data", {{"greet.sh", "echo hello from $1"}}}}, 201);
  Call("POST", "/api/v1/namespaces/default/secrets",
       {{"metadata", {{"name", "token"}}}, {"data", {{"value", "czNjcjN0"}}}}, 201);  // s3cr3t
  Call("POST", "/api/v1/namespaces/default/services",
       {{"metadata", {{"name", "train"}}},
        {"spec", {{"clusterIP", "None"}, {"selector", {{"job-name", "train"}}}}}},
       201);
  json container = {
      {"name", "main"},
      {"image", "python:3"},
      {"command", {"sh", "-c"}},
      {"args",
       {"sh /code/greet.sh $(POD_NAME) && echo index=$JOB_COMPLETION_INDEX master=$MASTER_ADDR "
        "token=$TOKEN ns=$NS && echo out-$JOB_COMPLETION_INDEX > /data/out-$JOB_COMPLETION_INDEX "
        "&& pwd"}},
      {"workingDir", "/code"},
      {"env",
       {{{"name", "POD_NAME"}, {"valueFrom", {{"fieldRef", {{"fieldPath", "metadata.name"}}}}}},
        {{"name", "NS"}, {"valueFrom", {{"fieldRef", {{"fieldPath", "metadata.namespace"}}}}}},
        {{"name", "MASTER_ADDR"}, {"value", "train-0.train"}},
        {{"name", "TOKEN"},
         {"valueFrom", {{"secretKeyRef", {{"name", "token"}, {"key", "value"}}}}}}}},
      {"volumeMounts",
       {{{"name", "code"}, {"mountPath", "/code"}}, {{"name", "data"}, {"mountPath", "/data"}}}}};
  json pod_spec = {{"restartPolicy", "Never"},
                   {"subdomain", "train"},
                   {"containers", {container}},
                   {"volumes",
                    {{{"name", "code"}, {"configMap", {{"name", "code"}}}},
                     {{"name", "data"}, {"persistentVolumeClaim", {{"claimName", "shared"}}}}}}};
  Call("POST", "/apis/batch/v1/namespaces/default/jobs",
       {{"metadata", {{"name", "train"}}},
        {"spec",
         {{"completions", 2},
          {"parallelism", 2},
          {"completionMode", "Indexed"},
          {"template", {{"spec", pod_spec}}}}}},
       201);
  ASSERT_TRUE(RunUntil([&] {
    return Call("GET", "/apis/batch/v1/namespaces/default/jobs/train")["status"].value("succeeded",
                                                                                       0) == 2;
  })) << Pods().dump(2);
  json pods = Pods();
  ASSERT_EQ(pods.size(), 2u);
  for (const json& p : pods) {
    std::string name = p["metadata"]["name"];
    std::string index = p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"];
    std::string log = PodLog(name);
    EXPECT_THAT(log, HasSubstr("hello from " + name + "\n"));
    EXPECT_THAT(log, HasSubstr("index=" + index + " master=127.0.0.1 token=s3cr3t ns=default"));
    EXPECT_THAT(log, HasSubstr("/root/code\n"));  // workingDir, re-rooted
    const json& terminated = p["status"]["containerStatuses"][0]["state"]["terminated"];
    EXPECT_EQ(terminated["exitCode"], 0);
    EXPECT_EQ(terminated["reason"], "Completed");
  }
  // One directory per claim, shared by both pods.
  for (const char* i : {"0", "1"}) {
    std::ifstream in(root_ + "/volumes/default/shared/out-" + i);
    std::string line;
    std::getline(in, line);
    EXPECT_EQ(line, std::string("out-") + i);
  }
}

TEST_F(ExecuteModeTest, ExitCodesStartErrorsAndDeletionKillsTheProcess) {
  auto pod = [](const std::string& name, json command) {
    return json{{"metadata", {{"name", name}}},
                {"spec",
                 {{"restartPolicy", "Never"},
                  {"containers", {{{"name", "c"}, {"image", "x"}, {"command", command}}}}}}};
  };
  Call("POST", "/api/v1/namespaces/default/pods", pod("fails", {"sh", "-c", "echo oops; exit 3"}),
       201);
  Call("POST", "/api/v1/namespaces/default/pods", pod("missing", {"no-such-binary-here"}), 201);
  Call("POST", "/api/v1/namespaces/default/pods",
       // $$ is the kubelet's escape for $, so the shell sees $$.
       pod("sleeper", {"sh", "-c", "echo $$$$ > pid; exec sleep 1000"}), 201);
  ASSERT_TRUE(RunUntil([&] {
    return Call("GET", "/api/v1/namespaces/default/pods/fails")["status"]["phase"] == "Failed" &&
           Call("GET", "/api/v1/namespaces/default/pods/missing")["status"]["phase"] == "Failed" &&
           Call("GET", "/api/v1/namespaces/default/pods/sleeper")["status"]["phase"] == "Running";
  }));
  json fails = Call("GET", "/api/v1/namespaces/default/pods/fails");
  EXPECT_EQ(fails["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"], 3);
  EXPECT_EQ(fails["status"]["containerStatuses"][0]["state"]["terminated"]["reason"], "Error");
  EXPECT_EQ(PodLog("fails"), "oops\n");
  json missing = Call("GET", "/api/v1/namespaces/default/pods/missing");
  const json& t = missing["status"]["containerStatuses"][0]["state"]["terminated"];
  EXPECT_EQ(t["reason"], "StartError");
  EXPECT_EQ(t["exitCode"], 128);
  EXPECT_THAT(t["message"].get<std::string>(), HasSubstr("no-such-binary-here"));

  json sleeper = Call("GET", "/api/v1/namespaces/default/pods/sleeper");
  std::string uid = sleeper["metadata"]["uid"];
  std::string pid_file = root_ + "/pods/" + uid + "/root/pid";
  ASSERT_TRUE(RunUntil([&] { return fs::exists(pid_file) && fs::file_size(pid_file) > 0; }));
  pid_t pid = 0;
  std::ifstream(pid_file) >> pid;
  ASSERT_GT(pid, 0);
  EXPECT_EQ(::kill(pid, 0), 0);
  Call("DELETE", "/api/v1/namespaces/default/pods/sleeper", nullptr, 200);
  EXPECT_TRUE(RunUntil([&] { return ::kill(pid, 0) != 0; })) << "the process outlived its pod";
}

// A folder that cannot be listed for want of descriptors is an error, not
// an empty folder: a read-only volume snapshotted empty under a low limit
// on open files made every file in it look written later, failing a pod
// that wrote nothing.
// 0 when Snapshot says ResourceExhausted with no descriptor left to open.
int SnapshotWithoutDescriptors(const std::string& dir) {
  rlimit limit{};
  ::getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = 0;
  ::setrlimit(RLIMIT_NOFILE, &limit);
  auto state = Snapshot(dir);
  return state.ok() ? 1 : state.status().code() == StatusCode::kResourceExhausted ? 0 : 2;
}

TEST(SnapshotTest, OutOfDescriptorsIsAnErrorNotAnEmptyFolder) {
  std::string dir = ::testing::TempDir() + "snapshot_" + std::to_string(::getpid());
  fs::create_directories(dir);
  std::ofstream(dir + "/w.yaml") << "kind: Workload\n";
  ASSERT_TRUE(Snapshot(dir).ok());
  EXPECT_EQ(Snapshot(dir)->size(), 1u);
  EXPECT_EXIT(std::_Exit(SnapshotWithoutDescriptors(dir)), ::testing::ExitedWithCode(0), "");
  fs::remove_all(dir);
}

// Init containers run first, each to its end, and see the files their
// image holds here (as portflow's agent image holds the running binary);
// one that fails fails the pod's start, and the main container never runs.
TEST_F(ExecuteModeTest, InitContainersRunFirstWithTheirImagesFiles) {
  std::string tool = root_ + "/tool.sh";
  std::ofstream(tool) << "#!/bin/sh\necho from-the-image\n";
  fs::permissions(tool, fs::perms::owner_all);
  cluster_.reset();
  ClusterOptions o;
  o.kubelet.execute = true;
  o.kubelet.exec_root = root_;
  o.kubelet.image_files = {{"tools:1", {{"/tool", tool}}}};
  cluster_ = std::move(FakeCluster::Create(o).value());
  auto pod = [](const std::string& name, json init_command) {
    json shared = {{{"name", "shared"}, {"mountPath", "/shared"}}};
    return json{{"metadata", {{"name", name}}},
                {"spec",
                 {{"restartPolicy", "Never"},
                  {"volumes", {{{"name", "shared"}, {"emptyDir", json::object()}}}},
                  {"initContainers",
                   {{{"name", "copy"},
                     {"image", "tools:1"},
                     {"command", init_command},
                     {"volumeMounts", shared}}}},
                  {"containers",
                   {{{"name", "c"},
                     {"image", "x"},
                     {"command", {"sh", "-c", "/shared/tool; touch ran"}},
                     {"volumeMounts", shared}}}}}}};
  };
  Call("POST", "/api/v1/namespaces/default/pods", pod("copied", {"cp", "/tool", "/shared/tool"}),
       201);
  Call("POST", "/api/v1/namespaces/default/pods",
       pod("broken", {"sh", "-c", "echo no-copy-here >&2; exit 4"}), 201);
  auto phase = [&](const std::string& name) {
    return Call("GET", "/api/v1/namespaces/default/pods/" + name)["status"].value("phase", "");
  };
  ASSERT_TRUE(RunUntil([&] {
    return phase("copied") == "Succeeded" && phase("broken") == "Failed";
  })) << phase("copied")
      << " " << phase("broken");
  EXPECT_EQ(PodLog("copied"), "from-the-image\n");
  json broken = Call("GET", "/api/v1/namespaces/default/pods/broken");
  const json& t = broken["status"]["containerStatuses"][0]["state"]["terminated"];
  EXPECT_EQ(t["reason"], "StartError");
  EXPECT_THAT(t["message"].get<std::string>(),
              HasSubstr("init container \"copy\" failed (exit code 4): no-copy-here"));
  std::string uid = broken["metadata"]["uid"];
  EXPECT_FALSE(fs::exists(root_ + "/pods/" + uid + "/root/ran")) << "the main container ran";
}

// A deleted pod's process that ignores SIGTERM gets the pod's own
// terminationGracePeriodSeconds before SIGKILL (30 here; 5 s without it).
TEST_F(ExecuteModeTest, ADeletedPodKeepsItsGracePeriod) {
  pid_t pid = StartPodIgnoringSigterm("patient", 30);
  ASSERT_GT(pid, 0);
  Call("DELETE", "/api/v1/namespaces/default/pods/patient", nullptr, 200);
  cluster_->RunFor(std::chrono::seconds(6));  // past the 5 s it got before
  EXPECT_EQ(::kill(pid, 0), 0) << "killed before its grace period ended";
  ::kill(pid, SIGKILL);  // ours; its sleeps end within 0.1 s
}

// ... and gets SIGKILL once that period has passed.
TEST_F(ExecuteModeTest, ADeletedPodsProcessIsKilledAfterItsGracePeriod) {
  pid_t pid = StartPodIgnoringSigterm("stubborn", 1);
  ASSERT_GT(pid, 0);
  auto deleted = std::chrono::steady_clock::now();
  Call("DELETE", "/api/v1/namespaces/default/pods/stubborn", nullptr, 200);
  EXPECT_TRUE(RunUntil([&] { return ::kill(pid, 0) != 0; })) << "the process outlived its grace";
  EXPECT_GE(std::chrono::steady_clock::now() - deleted, std::chrono::seconds(1));
}

// A running pod that is deleted stays, Terminating (deletionTimestamp and
// deletionGracePeriodSeconds set) until its process has stopped; then it is
// gone, and a while later (logs_kept) so is its folder.
TEST_F(ExecuteModeTest, ADeletedPodStaysTerminatingUntilItsProcessHasStopped) {
  Call("POST", "/api/v1/namespaces/default/pods",
       {{"metadata", {{"name", "polite"}}},
        {"spec",
         {{"restartPolicy", "Never"},
          {"terminationGracePeriodSeconds", 10},
          {"containers",
           {{{"name", "c"},
             {"image", "x"},
             {"command",
              {"sh", "-c",
               "trap 'sleep 0.5; echo stopping; touch stopped; exit 3' TERM; echo up; "
               "sleep 30 & wait"}}}}}}}},
       201);
  const std::string path = "/api/v1/namespaces/default/pods/polite";
  ASSERT_TRUE(RunUntil([&] { return PodLog("polite") == "up\n"; }));
  std::string dir = root_ + "/pods/" + Call("GET", path)["metadata"]["uid"].get<std::string>();
  ASSERT_TRUE(fs::exists(dir));
  json marked = Call("DELETE", path, nullptr, 200);
  EXPECT_EQ(marked["metadata"]["deletionGracePeriodSeconds"], 10);
  EXPECT_TRUE(marked["metadata"].contains("deletionTimestamp"));
  cluster_->RunFor(std::chrono::milliseconds(100));
  EXPECT_EQ(Call("GET", path)["status"]["phase"], "Running") << "gone before its process stopped";
  ASSERT_TRUE(RunUntil([&] { return cluster_->Handle({"GET", path, {}, ""}).status == 404; }));
  EXPECT_TRUE(fs::exists(dir + "/root/stopped")) << "gone before its process stopped";
  EXPECT_TRUE(RunUntil([&] { return !fs::exists(dir); }))
      << "the kubelet keeps the folder of a pod gone long ago";
}

// A deletion with gracePeriodSeconds=0 removes the pod at once and kills
// its process without waiting.
TEST_F(ExecuteModeTest, AForcedDeletionRemovesThePodAtOnce) {
  pid_t pid = StartPodIgnoringSigterm("forced", 30);
  ASSERT_GT(pid, 0);
  Call("DELETE", "/api/v1/namespaces/default/pods/forced?gracePeriodSeconds=0", nullptr, 200);
  Call("GET", "/api/v1/namespaces/default/pods/forced", nullptr, 404);
  EXPECT_TRUE(RunUntil([&] { return ::kill(pid, 0) != 0; })) << "the process outlived its pod";
}

// Uids are unique across clusters, as a real API server's are: two
// clusters' first pods never share a folder.
TEST_F(ExecuteModeTest, UidsDifferBetweenClusters) {
  auto one = FakeCluster::Create(ClusterOptions{}).value();
  auto other = FakeCluster::Create(ClusterOptions{}).value();
  HttpRequest create{"POST",
                     "/api/v1/namespaces/default/pods",
                     {{"content-type", "application/json"}},
                     json{{"metadata", {{"name", "p"}}},
                          {"spec", {{"containers", {{{"name", "c"}, {"image", "x"}}}}}}}
                         .dump()};
  HttpResponse a = one->Handle(create);
  HttpResponse b = other->Handle(create);
  std::string uid_a = json::parse(a.body)["metadata"]["uid"];
  std::string uid_b = json::parse(b.body)["metadata"]["uid"];
  EXPECT_NE(uid_a, uid_b);
  EXPECT_EQ(uid_a.size(), 36u);
  EXPECT_EQ(uid_a[14], '4');  // a version 4 (random) UUID
}

// A real cluster mounts configMap and secret volumes, and readOnly mounts,
// read-only: a pod that writes there fails, saying where it wrote.
TEST_F(ExecuteModeTest, WritingIntoAReadOnlyVolumeFailsThePod) {
  Call("POST", "/api/v1/namespaces/default/configmaps",
       {{"metadata", {{"name", "code"}}}, {"data", {{"run.sh", "echo hi"}}}}, 201);
  auto pod = [](const std::string& name, const std::string& script) {
    return json{{"metadata", {{"name", name}}},
                {"spec",
                 {{"restartPolicy", "Never"},
                  {"volumes", {{{"name", "code"}, {"configMap", {{"name", "code"}}}}}},
                  {"containers",
                   {{{"name", "c"},
                     {"image", "x"},
                     {"workingDir", "/code"},
                     {"command", {"sh", "-c", script}},
                     {"volumeMounts", {{{"name", "code"}, {"mountPath", "/code"}}}}}}}}}};
  };
  Call("POST", "/api/v1/namespaces/default/pods", pod("writer", "sh run.sh > out.txt"), 201);
  Call("POST", "/api/v1/namespaces/default/pods", pod("reader", "sh run.sh"), 201);
  auto phase = [&](const std::string& name) {
    return Call("GET", "/api/v1/namespaces/default/pods/" + name)["status"].value("phase", "");
  };
  ASSERT_TRUE(
      RunUntil([&] { return phase("writer") == "Failed" && phase("reader") != "Running"; }));
  EXPECT_EQ(phase("reader"), "Succeeded");
  json t = Call("GET", "/api/v1/namespaces/default/pods/writer")["status"]["containerStatuses"][0]
                                                                ["state"]["terminated"];
  EXPECT_EQ(t["exitCode"], 1);
  EXPECT_EQ(t["message"],
            "the container wrote /code/out.txt, where a real cluster mounts its "
            "volume read-only (Read-only file system)");
}

// A real kubelet does not fail a pod whose ConfigMap volume is missing: it
// stays ContainerCreating, with FailedMount events, and starts once the
// ConfigMap exists (the backend re-creates a code ConfigMap that the garbage
// collector took between its Job's creation and the Job's ownership of it).
TEST_F(ExecuteModeTest, AMissingConfigMapKeepsThePodCreatingUntilItExists) {
  Call("POST", "/api/v1/namespaces/default/pods",
       {{"metadata", {{"name", "p"}}},
        {"spec",
         {{"restartPolicy", "Never"},
          {"containers",
           {{{"name", "c"},
             {"image", "x"},
             {"command", {"cat", "/v/k"}},
             {"volumeMounts", {{{"name", "v"}, {"mountPath", "/v"}}}}}}},
          {"volumes", {{{"name", "v"}, {"configMap", {{"name", "absent"}}}}}}}}},
       201);
  auto waiting = [&] {
    return Call(
        "GET",
        "/api/v1/namespaces/default/pods/p")["status"]["containerStatuses"][0]["state"]["waiting"];
  };
  ASSERT_TRUE(RunUntil([&] { return waiting().is_object(); }));
  EXPECT_EQ(waiting()["reason"], "ContainerCreating");
  EXPECT_THAT(waiting()["message"].get<std::string>(),
              HasSubstr("MountVolume.SetUp failed for volume \"v\" : configmap \"absent\" not "
                        "found"));
  EXPECT_EQ(Call("GET", "/api/v1/namespaces/default/pods/p")["status"]["phase"], "Pending");
  json events = Call("GET", "/api/v1/namespaces/default/events")["items"];
  bool failed_mount = false;
  for (const json& e : events) failed_mount = failed_mount || e["reason"] == "FailedMount";
  EXPECT_TRUE(failed_mount) << events.dump();

  Call("POST", "/api/v1/namespaces/default/configmaps",
       {{"metadata", {{"name", "absent"}}}, {"data", {{"k", "here now"}}}}, 201);
  ASSERT_TRUE(RunUntil([&] {
    return Call("GET", "/api/v1/namespaces/default/pods/p")["status"]["phase"] == "Succeeded";
  }));
  EXPECT_EQ(PodLog("p"), "here now");
}

}  // namespace
}  // namespace portflow::fake
