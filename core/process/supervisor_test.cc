#include "core/process/supervisor.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/process/spawn.h"

namespace portflow {
namespace {

using namespace std::chrono_literals;

// What a child printed, read through a pipe with bounded waits.
class Pipe {
 public:
  Pipe() { EXPECT_EQ(::pipe2(fds_, O_CLOEXEC), 0); }
  ~Pipe() {
    ::close(fds_[0]);
    ::close(fds_[1]);
  }
  int write_end() const { return fds_[1]; }
  // The next line, without its newline; "" when none comes within 10 s.
  std::string ReadLine() {
    std::string line;
    char c;
    while (true) {
      pollfd p{fds_[0], POLLIN, 0};
      if (::poll(&p, 1, 10000) != 1 || ::read(fds_[0], &c, 1) != 1) return "";
      if (c == '\n') return line;
      line += c;
    }
  }

 private:
  int fds_[2] = {-1, -1};
};

// `script` under /bin/sh in a process group of its own, its output to `out`.
pid_t Spawn(const std::string& script, int out = -1) {
  int null_fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  Result<pid_t> pid = SpawnProcess(
      {"/bin/sh", {"-c", script}, {"PATH=/bin:/usr/bin"}, "/", out < 0 ? null_fd : out});
  ::close(null_fd);
  EXPECT_TRUE(pid.ok()) << pid.status().ToString();
  return pid.ok() ? *pid : -1;
}

// A child that says "ready" once it ignores SIGTERM, and runs until killed.
constexpr char kIgnoresSigterm[] = "trap '' TERM; echo ready; while :; do sleep 0.05; done";

// True once process `pid` (any process, not only a child) is gone, within 10 s.
bool Gone(pid_t pid) {
  int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) return errno == ESRCH;
  pollfd p{fd, POLLIN, 0};
  bool gone = ::poll(&p, 1, 10000) == 1;
  ::close(fd);
  return gone;
}

// The exits a supervisor reported.
class Exits {
 public:
  ProcessSupervisor::ExitFn Recorder() {
    return [this](pid_t pid, std::optional<int> status) {
      std::lock_guard<std::mutex> l(mu_);
      reports_.emplace(pid, status);
      cv_.notify_all();
    };
  }
  // Waits (10 s at most) for the report of `pid`'s exit.
  bool Wait(pid_t pid) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, 10s, [&] { return reports_.count(pid) > 0; });
  }
  std::optional<int> StatusOf(pid_t pid) {
    std::lock_guard<std::mutex> l(mu_);
    auto it = reports_.find(pid);
    return it == reports_.end() ? std::nullopt : it->second;
  }
  size_t Reports(pid_t pid) {
    std::lock_guard<std::mutex> l(mu_);
    return reports_.count(pid);
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::multimap<pid_t, std::optional<int>> reports_;
};

TEST(ProcessSupervisor, ReportsAnExitCodeAndASignalOnce) {
  Exits exits;
  ProcessSupervisor supervisor;
  pid_t code = Spawn("exit 7");
  pid_t signaled = Spawn("kill -KILL $$");
  ASSERT_TRUE(supervisor.Watch(code, exits.Recorder()).ok());
  ASSERT_TRUE(supervisor.Watch(signaled, exits.Recorder()).ok());
  ASSERT_TRUE(exits.Wait(code));
  ASSERT_TRUE(exits.Wait(signaled));
  std::optional<int> s = exits.StatusOf(code);
  ASSERT_TRUE(s.has_value());
  EXPECT_TRUE(WIFEXITED(*s) && WEXITSTATUS(*s) == 7) << *s;
  s = exits.StatusOf(signaled);
  ASSERT_TRUE(s.has_value());
  EXPECT_TRUE(WIFSIGNALED(*s) && WTERMSIG(*s) == SIGKILL) << *s;
  // Reaped by the supervisor, reported once, and no longer watched.
  EXPECT_EQ(::waitpid(code, nullptr, WNOHANG), -1);
  EXPECT_EQ(exits.Reports(code), 1u);
  EXPECT_FALSE(supervisor.Forget(code));
  EXPECT_FALSE(supervisor.Signal(code, SIGTERM));
}

TEST(ProcessSupervisor, WatchingTwiceOrAReapedProcessIsAnError) {
  Exits exits;
  ProcessSupervisor supervisor;
  pid_t reaped = Spawn("exit 0");
  ASSERT_EQ(::waitpid(reaped, nullptr, 0), reaped);
  EXPECT_FALSE(supervisor.Watch(reaped, exits.Recorder()).ok());
  pid_t sleeper = Spawn("exec sleep 60");
  ASSERT_TRUE(supervisor.Watch(sleeper, exits.Recorder()).ok());
  EXPECT_EQ(supervisor.Watch(sleeper, exits.Recorder()).code(), StatusCode::kAlreadyExists);
  EXPECT_TRUE(supervisor.Signal(sleeper, SIGKILL));
  ASSERT_TRUE(exits.Wait(sleeper));
}

