// The "cloud" backend: Kubernetes capacity in a cloud account whose node
// groups grow, shrink, cost money and can be taken back. Jobs go through
// the kubernetes backend on the cloud cluster's API server (a
// BackendWrapper); this backend adds sizing (it raises the desired size of
// the cheapest node group that fits a pod no node takes, and lowers it
// again after scaleDownAfter idle and when the run ends; or, with
// `autoscaler: cluster`, leaves that to the cluster's autoscaler and only
// reads), prices, and the run's cost. The provider (provider.h) is AWS for
// now.
//
// The built-in "cloud-rehearsal" backend is the same over the fake cloud
// embedded in this process, in execute mode (pods are local processes),
// with nodes ready 3 s after they are asked for.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cloud_backend/sizing.h"
#include "core/clock.h"
#include "core/status.h"

namespace portflow {

struct CloudTarget {
  std::string provider = "aws";
  std::string region = "us-east-1";
  std::string cluster;   // the EKS cluster
  std::string profile;   // AWS credentials profile; "" for the usual chain
  std::string endpoint;  // one endpoint for every AWS service (the fake cloud)
  std::string interruption_queue = "portflow-interruptions";
  std::vector<std::string> node_groups;  // those portflow may scale
  cloud::SpotPolicy spot = cloud::SpotPolicy::kPrefer;
  std::optional<double> max_hourly_cost;  // USD
  Duration scale_down_after = std::chrono::minutes(10);
  // How long a new node takes to be Ready, for estimated starts.
  Duration provisioning = std::chrono::seconds(60);
  // From a spot interruption warning to the instance's end (AWS: 2 min).
  Duration spot_notice = std::chrono::seconds(120);
  std::string catalog;  // a catalog file; the shipped one when empty
  // How often an attempt may be preempted (a spot interruption) and run
  // again without using a retry (the engine's max_preemptions).
  int preemptions = 3;
  // Who sizes the node groups: portflow (it raises and lowers their desired
  // sizes), or the cluster's own autoscaler (portflow only reads them, and
  // says what a pod waits for).
  enum class Autoscaler { kPortflow, kCluster };
  Autoscaler autoscaler = Autoscaler::kPortflow;
  // The rest, for the kubernetes backend (context, namespace, image...).
  std::map<std::string, std::string> kubernetes;
};

// The cloud settings of a target; the others are left for the kubernetes
// backend. Errors name the setting (for TargetProblem's FILE:LINE:COL).
Result<CloudTarget> ParseCloudTarget(const std::map<std::string, std::string>& settings);

// Registers "cloud" and "cloud-rehearsal" with the backend registry.
void RegisterCloudBackends();

}  // namespace portflow
