#include "k8s_backend/fake_cluster/apiserver/router.h"

#include <cctype>
#include <cstdlib>

#include "core/encoding.h"
#include "k8s_backend/fake_cluster/apiserver/discovery.h"
#include "k8s_backend/fake_cluster/apiserver/protobuf.h"
#include "k8s_backend/fake_cluster/apiserver/responses.h"

namespace portflow::fake {
namespace {

HttpResponse NotFoundPath() {
  return Failure(404, "NotFound", "the server could not find the requested resource");
}

// The verb as the API server's request info names it; "" when the method
// does not apply to a collection (or to one object).
std::string VerbOf(const std::string& method, bool collection, const Target& t) {
  if (collection) {
    if (method == "GET") return ParseBool(t.Param("watch")) ? "watch" : "list";
    if (method == "POST") return "create";
    if (method == "DELETE") return "deletecollection";
    return "";
  }
  if (method == "GET") return "get";
  if (method == "PUT") return "update";
  if (method == "PATCH") return "patch";
  if (method == "DELETE") return "delete";
  return "";
}

}  // namespace

Target ParseTarget(const std::string& target) {
  Target t;
  size_t q = target.find('?');
  std::string_view path = std::string_view(target).substr(0, q);
  size_t start = 0;
  while (start < path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    if (end > start) t.path.push_back(PercentDecode(path.substr(start, end - start), false));
    start = end + 1;
  }
  if (q != std::string::npos) t.query = ParseQuery(std::string_view(target).substr(q + 1));
  return t;
}

bool ParseBool(const std::string& v) {
  return v == "1" || v == "t" || v == "T" || v == "true" || v == "TRUE" || v == "True";
}

RequestInfo InfoOf(const HttpRequest& req, const Target& t) {
  // /api/v1/... or /apis/GROUP/VERSION/...
  RequestInfo info;
  const auto& p = t.path;
  size_t rest = 0;
  if (p.size() >= 3 && p[0] == "api" && p[1] == "v1") {
    rest = 2;
  } else if (p.size() >= 4 && p[0] == "apis" && p[2] == "v1") {
    info.group = p[1];
    rest = 3;
  } else {
    return info;
  }
  info.resource_request = true;
  // What follows, as r[i]: [namespaces NS] RESOURCE [NAME [SUBRESOURCE]].
  size_t n = p.size() - rest;
  auto r = [&p, &rest](size_t i) -> const std::string& { return p[rest + i]; };
  if (n >= 3 && r(0) == "namespaces") {
    info.ns = r(1);
    info.resource = r(2);
    if (n >= 4) info.name = r(3);
    if (n >= 5) info.subresource = r(4);
  } else {
    info.resource = r(0);
    if (n >= 2) info.name = r(1);
    if (n >= 3) info.subresource = r(2);
  }
  info.verb = VerbOf(req.method, info.name.empty(), t);
  return info;
}

HttpResponse Router::Route(const HttpRequest& req) const {
  Target t = ParseTarget(req.target);
  for (const PathHandler& handler : paths_) {
    if (auto answer = handler(req, t)) return *std::move(answer);
  }

  RequestInfo info = InfoOf(req, t);
  if (!info.resource_request) return NotFoundPath();
  ApiRequest rr{req, std::move(t)};
  rr.ns = std::move(info.ns);
  rr.name = std::move(info.name);
  rr.subresource = std::move(info.subresource);
  rr.verb = std::move(info.verb);
  rr.kind = FindKind(info.group, info.resource);
  if (!rr.kind || (!rr.kind->namespaced && !rr.ns.empty())) return NotFoundPath();

  // client-go's typed clients (kubectl create namespace, secret...) send
  // protobuf; it is decoded to the JSON the rest of the server speaks.
  rr.body = &req.body;
  std::string decoded_text;
  if (auto ct = req.headers.find("content-type");
      ct != req.headers.end() && !req.body.empty() && ct->second.rfind(kProtobufType, 0) == 0) {
    auto decoded = DecodeProtobuf(req.body);
    if (!decoded.ok()) {
      bool unsupported = decoded.status().code() == StatusCode::kUnimplemented;
      return Failure(unsupported ? 415 : 400, unsupported ? "UnsupportedMediaType" : "BadRequest",
                     decoded.status().message());
    }
    decoded_text = decoded->dump();
    rr.body = &decoded_text;
  }

  auto accept = req.headers.find("accept");
  rr.as_table = accept != req.headers.end() && accept->second.find("as=Table") != std::string::npos;
  // Metadata only: PartialObjectMetadata for what answers one object (a
  // get, a watch's events, a create, an update or patch, a delete),
  // PartialObjectMetadataList for a list or deletecollection; the other
  // form the API server refuses once it has negotiated it.
  // (Negotiated only where the header names it: most requests send plain
  // JSON, and this runs for every one.)
  std::string as = accept == req.headers.end() ||
                           accept->second.find("PartialObjectMetadata") == std::string::npos
                       ? ""
                       : AcceptedAs(accept->second, "meta.k8s.io", "v1");
  bool list = rr.verb == "list" || rr.verb == "deletecollection";
  if (as == "PartialObjectMetadata" || as == "PartialObjectMetadataList") {
    if (list != (as == "PartialObjectMetadataList")) {
      return Failure(406, "NotAcceptable",
                     "you requested " + as + ", but the requested object is " +
                         (list ? "a list" : "not a list"));
    }
    rr.as_metadata = true;
  }
  if (!rr.target.query.empty()) {  // most requests have none
    rr.list.label_selector = rr.target.Param("labelSelector");
    rr.list.field_selector = rr.target.Param("fieldSelector");
    rr.list.continue_token = rr.target.Param("continue");
    std::string limit = rr.target.Param("limit");
    if (!limit.empty()) rr.list.limit = std::strtoll(limit.c_str(), nullptr, 10);
  }

  auto handler = resources_.find({rr.verb, rr.subresource});
  if (handler == resources_.end()) handler = resources_.find({rr.verb, ""});
  if (handler == resources_.end()) {
    return Failure(405, "MethodNotAllowed",
                   "the server does not allow this method on the requested resource");
  }
  return handler->second(rr);
}

}  // namespace portflow::fake
