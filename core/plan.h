// The plan: matrix fan-out, the DAG of step instances, and TaskSpecs with
// every {{...}} reference resolved.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/spec.h"
#include "core/status.h"
#include "core/task.h"

namespace portflow {

// Requests a step gets when neither it nor spec.resources says: one cpu (so
// that N cores run N such steps at once, like make -jN), no memory, no GPU.
inline constexpr int64_t kDefaultMilliCpu = 1000;

struct Instance {
  std::string name;  // "prepare", or "train[lr=0.1]" for a matrix step
  size_t step = 0;   // index into Workload::steps
  std::vector<std::pair<std::string, std::string>> matrix;
  std::string matrix_dir;         // "lr=0.1" ("" when not a matrix step)
  std::vector<size_t> dep_steps;  // steps all of whose instances must succeed first
};

// What a TaskSpec needs from the run and the backend.
struct TaskContext {
  std::string run_id;
  std::string run_dir;        // absolute
  std::string artifact_root;  // backend-specific; outputs live below it
};

class Plan {
 public:
  // `w` must have passed validation.
  static Result<Plan> Build(Workload w);

  const Workload& workload() const { return workload_; }
  const std::vector<Instance>& instances() const { return instances_; }
  const Step& StepOf(const Instance& i) const { return workload_.steps[i.step]; }
  // Index of the instance named `name`, or -1.
  int Find(const std::string& name) const;
  // The instances of step `step` (an index into Workload::steps).
  const std::vector<size_t>& InstancesOf(size_t step) const { return by_step_[step]; }

  // Resolves one attempt of instance `index`.
  Result<TaskSpec> MakeTask(size_t index, int attempt, const TaskContext& ctx) const;

  // Resolved per-replica requests of a step.
  ResourceRequest RequestOf(const Step& s) const;

 private:
  Workload workload_;
  std::vector<Instance> instances_;  // topological order
  std::vector<std::vector<size_t>> by_step_;
  std::vector<std::vector<size_t>> needs_;  // by step: the steps it names in needs
  bool any_outputs_ = false;                // a step declares outputs: tasks get inputs
};

// "<root>/<step>/<output>[/<matrix_dir>]"
std::string OutputPath(const std::string& root, const std::string& step, const std::string& output,
                       const std::string& matrix_dir);

}  // namespace portflow
