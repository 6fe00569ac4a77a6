// portflow: run one ML workload description on a laptop or a cluster.
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdlib>
#include <iostream>

#include "cli/commands.h"
#include "cli/common.h"
#include "cloud_backend/cloud_backend.h"
#include "cloud_backend/hybrid/hybrid_backend.h"
#include "core/log.h"
#include "core/process/spawn.h"
#include "k8s_backend/kubernetes_backend.h"
#include "k8s_backend/rehearsal/rehearsal.h"
#include "local_backend/local_backend.h"

namespace {

// The console's log level: the flags, else $PORTFLOW_LOG, else warn. False
// (after saying why) when a level name is wrong.
bool SetUpLogging(int verbosity, const std::string& flag_level) {
  using namespace portflow;
  LogLevel level = LogLevel::kWarn;
  if (const char* env = std::getenv("PORTFLOW_LOG"); env && *env) {
    auto parsed = ParseLogLevel(env);
    if (!parsed.ok()) {
      cli::PrintError("PORTFLOW_LOG: " + parsed.status().message());
      return false;
    }
    level = *parsed;
  }
  if (!flag_level.empty() || verbosity > 0) {
    level = verbosity > 1 ? LogLevel::kTrace : verbosity == 1 ? LogLevel::kDebug : LogLevel::kOff;
    if (!flag_level.empty()) {
      auto parsed = ParseLogLevel(flag_level);
      if (!parsed.ok()) {
        cli::PrintError("--log-level: " + parsed.status().message());
        return false;
      }
      level = std::min(level, *parsed);  // with -v too, the more verbose
    }
  }
  SetConsoleLogLevel(level);
  return true;
}

// Many steps at once hold many files (a task's pidfd, its log while it
// starts): the soft limit on open files goes up to the hard one, and tasks
// get the soft limit back (SpawnProcess), as programs written for
// select() expect.
void RaiseOpenFileLimit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
  portflow::SetChildOpenFileLimit(limit.rlim_cur);
  limit.rlim_cur = limit.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &limit);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace portflow::cli;
  portflow::RegisterLocalBackend();
  portflow::RegisterKubernetesBackend();
  portflow::RegisterRehearsalBackend();
  portflow::RegisterCloudBackends();
  portflow::RegisterHybridBackend();

  CLI::App app{
      "portflow: run one ML workload YAML unchanged on a laptop or a cluster.\n"
      "Exit codes: 0 success, 1 the run or check failed, 2 usage or input errors."};
  app.require_subcommand(1);
  app.set_version_flag("--version", "portflow 0.1.0");
  // Global options work after the subcommand too: `portflow run -v f.yaml`.
  app.fallthrough();
  GlobalOptions g;
  if (const char* d = std::getenv("PORTFLOW_STATE_DIR"); d && *d) g.state_dir = d;
  app.add_option("--state-dir", g.state_dir,
                 "where runs are kept (default .portflow in the working directory, or "
                 "$PORTFLOW_STATE_DIR)");
  int verbosity = 0;
  std::string log_level;
  app.add_flag("-v,--verbose", verbosity,
               "diagnostics on stderr: -v debug (API requests, engine decisions), -vv trace");
  app.add_option("--log-level", log_level,
                 "diagnostics on stderr at LEVEL and above: trace, debug, info, warn (default), "
                 "error, off; default $PORTFLOW_LOG. A run also writes debug and above to "
                 "RUN_DIR/portflow.log")
      ->type_name("LEVEL");

  RunOptions run;
  auto* run_cmd = app.add_subcommand("run", "Run a workload; prints the run id first");
  run_cmd->add_option("file", run.file, "workload YAML file")->required();
  run_cmd->add_option("-p,--param", run.params, "override a param: key=value (repeatable)");
  run_cmd->add_option("-t,--target", run.target, "target from portflow.yaml (default laptop)");
  run_cmd->add_flag("--plain", run.plain,
                    "print task output as prefixed lines even on a terminal (default there: a "
                    "compact live view)");
  run_cmd->add_flag("-k,--keep-going", run.keep_going, "run what does not depend on a failed step");
  run_cmd->add_flag("--strict", run.strict, "refuse fields the target's backend cannot honour");
  run_cmd->add_flag("-q,--quiet", run.quiet,
                    "no task output or progress on the terminal; only failures and the summary");

  RunOptions resume;
  auto* resume_cmd = app.add_subcommand("resume",
                                        "Finish a run after a crash or a failure, "
                                        "without re-running what succeeded");
  resume_cmd->add_option("run", resume.run_id, "run id")->required();
  resume_cmd->add_flag("-q,--quiet", resume.quiet,
                       "no task output or progress on the terminal; only failures and the summary");
  resume_cmd->add_flag("--plain", resume.plain,
                       "print task output as prefixed lines even on a terminal");

  std::string file, target = "laptop", format = "yaml";
  std::vector<std::string> params;
  auto* validate_cmd =
      app.add_subcommand("validate", "Check a workload; exit 0 when valid, 1 when not");
  validate_cmd->add_option("file", file, "workload YAML file")->required();
  validate_cmd->add_option("-p,--param", params, "override a param: key=value");

  auto* render_cmd = app.add_subcommand("render",
                                        "Print exactly what each task would run, "
                                        "without running anything");
  render_cmd->add_option("file", file, "workload YAML file")->required();
  render_cmd->add_option("-p,--param", params, "override a param: key=value");
  render_cmd->add_option("-t,--target", target, "target (default laptop)");
  render_cmd->add_option("-o,--output", format, "yaml or json")
      ->check(CLI::IsMember({"yaml", "json"}));

  std::string list_format = "table";
  auto* runs_cmd = app.add_subcommand("runs", "List runs, newest first");
  runs_cmd->add_option("-o,--output", list_format, "table or json")
      ->check(CLI::IsMember({"table", "json"}));
  bool all_runs = false;
  runs_cmd->add_flag("-a,--all", all_runs,
                     "the runs of every directory portflow ran in (the per-user index)");

  std::string targets_dir = ".";
  auto* targets_cmd = app.add_subcommand(
      "targets",
      "List the targets seen from a directory, whether each is reachable, and its capacity");
  targets_cmd->add_option("dir", targets_dir, "the workload's directory (default .)");
  targets_cmd->add_option("-o,--output", list_format, "table or json")
      ->check(CLI::IsMember({"table", "json"}));

  std::string run_id, instance;
  auto* status_cmd = app.add_subcommand("status", "Show a run's instances and attempts");
  status_cmd->add_option("run", run_id, "run id")->required();
  status_cmd->add_option("-o,--output", list_format, "table or json")
      ->check(CLI::IsMember({"table", "json"}));
  bool graph = false;
  status_cmd->add_flag("--graph", graph, "the steps as an indented tree, with their states");

  ReportOptions report;
  auto* report_cmd = app.add_subcommand(
      "report",
      "Write a run's report: one HTML file with its steps, timeline, cost and logs (a snapshot "
      "while it runs), or Mermaid");
  report_cmd->add_option("run", report.run_id, "run id")->required();
  report_cmd->add_option(
      "-o,--output", report.out,
      "the file to write (default RUN.html, or stdout for mermaid); - for stdout");
  report_cmd->add_option("--format", report.format, "html or mermaid")
      ->check(CLI::IsMember({"html", "mermaid"}));

  UiOptions ui;
  auto* ui_cmd = app.add_subcommand(
      "ui",
      "Serve this folder's runs as web pages (read-only, on loopback): each run's report, "
      "followed live, and its logs; prints the URL to open");
  ui_cmd->add_option("--port", ui.port, "the port (default 8470; 0 picks a free one)")
      ->check(CLI::Range(0, 65535));
  ui_cmd->add_option("--address", ui.address,
                     "the address to listen on (default 127.0.0.1; another serves the runs to "
                     "whoever reaches it)");

  bool follow = false;
  auto* logs_cmd = app.add_subcommand("logs", "Print task logs of a run");
  logs_cmd->add_option("run", run_id, "run id")->required();
  logs_cmd->add_option("instance", instance, "instance or step name (default: all)");
  logs_cmd->add_flag("-f,--follow", follow, "keep printing until the run ends");
  int attempt = 0;
  logs_cmd->add_option("--attempt", attempt, "that attempt's log (default: the latest)")
      ->check(CLI::PositiveNumber);

  std::string outputs_step, outputs_to;
  auto* outputs_cmd = app.add_subcommand(
      "outputs", "Where a run's outputs are; with --to, a copy of them in a local folder");
  outputs_cmd->add_option("run", run_id, "run id")->required();
  outputs_cmd->add_option("step", outputs_step, "only this step's outputs");
  outputs_cmd->add_option("--to", outputs_to,
                          "copy them into this folder (from a cluster's volume too)");

  auto* cancel_cmd = app.add_subcommand("cancel", "Cancel a run (from any terminal)");
  cancel_cmd->add_option("run", run_id, "run id")->required();

  ClusterOptions cluster;
  auto* cluster_cmd = app.add_subcommand("cluster", "The fake Kubernetes cluster");
  cluster_cmd->require_subcommand(1);
  auto* serve_cmd = cluster_cmd->add_subcommand(
      "serve",
      "Serve a fake Kubernetes API on 127.0.0.1 for kubectl and other clients, until Ctrl-C");
  serve_cmd->add_option("--nodes", cluster.nodes, "number of nodes (default 1)")
      ->check(CLI::Range(1, 5000));
  serve_cmd->add_option("--cpu", cluster.cpu, "cpu per node, a quantity (default 4)");
  serve_cmd->add_option("--memory", cluster.memory, "memory per node, a quantity (default 16Gi)");
  serve_cmd->add_option("--gpus", cluster.gpus, "nvidia.com/gpu per node (default 0)")
      ->check(CLI::Range(0, 64));
  serve_cmd->add_option("--port", cluster.port, "port on 127.0.0.1 (default: a free one)")
      ->check(CLI::Range(0, 65535));
  serve_cmd->add_option("--kubeconfig", cluster.kubeconfig,
                        "where to write the kubeconfig (default STATE_DIR/cluster/kubeconfig)");
  // The fake kubelet's modes, for cluster serve and cloud serve.
  const char* mode_help =
      "simulate: pods run for their sim.portflow.dev/duration annotation; execute: "
      "the first container's command runs as a local process (default simulate)";
  const char* pod_duration_help =
      "simulate mode: how long a pod without the sim.portflow.dev/duration "
      "annotation runs, a duration such as 0, 500ms, 2m (default 1s)";
  serve_cmd->add_option("--mode", cluster.mode, mode_help)
      ->check(CLI::IsMember({"simulate", "execute"}));
  serve_cmd->add_option("--pod-duration", cluster.pod_duration, pod_duration_help);
  serve_cmd->add_option("--work-dir", cluster.work_dir,
                        "execute mode: where pods' directories and volumes go "
                        "(default STATE_DIR/cluster/kubelet)");

  CloudServeOptions cloud;
  auto* cloud_cmd = app.add_subcommand("cloud", "The fake cloud");
  cloud_cmd->require_subcommand(1);
  auto* cloud_serve_cmd = cloud_cmd->add_subcommand(
      "serve",
      "Serve a fake AWS (EKS node groups, the SQS interruption queue, S3 buckets) and the "
      "Kubernetes cluster its instances join, on 127.0.0.1, until Ctrl-C; writes a kubeconfig "
      "and an AWS credentials file");
  cloud_serve_cmd
      ->add_option("--port", cloud.port, "port of the AWS APIs on 127.0.0.1 (default: a free one)")
      ->check(CLI::Range(0, 65535));
  cloud_serve_cmd->add_option("--region", cloud.region, "region (default us-east-1)");
  cloud_serve_cmd->add_option("--cluster", cloud.cluster,
                              "EKS cluster name, also the kubeconfig's context (default burst)");
  cloud_serve_cmd->add_option(
      "--kubeconfig", cloud.kubeconfig,
      "where to write the cluster's kubeconfig (default STATE_DIR/cloud/kubeconfig)");
  cloud_serve_cmd->add_option("--aws-credentials", cloud.aws_credentials,
                              "where to write the AWS shared credentials file, profile default "
                              "(default STATE_DIR/cloud/credentials)");
  cloud_serve_cmd->add_option("--mode", cloud.mode, mode_help)
      ->check(CLI::IsMember({"simulate", "execute"}));
  cloud_serve_cmd->add_option("--provisioning", cloud.provisioning,
                              "from a raised desired size to a Ready node (default 60s)");
  cloud_serve_cmd->add_option("--spot-notice", cloud.spot_notice,
                              "from a spot interruption warning to the instance's end "
                              "(default 120s)");
  cloud_serve_cmd->add_option("--pod-duration", cloud.pod_duration, pod_duration_help);
  cloud_serve_cmd->add_option("--node-groups", cloud.node_groups,
                              "a YAML file of node groups (default: cpu-spot, cpu-ondemand, "
                              "gpu-ondemand, gpu-spot, each at 0)");
  cloud_serve_cmd->add_option("--work-dir", cloud.work_dir,
                              "execute mode: where pods' directories and volumes go "
                              "(default STATE_DIR/cloud/kubelet)");
  cloud_serve_cmd->add_flag("--autoscaler", cloud.autoscaler,
                            "run a Cluster Autoscaler in the cluster: it grows the cheapest "
                            "group that fits each pod no node takes and gives idle nodes back "
                            "(for targets with autoscaler: cluster)");
  cloud_serve_cmd
      ->add_option("--spot-interruptions", cloud.spot_interruptions,
                   "take spot instances back at random, at this many an instance-hour "
                   "(default 0: only when POST /portflow/faults asks)")
      ->check(CLI::Range(0.0, 3600.0));
  cloud_serve_cmd->add_option("--seed", cloud.seed,
                              "seed of the random spot interruptions (default 1)");
  cloud_serve_cmd->add_option("--scale-down-unneeded", cloud.scale_down_unneeded,
                              "with --autoscaler: how long a node holds no pod before it goes "
                              "(default 10m)");

  AgentOptions agent;
  auto* agent_cmd = app.add_subcommand(
      "agent",
      "Run a step's command where its outputs live in an object store (in a pod of a hybrid "
      "run): fetch its inputs, run it (signals passed on, its exit code kept), store its "
      "outputs with their sizes and SHA-256; exit 125 when fetching or storing fails");
  agent_cmd->add_option("--artifacts", agent.artifacts, "the store, s3://BUCKET/PREFIX")
      ->required();
  agent_cmd->add_option("--endpoint", agent.endpoint, "the S3 endpoint (default: AWS's)");
  agent_cmd->add_option("--region", agent.region, "region (default us-east-1)");
  agent_cmd->add_option("--profile", agent.profile,
                        "AWS credentials profile (default: the environment, then the usual "
                        "files)");
  agent_cmd->add_option("--run", agent.run_id, "the run id")->required();
  agent_cmd->add_option("--root", agent.root, "the folder the outputs are under")->required();
  agent_cmd->add_option("--input", agent.inputs,
                        "an output to fetch first, STEP/OUTPUT, into ROOT/STEP/OUTPUT "
                        "(repeatable)");
  agent_cmd->add_option("--output", agent.outputs,
                        "an output to store when the command succeeds, STEP/OUTPUT[/MATRIX], "
                        "from ROOT/... (repeatable)");
  agent_cmd->add_flag("--rank-zero-stores", agent.rank_zero_stores,
                      "only replica 0 (PORTFLOW_RANK) stores the outputs: each replica of a "
                      "gang has a folder of its own (a pod's)");
  agent_cmd->footer("The command and its arguments come last, after --.");
  // Everything after `--` is the agent's command, taken off before parsing
  // (its own options are no business of portflow's).
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) != "--") continue;
    if (std::find(argv + 1, argv + i, std::string("agent")) != argv + i) {
      agent.command.assign(argv + i + 1, argv + argc);
      argc = i;
    }
    break;
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : kExitUsage;
  }
  if (!SetUpLogging(verbosity, log_level)) return kExitUsage;
  RaiseOpenFileLimit();
  auto dispatch = [&] {
    if (*run_cmd) return Run(g, run);
    if (*resume_cmd) return Resume(g, resume);
    if (*validate_cmd) return Validate(file, params);
    if (*render_cmd) return Render(file, params, target, format);
    if (*runs_cmd) return Runs(g, list_format, all_runs);
    if (*targets_cmd) return Targets(targets_dir, list_format);
    if (*status_cmd) return StatusCmd(g, run_id, list_format, graph);
    if (*report_cmd) return Report(g, report);
    if (*ui_cmd) return UiServe(g, ui);
    if (*logs_cmd) return Logs(g, run_id, instance, follow, attempt);
    if (*cancel_cmd) return Cancel(g, run_id);
    if (*outputs_cmd) return Outputs(g, run_id, outputs_step, outputs_to);
    if (*serve_cmd) return ClusterServe(g, cluster);
    if (*cloud_serve_cmd) return CloudServe(g, cloud);
    if (*agent_cmd) {
      if (agent.command.empty()) {
        PrintError("agent: no command (portflow agent OPTIONS -- COMMAND ARGS...)");
        return kExitUsage;
      }
      return Agent(agent);
    }
    return kExitUsage;
  };
  try {
    return dispatch();
  } catch (const std::exception& e) {  // a clear error and an exit code, never an abort
    PrintError(std::string("internal error: ") + e.what());
    return kExitFailed;
  }
}
