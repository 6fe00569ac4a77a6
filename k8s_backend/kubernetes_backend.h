// The "kubernetes" backend: each attempt a batch/v1 Job (see render.h).
//
// Submit creates the attempt's objects (adopting a Job of the same name
// that carries the attempt's labels, so a repeated Submit never duplicates
// work). One watcher per run follows its Jobs and another its Pods (no
// polling per task); pod states become task events, with pending reasons
// (Unschedulable with the scheduler's message, ImagePull,
// CreateContainerConfigError). Pod logs are copied into the run directory
// while the pods live, so `portflow logs` works after the Job is gone; the
// terminal event comes once the logs are saved, then the Job is deleted
// (target `cleanup: delete`, the default; in batches, see job_deletions.h). Cancel deletes the Job with its
// pods. Recover re-attaches to the Jobs of a run after a restart.
#pragma once

#include <functional>
#include <memory>
#include <optional>

#include "core/backend.h"
#include "core/clock.h"
#include "k8s_backend/client/api_client.h"
#include "k8s_backend/client/kubeconfig.h"
#include "k8s_backend/render.h"

namespace portflow {

struct KubernetesBackendOptions {
  k8s::KubernetesTarget target;
  // The cluster; by default from the kubeconfig as the target names it.
  std::optional<k8s::ClusterAccess> access;
  Clock* clock = &RealClock();
  // How requests travel; libcurl unless a test puts something else here.
  std::function<Result<std::unique_ptr<k8s::Transport>>(const k8s::ClusterAccess&)> transport =
      k8s::MakeCurlTransport;
  k8s::RetryPolicy retry;
};

std::unique_ptr<Backend> NewKubernetesBackend(KubernetesBackendOptions options);

// Registers "kubernetes" with the backend registry (the CLI calls this).
void RegisterKubernetesBackend();

}  // namespace portflow
