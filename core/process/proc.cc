#include "core/process/proc.h"

#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace portflow {
namespace {

// The fields after the command name, which may itself hold spaces or ')'.
std::vector<std::string> StatFields(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return {};
  size_t close = line.rfind(')');
  if (close == std::string::npos) return {};
  std::istringstream rest(line.substr(close + 1));
  std::vector<std::string> fields;
  for (std::string f; rest >> f;) fields.push_back(f);
  return fields;  // fields[0] is field 3 (state)
}

}  // namespace

std::string SelfExecutable() {
  std::error_code ec;
  return std::filesystem::read_symlink("/proc/self/exe", ec).string();
}

int64_t ProcessStartTicks(pid_t pid) {
  auto f = StatFields(pid);
  if (f.size() < 20) return -1;
  return std::stoll(f[19]);  // field 22
}

bool IsSameProcess(const ProcessRef& p) {
  if (p.pid <= 0) return false;
  auto f = StatFields(p.pid);
  if (f.size() < 20 || f[0] == "Z" || f[0] == "X") return false;
  return std::stoll(f[19]) == p.start_ticks;
}

std::vector<ProcessRef> ProcessesWithEnv(const std::string& entry) {
  std::vector<ProcessRef> out;
  DIR* d = ::opendir("/proc");
  if (!d) return out;
  pid_t self = ::getpid();
  while (dirent* e = ::readdir(d)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (*end != '\0' || pid <= 0 || pid == self) continue;
    std::ifstream in("/proc/" + std::string(e->d_name) + "/environ", std::ios::binary);
    std::string var;
    while (std::getline(in, var, '\0')) {
      if (var == entry) {
        out.push_back({static_cast<pid_t>(pid), ProcessStartTicks(static_cast<pid_t>(pid))});
        break;
      }
    }
  }
  ::closedir(d);
  return out;
}

void StopProcesses(const std::vector<ProcessRef>& procs, Duration grace) {
  if (procs.empty()) return;
  for (const ProcessRef& p : procs) {
    if (IsSameProcess(p)) {
      ::kill(-p.pid, SIGTERM);
      ::kill(p.pid, SIGTERM);
    }
  }
  auto deadline = std::chrono::steady_clock::now() + grace;
  while (std::chrono::steady_clock::now() < deadline) {
    bool any = false;
    for (const ProcessRef& p : procs) any = any || IsSameProcess(p);
    if (!any) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (const ProcessRef& p : procs) {
    if (IsSameProcess(p)) {
      ::kill(-p.pid, SIGKILL);
      ::kill(p.pid, SIGKILL);
    }
  }
}

}  // namespace portflow
