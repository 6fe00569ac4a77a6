// The contract of core/backend.h, run against every backend. A new backend
// joins by adding its factory to kBackends.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <thread>

#include "cloud_backend/cloud_backend.h"
#include "core/backend.h"
#include "core/testing/event_recorder.h"
#include "k8s_backend/fake_cluster/fake_cluster.h"
#include "k8s_backend/fake_cluster/fake_transport.h"
#include "k8s_backend/kubernetes_backend.h"
#include "k8s_backend/rehearsal/rehearsal.h"
#include "local_backend/local_backend.h"
#include "tests/testing/cli_runner.h"

namespace portflow {
namespace {

using testing::EventRecorder;
using ::testing::HasSubstr;
using testing::ReadFile;

struct BackendCase {
  std::string name;
  std::function<std::unique_ptr<Backend>()> make;
};

// The kubernetes backend runs against a fake cluster served on loopback in
// execute mode (pods are local processes), over real HTTP: one per test
// process, since CTest runs every case in a process of its own.
// The cluster lives until the tests end, then stops before the process
// exits (its threads must not outlive the statics they use).
class FakeClusterEnvironment : public ::testing::Environment {
 public:
  static fake::FakeCluster& Get() {
    if (!cluster_) {
      fake::ClusterOptions o;
      o.nodes = 2;
      o.kubelet.execute = true;
      o.kubelet.exec_root = ::testing::TempDir() + "conf_k8s_" + std::to_string(::getpid());
      std::filesystem::remove_all(o.kubelet.exec_root);
      cluster_ = fake::FakeCluster::Create(o).value();
      cluster_->Serve(0).value();
    }
    return *cluster_;
  }
  void TearDown() override {
    if (cluster_)
      std::filesystem::remove_all(::testing::TempDir() + "conf_k8s_" + std::to_string(::getpid()));
    std::error_code ec;
    std::filesystem::remove_all(::testing::TempDir() + "conf_cloud_" + std::to_string(::getpid()),
                                ec);
    cluster_.reset();
  }

