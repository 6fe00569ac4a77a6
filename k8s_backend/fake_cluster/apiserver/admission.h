// What the API server does to an object before storing it: defaulting (Job
// selector and labels, completions, parallelism, backoffLimit...) and
// validation, whose failures become 422 Invalid with details.causes.
#pragma once

#include <string>
#include <vector>

#include "k8s_backend/fake_cluster/store/object_store.h"

namespace portflow::fake {

struct Cause {
  std::string reason;   // FieldValueRequired, FieldValueInvalid, FieldValueNotSupported
  std::string field;    // "spec.template.spec.restartPolicy"
  std::string message;  // "Unsupported value: \"Always\": supported values: ..."
};

// Fills defaults in place. `uid` is the object's future uid (Jobs select by it).
void ApplyDefaults(const ResourceKind& kind, json& object, const std::string& uid);

// Every problem, in field order; empty when valid.
std::vector<Cause> Validate(const ResourceKind& kind, const json& object);

// What an update may not change: a Job's selector, template (beyond the
// scheduling directives of a suspended Job that never started),
// completionMode and completions (except elastic Indexed Jobs); a Pod's spec
// beyond images, activeDeadlineSeconds and added tolerations; the data of a
// ConfigMap or Secret marked immutable. Empty when the update is allowed.
std::vector<Cause> ValidateUpdate(const ResourceKind& kind, const json& current, const json& next);

// A metav1.Status body for 422 Invalid, as the API server words it:
// 'Job.batch "x" is invalid: [cause, cause]'.
json InvalidStatus(const ResourceKind& kind, const std::string& name,
                   const std::vector<Cause>& causes);

}  // namespace portflow::fake
