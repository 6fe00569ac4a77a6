// The engine, in order: the cancel counter and Preflight (what no target
// placement could ever run); the loop (Engine::Run: one transaction a turn,
// held open briefly over a wait (group commit), the queued events, timers,
// admissions) and a resumed run's Restore; the slots' phases and indexes;
// admission (Admit, AfterSubmit); what each event does (HandleEvent, Fail,
// CancelActive); the placement questions (RequestFor, Ask); and the store's
// writes (Finish, SetState, Record, SaveAttempt). Timers, moves and the wait
// are in engine_timers.cc.
#include "core/engine.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>

#include "core/log.h"
#include "core/quantity.h"

namespace portflow {
namespace {

std::atomic<int> g_cancel_requests{0};

// How long an attempt that a backend could not start for a shortage waits
// before it is submitted again.
constexpr Duration kShortageWait = std::chrono::seconds(1);

std::string Describe(const ExitResult& r) {
  std::string s = r.reason.empty() ? "" : r.reason;
  if (r.signal)
    s += " (signal " + std::to_string(r.signal) + ")";
  else if (r.exit_code > 0)  // -1: it never ran
    s += " (exit code " + std::to_string(r.exit_code) + ")";
  if (!r.message.empty()) s += ": " + r.message;
  return s;
}

// Why an attempt could not start goes where a user looks first: its
// replica-0 log (`portflow logs RUN INSTANCE`), on every backend.
void NoteInLog(const std::string& run_dir, const std::string& instance, int attempt,
               const std::string& why) {
  std::string path = LogPath(run_dir, instance, attempt, 0);
  std::error_code ec;
  std::filesystem::create_directories(LogDir(run_dir), ec);
  std::ofstream(path, std::ios::app) << "portflow: " << why << "\n";
}

}  // namespace

void RequestCancel() { g_cancel_requests.fetch_add(1, std::memory_order_relaxed); }
int CancelRequests() { return g_cancel_requests.load(std::memory_order_relaxed); }
void ResetCancelRequests() { g_cancel_requests.store(0); }

Status Preflight(const Plan& plan, Backend& backend, const TaskContext& ctx, bool strict,
                 std::vector<std::string>* warnings) {
  std::string problems;
  // Unsupported fields: field -> (reason, the steps that use it).
  std::map<std::string, std::pair<std::string, std::vector<std::string>>> unsupported;
  std::vector<std::string> fields;
  std::vector<bool> seen_steps(plan.workload().steps.size());
  for (size_t i = 0; i < plan.instances().size(); ++i) {
    const Instance& inst = plan.instances()[i];
    if (seen_steps[inst.step]) continue;
    seen_steps[inst.step] = true;
    const Step& step = plan.StepOf(inst);
    ASSIGN_OR_RETURN(TaskSpec spec, plan.MakeTask(i, 1, ctx));
    ResourceRequest need = spec.resources * spec.replicas;
    // What the target itself refuses (no image, code too large to ship...).
    if (Status refused = backend.Check(spec); !refused.ok()) {
      std::string why = refused.message();
      bool named = why.rfind("step " + step.name + " ", 0) == 0;
      problems += (named ? "" : "step \"" + step.name + "\": ") + why + "\n";
      continue;
    }
    Placement placement = backend.Place({spec.resources, spec.replicas, {}});
    if (!placement.can_ever_fit && need.FitsIn(backend.Capacity())) {  // a limit of its own
      problems += "step \"" + step.name + "\" could never start on the " + backend.name() +
                  " backend: " + placement.why + "\n";
    } else if (!placement.can_ever_fit) {
      problems += "step \"" + step.name + "\" needs " + need.ToString() +
                  (spec.replicas > 1 ? " (" + std::to_string(spec.replicas) + " replicas of " +
                                           spec.resources.ToString() + ")"
                                     : "") +
                  " but the " + backend.name() + " backend has " + backend.Capacity().ToString() +
                  " in all; it could never start\n";
    }
    for (const Unsupported& u : backend.UnsupportedUses(spec)) {
      auto [it, fresh] = unsupported.try_emplace(std::string(FeatureName(u.feature)), u.reason,
                                                 std::vector<std::string>{});
      if (fresh) fields.push_back(std::string(FeatureName(u.feature)));
      it->second.second.push_back(step.name);
    }
  }
  // One line per field, naming the steps that use it: the first few and a
  // count of the rest, so that a workload of hundreds of steps gets a line.
  constexpr size_t kNamed = 8;
  for (const std::string& f : fields) {
    const auto& [reason, steps] = unsupported[f];
    std::string line =
        "the " + backend.name() + " backend ignores " + f + " (" + reason + "); used by: ";
    for (size_t i = 0; i < steps.size() && i < kNamed; ++i) line += (i ? ", " : "") + steps[i];
    if (steps.size() > kNamed)
      line += " and " + std::to_string(steps.size() - kNamed) +
              (steps.size() - kNamed == 1 ? " more step" : " more steps");
    if (strict) {
      problems += line + "; --strict refuses it\n";
    } else if (warnings) {
      warnings->push_back(line);
    }
  }
  if (!problems.empty()) {
    problems.pop_back();
    return ResourceExhausted(problems);
  }
  return OkStatus();
}

Engine::Engine(const Plan& plan, Backend& backend, RunStore& store, Clock& clock,
               EngineOptions options, RunObserver* observer)
    : plan_(plan),
      backend_(backend),
      store_(store),
      clock_(clock),
      options_(options),
      observer_(observer) {}

void Engine::OnTaskEvent(TaskEvent event) {
  {
    std::lock_guard<std::mutex> l(mu_);
    events_.push_back(std::move(event));
    // Only while the loop waits on the descriptors: otherwise it finds the
    // event before it waits (and a wake-up left over would cost a turn).
    if (waiting_) {
      uint64_t one = 1;
      [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof one);
    }
  }
  cv_.notify_one();
}

Result<std::string> Engine::Run(const RunRecord& run) {
  run_ = run;
  slots_.assign(plan_.instances().size(), Slot{});
  step_succeeded_.assign(plan_.workload().steps.size(), 0);
  step_broken_.assign(plan_.workload().steps.size(), "");
  step_runtime_.assign(plan_.workload().steps.size(), {Duration::zero(), 0});
  waiters_.assign(plan_.workload().steps.size(), {});
  for (size_t i = 0; i < slots_.size(); ++i)
    for (size_t d : plan_.instances()[i].dep_steps) waiters_[d].push_back(i);
  cancels_seen_ = CancelRequests();
  backend_.SetEventSink(this);
  move_after_ = backend_.MoveAfter();
  // Waiting on the backend's own descriptor needs the real clock (a
  // virtual one moves only when waited on through it).
  if (&clock_ == &RealClock()) {
    int wake = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    driven_fd_ = wake >= 0 ? backend_.TakeOverWaiting() : -1;
    std::lock_guard<std::mutex> l(mu_);
    if (driven_fd_ >= 0) {
      wake_fd_ = wake;
    } else if (wake >= 0) {
      ::close(wake);
    }
  }
  // However Run ends, the backend waits on its own threads again.
  struct GiveBack {
    Engine* e;
    ~GiveBack() {
      if (e->driven_fd_ < 0) return;
      e->backend_.ReleaseWaiting();
      e->driven_fd_ = -1;
      std::lock_guard<std::mutex> l(e->mu_);
      ::close(e->wake_fd_);
      e->wake_fd_ = -1;
    }
  } give_back{this};
  // However Run ends (an error, an exception), no transaction is left open:
  // what the caller records next (the run Failed) must land.
  struct EndTransaction {
    RunStore& store;
    ~EndTransaction() { store.Abandon(); }
  } end_transaction{store_};
  // What Restore writes (each instance's Waiting row, on a fresh run) lands
  // in one transaction, the backend's Recover outside it.
  RETURN_IF_ERROR(store_.Begin());
  Status restored = Restore();
  Status committed = store_.Commit();
  RETURN_IF_ERROR(store_failure_);  // first: it is why a commit failed after it
  RETURN_IF_ERROR(restored);
  RETURN_IF_ERROR(committed);
  Reindex();

  // Group commit: a turn that ends with writes since its last act (a start's
  // Pending and Running, an end) may keep them uncommitted while it waits,
  // up to commit_delay, so that what comes in meanwhile (a short task's
  // end) lands in the same commit, which the next act (a Submit) makes
  // anyway: one commit a task instead of two on a chain. Nothing is acted
  // on before it is committed (Outside), and what another process reads is
  // at most that much late. On the real clock only: a virtual clock would
  // jump ahead to the delay's end.
  const bool group_commit = &clock_ == &RealClock();
  bool held_open = false;
  while (true) {
    // One transaction per turn: its writes land together. Before an act
    // outside the store (a Submit, a Cancel) what came before it is
    // committed, and no write lock is held while it runs (Outside).
    if (!held_open) RETURN_IF_ERROR(store_.Begin());
    held_open = false;
    if (StopRequested()) {
      bool force = user_cancel_;  // a second request forces
      if (!user_cancel_) {
        user_cancel_ = true;
        stopping_ = true;
        RETURN_IF_ERROR(store_.AddEvent({0, run_.id, ToUnixMillis(clock_.Now()), "", 0,
                                         "CancelRequested", "stopping running tasks"}));
      }
      CancelActive(force);
      if (observer_) observer_->OnCancelling(force);
    }
    bool ended = false;
    RETURN_IF_ERROR(HandleQueued(&ended));
    RETURN_IF_ERROR(CheckTimers());
    RETURN_IF_ERROR(Admit());
    // What the turn's own acts sent at once (a local start's Running) is
    // written in the same transaction, not in a turn of its own; an end
    // among it may free capacity, so the next turn then comes at once.
    bool again = false;
    RETURN_IF_ERROR(HandleQueued(&again));
    // An act's commit or begin that failed: first, it is why a commit
    // after it would fail.
    RETURN_IF_ERROR(store_failure_);
    bool finished = active_.empty() && (done_ >= slots_.size() || stopping_);
    if (group_commit && !finished && store_.Dirty()) {
      auto now = std::chrono::steady_clock::now();
      if (!held_since_) held_since_ = now;
      Duration left = options_.commit_delay - (now - *held_since_);
      if (left > Duration::zero()) {
        // Kept whatever becomes of what follows (an error then rolls back
        // only the next turn's writes). An end handled this turn: the next
        // turn comes at once, its writes joining these. Else a short wait,
        // whose end commits them.
        RETURN_IF_ERROR(store_.Keep());
        if (again || Wait(clock_.Now() + left)) {
          held_open = true;
          if (observer_) observer_->OnTick();
          continue;
        }
      }
    }
    held_since_.reset();
    RETURN_IF_ERROR(store_.Commit());
    if (observer_) observer_->OnTick();
    if (finished) break;
    if (!again) Wait();
  }

  // What never ran: cancelled by the user, or not started after a failure.
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i].phase == Phase::kDone) continue;
    RETURN_IF_ERROR(
        Finish(i, user_cancel_ ? "Cancelled" : "Skipped",
               user_cancel_ ? "run cancelled" : "not started: the run stopped after a failure"));
  }
  std::string state = "Succeeded";
  for (const Slot& s : slots_) {
    if (s.state != "Succeeded") state = user_cancel_ ? "Cancelled" : "Failed";
  }
  return state;
}

