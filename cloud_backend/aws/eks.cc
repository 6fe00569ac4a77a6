#include "cloud_backend/aws/eks.h"

#include <nlohmann/json.hpp>

#include "core/encoding.h"
#include "core/json_fields.h"
#include "core/json_parse.h"

namespace portflow::aws {
namespace {

using json = nlohmann::json;

Result<json> Parse(const std::string& body, const std::string& what) {
  json j = ParseJson(body);
  if (!j.is_object()) return Internal(what + ": the answer is not a JSON object");
  return j;
}

std::vector<std::string> Strings(const json& j, const char* key) {
  std::vector<std::string> out;
  if (j.contains(key) && j[key].is_array())
    for (const json& v : j[key])
      if (v.is_string()) out.push_back(v);
  return out;
}

int Int(const json& j, const char* key) {
  return j.contains(key) && j[key].is_number_integer() ? j[key].get<int>() : 0;
}

NodeGroupUpdate UpdateOf(const json& u) {
  NodeGroupUpdate out{Str(u, "id"), Str(u, "status"), "", {}};
  if (const json& at = Field(u, "createdAt"); at.is_number()) {
    out.created_at = TimePoint(std::chrono::duration_cast<TimePoint::duration>(
        std::chrono::duration<double>(at.get<double>())));
  }
  if (u.contains("errors") && u["errors"].is_array()) {
    for (const json& e : u["errors"]) {
      if (!e.is_object()) continue;
      out.errors +=
          (out.errors.empty() ? "" : "; ") + Str(e, "errorCode") + ": " + Str(e, "errorMessage");
    }
  }
  return out;
}

}  // namespace

Result<std::string> Eks::Json(const std::string& method, const std::string& path,
                              const std::string& body) {
  Request r{"eks", method, "/clusters/" + cluster_ + path, {}, body};
  if (!body.empty()) r.headers.push_back({"Content-Type", "application/json"});
  ASSIGN_OR_RETURN(Response answer, client_.Call(r));
  return answer.body;
}

Result<std::vector<std::string>> Eks::ListNodegroups() {
  std::vector<std::string> out;
  std::string token;
  do {
    ASSIGN_OR_RETURN(
        std::string body,
        Json("GET",
             "/node-groups" + (token.empty() ? "" : "?nextToken=" + PercentEncode(token, false))));
    ASSIGN_OR_RETURN(json j, Parse(body, "ListNodegroups"));
    for (std::string& name : Strings(j, "nodegroups")) out.push_back(std::move(name));
    token = Str(j, "nextToken");
  } while (!token.empty());
  return out;
}

Result<NodeGroup> Eks::DescribeNodegroup(const std::string& name) {
  ASSIGN_OR_RETURN(std::string body, Json("GET", "/node-groups/" + name));
  ASSIGN_OR_RETURN(json j, Parse(body, "DescribeNodegroup " + name));
  if (!j.contains("nodegroup") || !j["nodegroup"].is_object())
    return Internal("DescribeNodegroup " + name + ": no nodegroup in the answer");
  const json& g = j["nodegroup"];
  NodeGroup out;
  out.name = Str(g, "nodegroupName");
  out.status = Str(g, "status");
  out.capacity_type = Str(g, "capacityType");
  if (out.capacity_type.empty()) out.capacity_type = "ON_DEMAND";  // EKS's default
  out.instance_types = Strings(g, "instanceTypes");
  out.subnets = Strings(g, "subnets");
  if (g.contains("scalingConfig") && g["scalingConfig"].is_object()) {
    const json& s = g["scalingConfig"];
    out.min_size = Int(s, "minSize");
    out.max_size = Int(s, "maxSize");
    out.desired_size = Int(s, "desiredSize");
  }
  for (const json& issue : Field(Field(g, "health"), "issues")) {
    if (!issue.is_object()) continue;
    out.health +=
        (out.health.empty() ? "" : "; ") + Str(issue, "code") + ": " + Str(issue, "message");
  }
  if (g.contains("labels") && g["labels"].is_object())
    for (const auto& [k, v] : g["labels"].items())
      if (v.is_string()) out.labels[k] = v;
  return out;
}

Result<NodeGroupUpdate> Eks::SetDesiredSize(const std::string& name, int desired) {
  json body = {{"scalingConfig", {{"desiredSize", desired}}}};
  ASSIGN_OR_RETURN(std::string answer,
                   Json("POST", "/node-groups/" + name + "/update-config", body.dump()));
  ASSIGN_OR_RETURN(json j, Parse(answer, "UpdateNodegroupConfig " + name));
  if (!j.contains("update") || !j["update"].is_object())
    return Internal("UpdateNodegroupConfig " + name + ": no update in the answer");
  return UpdateOf(j["update"]);
}

Result<NodeGroupUpdate> Eks::DescribeUpdate(const std::string& name, const std::string& id) {
  ASSIGN_OR_RETURN(std::string body,
                   Json("GET", "/updates/" + PercentEncode(id, false) +
                                   "?nodegroupName=" + PercentEncode(name, false)));
  ASSIGN_OR_RETURN(json j, Parse(body, "DescribeUpdate " + id));
  if (!j.contains("update") || !j["update"].is_object())
    return Internal("DescribeUpdate " + id + ": no update in the answer");
  return UpdateOf(j["update"]);
}

}  // namespace portflow::aws
