// Simulate mode's pod lifecycle as a table of stages, as KWOK describes one
// with Stage resources: each stage selects pods (a phase, bound to a node,
// not being deleted), fires a delay after the pod entered that phase, and
// leaves the pod in its next status. The kubelet arms the stage that
// selects a pod when the pod gets there, and fires it when it falls due in
// the store's time.
//
//   run:  Pending -> Running, at once (once the containers can start)
//   exit: Running -> Succeeded or Failed, after sim.portflow.dev/duration,
//         with sim.portflow.dev/exit-code
#pragma once

#include <string>
#include <vector>

#include "core/clock.h"
#include "k8s_backend/fake_cluster/controllers/kubelet/options.h"
#include "k8s_backend/fake_cluster/store/object_store.h"

namespace portflow::fake {

struct Stage {
  const char* name;
  const char* phase;  // the selector's phase
  // How long after entering `phase` the stage fires.
  Duration (*delay)(const json& pod, const KubeletOptions& options);
  // Writes the next status into `pod`; `entered` is when it entered `phase`.
  void (*next)(json& pod, TimePoint entered, TimePoint now, const KubeletOptions& options);
  // What the container prints as the stage fires.
  std::string (*log)(const json& pod, const KubeletOptions& options);
};

const std::vector<Stage>& SimulateStages();
// The stage that selects `pod`; nullptr when none does.
const Stage* StageFor(const json& pod);

// A pod whose containers started at `now`: Running and Ready (execute mode
// too).
void SetRunning(json& pod, TimePoint now);

}  // namespace portflow::fake
