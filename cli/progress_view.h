// The compact live view for a terminal: one line per instance that has
// started (running ones first, with the last line of their output), redrawn
// in place on stderr, instead of interleaved log lines. Task output stays in
// the log files (`portflow logs`).
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "core/engine.h"

namespace portflow::cli {

class ProgressView : public RunObserver {
 public:
  ProgressView(std::string run_id, size_t instances);
  ~ProgressView() override;

  void OnAttemptStarted(const TaskSpec& spec) override;
  void OnInstanceState(const std::string& instance, const std::string& state,
                       const std::string& message) override;
  void OnTick() override;
  void OnCancelling(bool force) override;

 private:
  struct Row {
    std::string state = "Waiting";
    std::string message;
    std::chrono::steady_clock::time_point started;  // first Pending
    std::chrono::steady_clock::time_point ended;    // Succeeded, Failed...
    std::string log;                                // replica 0's log of the current attempt
  };
  void Draw();

  std::string run_id_;
  size_t total_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_{};
  std::vector<std::string> order_;
  std::map<std::string, Row> rows_;
  int drawn_lines_ = 0;
  std::string note_;  // under the heading: cancelling...
};

}  // namespace portflow::cli
