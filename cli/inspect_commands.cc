// portflow runs / status / logs / cancel: reading and steering runs from any
// terminal, through the run store.
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/run_document.h"
#include "cli/run_index.h"
#include "core/backend.h"
#include "core/json_fields.h"
#include "core/quantity.h"
#include "core/targets.h"
#include "report/report.h"

namespace portflow::cli {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

// "$0.0123" for a priced run, "-" otherwise.
std::string CostText(const RunRecord& r) {
  json cost = json::parse(r.cost.empty() ? "null" : r.cost, nullptr, false);
  if (!cost.is_object() || !cost.contains("usd") || !cost["usd"].is_number()) return "-";
  return FormatUsd(cost["usd"].get<double>());
}

void PrintTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& row : rows) {
    width.resize(std::max(width.size(), row.size()));
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 3, ' ');
    }
    std::cout << line << "\n";
  }
}

// The latest attempt (or attempt number `attempt`, when not 0) of each
// instance matching `filter` (exact name, or a step name that matches all
// of its matrix instances).
std::vector<AttemptRecord> LatestAttempts(const std::vector<AttemptRecord>& all,
                                          const std::string& filter, int attempt = 0) {
  std::map<std::string, AttemptRecord> latest;
  std::vector<std::string> order;
  for (const AttemptRecord& a : all) {
    bool match = filter.empty() || a.instance == filter || a.instance.rfind(filter + "[", 0) == 0;
    if (!match || (attempt && a.attempt != attempt)) continue;
    if (!latest.count(a.instance)) order.push_back(a.instance);
    if (!latest.count(a.instance) || latest[a.instance].attempt < a.attempt) latest[a.instance] = a;
  }
  std::vector<AttemptRecord> out;
  for (const std::string& n : order) out.push_back(latest[n]);
  return out;
}

}  // namespace

