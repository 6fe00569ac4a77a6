#include "k8s_backend/fake_cluster/controllers/quota_controller.h"

#include <utility>

#include "k8s_backend/fake_cluster/store/quota.h"

namespace portflow::fake {

void QuotaController::Observe(const ObjectStore::Change& c) {
  if (c.kind == FindKind("", "pods")) {
    if (namespaces_.count(c.ns)) dirty_.insert(c.ns);
  } else if (c.kind == &ResourceQuotas()) {
    namespaces_.insert(c.ns);
    dirty_.insert(c.ns);
  }
}

bool QuotaController::Sync() {
  bool changed = false;
  for (const std::string& ns : std::exchange(dirty_, {})) {
    auto quotas = store_.List(ResourceQuotas(), ns, {});
    if (!quotas.ok() || quotas->items.empty()) {
      namespaces_.erase(ns);  // its last quota is gone
      continue;
    }
    changed = SyncQuotaStatus(store_, ns, std::move(quotas->items)) || changed;
  }
  return changed;
}

}  // namespace portflow::fake
