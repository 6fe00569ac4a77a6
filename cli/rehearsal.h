// The "fake-cluster" backend behind the built-in `rehearsal` target: the
// fake Kubernetes cluster embedded in this process, in execute mode (pods
// are local processes), served on loopback, with the kubernetes backend
// pointed at it. A laptop rehearses the promotion to a cluster with no
// setup: the same Jobs, ConfigMaps, Services and watches as on a real one.
#pragma once

namespace portflow::cli {

void RegisterRehearsalBackend();

}  // namespace portflow::cli