int Runs(const GlobalOptions& g, const std::string& format, bool all) {
  // This directory's store; with --all, every store the per-user index names.
  std::vector<std::string> dirs{fs::absolute(g.state_dir).lexically_normal().string()};
  if (all) {
    for (const std::string& d : IndexedStateDirs()) {
      if (std::find(dirs.begin(), dirs.end(), d) == dirs.end()) dirs.push_back(d);
    }
  }
  std::vector<std::pair<RunRecord, std::string>> runs;  // with its state dir
  for (const std::string& dir : dirs) {
    std::error_code ec;
    if (all && !fs::exists(dir + "/state.db", ec)) continue;
    auto store = OpenStore(dir);
    if (!store.ok()) return Fail(store.status());
    auto listed = (*store)->ListRuns();
    if (!listed.ok()) return Fail(listed.status());
    for (RunRecord& r : *listed) runs.emplace_back(std::move(r), dir);
  }
  std::stable_sort(runs.begin(), runs.end(), [](const auto& a, const auto& b) {
    return a.first.created_ms > b.first.created_ms;
  });
  if (format == "json") {
    json out = json::array();
    for (const auto& [r, dir] : runs) {
      json j = RunJson(r);
      j["stateDir"] = dir;
      out.push_back(j);
    }
    std::cout << DumpJson(out, 2) << "\n";
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows{
      {"RUN", "WORKLOAD", "TARGET", "STATE", "STARTED", "DURATION", "COST"}};
  if (all) rows[0].push_back("STATE DIR");
  bool interrupted = false;
  for (const auto& [r, dir] : runs) {
    interrupted = interrupted || ShownState(r) == "Interrupted";
    rows.push_back({r.id, r.workload, r.target, ShownState(r),
                    FormatTime(FromUnixMillis(r.created_ms)), FormatElapsed(Elapsed(r)),
                    CostText(r)});
    if (all) rows.back().push_back(dir);
  }
  PrintTable(rows);
  if (interrupted) {
    std::cerr << "portflow: an Interrupted run's portflow is gone: `portflow resume RUN` goes on, "
                 "`portflow cancel RUN` stops what it left running\n";
  }
  return kExitOk;
}

int StatusCmd(const GlobalOptions& g, const std::string& run_id, const std::string& format,
              bool graph) {
  auto store = OpenStoreOf(g.state_dir, run_id);
  if (!store.ok()) return Fail(store.status(), kExitUsage);
  auto run = (*store)->GetRun(run_id);
  if (!run.ok()) return Fail(run.status(), kExitUsage);
  auto doc = RunDocument(**store, *run);
  if (!doc.ok()) return Fail(doc.status());
  if (format == "json") {
    std::cout << DumpJson(*doc, 2) << "\n";
    return kExitOk;
  }
  std::string state = ShownState(*run);
  if (state == "Interrupted") {
    state += " (portflow pid " + std::to_string(run->engine_pid) + " is gone: `portflow resume " +
             run->id + "` goes on, `portflow cancel " + run->id + "` stops what it left)";
  }
  std::cout << "run:      " << run->id << "\nworkload: " << run->workload << " ("
            << run->workload_file << ")\ntarget:   " << run->target << "\nstate:    " << state
            << (run->message.empty() ? "" : " (" + run->message + ")")
            << "\nstarted:  " << FormatTime(FromUnixMillis(run->created_ms))
            << "\nduration: " << FormatElapsed(Elapsed(*run));
  if (!run->cost.empty()) {
    json cost = json::parse(run->cost, nullptr, false);
    std::cout << "\ncost:     " << CostText(*run) << " (" << Str(cost, "detail") << ")";
  }
  std::cout << "\nrun dir:  " << run->run_dir << "\n\n";
  if (graph) {
    std::cout << report::RenderTree(*doc);
    return kExitOk;
  }
  // On a priced target, what each instance's attempts cost, before the
  // message (which may be long).
  const json& decisions = (*doc)["decisions"];
  bool priced = !run->cost.empty();
  bool members = !decisions.empty();
  std::vector<std::vector<std::string>> rows{{"INSTANCE", "STATE", "ATTEMPTS", "DURATION"}};
  if (members) rows[0].push_back("MEMBER");
  if (priced) rows[0].push_back("COST");
  rows[0].push_back("MESSAGE");
  for (const json& i : (*doc)["instances"]) {
    int64_t ms = i["durationMs"].get<int64_t>();
    rows.push_back({Str(i, "name"), Str(i, "state"), std::to_string(i["attempts"].get<int>()),
                    ms ? FormatElapsed(ms) : "-"});
    if (members) {
      std::string member = "-";  // its latest attempt's
      for (const json& a : i["attemptList"])
        if (a.contains("member")) member = Str(a, "member");
      rows.back().push_back(member);
    }
    if (priced) {
      std::optional<double> usd;  // none known: an attempt too short to be seen
      for (const json& a : i["attemptList"])
        if (a["cost"].is_number()) usd = usd.value_or(0) + a["cost"].get<double>();
      rows.back().push_back(usd ? FormatUsd(*usd) : "-");
    }
    rows.back().push_back(Str(i, "message"));
  }
  PrintTable(rows);
  if (members) {
    // "train[lr=0.1] #1 -> cloud: onprem ..." (the message starts with the member).
    std::cout << "\ndecisions:\n";
    for (const json& e : decisions)
      std::cout << "  " << Str(e, "time") << "  " << Str(e, "instance") << " #"
                << e["attempt"].get<int>() << " -> " << Str(e, "message") << "\n";
  }
  return kExitOk;
}

int Logs(const GlobalOptions& g, const std::string& run_id, const std::string& instance,
         bool follow, int attempt) {
  auto store = OpenStoreOf(g.state_dir, run_id);
  if (!store.ok()) return Fail(store.status(), kExitUsage);
  auto run = (*store)->GetRun(run_id);
  if (!run.ok()) return Fail(run.status(), kExitUsage);
  std::map<std::string, long> offsets;  // by log path
  bool printed_any = false;
  while (true) {
    auto attempts = (*store)->ListAttempts(run_id);
    if (!attempts.ok()) return Fail(attempts.status());
    auto latest = LatestAttempts(*attempts, instance, attempt);
    if (attempt && latest.empty() && !follow) {
      return Fail(NotFound("run " + run_id + " has no attempt " + std::to_string(attempt) +
                           (instance.empty() ? "" : " of \"" + instance + "\"")),
                  kExitUsage);
    }
    if (!instance.empty() && latest.empty() && !follow) {
      auto instances = (*store)->ListInstances(run_id);
      std::string known;
      if (instances.ok()) {
        for (const auto& i : *instances) known += (known.empty() ? "" : ", ") + i.name;
      }
      return Fail(NotFound("run " + run_id + " has no started instance \"" + instance +
                           "\" (instances: " + known + ")"),
                  kExitUsage);
    }
    size_t streams = 0;
    for (const AttemptRecord& a : latest) streams += static_cast<size_t>(a.replicas);
    for (const AttemptRecord& a : latest) {
      for (int r = 0; r < a.replicas; ++r) {
        std::string path = LogPath(run->run_dir, a.instance, a.attempt, r);
        LogRead read = ReadLog(path, static_cast<uint64_t>(offsets[path]));
        if (!read.found) continue;
        std::string& text = read.text;
        // Print whole lines only while following, so prefixes stay aligned.
        size_t end = follow ? text.rfind('\n') : text.size();
        if (end == std::string::npos) continue;
        if (follow) ++end;
        text.resize(end);
        offsets[path] += static_cast<long>(text.size());
        if (text.empty()) continue;
        printed_any = true;
        if (streams == 1) {
          std::cout << text;
          continue;
        }
        std::string prefix = a.instance + "/" + std::to_string(r) + " | ";
        size_t start = 0;
        while (start < text.size()) {
          size_t nl = text.find('\n', start);
          if (nl == std::string::npos) nl = text.size() - 1;
          std::cout << prefix << text.substr(start, nl - start + 1);
          if (text[nl] != '\n') std::cout << "\n";
          start = nl + 1;
        }
      }
    }
    std::cout << std::flush;
    if (!follow) break;
    auto now = (*store)->GetRun(run_id);
    if (now.ok() && now->state != "Running") {
      follow = false;  // one more pass prints what is left
      continue;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  if (!printed_any) {
    // After the run, none will come: the attempts printed nothing (and may
    // have left no file, see LogFiles).
    auto now = (*store)->GetRun(run_id);
    bool running = !now.ok() || now->state == "Running";
    std::cerr << (running ? "portflow: no log output yet\n"
                          : "portflow: no log output: printed nothing\n");
  }
  return kExitOk;
}

int Cancel(const GlobalOptions& g, const std::string& run_id) {
  auto store = OpenStoreOf(g.state_dir, run_id);
  if (!store.ok()) return Fail(store.status(), kExitUsage);
  auto run = (*store)->GetRun(run_id);
  if (!run.ok()) return Fail(run.status(), kExitUsage);
  if (run->state != "Running") {
    std::cerr << "portflow: run " << run_id << " already ended: " << run->state << "\n";
    return kExitOk;
  }
  if (Status s = (*store)->RequestCancel(run_id); !s.ok()) return Fail(s);
  if (EngineAlive(run->engine_pid)) {
    ::kill(run->engine_pid, SIGTERM);
    // Wait for the engine to stop its tasks and record the end.
    for (int i = 0; i < 600; ++i) {
      auto now = (*store)->GetRun(run_id);
      if (now.ok() && now->state != "Running") {
        std::cout << run_id << " " << now->state << "\n";
        return kExitOk;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    PrintError("asked portflow pid " + std::to_string(run->engine_pid) + " to cancel " + run_id +
               "; it has not finished after 60s");
    return kExitFailed;
  }
  // Nobody drives the run (portflow died): stop what it left running here.
  std::unique_ptr<RunLog> run_log = OpenRunLog(run->run_dir);
  PORTFLOW_LOG(
      LogLevel::kInfo, "run",
      "cancelling run " + run_id + " on target " + run->target + ": no portflow process drives it");
  auto attempts = (*store)->ListAttempts(run_id);
  if (!attempts.ok()) return Fail(attempts.status());
  std::vector<TaskHandle> open;
  for (const AttemptRecord& a : *attempts) {
    auto st = ParseTaskState(a.state);
    if (st && IsTerminal(*st)) continue;
    open.push_back({a.backend, run_id + "/" + a.instance + "/" + std::to_string(a.attempt),
                    a.handle, a.member});
  }
  // A backend that re-attaches (a cluster's Jobs outlive portflow) is then
  // asked to stop each attempt; one that cannot re-attach stops them itself.
  // What could not be stopped is said, and the run is still marked ended.
  bool stopped_all = true;
  auto backend = BackendFor(run->workload_dir, run->target);
  Result<std::vector<RecoveredTask>> recovered =
      backend.ok() ? (*backend)->Recover(run_id, open) : backend.status();
  if (!recovered.ok() && !open.empty()) {
    PrintError("could not stop what " + run_id + " left running on target " + run->target + ": " +
               recovered.status().message());
    stopped_all = false;
  }
  for (const RecoveredTask& t : recovered.ok() ? *recovered : std::vector<RecoveredTask>{}) {
    if (t.state != TaskState::kRunning) continue;
    if (Status s = (*backend)->Cancel(t.handle, /*force=*/true); !s.ok()) {
      PrintError("could not stop " + t.handle.key + ": " + s.message());
      stopped_all = false;
    }
  }
  for (const AttemptRecord& a : *attempts) {
    auto st = ParseTaskState(a.state);
    if (st && IsTerminal(*st)) continue;
    AttemptRecord done = a;
    done.state = "Cancelled";
    done.reason = "Cancelled";
    done.finished_ms = ToUnixMillis(RealClock().Now());
    (void)(*store)->PutAttempt(done);
  }
  // Each instance that had not ended ends with the run, as the engine's own
  // cancel would end it.
  auto instances = (*store)->ListInstances(run_id);
  if (!instances.ok()) return Fail(instances.status());
  for (InstanceRecord i : *instances) {
    if (IsTerminalInstanceState(i.state)) continue;
    i.state = "Cancelled";
    i.message = "run cancelled";
    i.updated_ms = ToUnixMillis(RealClock().Now());
    (void)(*store)->PutInstance(i);
  }
  run->state = "Cancelled";
  run->message = stopped_all ? "cancelled while no portflow process was driving it"
                             : "cancelled while no portflow process was driving it; some of its "
                               "work could not be stopped and may still be running";
  run->finished_ms = ToUnixMillis(RealClock().Now());
  if (Status s = (*store)->UpdateRun(*run); !s.ok()) return Fail(s);
  std::cout << run_id << " Cancelled\n";
  return stopped_all ? kExitOk : kExitFailed;
}

int Targets(const std::string& dir, const std::string& format) {
  auto targets = LoadTargets(dir);
  if (!targets.ok()) {
    PrintError(targets.status().message());
    return kExitUsage;
  }
  json out = json::array();
  std::vector<std::vector<std::string>> rows = {{"NAME", "BACKEND", "STATUS", "CPU FREE/TOTAL",
                                                 "MEMORY FREE/TOTAL", "GPU FREE/TOTAL", "SOURCE"}};
  auto pair = [](std::optional<int64_t> free, int64_t total, auto fmt) {
    return (free ? fmt(*free) : std::string("-")) + "/" + fmt(total);
  };
  for (const Target& t : *targets) {
    auto settings = t.settings;
    settings.erase("backend");
    Backend::Availability a{OkStatus(), {}, std::nullopt};
    if (!t.problem.empty()) {
      a.reachable = InvalidArgument(t.problem);
    } else if (auto backend = CreateBackend(t.backend, settings); backend.ok()) {
      a = (*backend)->Probe();
    } else {
      a.reachable = Status(backend.status().code(), TargetProblem(t, backend.status().message()));
    }
    // One line per target in the table; the whole message in -o json.
    std::string status = a.reachable.ok() ? "ready"
                         : !t.problem.empty() || a.reachable.code() == StatusCode::kInvalidArgument
                             ? "broken: " + a.reachable.message()
                             : "unreachable: " + a.reachable.message();
    for (char& c : status) {
      if (c == '\n' || c == '\t') c = ' ';
    }
    if (status.size() > 72) status = status.substr(0, 69) + "...";
    json j = {{"name", t.name},
              {"backend", t.backend},
              {"source", t.source},
              {"reachable", a.reachable.ok()},
              {"message", a.reachable.message()}};
    if (a.reachable.ok()) {
      j["capacity"] = {{"cpu", FormatMilliCpu(a.capacity.milli_cpu)},
                       {"memory", FormatBytes(a.capacity.memory_bytes)},
                       {"gpu", a.capacity.gpus}};
      if (a.free) {
        j["free"] = {{"cpu", FormatMilliCpu(a.free->milli_cpu)},
                     {"memory", FormatBytes(a.free->memory_bytes)},
                     {"gpu", a.free->gpus}};
      }
    }
    out.push_back(j);
    auto opt = [&](int64_t ResourceRequest::*f) -> std::optional<int64_t> {
      return a.free ? std::optional<int64_t>((*a.free).*f) : std::nullopt;
    };
    auto num = [](int64_t v) { return std::to_string(v); };
    rows.push_back({t.name, t.backend, status,
                    a.reachable.ok() ? pair(opt(&ResourceRequest::milli_cpu), a.capacity.milli_cpu,
                                            FormatMilliCpu)
                                     : "",
                    a.reachable.ok() ? pair(opt(&ResourceRequest::memory_bytes),
                                            a.capacity.memory_bytes, FormatBytesShort)
                                     : "",
                    a.reachable.ok() ? pair(opt(&ResourceRequest::gpus), a.capacity.gpus, num) : "",
                    t.source});
  }
  if (format == "json") {
    std::cout << DumpJson(out, 2) << "\n";
  } else {
    PrintTable(rows);
  }
  return kExitOk;
}

}  // namespace portflow::cli
