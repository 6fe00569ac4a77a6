#include "core/process/supervisor.h"

#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

namespace portflow {

ProcessSupervisor::ProcessSupervisor(Clock& clock) : clock_(clock) {
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  thread_ = std::thread([this] { Loop(); });
}

ProcessSupervisor::~ProcessSupervisor() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  Wake();
  thread_.join();
  for (auto& [pid, c] : children_) ::close(c.pidfd);
  for (int fd : forgotten_) ::close(fd);
  ::close(wake_fd_);
}

Status ProcessSupervisor::Watch(pid_t pid, ExitFn on_exit) {
  int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) {
    return FromErrno("cannot watch process " + std::to_string(pid) + ": pidfd_open", errno,
                     StatusCode::kUnavailable);
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!children_.emplace(pid, Child{fd, std::move(on_exit)}).second) {
      ::close(fd);
      return AlreadyExists("process " + std::to_string(pid) + " is watched already");
    }
  }
  Wake();
  return OkStatus();
}

bool ProcessSupervisor::Forget(pid_t pid) {
  ExitFn dropped;  // destroyed outside the lock
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = children_.find(pid);
    if (it == children_.end()) return false;
    forgotten_.push_back(it->second.pidfd);
    dropped = std::move(it->second.on_exit);
    children_.erase(it);
  }
  Wake();
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

void ProcessSupervisor::Loop() {
  struct Ended {
    pid_t pid;
    std::optional<int> status;
    ExitFn on_exit;
  };
  while (true) {
    std::vector<pollfd> fds{{wake_fd_, POLLIN, 0}};
    std::vector<pid_t> pids{0};
    int timeout_ms = -1;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (stop_) return;
      for (int fd : forgotten_) ::close(fd);
      forgotten_.clear();
      TimePoint now = clock_.Now();
      for (const auto& [pid, c] : children_) {
        fds.push_back({c.pidfd, POLLIN, 0});
        pids.push_back(pid);
        if (c.kill_at != TimePoint::max()) {
          // One past the deadline, so that the wake-up is never just before it.
          auto left = std::chrono::duration_cast<std::chrono::milliseconds>(c.kill_at - now);
          int ms = static_cast<int>(std::clamp<int64_t>(left.count(), 0, 1 << 30)) + 1;
          timeout_ms = timeout_ms < 0 ? ms : std::min(timeout_ms, ms);
        }
      }
    }
    int n = ::poll(fds.data(), fds.size(), timeout_ms);
    if (n < 0 && errno != EINTR) return;
    if (fds[0].revents & POLLIN) {
      uint64_t v;
      [[maybe_unused]] ssize_t r = ::read(wake_fd_, &v, sizeof v);
    }
    std::vector<Ended> ended;
    {
      std::lock_guard<std::mutex> l(mu_);
      for (size_t k = 1; k < fds.size(); ++k) {
        if (!(fds[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        auto it = children_.find(pids[k]);
        if (it == children_.end() || it->second.pidfd != fds[k].fd) continue;  // forgotten
        pid_t pid = pids[k];
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
    }
    for (Ended& e : ended) e.on_exit(e.pid, e.status);
  }
}

}  // namespace portflow
