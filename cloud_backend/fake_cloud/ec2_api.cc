#include "cloud_backend/fake_cloud/ec2_api.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "cloud_backend/aws/xml.h"
#include "core/encoding.h"

namespace portflow::fake_cloud {
namespace {

constexpr char kXmlns[] = "http://ec2.amazonaws.com/doc/2016-11-15/";
constexpr char kRequestId[] = "00000000-0000-4000-8000-000000000ec2";

// FNV-1a: a stable 64-bit hash of `s` (ids that do not change between runs).
uint64_t Hash(const std::string& s) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

std::string Hex17(uint64_t h) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0%016llx", static_cast<unsigned long long>(h));
  return buf;
}

// The values of Name.1, Name.2, ... in order, percent-decoded.
std::vector<std::string> Numbered(const std::string& params, const std::string& name) {
  std::vector<std::string> out;
  std::stringstream in(params);
  std::vector<std::pair<int, std::string>> found;
  for (std::string part; std::getline(in, part, '&');) {
    size_t eq = part.find('=');
    std::string key = part.substr(0, eq);
    if (key.rfind(name + ".", 0) != 0 || eq == std::string::npos) continue;
    int n = std::atoi(key.c_str() + name.size() + 1);
    found.push_back({n, PercentDecode(part.substr(eq + 1), true)});
  }
  std::sort(found.begin(), found.end());
  for (auto& [n, v] : found) out.push_back(std::move(v));
  return out;
}

std::string Param(const std::string& params, const std::string& name) {
  std::stringstream in(params);
  for (std::string part; std::getline(in, part, '&');) {
    if (part.rfind(name + "=", 0) == 0) return PercentDecode(part.substr(name.size() + 1), true);
  }
  return "";
}

}  // namespace

std::string SubnetOf(const std::string& zone) { return "subnet-" + Hex17(Hash(zone)); }

fake::HttpResponse Ec2Error(int status, const std::string& code, const std::string& message) {
  return {status, "text/xml;charset=UTF-8",
          "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>" +
              aws::XmlEscape(code) + "</Code><Message>" + aws::XmlEscape(message) +
              "</Message></Error></Errors><RequestID>" + kRequestId + "</RequestID></Response>",
          nullptr};
}

fake::HttpResponse Ec2Api(const std::string& params, const std::vector<std::string>& zones,
                          const std::string& region, const std::string& account) {
  std::string action = Param(params, "Action");
  if (action != "DescribeSubnets")
    return Ec2Error(400, "InvalidAction",
                    "The action " + action + " is not valid for this web service.");
  std::vector<std::string> wanted = Numbered(params, "SubnetId");
  std::vector<std::string> picked;  // zones, in the order asked (else the cloud's)
  for (const std::string& id : wanted) {
    auto zone = std::find_if(zones.begin(), zones.end(),
                             [&](const std::string& z) { return SubnetOf(z) == id; });
    if (zone == zones.end())
      return Ec2Error(400, "InvalidSubnetID.NotFound", "The subnet ID '" + id + "' does not exist");
    picked.push_back(*zone);
  }
  if (wanted.empty()) picked = zones;
  std::string vpc = "vpc-" + Hex17(Hash(account + region));
  std::string items;
  for (const std::string& zone : picked) {
    std::string id = SubnetOf(zone);
    size_t index = static_cast<size_t>(std::find(zones.begin(), zones.end(), zone) - zones.begin());
    std::string cidr = "10.0." + std::to_string(16 * index) + ".0/20";
    items += "<item><subnetId>" + id + "</subnetId><subnetArn>arn:aws:ec2:" + region + ":" +
             account + ":subnet/" + id + "</subnetArn><state>available</state><vpcId>" + vpc +
             "</vpcId><ownerId>" + account + "</ownerId><cidrBlock>" + cidr +
             "</cidrBlock><availableIpAddressCount>4091</availableIpAddressCount>"
             "<availabilityZone>" +
             aws::XmlEscape(zone) + "</availabilityZone><defaultForAz>false</defaultForAz>"
             "<mapPublicIpOnLaunch>false</mapPublicIpOnLaunch></item>";
  }
  return {200, "text/xml;charset=UTF-8",
          std::string("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DescribeSubnetsResponse "
                      "xmlns=\"") +
              kXmlns + "\"><requestId>" + kRequestId + "</requestId><subnetSet>" + items +
              "</subnetSet></DescribeSubnetsResponse>",
          nullptr};
}

}  // namespace portflow::fake_cloud