 private:
  static inline std::unique_ptr<fake::FakeCluster> cluster_;
};
const auto* const kFakeClusterEnvironment =
    ::testing::AddGlobalTestEnvironment(new FakeClusterEnvironment);

std::unique_ptr<Backend> KubernetesOnFakeCluster() {
  FakeClusterEnvironment::Get();
  KubernetesBackendOptions o;
  o.target.image = "busybox";
  o.target.ship_code = false;  // the commands use the host's /bin/sh
  o.target.namespace_name = "default";
  o.access = fake::ServedAccess(FakeClusterEnvironment::Get());
  return NewKubernetesBackend(o);
}

// The cloud backend over the fake cloud embedded in portflow (the
// cloud-rehearsal target): each case a cloud of its own, whose nodes join
// half a second after they are asked for.
std::unique_ptr<Backend> CloudRehearsal() {
  static const bool registered = (RegisterCloudBackends(), true);
  (void)registered;
  static int made = 0;
  // Removed with the fake cluster's folder when the tests end.
  std::string work = ::testing::TempDir() + "conf_cloud_" + std::to_string(::getpid()) + "/" +
                     std::to_string(++made);
  std::filesystem::remove_all(work);
  return CreateBackend("cloud-rehearsal", {{"workDir", work},
                                           {"provisioning", "500ms"},
                                           {"image", "busybox"},
                                           {"code", "image"}})
      .value();
}

// The hybrid rehearsal (an embedded on-prem cluster, then the embedded
// cloud, outputs in its S3): each attempt placed as the engine places it,
// and run under the agent in a pod of the member it is placed on.
std::unique_ptr<Backend> HybridRehearsal() {
  static const bool registered = (RegisterCloudBackends(), RegisterRehearsalBackend(), true);
  (void)registered;
  static int made = 0;
  std::string work = ::testing::TempDir() + "conf_hybrid_" + std::to_string(::getpid()) + "/" +
                     std::to_string(++made);
  std::filesystem::remove_all(work);
  return CreateBackend(
             "hybrid-rehearsal",
             {{"workDir", work}, {"onpremCpu", "2"}, {"agentBinary", testing::PortflowBinary()}})
      .value();
}

const BackendCase kBackends[] = {
    {"local",
     [] {
       LocalOptions o;
       o.capacity = ResourceRequest{4000, 4LL << 30, 0};
       o.kill_grace = std::chrono::seconds(2);
       o.inherit_env = false;  // as `run --strict`: the environment a cluster gives
       return NewLocalBackend(o);
     }},
    {"kubernetes", KubernetesOnFakeCluster},
    {"cloud", CloudRehearsal},
    {"hybrid", HybridRehearsal},
};

class BackendConformance : public ::testing::TestWithParam<BackendCase> {
 protected:
  void SetUp() override {
    // With the pid: another build's run of the same test may be under way.
    dir_ = ::testing::TempDir() + "conf_" + GetParam().name + "_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name() + "_" +
           std::to_string(::getpid());
    for (char& c : dir_) {
      if (c == '/' && &c > dir_.data() + ::testing::TempDir().size()) c = '_';
    }
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    backend_ = GetParam().make();
    backend_->SetEventSink(&events_);
  }
  void TearDown() override {
    backend_.reset();  // its threads write below dir_
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  TaskSpec Spec(const std::string& instance, const std::string& script, int replicas = 1) {
    TaskSpec t;
    t.run_id = "conf";
    t.step = instance;
    t.instance = instance;
    t.argv = {"/bin/sh", "-c", script};
    t.workdir = dir_;
    t.run_dir = dir_ + "/run";
    t.replicas = replicas;
    t.resources = {500, 0, 0};
    t.env = {{"GREETING", "hello"}};
    t.image = "busybox";  // where a backend runs images; the others run the host's
    return t;
  }

  // As the engine submits: on the member placement names, where the
  // backend has members.
  Result<TaskHandle> Submit(TaskSpec t) {
    t.member = backend_->Place({t.resources, t.replicas, {}}).member;
    return backend_->Submit(t);
  }

  std::string Log(const TaskSpec& t, int replica = 0) {
    std::string out;
    Status s = backend_->Logs(*handles_[t.Key()], replica, false, [&](std::string_view chunk) {
      out.append(chunk);
      return true;
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return out;
  }

  std::optional<TaskEvent> RunToEnd(const TaskSpec& t) {
    auto h = Submit(t);
    EXPECT_TRUE(h.ok()) << h.status().ToString();
    if (!h.ok()) return std::nullopt;
    handles_[t.Key()] = *h;
    return events_.WaitTerminal(t.Key());
  }

  std::string dir_;
  EventRecorder events_;
  std::unique_ptr<Backend> backend_;
  std::map<std::string, std::optional<TaskHandle>> handles_;
};

TEST_P(BackendConformance, SucceedsWithItsEnvAndLogs) {
  TaskSpec t = Spec("ok", "echo $GREETING from $PORTFLOW_RANK");
  auto end = RunToEnd(t);
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->state, TaskState::kSucceeded);
  EXPECT_EQ(end->result->exit_code, 0);
  EXPECT_EQ(Log(t), "hello from 0\n");
  EXPECT_EQ(ReadFile(LogPath(t.run_dir, "ok", 1, 0)),
            "hello from 0\n");  // logs live in the run dir
}

// A task holds only stdin, stdout and stderr: none of portflow's sockets
// (the API server's listener under rehearsal), logs or store. `ls` lists
// the fds of its own process: 0, 1 and 2 it inherited, and what it opened
// itself to read that folder.
TEST_P(BackendConformance, ATaskSeesOnlyStdinStdoutAndStderr) {
  TaskSpec t = Spec("fds", "exec ls -l /proc/self/fd");
  auto end = RunToEnd(t);
  ASSERT_TRUE(end.has_value());
  ASSERT_EQ(end->state, TaskState::kSucceeded) << Log(t);
  std::string listed = Log(t);
  std::regex entry(" ([0-9]+) -> ([^\n]*)");
  int seen = 0;
  for (auto it = std::sregex_iterator(listed.begin(), listed.end(), entry);
       it != std::sregex_iterator(); ++it) {
    ++seen;
    if (std::stoi((*it)[1]) > 2) {
      EXPECT_THAT((*it)[2].str(), ::testing::MatchesRegex("/proc/[0-9]+/fd"))
          << "fd " << (*it)[1] << " leaked into the task:\n"
          << listed;
    }
  }
  EXPECT_GE(seen, 3) << listed;
}

// A task gets its own variables, not those of the shell that started
// portflow (locally as with --strict or env: clean), and finds its tools.
TEST_P(BackendConformance, TheShellsEnvironmentIsNotInherited) {
  ::setenv("PORTFLOW_CONFORMANCE_SHELL_ONLY", "leaked", 1);
  TaskSpec t =
      Spec("env", "echo ${PORTFLOW_CONFORMANCE_SHELL_ONLY:-none} $GREETING; command -v sh");
  auto end = RunToEnd(t);
  ::unsetenv("PORTFLOW_CONFORMANCE_SHELL_ONLY");
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->state, TaskState::kSucceeded);
  EXPECT_THAT(Log(t), ::testing::StartsWith("none hello\n/"));
}

// `$` means what the shell makes of it, on every backend: Kubernetes'
// own $(VAR) and $$ expansion in commands and env values must not apply.
TEST_P(BackendConformance, DollarSignsReachTheShellAsWritten) {
  TaskSpec t = Spec("dollar",
                    "case $$ in ''|*[!0-9]*) echo not-a-pid;; *) echo pid;; esac; "
                    "echo \"$PRICE\" $(echo sub)");
  t.env.push_back({"PRICE", "$5 $(GREETING) $$"});
  auto end = RunToEnd(t);
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->state, TaskState::kSucceeded);
  EXPECT_EQ(Log(t), "pid\n$5 $(GREETING) $$ sub\n");
}

TEST_P(BackendConformance, ReportsTheExitCodeOfAFailure) {
  TaskSpec t = Spec("bad", "echo about to fail; exit 7");
  auto end = RunToEnd(t);
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->state, TaskState::kFailed);
  EXPECT_EQ(end->result->exit_code, 7);
  EXPECT_THAT(Log(t), HasSubstr("about to fail"));
}

// A code above 128 + 64 is the program's own, not a signal's.
TEST_P(BackendConformance, AHighExitCodeIsNotASignal) {
  TaskSpec t = Spec("high", "exit 200");
  auto end = RunToEnd(t);
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->state, TaskState::kFailed);
  EXPECT_EQ(end->result->exit_code, 200);
  EXPECT_EQ(end->result->signal, 0);
}

