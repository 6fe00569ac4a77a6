// A scripted Backend for engine tests and simulations, in virtual time:
// each attempt of an instance follows the next Outcome queued for it
// (default: succeed after its PORTFLOW_SIM_DURATION variable, as the fake
// clusters' simulate mode, else at once).
#pragma once

#include <algorithm>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/backend.h"
#include "core/clock.h"
#include "core/quantity.h"

namespace portflow::testing {

struct Outcome {
  TaskState state = TaskState::kSucceeded;
  int exit_code = 0;
  Duration runtime{0};           // virtual time until it ends
  bool hang = false;             // never ends unless cancelled
  bool ignores_sigterm = false;  // a graceful cancel does not end it; a forced one does
  bool submit_error = false;
  bool submit_short = false;  // Submit says ResourceExhausted (it starts nothing)
  std::string reason;         // of the end; default Completed or Error
};

class FakeBackend : public Backend {
 public:
  explicit FakeBackend(FakeClock& clock, ResourceRequest capacity = {2000, 1LL << 30, 0})
      : clock_(clock), capacity_(capacity) {
    clock_.OnAdvance([this](TimePoint now) { Tick(now); });
    clock_.OnNextDue([this]() -> std::optional<TimePoint> {
      std::lock_guard<std::mutex> l(mu_);
      TimePoint at = TimePoint::max();
      if (!starts_.empty()) at = starts_.begin()->first;
      if (!ends_.empty()) at = std::min(at, ends_.begin()->first);
      if (at == TimePoint::max()) return std::nullopt;
      return at;
    });
  }

  std::vector<TaskHandle> recovered() {
    std::lock_guard<std::mutex> l(mu_);
    return recovered_;
  }
  // The member Place names, as a composite backend's would.
  void SetMember(std::string member) {
    std::lock_guard<std::mutex> l(mu_);
    member_ = std::move(member);
  }
  // Like a cluster: an attempt submitted without room waits (Pending,
  // Unschedulable) and starts, in order, when room comes.
  void SetQueues(bool queues) {
    std::lock_guard<std::mutex> l(mu_);
    queues_ = queues;
  }
  // Like a cloud that adds a node for each attempt: Place says it can
  // start after `wait` (where it fits at all).
  void SetProvisioning(Duration wait) {
    std::lock_guard<std::mutex> l(mu_);
    provisioning_ = wait;
  }
  // An attempt submitted where it fits waits `delay` (Pending,
  // Provisioning: a node being added) before it runs, whatever Place said.
  void SetStartDelay(Duration delay) {
    std::lock_guard<std::mutex> l(mu_);
    start_delay_ = delay;
  }
  // Priced like a cloud: `hourly` US dollars an hour of each attempt's
  // running time (with `per_gpu`, of each of its GPUs: one without is
  // free), its spend
  // (CostSoFar) billed to the second.
  void SetPrice(double hourly, bool per_gpu = false) {
    std::lock_guard<std::mutex> l(mu_);
    price_ = hourly;
    per_gpu_ = per_gpu;
  }
  std::optional<double> CostSoFar() override {
    std::lock_guard<std::mutex> l(mu_);
    if (!price_) return std::nullopt;
    double usd = billed_usd_;
    for (const auto& [key, r] : running_) usd += Cost(r.need, clock_.Now() - r.start);
    return usd;
  }
  // What Place names as the reason an attempt cannot start now.
  void HoldReason(std::string reason) {
    std::lock_guard<std::mutex> l(mu_);
    hold_reason_ = std::move(reason);
  }
  void Script(const std::string& instance, std::vector<Outcome> outcomes) {
    std::lock_guard<std::mutex> l(mu_);
    for (auto& o : outcomes) scripts_[instance].push_back(o);
  }

  std::vector<TaskSpec> submitted() {
    std::lock_guard<std::mutex> l(mu_);
    return submitted_;
  }
  std::vector<std::string> cancelled() {
    std::lock_guard<std::mutex> l(mu_);
    return cancelled_;
  }
  // How often Place was asked.
  int places() {
    std::lock_guard<std::mutex> l(mu_);
    return places_;
  }
  // Most attempts that ran at the same time.
  int max_parallel() {
    std::lock_guard<std::mutex> l(mu_);
    return max_parallel_;
  }

  std::string name() const override { return "fake"; }
  Capabilities capabilities() const override {
    return {{{Feature::kImage, "the fake runs nothing"}}};
  }
  std::string ArtifactRoot(const std::string&, const std::string& run_dir) const override {
    return run_dir + "/outputs";
  }
  ResourceRequest Capacity() override { return capacity_; }

