// Reading /proc: process identity across pid reuse, and finding the
// processes a dead portflow left behind.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/clock.h"

namespace portflow {

// A process as recorded in a handle: pid plus its start time in clock ticks
// since boot, so that a recycled pid is never mistaken for it.
struct ProcessRef {
  pid_t pid = 0;
  int64_t start_ticks = 0;
};

// The running program's path (/proc/self/exe); "" when it cannot be read.
std::string SelfExecutable();

// Field 22 of /proc/PID/stat; -1 when the process does not exist.
int64_t ProcessStartTicks(pid_t pid);

// True while `p` is alive (not a zombie) and is the same process.
bool IsSameProcess(const ProcessRef& p);

// Processes of this user whose environment holds exactly `entry`
// ("KEY=VALUE"), this process excluded, each with its start time.
std::vector<ProcessRef> ProcessesWithEnv(const std::string& entry);

// SIGTERM to each process group, then SIGKILL to what is left after `grace`.
void StopProcesses(const std::vector<ProcessRef>& procs, Duration grace);

}  // namespace portflow
