// The workload spec v1 (apiVersion portflow.dev/v1, kind Workload) as loaded
// from YAML. Field-by-field documentation: docs/workload-spec.md.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/clock.h"

namespace portflow {

// 1-based position in the workload file; 0 when unknown.
struct SourcePos {
  int line = 0;
  int column = 0;
};

// A string from the file that may hold {{...}} references, with where it was.
struct Templated {
  std::string text;
  SourcePos pos;
  // A literal block (`|`): `pos` is where its first line's text starts, and
  // line k of the text is on the file's line pos.line + k at that column.
  bool literal_block = false;
};

// Per-replica resource requests; unset fields inherit from spec.resources.
struct Resources {
  std::optional<int64_t> milli_cpu;
  std::optional<int64_t> memory_bytes;
  std::optional<int64_t> gpus;
};

struct RetryPolicy {
  int limit = 0;                                // extra attempts after the first failure
  Duration backoff = std::chrono::seconds(10);  // doubles on each further retry
};

using EnvList = std::vector<std::pair<std::string, Templated>>;

struct Step {
  std::string name;
  SourcePos pos;
  std::vector<std::string> needs;
  std::vector<SourcePos> needs_pos;
  std::vector<Templated> command;   // argv; empty when `script` is used
  std::optional<Templated> script;  // run as /bin/sh -c SCRIPT
  EnvList env;
  std::optional<Templated> workdir;
  Resources resources;
  int replicas = 1;
  // Ordered as written; each key with its values as written.
  std::vector<std::pair<std::string, std::vector<std::string>>> matrix;
  RetryPolicy retries;
  std::optional<Duration> timeout;
  std::vector<std::string> outputs;
};

struct Workload {
  std::string file;  // the path it was loaded from
  std::string dir;   // absolute directory of that file: the default workdir
  std::string name;
  std::map<std::string, std::string> labels;
  std::vector<std::pair<std::string, std::string>> params;  // after -p overrides
  std::optional<std::string> image;
  EnvList env;
  Resources resources;
  std::vector<Step> steps;

  const Step* FindStep(const std::string& name) const;
};

}  // namespace portflow
