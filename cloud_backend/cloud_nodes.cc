// The nodes a run asks its cloud for, and their ledger: groups raised and
// lowered (Resize, Shrink), launches a group cannot make given back
// (GiveUpFailedLaunches), spot interruptions (Interrupt: the node cordoned,
// its attempts preempted), the run's nodes kept in RUN_DIR/cloud-nodes.json
// across a crash (StartRun, SaveLedger), and given back and costed when
// the run ends (FinishRun).
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>

#include "cloud_backend/cloud_backend_internal.h"
#include "core/json_fields.h"
#include "core/log.h"
#include "core/quantity.h"

namespace portflow {
namespace {

using json = nlohmann::json;

}  // namespace

Status CloudBackend::Interrupt(TimePoint now, const std::map<std::string, std::string>& node_of,
                               const std::map<std::string, std::string>& group_of,
                               const std::map<std::string, std::set<std::string>>& keys_on) {
  if (interruptions_off_) return OkStatus();
  auto warned = provider_->Interruptions();
  if (!warned.ok()) {
    // A cloud without the queue (or credentials that may not read it)
    // still runs work; interruptions then end attempts as failures. Any
    // other failure (throttled past the retries, no answer) is tried
    // again at the next look.
    StatusCode code = warned.status().code();
    interruptions_off_ = code == StatusCode::kNotFound || code == StatusCode::kFailedPrecondition;
    if (interruptions_off_ || !interruptions_failing_)
      PORTFLOW_LOG(LogLevel::kWarn, "cloud",
                   "the spot interruption queue " + target_.interruption_queue +
                       (interruptions_off_
                            ? " cannot be read, so a spot interruption will fail the attempts "
                              "on its node: "
                            : " could not be read (tried again at each look): ") +
                       warned.status().message());
    interruptions_failing_ = true;
    return OkStatus();
  }
  interruptions_failing_ = false;
  std::vector<cloud::SpotWarning> warnings = std::move(unmatched_warnings_);
  unmatched_warnings_.clear();
  warnings.insert(warnings.end(), warned->begin(), warned->end());
  std::vector<TaskHandle> stop;
  std::vector<std::string> replaced;  // groups launching a replacement for the run
  for (cloud::SpotWarning& warning : warnings) {
    const std::string& instance = warning.instance;
    // When the cloud warned (the notice runs from then, and the group's
    // replacement launched then), not when this look began or read it.
    TimePoint at = warning.time.value_or(now);
    auto node = node_of.find(instance);
    if (node == node_of.end()) {
      // Not in this look's list of nodes, read before the queue: the node
      // may have joined since (its pods already seen on it), so it is
      // looked for again until the notice has run out; by then the
      // instance is gone, or was never this cluster's.
      warning.time = at;
      if (now - at < target_.spot_notice) unmatched_warnings_.push_back(std::move(warning));
      continue;
    }
    const std::string& group = group_of.at(node->second);
    PORTFLOW_LOG(LogLevel::kInfo, "cloud",
                 "spot interruption of instance " + instance + " (node " + node->second +
                     ", group " + group + "): cordoned; its attempts are placed again");
    auto cordoned =
        client_->Call({"PATCH", "/api/v1/nodes/" + node->second,
                       R"({"spec":{"unschedulable":true}})", "application/merge-patch+json"});
    if (!cordoned.ok()) PORTFLOW_LOG(LogLevel::kWarn, "cloud", cordoned.status().message());
    std::lock_guard<std::mutex> l(mu_);
    // The group launches a replacement to keep its size: the run's, when
    // the node was.
    for (Launched& n : launched_) {
      if (n.node == node->second && !n.ended && !n.warned) {
        n.warned = at;  // it ends after the notice, whatever the group's size
        double price = n.price;
        launched_.push_back({group, "", at, {}, {}, {}, price});
        replaced.push_back(group);
        SaveLedger();
        break;
      }
    }
    warned_nodes_.push_back({node->second, group, at});
  }
  {
    // The attempts on warned nodes: stopped once each (a look may still
    // list a pod being stopped).
    std::lock_guard<std::mutex> l(mu_);
    for (const WarnedNode& w : warned_nodes_) {
      auto keys = keys_on.find(w.node);
      if (keys == keys_on.end()) continue;
      for (const std::string& key : keys->second) {
        auto need = needs_.find(key);
        if (need == needs_.end() || !need->second.handle || preempted_.count(key)) continue;
        preempted_[key] = "spot interruption of node " + w.node + " (group " + w.group + ")";
        avoid_for_[{need->second.instance_label,
                    std::to_string(std::stoi(need->second.attempt) + 1)}] = w.group;
        stop.push_back(*need->second.handle);
      }
    }
    std::erase_if(warned_nodes_,
                  [&](const WarnedNode& w) { return now - w.at >= target_.spot_notice; });
  }
  // Stopped now, as a drain would, so that they run again elsewhere at once.
  for (const TaskHandle& h : stop) {
    if (Status st = BackendWrapper::Cancel(h, false); !st.ok())
      PORTFLOW_LOG(LogLevel::kWarn, "cloud", "stopping " + h.key + ": " + st.message());
  }
  // The group keeps its size by launching a replacement while the warned
  // node serves its notice: when both would pass maxHourlyCost, the group
  // is lowered at once, which ends the replacement (it has not joined).
  // The run pays for it from the warning to this look.
  for (const std::string& group : replaced) {
    bool over;
    {
      std::lock_guard<std::mutex> l(mu_);
      over = Sizes() && target_.max_hourly_cost && HourlyNow() > *target_.max_hourly_cost;
    }
    if (!over) break;
    PORTFLOW_LOG(LogLevel::kInfo, "cloud",
                 "node group " + group + ": its spot replacement would pass maxHourlyCost " +
                     FormatUsd(*target_.max_hourly_cost) + "; lowered");
    if (Status st = Shrink(group, 1); !st.ok())
      PORTFLOW_LOG(LogLevel::kWarn, "cloud", "node group " + group + ": " + st.message());
  }
  return OkStatus();
}

Status CloudBackend::GiveUpFailedLaunches(TimePoint now) {
  std::set<std::string> joining;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (const Launched& n : launched_) {
      if (!n.ended && n.node.empty() && now - n.launched >= tick_) joining.insert(n.group);
    }
  }
  // A group whose nodes are on their way says so when it cannot launch
  // them (InsufficientInstanceCapacity in every zone of its types, the
  // vCPU quota): it is passed over for a while, so that the pods go to the
  // next group that fits, and what it was asked for is given back once it
  // would have joined by now (a node that did launch has joined by then
  // and is kept: a group may launch some of what it was asked and fail the
  // rest).
  for (const std::string& group : joining) {
    ASSIGN_OR_RETURN(cloud::NodeGroupState state, provider_->Group(group));
    if (state.health.empty()) continue;
    int desired = 0, dropped = 0;
    bool newly = false;
    auto never_launched = [&](const Launched& n) {
      return n.group == group && !n.ended && n.node.empty() &&
             now - n.launched >= target_.provisioning + tick_;
    };
    {
      std::lock_guard<std::mutex> l(mu_);
      dropped = static_cast<int>(std::count_if(launched_.begin(), launched_.end(), never_launched));
      newly = failed_until_[group] <= now;
      if (newly) failed_until_[group] = now + std::chrono::seconds(60);
      desired = std::max(state.min_size, desired_[group] - dropped);
    }
    if (newly)
      PORTFLOW_LOG(LogLevel::kWarn, "cloud",
                   "node group " + group + " cannot launch nodes (" + state.health +
                       "): left alone for 60 s; the next group that fits is tried");
    if (dropped == 0) continue;
    // Asked back first: until the group has taken it, the launches stay in
    // the ledger (a node that still comes is the run's, costed and given
    // back), and the next look tries again.
    RETURN_IF_ERROR(provider_->Resize(group, desired, clock_.Now()).status());
    std::lock_guard<std::mutex> l(mu_);
    for (auto n = launched_.begin(); n != launched_.end() && dropped > 0;) {
      if (never_launched(*n)) {
        n = launched_.erase(n);  // never launched: nothing to bill
        --dropped;
      } else {
        ++n;
      }
    }
    desired_[group] = desired;
    SaveLedger();
  }
  return OkStatus();
}

