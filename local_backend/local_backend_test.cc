#include "local_backend/local_backend.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "core/backend_wrapper.h"
#include "core/engine.h"
#include "core/process/proc.h"
#include "core/spec_loader.h"
#include "core/testing/event_recorder.h"

namespace portflow {
namespace {

using testing::EventRecorder;
using ::testing::HasSubstr;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class LocalBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "local_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    LocalOptions o;
    o.capacity = ResourceRequest{8000, 8LL << 30, 2};
    o.kill_grace = std::chrono::seconds(2);
    backend_ = NewLocalBackend(o);
    backend_->SetEventSink(&events_);
  }

  TaskSpec Spec(const std::string& instance, std::vector<std::string> argv, int replicas = 1) {
    TaskSpec t;
    t.run_id = "r1";
    t.step = instance;
    t.instance = instance;
    t.argv = std::move(argv);
    t.workdir = dir_;
    t.run_dir = dir_ + "/run";
    t.replicas = replicas;
    t.resources = {1000, 0, 0};
    return t;
  }

  std::vector<ProcessRef> Pids(const TaskHandle& h) {
    auto j = nlohmann::json::parse(h.data);
    std::vector<ProcessRef> out;
    for (size_t i = 0; i < j["pids"].size(); ++i) out.push_back({j["pids"][i], j["starts"][i]});
    return out;
  }

  std::string dir_;
  EventRecorder events_;
  std::unique_ptr<Backend> backend_;
};

// A task gets this process's environment with its own variables on top:
// a name in both appears once, with the task's (last) value; a host
// variable the task does not name keeps its value.
TEST_F(LocalBackendTest, TheTasksVariablesOverrideTheHostsOnce) {
  ::setenv("PORTFLOW_TEST_SHARED", "host", 1);
  ::setenv("PORTFLOW_TEST_HOST_ONLY", "kept", 1);
  TaskSpec t = Spec("e", {"/usr/bin/env"});  // not a shell: it would merge duplicates
  t.env = {{"PORTFLOW_TEST_SHARED", "first"},
           {"PORTFLOW_TEST_OWN", "own"},
           {"PORTFLOW_TEST_SHARED", "task"}};
  auto h = backend_->Submit(t);
  ::unsetenv("PORTFLOW_TEST_SHARED");
  ::unsetenv("PORTFLOW_TEST_HOST_ONLY");
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  auto end = events_.WaitTerminal(t.Key());
  ASSERT_TRUE(end.has_value());
  std::istringstream lines(ReadFile(LogPath(t.run_dir, "e", 1, 0)));
  std::vector<std::string> ours;
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("PORTFLOW_TEST_", 0) == 0) ours.push_back(line);
  }
  EXPECT_THAT(ours, ::testing::UnorderedElementsAre("PORTFLOW_TEST_SHARED=task",
                                                    "PORTFLOW_TEST_HOST_ONLY=kept",
                                                    "PORTFLOW_TEST_OWN=own"));
}

TEST_F(LocalBackendTest, GangSharesTheRendezvousEnvironment) {
  TaskSpec t = Spec("g",
                    {"/bin/sh", "-c",
                     "echo $WORLD_SIZE $RANK $LOCAL_RANK $NNODES $MASTER_ADDR $MASTER_PORT "
                     "$PORTFLOW_RANK $CUDA_VISIBLE_DEVICES"},
                    3);
  auto h = backend_->Submit(t);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  auto end = events_.WaitTerminal(t.Key());
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->state, TaskState::kSucceeded);
  std::string port;
  for (int r = 0; r < 3; ++r) {
    std::istringstream line(ReadFile(LogPath(t.run_dir, "g", 1, r)));
    std::string world, rank, local, nnodes, addr, p, twin;
    line >> world >> rank >> local >> nnodes >> addr >> p >> twin;
    EXPECT_EQ(world, "3");
    EXPECT_EQ(rank, std::to_string(r));
    EXPECT_EQ(local, "0");  // each replica has its own GPUs: its device 0
    EXPECT_EQ(nnodes, "3");
    EXPECT_EQ(addr, "127.0.0.1");
    EXPECT_EQ(twin, rank);
    if (r == 0) port = p;
    EXPECT_EQ(p, port);  // one MASTER_PORT for the whole gang
  }
  // Below the ephemeral range, where no outgoing connection can take it
  // before rank 0 binds it.
  int low = 0;
  std::ifstream("/proc/sys/net/ipv4/ip_local_port_range") >> low;
  EXPECT_GE(std::stoi(port), 10000);
  EXPECT_LT(std::stoi(port), low);
}

