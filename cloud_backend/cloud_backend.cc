// The cloud backend, in order: start (the groups read, the sizing loop
// started); placement and submit; the rewrite of the inner backend's events
// (cost per attempt, Preempted, Provisioning); the loop's look (Tick: read
// the cluster, bind joined nodes, size; Report); the "cloud" factory. The
// nodes a run asks for, their spot interruptions and their ledger are in
// cloud_nodes.cc.
#include "cloud_backend/cloud_backend.h"

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "cloud_backend/aws/credentials.h"
#include "cloud_backend/cloud_backend_internal.h"
#include "core/encoding.h"
#include "core/json_fields.h"
#include "core/k8s_time.h"
#include "core/log.h"
#include "core/quantity.h"
#include "k8s_backend/client/credentials.h"
#include "k8s_backend/cluster_capacity.h"
#include "k8s_backend/kubernetes_backend.h"
#include "k8s_backend/render.h"

namespace portflow {
namespace {

using json = nlohmann::json;

}  // namespace

CloudBackend::CloudBackend(CloudBackendOptions o)
    : BackendWrapper(std::move(o.inner)),
      target_(std::move(o.target)),
      provider_(std::move(o.provider)),
      access_(std::move(o.access)),
      clock_(*o.clock),
      tick_(o.tick),
      transport_(std::move(o.transport)),
      setup_error_(std::move(o.access_error)) {
  catalog_ = &cloud::Catalog::Shipped();
  if (!target_.catalog.empty()) {
    auto loaded = cloud::Catalog::Load(target_.catalog);
    if (loaded.ok()) {
      own_catalog_ = std::make_unique<cloud::Catalog>(std::move(*loaded));
      catalog_ = own_catalog_.get();
    } else {
      if (setup_error_.ok()) setup_error_ = loaded.status();
    }
  }
}

CloudBackend::~CloudBackend() { Shutdown(); }

void CloudBackend::StopLoop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (loop_.joinable()) loop_.join();
}

void CloudBackend::Shutdown() {
  StopLoop();
  ResetInner();
}

Status CloudBackend::Start() {
  std::call_once(started_, [this] {
    Status st = setup_error_;
    if (st.ok()) st = ReadGroups();
    if (st.ok()) {
      auto transport = transport_ ? transport_(access_) : k8s::MakeCurlTransport(access_);
      if (transport.ok()) {
        client_ = std::make_unique<k8s::ApiClient>(
            std::move(*transport), std::make_shared<k8s::Credentials>(access_, clock_), clock_);
      } else {
        st = transport.status();
      }
    }
    start_status_ = st;
    if (st.ok()) loop_ = std::thread([this] { Loop(); });
  });
  return start_status_;
}

Status CloudBackend::ReadGroups() {
  std::vector<cloud::GroupView> views;
  std::set<std::string> unhealthy;
  for (const std::string& name : target_.node_groups) {
    auto g = provider_->Group(name);
    if (!g.ok()) {
      return Status(g.status().code(), "node group " + name + " of cluster " + target_.cluster +
                                           ": " + g.status().message());
    }
    if (g->instance_types.empty())
      return FailedPrecondition("node group " + name + " names no instance type");
    // Priced in the first of its zones the catalog has: where the group
    // launches first.
    auto type = catalog_->FindIn(g->instance_types[0], target_.region, g->zones);
    if (!type)
      return FailedPrecondition("node group " + name + ": instance type " + g->instance_types[0] +
                                " is not in the price catalog for " + target_.region +
                                " (a target may name its own: catalog: FILE)");
    views.push_back({name, g->spot, *type, g->min_size, g->max_size, g->desired_size});
    if (!g->health.empty()) unhealthy.insert(name);
  }
  std::lock_guard<std::mutex> l(mu_);
  for (cloud::GroupView& v : views) {
    // Our own word on the desired size stands until the cloud has it; the
    // cluster's autoscaler's is the cloud's.
    if (auto it = desired_.find(v.name); it != desired_.end() && Sizes())
      v.desired_size = it->second;
    desired_[v.name] = v.desired_size;
  }
  groups_ = std::move(views);
  unhealthy_ = std::move(unhealthy);
  groups_read_ = clock_.Now();
  return OkStatus();
}

ResourceRequest CloudBackend::Capacity() {
  (void)Start();
  std::lock_guard<std::mutex> l(mu_);
  return Potential();
}

