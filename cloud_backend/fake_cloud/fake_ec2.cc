#include "cloud_backend/fake_cloud/fake_ec2.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace portflow::fake_cloud {
namespace {

std::string Id(const char* format, unsigned long long n) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, n);
  return buf;
}

}  // namespace

double Instance::Cost(TimePoint now) const {
  Duration billed = std::max<Duration>(ended.value_or(now) - launched, std::chrono::seconds(60));
  return std::chrono::duration<double>(billed).count() * hourly_price / 3600.0;
}

FakeEc2::FakeEc2(Clock& clock, Ec2Options options, NodeEvents* events)
    : clock_(clock), options_(std::move(options)), events_(events), random_(options_.seed) {
  if (!options_.catalog) options_.catalog = &cloud::Catalog::Shipped();
}

Status FakeEc2::AddGroup(GroupConfig group) {
  if (groups_.count(group.name)) return AlreadyExists("node group " + group.name + " exists");
  if (group.instance_types.empty())
    return InvalidArgument("node group " + group.name + " has no instance types");
  for (const std::string& type : group.instance_types) {
    if (!options_.catalog->Find(type, options_.region))
      return InvalidArgument("node group " + group.name + ": instance type " + type +
                             " is not in the catalog for " + options_.region);
  }
  if (group.zones.empty())
    group.zones = options_.catalog->Zones(group.instance_types[0], options_.region);
  if (group.min_size < 0 || group.min_size > group.desired_size ||
      group.desired_size > group.max_size)
    return InvalidArgument("node group " + group.name + ": min <= desired <= max must hold");
  std::string name = group.name;
  groups_[name] = {std::move(group), "", ""};
  return OkStatus();
}

std::vector<std::string> FakeEc2::GroupNames() const {
  std::vector<std::string> out;
  for (const auto& [name, g] : groups_) out.push_back(name);
  return out;
}

Result<GroupConfig> FakeEc2::Group(const std::string& name) const {
  auto it = groups_.find(name);
  if (it == groups_.end()) return NotFound("No node group found for name: " + name + ".");
  return it->second.config;
}

std::pair<std::string, std::string> FakeEc2::Health(const std::string& name) const {
  auto it = groups_.find(name);
  if (it == groups_.end()) return {};
  return {it->second.health_code, it->second.health_message};
}

Result<GroupUpdate> FakeEc2::Resize(const std::string& name, int desired, std::optional<int> min,
                                    std::optional<int> max) {
  auto it = groups_.find(name);
  if (it == groups_.end()) return NotFound("No node group found for name: " + name + ".");
  GroupConfig& c = it->second.config;
  // EKS runs one update of a group at a time (ResourceInUseException).
  if (Updating(name))
    return FailedPrecondition("Nodegroup cannot be updated as it is currently not in Active State");
  int low = min.value_or(c.min_size), high = max.value_or(c.max_size);
  if (low < 0 || low > desired || desired > high)
    return InvalidArgument("desired size " + std::to_string(desired) + " must be within min " +
                           std::to_string(low) + " and max " + std::to_string(high));
  c.min_size = low;
  c.max_size = high;
  c.desired_size = desired;
  GroupUpdate u{Id("00000000-0000-4000-8000-%012llu", updates_.size() + 1),
                name,
                "InProgress",
                desired,
                "",
                "",
                Now()};
  updates_[u.id] = u;
  return u;
}

bool FakeEc2::Updating(const std::string& group) const {
  for (const auto& [id, u] : updates_) {
    if (u.group == group && u.status == "InProgress") return true;
  }
  return false;
}

Status FakeEc2::SetDesired(const std::string& name, int desired) {
  auto it = groups_.find(name);
  if (it == groups_.end()) return NotFound("No node group found for name: " + name + ".");
  GroupConfig& c = it->second.config;
  if (desired < c.min_size || desired > c.max_size)
    return InvalidArgument("desired size " + std::to_string(desired) + " must be within min " +
                           std::to_string(c.min_size) + " and max " + std::to_string(c.max_size));
  c.desired_size = desired;
  return OkStatus();
}

Status FakeEc2::TerminateInstance(const std::string& id) {
  for (Instance& i : instances_) {
    if (i.id != id || i.ended || i.warned || i.draining) continue;
    GroupConfig& c = groups_.at(i.group).config;
    if (c.desired_size <= c.min_size)
      return InvalidArgument("node group " + c.name + " is at its min size " +
                             std::to_string(c.min_size));
    --c.desired_size;
    End(i, Now());
    return OkStatus();
  }
  return NotFound("no running instance " + id);
}

Result<GroupUpdate> FakeEc2::Update(const std::string& id) const {
  auto it = updates_.find(id);
  if (it == updates_.end()) return NotFound("No update found for ID: " + id + ".");
  return it->second;
}

void FakeEc2::SetStockout(const std::string& type, const std::string& zone, bool out) {
  if (out) {
    stockouts_.insert({type, zone});
  } else {
    stockouts_.erase({type, zone});
  }
}

void FakeEc2::SetVcpuQuota(std::optional<double> vcpus) { vcpu_quota_ = vcpus; }

int FakeEc2::InterruptSpot(const std::string& group, int count) {
  TimePoint now = Now();
  int warned = 0;
  for (auto it = instances_.rbegin(); it != instances_.rend() && warned < count; ++it) {
    if (it->group != group || it->capacity_type != "SPOT" || it->ended || it->warned) continue;
    Warn(*it, now);
    ++warned;
  }
  return warned;
}

void FakeEc2::Warn(Instance& i, TimePoint now) {
  i.warned = now;
  if (events_ && i.joined) events_->Warned(i);
}