TEST_F(LocalBackendTest, OneFailedReplicaStopsTheGang) {
  TaskSpec t = Spec("g", {"/bin/sh", "-c", "if [ $RANK = 1 ]; then exit 3; fi; exec sleep 60"}, 3);
  auto start = std::chrono::steady_clock::now();
  auto h = backend_->Submit(t);
  ASSERT_TRUE(h.ok());
  auto end = events_.WaitTerminal(t.Key());
  ASSERT_TRUE(end.has_value());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_EQ(end->state, TaskState::kFailed);
  EXPECT_EQ(end->result->exit_code, 3);
  EXPECT_THAT(end->result->message, HasSubstr("replica 1 exited with code 3"));
  for (const ProcessRef& p : Pids(*h)) EXPECT_FALSE(IsSameProcess(p));
}

// The peers of a failed replica are asked to stop (SIGTERM) before they are
// killed: a peer that traps SIGTERM says so in its log.
TEST_F(LocalBackendTest, AFailedReplicaSigtermsItsPeers) {
  TaskSpec t = Spec("g",
                    {"/bin/sh", "-c",
                     "if [ $RANK = 1 ]; then sleep 0.3; exit 3; fi; "
                     "trap 'echo got-TERM; exit 143' TERM; echo ready; sleep 60 & wait $!"},
                    3);
  auto h = backend_->Submit(t);
  ASSERT_TRUE(h.ok());
  auto end = events_.WaitTerminal(t.Key());
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->result->exit_code, 3);
  for (int r : {0, 2}) {
    EXPECT_THAT(ReadFile(LogPath(t.run_dir, "g", 1, r)), HasSubstr("got-TERM")) << "replica " << r;
  }
}

// A peer that ignores SIGTERM is killed once the grace (2 s here) has
// passed, and not before. Replica 1 fails once replica 0 has its trap set.
TEST_F(LocalBackendTest, APeerThatIgnoresSigtermIsKilledAfterTheGrace) {
  TaskSpec t = Spec("g",
                    {"/bin/sh", "-c",
                     "if [ $RANK = 1 ]; then i=0; while [ ! -e ready ] && [ $i -lt 1000 ]; do "
                     "sleep 0.01; i=$((i+1)); done; exit 3; fi; "
                     "trap '' TERM; touch ready; while :; do sleep 0.05; done"},
                    2);
  auto start = std::chrono::steady_clock::now();
  auto h = backend_->Submit(t);
  ASSERT_TRUE(h.ok());
  auto end = events_.WaitTerminal(t.Key());
  ASSERT_TRUE(end.has_value());
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  EXPECT_EQ(end->state, TaskState::kFailed);
  EXPECT_EQ(end->result->exit_code, 3);
  EXPECT_THAT(end->result->message, HasSubstr("replica 1 exited with code 3"));
  for (const ProcessRef& p : Pids(*h)) EXPECT_FALSE(IsSameProcess(p));
}