Result<TimePoint> CloudBackend::Resize(const std::string& group, int desired) {
  int before;
  double price = 0;
  {
    std::lock_guard<std::mutex> l(mu_);
    before = desired_[group];
    if (const cloud::GroupView* g = GroupNamed(group)) price = g->HourlyPrice();
  }
  // Nodes are billed from (and to) when the cloud took the new size.
  Result<TimePoint> at = provider_->Resize(group, desired, clock_.Now());
  if (at.status().code() == StatusCode::kAborted) {
    std::lock_guard<std::mutex> l(mu_);
    if (busy_.insert(group).second)
      PORTFLOW_LOG(LogLevel::kInfo, "cloud",
                   "node group " + group +
                       " is still applying its last resize: asked again at the next looks");
    return at;
  }
  RETURN_IF_ERROR(at.status());
  PORTFLOW_LOG(LogLevel::kInfo, "cloud",
               "node group " + group + ": desired size " + std::to_string(before) + " -> " +
                   std::to_string(desired));
  TimePoint now = *at;
  std::lock_guard<std::mutex> l(mu_);
  busy_.erase(group);
  desired_[group] = desired;
  if (desired > before) {
    last_growth_[group] = now;
    for (int i = before; i < desired; ++i) launched_.push_back({group, "", now, {}, {}, {}, price});
    SaveLedger();
  }
  return now;
}

