#include "core/targets.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "core/diagnostics.h"
#include "core/yaml_errors.h"

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
                             std::to_string(e.mark.column + 1) + ": " + YamlErrorText(e));
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
  if (!has(kHybridRehearsalTarget)) {
    out.push_back({kHybridRehearsalTarget,
                   "hybrid-rehearsal",
                   {{"backend", "hybrid-rehearsal"}},
                   "built-in"});
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

std::vector<std::string> SettingList(std::string text) {
  if (!text.empty() && text.front() == '[') text = text.substr(1);
  if (!text.empty() && text.back() == ']') text.pop_back();
  std::vector<std::string> out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    size_t a = item.find_first_not_of(" \t"), b = item.find_last_not_of(" \t");
    if (a != std::string::npos) out.push_back(item.substr(a, b - a + 1));
  }
  return out;
}

Result<std::map<std::string, std::string>> BackendSettings(const Target& target,
                                                           const std::string& workload_dir,
                                                           bool strict) {
  auto settings = target.settings;
  settings.erase("backend");
  // --strict runs laptop tasks with what a cluster's container has of the
  // host's environment: nothing but what finds the tools.
  if (strict && target.backend == "local" && !settings.count("env")) settings["env"] = "clean";
  if (target.backend != "hybrid" || !settings.count("members")) return settings;
  std::vector<std::string> members = SettingList(settings["members"]);
  settings.erase("members");
  auto problem = [&](const std::string& message) {
    return InvalidArgument(TargetProblem(target, "setting members: " + message));
  };
  for (size_t i = 0; i < members.size(); ++i) {
    const std::string& name = members[i];
    if (name == target.name) return problem("a hybrid target cannot be its own member");
    if (std::count(members.begin(), members.begin() + i, name))
      return problem("member " + name + " is named twice");
    auto member = FindTarget(workload_dir, name);
    if (!member.ok()) return problem(member.status().message());
    if (member->backend == "hybrid")
      return problem("member " + name + " is a hybrid target itself; name its members instead");
    ASSIGN_OR_RETURN(auto own, BackendSettings(*member, workload_dir, strict));
    std::string prefix = "member." + std::to_string(i) + ".";
    settings[prefix + "name"] = name;
    settings[prefix + "backend"] = member->backend;
    for (const auto& [key, value] : own) settings[prefix + key] = value;
  }
  return settings;
}

}  // namespace portflow