Status Engine::HandleQueued(bool* ended) {
  std::deque<TaskEvent> batch;
  {
    std::lock_guard<std::mutex> l(mu_);
    batch.swap(events_);
  }
  for (const TaskEvent& e : batch) {
    RETURN_IF_ERROR(HandleEvent(e));
    *ended = *ended || IsTerminal(e.state);
  }
  return OkStatus();
}

bool Engine::StopRequested() {
  int n = CancelRequests();
  bool fresh = n > cancels_seen_;
  cancels_seen_ = n;
  if (fresh) return true;
  // `portflow cancel` from another terminal marks the run in the store.
  auto now = std::chrono::steady_clock::now();
  if (now >= next_store_poll_) {
    next_store_poll_ = now + std::chrono::milliseconds(500);
    auto rec = store_.GetRun(run_.id);
    if (rec.ok() && rec->cancel_requested && !user_cancel_) return true;
  }
  return false;
}

Status Engine::Restore() {
  ASSIGN_OR_RETURN(auto instances, store_.ListInstances(run_.id));
  ASSIGN_OR_RETURN(auto attempts, store_.ListAttempts(run_.id));
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < plan_.instances().size(); ++i) index[plan_.instances()[i].name] = i;
  for (const InstanceRecord& r : instances) {
    auto it = index.find(r.name);
    if (it == index.end()) continue;
    Slot& s = slots_[it->second];
    s.attempt = r.attempts;
    if (r.state == "Succeeded") {
      MarkDone(it->second, "Succeeded");
      s.state = "Succeeded";
    }
  }
  // The members attempts were moved away from stay avoided (only a
  // backend that moves attempts has any).
  std::set<std::pair<std::string, int>> moved;
  if (move_after_) {
    ASSIGN_OR_RETURN(auto events, store_.ListEvents(run_.id));
    for (const EventRecord& e : events)
      if (e.type == "Moved") moved.insert({e.instance, e.attempt});
  }
  // Attempts the dead engine never saw end: ask the backend.
  std::vector<TaskHandle> open;
  std::map<std::string, const AttemptRecord*> by_key;
  for (const AttemptRecord& a : attempts) {
    auto it = index.find(a.instance);
    if (it == index.end()) continue;
    Slot& s = slots_[it->second];
    s.attempt = std::max(s.attempt, a.attempt);
    s.member = a.member;  // in order: the latest attempt's
    if (!a.member.empty() && moved.count({a.instance, a.attempt})) s.avoid.push_back(a.member);
    auto st = ParseTaskState(a.state);
    if (st && IsTerminal(*st)) continue;
    TaskHandle h{a.backend.empty() ? backend_.name() : a.backend,
                 run_.id + "/" + a.instance + "/" + std::to_string(a.attempt), a.handle, a.member};
    by_key[h.key] = &a;
    open.push_back(h);
  }
  if (!open.empty() || !attempts.empty()) {
    ASSIGN_OR_RETURN(auto recovered, Outside([&] { return backend_.Recover(run_.id, open); }));
    for (const RecoveredTask& t : recovered) {
      auto a = by_key.find(t.handle.key);
      if (a == by_key.end()) continue;
      size_t i = index[a->second->instance];
      Slot& s = slots_[i];
      s.handle = t.handle;
      s.started = FromUnixMillis(a->second->started_ms);  // kept in what is saved next
      if (t.state == TaskState::kRunning) {
        SetPhase(i, Phase::kActive);
        active_keys_[t.handle.key] = i;
        RETURN_IF_ERROR(SetState(i, "Running", "re-attached after restart"));
      } else if (IsTerminal(t.state) && t.result && t.state == TaskState::kSucceeded) {
        RETURN_IF_ERROR(SaveAttempt(i, "Succeeded", &*t.result));
        RETURN_IF_ERROR(Finish(i, "Succeeded", "finished while portflow was down"));
      } else {
        ExitResult r = t.result.value_or(ExitResult{});
        if (r.reason.empty()) r.reason = "Interrupted";
        if (r.message.empty()) r.message = "portflow stopped while this attempt ran; it runs again";
        RETURN_IF_ERROR(SaveAttempt(i, "Cancelled", &r));
        RETURN_IF_ERROR(Record(i, "Interrupted", r.message));
      }
    }
  }
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i].phase == Phase::kWaiting) RETURN_IF_ERROR(SetState(i, "Waiting", ""));
  }
  return OkStatus();
}

