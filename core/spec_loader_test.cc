#include "core/spec_loader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace portflow {
namespace {

using ::testing::HasSubstr;

constexpr const char* kGood = R"(apiVersion: portflow.dev/v1
kind: Workload
metadata: {name: demo, labels: {team: a}}
spec:
  params: {epochs: 3, lr: 0.01}
  image: python:3.12-slim
  env: {A: "1"}
  resources: {cpu: 500m, memory: 1Gi}
  steps:
    - name: prep
      command: [python3, prep.py, --out, "{{outputs.data}}"]
      outputs: [data]
    - name: train
      needs: [prep]
      replicas: 2
      resources: {cpu: 2, memory: 4Gi, gpu: 1}
      matrix: {lr: [0.1, 0.01]}
      retries: {limit: 2, backoff: 10s}
      timeout: 30m
      command: [python3, train.py, --lr, "{{matrix.lr}}", --data, "{{steps.prep.outputs.data}}"]
    - name: report
      needs: [train]
      script: echo {{params.epochs}} {{run.id}}
)";

LoadResult Parse(const std::string& text, const ParamOverrides& o = {}) {
  return ParseWorkload(text, "w.yaml", "/work", o);
}

std::string Errors(const LoadResult& r) { return r.diagnostics.ToString(); }

TEST(SpecLoader, LoadsEveryField) {
  LoadResult r = Parse(kGood);
  ASSERT_TRUE(r.ok()) << Errors(r);
  const Workload& w = *r.workload;
  EXPECT_EQ(w.name, "demo");
  EXPECT_EQ(w.labels.at("team"), "a");
  ASSERT_EQ(w.params.size(), 2u);
  EXPECT_EQ(w.params[1].second, "0.01");
  EXPECT_EQ(*w.image, "python:3.12-slim");
  EXPECT_EQ(*w.resources.milli_cpu, 500);
  ASSERT_EQ(w.steps.size(), 3u);
  const Step& t = w.steps[1];
  EXPECT_EQ(t.replicas, 2);
  EXPECT_EQ(*t.resources.gpus, 1);
  EXPECT_EQ(*t.resources.memory_bytes, 4LL << 30);
  EXPECT_EQ(t.retries.limit, 2);
  EXPECT_EQ(t.retries.backoff, std::chrono::seconds(10));
  EXPECT_EQ(*t.timeout, std::chrono::minutes(30));
  ASSERT_EQ(t.matrix.size(), 1u);
  EXPECT_EQ(t.matrix[0].second, (std::vector<std::string>{"0.1", "0.01"}));
  EXPECT_EQ(t.needs, std::vector<std::string>{"prep"});
  EXPECT_TRUE(w.steps[2].script.has_value());
  EXPECT_EQ(w.steps[1].pos.line, 13);
}

TEST(SpecLoader, OverridesParams) {
  LoadResult r = Parse(kGood, {{"epochs", "9"}});
  ASSERT_TRUE(r.ok()) << Errors(r);
  EXPECT_EQ(r.workload->params[0].second, "9");
  LoadResult bad = Parse(kGood, {{"epoch", "9"}});
  EXPECT_FALSE(bad.ok());
  EXPECT_THAT(Errors(bad), HasSubstr("no param \"epoch\"; did you mean \"epochs\"?"));
}

