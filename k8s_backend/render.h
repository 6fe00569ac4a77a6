// What the Kubernetes backend sends for one attempt, as JSON objects valid
// for a real Kubernetes 1.32 API server:
//   - a batch/v1 Job: Indexed with one pod per replica when replicas > 1,
//     restartPolicy Never and backoffLimit 0 (the engine owns retries, and
//     one failed replica fails the gang), activeDeadlineSeconds from the
//     timeout, requests and limits (nvidia.com/gpu included);
//   - a headless Service named like the Job when replicas > 1, so replica 0
//     has a stable DNS name for MASTER_ADDR;
//   - a ConfigMap with the step's working directory when the code is
//     shipped (`code: ship`, the default; at most 1 MiB), mounted as the
//     working directory, so that a stock image runs the laptop's code.
// Outputs and inputs are sub-paths of one PersistentVolumeClaim
// (`artifactsClaim`) mounted at the paths the task was given.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/task.h"

namespace portflow::k8s {

using json = nlohmann::json;

// Where artifacts live inside every pod; a run's are below RUN_ID/.
inline constexpr const char* kArtifactMount = "/portflow/artifacts";
// Where shipped code is mounted, and the working directory then.
inline constexpr const char* kCodeMount = "/portflow/code";
// Where a pod whose outputs live in an object store finds `portflow`
// (copied from the agent image by an init container): TaskSpec::store.
inline constexpr const char* kAgentMount = "/portflow/agent";
// A ConfigMap holds at most 1 MiB.
inline constexpr size_t kMaxShippedCode = 1024 * 1024;

// A target's settings for the kubernetes backend (portflow.yaml).
struct KubernetesTarget {
  std::string kubeconfig;      // default: KUBECONFIG or ~/.kube/config
  std::string context;         // default: the current context
  std::string namespace_name;  // default: the context's namespace
  std::string image;           // for workloads that name none
  std::string service_account;
  std::vector<std::string> image_pull_secrets;
  std::vector<std::string> env_from_secrets;  // Secrets whose keys become env variables
  std::map<std::string, std::string> node_selector;
  json tolerations = json::array();
  std::map<std::string, std::string> labels, annotations;  // added to Jobs and pods
  std::string queue;                                       // kueue.x-k8s.io/queue-name
  std::string artifacts_claim = "portflow-artifacts";
  bool ship_code = true;               // code: ship (default) or image
  std::optional<int64_t> ttl_seconds;  // ttlAfterFinished: Jobs removed by the cluster
  std::string cleanup = "delete";      // delete (after logs are saved) or keep
  // grace: from SIGTERM to SIGKILL when a pod is stopped, as locally
  // (terminationGracePeriodSeconds; Kubernetes' own default is 30 s).
  int64_t grace_seconds = 10;
};

// Parses a target's settings; unknown keys and bad values are errors that
// name the setting.
Result<KubernetesTarget> ParseKubernetesTarget(const std::map<std::string, std::string>& settings);

// A name of at most `max` characters made of [a-z0-9-], starting with a
// letter and ending with a letter or digit; a longer one is cut and ends
// with 8 hex digits of a hash of the whole, so that names stay unique.
std::string KubernetesName(const std::string& text, size_t max = 63);

// The Job's name for an attempt: from the run, the instance and the
// attempt; short enough that `<job>-<index>` host names fit 63 characters.
std::string JobName(const TaskSpec& spec);

// The label on a Job (not on its pods) that holds the Job's own name: finished
// Jobs are deleted in batches by a selector on it.
inline constexpr const char* kJobLabel = "portflow.dev/job";

// Label values for the portflow.dev labels (instance names such as
// "train[lr=0.1]" hold characters labels cannot).
std::map<std::string, std::string> TaskLabels(const TaskSpec& spec);

// The Secret that gives a run's pods under the agent the object store's
// credentials (ObjectStoreRef::credentials): one per run, named after it.
std::string StoreSecretName(const std::string& run_id);
json RenderStoreSecret(const std::string& run_id, const std::string& namespace_name,
                       const std::map<std::string, std::string>& credentials);

// The objects for one attempt, in the order they are created. `code_files`
// maps paths relative to the working directory to their bytes (empty unless
// the code is shipped); `left_out` (credentials not shipped) is noted on the
// code's ConfigMap; `namespace_name` is resolved by the caller.
Result<std::vector<json>> RenderTask(const TaskSpec& spec, const KubernetesTarget& target,
                                     const std::string& namespace_name,
                                     const std::map<std::string, std::string>& code_files,
                                     const std::vector<std::string>& left_out = {});

// What looks like credentials, in .portflowignore syntax: never shipped
// unless the folder's .portflowignore takes it back (`!server.key`).
inline constexpr const char* kCredentialPatterns =
    "*kubeconfig*\n*.pem\n*.key\n*.p12\n*.pfx\n*.jks\n*.keystore\nid_*\n*.env\n"
    "credentials\ncredentials.*\n*.tfstate\n";

struct ShippedCode {
  std::map<std::string, std::string> files;  // path relative to the folder -> bytes
  std::vector<std::string> left_out;         // credentials not shipped, sorted
};

// The files of `dir` to ship: regular files below it, and files that links
// below it point to, under the link's own name. Left out: hidden files and
// folders, __pycache__ and .portflow, what looks like credentials
// (kCredentialPatterns, listed in `left_out`), what .portflowignore says,
// and links that lead nowhere or to a folder. InvalidArgument for a link to
// a file outside `dir` (shipping it would leak it), naming the link;
// InvalidArgument past kMaxShippedCode too, naming the size and what to do
// instead.
Result<ShippedCode> CollectCode(const std::string& dir);

}  // namespace portflow::k8s