Backend::Availability CloudBackend::Probe() {
  Availability a = BackendWrapper::Probe();
  if (!a.reachable.ok()) return a;
  if (Status st = Start(); !st.ok()) a.reachable = st;
  a.capacity = Capacity();
  return a;
}

bool CloudBackend::Allowed(const cloud::GroupView& g) const {
  return !(target_.spot == cloud::SpotPolicy::kNever && g.spot) &&
         !(target_.spot == cloud::SpotPolicy::kOnly && !g.spot);
}

const cloud::GroupView* CloudBackend::GroupNamed(const std::string& name) const {
  for (const cloud::GroupView& g : groups_) {
    if (g.name == name) return &g;
  }
  return nullptr;
}

ResourceRequest CloudBackend::Potential() const {
  ResourceRequest all;
  for (const cloud::GroupView& g : groups_) {
    if (Allowed(g)) all += cloud::Allocatable(g.type) * g.max_size;
  }
  return all;
}

double CloudBackend::HourlyNow() const {
  double sum = 0;
  for (const Launched& n : launched_) {
    if (!n.ended) sum += n.price;
  }
  return sum;
}

cloud::SizingInput CloudBackend::SizingFor(const std::vector<ResourceRequest>& waiting,
                                           const std::vector<std::string>& avoid) const {
  cloud::SizingInput in;
  in.groups = groups_;
  for (cloud::GroupView& g : in.groups) g.desired_size = desired_.at(g.name);
  in.free_on_nodes = free_on_nodes_;
  for (const Launched& n : launched_) {
    if (!n.ended && n.node.empty()) ++in.joining[n.group];
  }
  if (!Sizes()) {  // what the groups were asked for (by the autoscaler) and do not have yet
    for (const cloud::GroupView& g : in.groups) {
      auto have = schedulable_.find(g.name);
      in.joining[g.name] =
          std::max(0, g.desired_size - (have == schedulable_.end() ? 0 : have->second));
    }
  }
  in.waiting = waiting;
  in.waiting_avoid = avoid;
  in.spot = target_.spot;
  in.avoid = unhealthy_;
  for (const auto& [group, until] : failed_until_) {
    if (clock_.Now() < until) in.avoid.insert(group);
  }
  // What a group that cannot launch was asked for may never come.
  for (const std::string& group : in.avoid) in.joining.erase(group);
  return in;
}

Placement CloudBackend::DoPlace(const PlacementRequest& request) {
  if (Status st = Start(); !st.ok()) {
    Placement p;
    p.why = st.message();
    return p;
  }
  Placement now = BackendWrapper::DoPlace(request);
  std::lock_guard<std::mutex> l(mu_);
  cloud::SizingInput in = SizingFor({});
  std::vector<const cloud::GroupView*> fit = cloud::Candidates(in, request.per_replica);
  Placement p;
  p.elastic = p.queues = true;
  if (!fit.empty()) p.hourly_price = fit.front()->HourlyPrice();
  Placement slots = PlaceInSlots(request, Potential(), in_use_);
  p.can_ever_fit = !fit.empty() && slots.can_ever_fit;
  if (!p.can_ever_fit) {
    std::string names;
    for (const std::string& n : target_.node_groups) names += (names.empty() ? "" : ", ") + n;
    p.why = fit.empty() ? "no node group portflow may scale (" + names +
                              ") has an instance type with room for " +
                              request.per_replica.ToString() + " on one node"
                        : slots.why;
    return p;
  }
  if (now.can_start_now) {
    p.can_start_now = true;
    p.estimated_wait = Duration::zero();
    return p;
  }
  // No node the budget could ever pay for, and none up that could take it
  // when empty: it would wait for ever.
  const cloud::GroupView* cheapest = fit.front();
  for (const cloud::GroupView* g : fit)
    if (g->HourlyPrice() < cheapest->HourlyPrice()) cheapest = g;
  if (target_.max_hourly_cost && cheapest->HourlyPrice() > *target_.max_hourly_cost &&
      !now.can_ever_fit) {
    p.can_ever_fit = false;
    p.why = "the cheapest node that fits it, a " + cheapest->type.name + " of group " +
            cheapest->name + " (" + FormatUsd(cheapest->HourlyPrice()) +
            " an hour), costs more than maxHourlyCost " + FormatUsd(*target_.max_hourly_cost);
    return p;
  }
  if (!slots.can_start_now) {
    p.why = slots.why + " (node groups at their max)";
    return p;
  }
  if (target_.max_hourly_cost &&
      HourlyNow() + fit.front()->HourlyPrice() > *target_.max_hourly_cost) {
    p.reason = "Budget";
    p.why = "the run's nodes cost " + FormatUsd(HourlyNow()) + " an hour; another " +
            fit.front()->type.name + " (" + FormatUsd(fit.front()->HourlyPrice()) +
            ") would pass maxHourlyCost " + FormatUsd(*target_.max_hourly_cost);
    return p;
  }
  p.can_start_now = true;  // submitted now, it waits for the node it causes
  p.estimated_wait = target_.provisioning;
  p.why = "a node of group " + fit.front()->name + " (" + fit.front()->type.name + ") " +
          (Sizes() ? "would be added for it" : "may be added for it by the cluster's autoscaler");
  return p;
}

