#include "cloud_backend/fake_cloud/node_groups.h"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <set>
#include <sstream>

#include "core/diagnostics.h"
#include "core/yaml_errors.h"

namespace portflow::fake_cloud {

Result<std::vector<GroupConfig>> ParseNodeGroups(const std::string& yaml, const std::string& file) {
  auto where = [&](const YAML::Node& n) {
    return file + ":" + std::to_string(n.Mark().line + 1) + ":" +
           std::to_string(n.Mark().column + 1) + ": ";
  };
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    return InvalidArgument(file + ":" + std::to_string(e.mark.line + 1) + ":" +
                           std::to_string(e.mark.column + 1) + ": " + YamlErrorText(e));
  }
  if (!root.IsMap() || !root["nodeGroups"] || !root["nodeGroups"].IsSequence() ||
      root["nodeGroups"].size() == 0)
    return InvalidArgument(where(root) + "expected a list under nodeGroups, of one group or more");
  static const std::vector<std::string> known = {
      "name", "capacityType", "instanceTypes", "zones", "minSize", "maxSize", "desiredSize"};
  std::vector<GroupConfig> out;
  for (const YAML::Node& g : root["nodeGroups"]) {
    if (!g.IsMap()) return InvalidArgument(where(g) + "a node group must be a map");
    GroupConfig c;
    for (auto kv = g.begin(); kv != g.end(); ++kv) {
      std::string key = kv->first.Scalar();
      const YAML::Node v = kv->second;  // a copy: the iterator hands out temporaries
      auto strings = [&](std::vector<std::string>& into) -> Status {
        if (!v.IsSequence() || v.size() == 0)
          return InvalidArgument(where(v) + key + " must be a list of names");
        for (const YAML::Node& s : v) {
          if (!s.IsScalar()) return InvalidArgument(where(s) + key + " must be a list of names");
          into.push_back(s.Scalar());
        }
        return OkStatus();
      };
      auto size = [&](int& into) -> Status {
        try {
          into = v.as<int>();
        } catch (const YAML::Exception&) {
          return InvalidArgument(where(v) + key + " must be a whole number");
        }
        return into >= 0 ? OkStatus() : InvalidArgument(where(v) + key + " must not be negative");
      };
      if (key == "name" && v.IsScalar()) {
        c.name = v.Scalar();
      } else if (key == "capacityType" && v.IsScalar()) {
        c.capacity_type = v.Scalar();
        if (c.capacity_type != "SPOT" && c.capacity_type != "ON_DEMAND")
          return InvalidArgument(where(v) + "capacityType must be SPOT or ON_DEMAND");
      } else if (key == "instanceTypes") {
        RETURN_IF_ERROR(strings(c.instance_types));
      } else if (key == "zones") {
        RETURN_IF_ERROR(strings(c.zones));
      } else if (key == "minSize") {
        RETURN_IF_ERROR(size(c.min_size));
      } else if (key == "maxSize") {
        RETURN_IF_ERROR(size(c.max_size));
      } else if (key == "desiredSize") {
        RETURN_IF_ERROR(size(c.desired_size));
      } else if (key == "name" || key == "capacityType") {
        return InvalidArgument(where(v) + key + " must be a name");
      } else {
        std::string msg = where(kv->first) + "unknown key \"" + key + "\" in a node group";
        if (std::string hint = ClosestMatch(key, known); !hint.empty())
          msg += "; did you mean \"" + hint + "\"?";
        return InvalidArgument(msg);
      }
    }
    if (c.name.empty()) return InvalidArgument(where(g) + "a node group needs a name");
    if (c.instance_types.empty())
      return InvalidArgument(where(g) + "node group " + c.name + " needs instanceTypes");
    if (c.min_size > c.desired_size || c.desired_size > c.max_size)
      return InvalidArgument(where(g) + "node group " + c.name +
                             ": minSize <= desiredSize <= maxSize must hold");
    out.push_back(std::move(c));
  }
  return out;
}

Result<std::vector<GroupConfig>> LoadNodeGroups(const std::string& path) {
  std::ifstream in(path);
  if (!in) return NotFound("cannot read " + path);
  std::stringstream text;
  text << in.rdbuf();
  return ParseNodeGroups(text.str(), path);
}

}  // namespace portflow::fake_cloud
