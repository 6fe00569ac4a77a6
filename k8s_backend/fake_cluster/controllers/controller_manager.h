// The fake cluster's controllers, as kube-controller-manager and a kubelet
// run them: the scheduler, the Job controller, the garbage collector, the
// quota controller, the event recorder's cap and the kubelet, each a class
// of its own, fed by one change feed.
//
// Like the real ones they are driven by changes, not by scans: the store
// tells them every change (an informer), and each pass works only on what
// changed or fell due, so a pass costs what happened since the last one, not
// the size of the cluster. Time comes from the store's clock, so a test
// drives an hour of cluster time in milliseconds.
#pragma once

#include <functional>
#include <optional>
#include <set>
#include <string>

#include "core/clock.h"
#include "k8s_backend/fake_cluster/controllers/change_feed.h"
#include "k8s_backend/fake_cluster/controllers/event_recorder.h"
#include "k8s_backend/fake_cluster/controllers/job_controller.h"
#include "k8s_backend/fake_cluster/controllers/kubelet/kubelet.h"
#include "k8s_backend/fake_cluster/controllers/quota_controller.h"
#include "k8s_backend/fake_cluster/controllers/scheduler.h"
#include "k8s_backend/fake_cluster/store/object_store.h"
#include "k8s_backend/fake_cluster/store/quota.h"

namespace portflow::fake {

class ControllerManager {
 public:
  // `process_ended` is called (on another thread, with no lock of the
  // controllers held) when a process of execute mode has ended: the next
  // pass reports it, so the caller should run one soon. It must stay
  // callable while the controllers exist.
  ControllerManager(ObjectStore& store, KubeletOptions options,
                    std::function<void()> process_ended = nullptr);

  // One pass of every controller over what changed. True when it changed
  // anything (call again until false to settle).
  bool Reconcile();
  // Passes until nothing changes.
  void Settle();
  // The next time a controller has something to do (a pod's next stage, a
  // Job's backoff or deadline, a process that ended); nullopt when nothing
  // is pending.
  std::optional<TimePoint> NextDue() const;
  // Replaces KubeletOptions::missing_images (a registry that gains or loses
  // images); not thread-safe, like a pass.
  void SetMissingImages(std::set<std::string> images) {
    kubelet_.SetMissingImages(std::move(images));
  }
  // What a pod's container printed, from byte `from` on. Thread-safe.
  std::string LogOf(const std::string& pod_uid, size_t from = 0) const {
    return kubelet_.LogOf(pod_uid, from);
  }
  // Every pod is created through this, the Job controller's and the API's
  // (ResourceQuota). Thread-safe: the API uses it outside a pass.
  PodAdmission& pod_admission() { return pod_admission_; }

 private:
  void Observe(const ObjectStore::Change& c);

  ObjectStore& store_;
  PodAdmission pod_admission_{store_};
  EventRecorder recorder_;
  ChangeFeed feed_;
  Scheduler scheduler_{store_, feed_, recorder_};
  JobController jobs_{store_, feed_, recorder_, pod_admission_};
  GarbageCollector gc_{store_, feed_, jobs_.owners()};
  QuotaController quotas_{store_};
  Kubelet kubelet_;
};

}  // namespace portflow::fake
