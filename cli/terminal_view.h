// The live view of a run on the terminal: each replica's new log lines,
// prefixed "instance/replica | ", and state changes on stderr.
#pragma once

#include <cstdio>
#include <map>
#include <string>

#include "core/engine.h"

namespace portflow::cli {

class TerminalView : public RunObserver {
 public:
  explicit TerminalView(bool show_logs) : show_logs_(show_logs) {}
  ~TerminalView() override;

  void OnAttemptStarted(const TaskSpec& spec) override;
  void OnAttemptEnded(const std::string& instance, int attempt) override;
  void OnInstanceState(const std::string& instance, const std::string& state,
                       const std::string& message) override;
  void OnTick() override;
  void OnCancelling(bool force) override;

 private:
  struct Stream {
    std::string prefix;
    std::string path;
    long offset = 0;
    std::string partial;  // an unfinished last line
  };
  void Pump(Stream& s, bool final);

  bool show_logs_;
  std::map<std::string, Stream> streams_;  // by log path
};

}  // namespace portflow::cli
