#include "k8s_backend/namespace_objects.h"

#include "core/json_fields.h"
#include "core/json_parse.h"

namespace portflow::k8s {

using nlohmann::json;

std::string NamespacePaths::Of(const json& object) const {
  std::string kind = Str(object, "kind");
  return kind == "Job" ? Jobs() : kind == "Service" ? Services() : ConfigMaps();
}

std::string NamespacePaths::JobDeletion(const std::string& job, bool force) const {
  return Jobs() + "/" + job + "?propagationPolicy=Background" +
         (force ? "&gracePeriodSeconds=0" : "");
}

std::string NamespacePaths::Deletion(const json& object) const {
  std::string name = Str(Sub(object, "metadata"), "name");
  return Str(object, "kind") == "Job" ? JobDeletion(name) : Of(object) + "/" + name;
}

Result<std::string> CreateOrAdopt(ApiClient& client, const NamespacePaths& paths,
                                  const json& object,
                                  const std::map<std::string, std::string>* owner_labels) {
  std::string path = paths.Of(object);
  auto r = client.Call({"POST", path, object.dump(), "application/json", true});
  if (!r.ok()) return r.status();
  Status st = ApiError(*r);
  if (st.ok()) return Str(Sub(ParseJson(r->body), "metadata"), "uid");
  if (st.code() != StatusCode::kAlreadyExists) return st;
  if (!owner_labels) return std::string();
  std::string name = Str(Sub(object, "metadata"), "name");
  auto existing = client.Call({"GET", path + "/" + name, ""});
  if (!existing.ok()) return existing.status();
  RETURN_IF_ERROR(ApiError(*existing));
  json found = ParseJson(existing->body);
  for (const auto& [k, v] : *owner_labels) {
    if (Str(Sub(Sub(found, "metadata"), "labels"), k.c_str()) != v) {
      return FailedPrecondition("a Job named " + name + " exists in " + paths.ns +
                                " that portflow did not create for this attempt");
    }
  }
  return Str(Sub(found, "metadata"), "uid");  // adopted
}

namespace {

// Adds the Job `job` (`uid`) to the owners of the ConfigMap `config_map`;
// one deleted meanwhile (its owners went) is made again with this owner.
Status AddJobOwner(ApiClient& client, const NamespacePaths& paths, json config_map,
                   const std::string& job, const std::string& uid) {
  json ref = {{"apiVersion", "batch/v1"}, {"kind", "Job"}, {"name", job}, {"uid", uid}};
  std::string name = Str(Sub(config_map, "metadata"), "name");
  // ownerReferences merge by uid in a strategic merge patch: this adds
  // one, and the same patch again changes nothing (safe to retry).
  json patch = {{"metadata", {{"ownerReferences", json::array({ref})}}}};
  auto r = client.Call({"PATCH", paths.ConfigMaps() + "/" + name, patch.dump(),
                        "application/strategic-merge-patch+json", true});
  if (!r.ok()) return r.status();
  if (r->status != 404) return ApiError(*r);
  config_map["metadata"]["ownerReferences"] = json::array({ref});
  return CreateOrAdopt(client, paths, config_map, nullptr).status();
}

}  // namespace

Status CreateAttemptObjects(ApiClient& client, const NamespacePaths& paths,
                            const std::vector<json>& objects,
                            const std::map<std::string, std::string>& job_labels) {
  const json* code = nullptr;  // the code's ConfigMap
  for (size_t i = 0; i < objects.size(); ++i) {
    bool job = Str(objects[i], "kind") == "Job";
    auto created = CreateOrAdopt(client, paths, objects[i], job ? &job_labels : nullptr);
    // The object that failed may exist when its answer was lost or the
    // server erred; a Job whose code could not be owned does.
    size_t made = created.status().code() == StatusCode::kUnavailable ? i + 1 : i;
    if (created.ok() && Str(objects[i], "kind") == "ConfigMap") code = &objects[i];
    if (created.ok() && job && code) {
      Status owned =
          AddJobOwner(client, paths, *code, Str(Sub(objects[i], "metadata"), "name"), *created);
      if (!owned.ok()) created = owned;
      made = i + 1;
    }
    if (created.ok()) continue;
    for (size_t j = made; j-- > 0;) {
      if (Str(objects[j], "kind") != "ConfigMap")
        (void)client.Call({"DELETE", paths.Deletion(objects[j]), ""});
    }
    return created.status();
  }
  return OkStatus();
}

}  // namespace portflow::k8s
