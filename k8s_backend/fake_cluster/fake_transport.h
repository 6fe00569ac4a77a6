// A Transport that hands requests straight to a FakeCluster in this
// process: no sockets, and the cluster's clock, which may be virtual. With
// a FakeClock, the kubernetes backend runs against the fake cluster in
// virtual time: an hour of pods takes about two seconds.
#pragma once

#include <memory>

#include "k8s_backend/client/api_client.h"
#include "k8s_backend/fake_cluster/fake_cluster.h"

namespace portflow::fake {

std::unique_ptr<k8s::Transport> MakeFakeClusterTransport(FakeCluster& cluster);

// Access to the served `cluster` as its kubeconfig gives it: its URL, its CA
// and its token.
k8s::ClusterAccess ServedAccess(const FakeCluster& cluster);

}  // namespace portflow::fake