Result<TaskHandle> CloudBackend::DoSubmit(const TaskSpec& spec) {
  RETURN_IF_ERROR(Start());
  bool fresh;
  TaskSpec placed = spec;
  {
    // Known before the inner Submit: its pods' first events may come
    // before that returns.
    std::lock_guard<std::mutex> l(mu_);
    std::map<std::string, std::string> labels = k8s::TaskLabels(spec);
    if (run_label_.empty()) run_label_ = labels["portflow.dev/run"];
    // The attempt after a spot interruption keeps off the group that
    // interrupted it (its nodes that are left, and the replacement), when
    // another group fits it.
    auto avoid = avoid_for_.find({labels["portflow.dev/instance"], labels["portflow.dev/attempt"]});
    if (avoid != avoid_for_.end()) {
      bool elsewhere = false;
      cloud::SizingInput in = SizingFor({});
      for (const cloud::GroupView* g : cloud::Candidates(in, spec.resources))
        elsewhere = elsewhere || g->name != avoid->second;
      if (elsewhere) {
        placed.avoid.push_back({"eks.amazonaws.com/nodegroup", avoid->second});
      } else {
        avoid_for_.erase(avoid);  // nowhere else to go: back where it was
      }
    }
    fresh = needs_
                .emplace(spec.Key(),
                         Need{spec.resources, spec.replicas, labels["portflow.dev/instance"],
                              labels["portflow.dev/attempt"], std::nullopt, clock_.Now()})
                .second;
    if (fresh) in_use_ += spec.resources * spec.replicas;
  }
  Result<TaskHandle> h = BackendWrapper::DoSubmit(placed);
  {
    std::lock_guard<std::mutex> l(mu_);
    if (h.ok()) {
      if (auto it = needs_.find(spec.Key()); it != needs_.end()) it->second.handle = *h;
    } else if (fresh && needs_.erase(spec.Key())) {
      in_use_ -= spec.resources * spec.replicas;
    }
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    woken_ = true;  // its pods may need a node
  }
  wake_.notify_all();
  return h;
}

void CloudBackend::OnInnerEvent(TaskEvent event) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (IsTerminal(event.state)) {
      if (auto it = needs_.find(event.key); it != needs_.end()) {
        in_use_ -= it->second.per_replica * it->second.replicas;
        avoid_for_.erase({it->second.instance_label, it->second.attempt});
        needs_.erase(it);
      }
      // Its pods' time on their nodes (from each pod's start, as the look
      // that first saw it there read it), each node's price shared by what
      // the pod requested of it. An attempt no look saw on a node (it ended
      // within one) has no cost known.
      if (auto use = usage_.find(event.key); use != usage_.end()) {
        double cost = 0;
        for (const auto& [pod, u] : use->second) {
          double hours = std::chrono::duration<double>(event.time - u.since).count() / 3600.0;
          cost += std::max(0.0, hours) * u.price * u.share;
        }
        for (const auto& [pod, u] : use->second) nodes_used_.insert(u.node);
        usage_.erase(use);
        attempts_cost_ += cost;
        if (!event.result) event.result = ExitResult{};
        event.result->cost = cost;
      }
      // Stopped because its node is being taken back: Preempted, which
      // the engine runs again without counting a retry.
      if (auto it = preempted_.find(event.key); it != preempted_.end()) {
        if (event.state != TaskState::kSucceeded) {
          ExitResult r = event.result.value_or(ExitResult{});
          r.reason = "Preempted";
          r.message = it->second;
          event.state = TaskState::kFailed;
          event.reason = r.reason;
          event.message = r.message;
          event.result = r;
        }
        preempted_.erase(it);
      }
    } else if (event.pending == PendingReason::kUnschedulable) {
      // A pod no node takes, before the next look: a node is added for it
      // when a group can grow within the budget.
      if (auto need = needs_.find(event.key); need != needs_.end()) {
        cloud::SizingInput in = SizingFor({});
        for (const cloud::GroupView* g : cloud::Candidates(in, need->second.per_replica)) {
          if (in.avoid.count(g->name) || g->desired_size >= g->max_size) continue;
          if (target_.max_hourly_cost && HourlyNow() + g->HourlyPrice() > *target_.max_hourly_cost)
            break;
          Provisioning(event, g->name, event.time + target_.provisioning);
          break;
        }
      }
    }
  }
  std::lock_guard<std::mutex> l(emit_mu_);
  if (event.state != TaskState::kPending) left_pending_.insert(event.key);
  if (IsTerminal(event.state)) reported_.erase(event.key);
  if (event.pending != PendingReason::kNone) reported_[event.key] = event.reason;
  Emit(std::move(event));
}