// A process killed by a signal reports the signal, not only the shell's
// 128 + N (a cluster says exit code 137 for a SIGKILL).
TEST_P(BackendConformance, AKilledProcessReportsItsSignal) {
  TaskSpec t = Spec("killed", "echo going; kill -9 $$");
  auto end = RunToEnd(t);
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->state, TaskState::kFailed);
  EXPECT_EQ(end->result->signal, 9);
  EXPECT_EQ(end->result->exit_code, 137);
  EXPECT_EQ(Log(t), "going\n");
}

// A command that cannot start fails with a message that says why, and as
// something that can never start, which the engine does not retry: an
// InvalidArgument from Submit (local), or a StartError with code 128 from
// the cluster (kubernetes).
TEST_P(BackendConformance, ACommandThatCannotStartSaysWhy) {
  TaskSpec t = Spec("missing", "");
  t.argv = {"no-such-command-4711"};
  auto h = Submit(t);
  if (!h.ok()) {
    EXPECT_EQ(h.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(h.status().message(), HasSubstr("no-such-command-4711"));
    return;
  }
  handles_[t.Key()] = *h;
  auto end = events_.WaitTerminal(t.Key());
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->state, TaskState::kFailed);
  if (end->result->exit_code == 127) {
    // Under `portflow agent` (a hybrid target's pods), the agent starts
    // and says that the command does not, as a shell would (127).
    EXPECT_THAT(Log(t), HasSubstr("no-such-command-4711"));
    return;
  }
  EXPECT_EQ(end->result->reason, "StartError");
  EXPECT_EQ(end->result->exit_code, 128);
  EXPECT_THAT(end->result->message, HasSubstr("no-such-command-4711"));
}

TEST_P(BackendConformance, SubmitIsIdempotentPerKey) {
  TaskSpec t = Spec("once", "echo x >> " + dir_ + "/count; sleep 0.3");
  auto h1 = Submit(t);
  auto h2 = Submit(t);
  ASSERT_TRUE(h1.ok() && h2.ok());
  EXPECT_EQ(h1->data, h2->data);
  ASSERT_TRUE(events_.WaitTerminal(t.Key()).has_value());
  EXPECT_EQ(ReadFile(dir_ + "/count"), "x\n");
  t.attempt = 2;  // a new attempt is new work
  ASSERT_TRUE(RunToEnd(t).has_value());
  EXPECT_EQ(ReadFile(dir_ + "/count"), "x\nx\n");
}

