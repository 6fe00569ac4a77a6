// The compute side of the fake cloud: EKS node groups whose desired size
// launches and terminates priced instances, which join the cloud cluster as
// Nodes after a provisioning delay; spot interruptions with a notice;
// stockouts per instance type and zone; a vCPU quota; and the bill.
// Time comes from a Clock, so a test runs it in virtual time: Sync() does
// what is due and says when it next has something to do.
#pragma once

#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "cloud_backend/catalog.h"
#include "core/clock.h"
#include "core/status.h"

namespace portflow::fake_cloud {

struct GroupConfig {
  std::string name;
  std::string capacity_type = "ON_DEMAND";  // or SPOT
  std::vector<std::string> instance_types;  // tried in order
  std::vector<std::string> zones;           // its subnets' zones, tried in order
  int min_size = 0, max_size = 10, desired_size = 0;
};

struct Instance {
  std::string id;  // i-00000000000000001
  std::string group, type, zone, capacity_type;
  double hourly_price = 0;  // USD, from the catalog (spot or on-demand)
  TimePoint launched;
  TimePoint ready;  // when its Node joins the cluster
  bool joined = false;
  std::optional<TimePoint> warned;    // a spot interruption warning was sent
  std::optional<TimePoint> draining;  // scaled in: its node is drained, then it ends
  std::optional<TimePoint> ended;
  // Billed per second from launch to end (or `now`), 60 s at least.
  double Cost(TimePoint now) const;
};

// An update EKS runs on a node group: InProgress until the instances it
// asked for have joined (or left), then Successful; Failed with the launch
// error when none could be launched.
struct GroupUpdate {
  std::string id, group, status;
  int desired = 0;
  std::string error_code, error_message;
  TimePoint created{};
};

// What the cloud cluster sees of its instances.
class NodeEvents {
 public:
  virtual ~NodeEvents() = default;
  virtual void Joined(const Instance& instance) = 0;  // a Node named `instance.id`
  virtual void Warned(const Instance& instance) = 0;  // spot: taken back after the notice
  virtual void Left(const Instance& instance) = 0;    // the Node goes
  // Scale-in of a joined instance: cordon its Node and evict its pods, as
  // EKS drains a managed node group's node; it ends once Drained() or
  // after the drain timeout.
  virtual void Drain(const Instance& instance) { (void)instance; }
  virtual bool Drained(const Instance& instance) {
    (void)instance;
    return true;
  }
};

struct Ec2Options {
  std::string region = "us-east-1";
  Duration provisioning = std::chrono::seconds(60);
  Duration spot_notice = std::chrono::seconds(120);
  const cloud::Catalog* catalog = nullptr;  // the shipped one when null
  // How long a scaled-in node may take to drain before it is ended anyway
  // (EKS: 15 minutes, whatever the pod disruption budgets say).
  Duration drain_timeout = std::chrono::minutes(15);
  // Spot instances are also taken back at random: each running one is
  // warned at this rate (interruptions an instance-hour; 0: only when a
  // fault asks), drawn from a generator seeded with `seed`, so that in
  // virtual time a run is the same every time.
  double spot_interruptions_per_hour = 0;
  uint64_t seed = 1;
  // The number in the first instance's id (i-00000000000000001 by default);
  // a cloud made again for a resumed run starts elsewhere, so that no new
  // instance takes an old one's id.
  unsigned long long first_instance = 1;
};

class FakeEc2 {
 public:
  FakeEc2(Clock& clock, Ec2Options options, NodeEvents* events = nullptr);

  // InvalidArgument for a group with an instance type the catalog lacks in
  // the region, or min <= desired <= max broken; AlreadyExists.
  Status AddGroup(GroupConfig group);
  std::vector<std::string> GroupNames() const;
  Result<GroupConfig> Group(const std::string& name) const;  // NotFound
  // The group's launch problem now ("" when none): InsufficientInstanceCapacity
  // or VcpuLimitExceeded, with a message.
  std::pair<std::string, std::string> Health(const std::string& name) const;

  // UpdateNodegroupConfig: a new desired size (and min, max when given).
  // FailedPrecondition while an earlier update of the group is InProgress.
  // InvalidArgument when min <= desired <= max would not hold.
  Result<GroupUpdate> Resize(const std::string& name, int desired, std::optional<int> min = {},
                             std::optional<int> max = {});
  Result<GroupUpdate> Update(const std::string& id) const;  // NotFound
  size_t UpdateCount() const { return updates_.size(); }    // asked for through EKS
  bool Updating(const std::string& group) const;            // an update InProgress

  // What the Cluster Autoscaler does through the Auto Scaling API, which EKS
  // then reports: a new desired size, without an EKS update (InvalidArgument
  // outside min and max); and TerminateInstanceInAutoScalingGroup with the
  // desired size lowered by one (NotFound for an instance not running).
  Status SetDesired(const std::string& name, int desired);
  Status TerminateInstance(const std::string& id);

  // Faults.
  void SetStockout(const std::string& type, const std::string& zone, bool out);
  void SetVcpuQuota(std::optional<double> vcpus);  // running vCPUs at most
  // Warns `count` running spot instances of `group` (newest first); each
  // ends after the notice. How many were warned.
  int InterruptSpot(const std::string& group, int count);

  // Does what is due: launches instances for groups below their desired size
  // (the first type and zone in stock, within the quota), joins those
  // provisioned, terminates those above it (not yet joined first, at once;
  // then the newest, drained first) and those whose notice ran out. When it
  // next has something to do.
  std::optional<TimePoint> Sync();
  // While held, the fake's time stands at `at`: a request is handled at one
  // instant, so an update's createdAt is when its instances launch or end.
  void Hold(std::optional<TimePoint> at) { held_ = at; }
  // Holds the time at `at` while it lives.
  struct HeldAt {
    HeldAt(FakeEc2& ec2, TimePoint at) : ec2(ec2) { ec2.Hold(at); }
    ~HeldAt() { ec2.Hold(std::nullopt); }
    FakeEc2& ec2;
  };

  std::vector<Instance> Instances() const;  // every instance launched, ended ones too
  double Cost(TimePoint now) const;         // of them all

 private:
  struct GroupState {
    GroupConfig config;
    std::string health_code, health_message;
  };
  int Running(const std::string& group) const;  // not ended, warned or draining
  double RunningVcpus() const;
  void Launch(GroupState& g, TimePoint now);
  void Warn(Instance& i, TimePoint now);
  // Warns spot instances at random, at the options' rate, for the time
  // since the last draw.
  void InterruptAtRandom(TimePoint now);
  void End(Instance& i, TimePoint now);
  void SettleUpdates();

  TimePoint Now() const { return held_.value_or(clock_.Now()); }

  Clock& clock_;
  std::optional<TimePoint> held_;
  Ec2Options options_;
  NodeEvents* events_;
  std::map<std::string, GroupState> groups_;
  std::vector<Instance> instances_;
  std::map<std::string, GroupUpdate> updates_;
  std::set<std::pair<std::string, std::string>> stockouts_;  // type, zone
  std::optional<double> vcpu_quota_;
  unsigned long long next_id_ = options_.first_instance;
  std::mt19937_64 random_;
  std::optional<TimePoint> last_draw_;  // of the random interruptions
};

}  // namespace portflow::fake_cloud
