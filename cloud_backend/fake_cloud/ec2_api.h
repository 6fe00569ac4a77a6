// The EC2 call the fake cloud serves: DescribeSubnets, so that a node
// group's subnets (what EKS's DescribeNodegroup names) can be turned into
// their zones. EC2's query protocol: Action and parameters form-encoded
// (POST) or in the query (GET), XML answers, errors as
// <Response><Errors><Error><Code>.
#pragma once

#include <string>
#include <vector>

#include "k8s_backend/fake_cluster/apiserver/http_types.h"

namespace portflow::fake_cloud {

// The subnet of `zone`: one per zone, named as EC2 names subnets
// ("subnet-" and 17 hex digits), the same for the same zone.
std::string SubnetOf(const std::string& zone);

// An EC2 error answer.
fake::HttpResponse Ec2Error(int status, const std::string& code, const std::string& message);

// Answers one EC2 request (`params`: its form body or query) of a cloud
// whose subnets are those of `zones`, in `region` of `account`.
fake::HttpResponse Ec2Api(const std::string& params, const std::vector<std::string>& zones,
                          const std::string& region, const std::string& account);

}  // namespace portflow::fake_cloud
