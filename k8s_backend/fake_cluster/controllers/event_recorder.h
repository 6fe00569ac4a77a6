// Events as the controllers and the kubelet record them, and the cap on how
// many the cluster keeps: the API server keeps events for an hour, which at
// 10,000 pods a second would be millions, so the oldest go first.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <utility>

#include "core/status.h"
#include "k8s_backend/fake_cluster/store/object_store.h"

namespace portflow::fake {

class EventRecorder {
 public:
  EventRecorder(ObjectStore& store, size_t max_events) : store_(store), max_(max_events) {}

  // Creates a core/v1 Event about `object` (reporting component as
  // `kubectl describe` shows it: default-scheduler, job-controller or
  // kubelet), then trims to the cap.
  Status Record(const json& object, const std::string& type, const std::string& reason,
                const std::string& message);
  // A change from the store's feed: events that clients create count
  // towards the cap too (those recorded here are counted as they are made).
  void Observe(const ObjectStore::Change& c);
  // Deletes the oldest events past the cap; true when it deleted any.
  bool Trim();

 private:
  ObjectStore& store_;
  size_t max_;
  std::deque<std::pair<std::string, std::string>> events_;  // ns, name; oldest first
  uint64_t names_ = 0;
};

}  // namespace portflow::fake
