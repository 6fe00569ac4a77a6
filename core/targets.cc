#include "core/targets.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "core/diagnostics.h"

namespace portflow {

std::vector<std::string> TargetFiles(const std::string& workload_dir) {
  std::vector<std::string> files{workload_dir + "/portflow.yaml"};
  std::string config;
  if (const char* x = std::getenv("XDG_CONFIG_HOME"); x && *x) {
    config = x;
  } else if (const char* h = std::getenv("HOME"); h && *h) {
    config = std::string(h) + "/.config";
  }
  if (!config.empty()) files.push_back(config + "/portflow/portflow.yaml");
  return files;
}

Result<std::vector<Target>> LoadTargets(const std::string& workload_dir) {
  std::vector<Target> out;
  auto has = [&](const std::string& n) {
    return std::any_of(out.begin(), out.end(), [&](const Target& t) { return t.name == n; });
  };
  for (const std::string& file : TargetFiles(workload_dir)) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(file, ec)) continue;
    YAML::Node root;
    try {
      root = YAML::LoadFile(file);
    } catch (const YAML::Exception& e) {
      return InvalidArgument(file + ":" + std::to_string(e.mark.line + 1) + ":" +
                             std::to_string(e.mark.column + 1) + ": " + e.msg);
    }
    auto where = [&](const YAML::Node& n) {
      return file + ":" + std::to_string(n.Mark().line + 1) + ":" +
             std::to_string(n.Mark().column + 1);
    };
    if (root.IsNull()) continue;  // empty
    if (!root.IsMap()) return InvalidArgument(where(root) + ": portflow.yaml must be a map");
    for (auto it = root.begin(); it != root.end(); ++it) {
      std::string key = it->first.IsScalar() ? it->first.Scalar() : "";
      if (key == "targets") continue;
      std::string msg = where(it->first) + ": unknown key \"" + key + "\" (known: targets)";
      if (ClosestMatch(key, {"targets"}) == "targets") msg += "; did you mean \"targets\"?";
      return InvalidArgument(msg);
    }
    if (!root["targets"]) continue;
    YAML::Node targets = root["targets"];
    if (!targets.IsMap()) return InvalidArgument(where(targets) + ": targets must be a map");
    for (auto it = targets.begin(); it != targets.end(); ++it) {
      Target t;
      t.name = it->first.Scalar();
      t.source = file;
      t.where = where(it->first);
      const YAML::Node body = it->second;
      if (!body.IsMap()) {
        t.problem = where(body) + ": target " + t.name + " must be a map";
        if (!has(t.name)) out.push_back(std::move(t));
        continue;
      }
      for (auto kv = body.begin(); kv != body.end(); ++kv) {
        t.setting_where[kv->first.Scalar()] = where(kv->second);
        if (!kv->second.IsScalar()) {
          // Lists (members, tolerations) are kept as flow YAML for the backend.
          YAML::Emitter e;
          e << YAML::Flow << kv->second;
          t.settings[kv->first.Scalar()] = e.c_str();
        } else {
          t.settings[kv->first.Scalar()] = kv->second.Scalar();
        }
      }
      if (!t.settings.count("backend"))
        t.problem = where(body) + ": target " + t.name + " has no backend";
      t.backend = t.settings["backend"];
      if (!has(t.name)) out.push_back(std::move(t));
    }
  }
  if (!has(kDefaultTarget))
    out.push_back({kDefaultTarget, "local", {{"backend", "local"}}, "built-in"});
  if (!has(kRehearsalTarget)) {
    out.push_back({kRehearsalTarget, "rehearsal", {{"backend", "rehearsal"}}, "built-in"});
  }
  if (!has(kCloudRehearsalTarget)) {
    out.push_back(
        {kCloudRehearsalTarget, "cloud-rehearsal", {{"backend", "cloud-rehearsal"}}, "built-in"});
  }
  return out;
}

std::string TargetProblem(const Target& t, const std::string& message) {
  if (t.where.empty()) return "target " + t.name + " (" + t.source + "): " + message;
  std::string at = t.where;
  size_t best = 0;  // the longest setting name the message names wins
  for (const auto& [key, where] : t.setting_where) {
    for (const std::string& named : {"setting \"" + key + "\"", "setting " + key + ":",
                                     "setting " + key + " ", "\"" + key + "\""}) {
      if (key.size() > best && message.find(named) != std::string::npos) {
        at = where;
        best = key.size();
      }
    }
  }
  return at + ": target " + t.name + ": " + message;
}

Result<Target> FindTarget(const std::string& workload_dir, const std::string& name) {
  ASSIGN_OR_RETURN(auto targets, LoadTargets(workload_dir));
  std::vector<std::string> names;
  for (const Target& t : targets) {
    if (t.name == name && !t.problem.empty()) return InvalidArgument(t.problem);
    if (t.name == name) return t;
    names.push_back(t.name);
  }
  std::string msg = "unknown target \"" + name + "\"";
  if (std::string hint = ClosestMatch(name, names); !hint.empty())
    msg += "; did you mean \"" + hint + "\"?";
  std::string known;
  for (const std::string& n : names) known += (known.empty() ? "" : ", ") + n;
  return NotFound(msg + " (known: " + known + ")");
}

}  // namespace portflow
