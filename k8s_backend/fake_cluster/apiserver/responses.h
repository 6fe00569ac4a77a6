// Responses as the API server writes them: JSON bodies, and failures as
// metav1.Status with the server's reasons.
#pragma once

#include <string>

#include "core/status.h"
#include "k8s_backend/fake_cluster/apiserver/http_types.h"
#include "k8s_backend/fake_cluster/store/object_store.h"

namespace portflow::fake {

HttpResponse Json(int status, const json& body);

// A metav1.Status failure; `details` (kind, group, name) when not null.
HttpResponse Failure(int code, const std::string& reason, const std::string& message,
                     const json& details = {});

// The store's error as the API server answers it: NotFound 404,
// AlreadyExists and Conflict 409, Expired 410, a refused quota 403...
// `kind` and `name` fill the Status's details.
HttpResponse FromStatus(const Status& st, const ResourceKind* kind = nullptr,
                        const std::string& name = "");

}  // namespace portflow::fake
