// Strategic merge patch (application/strategic-merge-patch+json): what
// `kubectl apply` and `kubectl patch` send. A port of the API server's
// k8s.io/apimachinery/pkg/util/strategicpatch (StrategicMergeMapPatch) with
// the patch tags of the k8s.io/api Go types of the kinds this fake serves.
#pragma once

#include <string>

#include "core/status.h"
#include "k8s_backend/fake_cluster/store/json.h"

namespace portflow::fake {

// Applies `patch` to `original`, an object of `kind` ("Pod", "Job", ...), and
// returns the patched object. The rules:
// - objects merge key by key; a null value deletes the key;
// - a list whose Go field is tagged patchStrategy=merge merges by its
//   patchMergeKey: containers (also a Job's spec.template.spec.containers) by
//   name, env by name, container ports by containerPort, Service ports by
//   port, volumeMounts by mountPath, conditions by type, ownerReferences by
//   uid...; such a list of scalars (finalizers) merges as a set. Merged
//   lists keep the patch's order, with the server's other items among them;
// - every other list (command, args, tolerations, a Node's taints) is
//   replaced, and so is every list under a kind or path not known here;
// - directives: {"$patch": "replace"} or {"$patch": "delete"} in an object
//   or as a list element (with the merge key: deletes that element),
//   "$setElementOrder/F" (the order of list F), "$deleteFromPrimitiveList/F"
//   (scalars to take out of F) and "$retainKeys" (the keys an object keeps).
// Values taken whole (a new field, a replaced list) lose their nulls and
// directives, as decoding into the Go types drops them.
//
// Errors, with the API server's words:
// - InvalidArgument: `patch` is not an object; a directive list is malformed
//   ("invalid patch format of retainKeys"); a key starting with '$' is no
//   directive; lists of lists. The API server answers these 400 (or 422).
// - FailedPrecondition: the patch does not fit `original`: a list element
//   without its merge key, "$patch: merge" or an unknown $patch value, list
//   items of mixed types, a patch list out of its $setElementOrder order.
//   The API server lets these through as plain errors: 500, no reason.
Result<json> StrategicMergePatch(const json& original, const json& patch, const std::string& kind);

}  // namespace portflow::fake
