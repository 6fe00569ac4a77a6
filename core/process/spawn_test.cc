#include "core/process/spawn.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "core/process/proc.h"

namespace portflow {
namespace {

TEST(FindExecutable, SearchesPathAndRelativeNames) {
  auto sh = FindExecutable("sh", "/nonexistent:/bin:/usr/bin", "/");
  ASSERT_TRUE(sh.ok());
  EXPECT_EQ(*sh, "/bin/sh");
  EXPECT_FALSE(FindExecutable("no-such-program-xyz", "/bin:/usr/bin", "/").ok());
  EXPECT_TRUE(FindExecutable("./sh", "", "/bin").ok());
  EXPECT_FALSE(FindExecutable("./nope", "", "/bin").ok());
  EXPECT_FALSE(FindExecutable("/etc/passwd", "", "/").ok());  // not executable
}

TEST(SpawnProcess, RunsInItsOwnProcessGroupWithEnvCwdAndOutput) {
  std::string log = ::testing::TempDir() + "spawn_test.log";
  int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  SpawnRequest req{"/bin/sh",
                   {"-c", "echo $FOO; pwd; echo err >&2; ps -o pgid= -p $$ | tr -d ' '"},
                   {"FOO=bar", "PATH=/bin:/usr/bin"},
                   "/tmp",
                   fd};
  auto pid = SpawnProcess(req);
  ::close(fd);
  ASSERT_TRUE(pid.ok()) << pid.status().ToString();
  int status = 0;
  ASSERT_EQ(::waitpid(*pid, &status, 0), *pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  std::ifstream in(log);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), "bar\n/tmp\nerr\n" + std::to_string(*pid) + "\n");
}

// The start time the child reports is the one /proc gives for it, so that
// a handle's ProcessRef identifies it after a crash; the child is
// still alive when it is compared (sleep), so its pid is not reused.
TEST(SpawnProcess, ReportsTheChildsStartTime) {
  int64_t ticks = -2;
  auto pid = SpawnProcess({"/bin/sleep", {"5"}, {}, "/", 2}, &ticks);
  ASSERT_TRUE(pid.ok()) << pid.status().ToString();
  int64_t from_proc = ProcessStartTicks(*pid);
  ::kill(*pid, SIGKILL);
  ::waitpid(*pid, nullptr, 0);
  EXPECT_GT(ticks, 0);
  EXPECT_EQ(ticks, from_proc);
}

// A task starts with no signal blocked and no handler of portflow's, whatever
// the thread that starts it blocks (`cluster serve` and `ui` block SIGINT and
// SIGTERM for sigwait): otherwise a SIGTERM from a cancel, or from the
// kubelet for a deleted pod, would never reach it.
TEST(SpawnProcess, TheTaskStartsWithNoSignalBlockedOrCaught) {
  std::string log = ::testing::TempDir() + "spawn_signals.log";
  int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  // From here to the restore below, no ASSERT: a failure must not leave
  // this process's signals changed for the tests after it.
  sigset_t blocked, old;
  sigemptyset(&blocked);
  sigaddset(&blocked, SIGTERM);
  sigaddset(&blocked, SIGINT);
  sigaddset(&blocked, SIGUSR1);
  int masked = ::pthread_sigmask(SIG_BLOCK, &blocked, &old);
  struct sigaction caught = {};
  struct sigaction old_usr2 = {};
  caught.sa_handler = [](int) {};
  int handled = ::sigaction(SIGUSR2, &caught, &old_usr2);
  // cat catches nothing itself (grep would: SIGSEGV, for its stack).
  auto pid = SpawnProcess({"/bin/cat", {"/proc/self/status"}, {}, "/", fd});
  ::close(fd);
  if (masked == 0) ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (handled == 0) ::sigaction(SIGUSR2, &old_usr2, nullptr);
  ASSERT_EQ(masked, 0);
  ASSERT_EQ(handled, 0);
  ASSERT_TRUE(pid.ok()) << pid.status().ToString();
  int status = 0;
  ASSERT_EQ(::waitpid(*pid, &status, 0), *pid);
  std::ifstream in(log);
  std::string line, signals;
  while (std::getline(in, line))
    if (line.rfind("SigBlk:", 0) == 0 || line.rfind("SigCgt:", 0) == 0) signals += line + "\n";
  EXPECT_EQ(signals, "SigBlk:\t0000000000000000\nSigCgt:\t0000000000000000\n");
}

// Every output reaches its file, spawn after spawn. (Boost.Process's vfork
// child used to re-create a shared io_context's reactor descriptors, which
// could take the number of the log file: output then went to an eventfd.)
TEST(SpawnProcess, OutputReachesTheLogEveryTime) {
  std::string dir = ::testing::TempDir() + "spawn_logs_" + std::to_string(::getpid());
  ::mkdir(dir.c_str(), 0755);
  int lost = 0;
  for (int i = 0; i < 40; ++i) {
    std::string path = dir + "/" + std::to_string(i) + ".log";
    // Other threads open and close descriptors meanwhile: the log's number moves.
    std::vector<int> others;
    for (int k = 0; k < i % 7; ++k) others.push_back(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (i % 2) {
      ::close(others.empty() ? -1 : others.front());
      if (!others.empty()) others.erase(others.begin());
    }
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0);
    auto pid = SpawnProcess({"/bin/echo", {"hi"}, {}, "/", fd});
    ::close(fd);
    for (int o : others) ::close(o);
    ASSERT_TRUE(pid.ok()) << pid.status().ToString();
    int status = 0;
    ::waitpid(*pid, &status, 0);
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    lost += s.str() != "hi\n";
    ::unlink(path.c_str());
  }
  ::rmdir(dir.c_str());
  EXPECT_EQ(lost, 0);
}

TEST(SpawnProcess, BadWorkingDirectoryIsAnError) {
  SpawnRequest req{"/bin/true", {}, {}, "/nonexistent-dir-xyz", 1};
  auto pid = SpawnProcess(req);
  EXPECT_FALSE(pid.ok());
}

// Out of descriptors is a shortage to wait out (ResourceExhausted), not a
// failure of the task.
TEST(SpawnProcess, OutOfDescriptorsIsResourceExhausted) {
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  rlimit low = saved;
  low.rlim_cur = 32;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  std::vector<int> held;
  for (int fd; (fd = ::dup(0)) >= 0;) held.push_back(fd);
  SpawnRequest req{"/bin/true", {}, {}, "/", 1};
  auto pid = SpawnProcess(req);
  for (int fd : held) ::close(fd);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);
  ASSERT_FALSE(pid.ok());
  EXPECT_EQ(pid.status().code(), StatusCode::kResourceExhausted) << pid.status().ToString();
  EXPECT_NE(pid.status().message().find("Too many open files"), std::string::npos);
  auto again = SpawnProcess(req);
  ASSERT_TRUE(again.ok()) << "with descriptors free again: " << again.status().ToString();
  ::waitpid(*again, nullptr, 0);
}

