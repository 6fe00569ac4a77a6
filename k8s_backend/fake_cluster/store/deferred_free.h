// Frees what the store lets go of on a thread of its own. A version that
// falls out of the store's history is a tree of a hundred allocations that
// nothing has read for thousands of changes: freeing it walks cold memory,
// a sixth of the store thread's time at scale (bench/README.md). Handed over
// in batches, that walk runs beside the store instead of inside its lock, as
// Redis frees large values (lazyfree). Not thread-safe itself: one caller
// at a time (the store calls it under its lock).
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace portflow::fake {

class DeferredFree {
 public:
  // `batch` drops go over at a time; with `max_pending` batches queued
  // beside the one being freed, the caller frees its batch itself (a burst
  // under the store's lock), so a slow freer bounds what waits. A part
  // batch waits for more drops, Flush or the end: at most `batch` - 1
  // pointers, kept while the store is quiet.
  explicit DeferredFree(size_t batch = 1024, size_t max_pending = 4);
  // Frees what waits, then stops the thread.
  ~DeferredFree();
  DeferredFree(const DeferredFree&) = delete;
  DeferredFree& operator=(const DeferredFree&) = delete;

  // Lets go of `p` (the last owner's release runs later, elsewhere).
  void Drop(std::shared_ptr<const void> p);
  // Blocks until everything dropped so far is released (tests).
  void Flush();

 private:
  using Batch = std::vector<std::shared_ptr<const void>>;
  // Gives the caller's batch to the thread, or frees it here when the
  // thread is behind or cannot be started.
  void HandOver();
  // Starts the thread if it is not running; false if it cannot be.
  bool Started();  // with mu_ held
  void Run();

  const size_t batch_size_, max_pending_;
  Batch batch_;  // the caller's; not under mu_
  std::mutex mu_;
  std::condition_variable cv_, idle_;
  std::deque<Batch> pending_;
  bool busy_ = false, stopping_ = false;
  std::thread thread_;  // started by the first hand-over
};

}  // namespace portflow::fake
