// The EKS calls the cloud backend makes: a cluster's node groups, read and
// resized (REST-JSON, signing name "eks").
#pragma once

#include <map>
#include <string>
#include <vector>

#include "cloud_backend/aws/aws_client.h"

namespace portflow::aws {

struct NodeGroup {
  std::string name;
  std::string status;         // ACTIVE, UPDATING, CREATING...
  std::string capacity_type;  // ON_DEMAND or SPOT
  std::vector<std::string> instance_types;
  std::vector<std::string> subnets;
  int min_size = 0, max_size = 0, desired_size = 0;
  std::map<std::string, std::string> labels;
  // Its health issues, "CODE: message; ..." ("" when healthy): how EKS
  // says that instances cannot be launched (a stockout, the vCPU quota).
  std::string health;
};

// An update EKS runs for a node group: InProgress, Successful, Failed or
// Cancelled, with its errors.
struct NodeGroupUpdate {
  std::string id;
  std::string status;
  std::string errors;                   // "CODE: message; ..." when it failed
  std::optional<TimePoint> created_at;  // createdAt, by the cloud's clock
};

class Eks {
 public:
  Eks(Client& client, std::string cluster) : client_(client), cluster_(std::move(cluster)) {}

  Result<std::vector<std::string>> ListNodegroups();
  Result<NodeGroup> DescribeNodegroup(const std::string& name);
  // UpdateNodegroupConfig with scalingConfig.desiredSize only.
  Result<NodeGroupUpdate> SetDesiredSize(const std::string& name, int desired);
  Result<NodeGroupUpdate> DescribeUpdate(const std::string& name, const std::string& id);

 private:
  Result<std::string> Json(const std::string& method, const std::string& path,
                           const std::string& body = "");

  Client& client_;
  std::string cluster_;
};

}  // namespace portflow::aws