void CloudBackend::Provisioning(TaskEvent& event, const std::string& group, TimePoint ready) const {
  event.pending = PendingReason::kProvisioning;
  event.reason = "Provisioning";
  event.message = "a node of group " + group +
                  (Sizes() ? " is being added for it"
                           : " is expected from the cluster's autoscaler (autoscaler: cluster)");
  event.estimated_start = std::max(ready, event.time);
}

void CloudBackend::Loop() {
  std::unique_lock<std::mutex> l(mu_);
  while (!stopping_) {
    l.unlock();
    Status st = Tick();
    if (!st.ok()) PORTFLOW_LOG(LogLevel::kWarn, "cloud", st.message());
    l.lock();
    // On the clock, so that in virtual time the loop moves time on.
    clock_.WaitUntil(l, wake_, clock_.Now() + tick_, [&] { return stopping_ || woken_; });
    woken_ = false;
  }
}

Status CloudBackend::Tick() {
  if (clock_.Now() - groups_read_ >= std::chrono::seconds(10)) RETURN_IF_ERROR(ReadGroups());
  // The look's time is from before it reads: a pod it sees on a node was
  // there then, so an attempt that ends after the read (and is heard of
  // before this look is done) has run since a time before its end.
  TimePoint now = clock_.Now();
  ASSIGN_OR_RETURN(json nodes, k8s::ListItems(*client_, "/api/v1/nodes"));
  ASSIGN_OR_RETURN(json pods, k8s::ListItems(*client_, "/api/v1/pods?fieldSelector=" +
                                                           PercentEncode("status.phase!=Succeeded,"
                                                                         "status.phase!=Failed",
                                                                         true)));

  // What each node holds, and the pods of this run that no node takes.
  std::map<std::string, ResourceRequest> held;
  std::map<std::string, int> pods_on;
  std::vector<ResourceRequest> waiting;
  std::vector<std::string> waiting_keys;  // "" for a pod of no attempt this backend knows
  std::vector<std::string> waiting_avoid;
  std::map<std::string, std::set<std::string>> keys_on;  // node -> attempts of this run there
  std::string run_label;
  std::map<std::pair<std::string, std::string>, std::string> key_of;  // instance, attempt
  std::map<std::pair<std::string, std::string>, std::string> avoid_for;
  {
    std::lock_guard<std::mutex> l(mu_);
    run_label = run_label_;
    avoid_for = avoid_for_;
    for (const auto& [key, need] : needs_) key_of[{need.instance_label, need.attempt}] = key;
  }
  std::map<std::string, ResourceRequest> allocatable;
  for (const json& n : nodes) {
    allocatable[Str(Field(n, "metadata"), "name")] =
        k8s::Quantities(Field(Field(n, "status"), "allocatable"));
  }
  // The run's pods on nodes: what share of its node each holds.
  struct OnNode {
    std::string key, pod, node;
    double share;
    std::optional<TimePoint> started;  // the pod's startTime, where set
  };
  std::vector<OnNode> on_nodes;
  for (const json& p : pods) {
    const json& spec = Field(p, "spec");
    const json& labels = Field(Field(p, "metadata"), "labels");
    bool ours = !run_label.empty() && Str(labels, "portflow.dev/run") == run_label;
    auto key =
        key_of.find({Str(labels, "portflow.dev/instance"), Str(labels, "portflow.dev/attempt")});
    std::string node = Str(spec, "nodeName");
    if (!node.empty()) {
      held[node] += k8s::PodRequests(spec);
      ++pods_on[node];
      if (ours && key != key_of.end()) {
        keys_on[node].insert(key->second);
        on_nodes.push_back({key->second, Str(Field(p, "metadata"), "name"), node,
                            cloud::Share(k8s::PodRequests(spec), allocatable[node]),
                            ParseK8sTime(Str(Field(p, "status"), "startTime"))});
      }
      continue;
    }
    if (!ours) continue;
    for (const json& c : Field(Field(p, "status"), "conditions")) {
      if (Str(c, "type") != "PodScheduled" || Str(c, "reason") != "Unschedulable") continue;
      waiting.push_back(k8s::PodRequests(spec));
      waiting_keys.push_back(key == key_of.end() ? "" : key->second);
      auto avoid = avoid_for.find(
          {Str(labels, "portflow.dev/instance"), Str(labels, "portflow.dev/attempt")});
      waiting_avoid.push_back(avoid == avoid_for.end() ? "" : avoid->second);
    }
  }
  std::vector<cloud::NodeRoom> free;
  std::map<std::string, int> schedulable;       // group -> its nodes pods may go to
  std::map<std::string, std::string> group_of;  // node -> group
  std::map<std::string, std::string> node_of;   // instance id -> node
  std::map<std::string, std::pair<std::string, std::string>> type_of;  // node -> type, zone
  for (const json& n : nodes) {
    std::string name = Str(Field(n, "metadata"), "name");
    const json& labels = Field(Field(n, "metadata"), "labels");
    group_of[name] = Str(labels, "eks.amazonaws.com/nodegroup");
    type_of[name] = {Str(labels, "node.kubernetes.io/instance-type"),
                     Str(labels, "topology.kubernetes.io/zone")};
    // aws:///us-east-1a/i-0123...: the instance behind the node.
    std::string provider_id = Str(Field(n, "spec"), "providerID");
    node_of[provider_id.empty() ? name : provider_id.substr(provider_id.rfind('/') + 1)] = name;
    bool ready = false;
    for (const json& c : Field(Field(n, "status"), "conditions"))
      ready = ready || (Str(c, "type") == "Ready" && Str(c, "status") == "True");
    bool tainted = false;
    for (const json& t : Field(Field(n, "spec"), "taints"))
      tainted = tainted || Str(t, "effect") == "NoSchedule" || Str(t, "effect") == "NoExecute";
    if (!ready || tainted || Field(Field(n, "spec"), "unschedulable") == json(true)) continue;
    ResourceRequest room = k8s::Quantities(Field(Field(n, "status"), "allocatable"));
    room -= held[name];
    free.push_back({group_of[name], room});
    ++schedulable[group_of[name]];
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    // Nodes that joined take the place of the oldest launch of their group
    // still waiting for one; launches whose node went have ended.
    bool changed = false;
    for (const auto& [name, group] : group_of) {
      if (!seen_nodes_.insert(name).second) continue;
      for (Launched& n : launched_) {
        if (n.group == group && n.node.empty() && !n.ended) {
          n.node = name;
          // Priced as what it is: a group falls back to its next type (and
          // zone) when the first is out of stock.
          auto [type, zone] = type_of[name];
          n.type = type;
          auto row = catalog_->FindIn(type, target_.region, {zone});
          if (const cloud::GroupView* g = GroupNamed(group); row && g)
            n.price = row->Hourly(g->spot);
          changed = true;
          break;
        }
      }
    }
    for (Launched& n : launched_) {
      if (!n.ended && !n.node.empty() && !group_of.count(n.node)) {
        // A warned node ends when its notice runs out, however late a look
        // sees it gone.
        n.ended = n.warned ? std::min(now, *n.warned + target_.spot_notice) : now;
        changed = true;
      }
    }
    if (changed) SaveLedger();
    for (const OnNode& o : on_nodes) {
      // A node that joined between this look's list of nodes and its list
      // of pods (its pod bound at once) has no price or room known here:
      // the next look prices its pod, from the pod's start all the same.
      if (!group_of.count(o.node)) continue;
      auto& pods_of = usage_[o.key];
      if (pods_of.count(o.pod)) continue;
      double price = 0;
      for (const Launched& n : launched_) {
        if (n.node == o.node) price = n.price;
      }
      const cloud::GroupView* g = GroupNamed(group_of[o.node]);
      if (price == 0 && g) price = g->HourlyPrice();
      // From the pod's start where the cluster says it (to the second: not
      // before the attempt was submitted), not from this look: a look that
      // comes late must not shorten the pod's time.
      TimePoint since = o.started.value_or(now);
      if (auto need = needs_.find(o.key); need != needs_.end() && need->second.submitted)
        since = std::max(since, *need->second.submitted);
      pods_of[o.pod] = {std::min(now, since), o.share, price, o.node};
    }
  }
  RETURN_IF_ERROR(Interrupt(now, node_of, group_of, keys_on));
  if (!Sizes()) {  // the cluster's autoscaler sizes: only read, and say why pods wait
    {
      std::lock_guard<std::mutex> l(mu_);
      free_on_nodes_ = free;
      schedulable_ = schedulable;
      for (const cloud::GroupView& g : groups_) {
        if (desired_[g.name] > schedulable[g.name]) {
          growing_since_.emplace(g.name, now);
        } else {
          growing_since_.erase(g.name);
        }
      }
    }
    Report(waiting, waiting_avoid, waiting_keys);
    return OkStatus();
  }
  RETURN_IF_ERROR(GiveUpFailedLaunches(now));

  std::map<std::string, int> grow;
  std::vector<std::pair<std::string, int>> shrink;
  {
    std::lock_guard<std::mutex> l(mu_);
    free_on_nodes_ = free;
    grow = cloud::GrowFor(SizingFor(waiting, waiting_avoid));
    budget_blocked_ = false;
    double hourly = HourlyNow();  // with what this look asks for, group by group
    for (auto it = grow.begin(); it != grow.end();) {
      const cloud::GroupView& g = *GroupNamed(it->first);
      int more = it->second - desired_[g.name];
      if (target_.max_hourly_cost) {
        while (more > 0 && hourly + more * g.HourlyPrice() > *target_.max_hourly_cost) --more;
        if (more < it->second - desired_[g.name]) {
          budget_blocked_ = true;
          budget_blocked_message_ = "another " + g.type.name + " (" + FormatUsd(g.HourlyPrice()) +
                                    " an hour) would pass maxHourlyCost " +
                                    FormatUsd(*target_.max_hourly_cost) +
                                    "; the run's nodes cost " + FormatUsd(hourly) + " an hour";
        }
      }
      if (more <= 0) {
        it = grow.erase(it);
        continue;
      }
      hourly += more * g.HourlyPrice();
      it->second = desired_[g.name] + more;
      ++it;
    }
    // Idle nodes this run added, newest first per group: after
    // scaleDownAfter idle, and that long after the group last grew, they go.
    for (const cloud::GroupView& g : groups_) {
      int idle = 0;
      bool joining = false;
      for (auto n = launched_.rbegin(); n != launched_.rend(); ++n) {
        if (n->group != g.name || n->ended) continue;
        if (n->node.empty()) {
          joining = true;
          break;
        }
        if (pods_on[n->node] > 0) {
          n->idle_since.reset();
          break;
        }
        if (!n->idle_since) n->idle_since = now;
        if (now - *n->idle_since < target_.scale_down_after) break;
        ++idle;
      }
      auto grew = last_growth_.find(g.name);
      if (idle > 0 && !joining && !grow.count(g.name) &&
          (grew == last_growth_.end() || now - grew->second >= target_.scale_down_after))
        shrink.push_back({g.name, idle});
    }
  }
  // A group still applying its last resize is asked again at a later look.
  for (const auto& [group, desired] : grow) {
    if (Status st = Resize(group, desired).status(); st.code() != StatusCode::kAborted)
      RETURN_IF_ERROR(st);
  }
  for (const auto& [group, count] : shrink) {
    if (Status st = Shrink(group, count); st.code() != StatusCode::kAborted) RETURN_IF_ERROR(st);
  }
  Report(waiting, waiting_avoid, waiting_keys);
  return OkStatus();
}

