#include "core/clock.h"

#include <ctime>

namespace portflow {
namespace {

class SystemClockImpl : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::system_clock::now(); }
  bool WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                 TimePoint deadline, const std::function<bool()>& ready) override {
    return cv.wait_until(lock, deadline, ready);
  }
};

}  // namespace

void SleepFor(Clock& clock, Duration d) {
  std::mutex mu;
  std::condition_variable cv;
  std::unique_lock<std::mutex> l(mu);
  clock.WaitUntil(l, cv, clock.Now() + std::chrono::duration_cast<TimePoint::duration>(d),
                  [] { return false; });
}

Clock& RealClock() {
  static SystemClockImpl clock;
  return clock;
}

FakeClock::FakeClock() : now_(FromUnixMillis(1'800'000'000'000)) {}

TimePoint FakeClock::Now() const {
  std::lock_guard<std::mutex> l(mu_);
  return now_;
}

bool FakeClock::WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable&,
                          TimePoint deadline, const std::function<bool()>& ready) {
  if (ready()) return true;
  std::vector<std::function<std::optional<TimePoint>()>> dues;
  {
    std::lock_guard<std::mutex> l(mu_);
    dues = dues_;
  }
  for (auto& due : dues) {  // without the clock's lock: they take their own
    std::optional<TimePoint> at = due();
    if (at && *at < deadline) deadline = *at;
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    if (deadline > now_) now_ = deadline;
  }
  // Hooks may produce what the waiter waits for: run them without its lock.
  lock.unlock();
  Notify();
  lock.lock();
  return ready();
}

void FakeClock::Advance(Duration d) {
  {
    std::lock_guard<std::mutex> l(mu_);
    now_ += std::chrono::duration_cast<TimePoint::duration>(d);
  }
  Notify();
}

void FakeClock::OnAdvance(std::function<void(TimePoint)> hook) {
  std::lock_guard<std::mutex> l(mu_);
  hooks_.push_back(std::move(hook));
}

void FakeClock::OnNextDue(std::function<std::optional<TimePoint>()> due) {
  std::lock_guard<std::mutex> l(mu_);
  dues_.push_back(std::move(due));
}

void FakeClock::Notify() {
  std::vector<std::function<void(TimePoint)>> hooks;
  TimePoint now;
  {
    std::lock_guard<std::mutex> l(mu_);
    hooks = hooks_;
    now = now_;
  }
  for (auto& h : hooks) h(now);
}

std::string FormatTime(TimePoint t) {
  int64_t ms = ToUnixMillis(t);
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>(ms % 1000));
  return buf;
}

int64_t ToUnixMillis(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

TimePoint FromUnixMillis(int64_t ms) {
  return TimePoint(std::chrono::duration_cast<TimePoint::duration>(std::chrono::milliseconds(ms)));
}

}  // namespace portflow
