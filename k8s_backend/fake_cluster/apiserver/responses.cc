#include "k8s_backend/fake_cluster/apiserver/responses.h"

namespace portflow::fake {

HttpResponse Json(int status, const json& body) {
  return {status, "application/json", Serialize(body), nullptr};
}

HttpResponse Failure(int code, const std::string& reason, const std::string& message,
                     const json& details) {
  json s = {{"kind", "Status"},    {"apiVersion", "v1"}, {"metadata", json::object()},
            {"status", "Failure"}, {"message", message}, {"reason", reason},
            {"code", code}};
  if (!details.is_null()) s["details"] = details;
  return Json(code, s);
}

HttpResponse FromStatus(const Status& st, const ResourceKind* kind, const std::string& name) {
  json details;
  if (kind) {
    details = {{"kind", kind->resource}};
    if (!kind->group.empty()) details["group"] = kind->group;
    if (!name.empty()) details["name"] = name;
  }
  switch (st.code()) {
    case StatusCode::kNotFound:
      return Failure(404, "NotFound", st.message(), details);
    case StatusCode::kAlreadyExists:
      return Failure(409, "AlreadyExists", st.message(), details);
    case StatusCode::kAborted:
      return Failure(409, "Conflict", st.message(), details);
    case StatusCode::kOutOfRange:
      return Failure(410, "Expired", st.message());
    case StatusCode::kInvalidArgument:
      return Failure(400, "BadRequest", st.message());
    case StatusCode::kResourceExhausted:  // a ResourceQuota refused it
      return Failure(403, "Forbidden", st.message(), details);
    case StatusCode::kUnimplemented:
      return Failure(405, "MethodNotAllowed", st.message());
    default:
      return Failure(500, "InternalError", st.message());
  }
}

}  // namespace portflow::fake
