#include "cli/common.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>

#include "cli/run_index.h"
#include "core/backend.h"
#include "core/clock.h"
#include "core/process/proc.h"

namespace portflow::cli {

sigset_t BlockStopSignals() {
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  return stop;
}

Status WritePrivateFile(const std::string& path, const std::string& text) {
  std::error_code ec;
  if (auto parent = std::filesystem::path(path).parent_path(); !parent.empty())
    std::filesystem::create_directories(parent, ec);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  bool written = fd >= 0 && ::fchmod(fd, 0600) == 0 &&
                 ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  int error = errno;
  if (fd >= 0 && ::close(fd) != 0 && written) {
    written = false;
    error = errno;
  }
  if (!written) return FromErrno("cannot write " + path, error, StatusCode::kFailedPrecondition);
  return OkStatus();
}

void PrintError(const std::string& message) { std::cerr << "portflow: " << message << "\n"; }

std::string DumpJson(const nlohmann::json& j, int indent) {
  return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

int Fail(const Status& s, int code) {
  PrintError(s.message());
  return code;
}

std::optional<Plan> LoadPlan(const std::string& file, const std::vector<std::string>& params,
                             const std::string& dir) {
  auto overrides = ParseParamArgs(params);
  if (!overrides.ok()) {
    PrintError(overrides.status().message());
    return std::nullopt;
  }
  LoadResult loaded = LoadWorkloadFile(file, *overrides);
  if (!dir.empty() && loaded.ok()) loaded.workload->dir = dir;
  if (!loaded.ok()) {
    std::cerr << loaded.diagnostics.ToString();
    size_t n = loaded.diagnostics.list().size();
    std::cerr << n << (n == 1 ? " error" : " errors") << " in " << file << "\n";
    return std::nullopt;
  }
  auto plan = Plan::Build(std::move(*loaded.workload));
  if (!plan.ok()) {
    PrintError(plan.status().message());
    return std::nullopt;
  }
  return std::move(*plan);
}

std::optional<Plan> LoadRunPlan(const RunRecord& run) {
  std::vector<std::string> params;
  auto j = nlohmann::json::parse(run.params, nullptr, false);
  if (j.is_array()) {
    for (const auto& p : j) {
      if (p.is_string()) params.push_back(p.get<std::string>());
    }
  }
  return LoadPlan(run.run_dir + "/workload.yaml", params, run.workload_dir);
}

std::string CancellingNote(bool force) {
  return force ? "cancelling: killing running tasks"
               : "cancelling: stopping running tasks gracefully; Ctrl-C again kills them";
}

Result<std::unique_ptr<Backend>> BackendFor(const std::string& workload_dir,
                                            const std::string& name, Target* found, bool strict) {
  ASSIGN_OR_RETURN(Target target, FindTarget(workload_dir, name));
  if (found) *found = target;
  auto settings = BackendSettings(target, workload_dir, strict);
  if (!settings.ok()) return settings.status();
  auto backend = CreateBackend(target.backend, *settings);
  if (backend.ok()) return backend;
  // A hybrid target's member that cannot be made is named at its own
  // setting ("member NAME: MESSAGE").
  const std::string& message = backend.status().message();
  if (size_t colon = message.find(": "); target.backend == "hybrid" &&
                                         message.rfind("member ", 0) == 0 &&
                                         colon != std::string::npos) {
    auto member = FindTarget(workload_dir, message.substr(7, colon - 7));
    if (member.ok())
      return Status(backend.status().code(), TargetProblem(*member, message.substr(colon + 2)));
  }
  return Status(backend.status().code(), TargetProblem(target, message));
}

Result<std::unique_ptr<RunStore>> OpenStore(const std::string& state_dir) {
  return RunStore::Open(state_dir);
}

Result<std::unique_ptr<RunStore>> OpenStoreOf(const std::string& state_dir,
                                              const std::string& run_id) {
  std::error_code ec;
  bool here = std::filesystem::exists(state_dir + "/state.db", ec);
  if (here) {
    ASSIGN_OR_RETURN(std::unique_ptr<RunStore> store, OpenStore(state_dir));
    if (store->GetRun(run_id).ok()) return store;
  }
  std::optional<std::string> dir = IndexedStateDir(run_id);
  if (dir && std::filesystem::exists(*dir + "/state.db", ec)) return OpenStore(*dir);
  if (here) return OpenStore(state_dir);  // its GetRun says what is missing
  return NotFound("no run \"" + run_id + "\" in " + state_dir + " or in the per-user index " +
                  RunIndexPath() + " (see `portflow runs --all`)");
}

std::string NewRunId(const std::string& workload) {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
  std::random_device rd;
  char suffix[8];
  std::snprintf(suffix, sizeof suffix, "%04x", rd() & 0xffff);
  return workload + "-" + stamp + "-" + suffix;
}

std::string RunDir(const std::string& state_dir, const std::string& run_id) {
  return (std::filesystem::absolute(state_dir) / "runs" / run_id).lexically_normal().string();
}

std::unique_ptr<RunLog> OpenRunLog(const std::string& run_dir) {
  auto log = RunLog::Open(run_dir);
  if (!log.ok()) {
    std::cerr << "portflow: warning: " << log.status().message() << "\n";
    return nullptr;
  }
  return std::move(*log);
}

bool EngineAlive(int pid) {
  if (pid <= 0 || ::kill(pid, 0) != 0) return false;
  // A recycled pid is not our engine: it must run the same program.
  std::error_code ec;
  auto theirs = std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/exe", ec);
  std::string ours = SelfExecutable();
  return !ec && !ours.empty() && theirs.string() == ours;
}

std::string FileEnd(const std::string& path, size_t bytes, bool* cut) {
  LogRead r = ReadLog(path, 0, bytes, /*last=*/true);
  if (cut) *cut = r.from > 0;
  return std::move(r.text);
}

}  // namespace portflow::cli
