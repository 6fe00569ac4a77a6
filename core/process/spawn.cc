#include "core/process/spawn.h"

// Boost.Process v2 is compiled here, in its only translation unit (src.hpp
// below); the header-only mode of 1.81 leaves some symbols undefined.
#define BOOST_PROCESS_V2_SEPARATE_COMPILATION 1
// We wait through our own pidfds; Boost must not open (and assert on) its own.
#define BOOST_PROCESS_V2_DISABLE_PIDFD_OPEN 1

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <boost/process/v2/detail/last_error.hpp>  // start_dir.hpp and stdio.hpp use it
#include <boost/process/v2/environment.hpp>
#include <boost/process/v2/posix/vfork_launcher.hpp>
#include <boost/process/v2/start_dir.hpp>
#include <boost/process/v2/stdio.hpp>
// The compiled parts of Boost.Process v2 live in this one translation unit.
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <atomic>
#include <boost/process/v2/src.hpp>
#include <cerrno>
#include <cstring>
#include <mutex>

namespace portflow {
namespace {

namespace bp2 = boost::process::v2;

// The soft limit on open files a task gets (SetChildOpenFileLimit); 0: this
// process's own.
std::atomic<uint64_t> child_nofile{0};

// Closes every descriptor from `low` up but `keep` (in the child: only
// system calls).
void CloseFrom(unsigned low, int keep) {
  auto close_range = [](unsigned from, unsigned to) {
    if (from > to) return;
    if (::syscall(SYS_close_range, from, to, 0) == 0) return;
    rlimit limit{};  // a kernel before 5.9: one at a time
    unsigned last = ::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < (1u << 20)
                        ? static_cast<unsigned>(limit.rlim_cur)
                        : 1u << 20;
    for (unsigned fd = from; fd <= to && fd < last; ++fd) ::close(static_cast<int>(fd));
  };
  if (keep < static_cast<int>(low)) return close_range(low, ~0u);
  close_range(low, static_cast<unsigned>(keep) - 1);
  close_range(static_cast<unsigned>(keep) + 1, ~0u);
}

// Field 22 of the calling process's /proc/self/stat (its start time in
// ticks since boot), -1 when unreadable: only system calls and the stack, as
// the vfork child may use.
int64_t OwnStartTicks() {
  char buf[1024];
  int fd = ::open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return -1;
  buf[n] = '\0';
  char* p = std::strrchr(buf, ')');  // the command name may hold spaces or ')'
  if (p == nullptr) return -1;
  for (int field = 2; field < 22 && p != nullptr; ++field) p = std::strchr(p + 1, ' ');
  if (p == nullptr) return -1;
  int64_t ticks = 0;
  for (++p; *p >= '0' && *p <= '9'; ++p) ticks = ticks * 10 + (*p - '0');
  return ticks;
}

// Runs in the child between vfork and exec: its own process group, so that a
// timeout or cancel can stop everything the task started with one kill().
// The child reports through a close-on-exec pipe: first its own start time
// (the parent cannot read it cheaply: /proc/PID/stat waits while an exec
// is under way, until the new program is loaded), then, if exec fails,
// errno and pid. That works whether the launcher really vforks or, as
// under sanitizers, forks.
struct ChildSetup {
  int report_fd;
  bool ticks_sent = false;

  void SendStartTicks(int64_t ticks) {
    if (ticks_sent) return;
    ticks_sent = true;
    [[maybe_unused]] ssize_t n = ::write(report_fd, &ticks, sizeof ticks);
  }

