// Waiting for child processes and stopping them, for everything in portflow
// that runs processes (the local backend, the fake kubelet): one thread
// watches the children through pidfds (one epoll set, which the threads
// that start children add to directly) and reports each exit once.
//
// The thread can be handed over: an owner that waits on descriptors itself
// (the engine's loop) takes the epoll set with TakeOver and calls Drive when
// it turns readable, so that an exit reaches it without a hop through
// another thread.
//
// pidfds, not SIGCHLD: only the children handed to Watch are waited for,
// never other children of this process, and no signal handler races with
// other libraries. A child is treated as the leader of a process group of
// its own (as SpawnProcess starts it): signals go to the whole group, and
// what the child leaves behind in its group is killed when it ends.
#pragma once

#include <sys/types.h>

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/status.h"

namespace portflow {

class ProcessSupervisor {
 public:
  // Called once for each watched child that ends, after the rest of its
  // process group got SIGKILL and the child was reaped. `wait_status` is
  // waitpid()'s, or nullopt when something else reaped the child first (its
  // status is lost). Runs on the supervisor's thread with none of the
  // supervisor's locks held, so it may call Watch, Forget, Signal and
  // StopWithGrace; it must not destroy the supervisor.
  using ExitFn = std::function<void(pid_t pid, std::optional<int> wait_status)>;

  // `clock` times the grace periods of StopWithGrace.
  explicit ProcessSupervisor(Clock& clock = RealClock());
  // Stops the thread, after the exits being reported have been. Children
  // still watched are neither signalled nor reaped: they stay the owner's.
  ~ProcessSupervisor();
  ProcessSupervisor(const ProcessSupervisor&) = delete;
  ProcessSupervisor& operator=(const ProcessSupervisor&) = delete;

  // Starts watching `pid`, an unreaped child of this process: `on_exit` runs
  // when it ends. An error when its pidfd cannot be opened or it is watched
  // already; reaping it is then still the caller's. Any thread.
  Status Watch(pid_t pid, ExitFn on_exit);

  // Stops watching `pid`. True when it was watched: its exit will not be
  // reported, and reaping it is the caller's again. False when it was not
  // watched or its exit has been taken for reporting (on_exit runs, or ran,
  // once). Any thread.
  bool Forget(pid_t pid);

  // Sends `sig` to the process group of `pid` while `pid` is watched (so
  // never to a recycled pid). False, and nothing sent, when it is not.
  bool Signal(pid_t pid, int sig);

  // Stop with grace: SIGTERM to the process group of `pid` now, and SIGKILL
  // to the group once `grace` has passed if `pid` has not ended by then.
  // Once per child: a later call neither signals again nor moves the
  // deadline. Nothing happens when `pid` is not watched.
  void StopWithGrace(pid_t pid, Duration grace);

  // Stops the thread and returns a descriptor that turns readable when
  // there is work: a child ended, a grace period ran out or began
  // (StopWithGrace). The caller then
  // calls Drive, which does that work and runs the on_exit callbacks on the
  // caller's thread. Until GiveBack. The same descriptor each time; -1
  // when it is taken already or cannot be driven (its descriptors could
  // not be made). Not from an on_exit callback.
  int TakeOver();
  // Never waits. Only the thread that took the supervisor over.
  void Drive();
  // Starts the thread again; Drive is not called from then on.
  void GiveBack();

 private:
  struct Child {
    int pidfd = -1;
    ExitFn on_exit;
    bool stopping = false;
    TimePoint kill_at = TimePoint::max();  // SIGKILL then, if still running
  };

  void Loop();
  // One look at the epoll set, waiting up to `timeout_ms`: the exits it
  // finds, the kills due, then (with no lock held) the callbacks. False
  // when the epoll set cannot be waited on.
  bool Pass(int timeout_ms);
  // Until the first kill due, in ms, for epoll_wait (-1: none).
  int TimeoutMsLocked() const;
  void Wake();

  Clock& clock_;
  std::mutex mu_;
  std::map<pid_t, Child> children_;
  bool stop_ = false;
  bool driven_ = false;                               // handed over (TakeOver)
  static constexpr uint64_t kWakeKey = ~uint64_t{0};  // the wake-up's key in the epoll set
  static constexpr uint64_t kTimerKey = kWakeKey - 1;
  int wake_fd_ = -1;
  int timer_fd_ = -1;  // driven: readable when the first kill is due
  int epoll_fd_ = -1;  // the children's pidfds, wake_fd_ and timer_fd_
  std::thread thread_;
};

}  // namespace portflow