TEST_P(BackendConformance, CancelIsIdempotentAndEndsTheAttempt) {
  TaskSpec t = Spec("long", "sleep 30");
  auto h = Submit(t);
  ASSERT_TRUE(h.ok());
  EXPECT_TRUE(backend_->Cancel(*h, false).ok());
  EXPECT_TRUE(backend_->Cancel(*h, false).ok());
  auto end = events_.WaitTerminal(t.Key(), std::chrono::seconds(10));
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->state, TaskState::kCancelled);
  EXPECT_TRUE(backend_->Cancel(*h, true).ok());
}

// What a task prints while it stops (after SIGTERM) is in its log, whether
// its attempt was cancelled or a peer of its gang failed.
TEST_P(BackendConformance, WhatATaskPrintsAfterSigtermIsKept) {
  TaskSpec t = Spec("stopping",
                    "trap 'echo got TERM; sleep 0.3; echo bye; exit 3' TERM; echo up; "
                    "sleep 30 & wait");
  auto h = Submit(t);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  handles_[t.Key()] = *h;
  ASSERT_TRUE(
      testing::WaitFor([&] { return ReadFile(LogPath(t.run_dir, "stopping", 1, 0)) == "up\n"; },
                       std::chrono::seconds(20)));
  ASSERT_TRUE(backend_->Cancel(*h, false).ok());
  auto end = events_.WaitTerminal(t.Key(), std::chrono::seconds(20));
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->state, TaskState::kCancelled);
  EXPECT_EQ(Log(t), "up\ngot TERM\nbye\n");
}

TEST_P(BackendConformance, AGangPeerStoppedByAFailureKeepsItsLastLines) {
  TaskSpec t = Spec("gang",
                    "trap 'echo rank $RANK stopping; sleep 0.3; echo rank $RANK bye; exit 3' "
                    "TERM; echo rank $RANK up; if [ $RANK = 1 ]; then sleep 1; exit 1; fi; "
                    "sleep 30 & wait",
                    2);
  auto end = RunToEnd(t);
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->state, TaskState::kFailed);
  EXPECT_EQ(Log(t, 0), "rank 0 up\nrank 0 stopping\nrank 0 bye\n");
  EXPECT_EQ(Log(t, 1), "rank 1 up\n");
}

TEST_P(BackendConformance, ExactlyOneTerminalEventPerAttempt) {
  TaskSpec t = Spec("one", "true", 2);
  ASSERT_TRUE(RunToEnd(t).has_value());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  int terminal = 0;
  for (const TaskEvent& e : events_.events()) terminal += e.key == t.Key() && IsTerminal(e.state);
  EXPECT_EQ(terminal, 1);
}

TEST_P(BackendConformance, ReplicasGetTheDistributedContract) {
  TaskSpec t = Spec("dist",
                    "echo $WORLD_SIZE $RANK $LOCAL_RANK $NODE_RANK $NNODES $PORTFLOW_WORLD_SIZE "
                    "$PORTFLOW_LOCAL_RANK; test -n \"$MASTER_ADDR\" && test -n \"$MASTER_PORT\"",
                    2);
  auto end = RunToEnd(t);
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->state, TaskState::kSucceeded);
  // The same values on every backend: each replica a node of one process.
  EXPECT_EQ(Log(t, 0), "2 0 0 0 2 2 0\n");
  EXPECT_EQ(Log(t, 1), "2 1 0 1 2 2 0\n");
}

TEST_P(BackendConformance, RenderIsPureAndDeterministic) {
  TaskSpec t = Spec("render", "echo hi", 2);
  auto a = backend_->Render(t);
  auto b = backend_->Render(t);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(*a, *b);
  EXPECT_TRUE(nlohmann::json::parse(*a, nullptr, false).is_object());
  EXPECT_THAT(*a, HasSubstr("echo hi"));
  EXPECT_FALSE(std::filesystem::exists(t.run_dir));  // nothing was created
  EXPECT_TRUE(events_.events().empty());
}

TEST_P(BackendConformance, RejectsAnEmptyCommand) {
  TaskSpec t = Spec("empty", "");
  t.argv.clear();
  EXPECT_EQ(Submit(t).status().code(), StatusCode::kInvalidArgument);
}

TEST_P(BackendConformance, CapacityIsPositive) {
  ResourceRequest c = backend_->Capacity();
  EXPECT_GT(c.milli_cpu, 0);
  EXPECT_GT(c.memory_bytes, 0);
}