TEST_F(LocalBackendTest, CancelStopsTheWholeProcessGroup) {
  std::string pidfile = dir_ + "/child.pid";
  TaskSpec t = Spec("c", {"/bin/sh", "-c", "sleep 60 & echo $! > " + pidfile + "; wait"});
  auto h = backend_->Submit(t);
  ASSERT_TRUE(h.ok());
  for (int i = 0; i < 200 && ReadFile(pidfile).empty(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  pid_t child = std::stoi(ReadFile(pidfile));
  ASSERT_EQ(::kill(child, 0), 0);
  ASSERT_TRUE(backend_->Cancel(*h, false).ok());
  auto end = events_.WaitTerminal(t.Key());
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->state, TaskState::kCancelled);
  // The grandchild went with its group (it may linger as a zombie of init for a moment).
  bool gone = false;
  for (int i = 0; i < 200 && !gone; ++i) {
    gone = !IsSameProcess({child, ProcessStartTicks(child)});
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(gone);
  EXPECT_TRUE(backend_->Cancel(*h, true).ok());  // idempotent after the end
}

TEST_F(LocalBackendTest, GpusAreHandedOutOnce) {
  TaskSpec a = Spec("a", {"/bin/sh", "-c", "echo $CUDA_VISIBLE_DEVICES; sleep 0.2"});
  TaskSpec b = Spec("b", {"/bin/sh", "-c", "echo $CUDA_VISIBLE_DEVICES; sleep 0.2"});
  TaskSpec c = Spec("c", {"/bin/sh", "-c", "echo none=$CUDA_VISIBLE_DEVICES"});
  a.resources.gpus = b.resources.gpus = 1;
  ASSERT_TRUE(backend_->Submit(a).ok());
  ASSERT_TRUE(backend_->Submit(b).ok());
  TaskSpec d = Spec("d", {"/bin/true"});
  d.resources.gpus = 1;
  EXPECT_EQ(backend_->Submit(d).status().code(), StatusCode::kResourceExhausted);
  ASSERT_TRUE(backend_->Submit(c).ok());
  for (const TaskSpec* t : {&a, &b, &c}) ASSERT_TRUE(events_.WaitTerminal(t->Key()).has_value());
  std::set<std::string> seen{ReadFile(LogPath(a.run_dir, "a", 1, 0)),
                             ReadFile(LogPath(b.run_dir, "b", 1, 0))};
  EXPECT_EQ(seen, (std::set<std::string>{"0\n", "1\n"}));
  EXPECT_EQ(ReadFile(LogPath(c.run_dir, "c", 1, 0)), "none=\n");
  ASSERT_TRUE(backend_->Submit(d).ok());  // freed again
}

// Each live process holds a descriptor: past the limit on open files
// (ulimit -n) a step waits for others to end rather than fail to start.
TEST_F(LocalBackendTest, PlacementKeepsWithinTheLimitOnOpenFiles) {
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  rlimit low = saved;
  low.rlim_cur = 66;  // half held back for portflow's own: 33 processes at once
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  TaskSpec a = Spec("a", {"/bin/sh", "-c", "sleep 0.3"});
  TaskSpec b = Spec("b", {"/bin/sh", "-c", "sleep 0.3"});
  PlacementRequest gang{{1, 0, 0}, 32, {}};
  EXPECT_TRUE(backend_->Place(gang).can_start_now);
  ASSERT_TRUE(backend_->Submit(a).ok());
  ASSERT_TRUE(backend_->Submit(b).ok());
  Placement full = backend_->Place(gang);
  EXPECT_FALSE(full.can_start_now);
  EXPECT_TRUE(full.can_ever_fit);
  EXPECT_THAT(full.why, HasSubstr("2 processes run and the limit on open files is 66"));
  Placement never = backend_->Place({{1, 0, 0}, 34, {}});
  EXPECT_FALSE(never.can_ever_fit);
  EXPECT_THAT(never.why, HasSubstr("its 34 processes would pass the limit on open files "
                                   "(ulimit -n 66 lets 33 run at once): raise it"));
  for (const TaskSpec* t : {&a, &b}) ASSERT_TRUE(events_.WaitTerminal(t->Key()).has_value());
  EXPECT_TRUE(backend_->Place(gang).can_start_now);
  low.rlim_cur = 1024;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  EXPECT_TRUE(backend_->Place({{1, 0, 0}, 960, {}}).can_start_now) << "64 held back of 1024";
  EXPECT_FALSE(backend_->Place({{1, 0, 0}, 961, {}}).can_ever_fit);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);
}

// A command that is not found can never start: InvalidArgument, which the
// engine neither retries nor keeps out of the log (EngineTest).
TEST_F(LocalBackendTest, CommandNotFoundCanNeverStart) {
  TaskSpec t = Spec("n", {"no-such-command-xyz", "arg"});
  auto h = backend_->Submit(t);
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(h.status().message(), HasSubstr("command not found: \"no-such-command-xyz\""));
}

TEST_F(LocalBackendTest, OutputsStartEmptyOnEachAttempt) {
  TaskSpec t = Spec("o", {"/bin/sh", "-c", "n=$(ls $OUT | wc -l); echo $n > $OUT/count"});
  t.outputs = {{"out", dir_ + "/run/outputs/o/out"}};
  t.env = {{"OUT", t.outputs[0].path}};
  std::filesystem::create_directories(t.outputs[0].path);
  std::ofstream(t.outputs[0].path + "/stale") << "x";
  ASSERT_TRUE(backend_->Submit(t).ok());
  ASSERT_TRUE(events_.WaitTerminal(t.Key()).has_value());
  EXPECT_EQ(ReadFile(t.outputs[0].path + "/count"), "0\n");
}

// The unnamed files this process holds open in `dir` (log files made
// ahead), as descriptor -> inode, but descriptor `skip`.
std::map<int, ino_t> SpareLogs(const std::string& dir, int skip = -1) {
  std::map<int, ino_t> out;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    int fd = std::stoi(entry.path().filename().string());
    std::error_code ec;
    std::string target = std::filesystem::read_symlink(entry.path(), ec).string();
    if (fd == skip || target.rfind(dir + "/#", 0) != 0 ||
        target.find("(deleted)") == std::string::npos)
      continue;
    struct stat st {};
    if (::stat(entry.path().c_str(), &st) == 0) out[fd] = st.st_ino;
  }
  return out;
}

