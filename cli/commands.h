// The portflow subcommands. Each returns the process exit code:
// 0 success, 1 the run (or the check) failed, 2 usage or input errors.
#pragma once

#include <string>
#include <vector>

namespace portflow::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitUsage = 2;

struct GlobalOptions {
  std::string state_dir = ".portflow";  // the run store and run directories
};

struct RunOptions {
  std::string file;
  std::vector<std::string> params;  // key=value
  std::string target = "laptop";
  bool keep_going = false;
  bool strict = false;
  bool quiet = false;  // no task output on the terminal
  bool plain = false;  // prefixed log lines even on a terminal
  std::string run_id;  // resume: the run to finish
};

struct ClusterOptions {
  int nodes = 1;
  std::string cpu = "4";
  std::string memory = "16Gi";
  int gpus = 0;
  int port = 0;                     // 0: a free port
  std::string kubeconfig;           // default: STATE_DIR/cluster/kubeconfig
  std::string mode = "simulate";    // or "execute"
  std::string work_dir;             // execute mode; default: STATE_DIR/cluster/kubelet
  std::string pod_duration = "1s";  // simulate mode: pods without the annotation
};

struct CloudServeOptions {
  int port = 0;  // the AWS APIs; the cluster's API takes a free port
  std::string region = "us-east-1";
  std::string cluster = "burst";
  std::string kubeconfig;       // default: STATE_DIR/cloud/kubeconfig
  std::string aws_credentials;  // default: STATE_DIR/cloud/credentials
  std::string mode = "simulate";
  std::string provisioning = "60s";  // from a desired size raised to a Ready node
  std::string spot_notice = "120s";  // from a spot warning to the instance's end
  std::string pod_duration = "1s";   // simulate mode: pods without the annotation
  std::string node_groups;           // a YAML file; default: four groups at 0
  std::string work_dir;              // execute mode; default: STATE_DIR/cloud/kubelet
  // A Cluster Autoscaler of the cluster's own, giving idle nodes back after
  // scale_down_unneeded.
  bool autoscaler = false;
  std::string scale_down_unneeded = "10m";
  // Spot instances taken back at random: a rate an instance-hour, and the
  // seed of the draws.
  double spot_interruptions = 0;
  uint64_t seed = 1;
};

// `portflow agent`: a step's command in a pod of a run whose outputs live
// in an object store (a hybrid target's artifacts).
struct AgentOptions {
  std::string artifacts;  // s3://BUCKET/PREFIX
  std::string endpoint;   // one endpoint for S3 ("" for AWS's own)
  std::string region = "us-east-1";
  std::string profile;  // AWS credentials profile; "" for the usual chain
  std::string run_id;
  std::string root;                  // the local folder output paths are under
  std::vector<std::string> inputs;   // STEP/OUTPUT, fetched first
  std::vector<std::string> outputs;  // STEP/OUTPUT[/MATRIX], stored after success
  // Each replica has ROOT to itself (a pod's folder): replica 0 stores.
  bool rank_zero_stores = false;
  std::vector<std::string> command;
};
// The exit code of the command (128 + N when signal N ended it), or
// kExitAgent when the agent could not do its part (fetch, store).
inline constexpr int kExitAgent = 125;
int Agent(const AgentOptions& o);

int Run(const GlobalOptions& g, const RunOptions& o);
int Resume(const GlobalOptions& g, const RunOptions& o);
int Validate(const std::string& file, const std::vector<std::string>& params);
int Render(const std::string& file, const std::vector<std::string>& params,
           const std::string& target, const std::string& format);
// `all`: the runs of every state directory the per-user index names too.
int Runs(const GlobalOptions& g, const std::string& format, bool all);
int Targets(const std::string& dir, const std::string& format);
// `graph`: the steps as a tree (report::RenderTree) instead of the table.
int StatusCmd(const GlobalOptions& g, const std::string& run_id, const std::string& format,
              bool graph = false);

struct ReportOptions {
  std::string run_id;
  std::string out;  // "" for RUN.html (html) or stdout (mermaid); "-" for stdout
  std::string format = "html";
};
// `portflow report`: the run drawn as one HTML file, or as Mermaid.
int Report(const GlobalOptions& g, const ReportOptions& options);

struct UiOptions {
  int port = 8470;  // 0: a free port
  // Loopback unless named: anything else serves the runs to the network.
  std::string address = "127.0.0.1";
};
// `portflow ui`: the runs of the state folder as web pages, read-only, until
// Ctrl-C; prints the URL to open on stdout.
int UiServe(const GlobalOptions& g, const UiOptions& options);
// `attempt` 0: the latest attempt of each instance.
int Logs(const GlobalOptions& g, const std::string& run_id, const std::string& instance,
         bool follow, int attempt);
int Cancel(const GlobalOptions& g, const std::string& run_id);
// Without `to`, where each output is; with it, a copy of them (of `step`
// only, when given) in the folder `to`.
int Outputs(const GlobalOptions& g, const std::string& run_id, const std::string& step,
            const std::string& to);
int ClusterServe(const GlobalOptions& g, const ClusterOptions& o);
int CloudServe(const GlobalOptions& g, const CloudServeOptions& o);

}  // namespace portflow::cli
