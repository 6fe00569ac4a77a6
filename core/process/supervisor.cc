#include "core/process/supervisor.h"

#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

namespace portflow {

ProcessSupervisor::ProcessSupervisor(Clock& clock) : clock_(clock) {
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  timer_fd_ = ::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  epoll_event wake{EPOLLIN, {.u64 = kWakeKey}};
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &wake);
  epoll_event timer{EPOLLIN, {.u64 = kTimerKey}};
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, timer_fd_, &timer);
  thread_ = std::thread([this] { Loop(); });
}

ProcessSupervisor::~ProcessSupervisor() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  Wake();
  if (thread_.joinable()) thread_.join();
  for (auto& [pid, c] : children_) ::close(c.pidfd);
  ::close(epoll_fd_);
  ::close(timer_fd_);
  ::close(wake_fd_);
}

Status ProcessSupervisor::Watch(pid_t pid, ExitFn on_exit) {
  int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) {
    return FromErrno("cannot watch process " + std::to_string(pid) + ": pidfd_open", errno,
                     StatusCode::kUnavailable);
  }
  std::lock_guard<std::mutex> l(mu_);
  if (!children_.emplace(pid, Child{fd, std::move(on_exit)}).second) {
    ::close(fd);
    return AlreadyExists("process " + std::to_string(pid) + " is watched already");
  }
  // The thread's epoll set takes the pidfd at once: no wake-up, no hop
  // to another thread while the child starts.
  epoll_event ev{EPOLLIN, {.u64 = static_cast<uint64_t>(pid)}};
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    int error = errno;
    ::close(fd);
    children_.erase(pid);
    return FromErrno("cannot watch process " + std::to_string(pid) + ": epoll_ctl", error,
                     StatusCode::kUnavailable);
  }
  return OkStatus();
}

bool ProcessSupervisor::Forget(pid_t pid) {
  ExitFn dropped;  // destroyed outside the lock
  std::lock_guard<std::mutex> l(mu_);
  auto it = children_.find(pid);
  if (it == children_.end()) return false;
  // Out of the epoll set before it is closed; an event already taken for it
  // finds the pid no longer watched.
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, it->second.pidfd, nullptr);
  ::close(it->second.pidfd);
  dropped = std::move(it->second.on_exit);
  children_.erase(it);
  return true;
}

bool ProcessSupervisor::Signal(pid_t pid, int sig) {
  std::lock_guard<std::mutex> l(mu_);
  if (!children_.count(pid)) return false;
  ::kill(-pid, sig);
  return true;
}

void ProcessSupervisor::StopWithGrace(pid_t pid, Duration grace) {
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = children_.find(pid);
    if (it == children_.end() || it->second.stopping) return;
    it->second.stopping = true;
    ::kill(-pid, SIGTERM);
    it->second.kill_at = clock_.Now() + grace;
  }
  Wake();
}

void ProcessSupervisor::Wake() {
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof one);
}

int ProcessSupervisor::TakeOver() {
  {
    std::lock_guard<std::mutex> l(mu_);
    // Without its epoll set or timer it cannot be driven: it keeps its thread.
    if (driven_ || stop_ || epoll_fd_ < 0 || timer_fd_ < 0) return -1;
    driven_ = true;
  }
  Wake();
  thread_.join();  // after the pass under way and its callbacks
  return epoll_fd_;
}

void ProcessSupervisor::Drive() { (void)Pass(0); }

void ProcessSupervisor::GiveBack() {
  std::lock_guard<std::mutex> l(mu_);
  if (!driven_) return;
  driven_ = false;
  itimerspec off{};
  ::timerfd_settime(timer_fd_, 0, &off, nullptr);
  thread_ = std::thread([this] { Loop(); });
}

void ProcessSupervisor::Loop() {
  while (true) {
    int timeout_ms;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (stop_ || driven_) return;
      timeout_ms = TimeoutMsLocked();
    }
    if (!Pass(timeout_ms)) return;  // the epoll set is broken: nothing more to wait on
  }
}

int ProcessSupervisor::TimeoutMsLocked() const {
  int timeout_ms = -1;
  TimePoint now = clock_.Now();
  for (const auto& [pid, c] : children_) {
    if (c.kill_at == TimePoint::max()) continue;
    // One past the deadline, so that the wake-up is never just before it.
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(c.kill_at - now);
    int ms = static_cast<int>(std::clamp<int64_t>(left.count(), 0, 1 << 30)) + 1;
    timeout_ms = timeout_ms < 0 ? ms : std::min(timeout_ms, ms);
  }
  return timeout_ms;
}

bool ProcessSupervisor::Pass(int timeout_ms) {
  struct Ended {
    pid_t pid;
    std::optional<int> status;
    ExitFn on_exit;
  };
  epoll_event ready[64];
  int n = ::epoll_wait(epoll_fd_, ready, 64, timeout_ms);
  if (n < 0 && errno != EINTR) return false;
  if (n < 0) n = 0;  // looked at again on the next pass
  std::vector<Ended> ended;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (int k = 0; k < n; ++k) {
      if (ready[k].data.u64 == kWakeKey || ready[k].data.u64 == kTimerKey) {
        uint64_t v;
        [[maybe_unused]] ssize_t r =
            ::read(ready[k].data.u64 == kWakeKey ? wake_fd_ : timer_fd_, &v, sizeof v);
        continue;
      }
      pid_t pid = static_cast<pid_t>(ready[k].data.u64);
      auto it = children_.find(pid);
      if (it == children_.end()) continue;  // forgotten
      // Looked at without reaping: while the zombie holds its pid, the
      // group id is no one else's, so the group can be killed safely.
      siginfo_t info{};
      int w = ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT);
      if (w == 0 && info.si_pid == 0) continue;  // not ended after all
      std::optional<int> status;
      if (w == 0) {
        ::kill(-pid, SIGKILL);  // what it left behind in its group goes with it
        int s = 0;
        if (::waitpid(pid, &s, WNOHANG) == pid) status = s;
      }
      ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, it->second.pidfd, nullptr);
      ::close(it->second.pidfd);
      ended.push_back({pid, status, std::move(it->second.on_exit)});
      children_.erase(it);
    }
    TimePoint now = clock_.Now();
    for (auto& [pid, c] : children_) {
      if (now < c.kill_at) continue;
      ::kill(-pid, SIGKILL);
      c.kill_at = TimePoint::max();
    }
    if (driven_) {
      // The owner waits on the epoll set only: the timer wakes it for the
      // next kill due.
      itimerspec at{};  // all zero: disarmed
      if (int ms = TimeoutMsLocked(); ms >= 0) {
        at.it_value.tv_sec = ms / 1000;
        at.it_value.tv_nsec = static_cast<long>(ms % 1000) * 1000000;
      }
      ::timerfd_settime(timer_fd_, 0, &at, nullptr);
    }
  }
  for (Ended& e : ended) e.on_exit(e.pid, e.status);
  return true;
}

}  // namespace portflow
