// Which node groups to grow for pods no node takes, and what a node of each
// costs: the cloud backend's decisions, as pure functions of what it read
// (the groups, the nodes, the waiting pods), so that they are tested apart
// from any cloud.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "cloud_backend/catalog.h"
#include "core/task.h"

namespace portflow::cloud {

// A node group portflow may scale, with the instance type it sizes by (the
// group's first) priced from the catalog.
struct GroupView {
  std::string name;
  bool spot = false;
  InstanceType type;
  int min_size = 0, max_size = 0, desired_size = 0;
  // USD an hour for one node: the spot price for a spot group.
  double HourlyPrice() const;
};

// What an instance type offers pods (vCPUs, memory, GPUs).
ResourceRequest Allocatable(const InstanceType& type);

// The share of a node of `allocatable` that a pod requesting `request`
// holds: its largest fraction of cpu, memory or GPUs, at most 1; what it is
// billed of the node's price.
double Share(const ResourceRequest& request, const ResourceRequest& allocatable);

// spot: prefer (spot groups first, else on-demand), never, only.
enum class SpotPolicy { kPrefer, kNever, kOnly };

// What a node has free, and its node group ("" for none).
struct NodeRoom {
  std::string group;
  ResourceRequest free;
};

struct SizingInput {
  std::vector<GroupView> groups;
  // What each schedulable node has free now, and nodes asked for that have
  // not joined yet (per group name), which will have their type's all.
  std::vector<NodeRoom> free_on_nodes;
  std::map<std::string, int> joining;
  // Pods no node took, in the order they came, and for each the group it
  // is not to be placed in ("" for none): where it was preempted.
  std::vector<ResourceRequest> waiting;
  std::vector<std::string> waiting_avoid;
  SpotPolicy spot = SpotPolicy::kPrefer;
  // Groups not to grow now (their last launch failed, or a preemption).
  std::set<std::string> avoid;
};

// The groups in the order they are tried for a pod of `need`: those the
// policy allows whose type fits it; GPU groups last for a pod without GPUs;
// then spot first under kPrefer, then cheapest.
std::vector<const GroupView*> Candidates(const SizingInput& in, const ResourceRequest& need);

// Each group's new desired size (only those that grow): every waiting pod
// first fits where there is room (a node's free capacity, or a joining
// node's), else on a new node of its first candidate with room to grow;
// never in the group it is to avoid.
std::map<std::string, int> GrowFor(const SizingInput& in);

// For each waiting pod, whether there is room for it (first fit, in order)
// on the nodes' free capacity and the joining nodes.
std::vector<bool> Covered(const SizingInput& in);

}  // namespace portflow::cloud