void Engine::SetPhase(size_t i, Phase phase) {
  Slot& s = slots_[i];
  if (s.phase != Phase::kDone && phase == Phase::kDone) ++done_;  // a done slot stays done
  s.phase = phase;
  Touch(i);
  active_.erase(i);
  open_.erase(i);
  if (phase == Phase::kActive) {
    active_.insert(i);
  } else if (phase != Phase::kDone && DepsEnded(i)) {
    open_.insert(i);
  }
}

bool Engine::StepEnded(size_t step) const {
  return !step_broken_[step].empty() || step_succeeded_[step] == plan_.InstancesOf(step).size();
}

bool Engine::DepsEnded(size_t i) const {
  bool ended = true;
  for (size_t d : plan_.instances()[i].dep_steps) {
    if (!step_broken_[d].empty()) return true;
    ended = ended && StepEnded(d);
  }
  return ended;
}

void Engine::Reindex() {
  active_.clear();
  open_.clear();
  done_ = 0;
  for (size_t i = 0; i < slots_.size(); ++i) {
    Phase p = slots_[i].phase;
    if (p == Phase::kActive) active_.insert(i);
    if (p == Phase::kDone) ++done_;
    if (p != Phase::kDone) Touch(i);
    if ((p == Phase::kWaiting || p == Phase::kBackoff) && DepsEnded(i)) open_.insert(i);
  }
}