void FakeEc2::InterruptAtRandom(TimePoint now) {
  if (options_.spot_interruptions_per_hour <= 0) return;
  if (!last_draw_) last_draw_ = now;
  double hours = std::chrono::duration<double>(now - *last_draw_).count() / 3600.0;
  last_draw_ = now;
  if (hours <= 0) return;
  // The chance that a Poisson process of this rate fires within `hours`.
  double p = 1 - std::exp(-options_.spot_interruptions_per_hour * hours);
  std::uniform_real_distribution<double> uniform(0, 1);
  for (Instance& i : instances_) {
    if (i.capacity_type != "SPOT" || i.ended || i.warned || i.draining) continue;
    if (uniform(random_) < p) Warn(i, now);
  }
}

int FakeEc2::Running(const std::string& group) const {
  return static_cast<int>(std::count_if(instances_.begin(), instances_.end(), [&](const auto& i) {
    return i.group == group && !i.ended && !i.warned && !i.draining;
  }));
}

double FakeEc2::RunningVcpus() const {
  double sum = 0;
  for (const Instance& i : instances_) {
    if (i.ended) continue;
    if (auto t = options_.catalog->Find(i.type, options_.region)) sum += t->vcpus;
  }
  return sum;
}

void FakeEc2::Launch(GroupState& g, TimePoint now) {
  const GroupConfig& c = g.config;
  for (const std::string& type : c.instance_types) {
    for (const std::string& zone : c.zones) {
      if (stockouts_.count({type, zone})) continue;
      auto row = options_.catalog->FindIn(type, options_.region, {zone});
      if (vcpu_quota_ && RunningVcpus() + row->vcpus > *vcpu_quota_) {
        g.health_code = "VcpuLimitExceeded";
        g.health_message =
            "You have requested more vCPU capacity than your current vCPU limit "
            "of " +
            std::to_string(static_cast<int>(*vcpu_quota_)) +
            " allows for the instance bucket that the specified instance type "
            "belongs to.";
        return;
      }
      Instance i;
      i.id = Id("i-%017llx", next_id_++);
      i.group = c.name;
      i.type = type;
      i.zone = zone;
      i.capacity_type = c.capacity_type;
      i.hourly_price = row->Hourly(c.capacity_type == "SPOT");
      i.launched = now;
      i.ready = now + options_.provisioning;
      instances_.push_back(std::move(i));
      g.health_code.clear();
      g.health_message.clear();
      return;
    }
  }
  g.health_code = "InsufficientInstanceCapacity";
  g.health_message = "We currently do not have sufficient " + c.instance_types.back() +
                     " capacity in the Availability Zone you requested (" + c.zones.back() + ").";
}

void FakeEc2::End(Instance& i, TimePoint now) {
  i.ended = now;
  if (events_ && i.joined) events_->Left(i);
}

std::optional<TimePoint> FakeEc2::Sync() {
  TimePoint now = Now();
  InterruptAtRandom(now);
  for (Instance& i : instances_) {
    if (i.ended) continue;
    if (i.warned && now >= *i.warned + options_.spot_notice) {
      End(i, *i.warned + options_.spot_notice);  // when it was due, however late this Sync
    } else if (i.draining &&
               (!events_ || events_->Drained(i) || now >= *i.draining + options_.drain_timeout)) {
      End(i, now);
    } else if (!i.joined && now >= i.ready) {
      i.joined = true;
      if (events_) events_->Joined(i);
      if (events_ && i.warned) events_->Warned(i);
    }
  }
  for (auto& [name, g] : groups_) {
    int running = Running(name);
    for (; running < g.config.desired_size; ++running) {
      size_t before = instances_.size();
      Launch(g, now);
      if (instances_.size() == before) break;
    }
    // Scale in: what has not joined yet first, at once; then the newest,
    // drained first.
    for (; running > g.config.desired_size; --running) {
      Instance* pick = nullptr;
      for (Instance& i : instances_) {
        if (i.group != name || i.ended || i.warned || i.draining) continue;
        if (!pick || (pick->joined && !i.joined) ||
            (pick->joined == i.joined && i.launched >= pick->launched))
          pick = &i;
      }
      if (!pick->joined || !events_) {
        End(*pick, now);
        continue;
      }
      pick->draining = now;
      events_->Drain(*pick);
      if (events_->Drained(*pick)) End(*pick, now);  // nothing to evict: it goes at once
    }
    if (running >= g.config.desired_size) {
      g.health_code.clear();
      g.health_message.clear();
    }
  }
  SettleUpdates();
  std::optional<TimePoint> next;
  auto earlier = [&](TimePoint t) {
    if (!next || t < *next) next = t;
  };
  for (const Instance& i : instances_) {
    if (i.ended) continue;
    if (!i.joined) earlier(i.ready);
    if (i.warned) earlier(*i.warned + options_.spot_notice);
    if (i.draining) earlier(*i.draining + options_.drain_timeout);
  }
  return next;
}

void FakeEc2::SettleUpdates() {
  for (auto& [id, u] : updates_) {
    if (u.status != "InProgress") continue;
    const GroupState& g = groups_.at(u.group);
    int live = 0, joined = 0;
    for (const Instance& i : instances_) {
      if (i.group != u.group || i.ended || i.warned || i.draining) continue;
      ++live;
      joined += i.joined;
    }
    if (live < u.desired && !g.health_code.empty()) {
      u.status = "Failed";
      u.error_code = g.health_code;
      u.error_message = g.health_message;
    } else if (live == u.desired && joined == live) {
      u.status = "Successful";
    }
  }
}

std::vector<Instance> FakeEc2::Instances() const { return instances_; }

double FakeEc2::Cost(TimePoint now) const {
  double sum = 0;
  for (const Instance& i : instances_) sum += i.Cost(now);
  return sum;
}

}  // namespace portflow::fake_cloud
