// The Job controller: keeps each Job's pods at its parallelism until its
// completions succeed (Indexed mode gives each pod its index), counts
// failures against backoffLimit with the exponential backoff between them,
// applies podFailurePolicy, activeDeadlineSeconds, suspend and
// ttlSecondsAfterFinished, and writes the Job's status and conditions as the
// real controller does. Pods are created through PodAdmission, so a
// ResourceQuota can refuse them (a FailedCreate event; tried again later).
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/clock.h"
#include "k8s_backend/fake_cluster/controllers/change_feed.h"
#include "k8s_backend/fake_cluster/controllers/event_recorder.h"
#include "k8s_backend/fake_cluster/store/object_store.h"
#include "k8s_backend/fake_cluster/store/quota.h"

namespace portflow::fake {

// Which Jobs exist and which pods each controls: kept by the Job
// controller, read by the garbage collector.
struct Owners {
  std::unordered_map<std::string, std::string> job_by_uid;      // uid -> key
  std::unordered_set<std::string> leaving;                      // foreground deletion, by uid
  std::unordered_map<std::string, std::set<std::string>> pods;  // uid -> pod keys
  std::unordered_map<std::string, std::string> owner_of;        // pod key -> owner uid
};

class JobController {
 public:
  JobController(ObjectStore& store, ChangeFeed& feed, EventRecorder& recorder,
                PodAdmission& admission)
      : store_(store), feed_(feed), recorder_(recorder), admission_(admission) {}

  void ObservePod(const PodChange& c);
  // True when the Job's pods are now the garbage collector's: the Job was
  // deleted or has just started a foreground deletion.
  bool ObserveJob(const ObjectStore::Change& c);
  // Syncs the Jobs whose pods changed or whose timer fell due; true when it
  // wrote anything.
  bool Sync();
  // The next backoff, deadline or TTL to act on.
  std::optional<TimePoint> NextDue() const;
  const Owners& owners() const { return owners_; }

 private:
  struct Counts;
  bool SyncJob(const std::string& key);
  // ttlSecondsAfterFinished: deletes the finished Job once it is due.
  bool ExpireFinished(const std::string& key, const json& job);
  bool Suspend(json job, const std::vector<std::shared_ptr<const json>>& owned);
  Counts CountPods(const json& spec, const std::vector<std::shared_ptr<const json>>& owned) const;
  // Creates pods up to parallelism; how many it made.
  int64_t CreatePods(const std::string& key, const json& job, const Counts& counts, int64_t want,
                     std::optional<TimePoint>& due);
  void SetTimer(const std::string& key, std::optional<TimePoint> t);

  ObjectStore& store_;
  ChangeFeed& feed_;
  EventRecorder& recorder_;
  PodAdmission& admission_;
  Owners owners_;
  std::set<std::string> dirty_;
  std::set<std::pair<TimePoint, std::string>> timers_;
  std::unordered_map<std::string, TimePoint> timer_of_;
  // A Job whose pod was refused: the last FailedCreate message, by Job key.
  std::unordered_map<std::string, std::string> failed_create_;
  static constexpr Duration kCreateRetry = std::chrono::seconds(1);
};

// The garbage collector: deletes pods whose owners are gone, and ConfigMaps
// and Services once every Job that owns them is gone (an object with
// another kind of owner, or none, stays); finishes a foreground deletion
// once the owner's dependents are gone.
class GarbageCollector {
 public:
  GarbageCollector(ObjectStore& store, ChangeFeed& feed, const Owners& owners)
      : store_(store), feed_(feed), owners_(owners) {}

  // After the Job controller has observed the same change.
  void ObservePod(const PodChange& c);
  // The pods of Job `uid` are to be looked at.
  void CollectPodsOf(const std::string& uid);
  // A Job was deleted: the ConfigMaps and Services it owned are to be looked at.
  void JobGone() { job_gone_ = true; }
  bool Sync();

 private:
  // Deletes the ConfigMaps and Services whose owners are all Jobs, all gone.
  bool CollectOrphans();

  ObjectStore& store_;
  ChangeFeed& feed_;
  const Owners& owners_;
  std::set<std::string> pods_;  // to look at, by key
  bool job_gone_ = false;
};

}  // namespace portflow::fake