Status Engine::Admit() {
  const auto& instances = plan_.instances();
  TimePoint now = clock_.Now();
  answers_.clear();
  answers_stand_ = false;
  // Capacity held back for ready instances that cannot start now, in plan
  // order: later, smaller ones may not take it, so a big gang is not starved.
  // Only the open slots: a slot placed, skipped or opened in this pass
  // leaves or joins the set without moving the iterator past others.
  ResourceRequest reserved;
  // Once nothing at all could start with what is held back (the backend
  // refuses an empty request), the slots already held are refused again
  // without asking: a long queue costs a pass over it, not a question each.
  bool saturated = false;
  for (auto next = open_.begin(); next != open_.end();) {
    size_t i = *next++;
    Slot& s = slots_[i];
    if (user_cancel_) continue;  // what never started ends Cancelled
    // Open: every step it needs ended; skipped if one of them failed.
    std::string broken;
    for (size_t d : instances[i].dep_steps)
      if (!step_broken_[d].empty()) broken = step_broken_[d];
    if (!broken.empty()) {
      RETURN_IF_ERROR(Finish(i, "Skipped", "upstream " + broken));
      continue;
    }
    if (stopping_) continue;
    if (s.phase == Phase::kBackoff && now < s.ready_at) continue;
    if (saturated && s.held_back) continue;
    PlacementRequest request = RequestFor(i, reserved);
    Placement placement = Ask(request);
    std::string moved_from;
    if (!placement.can_start_now && move_after_ && !placement.member.empty()) {
      Touch(i);  // its wait for a member (MoveFor touches it again on a look)
      // Held for a member that runs only what it can start (the laptop):
      // past MoveAfter, placed elsewhere if it can start there.
      if (!s.capacity_wait || s.member != placement.member) {
        s.capacity_wait = now;
        s.member = placement.member;
        s.foreseen_wait = {};
      }
      s.wait_why = placement.why;
      if (now - *s.capacity_wait >= *move_after_ && now >= s.next_move_look) {
        if (std::optional<Placement> other = MoveFor(i, placement.member)) {
          moved_from = "moved after waiting " + FormatDuration(now - *s.capacity_wait) + " for " +
                       placement.member + " (" + s.wait_why + "); ";
          s.avoid.push_back(placement.member);
          placement = *other;
        }
      }
    }
    if (!placement.can_start_now && !placement.can_ever_fit && !placement.reason.empty()) {
      // A limit the backend names (Budget) that it can never meet now: no
      // wait would help.
      RETURN_IF_ERROR(Fail(i, placement.reason + ": " + placement.why));
      continue;
    }
    if (!placement.can_start_now) {
      if (!s.held_back) {
        PORTFLOW_LOG(LogLevel::kDebug, "engine",
                     "holding back " + instances[i].name + ": " + placement.why +
                         " (held for earlier instances: " + reserved.ToString() + ")");
        // A wait the backend names (the cloud's Budget) is said where
        // status shows it.
        if (!placement.reason.empty()) {
          std::string why = placement.reason + ": " + placement.why;
          RETURN_IF_ERROR(SetState(i, s.state, why));
          if (s.state == "Waiting") RETURN_IF_ERROR(Record(i, "Waiting", why));
        }
      }
      s.held_back = true;
      if (s.placing_again) Touch(i);  // no longer among the moves
      s.placing_again = false;        // held, not placed: the next move need not wait
      reserved += request.Total();
      // Not where attempts move (a held one's wait is kept each pass).
      if (!saturated && !move_after_)
        saturated = !Ask({ResourceRequest{}, 1, reserved, {}, std::nullopt}).can_start_now;
      continue;
    }
    PORTFLOW_LOG(LogLevel::kDebug, "engine",
                 "admitting " + instances[i].name + " attempt " + std::to_string(s.attempt + 1) +
                     ": needs " + request.Total().ToString() + " (" + backend_.name() +
                     " can start it now)");
    s.held_back = false;

    // The backend (and on a composite one, its member) is chosen first,
    // then the paths on it.
    int attempt = s.attempt + 1;
    s.member = placement.member;
    TaskContext ctx{run_.id, run_.run_dir,
                    backend_.ArtifactRootOn(s.member, run_.id, run_.run_dir)};
    ASSIGN_OR_RETURN(TaskSpec spec, plan_.MakeTask(i, attempt, ctx));
    spec.member = s.member;
    s.attempt = attempt;
    s.started = now;
    s.timed_out = s.cancel_sent = s.force_sent = s.moving = s.placing_again = false;
    s.kill_at = TimePoint::max();
    s.capacity_wait.reset();
    s.running_since.reset();
    s.foreseen_wait = placement.estimated_wait.value_or(Duration::zero());
    // Record the intent first: a crash after Submit leaves a trace to recover.
    RETURN_IF_ERROR(SaveAttempt(i, "Submitting", nullptr));
    RETURN_IF_ERROR(SetState(i, "Pending", "attempt " + std::to_string(attempt)));
    // Where it goes and why, on a composite backend: a decision kept.
    if (!s.member.empty())
      RETURN_IF_ERROR(Record(i, "Placed", s.member + ": " + moved_from + placement.why));
    Result<TaskHandle> h = Outside([&] { return backend_.Submit(spec); });
    RETURN_IF_ERROR(AfterSubmit(i, spec, h, now));
  }
  return OkStatus();
}

