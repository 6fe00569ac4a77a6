// The quota controller: status.used of each ResourceQuota follows the live
// pods of its namespace. Driven by the change feed: a pass recomputes only
// the namespaces whose pods or quotas changed, and a namespace without
// quotas costs nothing.
#pragma once

#include <set>
#include <string>
#include <unordered_set>

#include "k8s_backend/fake_cluster/store/object_store.h"

namespace portflow::fake {

class QuotaController {
 public:
  explicit QuotaController(ObjectStore& store) : store_(store) {}

  // A change from the store's feed (any kind; pods and quotas matter).
  void Observe(const ObjectStore::Change& c);
  // Writes status.used where it changed; true when it wrote any.
  bool Sync();

 private:
  ObjectStore& store_;
  std::unordered_set<std::string> namespaces_;  // that have a ResourceQuota
  std::set<std::string> dirty_;                 // whose pods or quotas changed
};

}  // namespace portflow::fake
