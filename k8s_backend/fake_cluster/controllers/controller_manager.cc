#include "k8s_backend/fake_cluster/controllers/controller_manager.h"

#include <utility>

#include "k8s_backend/fake_cluster/store/json_fields.h"

namespace portflow::fake {
ControllerManager::ControllerManager(ObjectStore& store, KubeletOptions options,
                                     std::function<void()> process_ended)
    : store_(store),
      recorder_(store_, options.max_events),
      feed_(store_, {&Pods(), &Nodes(), &Jobs(), &ResourceQuotas()},
            [this](const ObjectStore::Change& c) { Observe(c); }),
      kubelet_(store_, feed_, recorder_, std::move(options), std::move(process_ended)) {
  // What the store held before: observed as if just added (observing is
  // idempotent, so an object seen twice does no harm).
  for (const ResourceKind* kind : {&Nodes(), &Jobs(), &Pods(), &ResourceQuotas()}) {
    auto all = store_.List(*kind, "", {});
    if (!all.ok()) continue;
    for (json& o : all->items) {
      std::string ns = Str(Field(o, "metadata"), "namespace");
      Observe({0, kind, ns, "ADDED", std::make_shared<const json>(std::move(o)), nullptr});
    }
  }
}

void ControllerManager::Observe(const ObjectStore::Change& c) {
  if (c.kind == &Nodes()) return scheduler_.ObserveNode(c);
  quotas_.Observe(c);
  if (c.kind == &Pods()) {
    PodChange pod(c);
    scheduler_.ObservePod(pod);
    kubelet_.ObservePod(pod);
    jobs_.ObservePod(pod);
    gc_.ObservePod(pod);  // after the Job controller: it reads the owners
  } else if (c.kind == &Jobs()) {
    if (jobs_.ObserveJob(c)) gc_.CollectPodsOf(Str(Field(*c.object, "metadata"), "uid"));
    if (c.type == "DELETED") gc_.JobGone();
  }
}

bool ControllerManager::Reconcile() {
  bool changed = false;
  feed_.Drain();
  changed = gc_.Sync() || changed;
  feed_.Drain();
  changed = jobs_.Sync() || changed;
  feed_.Drain();
  changed = scheduler_.Sync() || changed;
  feed_.Drain();
  changed = kubelet_.Sync() || changed;
  feed_.Drain();
  changed = quotas_.Sync() || changed;
  return changed;
}

void ControllerManager::Settle() {
  for (int i = 0; i < 100 && Reconcile(); ++i) {
  }
}

std::optional<TimePoint> ControllerManager::NextDue() const {
  std::optional<TimePoint> kubelet = kubelet_.NextDue(), jobs = jobs_.NextDue();
  if (!kubelet || (jobs && *jobs < *kubelet)) return jobs;
  return kubelet;
}

}  // namespace portflow::fake
