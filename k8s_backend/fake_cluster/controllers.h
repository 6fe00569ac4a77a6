// The fake cluster's controllers, each a reconcile pass over the store:
// the scheduler (cpu, memory, nvidia.com/gpu, nodeSelector, taints), the Job
// controller (parallelism, completions, Indexed mode, backoffLimit with
// exponential backoff, activeDeadlineSeconds, the real conditions), and the
// kubelet in simulate mode (a pod runs for its sim.portflow.dev/duration and
// exits with its sim.portflow.dev/exit-code). Time comes from the store's
// clock, so a test drives an hour of cluster time in milliseconds.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "core/clock.h"
#include "k8s_backend/fake_cluster/object_store.h"

namespace portflow::fake {

struct SimulateOptions {
  Duration default_duration = std::chrono::seconds(1);
  int default_exit_code = 0;
};

// Marks every container of `pod` terminated with `exit_code` (reason
// Completed or Error) and the pod Succeeded or Failed.
void EndPod(json& pod, int exit_code, TimePoint started, TimePoint finished);

class Controllers {
 public:
  Controllers(ObjectStore& store, SimulateOptions options);

  // One pass of every controller. True when it changed anything (call again
  // until false to settle).
  bool Reconcile();
  // Passes until nothing changes.
  void Settle();
  // The next time a controller has something to do (a pod's end, a Job's
  // backoff or deadline); nullopt when nothing is pending.
  std::optional<TimePoint> NextDue() const { return next_due_; }
  // What a pod's container printed (simulate mode: a line at start and one at
  // the end). Thread-safe.
  std::string LogOf(const std::string& pod_uid) const;

 private:
  bool Schedule();
  bool RunKubelet();
  bool SyncJobs();
  bool CollectGarbage();
  void Due(TimePoint t);
  Status Event(const json& object, const std::string& type, const std::string& reason,
               const std::string& message);

  ObjectStore& store_;
  SimulateOptions options_;
  std::map<std::string, std::string> last_unschedulable_;  // pod uid -> message reported
  std::optional<TimePoint> next_due_;
  mutable std::mutex logs_mu_;
  std::map<std::string, std::string> logs_;  // pod uid -> output
  uint64_t names_ = 0;
};

}  // namespace portflow::fake
