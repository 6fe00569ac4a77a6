// The EC2 call the cloud backend makes: DescribeSubnets, for the zones of a
// node group's subnets (query protocol: POST / form-encoded, XML answers,
// signing name "ec2").
#pragma once

#include <map>
#include <string>
#include <vector>

#include "cloud_backend/aws/aws_client.h"

namespace portflow::aws {

class Ec2 {
 public:
  explicit Ec2(Client& client) : client_(client) {}

  // Subnet id -> its availability zone, for each of `ids`. NotFound
  // (InvalidSubnetID.NotFound) when one does not exist.
  Result<std::map<std::string, std::string>> SubnetZones(const std::vector<std::string>& ids);

 private:
  Client& client_;
};

}  // namespace portflow::aws
