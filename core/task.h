// The backend-neutral unit of work and its lifecycle, shared by every backend.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/status.h"

namespace portflow {

// Fully resolved per-replica requests (the defaults already applied).
struct ResourceRequest {
  int64_t milli_cpu = 0;
  int64_t memory_bytes = 0;
  int64_t gpus = 0;

  ResourceRequest operator*(int64_t n) const { return {milli_cpu * n, memory_bytes * n, gpus * n}; }
  ResourceRequest& operator+=(const ResourceRequest& o);
  ResourceRequest& operator-=(const ResourceRequest& o);
  // True when every field of this fits within `o`.
  bool FitsIn(const ResourceRequest& o) const;
  std::string ToString() const;  // "cpu=2 memory=4Gi gpu=1"
};

// Where an output lives for this task, and the name it has in the workload.
struct ArtifactBinding {
  std::string name;  // the output's name
  std::string path;  // the directory the task writes (for outputs) or reads
};

// An object store that holds a run's outputs (a hybrid target's
// artifacts), for a task that runs under `portflow agent`: the agent
// fetches its inputs from there and stores its outputs there.
struct ObjectStoreRef {
  std::string uri;       // s3://BUCKET/PREFIX
  std::string endpoint;  // "" for AWS's own
  std::string region = "us-east-1";
  std::string agent_image;  // on a cluster: the image holding portflow at /portflow
  std::string profile;      // AWS credentials profile; "" for the usual chain
  // On a cluster: the credentials that reach the store, as the variables
  // the agent reads (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, and
  // AWS_SESSION_TOKEN for temporary ones). The pods get them from the run's
  // Secret (k8s::StoreSecretName), which the backend makes at Submit and
  // deletes when the run ends; never in a Job's spec, never rendered.
  // Empty where the pods have credentials of their own (a role).
  std::map<std::string, std::string> credentials;
};

// The agent image that a hybrid target's pods copy portflow from when the
// target names none; the embedded clusters (the rehearsals) provide it
// from the running binary.
inline constexpr const char* kDefaultAgentImage = "ghcr.io/portflow/portflow-agent:latest";

// One attempt of one step instance: everything a backend needs, resolved.
struct TaskSpec {
  std::string run_id;
  std::string step;
  std::string instance;  // "train" or "train[lr=0.1]"
  int attempt = 1;
  std::vector<std::string> argv;
  std::vector<std::pair<std::string, std::string>> env;  // ordered; later wins
  std::string workdir;
  std::optional<std::string> image;
  ResourceRequest resources;  // per replica
  int replicas = 1;
  std::optional<Duration> timeout;
  std::vector<ArtifactBinding> outputs;
  std::vector<ArtifactBinding> inputs;
  std::string run_dir;  // absolute; logs and outputs live below it
  std::map<std::string, std::string> labels;
  // Node labels (key, value) it must not be placed on: the group a spot
  // interruption took its previous attempt from. Backends without nodes
  // ignore it.
  std::vector<std::pair<std::string, std::string>> avoid;
  // The member of a composite backend (a hybrid target's) it was placed
  // on; "" on a plain backend.
  std::string member;
  // Set when the run's outputs live in an object store: the task runs
  // under `portflow agent` (see ObjectStoreRef).
  std::optional<ObjectStoreRef> store;

  // "run/instance/attempt": the idempotency key of Submit.
  std::string Key() const;
};

// The start of `spec`'s command line under `portflow agent` (the binary at
// `agent`), up to and including "--": the store's options, and each input
// and output as STEP/OUTPUT[/MATRIX] below `root`, where the task's paths
// are. InvalidArgument for a path that is not below `root`.
// `own_root`: each replica of a gang has a `root` of its own (a pod's
// folder), so only replica 0 stores the outputs; else the replicas share
// it and each stores what is there when it ends.
Result<std::vector<std::string>> AgentPrefix(const ObjectStoreRef& store, const TaskSpec& spec,
                                             const std::string& agent, const std::string& root,
                                             bool own_root = false);

enum class TaskState { kPending, kStarting, kRunning, kSucceeded, kFailed, kCancelled, kUnknown };

std::string_view TaskStateName(TaskState s);
std::optional<TaskState> ParseTaskState(std::string_view s);
inline bool IsTerminal(TaskState s) {
  return s == TaskState::kSucceeded || s == TaskState::kFailed || s == TaskState::kCancelled;
}

// How an attempt ended (for the gang: the first replica that failed, or the
// last one to finish when all succeeded).
struct ExitResult {
  int exit_code = 0;
  int signal = 0;  // the signal that killed it, 0 if none
  bool oom = false;
  std::string reason;   // short CamelCase, e.g. Completed, Error, Timeout, Cancelled
  std::string message;  // for humans
  // What the attempt cost on a priced backend, in US dollars: its pods'
  // time on their nodes, each node's price shared by what they requested.
  std::optional<double> cost;
};

// Serialisable reference to submitted work; `data` is backend-owned JSON.
struct TaskHandle {
  std::string backend;
  std::string key;  // TaskSpec::Key()
  std::string data;
  std::string member;  // TaskSpec::member
};

// Why a Pending attempt waits, as a placement decision needs it: the same
// kinds on every backend, whatever the cluster calls them.
enum class PendingReason {
  kNone,           // not pending, or no reason known
  kScheduling,     // submitted; the scheduler has not decided yet
  kUnschedulable,  // no node has room for it now
  kQuotaWait,      // a ResourceQuota refuses it until others end
  kQueued,         // held by a queue (Kueue) until admitted
  kProvisioning,   // capacity is being added for it (a cloud node group)
  kStarting,       // placed; its containers are being created
  kImagePull,      // its image cannot be pulled
  kConfigError,    // its pod cannot be made or started as specified
  kBudget,         // placing it would exceed the budget
};

// "Unschedulable"; "" for kNone.
std::string_view PendingReasonName(PendingReason r);
// Whether the attempt waits for capacity to free up or be added
// (Unschedulable, QuotaWait, Queued, Provisioning): what bursting acts on.
bool WaitsForCapacity(PendingReason r);

// Pushed by backends to the engine.
struct TaskEvent {
  std::string key;  // TaskSpec::Key()
  TaskState state = TaskState::kUnknown;
  TimePoint time;
  std::optional<ExitResult> result;  // set when state is terminal
  // The backend's own word for why (stored and shown): the cluster's
  // reason, e.g. Unschedulable, ImagePull, CreateContainerConfigError.
  std::string reason;
  std::string message;
  // For a Pending event: the kind of wait, and when it should start where
  // the backend can tell.
  PendingReason pending = PendingReason::kNone;
  std::optional<TimePoint> estimated_start;
};

}  // namespace portflow
