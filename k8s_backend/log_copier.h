// Saving pods' logs in the run directory, each copy on a thread of its own,
// so that logs outlive the pods and `portflow logs` reads one place.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <utility>

#include "core/clock.h"
#include "k8s_backend/client/api_client.h"

namespace portflow::k8s {

// In a folder of logs, which pod's log each file ends with.
inline constexpr char kPartsJournal[] = ".log-parts";

class LogCopier {
 public:
  // Starts `work` on a new thread of its own, detached; throws
  // std::system_error when no thread can be had (as std::thread does).
  using ThreadStarter = std::function<void(std::function<void()> work)>;

  explicit LogCopier(Clock& clock, ThreadStarter start_thread = DetachedThread)
      : clock_(clock), start_thread_(std::move(start_thread)) {}
  ~LogCopier();
  static void DetachedThread(std::function<void()> work);

  // Copies the log of pod `pod` (API path `pod_path`, ".../pods/NAME") to
  // `file`: followed while the pod runs (from the top again if the stream
  // breaks), then read whole once it has ended if no follow got to the end.
  // A follow still open and quiet 3 s after its pod ended is cut (a lost
  // node's kubelet never closes it), and the log read whole. `ended` says
  // whether the pod has ended or is gone; `done` runs on the copy's thread
  // when it is over (copies run on threads kept a while for the next: a
  // thread's start and end cost more than a short copy; a thread is free
  // again once `done` has returned). A file holds its pods' logs one after
  // another: a pod that replaces another (after a preemption) appends, and
  // the folder's journal (kPartsJournal) says which pod's log ends the file
  // and where it starts, so that a portflow restarted meanwhile appends
  // too. `client` may be null (nothing can be read: done still runs).
  // False, with nothing started, after Stop(). When no thread can be
  // started for it, the copy waits for a copy thread there is, or with
  // none runs on the caller's thread, `done` included.
  bool Start(ApiClient* client, const std::string& pod_path, const std::string& pod,
             const std::string& file, std::function<bool()> ended, std::function<void()> done);

  // Cuts every copy in flight and waits until they are over. Later Starts
  // start nothing.
  void Stop();

  // Copy threads waiting for a copy (for tests and diagnostics).
  int IdleThreads() const;

 private:
  // A copy, then its `done`.
  using Copied = std::pair<std::function<void()>, std::function<void()>>;
  // A copy thread's loop: the copies queued, until none has come for a
  // while or Stop().
  void Work();
  // Runs `job` with `l` (on mu_) let go meanwhile; then it no longer counts
  // as running.
  void Run(std::unique_lock<std::mutex>& l, const Copied& job);
  void Copy(ApiClient* client, const std::string& pod_path, const std::string& pod,
            const std::string& file, const std::function<bool()>& ended);
  // Where `pod`'s part of `file` starts, appended to the journal of its
  // folder as a line "FILE\tPOD\tOFFSET" (one write a copy, not a file of
  // its own: on a file system that has just deleted many, each new file is
  // costly); the last line of a file is the one that counts. A log the
  // journal does not know, begun by an older portflow, may have its
  // FILE.pod mark beside it.
  uint64_t PartOf(const std::string& file, const std::string& pod);
  // What the journal of `dir` says, into parts_ (under mu_); true when its
  // last line has no end (torn by a crash: not read, and ended with
  // kTornEnd before the next line).
  bool ReadJournal(const std::string& dir);

  Clock& clock_;
  ThreadStarter start_thread_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  int running_ = 0;             // copies queued or in flight
  int threads_ = 0, idle_ = 0;  // copy threads, and those free for the next copy
  std::deque<Copied> queue_;    // copies no thread has taken yet
  std::condition_variable queued_;
  std::set<StreamStop*> streams_;
  // file -> (the pod whose log ends it, where that log starts)
  std::map<std::string, std::pair<std::string, uint64_t>> parts_;
  std::map<std::string, int> journals_;  // folder -> its journal, open to append
};

}  // namespace portflow::k8s