  Status Cancel(const TaskHandle& h, bool force) override {
    std::vector<TaskEvent> events;
    {
      std::lock_guard<std::mutex> l(mu_);
      cancelled_.push_back(h.key + (force ? " force" : ""));
      auto it = running_.find(h.key);
      if (auto q = std::find_if(queued_.begin(), queued_.end(),
                                [&](const Queued& w) { return w.key == h.key; });
          q != queued_.end()) {
        queued_.erase(q);
        events.push_back({h.key, TaskState::kCancelled, clock_.Now(),
                          ExitResult{0, 0, false, "Cancelled", "withdrawn while pending"},
                          "Cancelled", ""});
      }
      if (it == running_.end()) {
        for (auto& e : events) Emit(e);
        return OkStatus();
      }
      if (!force && it->second.outcome.ignores_sigterm) return OkStatus();
      billed_usd_ += Cost(it->second.need, clock_.Now() - it->second.start);
      Stop(it);
      events.push_back({h.key, TaskState::kCancelled, clock_.Now(),
                        ExitResult{143, 15, false, "Cancelled", "stopped"}, "Cancelled", ""});
    }
    for (auto& e : events) Emit(e);
    return OkStatus();
  }

  Result<std::vector<RecoveredTask>> Recover(const std::string&,
                                             const std::vector<TaskHandle>& handles) override {
    std::vector<RecoveredTask> out;
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& h : handles) {
      recovered_.push_back(h);
      out.push_back({h, TaskState::kUnknown, std::nullopt});
    }
    return out;
  }

  Status Logs(const TaskHandle&, int, bool, const std::function<bool(std::string_view)>&) override {
    return OkStatus();
  }

 protected:
  Result<std::string> DoRender(const TaskSpec& spec) const override { return spec.Key(); }

  Placement DoPlace(const PlacementRequest& request) override {
    std::lock_guard<std::mutex> l(mu_);
    ++places_;
    Placement p = PlaceInSlots(request, capacity_, in_use_);
    if (!p.can_start_now) p.reason = hold_reason_;
    p.member = member_;
    p.queues = queues_;
    if (price_) p.hourly_price = Hourly(request.per_replica * request.replicas);
    if (provisioning_ && p.can_ever_fit) {
      p.can_start_now = p.elastic = true;
      p.estimated_wait = *provisioning_;
    }
    return p;
  }

  Result<TaskHandle> DoSubmit(const TaskSpec& spec) override {
    Outcome o;
    {
      std::lock_guard<std::mutex> l(mu_);
      auto& q = scripts_[spec.instance];
      if (!q.empty()) {
        o = q.front();
        q.pop_front();
      } else {
        for (const auto& [key, value] : spec.env) {
          // As the fake kubelet reads it: a bare number is seconds.
          bool bare = value.find_first_not_of("0123456789.") == std::string::npos;
          if (auto d = ParseDuration(bare ? value + "s" : value);
              key == "PORTFLOW_SIM_DURATION" && d.ok())
            o.runtime = *d;
        }
      }
      if (o.submit_error) return Unavailable("scripted submit failure");
      if (o.submit_short) return ResourceExhausted("scripted shortage");
      submitted_.push_back(spec);
      if (queues_) {
        queued_.push_back({spec.Key(), o, spec.resources * spec.replicas});
      } else {
        TimePoint starts = clock_.Now() + start_delay_;
        Start(spec.Key(),
              {o, starts + o.runtime, spec.resources * spec.replicas, clock_.Now(),
               start_delay_ > Duration::zero() ? std::optional<TimePoint>(starts) : std::nullopt});
      }
    }
    if (!queues_ && start_delay_ > Duration::zero()) {
      TaskEvent e{spec.Key(),   TaskState::kPending, clock_.Now(),
                  std::nullopt, "Provisioning",      "a node is being added for it"};
      e.pending = PendingReason::kProvisioning;
      Emit(e);
    } else if (!queues_) {
      Emit({spec.Key(), TaskState::kRunning, clock_.Now(), std::nullopt, "", ""});
    }
    Tick(clock_.Now());
    return TaskHandle{"fake", spec.Key(), "{}"};
  }

