#include "k8s_backend/fake_cluster/apiserver/discovery.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <sstream>
#include <vector>

#include "k8s_backend/fake_cluster/store/object_store.h"

namespace portflow::fake {
namespace {

// What discovery says of a kind beyond its ResourceKind, as the API server
// says it of the same resource: kubectl resolves short names from it and
// `kubectl get all` the "all" category.
struct Extras {
  std::vector<std::string> short_names;
  bool in_all = false;                    // categories: ["all"]
  std::vector<std::string> subresources;  // in the API server's (alphabetical) order
};

const Extras& ExtrasOf(const ResourceKind& k) {
  static const std::map<std::string, Extras> table = {
      {"pods", {{"po"}, true, {"log", "status"}}},
      {"services", {{"svc"}, true, {"status"}}},
      {"nodes", {{"no"}, false, {"status"}}},
      {"namespaces", {{"ns"}, false, {"status"}}},
      {"configmaps", {{"cm"}}},
      {"events", {{"ev"}}},
      {"resourcequotas", {{"quota"}, false, {"status"}}},
      {"jobs", {{}, true, {"status"}}},
  };
  static const Extras none;
  auto it = table.find(k.resource);
  return it == table.end() ? none : it->second;
}

// What the handler serves on a kind: every verb, deletecollection where
// DeletesCollections says so.
json Verbs(const ResourceKind& k) {
  json verbs = {"create", "delete", "get", "list", "patch", "update", "watch"};
  if (DeletesCollections(k)) verbs.insert(verbs.begin() + 2, "deletecollection");
  return verbs;
}

json SubresourceVerbs(const std::string& sub) {
  return sub == "log" ? json{"get"} : json{"get", "patch", "update"};
}

// pods/log answers with a Pod's log, but the API server names Pod its kind.
std::string SubresourceKind(const ResourceKind& k, const std::string& sub) {
  return sub == "log" ? "Pod" : k.kind;
}

std::string Singular(const ResourceKind& k) {
  std::string s = k.kind;
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

json Gvk(const ResourceKind& k, const std::string& kind) {
  return {{"group", k.group}, {"version", k.version}, {"kind", kind}};
}

// The served groups: core ("") alone, or the named ones; in AllKinds() order.
std::vector<std::string> Groups(bool core) {
  std::vector<std::string> groups;
  for (const ResourceKind& k : AllKinds()) {
    if (k.group.empty() == core &&
        std::find(groups.begin(), groups.end(), k.group) == groups.end()) {
      groups.push_back(k.group);
    }
  }
  return groups;
}

// A group's versions, the preferred one first.
std::vector<std::string> Versions(const std::string& group) {
  std::vector<std::string> versions;
  for (const ResourceKind& k : AllKinds()) {
    if (k.group == group &&
        std::find(versions.begin(), versions.end(), k.version) == versions.end()) {
      versions.push_back(k.version);
    }
  }
  return versions;
}

std::string GroupVersion(const std::string& group, const std::string& version) {
  return group.empty() ? version : group + "/" + version;
}

json AggregatedResource(const ResourceKind& k) {
  const Extras& extras = ExtrasOf(k);
  json r = {{"resource", k.resource},
            {"responseKind", Gvk(k, k.kind)},
            {"scope", k.namespaced ? "Namespaced" : "Cluster"},
            {"singularResource", Singular(k)},
            {"verbs", Verbs(k)}};
  if (!extras.short_names.empty()) r["shortNames"] = extras.short_names;
  if (extras.in_all) r["categories"] = {"all"};
  if (!extras.subresources.empty()) {
    json subs = json::array();
    for (const std::string& sub : extras.subresources) {
      subs.push_back({{"subresource", sub},
                      {"responseKind", Gvk(k, SubresourceKind(k, sub))},
                      {"verbs", SubresourceVerbs(sub)}});
    }
    r["subresources"] = subs;
  }
  return r;
}

// One media range of an Accept header: its type and parameters.
struct MediaRange {
  std::string type;
  std::map<std::string, std::string> params;
};

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

MediaRange ParseRange(const std::string& entry) {
  MediaRange m;
  std::stringstream parts(entry);
  std::string part;
  bool first = true;
  while (std::getline(parts, part, ';')) {
    part = Trim(part);
    if (first) {
      for (char& c : part) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      m.type = part;
      first = false;
    } else if (size_t eq = part.find('='); eq != std::string::npos) {
      m.params[Trim(part.substr(0, eq))] = Trim(part.substr(eq + 1));
    }
  }
  return m;
}

}  // namespace

std::string AcceptedAs(const std::string& accept, const std::string& group,
                       const std::string& version) {
  std::stringstream entries(accept);
  std::string entry;
  while (std::getline(entries, entry, ',')) {
    MediaRange m = ParseRange(entry);
    bool json_type = m.type == "application/json";
    if (json_type && m.params["g"] == group && m.params["v"] == version && m.params.count("as")) {
      return m.params["as"];
    }
    if (m.params.count("as") == 0 && (json_type || m.type == "*/*" || m.type == "application/*")) {
      return "";
    }
  }
  return "";
}

json LegacyDiscovery(bool core) {
  if (core) {
    return {{"kind", "APIVersions"},
            {"versions", Versions("")},
            {"serverAddressByClientCIDRs",
             {{{"clientCIDR", "0.0.0.0/0"}, {"serverAddress", "127.0.0.1"}}}}};
  }
  json groups = json::array();
  for (const std::string& group : Groups(false)) {
    json versions = json::array();
    for (const std::string& v : Versions(group)) {
      versions.push_back({{"groupVersion", GroupVersion(group, v)}, {"version", v}});
    }
    groups.push_back({{"name", group}, {"versions", versions}, {"preferredVersion", versions[0]}});
  }
  return {{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", groups}};
}

json AggregatedDiscovery(bool core) {
  json items = json::array();
  for (const std::string& group : Groups(core)) {
    json versions = json::array();
    for (const std::string& v : Versions(group)) {
      json resources = json::array();
      for (const ResourceKind& k : AllKinds()) {
        if (k.group == group && k.version == v) resources.push_back(AggregatedResource(k));
      }
      versions.push_back({{"version", v}, {"resources", resources}, {"freshness", "Current"}});
    }
    json metadata = json::object();
    if (!group.empty()) metadata["name"] = group;  // the core group has none
    items.push_back({{"metadata", metadata}, {"versions", versions}});
  }
  return {{"kind", "APIGroupDiscoveryList"},
          {"apiVersion", "apidiscovery.k8s.io/v2"},
          {"metadata", json::object()},
          {"items", items}};
}

bool DeletesCollections(const ResourceKind& kind) { return kind.resource != "namespaces"; }

std::optional<json> ResourceList(const std::string& group, const std::string& version) {
  json resources = json::array();
  for (const ResourceKind& k : AllKinds()) {
    if (k.group != group || k.version != version) continue;
    const Extras& extras = ExtrasOf(k);
    json r = {{"name", k.resource},
              {"singularName", Singular(k)},
              {"namespaced", k.namespaced},
              {"kind", k.kind},
              {"verbs", Verbs(k)}};
    if (!extras.short_names.empty()) r["shortNames"] = extras.short_names;
    if (extras.in_all) r["categories"] = {"all"};
    resources.push_back(r);
    for (const std::string& sub : extras.subresources) {
      resources.push_back({{"name", k.resource + "/" + sub},
                           {"singularName", ""},
                           {"namespaced", k.namespaced},
                           {"kind", SubresourceKind(k, sub)},
                           {"verbs", SubresourceVerbs(sub)}});
    }
  }
  if (resources.empty()) return std::nullopt;
  return json{{"kind", "APIResourceList"},
              {"apiVersion", "v1"},
              {"groupVersion", GroupVersion(group, version)},
              {"resources", resources}};
}

}  // namespace portflow::fake
