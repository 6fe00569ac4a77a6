// The "kubernetes" backend: each attempt a batch/v1 Job (see render.h).
// Today it renders what it would send (`portflow render --target T`);
// submitting, watching, logs and recovery arrive next (issue 4) and until
// then those calls fail with Unimplemented, saying so.
#pragma once

namespace portflow {

// Registers "kubernetes" with the backend registry (the CLI calls this).
void RegisterKubernetesBackend();

}  // namespace portflow