 private:
  // What changes at `now`, found in time order: a turn costs what starts
  // and ends, not every attempt the model holds.
  void Tick(TimePoint now) {
    std::vector<TaskEvent> events;
    {
      std::lock_guard<std::mutex> l(mu_);
      while (!starts_.empty() && starts_.begin()->first <= now) {  // its node has come
        auto it = running_.find(starts_.begin()->second);
        starts_.erase(starts_.begin());
        it->second.starts.reset();
        events.push_back({it->first, TaskState::kRunning, now, std::nullopt, "", ""});
      }
      while (!ends_.empty() && ends_.begin()->first <= now) {
        auto it = running_.find(ends_.begin()->second);
        const Outcome& o = it->second.outcome;
        billed_usd_ += Cost(it->second.need, now - it->second.start);
        std::string reason = o.state == TaskState::kSucceeded ? "Completed" : "Error";
        ExitResult r{o.exit_code, 0, false, o.reason.empty() ? reason : o.reason, "scripted end"};
        events.push_back({it->first, o.state, now, r, r.reason, ""});
        Stop(it);
      }
      StartQueued(now, events);
    }
    for (auto& e : events) Emit(e);
  }

  // Starts the queued attempts that fit now, in order; the first that does
  // not fit and those after it wait (Pending, Unschedulable, said once).
  void StartQueued(TimePoint now, std::vector<TaskEvent>& events) {
    while (!queued_.empty() &&
           PlaceInSlots({queued_.front().need, 1, {}}, capacity_, in_use_).can_start_now) {
      Queued& q = queued_.front();
      Start(q.key, {q.outcome, now + q.outcome.runtime, q.need, now});
      events.push_back({q.key, TaskState::kRunning, now, std::nullopt, "", ""});
      queued_.pop_front();
    }
    // Those told are the front of the queue: the new ones are at its end.
    size_t untold = queued_.size();
    while (untold > 0 && !queued_[untold - 1].told) --untold;
    for (size_t k = untold; k < queued_.size(); ++k) {
      TaskEvent e{queued_[k].key,
                  TaskState::kPending,
                  now,
                  std::nullopt,
                  "Unschedulable",
                  "no room: " + in_use_.ToString() + " of " + capacity_.ToString() + " in use"};
      e.pending = PendingReason::kUnschedulable;
      events.push_back(e);
      queued_[k].told = true;
    }
  }

  FakeClock& clock_;
  ResourceRequest capacity_;
  std::string hold_reason_;            // Placement::reason when it cannot start now
  std::string member_;                 // Placement::member
  std::vector<TaskHandle> recovered_;  // what Recover was given
  std::mutex mu_;
  std::map<std::string, std::deque<Outcome>> scripts_;
  struct Running {
    Outcome outcome;
    TimePoint end;
    ResourceRequest need;
    TimePoint start;
    std::optional<TimePoint> starts;  // when it runs, after a start delay
  };
  std::map<std::string, Running> running_;
  ResourceRequest in_use_;                              // what running_ needs
  std::set<std::pair<TimePoint, std::string>> starts_;  // delayed starts, by time
  std::set<std::pair<TimePoint, std::string>> ends_;    // ends (not hangs), by time
  // (mu_ held) An attempt starts or stops holding what it needs.
  void Start(const std::string& key, Running r) {
    in_use_ += r.need;
    if (!r.outcome.hang) ends_.insert({r.end, key});
    if (r.starts) starts_.insert({*r.starts, key});
    running_[key] = std::move(r);
    max_parallel_ = std::max(max_parallel_, static_cast<int>(running_.size()));
  }
  void Stop(std::map<std::string, Running>::iterator it) {
    in_use_ -= it->second.need;
    ends_.erase({it->second.end, it->first});
    if (it->second.starts) starts_.erase({*it->second.starts, it->first});
    running_.erase(it);
  }
  bool queues_ = false;
  // (mu_ held) What an attempt needing `need` costs an hour, and for `d`.
  double Hourly(const ResourceRequest& need) const { return *price_ * (per_gpu_ ? need.gpus : 1); }
  double Cost(const ResourceRequest& need, Duration d) const {
    return price_ ? Hourly(need) * std::chrono::duration<double>(d).count() / 3600.0 : 0;
  }

  std::optional<double> price_;
  bool per_gpu_ = false;
  double billed_usd_ = 0;  // the ended attempts' cost
  std::optional<Duration> provisioning_;
  Duration start_delay_{0};
  struct Queued {
    std::string key;
    Outcome outcome;
    ResourceRequest need;
    bool told = false;  // its Pending event was sent
  };
  std::deque<Queued> queued_;  // submitted without room, in order
  std::vector<TaskSpec> submitted_;
  std::vector<std::string> cancelled_;
  int max_parallel_ = 0;
  int places_ = 0;
};

}  // namespace portflow::testing
