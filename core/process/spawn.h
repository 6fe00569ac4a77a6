// Starting a process: the one place that includes Boost.Process, so the
// rest of the project builds without it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace portflow {

struct SpawnRequest {
  std::string executable;         // absolute path
  std::vector<std::string> args;  // argv[1..]
  std::vector<std::string> env;   // the whole environment, "KEY=VALUE"
  std::string cwd;
  int out_fd = -1;  // stdout and stderr both go here; stdin is /dev/null
};

// Starts the process in a new process group of its own (pgid == pid) with
// vfork+exec, so the parent's size does not matter. The caller reaps it.
// It inherits only stdin, stdout and stderr. ResourceExhausted when this
// process has too many files open to start one (EMFILE, ENFILE): a wait,
// not a failure of the task; Unavailable for other failures to start.
// `start_ticks`, when given, gets the child's start time as ProcessRef
// records it (-1 if it could not be read), reported by the child itself:
// reading /proc/PID/stat from here would wait until its exec is done.
Result<pid_t> SpawnProcess(const SpawnRequest& req, int64_t* start_ticks = nullptr);

// The soft limit on open files that processes started from now on get
// (this process may have raised its own).
void SetChildOpenFileLimit(uint64_t soft);

// Resolves argv[0] the way a shell would: a name with a slash is relative to
// `cwd`; a bare name is searched in `path` (a PATH value).
Result<std::string> FindExecutable(const std::string& name, const std::string& path,
                                   const std::string& cwd);

}  // namespace portflow
