// The fake cluster's controllers: the scheduler (cpu, memory, nvidia.com/gpu,
// nodeSelector, taints), the Job controller (parallelism, completions,
// Indexed mode, backoffLimit with exponential backoff, activeDeadlineSeconds,
// podFailurePolicy, suspend, TTL, the real conditions), the garbage
// collector and the kubelet (simulate or execute mode).
//
// Like the real ones they are driven by changes, not by scans: the store
// tells them every change (an informer), and each pass works only on what
// changed or fell due, so a pass costs what happened since the last one, not
// the size of the cluster. Time comes from the store's clock, so a test
// drives an hour of cluster time in milliseconds.
#pragma once

#include <sys/types.h>

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/clock.h"
#include "core/process/supervisor.h"
#include "k8s_backend/fake_cluster/controllers/event_recorder.h"
#include "k8s_backend/fake_cluster/controllers/quota_controller.h"
#include "k8s_backend/fake_cluster/store/object_store.h"
#include "k8s_backend/fake_cluster/store/quota.h"

namespace portflow::fake {

struct KubeletOptions {
  Duration default_duration = std::chrono::seconds(1);
  int default_exit_code = 0;
  // Events kept at most; the oldest go first (the API server keeps them for
  // an hour, which at 10,000 pods a second would be millions).
  size_t max_events = 20000;
  // Execute mode: the first container's command runs as a local process
  // under `exec_root`/pods/POD-UID, with volumes under `exec_root`/volumes.
  bool execute = false;
  std::string exec_root;
  // Images the registry does not have: a pod that uses one waits in
  // ErrImagePull, then ImagePullBackOff, until the image is no longer here.
  std::set<std::string> missing_images;
};

// What a pod asks for, or what a node has left.
struct ResourceRequest {
  int64_t milli_cpu = 0, memory = 0, gpus = 0;
};

// Marks every container of `pod` terminated with `exit_code` (reason
// Completed or Error) and the pod Succeeded or Failed.
void EndPod(json& pod, int exit_code, TimePoint started, TimePoint finished);

class Controllers {
 public:
  // `process_ended` is called (on another thread, with no lock of the
  // controllers held) when a process of execute mode has ended: the next
  // pass reports it, so the caller should run one soon. It must stay
  // callable while the controllers exist.
  Controllers(ObjectStore& store, KubeletOptions options,
              std::function<void()> process_ended = nullptr);
  // Kills and reaps the processes still running.
  ~Controllers();

  // One pass of every controller over what changed. True when it changed
  // anything (call again until false to settle).
  bool Reconcile();
  // Passes until nothing changes.
  void Settle();
  // The next time a controller has something to do (a pod's end, a Job's
  // backoff or deadline, a process that ended); nullopt when nothing is
  // pending.
  std::optional<TimePoint> NextDue() const;
  // Replaces KubeletOptions::missing_images (a registry that gains or loses
  // images); not thread-safe, like a pass.
  void SetMissingImages(std::set<std::string> images);
  // What a pod's container printed, from byte `from` on. Thread-safe.
  std::string LogOf(const std::string& pod_uid, size_t from = 0) const;
  // Every pod is created through this, the Job controller's and the API's
  // (ResourceQuota). Thread-safe: the API uses it outside a pass.
  PodAdmission& pod_admission() { return pod_admission_; }

 private:
  using Request = ResourceRequest;
  struct NodeInfo {
    std::string name;
    Request free;
    bool ready = false, cordoned = false;
    json taints;  // NoSchedule / NoExecute ones
    std::map<std::string, std::string> labels;
  };
  struct Exit {  // of a process, reported by the supervisor
    std::string pod_key;
    pid_t pid = 0;
    std::optional<int> wait_status;
  };
  struct Usage {
    std::string node;
    Request request;
  };
  struct Process {
    pid_t pid = 0;
    std::string uid, log_path;
    TimePoint started;
    // From SIGTERM to SIGKILL: the pod's terminationGracePeriodSeconds, or
    // 5 s (Kubernetes says 30; shorter, for tests of pods that omit it).
    Duration grace = std::chrono::seconds(5);
  };

