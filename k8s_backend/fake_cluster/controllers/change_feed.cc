#include "k8s_backend/fake_cluster/controllers/change_feed.h"

#include <algorithm>
#include <utility>

#include "k8s_backend/fake_cluster/controllers/pod_status.h"
#include "k8s_backend/fake_cluster/store/json_fields.h"

namespace portflow::fake {

ChangeFeed::ChangeFeed(ObjectStore& store, std::vector<const ResourceKind*> kinds, Sink sink)
    : kinds_(std::move(kinds)), sink_(std::move(sink)) {
  store.AddListener([this](const ObjectStore::Change& c) {
    if (std::find(kinds_.begin(), kinds_.end(), c.kind) == kinds_.end()) return;
    std::lock_guard<std::mutex> l(mu_);
    inbox_.push_back(c);
  });
}

void ChangeFeed::Drain() {
  std::vector<ObjectStore::Change> changes;
  {
    std::lock_guard<std::mutex> l(mu_);
    changes.swap(inbox_);
  }
  for (const ObjectStore::Change& c : changes) sink_(c);
}

PodChange::PodChange(const ObjectStore::Change& c)
    : pod(*c.object),
      previous(c.previous.get()),
      key(KeyOf(c.ns, Str(Field(pod, "metadata"), "name"))),
      node(Str(Field(pod, "spec"), "nodeName")),
      gone(c.type == "DELETED"),
      deleting(Deleting(pod)),
      terminal(Terminal(pod)) {}

}  // namespace portflow::fake
