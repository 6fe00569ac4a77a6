// The engine: one event loop that drives a run's DAG on one backend. It
// admits ready instances while capacity allows, retries with backoff,
// enforces timeouts, propagates failure and cancellation, and writes every
// transition to the run store before acting on it.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "core/backend.h"
#include "core/clock.h"
#include "core/plan.h"
#include "core/run_store.h"

namespace portflow {

// Admission is first come, first served in plan order: a ready instance is
// submitted when the backend's Place() says it can start now; one that
// cannot holds back the capacity it needs from the instances after it, so
// small tasks cannot starve a large gang.
struct EngineOptions {
  bool keep_going = false;                         // run what does not depend on a failure
  bool strict = false;                             // refuse fields the backend cannot honour
  Duration kill_grace = std::chrono::seconds(10);  // SIGTERM, then SIGKILL
  Duration max_backoff = std::chrono::minutes(5);  // cap of the doubling
  Duration tick = std::chrono::milliseconds(100);  // observer ticks, cancel polling
  // Group commit, on the real clock: a turn's writes since its last act may
  // wait this long uncommitted for the next turn's (see Engine::Run).
  Duration commit_delay = std::chrono::milliseconds(2);
  // An attempt whose capacity was taken back (reason Preempted: a spot
  // interruption) runs again without using a retry, this many times per
  // instance; past that, a preemption counts as a failure.
  int max_preemptions = 3;
};

// Hooks for the live view. Called on the engine's thread.
class RunObserver {
 public:
  virtual ~RunObserver() = default;
  virtual void OnAttemptStarted(const TaskSpec&) {}
  virtual void OnAttemptEnded(const std::string& /*instance*/, int /*attempt*/) {}
  virtual void OnInstanceState(const std::string& /*instance*/, const std::string& /*state*/,
                               const std::string& /*message*/) {}
  virtual void OnTick() {}
  // A cancel was asked for (Ctrl-C, `portflow cancel`): running work is
  // being stopped gracefully, or with `force` killed.
  virtual void OnCancelling(bool /*force*/) {}
};

// Async-signal-safe: the first request cancels running work gracefully, the
// second forces (SIGKILL). Read by every Engine in the process.
void RequestCancel();
int CancelRequests();
void ResetCancelRequests();

// Checks before anything starts: every instance can ever fit the backend
// and (with strict) uses only supported fields. All problems at once.
Status Preflight(const Plan& plan, Backend& backend, const TaskContext& ctx, bool strict,
                 std::vector<std::string>* warnings);

class Engine : public EventSink {
 public:
  Engine(const Plan& plan, Backend& backend, RunStore& store, Clock& clock, EngineOptions options,
         RunObserver* observer = nullptr);

  // Drives `run` to its end, picking up what the store already records for
  // it (a resume). Returns the final run state: Succeeded, Failed, Cancelled.
  Result<std::string> Run(const RunRecord& run);

  void OnTaskEvent(TaskEvent event) override;

 private:
  enum class Phase { kWaiting, kBackoff, kActive, kDone };
  struct Slot {
    Phase phase = Phase::kWaiting;
    std::string state = "Waiting";  // the instance state as stored
    int attempt = 0;
    int failures = 0;
    int preemptions = 0;
    TimePoint ready_at{};
    TimePoint started{};
    TimePoint deadline = TimePoint::max();
    TimePoint kill_at = TimePoint::max();
    bool timed_out = false;
    bool cancel_sent = false;
    bool force_sent = false;
    TaskHandle handle;
    std::string message;
    bool held_back = false;  // did not fit when last ready (logged once)
    std::string member;      // of a composite backend, where its attempt was placed
    // Moving between a composite backend's members (Backend::MoveAfter):
    // since when it waits for capacity where it is (Pending for capacity,
    // or held for its member), and why; the members it was moved away
    // from; whether its attempt is being withdrawn to move, and the note.
    std::optional<TimePoint> capacity_wait;
    // The wait its member foresaw when it was placed (a node on its way),
    // which it may wait beyond MoveAfter where it is: it was sent there
    // knowing it.
    Duration foreseen_wait{};
    std::string wait_why;
    std::vector<std::string> avoid;
    bool moving = false;
    bool placing_again = false;  // withdrawn to move, not yet submitted again
    std::string move_note;
    TimePoint next_move_look{};
    std::optional<TimePoint> running_since;  // its attempt's first Running event
    TimePoint armed = TimePoint::max();      // its entry in timers_
    std::string move_class;                  // its entry in movers_ (empty: none)
    TimePoint move_at{};
  };