  void Drain();
  void Observe(const ObjectStore::Change& c);
  void ObserveNode(const ObjectStore::Change& c);
  void ObservePod(const ObjectStore::Change& c);
  void ObserveJob(const ObjectStore::Change& c);

  bool Schedule();
  bool ScheduleOne(const json& pod);
  bool RunKubelet();
  bool StartPod(json pod);
  // Why a bound pod cannot start its containers yet (InvalidImageName,
  // ErrImagePull, ImagePullBackOff, CreateContainerConfigError), and the
  // kubelet's message; nullopt when it can.
  std::optional<std::pair<std::string, std::string>> Blocked(const json& pod, int tries) const;
  bool Wait(json pod, const std::string& reason, const std::string& message);
  bool EndDuePods();
  int SimulatedExitCode(const json& annotations) const;
  void ExitPod(json& pod, int exit_code, TimePoint started, TimePoint now);
  void RetryParked();
  bool SyncJobs();
  bool SyncJob(const std::string& key);
  bool CollectGarbage();
  void JobDue(const std::string& key, std::optional<TimePoint> t);
  // Execute mode.
  Result<Process> Exec(const json& pod);
  void Kill(const std::string& pod_key);
  bool ReapProcesses();

  ObjectStore& store_;
  KubeletOptions options_;
  PodAdmission pod_admission_{store_};
  EventRecorder recorder_{store_, options_.max_events};

  std::mutex inbox_mu_;
  std::vector<ObjectStore::Change> inbox_;

  // Scheduler.
  std::vector<NodeInfo> nodes_;
  std::unordered_map<std::string, size_t> node_index_;
  size_t next_start_node_ = 0;
  std::unordered_map<std::string, Usage> bound_;  // pod key -> what it holds
  std::deque<std::string> to_schedule_;
  std::unordered_set<std::string> queued_;
  std::unordered_set<std::string> parked_;                           // unschedulable for now
  std::unordered_map<std::string, std::string> last_unschedulable_;  // pod key -> message

  // Kubelet.
  std::deque<std::string> to_start_;
  std::set<std::pair<TimePoint, std::string>> pod_ends_;                            // simulate mode
  std::unordered_map<std::string, std::pair<std::string, TimePoint>> sim_started_;  // uid, when
  std::map<std::string, Process> processes_;  // execute mode, by pod key
  struct Retry {
    TimePoint at;
    int tries = 0;
  };
  std::unordered_map<std::string, Retry> blocked_;  // pods that cannot start yet, by key

  // Job controller and garbage collector.
  std::unordered_map<std::string, std::string> job_by_uid_;          // uid -> key
  std::unordered_set<std::string> leaving_jobs_;                     // foreground deletion, by uid
  std::unordered_map<std::string, std::set<std::string>> job_pods_;  // uid -> pod keys
  std::unordered_map<std::string, std::string> pod_owner_;           // pod key -> owner uid
  std::set<std::string> dirty_jobs_;
  std::set<std::pair<TimePoint, std::string>> job_timers_;
  std::unordered_map<std::string, TimePoint> job_timer_of_;
  std::set<std::string> gc_pods_;
  // A Job whose pod was refused: the last FailedCreate message, by Job key.
  std::unordered_map<std::string, std::string> failed_create_;
  static constexpr Duration kCreateRetry = std::chrono::seconds(1);

  QuotaController quotas_{store_};

  mutable std::mutex logs_mu_;
  std::unordered_map<std::string, std::string> logs_;       // pod uid -> output (simulate)
  std::unordered_map<std::string, std::string> log_files_;  // pod uid -> file (execute)

  // Execute mode: ended processes, from the supervisor's thread to a pass.
  std::function<void()> process_ended_;
  mutable std::mutex exits_mu_;
  std::vector<Exit> exits_;
  // Last: destroyed first, so that no exit is reported to what is gone.
  ProcessSupervisor supervisor_{store_.clock()};
};

}  // namespace portflow::fake
