#include "k8s_backend/namespace_objects.h"

#include "core/json_fields.h"

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

Status CreateOrAdopt(ApiClient& client, const NamespacePaths& paths, const json& object,
                     const std::map<std::string, std::string>* owner_labels) {
  std::string path = paths.Of(object);
  auto r = client.Call({"POST", path, object.dump(), "application/json", true});
  if (!r.ok()) return r.status();
  Status st = ApiError(*r);
  if (st.code() != StatusCode::kAlreadyExists) return st;
  if (!owner_labels) return OkStatus();
  std::string name = Str(Sub(object, "metadata"), "name");
  auto existing = client.Call({"GET", path + "/" + name, ""});
  if (!existing.ok()) return existing.status();
  RETURN_IF_ERROR(ApiError(*existing));
  json found = json::parse(existing->body, nullptr, false);
  for (const auto& [k, v] : *owner_labels) {
    if (Str(Sub(Sub(found, "metadata"), "labels"), k.c_str()) != v) {
      return FailedPrecondition("a Job named " + name + " exists in " + paths.ns +
                                " that portflow did not create for this attempt");
    }
  }
  return OkStatus();  // adopted
}

}  // namespace portflow::k8s