Status Engine::AfterSubmit(size_t i, const TaskSpec& spec, const Result<TaskHandle>& h,
                           TimePoint now) {
  Slot& s = slots_[i];
  int attempt = spec.attempt;
  if (!h.ok() && h.status().code() == StatusCode::kResourceExhausted && !active_keys_.empty()) {
    // The backend ran short of something placement does not count (a
    // process's open files): the attempt never started. It waits for
    // others to end and is submitted again, under the same number, without
    // counting a failure. With nothing running, waiting would free nothing:
    // that is a failure like any other.
    RETURN_IF_ERROR(store_.DeleteAttempt(run_.id, spec.instance, attempt));
    s.attempt = attempt - 1;
    SetPhase(i, Phase::kBackoff);
    s.ready_at = now + kShortageWait;
    return SetState(i, "Waiting", h.status().message());
  }
  if (!h.ok()) NoteInLog(run_.run_dir, spec.instance, attempt, h.status().message());
  if (!h.ok() && h.status().code() == StatusCode::kInvalidArgument) {
    // It can never start (e.g. command not found): retrying would not help.
    // A runtime that cannot start a container says StartError, code 128.
    ExitResult r{128, 0, false, "StartError", h.status().message()};
    RETURN_IF_ERROR(SaveAttempt(i, "Failed", &r));
    RETURN_IF_ERROR(Finish(i, "Failed", h.status().message()));
    if (!options_.keep_going && !stopping_) {
      stopping_ = true;
      CancelActive(false);
    }
    return OkStatus();
  }
  if (!h.ok()) {
    ExitResult r{-1, 0, false, "SubmitFailed", h.status().ToString()};
    RETURN_IF_ERROR(SaveAttempt(i, "Failed", &r));
    SetPhase(i, Phase::kActive);  // so that the failure path below applies uniformly
    TaskEvent e{spec.Key(), TaskState::kFailed, now, r, r.reason, r.message};
    active_keys_[spec.Key()] = i;
    return HandleEvent(e);
  }
  s.handle = *h;
  SetPhase(i, Phase::kActive);
  s.deadline = spec.timeout ? now + *spec.timeout : TimePoint::max();
  active_keys_[spec.Key()] = i;
  RETURN_IF_ERROR(SaveAttempt(i, "Pending", nullptr));
  RETURN_IF_ERROR(Record(i, "Submitted", "attempt " + std::to_string(attempt)));
  if (observer_) observer_->OnAttemptStarted(spec);
  return OkStatus();
}

