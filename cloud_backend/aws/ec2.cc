#include "cloud_backend/aws/ec2.h"

#include "cloud_backend/aws/xml.h"
#include "core/encoding.h"

namespace portflow::aws {

Result<std::map<std::string, std::string>> Ec2::SubnetZones(const std::vector<std::string>& ids) {
  std::string body = "Action=DescribeSubnets&Version=2016-11-15";
  for (size_t i = 0; i < ids.size(); ++i)
    body += "&SubnetId." + std::to_string(i + 1) + "=" + PercentEncode(ids[i], false);
  Request r{"ec2",
            "POST",
            "/",
            {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}},
            body};
  ASSIGN_OR_RETURN(Response answer, client_.Call(r));
  // Each subnet's <item> names its id and zone once (its tags and CIDR
  // associations are items too, without either).
  std::vector<std::string> subnets = XmlElements(answer.body, "subnetId");
  std::vector<std::string> zones = XmlElements(answer.body, "availabilityZone");
  if (subnets.size() != zones.size())
    return Internal("DescribeSubnets: " + std::to_string(subnets.size()) + " subnets but " +
                    std::to_string(zones.size()) + " zones in the answer");
  std::map<std::string, std::string> out;
  for (size_t i = 0; i < subnets.size(); ++i) out[XmlUnescape(subnets[i])] = XmlUnescape(zones[i]);
  for (const std::string& id : ids) {
    if (!out.count(id)) return Internal("DescribeSubnets: no zone for subnet " + id);
  }
  return out;
}

}  // namespace portflow::aws
