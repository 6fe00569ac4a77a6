// The real kubectl against `portflow cluster serve --mode execute`: Jobs whose
// pods run as local processes, with replicas that rendezvous over TCP.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>

#include "tests/testing/cli_runner.h"

namespace portflow::testing {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

class KubectlExecuteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "kubectl_execute_" + std::to_string(::getpid());
    fs::remove_all(dir_);
    ServedCluster c =
        ServeCluster(dir_, {"--mode", "execute", "--nodes", "2", "--work-dir", dir_ + "/kubelet"});
    ASSERT_GT(c.pid, 0) << c.error;
    server_ = c.pid;
  }
  void TearDown() override {
    if (server_ > 0) {
      EXPECT_EQ(StopCluster(server_), 0);
    }
    fs::remove_all(dir_);
  }
  ShellResult Kubectl(const std::string& args, const std::string& stdin_text = "") {
    return testing::Kubectl(dir_, args, stdin_text);
  }

  std::string dir_;
  pid_t server_ = -1;
};

// Replica 0 listens on MASTER_PORT; replica 1 finds it at MASTER_ADDR, the
// stable name <job>-0.<service>, and says hello. Both write to a shared claim.
constexpr const char* kRendezvous = R"yaml(apiVersion: v1
kind: Service
metadata: {name: ddp}
spec: {clusterIP: None, selector: {job-name: ddp}}
---
apiVersion: batch/v1
kind: Job
metadata: {name: ddp}
spec:
  completions: 2
  parallelism: 2
  completionMode: Indexed
  template:
    spec:
      restartPolicy: Never
      subdomain: ddp
      containers:
      - name: main
        image: python:3.12
        command: [python3, -c]
        args:
        - |
          import os, socket, time
          rank = int(os.environ["JOB_COMPLETION_INDEX"])
          addr, port = os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"])
          if rank == 0:
              s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
              s.bind(("127.0.0.1", port)); s.listen(1)
              conn, _ = s.accept(); msg = conn.recv(100).decode()
              print("rank 0 got:", msg, flush=True)
          else:
              for _ in range(100):
                  try:
                      c = socket.create_connection((addr, port)); break
                  except OSError:
                      time.sleep(0.1)
              c.sendall(b"hello from rank 1"); print("rank 1 sent to", addr, flush=True)
          open("/out/rank-%d" % rank, "w").write("done")
        env:
        - {name: MASTER_ADDR, value: ddp-0.ddp}
        - {name: MASTER_PORT, value: "29517"}
        volumeMounts: [{name: out, mountPath: /out}]
      volumes: [{name: out, persistentVolumeClaim: {claimName: results}}]
)yaml";

TEST_F(KubectlExecuteTest, IndexedReplicasRendezvousAndLogsComeFromTheProcesses) {
  ShellResult applied = Kubectl("apply -f -", kRendezvous);
  ASSERT_EQ(applied.code, 0) << applied.out;
  ShellResult waited = Kubectl("wait --for=condition=complete job/ddp --timeout=50s");
  ASSERT_EQ(waited.code, 0) << waited.out << Kubectl("get pods -o yaml").out;
  ShellResult logs = Kubectl("logs -l job-name=ddp --prefix");
  EXPECT_THAT(logs.out, HasSubstr("rank 0 got: hello from rank 1"));
  EXPECT_THAT(logs.out, HasSubstr("rank 1 sent to 127.0.0.1"));
  EXPECT_THAT(Kubectl("get job ddp").out, HasSubstr("2/2"));
  for (const char* rank : {"0", "1"}) {
    EXPECT_EQ(ReadFile(dir_ + "/kubelet/volumes/default/results/rank-" + std::string(rank)),
              "done");
  }
}

// Quick commands print at once: every pod's output must reach its log,
// pod after pod, while clients come and go. (A process could be handed an
// eventfd for stdout: Boost.Process's vfork child re-created a shared
// io_context's descriptors under numbers the parent had reused.)
TEST_F(KubectlExecuteTest, EveryQuickCommandHasItsLog) {
  for (int i = 0; i < 8; ++i) {
    std::string n = std::to_string(i);
    ShellResult run = Kubectl("run quick-" + n +
                              " --image=busybox --restart=Never --command -- /bin/echo out-" + n);
    ASSERT_EQ(run.code, 0) << run.out;
  }
  for (int i = 0; i < 8; ++i) {
    std::string pod = "pod/quick-" + std::to_string(i);
    ShellResult waited =
        Kubectl("wait --for=jsonpath={.status.phase}=Succeeded " + pod + " --timeout=50s");
    ASSERT_EQ(waited.code, 0) << waited.out;
    EXPECT_EQ(Kubectl("logs " + pod).out, "out-" + std::to_string(i) + "\n") << pod;
  }
}

TEST_F(KubectlExecuteTest, FailingCommandFailsTheJobWithItsExitCode) {
  ShellResult applied = Kubectl("apply -f -", R"yaml(apiVersion: batch/v1
kind: Job
metadata: {name: broken}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers: [{name: main, image: x, command: [sh, -c, "echo failing >&2; exit 7"]}]
)yaml");
  ASSERT_EQ(applied.code, 0) << applied.out;
  ShellResult waited = Kubectl("wait --for=condition=failed job/broken --timeout=50s");
  ASSERT_EQ(waited.code, 0) << waited.out;
  EXPECT_THAT(Kubectl("logs job/broken").out, HasSubstr("failing"));
  EXPECT_THAT(Kubectl("get pods -l job-name=broken -o "
                      "jsonpath={.items[0].status.containerStatuses[0].state.terminated.exitCode}")
                  .out,
              HasSubstr("7"));
}

}  // namespace
}  // namespace portflow::testing
