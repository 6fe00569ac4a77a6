#include "k8s_backend/fake_cluster/apiserver/openapi.h"

#include "k8s_backend/fake_cluster/store/object_store.h"

namespace portflow::fake {
namespace {

json Param(const std::string& name, const std::string& in = "query") {
  json p = {{"name", name}, {"in", in}, {"schema", {{"type", "string"}, {"uniqueItems", true}}}};
  if (in == "path") p["required"] = true;
  return p;
}

std::string SchemaName(const ResourceKind& k) {
  std::string package = k.group.empty() ? "core" : k.group;
  return "io.k8s.api." + package + "." + k.version + "." + k.kind;
}

json Gvk(const ResourceKind& k) {
  return {{"group", k.group}, {"version", k.version}, {"kind", k.kind}};
}

json Operation(const ResourceKind& k, const std::string& action,
               const std::vector<std::string>& params) {
  json op = {{"operationId", action + k.kind},
             {"x-kubernetes-action", action},
             {"x-kubernetes-group-version-kind", Gvk(k)},
             {"responses", {{"200", {{"description", "OK"}}}}}};
  json ps = json::array();
  for (const std::string& p : params) ps.push_back(Param(p));
  op["parameters"] = ps;
  return op;
}

}  // namespace

json OpenApiV3Index() {
  json paths = json::object();
  paths["api/v1"] = {{"serverRelativeURL", "/openapi/v3/api/v1?hash=portflow"}};
  paths["apis/batch/v1"] = {{"serverRelativeURL", "/openapi/v3/apis/batch/v1?hash=portflow"}};
  return {{"paths", paths}};
}

std::optional<json> OpenApiV3Document(const std::string& gv_path) {
  std::string group;
  if (gv_path == "api/v1") {
    group = "";
  } else if (gv_path == "apis/batch/v1") {
    group = "batch";
  } else {
    return std::nullopt;
  }
  const std::vector<std::string> write = {"dryRun", "fieldManager", "fieldValidation", "pretty"};
  json paths = json::object(), schemas = json::object();
  for (const ResourceKind& k : AllKinds()) {
    if (k.group != group) continue;
    std::string base =
        "/" + gv_path + (k.namespaced ? "/namespaces/{namespace}/" : "/") + k.resource;
    json collection = {{"get", Operation(k, "list",
                                         {"labelSelector", "fieldSelector", "limit", "continue",
                                          "watch", "resourceVersion", "timeoutSeconds"})},
                       {"post", Operation(k, "post", write)}};
    json item = {
        {"get", Operation(k, "get", {"pretty"})},
        {"put", Operation(k, "put", write)},
        {"patch", Operation(k, "patch", {"dryRun", "fieldManager", "fieldValidation", "force"})},
        {"delete", Operation(k, "delete", {"dryRun", "gracePeriodSeconds", "propagationPolicy"})}};
    json common = json::array({Param("name", "path")});
    if (k.namespaced) common.push_back(Param("namespace", "path"));
    item["parameters"] = common;
    if (k.namespaced) collection["parameters"] = json::array({Param("namespace", "path")});
    paths[base] = collection;
    paths[base + "/{name}"] = item;
    // Objects are free-form to client-side tools: the server validates.
    schemas[SchemaName(k)] = {
        {"type", "object"},
        {"description", k.kind + " (portflow fake cluster)"},
        {"x-kubernetes-group-version-kind", json::array({Gvk(k)})},
        {"x-kubernetes-preserve-unknown-fields", true},
        {"properties",
         {{"apiVersion", {{"type", "string"}}},
          {"kind", {{"type", "string"}}},
          {"metadata", {{"type", "object"}, {"x-kubernetes-preserve-unknown-fields", true}}}}}};
  }
  return json{{"openapi", "3.0.0"},
              {"info", {{"title", "Kubernetes"}, {"version", "v1.32.0"}}},
              {"paths", paths},
              {"components", {{"schemas", schemas}}}};
}

}  // namespace portflow::fake
