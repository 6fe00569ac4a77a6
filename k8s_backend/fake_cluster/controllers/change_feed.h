// The informer the controllers share: the store's changes of the kinds they
// watch, queued as the store makes them (on any thread), and handed to the
// controllers when a pass drains the queue. A controller that must see its
// own write before its next decision (the scheduler, after a bind) drains.
#pragma once

#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "k8s_backend/fake_cluster/store/object_store.h"

namespace portflow::fake {

class ChangeFeed {
 public:
  using Sink = std::function<void(const ObjectStore::Change&)>;
  // Watches `kinds` in `store`; Drain hands each change to `sink`.
  ChangeFeed(ObjectStore& store, std::vector<const ResourceKind*> kinds, Sink sink);

  // Hands the changes queued so far to the sink, in order.
  void Drain();

 private:
  std::vector<const ResourceKind*> kinds_;
  Sink sink_;
  std::mutex mu_;
  std::vector<ObjectStore::Change> inbox_;
};

// A pod's change as the controllers read it.
struct PodChange {
  explicit PodChange(const ObjectStore::Change& c);

  const json& pod;
  const json* previous;  // MODIFIED: the version before, else nullptr (both for the call only)
  std::string key;       // namespace/name
  std::string node;      // spec.nodeName
  bool gone;             // deleted from the store
  bool deleting;         // has a deletionTimestamp
  bool terminal;         // Succeeded or Failed
};

}  // namespace portflow::fake
