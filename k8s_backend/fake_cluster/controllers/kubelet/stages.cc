#include "k8s_backend/fake_cluster/controllers/kubelet/stages.h"

#include <cstdlib>

#include "core/k8s_time.h"
#include "k8s_backend/fake_cluster/controllers/pod_status.h"
#include "k8s_backend/fake_cluster/store/json_fields.h"

namespace portflow::fake {
namespace {

const json& Annotations(const json& pod) { return Field(Field(pod, "metadata"), "annotations"); }

// The sim.portflow.dev/duration annotation, else the first container's
// PORTFLOW_SIM_DURATION variable (which a workload can set per matrix
// instance), else the default.
Duration RunsFor(const json& pod, const KubeletOptions& options) {
  std::string d = Str(Annotations(pod), "sim.portflow.dev/duration");
  if (d.empty()) {
    const json& containers = Field(Field(pod, "spec"), "containers");
    if (containers.is_array() && !containers.empty())
      for (const json& e : Field(containers[0], "env"))
        if (Str(e, "name") == "PORTFLOW_SIM_DURATION") d = Str(e, "value");
  }
  if (d.empty()) return options.default_duration;
  bool plain = d.find_first_not_of("0123456789.") == std::string::npos;  // seconds
  auto parsed = ParseDuration(plain ? d + "s" : d);
  return parsed.ok() ? *parsed : options.default_duration;
}

int ExitCode(const json& pod, const KubeletOptions& options) {
  std::string code = Str(Annotations(pod), "sim.portflow.dev/exit-code");
  return code.empty() ? options.default_exit_code : std::atoi(code.c_str());
}

Duration AtOnce(const json&, const KubeletOptions&) { return Duration{0}; }

void StartRunning(json& pod, TimePoint, TimePoint now, const KubeletOptions&) {
  SetRunning(pod, now);
}

std::string StartLog(const json& pod, const KubeletOptions& options) {
  return "portflow simulate: " + Str(Field(pod, "metadata"), "name") + " started; it runs for " +
         FormatDuration(RunsFor(pod, options)) + " and exits with code " +
         std::to_string(ExitCode(pod, options)) + "\n";
}

void ExitNow(json& pod, TimePoint entered, TimePoint now, const KubeletOptions& options) {
  ExitPod(pod, ExitCode(pod, options), entered, now);
}

std::string ExitedLog(const json& pod, const KubeletOptions& options) {
  return "portflow simulate: exited with code " + std::to_string(ExitCode(pod, options)) + "\n";
}

}  // namespace

const std::vector<Stage>& SimulateStages() {
  static const std::vector<Stage> kStages = {
      {"run", "Pending", AtOnce, StartRunning, StartLog},
      {"exit", "Running", RunsFor, ExitNow, ExitedLog},
  };
  return kStages;
}

const Stage* StageFor(const json& pod) {
  if (Str(Field(pod, "spec"), "nodeName").empty() || Deleting(pod)) return nullptr;
  for (const Stage& stage : SimulateStages()) {
    if (Phase(pod) == stage.phase) return &stage;
  }
  return nullptr;
}

void SetRunning(json& pod, TimePoint now) {
  json& status = pod["status"];
  status["phase"] = "Running";
  status["startTime"] = K8sTime(now);
  status["hostIP"] = "127.0.0.1";
  status["podIP"] = "127.0.0.1";
  status["containerStatuses"] =
      ContainerStatuses(pod, {{"running", {{"startedAt", K8sTime(now)}}}}, true);
  SetCondition(status, "Initialized", "True", "", "", now);
  SetCondition(status, "ContainersReady", "True", "", "", now);
  SetCondition(status, "Ready", "True", "", "", now);
}

}  // namespace portflow::fake