void CloudBackend::Report(const std::vector<ResourceRequest>& waiting,
                          const std::vector<std::string>& avoid,
                          const std::vector<std::string>& keys) {
  std::vector<TaskEvent> events;
  {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<bool> covered = cloud::Covered(SizingFor(waiting, avoid));
    // The nodes on their way: when each should be ready, and its group.
    std::vector<std::pair<TimePoint, std::string>> coming;
    for (const Launched& n : launched_) {
      if (!n.ended && n.node.empty())
        coming.push_back({n.launched + target_.provisioning, n.group});
    }
    for (const auto& [name, since] : growing_since_)  // autoscaler: cluster
      coming.push_back({since + target_.provisioning, name});
    std::sort(coming.begin(), coming.end());
    // The first of them that pod `i` fits on, and may go to.
    auto first_for = [&](size_t i) -> const std::pair<TimePoint, std::string>* {
      for (const auto& c : coming) {
        const cloud::GroupView* g = GroupNamed(c.second);
        if (g && waiting[i].FitsIn(cloud::Allocatable(g->type)) &&
            (i >= avoid.size() || avoid[i] != c.second))
          return &c;
      }
      return nullptr;
    };
    TimePoint now = clock_.Now();
    cloud::SizingInput in = SizingFor({});
    for (size_t i = 0; i < keys.size(); ++i) {
      if (keys[i].empty()) continue;
      TaskEvent e{keys[i], TaskState::kPending,  now,         std::nullopt, "",
                  "",      PendingReason::kNone, std::nullopt};
      std::vector<const cloud::GroupView*> fit;
      if (!Sizes()) fit = cloud::Candidates(in, waiting[i]);
      auto room = std::find_if(fit.begin(), fit.end(), [](const cloud::GroupView* g) {
        return g->desired_size < g->max_size;
      });
      if (const auto* c = covered[i] ? first_for(i) : nullptr) {
        Provisioning(e, c->second, c->first);
      } else if (room != fit.end()) {  // the cluster's autoscaler has yet to act
        Provisioning(e, (*room)->name, now + target_.provisioning);
      } else if (budget_blocked_) {
        e.pending = PendingReason::kBudget;
        e.reason = "Budget";
        e.message = budget_blocked_message_;
      } else {
        e.pending = PendingReason::kUnschedulable;
        e.reason = "Unschedulable";
        e.message = Sizes() ? "no node has room for it and no node group portflow may scale can "
                              "grow for it"
                            : "no node has room for it and no node group it fits has room to "
                              "grow (autoscaler: cluster)";
      }
      events.push_back(std::move(e));
    }
  }
  // Only what changed, and never after the attempt left Pending.
  std::lock_guard<std::mutex> l(emit_mu_);
  for (TaskEvent& e : events) {
    if (left_pending_.count(e.key) || reported_[e.key] == e.reason) continue;
    reported_[e.key] = e.reason;
    Emit(std::move(e));
  }
}