  template <typename Launcher>
  std::error_code on_setup(Launcher& launcher, const bp2::filesystem::path&, const char* const*) {
    // Boost closes what is above the highest listed descriptor after
    // on_exec_setup, so the failure report must be listed to survive.
    launcher.fd_whitelist.push_back(report_fd);
    return {};
  }
  template <typename Launcher>
  std::error_code on_exec_setup(Launcher&, const bp2::filesystem::path&, const char* const*) {
    SendStartTicks(OwnStartTicks());
    if (::setpgid(0, 0) != 0) return {errno, std::system_category()};
    // The parent blocked every signal around the vfork, so that no handler
    // of its runs here in its memory. One sent to its process group before
    // the setpgid above is pending: it takes its default action (the task
    // was one of the group when it came), not the parent's handler.
    sigset_t pending;
    if (::sigpending(&pending) == 0) {
      for (int sig = 1; sig < NSIG; ++sig) {
        if (sigismember(&pending, sig) == 1) ::signal(sig, SIG_DFL);
      }
    }
    // Nor may the task inherit the mask (a parent that waits for signals
    // with sigwait() blocks them too), or SIGTERM would never reach it.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    // The task gets stdin, stdout and stderr (set up before this) and no
    // other descriptor of portflow's (sockets, the store, other logs), also
    // not one opened without O_CLOEXEC by a library. Boost 1.81 closes only
    // those above the highest whitelisted one: its loop over the gaps
    // between whitelisted descriptors compares each with itself, so 3 to
    // report_fd - 1 stayed open. report_fd closes at exec.
    CloseFrom(3, report_fd);
    if (uint64_t soft = child_nofile.load(); soft != 0) {
      rlimit limit{};
      if (::getrlimit(RLIMIT_NOFILE, &limit) == 0) {
        limit.rlim_cur = soft;
        ::setrlimit(RLIMIT_NOFILE, &limit);
      }
    }
    return {};
  }
  // Boost 1.81's vfork launcher calls exit() in the child when exec fails,
  // which runs the parent's atexit handlers in its shared memory. Leave first.
  template <typename Launcher, typename ErrorCode>
  void on_exec_error(Launcher&, const bp2::filesystem::path&, const char* const*,
                     const ErrorCode& ec) {
    int error = ec.value() ? ec.value() : errno;
    // A set-up before this one's may have failed: the start time comes first.
    SendStartTicks(-1);
    int report[2] = {error, static_cast<int>(::getpid())};
    [[maybe_unused]] ssize_t n = ::write(report_fd, report, sizeof report);
    ::_exit(127);
  }
  // Never called: Boost 1.81 detects the hook above with this (wrong,
  // five-argument) signature.
  template <typename Launcher, typename ErrorCode>
  void on_exec_error(Launcher&, const ErrorCode&, const bp2::filesystem::path&, const char* const*,
                     const ErrorCode&);
};

// Boost.Process's vfork launcher, less the process handle its call returns:
// that handle wants an Asio context whose reactor (an epoll set, an eventfd
// and a timerfd) and a process-wide SIGCHLD handler it would set up and
// tear down around every spawn, and the caller waits through a pidfd of its
// own anyway. The steps are the launcher's (Boost 1.81's
// vfork_launcher::operator()): the initialisers' on_setup, vfork, in the
// child on_exec_setup, the descriptors closed and execve (on_exec_error if
// that fails), in the parent on_success. Returns the child's pid, -1 with
// `ec` set when there is no child.
struct PidLauncher : bp2::posix::vfork_launcher {
  template <typename Args, typename... Inits>
  pid_t operator()(bp2::error_code& ec, const bp2::filesystem::path& executable, Args&& args,
                   Inits&&... inits) {
    namespace hooks = bp2::posix::detail;
    auto argv = build_argv_(executable, std::forward<Args>(args));
    ec = hooks::on_setup(*this, executable, argv, inits...);
    if (ec) {
      hooks::on_error(*this, executable, argv, ec, inits...);
      return -1;
    }
    pid = ::vfork();
    if (pid == -1) {
      ec.assign(errno, bp2::system_category());
      hooks::on_fork_error(*this, executable, argv, ec, inits...);
      hooks::on_error(*this, executable, argv, ec, inits...);
      return -1;
    }
    if (pid == 0) {
      ec = hooks::on_exec_setup(*this, executable, argv, inits...);
      if (!ec) close_all_fds(ec);
      if (!ec)
        ::execve(executable.c_str(), const_cast<char* const*>(argv), const_cast<char* const*>(env));
      ec.assign(errno, bp2::system_category());
      hooks::on_exec_error(*this, executable, argv, ec, inits...);
      ::_exit(127);
    }
    hooks::on_success(*this, executable, argv, ec, inits...);
    return pid;
  }
};

bool IsExecutableFile(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(p.c_str(), X_OK) == 0;
}

}  // namespace

Result<std::string> FindExecutable(const std::string& name, const std::string& path,
                                   const std::string& cwd) {
  if (name.empty()) return InvalidArgument("empty command");
  if (name.find('/') != std::string::npos) {
    std::string full = name[0] == '/' ? name : cwd + "/" + name;
    if (IsExecutableFile(full)) return full;
    return InvalidArgument("cannot run \"" + name + "\": not an executable file (looked at " +
                           full + ")");
  }
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    std::string dir = path.substr(start, end - start);
    if (dir.empty()) dir = ".";
    std::string full = (dir[0] == '/' ? dir : cwd + "/" + dir) + "/" + name;
    if (IsExecutableFile(full)) return full;
    start = end + 1;
  }
  return InvalidArgument("command not found: \"" + name + "\" (searched PATH=" + path + ")");
}