Status Engine::HandleEvent(const TaskEvent& e) {
  auto it = active_keys_.find(e.key);
  if (it == active_keys_.end()) return OkStatus();  // an attempt we no longer follow
  size_t i = it->second;
  Slot& s = slots_[i];
  Touch(i);
  if (!IsTerminal(e.state)) {
    // How long it has waited for capacity where it is, for a move.
    if (e.state == TaskState::kPending && WaitsForCapacity(e.pending)) {
      if (!s.capacity_wait) s.capacity_wait = clock_.Now();
      s.wait_why = e.reason.empty() ? e.message : e.reason + ": " + e.message;
    } else {
      s.capacity_wait.reset();
    }
    if (e.state == TaskState::kRunning && !s.running_since) s.running_since = clock_.Now();
    std::string state = e.state == TaskState::kRunning ? "Running" : "Pending";
    if (state != s.state || e.reason != s.message) {
      s.message = e.reason;
      RETURN_IF_ERROR(SaveAttempt(i, std::string(TaskStateName(e.state)), nullptr));
      // With when it should start, where the backend can tell (a node on
      // its way).
      std::string expected =
          e.estimated_start ? " (expected to start by " + FormatTime(*e.estimated_start) + ")" : "";
      RETURN_IF_ERROR(SetState(
          i, state, (e.reason.empty() ? e.message : e.reason + ": " + e.message) + expected));
    }
    return OkStatus();
  }
  active_keys_.erase(it);
  ExitResult result = e.result.value_or(ExitResult{});
  TaskState state = e.state;
  // Withdrawn to move to another member: placed again at once, neither a
  // failure nor a retry, and its member avoided from now on.
  if (s.moving && !s.cancel_sent && state != TaskState::kSucceeded) {
    s.moving = false;
    s.placing_again = true;
    result.reason = "Moved";
    result.message = s.move_note;
    RETURN_IF_ERROR(SaveAttempt(i, "Cancelled", &result));
    if (observer_) observer_->OnAttemptEnded(plan_.instances()[i].name, s.attempt);
    s.avoid.push_back(s.member);
    SetPhase(i, Phase::kBackoff);
    s.ready_at = clock_.Now();
    return SetState(i, "Retrying",
                    "attempt " + std::to_string(s.attempt) + " withdrawn from " + s.member + ": " +
                        s.move_note + "; placed again (a move, not a retry)");
  }
  s.moving = false;  // ended otherwise (its timeout, say) while it was being moved
  if (s.timed_out) {
    state = TaskState::kFailed;
    result.reason = "Timeout";
    result.message =
        "exceeded timeout " + FormatDuration(*plan_.StepOf(plan_.instances()[i]).timeout);
  }
  RETURN_IF_ERROR(SaveAttempt(i, std::string(TaskStateName(state)), &result));
  if (observer_) observer_->OnAttemptEnded(plan_.instances()[i].name, s.attempt);
  const Step& step = plan_.StepOf(plan_.instances()[i]);
  if (state == TaskState::kSucceeded) {
    auto& [total, count] = step_runtime_[plan_.instances()[i].step];
    total += clock_.Now() - s.running_since.value_or(s.started);
    ++count;
    return Finish(i, "Succeeded", "");
  }
  if (state == TaskState::kCancelled && s.cancel_sent) {
    return Finish(i, "Cancelled", user_cancel_ ? "run cancelled" : "stopped after another failure");
  }
  // Capacity taken back under it (a spot interruption): placed again at
  // once, without using a retry, up to max_preemptions times.
  if (result.reason == "Preempted" && s.preemptions < options_.max_preemptions && !stopping_) {
    ++s.preemptions;
    SetPhase(i, Phase::kBackoff);
    s.ready_at = clock_.Now();
    return SetState(i, "Retrying",
                    "attempt " + std::to_string(s.attempt) + " preempted: " + result.message +
                        "; placed again (preemption " + std::to_string(s.preemptions) + "/" +
                        std::to_string(options_.max_preemptions) + ", not a retry)");
  }
  // A failure (or an unexpected cancellation): retry or give up. A command
  // that could not start (StartError, from a cluster) would not start the
  // next time either: no retry, as for one refused at Submit.
  ++s.failures;
  std::string why = Describe(result);
  bool start_error = result.reason == "StartError";
  if (start_error) NoteInLog(run_.run_dir, plan_.instances()[i].name, s.attempt, result.message);
  if (s.failures <= step.retries.limit && !stopping_ && !start_error) {
    Duration delay = step.retries.backoff;
    for (int k = 1; k < s.failures && delay < options_.max_backoff; ++k) delay *= 2;
    delay = std::min(delay, options_.max_backoff);
    SetPhase(i, Phase::kBackoff);
    s.ready_at = clock_.Now() + delay;
    return SetState(i, "Retrying",
                    "attempt " + std::to_string(s.attempt) + " failed: " + why + "; retry " +
                        std::to_string(s.failures) + "/" + std::to_string(step.retries.limit) +
                        " in " + FormatDuration(delay));
  }
  return Fail(i, why);
}

