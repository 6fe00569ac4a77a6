// Time is injected: the engine and backends read it through a Clock so that
// tests run in virtual time, with no sleeps.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace portflow {

using TimePoint = std::chrono::system_clock::time_point;
using Duration = std::chrono::nanoseconds;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
  // Waits on `cv` (with `lock` held on entry and exit) until `ready()` holds or
  // `deadline` passes. Returns ready(). A virtual clock does not block: when
  // nothing is ready it jumps to the deadline.
  virtual bool WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                         TimePoint deadline, const std::function<bool()>& ready) = 0;
};

// The process-wide real clock.
Clock& RealClock();

// Waits `d` on `clock` (a virtual clock jumps ahead instead of blocking).
void SleepFor(Clock& clock, Duration d);

// Virtual time for tests and simulations. Starts at a fixed instant.
class FakeClock : public Clock {
 public:
  FakeClock();
  TimePoint Now() const override;
  bool WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                 TimePoint deadline, const std::function<bool()>& ready) override;
  void Advance(Duration d);
  // Called (on the waiting thread, without locks) each time the clock moves,
  // so that simulations can act at their due times.
  void OnAdvance(std::function<void(TimePoint)> hook);
  // When a simulation next acts (nullopt: not before it is told more):
  // WaitUntil stops the clock there if that comes before its deadline, so
  // that what the simulation does happens at its own time, not at the
  // waiter's next wake.
  void OnNextDue(std::function<std::optional<TimePoint>()> due);

 private:
  void Notify();
  mutable std::mutex mu_;
  TimePoint now_;
  std::vector<std::function<void(TimePoint)>> hooks_;
  std::vector<std::function<std::optional<TimePoint>()>> dues_;
};

// RFC 3339 in UTC with millisecond precision: 2026-11-30T01:02:03.456Z
std::string FormatTime(TimePoint t);
// Milliseconds since the Unix epoch, for storage.
int64_t ToUnixMillis(TimePoint t);
TimePoint FromUnixMillis(int64_t ms);

}  // namespace portflow