void SetChildOpenFileLimit(uint64_t soft) { child_nofile.store(soft); }

namespace {

// Out of descriptors is a wait (ResourceExhausted); other failures to start
// are transient.
Status CannotStart(const std::string& what, int error) {
  return FromErrno(what, error, StatusCode::kUnavailable);
}

Result<pid_t> Spawn(const SpawnRequest& req, int64_t* start_ticks);

// Every signal blocked on this thread while it lives, as it was after.
struct SignalsBlocked {
  SignalsBlocked() {
    sigset_t all;
    sigfillset(&all);
    ::pthread_sigmask(SIG_BLOCK, &all, &old);
  }
  ~SignalsBlocked() { ::pthread_sigmask(SIG_SETMASK, &old, nullptr); }
  sigset_t old;
};

// A descriptor closed however its scope ends (an allocation that throws
// included): one left open would make a shortage of descriptors last.
class OwnedFd {
 public:
  explicit OwnedFd(int fd) : fd_(fd) {}
  ~OwnedFd() { Close(); }
  OwnedFd(const OwnedFd&) = delete;
  OwnedFd& operator=(const OwnedFd&) = delete;
  int get() const { return fd_; }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

}  // namespace

Result<pid_t> SpawnProcess(const SpawnRequest& req, int64_t* start_ticks) {
  try {
    return Spawn(req, start_ticks);
  } catch (const std::exception& e) {  // an allocation
    return Unavailable("cannot start " + req.executable + ": " + e.what());
  }
}

namespace {

Result<pid_t> Spawn(const SpawnRequest& req, int64_t* start_ticks) {
  // One spawn at a time in this process: the report pipe's write end must
  // reach its own child only. A spawn on another thread in between hands
  // its child a copy, kept until that child closes it before exec; under
  // ThreadSanitizer, where the launcher forks, a child that never gets to
  // exec (see below) would keep it, and this spawn would wait in vain.
  static std::mutex spawn_mu;
  std::lock_guard<std::mutex> one_at_a_time(spawn_mu);
  bp2::error_code ec;
  OwnedFd null_fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (null_fd.get() < 0)
    return CannotStart("cannot start " + req.executable + ": open /dev/null", errno);
  int report[2];
  if (::pipe2(report, O_CLOEXEC) != 0)
    return CannotStart("cannot start " + req.executable + ": pipe", errno);
  OwnedFd report_read(report[0]), report_write(report[1]);
  // No handler of this process's may run in the child, which shares its
  // memory until exec (a Ctrl-C there would count twice): every signal is
  // blocked around the vfork, as posix_spawn does; the child sets its own.
  pid_t pid;
  {
    SignalsBlocked blocked;
    PidLauncher launcher;
    pid = launcher(ec, bp2::filesystem::path(req.executable), req.args,
                   bp2::process_environment(req.env), bp2::process_start_dir(req.cwd),
                   bp2::process_stdio{null_fd.get(), req.out_fd, req.out_fd},
                   ChildSetup{report_write.get()});
  }
  null_fd.Close();
  report_write.Close();
  if (pid < 0) return CannotStart("cannot start " + req.executable, ec.value());
  // The child's start time, then EOF once it has exec'd, or errno and pid
  // if it could not.
  struct {
    int64_t ticks = -1;
    int failure[2] = {0, 0};
  } told;
  size_t got = 0;
  // Bounded: a child that never gets to exec (under ThreadSanitizer the
  // launcher forks, and a forked child of a busy multi-threaded parent can
  // block on a lock another thread held) is killed and reported instead of
  // hanging the caller.
  pollfd pfd{report_read.get(), POLLIN, 0};
  int ready = 1;
  while (ready > 0 && got < sizeof told) {
    ready = ::poll(&pfd, 1, 30000);
    if (ready < 0 && errno == EINTR) ready = 1;
    if (ready <= 0) break;
    ssize_t n = ::read(report_read.get(), reinterpret_cast<char*>(&told) + got, sizeof told - got);
    if (n == 0) break;  // exec'd
    if (n > 0) got += static_cast<size_t>(n);
  }
  report_read.Close();
  if (ready == 0) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return Unavailable("cannot start " + req.executable + ": it did not reach exec within 30s");
  }
  if (got == sizeof told) {
    ::waitpid(told.failure[1], nullptr, 0);  // reap the child that could not exec
    return CannotStart("cannot start " + req.executable, told.failure[0]);
  }
  if (start_ticks != nullptr) *start_ticks = told.ticks;
  if (ec) return CannotStart("cannot start " + req.executable, ec.value());
  return pid;  // the caller reaps it
}

}  // namespace

}  // namespace portflow