  Status Restore();
  // The phase of slot `i`, kept with the sets a turn looks at.
  void SetPhase(size_t i, Phase phase);
  // Step `step` ended: all its instances succeeded, or one of them did not.
  bool StepEnded(size_t step) const;
  // Every step slot `i` needs has ended, or one of them failed (Admit then
  // skips `i`).
  bool DepsEnded(size_t i) const;
  // The sets from the slots' phases (after Restore).
  void Reindex();
  Status Admit();
  Status AfterSubmit(size_t i, const TaskSpec& spec, const Result<TaskHandle>& h, TimePoint now);
  Status HandleEvent(const TaskEvent& e);
  Status Finish(size_t i, const std::string& state, const std::string& message);
  // Instance `i` failed for good (`why`): the run stops unless it keeps going.
  Status Fail(size_t i, const std::string& why);
  void MarkDone(size_t i, const std::string& state);
  Status SetState(size_t i, const std::string& state, const std::string& message);
  Status Record(size_t i, const std::string& type, const std::string& message);
  Status SaveAttempt(size_t i, const std::string& state, const ExitResult* result);
  void CancelActive(bool force);
  // Runs `act` (a Submit, a Cancel) outside the turn's transaction: what the
  // turn wrote before it is committed first, so a crash leaves a trace of
  // it, and no write lock is held while it runs. The engine holds exactly
  // the turn's transaction when it calls this.
  template <typename Act>
  auto Outside(Act act) -> decltype(act()) {
    Status committed = store_.Commit();
    held_since_.reset();
    auto result = act();
    Status begun = store_.Begin();
    if (!committed.ok() || !begun.ok()) store_failure_ = committed.ok() ? begun : committed;
    return result;
  }
  Status store_failure_;  // a commit or begin around an act that failed
  Status CheckTimers();
  // A waiting attempt's other placement, where one can start it now (or
  // after provisioning) on another member; nullopt when none.
  std::optional<Placement> MoveFor(size_t i, const std::string& from);
  // backend_.Place, but within one pass over the instances (answers_ is
  // cleared at the start of each) a request refused before is refused
  // again without asking: what is held back only grows and what runs only
  // starts, so a long queue of alike instances costs one question. In
  // CheckTimers, which submits nothing, every answer stands for its pass.
  Placement Ask(const PlacementRequest& request);
  std::vector<std::pair<PlacementRequest, Placement>> answers_;
  // What a turn looks at, so that it costs what is active or ready rather
  // than the whole plan: the active slots, the open ones (waiting or in
  // backoff, every step they need ended: Admit places or skips them), by
  // step the slots that need it (opened when it ends), how many are done.
  std::set<size_t> active_, open_;
  std::vector<std::vector<size_t>> waiters_;
  size_t done_ = 0;
  // When each slot next needs a look (TimerOf), in time order, so that a
  // turn looks at the slots whose moment came and the wake is the first
  // entry; slots changed in a turn are touched and re-armed before the
  // timers are read. moves_: the slots being moved (one at a time).
  std::set<std::pair<TimePoint, size_t>> timers_;
  std::vector<size_t> touched_;
  std::set<size_t> moves_;
  // The active slots waiting for capacity where they were placed, which
  // move past MoveAfter, by the placement question they would ask (alike
  // slots get alike answers): only the longest waiting of each asks, so a
  // long queue costs a question per kind and look, not one per slot.
  struct MoveClass {
    std::set<std::pair<TimePoint, size_t>> waiting;  // by when each may move
    TimePoint next_look{};
  };
  std::map<std::string, MoveClass> movers_;
  std::string MoveClassOf(size_t i) const;
  void Unmove(size_t i);
  void Touch(size_t i) { touched_.push_back(i); }
  void Rearm();
  TimePoint TimerOf(size_t i, TimePoint now) const;
  bool answers_stand_ = false;  // every answer is kept, not only refusals
  // The placement question for instance `i`, keeping `held` free.
  PlacementRequest RequestFor(size_t i, const ResourceRequest& held) const;
  TimePoint NextWake();
  bool StopRequested();
  // Handles the events queued so far; `ended` is set when one is an end.
  Status HandleQueued(bool* ended);
  // Waits until NextWake (or `cap`, if sooner) or an event: on cv_ through
  // the clock, or, when the backend handed its waiting over, on its
  // descriptor (driven_fd_) and wake_fd_, doing the backend's work
  // (Backend::Drive) when it is ready. False when it waited until `cap`
  // with nothing to do (an event, or a timer due before `cap`, is true).
  bool Wait(std::optional<TimePoint> cap = std::nullopt);

  const Plan& plan_;
  Backend& backend_;
  RunStore& store_;
  Clock& clock_;
  EngineOptions options_;
  RunObserver* observer_;
  RunRecord run_;
  std::vector<Slot> slots_;
  std::map<std::string, size_t> active_keys_;           // TaskSpec::Key() -> instance
  std::vector<size_t> step_succeeded_;                  // per step: instances that succeeded
  std::vector<std::pair<Duration, int>> step_runtime_;  // per step: succeeded attempts' total
  std::vector<std::string> step_broken_;                // per step: an instance that did not
  bool stopping_ = false;                               // no new admissions
  bool user_cancel_ = false;                            // stopping because of a cancel request
  int cancels_seen_ = 0;
  // In real time, also when the run's clock is virtual: another terminal's
  // cancel comes in real time, and a virtual turn can pass 500 ms at once.
  std::chrono::steady_clock::time_point next_store_poll_{};
  std::optional<Duration> move_after_;  // Backend::MoveAfter
  // When the transaction open now was first kept open over a wait (group
  // commit, see Run), on the steady clock; nullopt when it was not.
  std::optional<std::chrono::steady_clock::time_point> held_since_;

  // On the real clock the engine waits on the backend's descriptor when the
  // backend hands it over (Backend::TakeOverWaiting), and events from other
  // threads wake it through wake_fd_; otherwise on cv_ through the clock.
  int driven_fd_ = -1;
  std::mutex mu_;
  std::condition_variable cv_;
  int wake_fd_ = -1;      // an eventfd, under mu_
  bool waiting_ = false;  // Wait is in poll() (under mu_)
  std::deque<TaskEvent> events_;
};

}  // namespace portflow
