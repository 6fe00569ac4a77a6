// The scheduler: binds pending pods to Ready nodes that fit their cpu,
// memory and nvidia.com/gpu requests, their nodeSelector and the nodes'
// taints, as kube-scheduler does (a rotating start, the least allocated of
// the feasible nodes). A pod that fits nowhere is Unschedulable, with the
// scheduler's message, and waits until a node changes or frees capacity.
#pragma once

#include <array>
#include <deque>
#include <map>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/task.h"
#include "k8s_backend/fake_cluster/controllers/change_feed.h"
#include "k8s_backend/fake_cluster/controllers/event_recorder.h"
#include "k8s_backend/fake_cluster/store/object_store.h"

namespace portflow::fake {

class Scheduler {
 public:
  Scheduler(ObjectStore& store, ChangeFeed& feed, EventRecorder& recorder)
      : store_(store), feed_(feed), recorder_(recorder) {}

  void ObserveNode(const ObjectStore::Change& c);
  void ObservePod(const PodChange& c);
  // Binds (or marks Unschedulable) the pods queued since the last pass; true
  // when it wrote any.
  bool Sync();

 private:
  struct NodeInfo {
    std::string name;
    ResourceRequest free;
    bool ready = false, cordoned = false;
    std::vector<json> taints;  // NoSchedule / NoExecute ones
    std::map<std::string, std::string> labels;
  };
  enum Why { kNotReady, kTaint, kSelector, kCpu, kMemory, kGpu, kReasons };
  struct Usage {
    std::string node;
    ResourceRequest request;
  };

  bool ScheduleOne(const json& pod);
  // What of a pod each node is checked against, looked up once per pod.
  struct PodNeeds {
    ResourceRequest resources;
    const json& tolerations;
    const json& node_selector;
    const json& affinity_terms;  // the required node affinity's nodeSelectorTerms
  };
  // The node to bind `pod` to, or nullptr with how many nodes failed why.
  NodeInfo* PickNode(const json& pod, std::array<int, kReasons>& why);
  // True when `node` can take `pod`; else counts in `why` why not (every
  // resource it lacks, as the scheduler's message lists each).
  bool Fits(const NodeInfo& node, const PodNeeds& pod, std::array<int, kReasons>& why) const;
  bool MarkUnschedulable(const json& pod, const std::array<int, kReasons>& why);
  NodeInfo* NodeNamed(const std::string& name);
  void RetryParked();

  ObjectStore& store_;
  ChangeFeed& feed_;
  EventRecorder& recorder_;
  std::vector<NodeInfo> nodes_;
  std::unordered_map<std::string, size_t> node_index_;
  size_t next_start_node_ = 0;
  std::unordered_map<std::string, Usage> bound_;  // pod key -> what it holds
  std::deque<std::string> to_schedule_;
  std::unordered_set<std::string> queued_;
  std::unordered_set<std::string> parked_;                           // unschedulable for now
  std::unordered_map<std::string, std::string> last_unschedulable_;  // pod key -> message
};

}  // namespace portflow::fake
