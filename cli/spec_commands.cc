// portflow validate / render: the workload without running it.
#include <yaml-cpp/yaml.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/common.h"

namespace portflow::cli {
namespace {

using json = nlohmann::json;

void EmitYaml(YAML::Emitter& out, const json& j) {
  if (j.is_object()) {
    out << YAML::BeginMap;
    for (auto it = j.begin(); it != j.end(); ++it) {
      out << YAML::Key << it.key() << YAML::Value;
      EmitYaml(out, it.value());
    }
    out << YAML::EndMap;
  } else if (j.is_array()) {
    out << YAML::BeginSeq;
    for (const json& v : j) EmitYaml(out, v);
    out << YAML::EndSeq;
  } else if (j.is_string()) {
    out << YAML::DoubleQuoted << j.get<std::string>();
  } else {
    out << DumpJson(j);
  }
}

}  // namespace

int Validate(const std::string& file, const std::vector<std::string>& params) {
  std::optional<Plan> plan = LoadPlan(file, params);
  if (!plan) return kExitFailed;
  size_t steps = plan->workload().steps.size(), instances = plan->instances().size();
  std::cout << file << ": valid (" << steps << (steps == 1 ? " step, " : " steps, ") << instances
            << (instances == 1 ? " instance)" : " instances)") << "\n";
  return kExitOk;
}

int Render(const std::string& file, const std::vector<std::string>& params,
           const std::string& target_name, const std::string& format) {
  std::optional<Plan> plan = LoadPlan(file, params);
  if (!plan) return kExitUsage;
  auto backend = BackendFor(plan->workload().dir, target_name);
  if (!backend.ok()) {
    PrintError(backend.status().message());
    return kExitUsage;
  }
  // A dry run has no run yet: its id and directory are placeholders.
  const std::string run_id = "RUN_ID";
  const std::string run_dir = RunDir(".portflow", run_id);
  TaskContext ctx{run_id, run_dir, (*backend)->ArtifactRoot(run_id, run_dir)};
  json tasks = json::array();
  for (size_t i = 0; i < plan->instances().size(); ++i) {
    Result<TaskSpec> spec = plan->MakeTask(i, 1, ctx);
    if (!spec.ok()) {
      PrintError(spec.status().message());
      return kExitFailed;
    }
    Result<std::string> rendered = (*backend)->Render(*spec);
    if (!rendered.ok()) {
      PrintError(plan->instances()[i].name + ": " + rendered.status().message());
      return kExitFailed;
    }
    json item = json::parse(*rendered);
    json needs = json::array();
    for (size_t d : plan->instances()[i].dep_steps) needs.push_back(plan->workload().steps[d].name);
    item["needs"] = needs;
    tasks.push_back(item);
  }
  json doc = {{"workload", plan->workload().name}, {"target", target_name}, {"tasks", tasks}};
  if (format == "json") {
    std::cout << DumpJson(doc, 2) << "\n";
  } else {
    YAML::Emitter out;
    EmitYaml(out, doc);
    std::cout << out.c_str() << "\n";
  }
  return kExitOk;
}

}  // namespace portflow::cli
