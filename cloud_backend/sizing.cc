#include "cloud_backend/sizing.h"

#include <algorithm>
#include <cmath>

namespace portflow::cloud {

double GroupView::HourlyPrice() const {
  return spot && type.spot_price > 0 ? type.spot_price : type.price;
}

ResourceRequest Allocatable(const InstanceType& type) {
  return {std::llround(type.vcpus * 1000), std::llround(type.memory_gib * 1024) * 1024 * 1024,
          type.accelerator.empty() ? 0 : type.accelerators};
}

std::vector<const GroupView*> Candidates(const SizingInput& in, const ResourceRequest& need) {
  std::vector<const GroupView*> out;
  for (const GroupView& g : in.groups) {
    if (in.spot == SpotPolicy::kNever && g.spot) continue;
    if (in.spot == SpotPolicy::kOnly && !g.spot) continue;
    if (need.FitsIn(Allocatable(g.type))) out.push_back(&g);
  }
  std::stable_sort(out.begin(), out.end(), [](const GroupView* a, const GroupView* b) {
    if (a->spot != b->spot) return a->spot;  // spot first (kPrefer; the others have one kind)
    return a->HourlyPrice() < b->HourlyPrice();
  });
  return out;
}

namespace {

// The free capacity of the nodes, then of the joining ones.
std::vector<ResourceRequest> Room(const SizingInput& in) {
  std::vector<ResourceRequest> room = in.free_on_nodes;
  for (const GroupView& g : in.groups) {
    auto joining = in.joining.find(g.name);
    for (int i = 0; joining != in.joining.end() && i < joining->second; ++i)
      room.push_back(Allocatable(g.type));
  }
  return room;
}

// Takes `pod` from the first room it fits in; false when none has room.
bool TakeRoom(std::vector<ResourceRequest>& room, const ResourceRequest& pod) {
  auto fits = std::find_if(room.begin(), room.end(),
                           [&](const ResourceRequest& r) { return pod.FitsIn(r); });
  if (fits == room.end()) return false;
  *fits -= pod;
  return true;
}

}  // namespace

std::vector<bool> Covered(const SizingInput& in) {
  std::vector<ResourceRequest> room = Room(in);
  std::vector<bool> out;
  for (const ResourceRequest& pod : in.waiting) out.push_back(TakeRoom(room, pod));
  return out;
}

std::map<std::string, int> GrowFor(const SizingInput& in) {
  std::vector<ResourceRequest> room = Room(in);
  std::map<std::string, int> desired;
  for (const GroupView& g : in.groups) desired[g.name] = g.desired_size;
  for (const ResourceRequest& pod : in.waiting) {
    if (TakeRoom(room, pod)) continue;
    for (const GroupView* g : Candidates(in, pod)) {
      if (in.avoid.count(g->name) || desired[g->name] >= g->max_size) continue;
      ++desired[g->name];
      room.push_back(Allocatable(g->type));
      room.back() -= pod;
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