Status CloudBackend::Shrink(const std::string& group, int count) {
  int desired;
  {
    std::lock_guard<std::mutex> l(mu_);
    desired = std::max(0, desired_[group] - count);
  }
  ASSIGN_OR_RETURN(TimePoint now, Resize(group, desired));
  // The group ends what has not joined first, then the newest nodes: those
  // this run added last.
  std::lock_guard<std::mutex> l(mu_);
  int left = count;
  for (auto n = launched_.rbegin(); n != launched_.rend() && left > 0; ++n) {
    if (n->group != group || n->ended || n->warned || !n->node.empty()) continue;
    n->ended = now;
    --left;
  }
  for (auto n = launched_.rbegin(); n != launched_.rend() && left > 0; ++n) {
    if (n->group != group || n->ended || n->warned) continue;
    n->ended = now;
    --left;
  }
  SaveLedger();
  return OkStatus();
}

namespace {

int64_t Millis(TimePoint t) { return ToUnixMillis(t); }
json OptionalMillis(const std::optional<TimePoint>& t) {
  return t ? json(ToUnixMillis(*t)) : json(nullptr);
}
std::optional<TimePoint> OptionalTime(const json& j) {
  if (!j.is_number_integer()) return std::nullopt;
  return FromUnixMillis(j.get<int64_t>());
}

}  // namespace

void CloudBackend::StartRun(const std::string& run_id, const std::string& run_dir) {
  BackendWrapper::StartRun(run_id, run_dir);
  std::lock_guard<std::mutex> l(mu_);
  ledger_ = run_dir + "/cloud-nodes.json";
  std::error_code ec;
  std::filesystem::create_directories(run_dir, ec);
  // A run resumed after its portflow died: the nodes it had added are its
  // own still, to be costed and given back.
  std::ifstream in(ledger_);
  if (!in) return;
  json saved = json::parse(in, nullptr, false);
  for (const json& n : Field(saved, "nodes")) {
    if (!Field(n, "launched").is_number_integer() || !Field(n, "price").is_number()) {
      PORTFLOW_LOG(LogLevel::kWarn, "cloud",
                   ledger_ + ": a node without its launch time or price is skipped: " + n.dump());
      continue;
    }
    Launched entry{Str(n, "group"),
                   Str(n, "node"),
                   FromUnixMillis(Field(n, "launched").get<int64_t>()),
                   OptionalTime(Field(n, "ended")),
                   std::nullopt,
                   OptionalTime(Field(n, "warned")),
                   Field(n, "price").get<double>(),
                   Str(n, "type")};
    if (!entry.node.empty()) seen_nodes_.insert(entry.node);
    launched_.push_back(std::move(entry));
  }
  PORTFLOW_LOG(LogLevel::kInfo, "cloud",
               "resumed with " + std::to_string(launched_.size()) + " node(s) the run had added");
}

