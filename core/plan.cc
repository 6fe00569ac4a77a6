#include "core/plan.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <unordered_set>

#include "core/template.h"

namespace portflow {
namespace {

// Every combination of matrix values, first key varying slowest.
std::vector<std::vector<std::pair<std::string, std::string>>> Combinations(const Step& s) {
  std::vector<std::vector<std::pair<std::string, std::string>>> out{{}};
  for (const auto& [key, values] : s.matrix) {
    std::vector<std::vector<std::pair<std::string, std::string>>> next;
    for (const auto& partial : out) {
      for (const std::string& v : values) {
        next.push_back(partial);
        next.back().emplace_back(key, v);
      }
    }
    out = std::move(next);
  }
  return out;
}

std::string PathSafe(std::string v) {
  for (char& c : v) {
    if (c == '/' || c == '\0') c = '_';
  }
  return v;
}

}  // namespace

std::string OutputPath(const std::string& root, const std::string& step, const std::string& output,
                       const std::string& matrix_dir) {
  std::string p = root + "/" + step + "/" + output;
  if (!matrix_dir.empty()) p += "/" + matrix_dir;
  return p;
}

Result<Plan> Plan::Build(Workload w) {
  Plan plan;
  plan.workload_ = std::move(w);
  const auto& steps = plan.workload_.steps;
  std::map<std::string, size_t> index_of;
  for (size_t i = 0; i < steps.size(); ++i) index_of[steps[i].name] = i;

  // Topological order of steps (Kahn), stable in file order.
  std::vector<int> indegree(steps.size(), 0);
  std::vector<std::vector<size_t>> dependents(steps.size());
  for (size_t i = 0; i < steps.size(); ++i) {
    for (const std::string& n : steps[i].needs) {
      auto it = index_of.find(n);
      if (it == index_of.end())
        return InvalidArgument("step " + steps[i].name + " needs unknown " + n);
      dependents[it->second].push_back(i);
      ++indegree[i];
    }
  }
  std::vector<size_t> order;
  for (size_t i = 0; i < steps.size(); ++i) {
    if (indegree[i] == 0) order.push_back(i);
  }
  for (size_t k = 0; k < order.size(); ++k) {
    for (size_t d : dependents[order[k]]) {
      if (--indegree[d] == 0) order.push_back(d);
    }
  }
  if (order.size() != steps.size()) return InvalidArgument("the steps form a cycle");

  plan.by_step_.resize(steps.size());
  plan.needs_.resize(steps.size());
  for (const Step& step : steps) plan.any_outputs_ = plan.any_outputs_ || !step.outputs.empty();
  for (size_t si : order) {
    const Step& s = steps[si];
    std::vector<size_t> deps;
    for (const std::string& n : s.needs) deps.push_back(index_of[n]);
    plan.needs_[si] = deps;
    for (auto& combo : Combinations(s)) {
      Instance inst;
      inst.step = si;
      inst.name = s.name;
      if (!combo.empty()) {
        for (const auto& [k, v] : combo) {
          inst.matrix_dir += (inst.matrix_dir.empty() ? "" : ",") + k + "=" + PathSafe(v);
        }
        inst.name += "[" + inst.matrix_dir + "]";
      }
      inst.matrix = std::move(combo);
      inst.dep_steps = deps;
      plan.by_step_[si].push_back(plan.instances_.size());
      plan.instances_.push_back(std::move(inst));
    }
  }
  return plan;
}

int Plan::Find(const std::string& name) const {
  for (size_t i = 0; i < instances_.size(); ++i) {
    if (instances_[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

ResourceRequest Plan::RequestOf(const Step& s) const {
  const Resources& d = workload_.resources;
  ResourceRequest r;
  r.milli_cpu = s.resources.milli_cpu.value_or(d.milli_cpu.value_or(kDefaultMilliCpu));
  r.memory_bytes = s.resources.memory_bytes.value_or(d.memory_bytes.value_or(0));
  r.gpus = s.resources.gpus.value_or(d.gpus.value_or(0));
  return r;
}

Result<TaskSpec> Plan::MakeTask(size_t index, int attempt, const TaskContext& ctx) const {
  const Instance& inst = instances_.at(index);
  const Step& s = StepOf(inst);
  auto lookup = [&](const TemplateRef& ref) -> Result<std::string> {
    const auto& p = ref.path;
    if (p[0] == "run" && p.size() == 2 && p[1] == "id") return ctx.run_id;
    auto find = [&](const auto& pairs, const std::string& key) -> Result<std::string> {
      for (const auto& [k, v] : pairs) {
        if (k == key) return std::string(v);
      }
      return InvalidArgument("unresolved reference {{" + JoinRef(ref) + "}}");
    };
    if (p[0] == "params" && p.size() == 2) return find(workload_.params, p[1]);
    if (p[0] == "matrix" && p.size() == 2) return find(inst.matrix, p[1]);
    if (p[0] == "outputs" && p.size() == 2) {
      return OutputPath(ctx.artifact_root, s.name, p[1], inst.matrix_dir);
    }
    if (p[0] == "steps" && p.size() == 4 && p[2] == "outputs") {
      return OutputPath(ctx.artifact_root, p[1], p[3], "");
    }
    return InvalidArgument("unresolved reference {{" + JoinRef(ref) + "}}");
  };

  TaskSpec t;
  t.run_id = ctx.run_id;
  t.step = s.name;
  t.instance = inst.name;
  t.attempt = attempt;
  t.run_dir = ctx.run_dir;
  if (s.script) {
    ASSIGN_OR_RETURN(std::string script, ExpandTemplate(s.script->text, lookup));
    t.argv = {"/bin/sh", "-c", script};
  } else {
    for (const Templated& arg : s.command) {
      ASSIGN_OR_RETURN(std::string a, ExpandTemplate(arg.text, lookup));
      t.argv.push_back(std::move(a));
    }
  }
  for (const EnvList* env : {&workload_.env, &s.env}) {
    for (const auto& [k, v] : *env) {
      ASSIGN_OR_RETURN(std::string value, ExpandTemplate(v.text, lookup));
      t.env.emplace_back(k, std::move(value));
    }
  }
  t.env.emplace_back("PORTFLOW_RUN_ID", ctx.run_id);
  t.env.emplace_back("PORTFLOW_STEP", s.name);
  t.env.emplace_back("PORTFLOW_INSTANCE", inst.name);
  t.env.emplace_back("PORTFLOW_ATTEMPT", std::to_string(attempt));
  t.workdir = workload_.dir;
  if (s.workdir) {
    ASSIGN_OR_RETURN(std::string wd, ExpandTemplate(s.workdir->text, lookup));
    t.workdir = (std::filesystem::path(workload_.dir) / wd).lexically_normal().string();
  }
  t.image = workload_.image;
  t.resources = RequestOf(s);
  t.replicas = s.replicas;
  t.timeout = s.timeout;
  for (const std::string& o : s.outputs) {
    t.outputs.push_back({o, OutputPath(ctx.artifact_root, s.name, o, inst.matrix_dir)});
  }
  // Inputs: the outputs of every step this one comes after, not only the
  // steps it names in needs, since {{steps.S.outputs.x}} may name any of
  // them (a cluster mounts exactly these). In workload order.
  // By index, so that it costs what the step comes after, not the whole
  // workload (a trace of 100,000 steps).
  // With no outputs anywhere there is nothing to find (a long chain would
  // walk every step before each one).
  std::vector<size_t> before;
  std::unordered_set<size_t> seen;
  std::vector<size_t> todo;
  if (any_outputs_) todo = needs_[inst.step];
  while (!todo.empty()) {
    size_t n = todo.back();
    todo.pop_back();
    if (!seen.insert(n).second) continue;
    before.push_back(n);
    todo.insert(todo.end(), needs_[n].begin(), needs_[n].end());
  }
  std::sort(before.begin(), before.end());
  for (size_t b : before) {
    const Step& step = workload_.steps[b];
    for (const std::string& o : step.outputs) {
      t.inputs.push_back({step.name + "." + o, OutputPath(ctx.artifact_root, step.name, o, "")});
    }
  }
  t.labels = {{"portflow.dev/run", ctx.run_id},
              {"portflow.dev/step", s.name},
              {"portflow.dev/instance", inst.name},
              {"portflow.dev/attempt", std::to_string(attempt)}};
  return t;
}

}  // namespace portflow