struct stat StatOf(const std::string& path) {
  struct stat st {};
  ::stat(path.c_str(), &st);
  return st;
}

// Each spawn leaves an unnamed log file made ahead in the logs folder; the
// next task's log is that file, named, opened by its name (the task's
// output shows its real path) and stamped with the time it was named; a
// name already taken (a log left from before) is opened and emptied
// instead, and the file made ahead waits for the next name.
TEST_F(LocalBackendTest, TheNextLogFileIsMadeAheadAndNamedAtTheSpawn) {
  int probe = ::open(dir_.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
  if (probe < 0) GTEST_SKIP() << "no unnamed files (O_TMPFILE) in " << dir_;
  ::close(probe);
  std::string logs = dir_ + "/run/logs";
  TaskSpec a = Spec("a", {"/bin/sh", "-c", "echo A"});
  ASSERT_TRUE(backend_->Submit(a).ok());
  ASSERT_TRUE(events_.WaitTerminal(a.Key()).has_value());
  std::map<int, ino_t> spares = SpareLogs(logs);
  ASSERT_EQ(spares.size(), 1u) << "no one log file made ahead in " << logs;
  ino_t ahead = spares.begin()->second;
  // Held, so that the inode cannot be freed and its number reused.
  int held = ::open(("/proc/self/fd/" + std::to_string(spares.begin()->first)).c_str(),
                    O_RDONLY | O_CLOEXEC);
  ASSERT_GE(held, 0);

  TaskSpec b = Spec("b", {"/bin/sh", "-c", "echo B"});
  std::ofstream(LogPath(b.run_dir, "b", 1, 0)) << "left from before\n";
  ASSERT_TRUE(backend_->Submit(b).ok());
  ASSERT_TRUE(events_.WaitTerminal(b.Key()).has_value());
  EXPECT_EQ(ReadFile(LogPath(b.run_dir, "b", 1, 0)), "B\n");
  EXPECT_EQ(SpareLogs(logs, held).size(), 1u);
  EXPECT_EQ(SpareLogs(logs, held).begin()->second, ahead);

  std::string c_log = LogPath(dir_ + "/run", "c", 1, 0);
  TaskSpec c = Spec("c", {"/bin/sh", "-c", "readlink /proc/self/fd/1"});
  ASSERT_TRUE(backend_->Submit(c).ok());
  ASSERT_TRUE(events_.WaitTerminal(c.Key()).has_value());
  EXPECT_EQ(StatOf(c_log).st_ino, ahead);
  EXPECT_EQ(ReadFile(c_log), std::filesystem::canonical(c_log).string() + "\n");
  EXPECT_EQ(ReadFile(LogPath(a.run_dir, "a", 1, 0)), "A\n");
  ::close(held);

  // A task that prints nothing: its log's time is when it started, not
  // when the file was made (after c's spawn).
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  timespec before{};
  ::clock_gettime(CLOCK_REALTIME_COARSE, &before);
  TaskSpec d = Spec("d", {"/bin/true"});
  ASSERT_TRUE(backend_->Submit(d).ok());
  ASSERT_TRUE(events_.WaitTerminal(d.Key()).has_value());
  struct stat st = StatOf(LogPath(d.run_dir, "d", 1, 0));
  EXPECT_GE(st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec,
            before.tv_sec * 1000000000LL + before.tv_nsec);
  EXPECT_EQ(st.st_size, 0);
  EXPECT_EQ(SpareLogs(logs).size(), 1u);
}

// An attempt that ended having printed nothing gives its file to the next
// one (renamed: no new file), and then has no log file: its log reads
// empty. A file written since its attempt ended (a note) stays that
// attempt's, and a name already taken is emptied as before, the file to
// give kept for the next name.
TEST_F(LocalBackendTest, AnEmptyLogIsGivenToTheNextAttempt) {
  auto Run = [&](const std::string& name, const std::string& script) {
    TaskSpec t = Spec(name, {"/bin/sh", "-c", script});
    auto h = backend_->Submit(t);
    EXPECT_TRUE(h.ok()) << h.status().ToString();
    EXPECT_TRUE(events_.WaitTerminal(t.Key()).has_value());
    return *h;
  };
  auto Log = [&](const std::string& name) { return LogPath(dir_ + "/run", name, 1, 0); };
  TaskHandle quiet = Run("quiet", "true");
  ino_t given = StatOf(Log("quiet")).st_ino;
  ASSERT_NE(given, 0u);
  Run("loud", "echo L");
  EXPECT_FALSE(std::filesystem::exists(Log("quiet")));
  EXPECT_EQ(StatOf(Log("loud")).st_ino, given);
  EXPECT_EQ(ReadFile(Log("loud")), "L\n");
  std::string read = "";
  Status logs = backend_->Logs(quiet, 0, false, [&](std::string_view chunk) {
    read.append(chunk);
    return true;
  });
  EXPECT_TRUE(logs.ok()) << logs.ToString();
  EXPECT_EQ(read, "");

  // Written after its attempt ended: kept.
  Run("noted", "true");
  ino_t noted = StatOf(Log("noted")).st_ino;
  std::ofstream(Log("noted"), std::ios::app) << "portflow: a note\n";
  Run("after-note", "echo A");
  EXPECT_EQ(StatOf(Log("noted")).st_ino, noted);
  EXPECT_EQ(ReadFile(Log("noted")), "portflow: a note\n");
  EXPECT_NE(StatOf(Log("after-note")).st_ino, noted);
  EXPECT_EQ(ReadFile(Log("after-note")), "A\n");

  // A name taken: that file is emptied and used; the empty one waits.
  Run("waiting", "true");
  ino_t waiting = StatOf(Log("waiting")).st_ino;
  std::ofstream(Log("taken")) << "left from before\n";
  ino_t taken = StatOf(Log("taken")).st_ino;
  Run("taken", "echo T");
  EXPECT_EQ(StatOf(Log("taken")).st_ino, taken);
  EXPECT_EQ(ReadFile(Log("taken")), "T\n");
  EXPECT_EQ(StatOf(Log("waiting")).st_ino, waiting);
  Run("next", "echo N");
  EXPECT_FALSE(std::filesystem::exists(Log("waiting")));
  EXPECT_EQ(StatOf(Log("next")).st_ino, waiting);
  EXPECT_EQ(ReadFile(Log("next")), "N\n");
}

// A process that left the attempt's group (setsid) still holds the log of
// an attempt that printed nothing: the file is not given, and what that
// process prints later stays in its attempt's log.
TEST_F(LocalBackendTest, AnEmptyLogStillOpenElsewhereIsNotGiven) {
  auto Log = [&](const std::string& name) { return LogPath(dir_ + "/run", name, 1, 0); };
  // It ends once the other process is in a session of its own.
  TaskSpec leaver = Spec("leaver", {"/bin/sh", "-c",
                                    "setsid sh -c 'touch leaver.out; sleep 0.5; echo late' & "
                                    "while [ ! -e leaver.out ]; do sleep 0.01; done"});
  ASSERT_TRUE(backend_->Submit(leaver).ok());
  ASSERT_TRUE(events_.WaitTerminal(leaver.Key()).has_value());
  ino_t held = StatOf(Log("leaver")).st_ino;
  ASSERT_NE(held, 0u);
  TaskSpec next = Spec("next", {"/bin/sh", "-c", "echo N"});
  ASSERT_TRUE(backend_->Submit(next).ok());
  ASSERT_TRUE(events_.WaitTerminal(next.Key()).has_value());
  EXPECT_EQ(StatOf(Log("leaver")).st_ino, held);
  EXPECT_NE(StatOf(Log("next")).st_ino, held);
  for (int i = 0; i < 300 && ReadFile(Log("leaver")).empty(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(ReadFile(Log("leaver")), "late\n");
  EXPECT_EQ(ReadFile(Log("next")), "N\n");
}

// A gang's replica that ended having printed nothing gives its file while
// the other replica still runs: its log then reads empty, not NotFound.
TEST_F(LocalBackendTest, AnEndedReplicasGivenLogReadsEmptyWhileItsGangRuns) {
  TaskSpec gang =
      Spec("gang", {"/bin/sh", "-c", "if [ \"$RANK\" = 1 ]; then exec sleep 30; fi"}, 2);
  auto h = backend_->Submit(gang);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  // Tasks that print, until one has taken replica 0's file.
  std::string first = LogPath(gang.run_dir, "gang", 1, 0);
  for (int k = 0; k < 200 && std::filesystem::exists(first); ++k) {
    TaskSpec probe = Spec("probe-" + std::to_string(k), {"/bin/sh", "-c", "echo P"});
    ASSERT_TRUE(backend_->Submit(probe).ok());
    ASSERT_TRUE(events_.WaitTerminal(probe.Key()).has_value());
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_FALSE(std::filesystem::exists(first));
  for (int replica : {0, 1}) {
    std::string read;
    Status logs = backend_->Logs(*h, replica, false, [&](std::string_view chunk) {
      read.append(chunk);
      return true;
    });
    EXPECT_TRUE(logs.ok()) << "replica " << replica << ": " << logs.ToString();
    EXPECT_EQ(read, "");
  }
  ASSERT_TRUE(backend_->Cancel(*h, true).ok());
  ASSERT_TRUE(events_.WaitTerminal(gang.Key()).has_value());
}

TEST_F(LocalBackendTest, RecoverStopsWhatADeadEngineLeft) {
  TaskSpec t = Spec("orphan", {"/bin/sh", "-c", "exec sleep 60"});
  t.env = {{"PORTFLOW_RUN_ID", "r-orphans"}};
  auto h = backend_->Submit(t);
  ASSERT_TRUE(h.ok());
  ProcessRef p = Pids(*h)[0];
  ASSERT_TRUE(IsSameProcess(p));
  // A second backend (a new portflow) recovers the run.
  LocalOptions o;
  o.kill_grace = std::chrono::seconds(2);
  auto other = NewLocalBackend(o);
  auto recovered = other->Recover("r-orphans", {*h});
  ASSERT_TRUE(recovered.ok());
  ASSERT_EQ(recovered->size(), 1u);
  EXPECT_EQ((*recovered)[0].state, TaskState::kCancelled);
  EXPECT_EQ((*recovered)[0].result->reason, "Interrupted");
  ASSERT_TRUE(events_.WaitTerminal(t.Key()).has_value());
  EXPECT_FALSE(IsSameProcess(p));
}

TEST(LocalOptions, FromSettings) {
  auto o = LocalOptionsFromSettings({{"cpu", "3"}, {"gpu", "1"}, {"grace", "2s"}});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->capacity->milli_cpu, 3000);
  EXPECT_EQ(o->capacity->gpus, 1);
  EXPECT_LT(o->capacity->memory_bytes, 0);  // unset: the machine's, filled in by the backend
  // The backend reports the override and the machine's memory.
  auto backend = NewLocalBackend(*o);
  EXPECT_EQ(backend->Capacity().milli_cpu, 3000);
  EXPECT_EQ(backend->Capacity().gpus, 1);
  EXPECT_GT(backend->Capacity().memory_bytes, 0);
  EXPECT_EQ(o->kill_grace, std::chrono::seconds(2));
  EXPECT_FALSE(LocalOptionsFromSettings({{"cpus", "3"}}).ok());
  EXPECT_FALSE(LocalOptionsFromSettings({{"cpu", "lots"}}).ok());
}

// The local backend with the threads that drive it counted.
class CountingDrives : public BackendWrapper {
 public:
  using BackendWrapper::BackendWrapper;
  void Drive() override {
    ++drives;
    if (std::this_thread::get_id() != engine_thread) ++elsewhere;
    BackendWrapper::Drive();
  }
  int drives = 0, elsewhere = 0;
  std::thread::id engine_thread = std::this_thread::get_id();
};

// On the real clock the engine waits on the local backend's descriptor and
// drives it on its own thread (Backend::TakeOverWaiting): ends reach it so,
// and so does a gang's grace period running out (the supervisor's timer),
// with nothing else to wake it.
TEST(LocalBackendEngine, TheEngineDrivesTheBackendOnItsThread) {
  std::string dir = ::testing::TempDir() + "local_engine_" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  auto store = RunStore::Open(dir + "/state");
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  LoadResult loaded = ParseWorkload(
      "apiVersion: portflow.dev/v1\nkind: Workload\nmetadata: {name: e}\nspec:\n  steps:\n"
      "    - {name: ok, command: [\"true\"]}\n"
      "    - {name: bad, command: [sh, -c, \"exit 3\"]}\n"
      // Replica 1 fails once replica 0 ignores SIGTERM; replica 0 is then
      // killed when the gang's grace (0.3 s here) has passed.
      "    - name: gang\n      replicas: 2\n      command: [sh, -c, "
      "\"if [ $RANK = 1 ]; then while [ ! -e ready ]; do sleep 0.01; done; exit 5; fi; "
      "trap '' TERM; touch ready; while :; do sleep 0.05; done\"]\n",
      "e.yaml", dir);
  ASSERT_TRUE(loaded.ok()) << loaded.diagnostics.ToString();
  auto plan = Plan::Build(std::move(*loaded.workload));
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  LocalOptions o;
  o.capacity = ResourceRequest{8000, 8LL << 30, 0};
  o.kill_grace = std::chrono::milliseconds(300);
  CountingDrives backend(NewLocalBackend(o));
  RunRecord run{"run1", "e", "e.yaml", dir, "[]", "local", "Running", "", dir + "/run1", 1, 0, 1};
  ASSERT_TRUE((*store)->CreateRun(run).ok());
  EngineOptions opts;
  opts.keep_going = true;
  Engine engine(*plan, backend, **store, RealClock(), opts);
  // Should the grace never end, the run is cancelled (twice: forced) after
  // 30 s, and fails the test instead of hanging it.
  ResetCancelRequests();
  std::mutex mu;
  std::condition_variable cv;
  bool ended = false;
  std::thread watchdog([&] {
    std::unique_lock<std::mutex> l(mu);
    if (cv.wait_for(l, std::chrono::seconds(30), [&] { return ended; })) return;
    RequestCancel();
    RequestCancel();
  });
  auto start = std::chrono::steady_clock::now();
  auto state = engine.Run(run);
  auto took = std::chrono::steady_clock::now() - start;
  {
    std::lock_guard<std::mutex> l(mu);
    ended = true;
  }
  cv.notify_all();
  watchdog.join();
  ASSERT_TRUE(state.ok()) << state.status().ToString();
  EXPECT_EQ(*state, "Failed");
  EXPECT_GE(took, std::chrono::milliseconds(300)) << "the gang's grace";
  std::map<std::string, std::string> states;
  auto instances = (*store)->ListInstances("run1");
  ASSERT_TRUE(instances.ok());
  for (const auto& i : *instances) states[i.name] = i.state;
  EXPECT_EQ(states["ok"], "Succeeded");
  EXPECT_EQ(states["bad"], "Failed");
  EXPECT_EQ(states["gang"], "Failed");
  EXPECT_GT(backend.drives, 0);
  EXPECT_EQ(backend.elsewhere, 0) << "driven on the engine's thread only";
  std::filesystem::remove_all(dir);
}

// Group commit over the engine's own wait on the backend's pidfds: a chain
// of short processes costs about one commit a task (two without), each
// task's end coming in while its start's writes are held.
TEST(LocalBackendEngine, AChainOfProcessesIsAboutOneCommitATask) {
  std::string dir = ::testing::TempDir() + "local_chain_" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  auto store = RunStore::Open(dir + "/state");
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  std::string steps = "    - {name: s0, command: [\"true\"]}\n";
  for (int i = 1; i < 10; ++i)
    steps += "    - {name: s" + std::to_string(i) + ", needs: [s" + std::to_string(i - 1) +
             "], command: [\"true\"]}\n";
  LoadResult loaded = ParseWorkload(
      "apiVersion: portflow.dev/v1\nkind: Workload\nmetadata: {name: e}\nspec:\n  steps:\n" + steps,
      "e.yaml", dir);
  ASSERT_TRUE(loaded.ok()) << loaded.diagnostics.ToString();
  auto plan = Plan::Build(std::move(*loaded.workload));
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  auto backend = NewLocalBackend(LocalOptions{});
  RunRecord run{"run1", "e", "e.yaml", dir, "[]", "local", "Running", "", dir + "/run1", 1, 0, 1};
  ASSERT_TRUE((*store)->CreateRun(run).ok());
  EngineOptions opts;
  opts.commit_delay = std::chrono::seconds(10);  // far longer than a `true`
  int64_t before = (*store)->commits();
  Engine engine(*plan, *backend, **store, RealClock(), opts);
  auto state = engine.Run(run);
  ASSERT_TRUE(state.ok()) << state.status().ToString();
  EXPECT_EQ(*state, "Succeeded");
  EXPECT_LE((*store)->commits() - before, 10 + 3);  // 21 without
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace portflow