// However few descriptors are free, a start that fails leaves none open:
// one leaked per failure would make the shortage last for ever.
TEST(SpawnProcess, AFailedStartLeavesNoDescriptorOpen) {
  auto open_fds = [] {
    return std::distance(std::filesystem::directory_iterator("/proc/self/fd"),
                         std::filesystem::directory_iterator{});
  };
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  int failures = 0;
  for (int free = 0; free <= 6; ++free) {
    auto before = open_fds();
    rlimit low = saved;
    low.rlim_cur = 64;
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
    std::vector<int> held;
    for (int fd; (fd = ::dup(0)) >= 0;) held.push_back(fd);
    for (int k = 0; k < free && !held.empty(); ++k) {
      ::close(held.back());
      held.pop_back();
    }
    auto pid = SpawnProcess({"/bin/true", {}, {}, "/", 1});
    for (int fd : held) ::close(fd);
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);
    if (pid.ok()) {
      ::waitpid(*pid, nullptr, 0);
    } else {
      ++failures;
      EXPECT_EQ(pid.status().code(), StatusCode::kResourceExhausted) << pid.status().ToString();
    }
    EXPECT_EQ(open_fds(), before) << free << " free: " << pid.status().ToString();
  }
  EXPECT_GE(failures, 3) << "open /dev/null, the pipe's two ends";
}

}  // namespace
}  // namespace portflow
