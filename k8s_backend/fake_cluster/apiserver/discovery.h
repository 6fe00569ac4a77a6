// API discovery: what GET /api, /apis, /api/v1 and /apis/GROUP/VERSION
// answer, built from AllKinds() and a table of each kind's short names,
// categories and subresources. Two forms, one content: the legacy one
// (APIVersions or APIGroupList, then an APIResourceList per group version)
// and the aggregated one (an apidiscovery.k8s.io/v2 APIGroupDiscoveryList:
// every resource of /api or /apis in one answer), which kubectl 1.32 asks
// for first and which spares it a request per group version.
#pragma once

#include <optional>
#include <string>

#include "k8s_backend/fake_cluster/store/json.h"

namespace portflow::fake {

struct ResourceKind;

// The Kubernetes version served (GET /version) and reported by the nodes.
inline constexpr char kServerVersion[] = "v1.32.0";

// The Content-Type of an aggregated answer. Clients (client-go) tell the two
// forms apart by it alone, so an aggregated body must go out with it.
inline constexpr char kAggregatedDiscoveryType[] =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

// The kind of group `group`, version `version` an Accept header asks JSON
// to be transformed to (application/json;as=AS;g=GROUP;v=V): the `as` of
// the first such entry, as the API server negotiates; "" when an entry
// plain JSON answers (application/json, */*) comes first, or none is there.
// Other forms (other versions, protobuf) are passed over.
std::string AcceptedAs(const std::string& accept, const std::string& group,
                       const std::string& version);

// Whether an Accept header asks for the aggregated v2 form of discovery
// (v2beta1 is not served).
inline bool WantsAggregatedDiscovery(const std::string& accept) {
  return AcceptedAs(accept, "apidiscovery.k8s.io", "v2") == "APIGroupDiscoveryList";
}

// GET /api (`core`: an APIVersions) or /apis (an APIGroupList), legacy form.
json LegacyDiscovery(bool core);

// GET /api or /apis in the aggregated form: an APIGroupDiscoveryList with the
// core group (its name empty) or with every named group.
json AggregatedDiscovery(bool core);

// Whether a DELETE of the kind's collection (deletecollection) is served:
// on every kind but namespaces, as on the real API server.
bool DeletesCollections(const ResourceKind& kind);

// GET /api/v1 (`group` "") or /apis/GROUP/VERSION: an APIResourceList, with
// "pods/status"-style entries for subresources; nullopt when the group
// version is not served.
std::optional<json> ResourceList(const std::string& group, const std::string& version);

}  // namespace portflow::fake
