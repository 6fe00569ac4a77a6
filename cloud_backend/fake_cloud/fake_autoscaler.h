// The fake cloud's Cluster Autoscaler (as the Kubernetes autoscaler runs on
// EKS): what a team's cloud cluster has when it leaves sizing to the
// cluster (a cloud target's `autoscaler: cluster`). Each scan reads the
// cluster's nodes and pods. Pods the scheduler marked Unschedulable that
// neither the free room of the nodes nor the nodes on their way will take
// grow the cheapest group whose instance type fits them, whose labels meet
// their nodeSelector and that has room below its max (the autoscaler's
// price expander); a node that has held no pod for `scale_down_unneeded` is
// terminated and its group's desired size lowered, down to its min
// (TerminateInstanceInAutoScalingGroup). It sizes through the Auto Scaling
// side of FakeEc2 (SetDesired, TerminateInstance), never through EKS
// updates.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "cloud_backend/catalog.h"
#include "cloud_backend/fake_cloud/fake_ec2.h"
#include "k8s_backend/fake_cluster/fake_cluster.h"

namespace portflow::fake_cloud {

struct AutoscalerOptions {
  Duration scan_interval = std::chrono::seconds(1);         // the real one's default is 10 s
  Duration scale_down_unneeded = std::chrono::minutes(10);  // --scale-down-unneeded-time
};

class FakeAutoscaler {
 public:
  FakeAutoscaler(FakeEc2& ec2, fake::FakeCluster& cluster, const cloud::Catalog& catalog,
                 std::string region, AutoscalerOptions options)
      : ec2_(ec2),
        cluster_(cluster),
        catalog_(catalog),
        region_(std::move(region)),
        options_(options) {}

  // Scans when a scan is due (under the fake cloud's lock); when the next
  // one is.
  TimePoint Step(TimePoint now);
  int scale_ups() const { return scale_ups_; }      // nodes it asked for
  int scale_downs() const { return scale_downs_; }  // nodes it gave back

 private:
  void Scan(TimePoint now);

  FakeEc2& ec2_;
  fake::FakeCluster& cluster_;
  const cloud::Catalog& catalog_;
  const std::string region_;
  const AutoscalerOptions options_;
  std::optional<TimePoint> last_scan_;
  std::map<std::string, TimePoint> unneeded_since_;  // node -> since it held no pod
  int scale_ups_ = 0, scale_downs_ = 0;
};

}  // namespace portflow::fake_cloud
