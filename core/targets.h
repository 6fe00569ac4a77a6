// Targets: a named backend plus its settings, read from portflow.yaml beside
// the workload, then from the user's config directory, like kubectl contexts.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/status.h"

namespace portflow {

struct Target {
  std::string name;
  std::string backend;
  std::map<std::string, std::string> settings;  // every key, "backend" too
  std::string source;                           // the file it came from, or "built-in"
  // FILE:LINE:COL of its name and of each setting's value ("" when built in).
  std::string where;
  std::map<std::string, std::string> setting_where;
  // "FILE:LINE:COL: ..." when the file's entry cannot be a target (not a
  // map, no backend): listed as broken, refused when chosen.
  std::string problem;
};

// "FILE:LINE:COL: target NAME: MESSAGE" for a problem with target `t`, at
// the setting the message names (`setting "KEY"`, `setting KEY` or `KEY:`),
// else at the target's name; "target NAME (built-in): MESSAGE" for one
// not from a file.
std::string TargetProblem(const Target& t, const std::string& message);

inline constexpr const char* kDefaultTarget = "laptop";
// Built in too: the embedded fake cluster in execute mode (backend
// rehearsal), to rehearse a promotion to Kubernetes with no setup.
inline constexpr const char* kRehearsalTarget = "rehearsal";
// The built-in target that rehearses a cloud: the fake cloud in-process.
inline constexpr const char* kCloudRehearsalTarget = "cloud-rehearsal";
// The built-in hybrid of the two rehearsals: the on-prem one first, the
// cloud one for what waits there, outputs in the fake cloud's S3.
inline constexpr const char* kHybridRehearsalTarget = "hybrid-rehearsal";

// The files searched, in order: DIR/portflow.yaml, then
// $XDG_CONFIG_HOME/portflow/portflow.yaml (default ~/.config/...).
std::vector<std::string> TargetFiles(const std::string& workload_dir);

// All targets visible from `workload_dir`; earlier files win. The built-in
// "laptop" (backend local) is there unless a file defines it.
Result<std::vector<Target>> LoadTargets(const std::string& workload_dir);

Result<Target> FindTarget(const std::string& workload_dir, const std::string& name);

// The items of a list setting: "[a, b]" (flow YAML, as targets keep
// lists), "a, b" or "a".
std::vector<std::string> SettingList(std::string text);

// The settings `target`'s backend is made from: its own less "backend";
// with `strict`, a local target's tasks get a clean environment. A hybrid
// target's members (targets too, found from `workload_dir`) come as
// "member.N.KEY" for the N-th member (0 first), with "member.N.name" and
// "member.N.backend". Errors name the file and line of the setting.
Result<std::map<std::string, std::string>> BackendSettings(const Target& target,
                                                           const std::string& workload_dir,
                                                           bool strict);

}  // namespace portflow