Status Engine::Fail(size_t i, const std::string& why) {
  RETURN_IF_ERROR(Finish(i, "Failed", why));
  if (!options_.keep_going && !stopping_) {
    stopping_ = true;
    RETURN_IF_ERROR(store_.AddEvent({0, run_.id, ToUnixMillis(clock_.Now()), "", 0, "Stopping",
                                     plan_.instances()[i].name + " failed; stopping the run "
                                                                 "(--keep-going runs the rest)"}));
    CancelActive(false);
  }
  return OkStatus();
}

void Engine::CancelActive(bool force) {
  TimePoint now = clock_.Now();
  for (size_t i : active_) {
    Slot& s = slots_[i];
    if (force ? s.force_sent : s.cancel_sent) continue;
    Touch(i);
    PORTFLOW_LOG(LogLevel::kDebug, "engine",
                 std::string(force ? "killing " : "stopping ") + s.handle.key);
    s.cancel_sent = true;
    s.force_sent = s.force_sent || force;
    if (!force) s.kill_at = std::min(s.kill_at, now + options_.kill_grace);
    (void)Outside([&] { return backend_.Cancel(s.handle, force); });
  }
}

PlacementRequest Engine::RequestFor(size_t i, const ResourceRequest& held) const {
  const Step& step = plan_.StepOf(plan_.instances()[i]);
  PlacementRequest request{plan_.RequestOf(step), step.replicas, held, slots_[i].avoid};
  const auto& [total, count] = step_runtime_[plan_.instances()[i].step];
  request.expected_runtime = count ? std::optional<Duration>(total / count) : step.timeout;
  return request;
}

