// The fake kubelet: starts the containers of pods bound to a node once
// their images and config allow (else they wait in ErrImagePull,
// ImagePullBackOff or CreateContainerConfigError, tried again with a
// backoff), and reports how they end. Simulate mode plays each pod's life
// from the stage table (stages.h) in the store's time; execute mode runs
// the first container as a local process (container.h), supervised by the
// process library, stopped with SIGTERM then SIGKILL after the pod's grace
// period when the pod is deleted (DeletePod marks it), and removed from the
// API once its process has ended.
#pragma once

#include <sys/types.h>

#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "core/process/supervisor.h"
#include "k8s_backend/fake_cluster/controllers/change_feed.h"
#include "k8s_backend/fake_cluster/controllers/event_recorder.h"
#include "k8s_backend/fake_cluster/controllers/kubelet/container.h"
#include "k8s_backend/fake_cluster/controllers/kubelet/options.h"
#include "k8s_backend/fake_cluster/controllers/kubelet/stages.h"
#include "k8s_backend/fake_cluster/store/object_store.h"

namespace portflow::fake {

class Kubelet {
 public:
  // `process_ended`: as ControllerManager's.
  Kubelet(ObjectStore& store, ChangeFeed& feed, EventRecorder& recorder, KubeletOptions options,
          std::function<void()> process_ended);
  // Kills and reaps the processes still running.
  ~Kubelet();

  void ObservePod(const PodChange& c);
  // Starts what can start, fires the stages due and reports the processes
  // that ended; true when it wrote anything.
  bool Sync();
  std::optional<TimePoint> NextDue() const;
  void SetMissingImages(std::set<std::string> images);
  std::string LogOf(const std::string& pod_uid, size_t from) const;

 private:
  struct Process {
    pid_t pid = 0;
    std::string uid;
    TimePoint started;
    // From SIGTERM to SIGKILL: the pod's terminationGracePeriodSeconds, or
    // 5 s (Kubernetes says 30; shorter, for tests of pods that omit it).
    Duration grace = std::chrono::seconds(5);
    std::vector<ReadOnlyMount> read_only;  // ContainerLaunch's
  };
  struct Exit {  // of a process, reported by the supervisor
    std::string pod_key;
    pid_t pid = 0;
    std::optional<int> wait_status;
  };
  struct Retry {
    TimePoint at;
    int tries = 0;
  };
  struct Armed {  // a stage waiting to fire for a pod
    std::string uid;
    const Stage* stage;
    TimePoint entered;
    TimePoint due;  // an entry of stage_due_ at another time is one left from before
  };

  bool StartPod(const json& pod);
  // The pod waits with its containers in `reason`; tried again later.
  bool Wait(json pod, const std::string& reason, const std::string& message);
  // Simulate mode.
  void Arm(const std::string& key, const json& pod, TimePoint entered);
  bool FireDueStages();
  bool Fire(const std::string& key, const Armed& armed);
  // Execute mode.
  bool Execute(json pod);
  Result<Process> Spawn(const json& pod);
  void Kill(const std::string& pod_key, std::optional<int64_t> grace = std::nullopt);
  bool ReapProcesses();
  // Removes the pods being deleted that no process runs, and forgets the
  // logs (and folders) of pods gone long enough.
  bool RemoveDeleted();
  void RemovePodDir(const std::string& uid);  // execute mode
  void RecordStarted(const json& pod);        // its Started event

  ObjectStore& store_;
  ChangeFeed& feed_;
  EventRecorder& recorder_;
  KubeletOptions options_;

  std::deque<std::string> to_start_;
  std::unordered_map<std::string, Retry> blocked_;  // pods that cannot start yet, by key
  // Simulate mode: pod keys by when their stage is due (those due at once in
  // the order armed, without comparing keys).
  std::multimap<TimePoint, std::string> stage_due_;
  std::unordered_map<std::string, Armed> armed_;  // by pod key
  std::map<std::string, Process> processes_;      // execute mode, by pod key
  std::deque<std::string> to_remove_;             // pods being deleted that may go now, by key
  std::deque<std::pair<TimePoint, std::string>> gone_logs_;  // when to forget, pod uid

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
