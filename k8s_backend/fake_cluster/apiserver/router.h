// Dispatch by table, as the API server installs its routes: paths outside
// the resource API (/version, discovery, OpenAPI, health) are tried in the
// order installed; a resource request is cut into kind, namespace, name and
// subresource, its verb found (list, watch, create, get, update, patch,
// delete) and the handler installed for that verb and subresource called.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "k8s_backend/fake_cluster/apiserver/http_types.h"
#include "k8s_backend/fake_cluster/store/object_store.h"

namespace portflow::fake {

// A request target: URL-decoded path segments and query parameters.
struct Target {
  std::vector<std::string> path;
  std::map<std::string, std::string> query;

  // A query parameter's value; "" when it is not there.
  std::string Param(const std::string& key) const {
    auto it = query.find(key);
    return it == query.end() ? "" : it->second;
  }
};
Target ParseTarget(const std::string& target);

// Go's strconv.ParseBool, as the API server reads query flags: clients send
// "true", "1" or (the Python client) "True".
bool ParseBool(const std::string& v);

// What the path says of a request, as the API server's request info
// resolver cuts it. Only /api/v1/... and /apis/GROUP/v1/... are resource
// requests; the rest (/version, discovery, OpenAPI) have no verb here.
struct RequestInfo {
  bool resource_request = false;
  std::string verb;  // list, watch, create, get, update, patch, delete; "" if none applies
  std::string group, resource, ns, name, subresource;
};
RequestInfo InfoOf(const HttpRequest& request, const Target& target);

// One request to a resource, as the router cut it from the path.
struct ApiRequest {
  const HttpRequest& http;
  Target target;
  const ResourceKind* kind = nullptr;
  std::string verb;  // list, watch, create, get, update, patch, delete
  std::string ns, name, subresource;
  // The body as JSON text: protobuf bodies are decoded to it.
  const std::string* body = nullptr;
  ListOptions list;
  bool as_table = false;     // Accept asks for as=Table
  bool as_metadata = false;  // for as=PartialObjectMetadata(List): metadata only
};

class Router {
 public:
  // Answers, or nullopt to let later routes (then the resource API) try.
  using PathHandler = std::function<std::optional<HttpResponse>(const HttpRequest&, const Target&)>;
  using ResourceHandler = std::function<HttpResponse(const ApiRequest&)>;

  void AddPath(PathHandler handler) { paths_.push_back(std::move(handler)); }
  // `subresource` "" serves the resource and every subresource that has no
  // handler of its own for `verb`.
  void AddResource(const std::string& verb, const std::string& subresource,
                   ResourceHandler handler) {
    resources_[{verb, subresource}] = std::move(handler);
  }

  // 404 for an unknown path or kind, 405 for a verb without a handler; a
  // protobuf body that cannot be decoded is a 415 (unsupported) or 400.
  HttpResponse Route(const HttpRequest& request) const;

 private:
  std::vector<PathHandler> paths_;
  std::map<std::pair<std::string, std::string>, ResourceHandler> resources_;
};

}  // namespace portflow::fake
