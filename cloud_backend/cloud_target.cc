// A cloud target's settings: the cloud's own, and the kubernetes backend's
// for the rest.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "cloud_backend/cloud_backend.h"
#include "core/quantity.h"
#include "core/targets.h"
#include "k8s_backend/render.h"

namespace portflow {
namespace {

const std::vector<std::string> kCloudKeys = {
    "backend",           "provider",       "region",       "cluster",
    "profile",           "endpoint",       "nodeGroups",   "spot",
    "maxHourlyCost",     "scaleDownAfter", "provisioning", "catalog",
    "interruptionQueue", "spotNotice",     "preemptions",  "autoscaler"};

}  // namespace

Result<CloudTarget> ParseCloudTarget(const std::map<std::string, std::string>& settings) {
  CloudTarget t;
  for (const auto& [key, value] : settings) {
    if (std::find(kCloudKeys.begin(), kCloudKeys.end(), key) == kCloudKeys.end()) {
      t.kubernetes[key] = value;
      continue;
    }
    auto duration = [&](Duration& into) -> Status {
      auto d = ParseDuration(value);
      if (!d.ok()) return InvalidArgument("setting " + key + ": " + d.status().message());
      into = *d;
      return OkStatus();
    };
    if (key == "provider") {
      if (value != "aws")
        return InvalidArgument("setting provider: \"" + value + "\" is not one portflow has (aws)");
      t.provider = value;
    } else if (key == "region") {
      t.region = value;
    } else if (key == "cluster") {
      t.cluster = value;
    } else if (key == "profile") {
      t.profile = value;
    } else if (key == "endpoint") {
      if (value.rfind("http://", 0) != 0 && value.rfind("https://", 0) != 0)
        return InvalidArgument("setting endpoint: \"" + value + "\" is not an http(s) URL");
      t.endpoint = value;
    } else if (key == "interruptionQueue") {
      t.interruption_queue = value;
    } else if (key == "nodeGroups") {
      t.node_groups = SettingList(value);
      if (t.node_groups.empty())
        return InvalidArgument("setting nodeGroups: name at least one node group");
    } else if (key == "spot") {
      if (value == "prefer") {
        t.spot = cloud::SpotPolicy::kPrefer;
      } else if (value == "never") {
        t.spot = cloud::SpotPolicy::kNever;
      } else if (value == "only") {
        t.spot = cloud::SpotPolicy::kOnly;
      } else {
        return InvalidArgument("setting spot: \"" + value + "\" must be prefer, never or only");
      }
    } else if (key == "maxHourlyCost") {
      auto usd = ParseUsd(value);
      if (!usd.ok()) return InvalidArgument("setting maxHourlyCost: " + usd.status().message());
      t.max_hourly_cost = *usd;
    } else if (key == "scaleDownAfter") {
      RETURN_IF_ERROR(duration(t.scale_down_after));
    } else if (key == "provisioning") {
      RETURN_IF_ERROR(duration(t.provisioning));
    } else if (key == "spotNotice") {
      RETURN_IF_ERROR(duration(t.spot_notice));
    } else if (key == "catalog") {
      t.catalog = value;
    } else if (key == "autoscaler") {
      if (value == "portflow") {
        t.autoscaler = CloudTarget::Autoscaler::kPortflow;
      } else if (value == "cluster") {
        t.autoscaler = CloudTarget::Autoscaler::kCluster;
      } else {
        return InvalidArgument("setting autoscaler: \"" + value +
                               "\" must be portflow (portflow sizes the node groups) or cluster "
                               "(the cluster's autoscaler does)");
      }
    } else if (key == "preemptions") {
      char* end = nullptr;
      long n = std::strtol(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || n < 0 || n > 100)
        return InvalidArgument("setting preemptions: \"" + value +
                               "\" must be a whole number, 0 to 100");
      t.preemptions = static_cast<int>(n);
    }
  }
  if (t.autoscaler == CloudTarget::Autoscaler::kCluster) {
    // What only a backend that sizes the groups can keep to.
    for (const char* key : {"maxHourlyCost", "scaleDownAfter"}) {
      if (settings.count(key))
        return InvalidArgument(std::string("setting ") + key +
                               ": with autoscaler: cluster the cluster's autoscaler adds and "
                               "removes the nodes, so portflow cannot keep to it; set it in the "
                               "autoscaler, or use autoscaler: portflow");
    }
  }
  if (t.cluster.empty())
    return InvalidArgument("setting cluster: a cloud target names its cluster (cluster: NAME)");
  if (t.node_groups.empty())
    return InvalidArgument(
        "setting nodeGroups: a cloud target names the node groups portflow may scale");
  // The kubernetes settings are checked here too, so that a mistake is
  // named before anything is made.
  std::map<std::string, std::string> k = t.kubernetes;
  if (Status st = k8s::ParseKubernetesTarget(k).status(); !st.ok()) {
    std::string message = st.message();
    const std::string theirs = "for the kubernetes backend (known: ";
    if (size_t at = message.find(theirs); at != std::string::npos) {
      std::string ours;
      for (const std::string& key : kCloudKeys)
        if (key != "backend") ours += key + ", ";
      message.replace(at, theirs.size(), "for the cloud backend (known: " + ours);
    }
    return InvalidArgument(message);
  }
  return t;
}

}  // namespace portflow
