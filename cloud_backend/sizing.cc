#include "cloud_backend/sizing.h"

#include <algorithm>
#include <cmath>

namespace portflow::cloud {

double GroupView::HourlyPrice() const { return type.Hourly(spot); }

ResourceRequest Allocatable(const InstanceType& type) {
  return {std::llround(type.vcpus * 1000), std::llround(type.memory_gib * 1024) * 1024 * 1024,
          type.accelerator.empty() ? 0 : type.accelerators};
}

double Share(const ResourceRequest& request, const ResourceRequest& allocatable) {
  auto part = [](int64_t a, int64_t b) { return b > 0 ? static_cast<double>(a) / b : 0.0; };
  double share = std::max({part(request.milli_cpu, allocatable.milli_cpu),
                           part(request.memory_bytes, allocatable.memory_bytes),
                           part(request.gpus, allocatable.gpus)});
  return std::min(share, 1.0);
}

std::vector<const GroupView*> Candidates(const SizingInput& in, const ResourceRequest& need) {
  std::vector<const GroupView*> out;
  for (const GroupView& g : in.groups) {
    if (in.spot == SpotPolicy::kNever && g.spot) continue;
    if (in.spot == SpotPolicy::kOnly && !g.spot) continue;
    if (need.FitsIn(Allocatable(g.type))) out.push_back(&g);
  }
  // A pod without GPUs keeps off GPU nodes while another group fits it
  // (as the Cluster Autoscaler does): a g5 spot node costs more than a CPU
  // one on demand.
  auto wasted_gpus = [&](const GroupView* g) { return need.gpus == 0 && g->type.accelerators > 0; };
  std::stable_sort(out.begin(), out.end(), [&](const GroupView* a, const GroupView* b) {
    if (wasted_gpus(a) != wasted_gpus(b)) return wasted_gpus(b);
    if (a->spot != b->spot) return a->spot;  // spot first (kPrefer; the others have one kind)
    return a->HourlyPrice() < b->HourlyPrice();
  });
  return out;
}

namespace {

// The free capacity of the nodes, then of the joining ones.
std::vector<NodeRoom> Room(const SizingInput& in) {
  std::vector<NodeRoom> room = in.free_on_nodes;
  for (const GroupView& g : in.groups) {
    auto joining = in.joining.find(g.name);
    for (int i = 0; joining != in.joining.end() && i < joining->second; ++i)
      room.push_back({g.name, Allocatable(g.type)});
  }
  return room;
}

const std::string& AvoidOf(const SizingInput& in, size_t pod) {
  static const std::string kNone;
  return pod < in.waiting_avoid.size() ? in.waiting_avoid[pod] : kNone;
}

// Takes pod `i` from the first room it fits in (outside the group it
// avoids); false when none has room.
bool TakeRoom(std::vector<NodeRoom>& room, const SizingInput& in, size_t i) {
  const std::string& avoid = AvoidOf(in, i);
  auto fits = std::find_if(room.begin(), room.end(), [&](const NodeRoom& r) {
    return in.waiting[i].FitsIn(r.free) && (avoid.empty() || r.group != avoid);
  });
  if (fits == room.end()) return false;
  fits->free -= in.waiting[i];
  return true;
}

}  // namespace

std::vector<bool> Covered(const SizingInput& in) {
  std::vector<NodeRoom> room = Room(in);
  std::vector<bool> out;
  for (size_t i = 0; i < in.waiting.size(); ++i) out.push_back(TakeRoom(room, in, i));
  return out;
}

std::map<std::string, int> GrowFor(const SizingInput& in) {
  std::vector<NodeRoom> room = Room(in);
  std::map<std::string, int> desired;
  for (const GroupView& g : in.groups) desired[g.name] = g.desired_size;
  for (size_t i = 0; i < in.waiting.size(); ++i) {
    if (TakeRoom(room, in, i)) continue;
    const ResourceRequest& pod = in.waiting[i];
    for (const GroupView* g : Candidates(in, pod)) {
      if (in.avoid.count(g->name) || g->name == AvoidOf(in, i) || desired[g->name] >= g->max_size)
        continue;
      ++desired[g->name];
      room.push_back({g->name, Allocatable(g->type)});
      room.back().free -= pod;
      break;
    }
  }
  std::map<std::string, int> grown;
  for (const GroupView& g : in.groups) {
    if (desired[g.name] > g.desired_size) grown[g.name] = desired[g.name];
  }
  return grown;
}

}  // namespace portflow::cloud
