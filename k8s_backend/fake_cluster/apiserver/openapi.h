// OpenAPI v3 documents, enough for kubectl: the paths of each kind with the
// query parameters the server honours (fieldValidation tells kubectl to let
// the server validate), and a schema entry per kind.
#pragma once

#include <optional>
#include <string>

#include "k8s_backend/fake_cluster/store/json.h"

namespace portflow::fake {

// GET /openapi/v3: the group-version documents and where to fetch them.
json OpenApiV3Index();

// GET /openapi/v3/api/v1 or /openapi/v3/apis/batch/v1; nullopt when unknown.
std::optional<json> OpenApiV3Document(const std::string& group_version_path);

}  // namespace portflow::fake
