// The engine's timers and moves: what a turn checks by time (deadlines,
// kill times, backoffs, through a time-ordered set), the moves of attempts
// that waited past MoveAfter (asked once per kind), when the engine next
// wakes and the wait until then. The rest of the engine is in engine.cc.
#include <poll.h>
#include <unistd.h>

#include <algorithm>

#include "core/engine.h"
#include "core/log.h"
#include "core/quantity.h"

namespace portflow {

std::optional<Placement> Engine::MoveFor(size_t i, const std::string& from) {
  Slot& s = slots_[i];
  PlacementRequest request = RequestFor(i, {});
  request.avoid_members.push_back(from);
  Placement p = Ask(request);
  // Only where it starts now or after a known wait (a node on its way):
  // not from one full member to wait on another; and never back to one
  // it was moved away from (no to and fro).
  bool back = std::find(request.avoid_members.begin(), request.avoid_members.end(), p.member) !=
              request.avoid_members.end();
  if (p.can_start_now && p.estimated_wait && !p.member.empty() && !back) return p;
  // Asked again a second on (or a tick, if longer): the answer changes
  // when others end, not every turn.
  s.next_move_look = clock_.Now() + std::max<Duration>(options_.tick, std::chrono::seconds(1));
  Touch(i);
  return std::nullopt;
}

Status Engine::CheckTimers() {
  TimePoint now = clock_.Now();
  answers_.clear();
  answers_stand_ = true;  // at most one move, and nothing after it asks
  Rearm();
  // One move at a time: the next is decided once the last is placed again,
  // so that the budget counts each (a member that can take one of many
  // waiting attempts would otherwise see all of them withdrawn for it).
  bool withdrawing = !moves_.empty();
  // Waited for capacity past MoveAfter where it was placed: withdrawn (the
  // terminal event places it again) when another member can take it. The
  // longest waiting of each kind asks; if it cannot move, none of its kind
  // can, and its kind asks again a look later.
  for (auto& [kind, c] : movers_) {
    if (withdrawing) break;  // (movers_ is empty without MoveAfter)
    auto [at, i] = *c.waiting.begin();
    if (at > now || now < c.next_look) continue;
    Slot& s = slots_[i];
    if (std::optional<Placement> other = MoveFor(i, s.member)) {
      s.moving = true;
      s.move_note =
          "waited " + FormatDuration(now - *s.capacity_wait) + " for capacity (" + s.wait_why + ")";
      RETURN_IF_ERROR(Record(i, "Moved",
                             s.member + " -> " + other->member + ": " + s.move_note + "; " +
                                 other->member + ": " + other->why));
      PORTFLOW_LOG(LogLevel::kDebug, "engine",
                   "moving " + s.handle.key + " from " + s.member + " to " + other->member);
      withdrawing = true;
      (void)Outside([&] { return backend_.Cancel(s.handle, true); });
      break;
    }
    c.next_look = s.next_move_look;
  }
  // The slots whose moment came; what Cancel ends is heard next turn.
  std::vector<size_t> due;
  for (auto it = timers_.begin(); it != timers_.end() && it->first <= now; ++it)
    due.push_back(it->second);
  for (size_t i : due) {
    Slot& s = slots_[i];
    Touch(i);
    if (s.phase != Phase::kActive) continue;
    if (!s.cancel_sent && now >= s.deadline) {
      PORTFLOW_LOG(LogLevel::kDebug, "engine", s.handle.key + " exceeded its timeout; stopping it");
      s.timed_out = true;
      s.cancel_sent = true;
      s.kill_at = now + options_.kill_grace;
      (void)Outside([&] { return backend_.Cancel(s.handle, false); });
    }
    if (!s.force_sent && now >= s.kill_at) {
      PORTFLOW_LOG(LogLevel::kDebug, "engine",
                   s.handle.key + " still runs after the grace period; killing it");
      s.force_sent = true;
      (void)Outside([&] { return backend_.Cancel(s.handle, true); });
    }
  }
  return OkStatus();
}

TimePoint Engine::TimerOf(size_t i, TimePoint now) const {
  const Slot& s = slots_[i];
  TimePoint at = TimePoint::max();
  if (s.phase == Phase::kDone) return at;
  // A backoff not yet over (one over, but held, Admit looks at each turn).
  if (s.phase == Phase::kBackoff && s.ready_at > now) at = std::min(at, s.ready_at);
  // Held in Admit for its member: the moment its wait reaches MoveAfter,
  // then each look (an active one waits in movers_).
  if (s.phase != Phase::kActive) {
    if (move_after_ && s.capacity_wait && !s.moving) {
      TimePoint look =
          std::max(*s.capacity_wait + s.foreseen_wait + *move_after_, s.next_move_look);
      if (look > now) at = std::min(at, look);
    }
    return at;
  }
  // Only deadlines still to act on: one already acted on is in the past
  // and would turn the wait into a busy loop.
  if (!s.cancel_sent) at = std::min(at, s.deadline);
  if (!s.force_sent) at = std::min(at, s.kill_at);
  return at;
}

void Engine::Rearm() {
  TimePoint now = clock_.Now();
  for (size_t i : touched_) {
    Slot& s = slots_[i];
    TimePoint at = TimerOf(i, now);
    if (at != s.armed) {
      if (s.armed != TimePoint::max()) timers_.erase({s.armed, i});
      if (at != TimePoint::max()) timers_.insert({at, i});
      s.armed = at;
    }
    if ((s.moving || s.placing_again) && s.phase != Phase::kDone) {
      moves_.insert(i);
    } else {
      moves_.erase(i);
    }
    if (move_after_ && s.phase == Phase::kActive && s.capacity_wait && !s.moving &&
        !s.cancel_sent && !s.member.empty()) {
      std::string kind = MoveClassOf(i);
      TimePoint may = *s.capacity_wait + s.foreseen_wait + *move_after_;
      if (kind != s.move_class || may != s.move_at) {
        Unmove(i);
        movers_[kind].waiting.insert({may, i});
        s.move_class = kind;
        s.move_at = may;
      }
    } else {
      Unmove(i);
    }
  }
  touched_.clear();
}

void Engine::Unmove(size_t i) {
  Slot& s = slots_[i];
  if (s.move_class.empty()) return;
  auto c = movers_.find(s.move_class);
  c->second.waiting.erase({s.move_at, i});
  if (c->second.waiting.empty()) movers_.erase(c);
  s.move_class.clear();
}

std::string Engine::MoveClassOf(size_t i) const {
  PlacementRequest r = RequestFor(i, {});
  std::string kind = slots_[i].member;
  for (int64_t n : {r.per_replica.milli_cpu, r.per_replica.memory_bytes, r.per_replica.gpus,
                    int64_t{r.replicas}, r.expected_runtime ? r.expected_runtime->count() : -1})
    kind += "|" + std::to_string(n);
  for (const std::string& m : r.avoid_members) kind += "|" + m;
  return kind;
}

TimePoint Engine::NextWake() {
  const TimePoint now = clock_.Now();
  Rearm();
  TimePoint wake = now + options_.tick;
  // The first moment still to come: those past are looked at next turn.
  auto next = timers_.upper_bound({now, SIZE_MAX});
  if (next != timers_.end()) wake = std::min(wake, next->first);
  // Each kind's next look (one past is looked at each turn: a move may be
  // under way).
  for (const auto& [kind, c] : movers_) {
    TimePoint at = std::max(c.waiting.begin()->first, c.next_look);
    if (at > now) wake = std::min(wake, at);
  }
  return wake;
}

bool Engine::Wait(std::optional<TimePoint> cap) {
  TimePoint until = NextWake();
  bool timer_first = cap && until < *cap;  // its turn is due when the wait ends
  if (cap) until = std::min(until, *cap);
  int wake_fd;
  {
    std::unique_lock<std::mutex> l(mu_);
    if (driven_fd_ < 0)
      return clock_.WaitUntil(l, cv_, until, [this] { return !events_.empty(); }) || timer_first;
    if (!events_.empty()) return true;
    wake_fd = wake_fd_;
    waiting_ = true;
  }
  auto left = std::chrono::ceil<std::chrono::milliseconds>(until - clock_.Now()).count();
  pollfd fds[2] = {{driven_fd_, POLLIN, 0}, {wake_fd, POLLIN, 0}};
  int ready = ::poll(fds, 2, static_cast<int>(std::clamp<int64_t>(left, 0, 1 << 30)));
  {
    std::lock_guard<std::mutex> l(mu_);
    waiting_ = false;
  }
  if (fds[1].revents & POLLIN) {
    uint64_t n;
    [[maybe_unused]] ssize_t r = ::read(wake_fd, &n, sizeof n);
  }
  if (fds[0].revents & POLLIN) backend_.Drive();
  return ready != 0 || timer_first;
}

}  // namespace portflow