// Placement answers from what the backend has running: an attempt that
// holds more than half of the capacity leaves no room for another half
// until it ends. Nothing larger than the capacity ever fits.
TEST_P(BackendConformance, PlacementCountsWhatRunsUntilItEnds) {
  const ResourceRequest one_cpu{1000, 0, 0};
  if (std::string first = backend_->Place({one_cpu, 1, {}}).member; !first.empty()) {
    // A composite backend (a hybrid target) answers for its members: what
    // runs on the first counts there until it ends; past its room, the
    // next attempt cannot start there at once.
    auto starts_on_first = [&] {
      Placement p = backend_->Place({one_cpu, 1, {}});
      return p.member == first && p.can_start_now && p.estimated_wait == Duration::zero();
    };
    std::vector<TaskSpec> filled;
    while (filled.size() < 16 && starts_on_first()) {
      TaskSpec t = Spec("fill" + std::to_string(filled.size()), "sleep 60");
      t.resources = one_cpu;
      auto h = Submit(t);
      ASSERT_TRUE(h.ok()) << h.status().ToString();
      handles_[t.Key()] = *h;
      filled.push_back(t);
    }
    ASSERT_GT(filled.size(), 0u);
    ASSERT_LT(filled.size(), 16u) << "what runs there is not counted";
    ASSERT_TRUE(backend_->Cancel(*handles_[filled.back().Key()], true).ok());
    ASSERT_TRUE(events_.WaitTerminal(filled.back().Key()).has_value());
    EXPECT_TRUE(starts_on_first()) << "its room is back";
    for (const TaskSpec& t : filled) (void)backend_->Cancel(*handles_[t.Key()], true);
    return;
  }
  if (backend_->Place({{1, 0, 0}, 1, {}}).elastic) {
    // An elastic backend's capacity is what its groups could grow to, one
    // node at a time: what fits no node never fits; what fits one can
    // start (it waits for the node it causes), and while it runs, all of
    // the groups' room is counted as in use.
    ResourceRequest capacity = backend_->Capacity();
    EXPECT_FALSE(backend_->Place({capacity, 1, {}}).can_ever_fit);
    Placement one = backend_->Place({{500, 0, 0}, 1, {}});
    EXPECT_TRUE(one.can_start_now) << one.why;
    EXPECT_GT(one.estimated_wait.value_or(Duration::zero()), Duration::zero()) << "no node yet";
    TaskSpec big = Spec("big", "sleep 60");
    auto h = Submit(big);
    ASSERT_TRUE(h.ok()) << h.status().ToString();
    EXPECT_FALSE(backend_->Place({{500, 0, 0}, 1, capacity}).can_start_now)
        << "what the caller holds back counts";
    ASSERT_TRUE(backend_->Cancel(*h, true).ok());
    ASSERT_TRUE(events_.WaitTerminal(big.Key()).has_value());
    return;
  }
  ResourceRequest capacity = backend_->Capacity();
  ResourceRequest half{capacity.milli_cpu / 2, 0, 0};
  ResourceRequest more_than_half{capacity.milli_cpu / 2 + 1, 0, 0};
  EXPECT_TRUE(backend_->Place({half, 2, {}}).can_start_now);
  Placement never = backend_->Place({half, 3, {}});
  EXPECT_FALSE(never.can_ever_fit);
  EXPECT_FALSE(never.can_start_now);

  TaskSpec big = Spec("big", "sleep 60");
  big.resources = more_than_half;
  auto h = Submit(big);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  Placement full = backend_->Place({half, 1, {}});
  EXPECT_FALSE(full.can_start_now) << full.why;
  EXPECT_TRUE(full.can_ever_fit);
  // What the caller holds back for others counts too.
  EXPECT_FALSE(backend_->Place({{1, 0, 0}, 1, half}).can_start_now);

  ASSERT_TRUE(backend_->Cancel(*h, true).ok());
  ASSERT_TRUE(events_.WaitTerminal(big.Key()).has_value());
  Placement free = backend_->Place({half, 1, {}});
  EXPECT_TRUE(free.can_start_now) << free.why;
  EXPECT_EQ(free.estimated_wait, Duration::zero());
}

TEST_P(BackendConformance, RecoverOfUnknownWorkReportsEveryHandle) {
  TaskHandle stale{backend_->name(), "conf/gone/1", "{}"};
  auto r = backend_->Recover("conf-nothing-here", {stale});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 1u);
  EXPECT_NE((*r)[0].state, TaskState::kRunning);
}

INSTANTIATE_TEST_SUITE_P(Backends, BackendConformance, ::testing::ValuesIn(kBackends),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace portflow
