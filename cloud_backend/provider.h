// What the cloud backend asks of a cloud: its node groups, read and resized,
// and the spot interruption warnings. AWS (EKS and SQS) implements it;
// a GKE adapter (node pools' setSize and operation polling) would too.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cloud_backend/aws/aws_client.h"
#include "core/status.h"

namespace portflow::cloud {

struct NodeGroupState {
  std::string name;
  bool spot = false;
  std::vector<std::string> instance_types;
  int min_size = 0, max_size = 0, desired_size = 0;
  std::string health;              // why it cannot launch now ("" when it can)
  std::vector<std::string> zones;  // its subnets' zones, tried in order (empty: unknown)
};

// A spot interruption warning: the instance, and when the cloud gave it
// (the instance ends the notice after that), where the warning says.
struct SpotWarning {
  std::string instance;
  std::optional<TimePoint> time;
};

class Provider {
 public:
  virtual ~Provider() = default;
  virtual Result<NodeGroupState> Group(const std::string& name) = 0;
  // Asks for `desired` nodes; they come (or go) later. Returns when the
  // cloud took the new size (by its clock when it says, else `now`).
  // Aborted while the group still applies an earlier resize (EKS's
  // ResourceInUseException): ask again later.
  virtual Result<TimePoint> Resize(const std::string& group, int desired, TimePoint now) = 0;
  // The instances warned of a spot interruption since the last call (each
  // warning is taken off the queue once read).
  virtual Result<std::vector<SpotWarning>> Interruptions() = 0;
  // Calls made so far (requests per attempt in benchmarks).
  virtual int64_t calls() const = 0;
};

// EKS node groups of `cluster` (their subnets' zones from EC2's
// DescribeSubnets) and the SQS queue `queue` (EventBridge's "EC2 Spot
// Instance Interruption Warning" events, as Karpenter reads them).
std::unique_ptr<Provider> NewAwsProvider(std::unique_ptr<aws::Client> client, std::string cluster,
                                         std::string queue);

}  // namespace portflow::cloud