// A child that handles SIGTERM ends on its own, long before the grace.
TEST(ProcessSupervisor, StopWithGraceSendsSigtermFirst) {
  Exits exits;
  ProcessSupervisor supervisor;
  Pipe out;
  pid_t pid = Spawn("trap 'exit 143' TERM; echo ready; sleep 60 & wait $!", out.write_end());
  ASSERT_TRUE(supervisor.Watch(pid, exits.Recorder()).ok());
  ASSERT_EQ(out.ReadLine(), "ready");
  supervisor.StopWithGrace(pid, 60s);
  ASSERT_TRUE(exits.Wait(pid));
  std::optional<int> s = exits.StatusOf(pid);
  ASSERT_TRUE(s.has_value());
  EXPECT_TRUE(WIFEXITED(*s) && WEXITSTATUS(*s) == 143) << *s;
}

// A child that ignores SIGTERM is killed once the grace has passed, not
// before; a second stop does not move the deadline.
TEST(ProcessSupervisor, StopWithGraceKillsAfterTheGraceNotBefore) {
  Exits exits;
  ProcessSupervisor supervisor;
  Pipe out;
  pid_t pid = Spawn(kIgnoresSigterm, out.write_end());
  ASSERT_TRUE(supervisor.Watch(pid, exits.Recorder()).ok());
  ASSERT_EQ(out.ReadLine(), "ready");
  auto start = std::chrono::steady_clock::now();
  supervisor.StopWithGrace(pid, 500ms);
  supervisor.StopWithGrace(pid, 0s);
  ASSERT_TRUE(exits.Wait(pid));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 500ms);
  std::optional<int> s = exits.StatusOf(pid);
  ASSERT_TRUE(s.has_value());
  EXPECT_TRUE(WIFSIGNALED(*s) && WTERMSIG(*s) == SIGKILL) << *s;
}

TEST(ProcessSupervisor, StopWithGraceStopsTheWholeGroup) {
  Exits exits;
  ProcessSupervisor supervisor;
  Pipe out;
  pid_t pid = Spawn("sleep 60 & echo $!; wait", out.write_end());
  ASSERT_TRUE(supervisor.Watch(pid, exits.Recorder()).ok());
  pid_t grandchild = std::stoi(out.ReadLine());
  supervisor.StopWithGrace(pid, 60s);
  ASSERT_TRUE(exits.Wait(pid));
  EXPECT_TRUE(Gone(grandchild));
}

// What an ended child leaves in its group goes with it, even what ignores
// SIGTERM.
TEST(ProcessSupervisor, AnEndedChildsGroupIsKilled) {
  Exits exits;
  ProcessSupervisor supervisor;
  Pipe out;
  pid_t pid = Spawn("trap '' TERM; sleep 60 & echo $!; exit 3", out.write_end());
  ASSERT_TRUE(supervisor.Watch(pid, exits.Recorder()).ok());
  pid_t grandchild = std::stoi(out.ReadLine());
  ASSERT_TRUE(exits.Wait(pid));
  std::optional<int> s = exits.StatusOf(pid);
  ASSERT_TRUE(s.has_value());
  EXPECT_TRUE(WIFEXITED(*s) && WEXITSTATUS(*s) == 3) << *s;
  EXPECT_TRUE(Gone(grandchild));
}

TEST(ProcessSupervisor, AForgottenChildIsNotReportedAndStaysTheCallers) {
  Exits exits;
  ProcessSupervisor supervisor;
  pid_t pid = Spawn("exec sleep 60");
  ASSERT_TRUE(supervisor.Watch(pid, exits.Recorder()).ok());
  EXPECT_TRUE(supervisor.Forget(pid));
  EXPECT_FALSE(supervisor.Forget(pid));
  EXPECT_FALSE(supervisor.Signal(pid, SIGKILL));
  supervisor.StopWithGrace(pid, 0s);  // not watched: nothing
  ASSERT_EQ(::kill(pid, 0), 0);
  ::kill(pid, SIGKILL);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);  // not reaped by the supervisor
  // A child watched afterwards is reported; the forgotten one never was.
  pid_t later = Spawn("exit 0");
  ASSERT_TRUE(supervisor.Watch(later, exits.Recorder()).ok());
  ASSERT_TRUE(exits.Wait(later));
  EXPECT_EQ(exits.Reports(pid), 0u);
}