namespace {

// A cloud target: the kubernetes backend on the cluster its kubeconfig
// context names, and the provider's API with the AWS credentials chain.
Result<std::unique_ptr<Backend>> MakeCloud(const std::map<std::string, std::string>& settings) {
  ASSIGN_OR_RETURN(CloudTarget t, ParseCloudTarget(settings));
  ASSIGN_OR_RETURN(k8s::KubernetesTarget k, k8s::ParseKubernetesTarget(t.kubernetes));
  KubernetesBackendOptions inner;
  inner.target = k;
  ASSIGN_OR_RETURN(aws::Credentials credentials,
                   aws::ResolveCredentials(t.profile, aws::CredentialsEnv::FromProcess()));
  CloudBackendOptions o;
  o.provider = cloud::NewAwsProvider(
      std::make_unique<aws::Client>(t.endpoint, t.region, std::move(credentials)), t.cluster,
      t.interruption_queue);
  auto access = k8s::ResolveClusterAccess({k.kubeconfig, k.context, k.namespace_name},
                                          k8s::KubeconfigEnv::FromProcess());
  if (access.ok()) {
    o.access = *access;
    inner.access = *access;
  } else {
    o.access_error = access.status();  // the kubernetes backend says the same at Probe
  }
  o.inner = NewKubernetesBackend(std::move(inner));
  o.target = std::move(t);
  return std::unique_ptr<Backend>(new CloudBackend(std::move(o)));
}

}  // namespace

void RegisterCloudBackends() {
  RegisterBackend("cloud", MakeCloud);
  RegisterCloudRehearsal();
  RegisterHybridRehearsal();
}

}  // namespace portflow
