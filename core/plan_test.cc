#include "core/plan.h"

#include <gtest/gtest.h>

#include "core/spec_loader.h"

namespace portflow {
namespace {

Plan MakePlan(const std::string& steps) {
  std::string text =
      "apiVersion: portflow.dev/v1\nkind: Workload\nmetadata: {name: p}\nspec:\n"
      "  params: {n: 3}\n  env: {G: \"{{params.n}}\"}\n  steps:\n" +
      steps;
  LoadResult r = ParseWorkload(text, "p.yaml", "/src");
  EXPECT_TRUE(r.ok()) << r.diagnostics.ToString();
  auto plan = Plan::Build(std::move(*r.workload));
  EXPECT_TRUE(plan.ok());
  return std::move(*plan);
}

TEST(Plan, MatrixFansOutInOrder) {
  Plan p = MakePlan(
      "    - {name: a, command: [x], outputs: [o]}\n"
      "    - {name: t, needs: [a], matrix: {lr: [1, 2], bs: [8, 16]}, command: [x], outputs: [m]}\n"
      "    - {name: z, needs: [t], command: [x]}\n");
  std::vector<std::string> names;
  for (const Instance& i : p.instances()) names.push_back(i.name);
  EXPECT_EQ(names, (std::vector<std::string>{"a", "t[lr=1,bs=8]", "t[lr=1,bs=16]", "t[lr=2,bs=8]",
                                             "t[lr=2,bs=16]", "z"}));
  EXPECT_EQ(p.instances()[5].dep_steps, (std::vector<size_t>{1}));
  EXPECT_EQ(p.InstancesOf(1), (std::vector<size_t>{1, 2, 3, 4}));
  EXPECT_EQ(p.instances()[1].dep_steps, (std::vector<size_t>{0}));
}

// A matrix key may take a list param's values, as overridden with -p.
TEST(Plan, MatrixValuesFromAListParam) {
  std::string text =
      "apiVersion: portflow.dev/v1\nkind: Workload\nmetadata: {name: p}\nspec:\n"
      "  params: {lrs: [0.1, 0.01]}\n  steps:\n"
      "    - {name: t, matrix: {lr: \"{{params.lrs}}\"}, command: [x, \"{{params.lrs}}\"]}\n";
  auto names = [&](const ParamOverrides& overrides) {
    LoadResult r = ParseWorkload(text, "p.yaml", "/src", overrides);
    EXPECT_TRUE(r.ok()) << r.diagnostics.ToString();
    std::vector<std::string> out;
    if (!r.ok()) return out;
    Plan plan = std::move(*Plan::Build(std::move(*r.workload)));
    for (const Instance& i : plan.instances()) out.push_back(i.name);
    return out;
  };
  EXPECT_EQ(names({}), (std::vector<std::string>{"t[lr=0.1]", "t[lr=0.01]"}));
  EXPECT_EQ(names({{"lrs", "[1, 2, 3]"}}),
            (std::vector<std::string>{"t[lr=1]", "t[lr=2]", "t[lr=3]"}));
  EXPECT_EQ(names({{"lrs", "5"}}), (std::vector<std::string>{"t[lr=5]"}));
}

TEST(Plan, TopologicalOrderIgnoresFileOrder) {
  Plan p = MakePlan("    - {name: b, needs: [a], command: [x]}\n    - {name: a, command: [x]}\n");
  EXPECT_EQ(p.instances()[0].name, "a");
  EXPECT_EQ(p.instances()[1].name, "b");
}

TEST(Plan, TaskSpecResolvesEverything) {
  Plan p = MakePlan(
      "    - {name: a, command: [x], outputs: [data]}\n"
      "    - name: t\n      needs: [a]\n      matrix: {lr: [\"0.1\"]}\n      replicas: 2\n"
      "      workdir: sub\n      timeout: 1m\n      resources: {gpu: 1}\n"
      "      env: {LR: \"{{matrix.lr}}\"}\n"
      "      command: [x, \"{{matrix.lr}}\", \"{{steps.a.outputs.data}}\", \"{{outputs.m}}\", "
      "\"{{run.id}}\", \"{{params.n}}\"]\n      outputs: [m]\n");
  auto t = p.MakeTask(1, 3, {"r1", "/runs/r1", "/runs/r1/outputs"});
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->argv, (std::vector<std::string>{"x", "0.1", "/runs/r1/outputs/a/data",
                                               "/runs/r1/outputs/t/m/lr=0.1", "r1", "3"}));
  EXPECT_EQ(t->instance, "t[lr=0.1]");
  EXPECT_EQ(t->Key(), "r1/t[lr=0.1]/3");
  EXPECT_EQ(t->workdir, "/src/sub");
  EXPECT_EQ(t->replicas, 2);
  EXPECT_EQ(t->resources.gpus, 1);
  EXPECT_EQ(t->resources.milli_cpu, kDefaultMilliCpu);
  EXPECT_EQ(*t->timeout, std::chrono::minutes(1));
  EXPECT_EQ(t->env[0], (std::pair<std::string, std::string>{"G", "3"}));
  EXPECT_EQ(t->env[1], (std::pair<std::string, std::string>{"LR", "0.1"}));
  EXPECT_EQ(t->labels.at("portflow.dev/attempt"), "3");
  ASSERT_EQ(t->inputs.size(), 1u);
  EXPECT_EQ(t->inputs[0].path, "/runs/r1/outputs/a/data");
}

TEST(Plan, InputsAreTheOutputsOfEveryEarlierStep) {
  // c needs b only, yet may read a's output: a cluster must mount it.
  Plan p = MakePlan(
      "    - {name: a, command: [x], outputs: [data]}\n"
      "    - {name: b, needs: [a], command: [x], outputs: [model, report]}\n"
      "    - {name: side, command: [x], outputs: [other]}\n"
      "    - {name: c, needs: [b], command: [x, \"{{steps.a.outputs.data}}\"]}\n");
  auto t = p.MakeTask(3, 1, {"r", "/r", "/r/o"});
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  std::vector<std::string> names;
  for (const ArtifactBinding& b : t->inputs) names.push_back(b.name);
  EXPECT_EQ(names, (std::vector<std::string>{"a.data", "b.model", "b.report"}));
}

TEST(Plan, ScriptRunsThroughShell) {
  Plan p = MakePlan("    - {name: s, script: \"echo {{params.n}} | wc\"}\n");
  auto t = p.MakeTask(0, 1, {"r", "/r", "/r/o"});
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->argv, (std::vector<std::string>{"/bin/sh", "-c", "echo 3 | wc"}));
}

}  // namespace
}  // namespace portflow
