// portflow's own diagnostics: what it asked of a cluster, what the engine
// decided and why. Not task output (that stays in the task logs) and never a
// credential or a Secret's data: callers log names, paths, states and
// reasons, never request or response bodies or headers.
//
// Two destinations: the console (stderr), at a level the user picks (warn
// by default, so nothing is printed in normal use), and while a RunLog is
// alive, RUN_DIR/portflow.log at debug and above whatever the console shows.
// Every function here is safe to call from any thread.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"

namespace portflow {

enum class LogLevel { kTrace, kDebug, kInfo, kWarn, kError, kOff };

// "trace", "debug", "info", "warn", "error", "off".
std::string_view LogLevelName(LogLevel level);
// A name above, in any case; InvalidArgument naming the accepted ones otherwise.
Result<LogLevel> ParseLogLevel(std::string_view name);

// What reaches stderr (default kWarn).
void SetConsoleLogLevel(LogLevel level);
LogLevel ConsoleLogLevel();

// Whether a message at `level` goes anywhere (the console or a run log):
// callers that build costly messages ask first (PORTFLOW_LOG does).
bool LogEnabled(LogLevel level);

// One line: `component` says who speaks ("api", "engine", "local"). The
// console shows "portflow[LEVEL] COMPONENT: MESSAGE"; a run log adds the
// time and the thread.
void Log(LogLevel level, std::string_view component, const std::string& message);

// While alive, every message at debug and above also goes to
// RUN_DIR/portflow.log (appended to, so a resume adds to its run's log).
// Several may be alive at once (each gets every message).
class RunLog {
 public:
  static Result<std::unique_ptr<RunLog>> Open(const std::string& run_dir);
  ~RunLog();
  RunLog(const RunLog&) = delete;
  RunLog& operator=(const RunLog&) = delete;

  const std::string& path() const { return path_; }

 private:
  struct Sink;
  RunLog(std::string path, std::unique_ptr<Sink> sink);
  std::string path_;
  std::unique_ptr<Sink> sink_;
};

}  // namespace portflow

// Logs `message` (a std::string expression) only when `level` is enabled:
// the message is not evaluated otherwise.
//   PORTFLOW_LOG(LogLevel::kDebug, "engine", name + ": " + from + " -> " + to);
#define PORTFLOW_LOG(level, component, message)                                    \
  do {                                                                             \
    if (::portflow::LogEnabled(level)) ::portflow::Log(level, component, message); \
  } while (false)
