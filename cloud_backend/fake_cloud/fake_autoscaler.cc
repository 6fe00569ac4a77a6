#include "cloud_backend/fake_cloud/fake_autoscaler.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <tuple>
#include <vector>

#include "cloud_backend/sizing.h"
#include "core/json_fields.h"
#include "k8s_backend/fake_cluster/controllers/pod_status.h"
#include "k8s_backend/fake_cluster/store/json_fields.h"

namespace portflow::fake_cloud {
namespace {

using json = nlohmann::json;

// Room on a node there is, or on one on its way or planned.
struct Room {
  std::map<std::string, std::string> labels;
  std::vector<std::string> zones;  // any of them, for a node not yet placed
  ResourceRequest free;
};

// Whether a node with `room`'s labels meets the pod's nodeSelector.
bool Selects(const json& pod, const Room& room) {
  for (const auto& [key, value] : Field(Field(pod, "spec"), "nodeSelector").items()) {
    if (!value.is_string()) return false;
    if (key == "topology.kubernetes.io/zone" && !room.zones.empty()) {
      if (std::find(room.zones.begin(), room.zones.end(), value.get<std::string>()) ==
          room.zones.end())
        return false;
      continue;
    }
    auto it = room.labels.find(key);
    if (it == room.labels.end() || it->second != value.get<std::string>()) return false;
  }
  return true;
}

// Puts `need` in the room of `rooms` it fits best (a GPU node's only when
// it wants GPUs or no other takes it, then the least cpu and memory left);
// false when none takes it.
bool FitInto(std::vector<Room>& rooms, const json& pod, const ResourceRequest& need) {
  Room* best = nullptr;
  auto waste = [&](const Room& r) {
    return std::tuple{need.gpus == 0 && r.free.gpus > 0, r.free.milli_cpu - need.milli_cpu,
                      r.free.memory_bytes - need.memory_bytes};
  };
  for (Room& r : rooms) {
    if (need.FitsIn(r.free) && Selects(pod, r) && (!best || waste(r) < waste(*best))) best = &r;
  }
  if (!best) return false;
  best->free -= need;
  return true;
}

}  // namespace

TimePoint FakeAutoscaler::Step(TimePoint now) {
  if (!last_scan_ || now - *last_scan_ >= options_.scan_interval) {
    last_scan_ = now;
    Scan(now);
  }
  return *last_scan_ + options_.scan_interval;
}

void FakeAutoscaler::Scan(TimePoint now) {
  json nodes = json::parse(cluster_.Handle({"GET", "/api/v1/nodes", {}, ""}).body, nullptr, false);
  json pods = json::parse(cluster_.Handle({"GET", "/api/v1/pods", {}, ""}).body, nullptr, false);
  if (!nodes.is_object() || !pods.is_object()) return;
  std::map<std::string, ResourceRequest> held;
  std::map<std::string, int> pods_on;
  std::vector<const json*> waiting;
  for (const json& p : Field(pods, "items")) {
    std::string phase = Str(Field(p, "status"), "phase");
    if (phase == "Succeeded" || phase == "Failed") continue;
    std::string node = Str(Field(p, "spec"), "nodeName");
    if (!node.empty()) {
      held[node] += fake::PodRequest(p);
      ++pods_on[node];
      continue;
    }
    for (const json& c : Field(Field(p, "status"), "conditions")) {
      if (Str(c, "type") == "PodScheduled" && Str(c, "reason") == "Unschedulable")
        waiting.push_back(&p);
    }
  }

  // The room pods could go to without a new node: the free room of the
  // schedulable nodes, then the nodes on their way.
  std::vector<Room> rooms;
  for (const json& n : Field(nodes, "items")) {
    const json& meta = Field(n, "metadata");
    std::string name = Str(meta, "name");
    bool tainted = Field(Field(n, "spec"), "unschedulable") == json(true);
    for (const json& t : Field(Field(n, "spec"), "taints"))
      tainted = tainted || Str(t, "effect") == "NoSchedule" || Str(t, "effect") == "NoExecute";
    if (tainted) continue;
    Room r;
    for (const auto& [k, v] : Field(meta, "labels").items())
      if (v.is_string()) r.labels[k] = v;
    const json& a = Field(Field(n, "status"), "allocatable");
    r.free = {fake::Quantity(Field(a, "cpu"), true), fake::Quantity(Field(a, "memory"), false),
              fake::Quantity(Field(a, "nvidia.com/gpu"), false)};
    r.free -= held[name];
    rooms.push_back(std::move(r));
  }
  std::map<std::string, GroupConfig> groups;
  std::map<std::string, cloud::InstanceType> type_of;
  for (const std::string& name : ec2_.GroupNames()) {
    GroupConfig g = *ec2_.Group(name);
    auto type = catalog_.Find(g.instance_types[0], region_);
    if (!type) continue;
    groups[name] = g;
    type_of[name] = *type;
  }
  auto room_of = [&](const GroupConfig& g) {
    const cloud::InstanceType& t = type_of.at(g.name);
    return Room{{{"eks.amazonaws.com/nodegroup", g.name},
                 {"eks.amazonaws.com/capacityType", g.capacity_type},
                 {"node.kubernetes.io/instance-type", t.name},
                 {"topology.kubernetes.io/region", region_}},
                g.zones,
                cloud::Allocatable(t)};
  };
  std::map<std::string, int> joined;  // running instances with a Node
  for (const Instance& i : ec2_.Instances()) {
    if (!i.ended && !i.warned && !i.draining && i.joined) ++joined[i.group];
  }
  for (const auto& [name, g] : groups) {
    for (int k = joined[name]; k < g.desired_size; ++k) rooms.push_back(room_of(g));
  }

  // Scale up: each pod that fits nowhere gets the cheapest group that fits
  // it; pods with a nodeSelector first, then the largest.
  std::stable_sort(waiting.begin(), waiting.end(), [](const json* a, const json* b) {
    auto key = [](const json* p) {
      ResourceRequest r = fake::PodRequest(*p);
      return std::tuple{Field(Field(*p, "spec"), "nodeSelector").empty(), -r.gpus, -r.milli_cpu,
                        -r.memory_bytes};
    };
    return key(a) < key(b);
  });
  std::map<std::string, int> more;
  for (const json* pod : waiting) {
    ResourceRequest need = fake::PodRequest(*pod);
    if (FitInto(rooms, *pod, need)) continue;
    const GroupConfig* best = nullptr;
    double best_price = 0;
    for (const auto& [name, g] : groups) {
      const cloud::InstanceType& t = type_of.at(name);
      double price = t.Hourly(g.capacity_type == "SPOT");
      Room fresh = room_of(g);
      auto asked = more.find(name);
      int planned = asked == more.end() ? 0 : asked->second;
      if (g.desired_size + planned >= g.max_size || !need.FitsIn(fresh.free) ||
          !Selects(*pod, fresh) || !ec2_.Health(name).first.empty())
        continue;
      if (!best || price < best_price) {
        best = &g;
        best_price = price;
      }
    }
    if (!best) continue;  // the real one says so in an event: NotTriggerScaleUp
    ++more[best->name];
    Room fresh = room_of(*best);
    fresh.free -= need;
    rooms.push_back(std::move(fresh));
  }
  for (const auto& [name, count] : more) {
    if (ec2_.SetDesired(name, groups[name].desired_size + count).ok()) scale_ups_ += count;
  }

  // Scale down: a node with no pod for long enough goes, and its group
  // shrinks by one, down to its min.
  for (const Instance& i : ec2_.Instances()) {
    if (i.ended || i.warned || i.draining || !i.joined) {
      unneeded_since_.erase(i.id);
      continue;
    }
    if (pods_on[i.id] > 0 || more.count(i.group)) {
      unneeded_since_.erase(i.id);
      continue;
    }
    TimePoint since = unneeded_since_.emplace(i.id, now).first->second;
    if (now - since >= options_.scale_down_unneeded && ec2_.TerminateInstance(i.id).ok()) {
      unneeded_since_.erase(i.id);
      ++scale_downs_;
    }
  }
}

}  // namespace portflow::fake_cloud
