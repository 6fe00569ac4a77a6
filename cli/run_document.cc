#include "cli/run_document.h"

#include <algorithm>
#include <map>

#include "cli/common.h"
#include "core/backend.h"
#include "core/json_fields.h"
#include "core/process/proc.h"

namespace portflow::cli {

using json = nlohmann::json;

std::string ShownState(const RunRecord& r) {
  return r.state == "Running" && !EngineAlive(r.engine_pid) ? "Interrupted" : r.state;
}

json RunJson(const RunRecord& r) {
  return {{"id", r.id},
          {"workload", r.workload},
          {"file", r.workload_file},
          {"target", r.target},
          {"state", ShownState(r)},
          {"message", r.message},
          {"runDir", r.run_dir},
          {"created", FormatTime(FromUnixMillis(r.created_ms))},
          {"finished", r.finished_ms ? FormatTime(FromUnixMillis(r.finished_ms)) : ""},
          {"params", json::parse(r.params, nullptr, false)},
          {"cost", r.cost.empty() ? json(nullptr) : json::parse(r.cost, nullptr, false)}};
}

int64_t Elapsed(const RunRecord& r) {
  int64_t end = r.finished_ms ? r.finished_ms : ToUnixMillis(RealClock().Now());
  return end - r.created_ms;
}

namespace {

std::string Time(int64_t ms) { return ms ? FormatTime(FromUnixMillis(ms)) : ""; }

// From an instance's first attempt's start to its last one's end (or now
// while it runs); 0 when it never started.
int64_t InstanceMillis(const std::vector<AttemptRecord>& attempts, const std::string& instance) {
  int64_t start = 0, end = 0;
  bool open = false;
  for (const AttemptRecord& a : attempts) {
    if (a.instance != instance || !a.started_ms) continue;
    if (!start || a.started_ms < start) start = a.started_ms;
    end = std::max(end, a.finished_ms);
    open = open || !a.finished_ms;
  }
  if (!start) return 0;
  if (open) end = ToUnixMillis(RealClock().Now());
  return std::max<int64_t>(0, end - start);
}

// "Unschedulable" of "Unschedulable: 0/1 nodes are available...": the
// reason a wait was given; "" for a message that names none.
std::string WaitReason(const std::string& message) {
  size_t colon = message.find(": ");
  if (colon == std::string::npos || colon == 0 ||
      !std::isupper(static_cast<unsigned char>(message[0])))
    return "";
  std::string word = message.substr(0, colon);
  bool one_word = std::all_of(word.begin(), word.end(),
                              [](char c) { return std::isalnum(static_cast<unsigned char>(c)); });
  return one_word && word != "Submitted" ? word : "";
}

// Each attempt's timeline, by instance and attempt number: when it was
// queued (held before it, for a wait the engine names, counts as queued),
// the spans it waited with their reasons, its moves, when it was first
// seen running (its "started" is when it was submitted).
std::map<std::pair<std::string, int>, json> Timelines(const std::vector<EventRecord>& events) {
  std::map<std::pair<std::string, int>, json> out;
  std::map<std::string, int64_t> held_since;  // by instance: a hold before its next attempt
  std::map<std::string, std::string> held_why;
  std::map<std::pair<std::string, int>, json*> open_wait;
  for (const EventRecord& e : events) {
    if (e.instance.empty()) continue;
    auto key = std::make_pair(e.instance, e.attempt);
    if (json* w = open_wait[key]; w && e.type != "Placed") {
      (*w)["to"] = Time(e.time_ms);
      open_wait[key] = nullptr;
    }
    if (e.type == "Waiting") {
      if (!held_since.count(e.instance)) held_since[e.instance] = e.time_ms;
      held_why[e.instance] = WaitReason(e.message);
      continue;
    }
    if (e.type == "Pending" && e.message == "attempt " + std::to_string(e.attempt)) {
      json& t = out[key];
      t = {{"queued", Time(e.time_ms)}, {"waits", json::array()}, {"moves", json::array()}};
      if (auto h = held_since.find(e.instance); h != held_since.end()) {
        t["queued"] = Time(h->second);
        t["waits"].push_back(
            {{"from", Time(h->second)}, {"to", Time(e.time_ms)}, {"reason", held_why[e.instance]}});
        held_since.erase(h);
      }
      continue;
    }
    auto t = out.find(key);
    if (t == out.end()) continue;
    if (e.type == "Moved")
      t->second["moves"].push_back({{"time", Time(e.time_ms)}, {"message", e.message}});
    if (e.type == "Running" && !t->second.contains("running"))
      t->second["running"] = Time(e.time_ms);
    std::string reason = e.type == "Pending" ? WaitReason(e.message) : "";
    if (!reason.empty()) {
      t->second["waits"].push_back(
          {{"from", Time(e.time_ms)}, {"to", ""}, {"reason", reason}, {"message", e.message}});
      open_wait[key] = &t->second["waits"].back();
    }
  }
  return out;
}

// The last `lines` lines of `path` (each cut at 300 bytes), from its last
// 16 KiB.
std::vector<std::string> LogTail(const std::string& path, int lines) {
  bool cut = false;
  std::string text = FileEnd(path, 16384, &cut);
  std::vector<std::string> out;
  size_t end = text.size();
  if (end && text[end - 1] == '\n') --end;
  while (end > 0 && static_cast<int>(out.size()) < lines) {
    size_t nl = text.rfind('\n', end - 1);
    size_t start = nl == std::string::npos ? 0 : nl + 1;
    if (start == 0 && cut) break;  // a line cut by the window
    out.push_back(text.substr(start, std::min<size_t>(end - start, 300)));
    if (nl == std::string::npos) break;
    end = nl;
  }
  std::reverse(out.begin(), out.end());
  return out;
}

}  // namespace

Result<json> RunDocument(RunStore& store, const RunRecord& run, const DocumentOptions& options) {
  ASSIGN_OR_RETURN(std::vector<InstanceRecord> instances, store.ListInstances(run.id));
  ASSIGN_OR_RETURN(std::vector<AttemptRecord> attempts, store.ListAttempts(run.id));
  ASSIGN_OR_RETURN(std::vector<EventRecord> events, store.ListEvents(run.id));
  json out = RunJson(run);
  // Where each output is, and the steps' needs (none for a run whose
  // workload cannot be read).
  std::optional<Plan> plan = LoadRunPlan(run);
  auto places = plan ? OutputsOf(run, *plan, "") : std::vector<OutputPlace>{};
  const std::vector<OutputPlace> outputs = places.ok() ? *places : std::vector<OutputPlace>{};
  out["steps"] = json::array();
  std::map<std::string, size_t> step_index;
  if (plan) {
    for (const Step& s : plan->workload().steps) {
      step_index[s.name] = out["steps"].size();
      out["steps"].push_back({{"name", s.name}, {"needs", s.needs}, {"instances", json::array()}});
    }
  }
  for (const InstanceRecord& i : instances) {
    if (!step_index.count(i.step)) {
      step_index[i.step] = out["steps"].size();
      out["steps"].push_back(
          {{"name", i.step}, {"needs", json::array()}, {"instances", json::array()}});
    }
    out["steps"][step_index[i.step]]["instances"].push_back(i.name);
  }
  std::map<std::pair<std::string, int>, json> timelines;
  if (options.timeline) timelines = Timelines(events);
  out["instances"] = json::array();
  for (const InstanceRecord& i : instances) {
    json item = {{"name", i.name},
                 {"step", i.step},
                 {"state", i.state},
                 {"attempts", i.attempts},
                 {"durationMs", InstanceMillis(attempts, i.name)},
                 {"message", i.message}};
    item["outputs"] = json::array();
    for (const OutputPlace& o : outputs) {
      if (o.instance == i.name)
        item["outputs"].push_back({{"name", o.name}, {"path", o.path}, {"location", o.location}});
    }
    item["attemptList"] = json::array();
    const AttemptRecord* latest = nullptr;
    for (const AttemptRecord& a : attempts) {
      if (a.instance != i.name) continue;
      latest = &a;
      json attempt = {
          {"attempt", a.attempt},
          {"state", a.state},
          {"exitCode", a.exit_code},
          {"signal", a.signal},
          {"reason", a.reason},
          {"message", a.message},
          {"cost", a.cost.empty() ? json(nullptr) : json(std::strtod(a.cost.c_str(), nullptr))},
          {"started", Time(a.started_ms)},
          {"finished", Time(a.finished_ms)}};
      // On a composite (hybrid) target, the member it ran on.
      if (!a.member.empty()) attempt["member"] = a.member;
      if (auto t = timelines.find({a.instance, a.attempt}); t != timelines.end())
        attempt["timeline"] = t->second;
      item["attemptList"].push_back(std::move(attempt));
    }
    if (options.log_lines > 0 && latest)
      item["logTail"] =
          LogTail(LogPath(run.run_dir, i.name, latest->attempt, 0), options.log_lines);
    out["instances"].push_back(std::move(item));
  }
  // Where a composite (hybrid) target placed each attempt, and why.
  out["decisions"] = json::array();
  for (const EventRecord& e : events) {
    if (e.type != "Placed" && e.type != "Moved") continue;
    out["decisions"].push_back({{"time", Time(e.time_ms)},
                                {"instance", e.instance},
                                {"attempt", e.attempt},
                                {"type", e.type},
                                {"message", e.message}});
  }
  return out;
}

}  // namespace portflow::cli