Placement Engine::Ask(const PlacementRequest& r) {
  for (const auto& [asked, answer] : answers_) {
    if (asked.per_replica.FitsIn(r.per_replica) && r.per_replica.FitsIn(asked.per_replica) &&
        asked.replicas == r.replicas && asked.held.FitsIn(r.held) &&
        asked.avoid_members == r.avoid_members && asked.expected_runtime == r.expected_runtime)
      return answer;
  }
  Placement p = backend_.Place(r);
  if (!p.can_start_now || answers_stand_) answers_.push_back({r, p});
  return p;
}

Status Engine::Finish(size_t i, const std::string& state, const std::string& message) {
  MarkDone(i, state);
  return SetState(i, state, message);
}

void Engine::MarkDone(size_t i, const std::string& state) {
  SetPhase(i, Phase::kDone);
  size_t step = plan_.instances()[i].step;
  bool was_ended = StepEnded(step);
  if (state == "Succeeded") {
    ++step_succeeded_[step];
  } else if (step_broken_[step].empty()) {
    step_broken_[step] = plan_.instances()[i].name + " " + state;
  }
  // Ended now: what needs it may go (or be skipped).
  if (was_ended || !StepEnded(step)) return;
  for (size_t w : waiters_[step]) {
    Phase p = slots_[w].phase;
    if ((p == Phase::kWaiting || p == Phase::kBackoff) && DepsEnded(w)) open_.insert(w);
  }
}

Status Engine::SetState(size_t i, const std::string& state, const std::string& message) {
  Slot& s = slots_[i];
  const Instance& inst = plan_.instances()[i];
  if (state != s.state || !message.empty()) {
    PORTFLOW_LOG(LogLevel::kDebug, "engine",
                 inst.name + " attempt " + std::to_string(s.attempt) + ": " + s.state + " -> " +
                     state + (message.empty() ? "" : " (" + message + ")"));
  }
  s.state = state;
  RETURN_IF_ERROR(store_.PutInstance({run_.id, inst.name, plan_.StepOf(inst).name, state, s.attempt,
                                      message, ToUnixMillis(clock_.Now())}));
  if (state != "Waiting") RETURN_IF_ERROR(Record(i, state, message));
  if (observer_) observer_->OnInstanceState(inst.name, state, message);
  return OkStatus();
}

Status Engine::Record(size_t i, const std::string& type, const std::string& message) {
  return store_.AddEvent({0, run_.id, ToUnixMillis(clock_.Now()), plan_.instances()[i].name,
                          slots_[i].attempt, type, message});
}

Status Engine::SaveAttempt(size_t i, const std::string& state, const ExitResult* result) {
  const Slot& s = slots_[i];
  const Instance& inst = plan_.instances()[i];
  AttemptRecord a;
  a.run_id = run_.id;
  a.instance = inst.name;
  a.attempt = s.attempt;
  a.state = state;
  a.backend = backend_.name();
  a.member = s.member;
  a.handle = s.handle.key == run_.id + "/" + inst.name + "/" + std::to_string(s.attempt)
                 ? s.handle.data
                 : "";
  a.replicas = plan_.StepOf(inst).replicas;
  a.started_ms = ToUnixMillis(s.started);
  if (result) {
    a.finished_ms = ToUnixMillis(clock_.Now());
    a.exit_code = result->exit_code;
    a.signal = result->signal;
    a.reason = result->reason;
    a.message = result->message;
    if (result->cost) {
      char usd[32];
      std::snprintf(usd, sizeof usd, "%.6f", *result->cost);
      a.cost = usd;
    }
  }
  return store_.PutAttempt(a);
}

}  // namespace portflow