TEST(SpecLoader, ReportsEveryErrorWithPosition) {
  std::string text = R"(apiVersion: portflow.dev/v1
kind: Workload
metadata: {name: demo}
spec:
  image: Python:3.12
  steps:
    - name: a
      comand: [x]
    - name: Bad_Name
      command: [x]
      resources: {cpu: lots}
      timeout: 10
)";
  LoadResult r = Parse(text);
  ASSERT_FALSE(r.ok());
  std::string e = Errors(r);
  EXPECT_THAT(e, HasSubstr("w.yaml:5:10: spec.image \"Python:3.12\" is not an image reference"));
  EXPECT_THAT(e,
              HasSubstr("w.yaml:8:7: unknown field \"comand\" in step; did you mean \"command\"?"));
  // No second "has no command" error: the hint above already says it.
  EXPECT_THAT(e, ::testing::Not(HasSubstr("has no command")));
  EXPECT_THAT(e, HasSubstr("w.yaml:9:13: step name \"Bad_Name\" is not a DNS-1123 label"));
  EXPECT_THAT(
      e, HasSubstr("w.yaml:11:24: step \"Bad_Name\" resources.cpu: invalid quantity \"lots\""));
  EXPECT_THAT(e, HasSubstr("w.yaml:12:16: step \"Bad_Name\" timeout: invalid duration \"10\""));
  EXPECT_EQ(r.diagnostics.list().size(), 5u) << e;
}

TEST(SpecLoader, CyclesShowThePath) {
  std::string text = R"(apiVersion: portflow.dev/v1
kind: Workload
metadata: {name: demo}
spec:
  steps:
    - {name: a, needs: [c], command: [x]}
    - {name: b, needs: [a], command: [x]}
    - {name: c, needs: [b], command: [x]}
)";
  LoadResult r = Parse(text);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(Errors(r), HasSubstr("dependency cycle: a -> c -> b -> a"));
}

TEST(SpecLoader, UnresolvedReferences) {
  std::string text = R"(apiVersion: portflow.dev/v1
kind: Workload
metadata: {name: demo}
spec:
  params: {epochs: 1}
  steps:
    - {name: a, command: [x, "{{params.epoch}}"], outputs: [o]}
    - {name: b, command: [x, "{{steps.a.outputs.o}}", "{{matrix.lr}}"]}
)";
  LoadResult r = Parse(text);
  ASSERT_FALSE(r.ok());
  std::string e = Errors(r);
  EXPECT_THAT(e,
              HasSubstr("w.yaml:7:31: unresolved reference {{params.epoch}}: no param \"epoch\" in "
                        "spec.params; did you mean \"epochs\"?"));
  EXPECT_THAT(e, HasSubstr("step \"b\" does not need \"a\""));
  EXPECT_THAT(e, HasSubstr("step \"b\" has no matrix key \"lr\""));
}

TEST(SpecLoader, HostileInputGetsAnErrorNotACrash) {
  EXPECT_THAT(Errors(Parse(std::string("a: \0b", 5))), HasSubstr("not text"));
  EXPECT_THAT(Errors(Parse(std::string(300, '['))), HasSubstr("nesting deeper than 64"));
  EXPECT_THAT(Errors(Parse(std::string(kMaxWorkloadBytes + 1, ' '))), HasSubstr("larger than"));
  EXPECT_THAT(Errors(Parse("a: [")), HasSubstr("YAML syntax error"));
  EXPECT_THAT(Errors(Parse("")), HasSubstr("must be a map"));
  // Aliases are shared, not expanded: a "billion laughs" document stays small.
  std::string laughs = "a: &a [x, x, x, x, x, x, x, x]\n";
  for (char c = 'b'; c <= 'j'; ++c) {
    laughs += std::string(1, c) + ": &" + c + " [*" + char(c - 1) + ", *" + char(c - 1) + ", *" +
              char(c - 1) + ", *" + char(c - 1) + "]\n";
  }
  EXPECT_FALSE(Parse(laughs).ok());
}

TEST(SpecLoader, Dns1123) {
  EXPECT_TRUE(IsDns1123Label("a"));
  EXPECT_TRUE(IsDns1123Label("train-2"));
  EXPECT_FALSE(IsDns1123Label("-a"));
  EXPECT_FALSE(IsDns1123Label("a-"));
  EXPECT_FALSE(IsDns1123Label("A"));
  EXPECT_FALSE(IsDns1123Label(std::string(64, 'a')));
  EXPECT_TRUE(IsDns1123Label(std::string(63, 'a')));
}

}  // namespace
}  // namespace portflow