TEST(ProcessSupervisor, DestructionLeavesWatchedChildrenAlone) {
  Exits exits;
  pid_t pid = Spawn("exec sleep 60");
  {
    ProcessSupervisor supervisor;
    ASSERT_TRUE(supervisor.Watch(pid, exits.Recorder()).ok());
  }
  EXPECT_EQ(::kill(pid, 0), 0);
  ::kill(pid, SIGKILL);
  ASSERT_EQ(::waitpid(pid, nullptr, 0), pid);
  EXPECT_EQ(exits.Reports(pid), 0u);
}

// Watch and Signal from several threads at once, each exit reported once.
TEST(ProcessSupervisor, WatchesFromManyThreads) {
  Exits exits;
  ProcessSupervisor supervisor;
  std::vector<pid_t> pids;
  for (int i = 0; i < 20; ++i) pids.push_back(Spawn("exec sleep 60"));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (size_t i = t; i < pids.size(); i += 4) {
        EXPECT_TRUE(supervisor.Watch(pids[i], exits.Recorder()).ok());
        EXPECT_TRUE(supervisor.Signal(pids[i], SIGKILL));
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (pid_t pid : pids) {
    ASSERT_TRUE(exits.Wait(pid)) << pid;
    std::optional<int> s = exits.StatusOf(pid);
    ASSERT_TRUE(s.has_value());
    EXPECT_TRUE(WIFSIGNALED(*s) && WTERMSIG(*s) == SIGKILL) << *s;
    EXPECT_EQ(exits.Reports(pid), 1u);
  }
}

// Drives `supervisor` (taken over, its descriptor `fd`) until `pid`'s exit is
// reported or 10 s pass.
bool DriveUntil(ProcessSupervisor& supervisor, int fd, Exits& exits, pid_t pid) {
  auto give_up = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < give_up) {
    if (exits.Reports(pid) > 0) return true;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 1000) == 1) supervisor.Drive();
  }
  return exits.Reports(pid) > 0;
}

// Taken over, the supervisor reports exits on the thread that drives it,
// when its descriptor says so; given back, on its own thread again.
TEST(ProcessSupervisor, ATakenOverSupervisorReportsOnTheDrivingThread) {
  ProcessSupervisor supervisor;
  int fd = supervisor.TakeOver();
  ASSERT_GE(fd, 0);
  EXPECT_EQ(supervisor.TakeOver(), -1) << "taken already";
  std::mutex mu;
  std::map<pid_t, std::pair<std::thread::id, std::optional<int>>> seen;
  Exits exits;
  auto record = [&](pid_t pid, std::optional<int> status) {
    {
      std::lock_guard<std::mutex> l(mu);
      seen[pid] = {std::this_thread::get_id(), status};
    }
    exits.Recorder()(pid, status);
  };
  pid_t pid = Spawn("exit 3");
  ASSERT_TRUE(supervisor.Watch(pid, record).ok());
  ASSERT_TRUE(DriveUntil(supervisor, fd, exits, pid));
  {
    std::lock_guard<std::mutex> l(mu);
    EXPECT_EQ(seen[pid].first, std::this_thread::get_id());
    ASSERT_TRUE(seen[pid].second.has_value());
    EXPECT_EQ(WEXITSTATUS(*seen[pid].second), 3);
  }

  supervisor.GiveBack();
  pid_t again = Spawn("exit 4");
  ASSERT_TRUE(supervisor.Watch(again, record).ok());
  ASSERT_TRUE(exits.Wait(again)) << "reported without being driven";
  std::lock_guard<std::mutex> l(mu);
  EXPECT_NE(seen[again].first, std::this_thread::get_id());
  EXPECT_EQ(WEXITSTATUS(*seen[again].second), 4);
}

// A grace period ends with SIGKILL when the supervisor is driven too: its
// descriptor turns readable when the kill is due, with no child ending.
TEST(ProcessSupervisor, ATakenOverSupervisorKillsWhenTheGraceEnds) {
  ProcessSupervisor supervisor;
  int fd = supervisor.TakeOver();
  ASSERT_GE(fd, 0);
  Exits exits;
  Pipe out;
  pid_t pid = Spawn(kIgnoresSigterm, out.write_end());
  ASSERT_TRUE(supervisor.Watch(pid, exits.Recorder()).ok());
  ASSERT_EQ(out.ReadLine(), "ready");
  auto start = std::chrono::steady_clock::now();
  supervisor.StopWithGrace(pid, 300ms);
  ASSERT_TRUE(DriveUntil(supervisor, fd, exits, pid));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 300ms);
  std::optional<int> s = exits.StatusOf(pid);
  ASSERT_TRUE(s.has_value());
  EXPECT_TRUE(WIFSIGNALED(*s) && WTERMSIG(*s) == SIGKILL) << *s;
}

}  // namespace
}  // namespace portflow
