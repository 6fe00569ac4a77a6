// Events as the controllers and the kubelet record them. The store keeps
// them in its event log and lets the oldest go past a cap (the API server
// keeps events for an hour, which at 10,000 pods a second would be
// millions).
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"
#include "k8s_backend/fake_cluster/store/object_store.h"

namespace portflow::fake {

class EventRecorder {
 public:
  // Keeps at most `max_events` in the store.
  EventRecorder(ObjectStore& store, size_t max_events) : store_(store) {
    store_.LimitEvents(max_events);
  }

  // Records a core/v1 Event about `object` (reporting component as
  // `kubectl describe` shows it: default-scheduler, job-controller or
  // kubelet).
  Status Record(const json& object, const std::string& type, const std::string& reason,
                const std::string& message);

 private:
  ObjectStore& store_;
  uint64_t names_ = 0;
};

}  // namespace portflow::fake
