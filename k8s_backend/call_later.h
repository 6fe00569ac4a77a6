// Calls made later, at a real (steady) time, on one thread of their own
// that starts with the first call: for waits on I/O (a watch catching up)
// that a virtual clock must not skip, without holding a watch's thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

namespace portflow::k8s {

class CallLater {
 public:
  using Time = std::chrono::steady_clock::time_point;

  CallLater() = default;
  ~CallLater() { Stop(); }
  CallLater(const CallLater&) = delete;
  CallLater& operator=(const CallLater&) = delete;

  // Calls `fn` at `at` (at once if that has passed), after the calls due
  // before it; nothing once stopped.
  void At(Time at, std::function<void()> fn);
  // Drops what has not been called, waits for a call under way, and joins
  // the thread. Calls made after it do nothing.
  void Stop();

 private:
  void Loop();

  std::mutex mu_;
  std::condition_variable cv_;
  std::multimap<Time, std::function<void()>> due_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace portflow::k8s
