// An EventSink for backend tests: records events and waits (in real time,
// bounded) for an attempt to end.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <vector>

#include "core/backend.h"

namespace portflow::testing {

class EventRecorder : public EventSink {
 public:
  void OnTaskEvent(TaskEvent e) override {
    std::lock_guard<std::mutex> l(mu_);
    events_.push_back(std::move(e));
    cv_.notify_all();
  }

  // The terminal event of `key`, or nullopt after `timeout`.
  std::optional<TaskEvent> WaitTerminal(
      const std::string& key, std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    std::unique_lock<std::mutex> l(mu_);
    std::optional<TaskEvent> found;
    cv_.wait_for(l, timeout, [&] {
      for (const TaskEvent& e : events_) {
        if (e.key == key && IsTerminal(e.state)) {
          found = e;
          return true;
        }
      }
      return false;
    });
    return found;
  }

  std::vector<TaskEvent> events() {
    std::lock_guard<std::mutex> l(mu_);
    return events_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<TaskEvent> events_;
};

}  // namespace portflow::testing
