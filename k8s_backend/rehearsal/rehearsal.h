// The rehearsal backend, behind the built-in `rehearsal` target: the fake
// Kubernetes cluster embedded in this process, in execute mode (pods are
// local processes), served on loopback, with the kubernetes backend pointed
// at it (a BackendWrapper). A laptop rehearses the promotion to a cluster
// with no setup: the same Jobs, ConfigMaps, Services and watches as on a
// real one.
#pragma once

namespace portflow {

// Registers the backend "rehearsal" (settings: nodes, cpu, memory, gpus,
// workDir).
void RegisterRehearsalBackend();

}  // namespace portflow