void CloudBackend::SaveLedger() {
  if (ledger_.empty()) return;
  json nodes = json::array();
  for (const Launched& n : launched_) {
    nodes.push_back({{"group", n.group},
                     {"node", n.node},
                     {"launched", Millis(n.launched)},
                     {"ended", OptionalMillis(n.ended)},
                     {"warned", OptionalMillis(n.warned)},
                     {"price", n.price},
                     {"type", n.type}});
  }
  // Whole or not at all: a crash mid-write leaves the last one.
  std::string tmp = ledger_ + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << json{{"nodes", nodes}}.dump() << "\n";
    if (!out) {
      PORTFLOW_LOG(LogLevel::kWarn, "cloud", "cannot write " + tmp);
      return;
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, ledger_, ec);
  if (ec) PORTFLOW_LOG(LogLevel::kWarn, "cloud", "cannot write " + ledger_ + ": " + ec.message());
}

std::optional<Backend::RunCost> CloudBackend::FinishRun(const std::string& run_id) {
  StopLoop();
  (void)BackendWrapper::FinishRun(run_id);  // the cluster's part (the run's Secret)
  if (!Sizes()) {                           // nothing of the run's own to give back
    std::lock_guard<std::mutex> l(mu_);
    return BilledCost();
  }
  std::map<std::string, int> ours;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (const Launched& n : launched_) {
      if (!n.ended && !n.warned) ++ours[n.group];  // a warned one no longer counts
    }
  }
  for (const auto& [group, count] : ours) {
    // A group still applying a resize (its nodes on their way) takes the
    // next one when that is done: waited for, so that no node is left up.
    Status st = Shrink(group, count);
    for (TimePoint until = clock_.Now() + target_.provisioning + std::chrono::minutes(2);
         st.code() == StatusCode::kAborted && clock_.Now() < until; st = Shrink(group, count))
      SleepFor(clock_, tick_);
    if (!st.ok())
      PORTFLOW_LOG(LogLevel::kWarn, "cloud",
                   "node group " + group + " was not scaled down after the run: " + st.message());
  }
  std::lock_guard<std::mutex> l(mu_);
  return BilledCost();
}

std::optional<double> CloudBackend::CostSoFar() {
  std::lock_guard<std::mutex> l(mu_);
  return BilledCost().usd;
}

Backend::RunCost CloudBackend::BilledCost() const {
  RunCost cost;
  if (!Sizes()) {
    // The cluster's autoscaler added the nodes: the run cost what its
    // attempts' pods held of them.
    cost.usd = attempts_cost_;
    cost.nodes = static_cast<int>(nodes_used_.size());
    cost.detail = "its pods' share of " + std::to_string(nodes_used_.size()) +
                  " node(s) that the cluster's autoscaler sized";
    return cost;
  }
  TimePoint now = clock_.Now();
  std::map<std::string, std::pair<int, Duration>> by_type;
  for (const Launched& n : launched_) {
    // A warned node still there ends when its notice runs out.
    TimePoint end = n.ended.value_or(n.warned ? *n.warned + target_.spot_notice : now);
    Duration billed = std::max<Duration>(end - n.launched, std::chrono::seconds(60));
    cost.usd += std::chrono::duration<double>(billed).count() * n.price / 3600.0;
    ++cost.nodes;
    if (const cloud::GroupView* g = GroupNamed(n.group)) {
      auto& [count, time] =
          by_type[(n.type.empty() ? g->type.name : n.type) + (g->spot ? " (spot)" : "")];
      ++count;
      time += billed;
    }
  }
  for (const auto& [type, use] : by_type) {
    cost.detail +=
        (cost.detail.empty() ? "" : ", ") + std::to_string(use.first) + " " + type + " for " +
        std::to_string(static_cast<int>(std::chrono::duration<double>(use.second).count())) + " s";
  }
  if (cost.detail.empty()) cost.detail = "no node added";
  return cost;
}

}  // namespace portflow
