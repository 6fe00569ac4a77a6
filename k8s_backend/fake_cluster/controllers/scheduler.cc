#include "k8s_backend/fake_cluster/controllers/scheduler.h"

#include <algorithm>
#include <utility>

#include "k8s_backend/fake_cluster/controllers/pod_status.h"
#include "k8s_backend/fake_cluster/store/json_fields.h"

namespace portflow::fake {
namespace {

bool Tolerates(const json& tolerations, const json& taint) {
  for (const json& t : tolerations) {
    std::string op = t.value("operator", "Equal");
    bool key =
        t.value("key", "").empty() ? op == "Exists" : t.value("key", "") == taint.value("key", "");
    bool value = op == "Exists" || t.value("value", "") == taint.value("value", "");
    bool effect =
        t.value("effect", "").empty() || t.value("effect", "") == taint.value("effect", "");
    if (key && value && effect) return true;
  }
  return false;
}

// The pod's required node affinity (its nodeSelectorTerms): one of its
// terms (each a list of expressions, all of which must hold) matches the
// node's labels. No affinity allows every node.
bool AffinityAllows(const json& terms, const std::map<std::string, std::string>& labels) {
  if (!terms.is_array() || terms.empty()) return true;
  for (const json& term : terms) {
    bool all = true;
    for (const json& e : Field(term, "matchExpressions")) {
      auto label = labels.find(Str(e, "key"));
      bool in = false;
      for (const json& v : Field(e, "values"))
        in =
            in || (label != labels.end() && v.is_string() && v.get<std::string>() == label->second);
      std::string op = Str(e, "operator");
      bool holds = op == "In"             ? in
                   : op == "NotIn"        ? !in
                   : op == "Exists"       ? label != labels.end()
                   : op == "DoesNotExist" ? label == labels.end()
                                          : false;
      all = all && holds;
    }
    if (all) return true;
  }
  return false;
}

}  // namespace

void Scheduler::ObserveNode(const ObjectStore::Change& c) {
  const json& node = *c.object;
  std::string name = Str(Field(node, "metadata"), "name");
  auto it = node_index_.find(name);
  if (c.type == "DELETED") {
    if (it == node_index_.end()) return;
    nodes_.erase(nodes_.begin() + static_cast<std::ptrdiff_t>(it->second));
    node_index_.clear();
    for (size_t i = 0; i < nodes_.size(); ++i) node_index_[nodes_[i].name] = i;
    return;
  }
  NodeInfo info;
  info.name = name;
  const json& alloc = Field(Field(node, "status"), "allocatable");
  info.free = {Quantity(Field(alloc, "cpu"), true), Quantity(Field(alloc, "memory"), false),
               Quantity(Field(alloc, "nvidia.com/gpu"), false)};
  for (const json& cond : Field(Field(node, "status"), "conditions")) {
    if (Str(cond, "type") == "Ready") info.ready = Str(cond, "status") == "True";
  }
  info.cordoned = Field(Field(node, "spec"), "unschedulable") == json(true);
  for (const json& taint : Field(Field(node, "spec"), "taints")) {
    std::string effect = Str(taint, "effect");
    if (effect == "NoSchedule" || effect == "NoExecute") info.taints.push_back(taint);
  }
  for (const auto& [k, v] : Field(Field(node, "metadata"), "labels").items()) {
    if (v.is_string()) info.labels[k] = v.get<std::string>();
  }
  // What the pods bound to it hold.
  for (const auto& [key, use] : bound_) {
    if (use.node == name) info.free -= use.request;
  }
  if (it == node_index_.end()) {
    node_index_[name] = nodes_.size();
    nodes_.push_back(std::move(info));
  } else {
    nodes_[it->second] = std::move(info);
  }
  // Capacity, labels or taints may have changed: waiting pods try again.
  RetryParked();
}

void Scheduler::ObservePod(const PodChange& c) {
  // What it holds on its node.
  bool holds = !c.gone && !c.node.empty() && !c.terminal;
  // Most changes keep that as the version before had it (a bound pod's
  // status moved): then what it holds is known without a lookup.
  bool kept = holds && c.previous && !Terminal(*c.previous) &&
              Str(Field(*c.previous, "spec"), "nodeName") == c.node;
  auto it = kept ? bound_.end() : bound_.find(c.key);
  if (it != bound_.end() && (!holds || it->second.node != c.node)) {
    if (NodeInfo* n = NodeNamed(it->second.node)) n->free += it->second.request;
    bound_.erase(it);
    it = bound_.end();
    RetryParked();  // capacity freed
  }
  if (holds && !kept && it == bound_.end()) {
    ResourceRequest r = PodRequest(c.pod);
    if (NodeInfo* n = NodeNamed(c.node)) n->free -= r;
    bound_.emplace(c.key, Usage{c.node, r});
  }
  if (!c.gone && !c.deleting && !c.terminal && c.node.empty() && !parked_.count(c.key) &&
      queued_.insert(c.key).second) {
    to_schedule_.push_back(c.key);
  }
  if (c.gone || !c.node.empty()) {  // (most often both are empty: no hashing then)
    if (!parked_.empty()) parked_.erase(c.key);
    if (!last_unschedulable_.empty()) last_unschedulable_.erase(c.key);
  }
}

Scheduler::NodeInfo* Scheduler::NodeNamed(const std::string& name) {
  auto it = node_index_.find(name);
  return it == node_index_.end() ? nullptr : &nodes_[it->second];
}

void Scheduler::RetryParked() {
  for (const std::string& key : parked_) {
    if (queued_.insert(key).second) to_schedule_.push_back(key);
  }
  parked_.clear();
}

bool Scheduler::Sync() {
  bool changed = false;
  std::deque<std::string> work;
  work.swap(to_schedule_);
  queued_.clear();
  for (const std::string& key : work) {
    auto [ns, name] = SplitKey(key);
    auto pod = store_.Peek(Pods(), ns, name);
    if (!pod || !Str(Field(*pod, "spec"), "nodeName").empty() || Terminal(*pod) || Deleting(*pod))
      continue;
    changed = ScheduleOne(*pod) || changed;
  }
  return changed;
}

bool Scheduler::Fits(const NodeInfo& node, const PodNeeds& pod,
                     std::array<int, kReasons>& why) const {
  auto no = [&](Why reason) {
    ++why[reason];
    return false;
  };
  if (!node.ready) return no(kNotReady);
  // (Most nodes have no taints and most pods no selector: their checks are
  // skipped before any JSON is walked.)
  bool untolerated = node.cordoned;
  for (const json& taint : node.taints)
    untolerated = untolerated || !Tolerates(pod.tolerations, taint);
  if (untolerated) return no(kTaint);
  if (const json& selector = pod.node_selector; selector.is_object()) {
    for (auto it = selector.begin(); it != selector.end(); ++it) {
      auto label = node.labels.find(it.key());
      if (label == node.labels.end() ||
          label->second != (it->is_string() ? it->get<std::string>() : it->dump()))
        return no(kSelector);
    }
  }
  if (!AffinityAllows(pod.affinity_terms, node.labels)) return no(kSelector);
  bool fits = true;
  const ResourceRequest& need = pod.resources;
  if (need.milli_cpu > node.free.milli_cpu) fits = no(kCpu);
  if (need.memory_bytes > node.free.memory_bytes) fits = no(kMemory);
  if (need.gpus > node.free.gpus) fits = no(kGpu);
  return fits;
}

// Filters nodes as kube-scheduler does: from a rotating start, until enough
// feasible ones are found (all of a small cluster, a share of a big one),
// then takes the least allocated of those.
Scheduler::NodeInfo* Scheduler::PickNode(const json& pod, std::array<int, kReasons>& why) {
  // What the nodes are checked against, looked up once for all of them.
  const json& spec = Field(pod, "spec");
  PodNeeds needs{PodRequest(pod), Field(spec, "tolerations"), Field(spec, "nodeSelector"),
                 Field(Field(Field(Field(spec, "affinity"), "nodeAffinity"),
                             "requiredDuringSchedulingIgnoredDuringExecution"),
                       "nodeSelectorTerms")};
  size_t n = nodes_.size();
  size_t enough = n;
  if (n > 100) {
    size_t percent = std::max<size_t>(5, 50 - std::min<size_t>(45, n / 125));
    enough = std::max<size_t>(100, n * percent / 100);
  }
  NodeInfo* best = nullptr;
  size_t feasible = 0, visited = 0;
  for (; visited < n && feasible < enough; ++visited) {
    NodeInfo& node = nodes_[(next_start_node_ + visited) % n];
    if (!Fits(node, needs, why)) continue;
    ++feasible;
    if (!best || node.free.milli_cpu > best->free.milli_cpu) best = &node;
  }
  if (n > 0) next_start_node_ = (next_start_node_ + visited) % n;
  return best;
}

bool Scheduler::ScheduleOne(const json& original) {
  std::array<int, kReasons> why{};
  NodeInfo* best = PickNode(original, why);
  if (!best) return MarkUnschedulable(original, why);
  // By name: the Drain below may add or remove nodes, moving `best`.
  const std::string node = best->name;
  json pod = original;
  std::string ns = Str(Field(pod, "metadata"), "namespace");
  pod["spec"]["nodeName"] = node;
  SetCondition(pod["status"], "PodScheduled", "True", "", "", store_.clock().Now());
  if (!store_.Update(Pods(), ns, std::move(pod)).ok()) return false;
  // Count it now: the next pod of this pass must see the node's new load.
  feed_.Drain();
  (void)recorder_.Record(original, "Normal", "Scheduled",
                         "Successfully assigned " + KeyOf(original) + " to " + node);
  return true;
}

bool Scheduler::MarkUnschedulable(const json& original, const std::array<int, kReasons>& why) {
  static const char* const kWhy[] = {"node(s) were not ready",
                                     "node(s) had untolerated taint",
                                     "node(s) didn't match Pod's node affinity/selector",
                                     "Insufficient cpu",
                                     "Insufficient memory",
                                     "Insufficient nvidia.com/gpu"};
  std::string all = std::to_string(nodes_.size());
  std::string message = "0/" + all + " nodes are available: ";
  bool first = true;
  for (int r = 0; r < kReasons; ++r) {
    if (why[r] == 0) continue;
    message += (first ? "" : ", ") + std::to_string(why[r]) + " " + kWhy[r];
    first = false;
  }
  message += ". preemption: 0/" + all + " nodes are available: " + all +
             " Preemption is not helpful for scheduling.";
  std::string key = KeyOf(original);
  parked_.insert(key);
  if (last_unschedulable_[key] == message) return false;
  last_unschedulable_[key] = message;
  json pod = original;
  SetCondition(pod["status"], "PodScheduled", "False", "Unschedulable", message,
               store_.clock().Now());
  std::string ns = Str(Field(pod, "metadata"), "namespace");
  if (!store_.Update(Pods(), ns, std::move(pod)).ok()) return false;
  (void)recorder_.Record(original, "Warning", "FailedScheduling", message);
  return true;
}

}  // namespace portflow::fake
