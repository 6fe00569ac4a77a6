// The fake cluster's route table and its resource handlers: what each verb
// does to the store, with the API server's answers.
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <optional>
#include <variant>

#include "core/k8s_time.h"
#include "k8s_backend/fake_cluster/apiserver/admission.h"
#include "k8s_backend/fake_cluster/apiserver/discovery.h"
#include "k8s_backend/fake_cluster/apiserver/openapi.h"
#include "k8s_backend/fake_cluster/apiserver/responses.h"
#include "k8s_backend/fake_cluster/apiserver/table.h"
#include "k8s_backend/fake_cluster/controllers/pod_status.h"
#include "k8s_backend/fake_cluster/fake_cluster.h"
#include "k8s_backend/fake_cluster/store/json_fields.h"
#include "k8s_backend/fake_cluster/store/strategic_merge.h"

namespace portflow::fake {
namespace {

std::optional<HttpResponse> Version(const HttpRequest&, const Target& t) {
  if (t.path.size() != 1 || t.path[0] != "version") return std::nullopt;
  return Json(200, {{"major", "1"},
                    {"minor", "32"},
                    {"gitVersion", kServerVersion},
                    {"gitCommit", "portflow-fake"},
                    {"gitTreeState", "clean"},
                    {"buildDate", "2026-11-30T00:00:00Z"},
                    {"goVersion", "go1.23"},
                    {"compiler", "gc"},
                    {"platform", "linux/amd64"}});
}

// GET /api, /apis, /api/v1 and /apis/GROUP/VERSION.
std::optional<HttpResponse> Discovery(const HttpRequest& req, const Target& t) {
  const auto& p = t.path;
  if (p.size() == 1 && (p[0] == "api" || p[0] == "apis")) {
    bool core = p[0] == "api";
    auto accept = req.headers.find("accept");
    if (accept != req.headers.end() && WantsAggregatedDiscovery(accept->second)) {
      HttpResponse r{200, kAggregatedDiscoveryType, AggregatedDiscovery(core).dump(), nullptr};
      r.headers["Vary"] = "Accept";  // one URL, two forms: caches must key on Accept
      return r;
    }
    return Json(200, LegacyDiscovery(core));
  }
  if (p.size() == 2 && p[0] == "api") {
    if (auto list = ResourceList("", p[1])) return Json(200, *list);
  }
  if (p.size() == 3 && p[0] == "apis") {
    if (auto list = ResourceList(p[1], p[2])) return Json(200, *list);
  }
  return std::nullopt;
}

std::optional<HttpResponse> OpenApi(const HttpRequest&, const Target& t) {
  const auto& p = t.path;
  if (p.size() < 2 || p[0] != "openapi" || p[1] != "v3") return std::nullopt;
  if (p.size() == 2) return Json(200, OpenApiV3Index());
  std::string gv;
  for (size_t i = 2; i < p.size(); ++i) gv += (gv.empty() ? "" : "/") + p[i];
  if (auto doc = OpenApiV3Document(gv)) return Json(200, *doc);
  return std::nullopt;
}

std::optional<HttpResponse> Health(const HttpRequest&, const Target& t) {
  const auto& p = t.path;
  if (p.empty() || (p[0] != "healthz" && p[0] != "livez" && p[0] != "readyz")) return std::nullopt;
  return HttpResponse{200, "text/plain", "ok", nullptr};
}

// A JSON patch (RFC 6902) applied to `doc` with the API server's two limits
// on what a small patch can make: at most 10,000 operations (413), and
// copies adding at most 3 MiB in all (422; each copy can double the object,
// so thirty of them would ask for gigabytes). Throws json::exception for a
// patch that does not apply; a refusal is returned.
std::optional<HttpResponse> ApplyJsonPatch(json& doc, const json& patch) {
  constexpr size_t kMaxOperations = 10000;
  constexpr int64_t kMaxCopyBytes = 3 << 20;
  if (!patch.is_array()) {
    doc.patch_inplace(patch);  // nlohmann's own error for a patch that is not a list
    return std::nullopt;
  }
  if (patch.size() > kMaxOperations) {
    return Failure(413, "RequestEntityTooLarge",
                   "The allowed maximum operations in a JSON patch is " +
                       std::to_string(kMaxOperations) + ", got " + std::to_string(patch.size()));
  }
  int64_t copied = 0;
  for (const json& op : patch) {
    if (op.is_object() && op.value("op", json()) == "copy" &&
        op.value("from", json()).is_string()) {
      copied += static_cast<int64_t>(
          doc.at(json::json_pointer(op["from"].get<std::string>())).dump().size());
      if (copied > kMaxCopyBytes) {
        return Failure(422, "Invalid",
                       "the patch could not be applied: Unable to complete the copy, the "
                       "accumulated size increase of copy is " +
                           std::to_string(copied) + ", exceeding the limit " +
                           std::to_string(kMaxCopyBytes));
      }
    }
    doc.patch_inplace(json::array({op}));
  }
  return std::nullopt;
}

// PATCH: the object after `body`, by the patch type the Content-Type names;
// a response when the patch is refused.
std::variant<json, HttpResponse> Patched(const ApiRequest& r, const json& current,
                                         const json& body) {
  const auto& headers = r.http.headers;
  std::string type = headers.count("content-type") ? headers.at("content-type") : "";
  json next = current;
  try {
    if (type.rfind("application/json-patch+json", 0) == 0) {
      if (auto refused = ApplyJsonPatch(next, body)) return *std::move(refused);
    } else if (type.rfind("application/strategic-merge-patch+json", 0) == 0) {
      auto merged = StrategicMergePatch(current, body, r.kind->kind);
      if (!merged.ok()) {
        // The API server answers a malformed patch 400; one that does not
        // fit the object fails as a plain error: 500 with no reason.
        bool malformed = merged.status().code() == StatusCode::kInvalidArgument;
        return Failure(malformed ? 400 : 500, malformed ? "BadRequest" : "",
                       merged.status().message());
      }
      next = *std::move(merged);
    } else {
      next.merge_patch(body);  // JSON merge patch (RFC 7386)
    }
  } catch (const json::exception& e) {
    return Failure(422, "Invalid", std::string("the patch could not be applied: ") + e.what());
  }
  // A patch names a resourceVersion only to make it a precondition.
  bool precondition =
      body.is_object() && body.value("metadata", json::object()).contains("resourceVersion");
  if (!next.is_object() || !next["metadata"].is_object()) {
    return Failure(422, "Invalid", "the patched object has no metadata");
  }
  if (!precondition) next["metadata"].erase("resourceVersion");
  return next;
}

// Only status changes through the status subresource; the main resource
// (and any other subresource) keeps the stored status.
void KeepStatus(const std::string& subresource, const json& current, json& next) {
  if (subresource == "status") {
    json merged = current;
    merged["status"] = next.value("status", json::object());
    merged["metadata"]["resourceVersion"] = next["metadata"].value("resourceVersion", "");
    if (merged["metadata"]["resourceVersion"] == "") merged["metadata"].erase("resourceVersion");
    next = merged;
  } else if (current.contains("status")) {
    next["status"] = current["status"];
  } else {
    next.erase("status");
  }
}

// propagationPolicy from the query or the DeleteOptions body. Without one,
// Jobs orphan their pods (batch/v1's legacy default); the rest delete
// dependents in the background.
std::string PropagationPolicy(const ApiRequest& r) {
  std::string policy = r.target.Param("propagationPolicy");
  json options = json::parse(r.body->empty() ? "{}" : *r.body, nullptr, false);
  if (policy.empty() && options.is_object()) {
    policy = options.value("propagationPolicy", "");
    if (policy.empty() && options.contains("orphanDependents") &&
        options["orphanDependents"].is_boolean()) {
      policy = options["orphanDependents"].get<bool>() ? "Orphan" : "Background";
    }
  }
  if (policy.empty()) policy = r.kind->kind == "Job" ? "Orphan" : "Background";
  return policy;
}

// A 400 for a policy other than Orphan, Background or Foreground.
std::optional<HttpResponse> UnsupportedPolicy(const std::string& policy) {
  if (policy == "Orphan" || policy == "Background" || policy == "Foreground") return std::nullopt;
  return Failure(400, "BadRequest", "unsupported propagationPolicy \"" + policy + "\"");
}

// DeleteOptions' gracePeriodSeconds, from the query or the body; unset
// when neither gives a number.
std::optional<int64_t> GracePeriod(const ApiRequest& r) {
  std::string query = r.target.Param("gracePeriodSeconds");
  if (!query.empty()) {
    char* end = nullptr;
    long long v = std::strtoll(query.c_str(), &end, 10);
    if (*end == '\0') return v;
  }
  json options = json::parse(r.body->empty() ? "{}" : *r.body, nullptr, false);
  if (options.is_object() && options.contains("gracePeriodSeconds") &&
      options["gracePeriodSeconds"].is_number_integer())
    return options["gracePeriodSeconds"].get<int64_t>();
  return std::nullopt;
}

}  // namespace

void FakeCluster::InstallRoutes() {
  router_.AddPath(Version);
  router_.AddPath(Discovery);
  router_.AddPath(OpenApi);
  router_.AddPath(Health);
  auto to = [this](HttpResponse (FakeCluster::*handler)(const ApiRequest&)) {
    return [this, handler](const ApiRequest& r) { return (this->*handler)(r); };
  };
  router_.AddResource("watch", "", to(&FakeCluster::WatchResource));
  router_.AddResource("list", "", to(&FakeCluster::ListResource));
  router_.AddResource("create", "", to(&FakeCluster::CreateResource));
  router_.AddResource("get", "", to(&FakeCluster::GetResource));
  router_.AddResource("get", "log", to(&FakeCluster::GetLog));
  router_.AddResource("update", "", to(&FakeCluster::WriteResource));
  router_.AddResource("patch", "", to(&FakeCluster::WriteResource));
  router_.AddResource("delete", "", to(&FakeCluster::DeleteResource));
  router_.AddResource("deletecollection", "", to(&FakeCluster::DeleteCollection));
}

HttpResponse FakeCluster::WatchResource(const ApiRequest& r) {
  const ResourceKind* kind = r.kind;
  auto w = store_.StartWatch(*kind, r.ns, r.list, r.target.Param("resourceVersion"));
  if (!w.ok() && w.status().code() != StatusCode::kOutOfRange) return FromStatus(w.status(), kind);
  std::string timeout_text = r.target.Param("timeoutSeconds");
  int64_t timeout = timeout_text.empty() ? 1800 : std::strtoll(timeout_text.c_str(), nullptr, 10);
  TimePoint end = clock_.Now() + std::chrono::seconds(timeout);
  HttpResponse res{200, "application/json", "", nullptr};
  if (!w.ok()) {
    // The real server answers 200, then one ERROR event with a 410 Status.
    json status = json::parse(FromStatus(w.status()).body);
    bool sent = false;
    res.stream = [status, sent](std::string* chunk) mutable {
      if (!sent) *chunk = json{{"type", "ERROR"}, {"object", status}}.dump() + "\n";
      sent = true;
      return false;
    };
    return res;
  }
  std::shared_ptr<Watch> watch = *w;
  Clock* clock = &clock_;
  bool first = true;
  bool bookmarks = ParseBool(r.target.Param("allowWatchBookmarks"));
  TimePoint last_sent = clock_.Now();
  ObjectStore* store = &store_;
  std::string include_object = r.target.Param("includeObject");
  bool as_table = r.as_table, as_metadata = r.as_metadata;
  // Set once a server asked to be woken instead of waiting here.
  auto woken = std::make_shared<std::atomic<bool>>(false);
  res.wake_me = [watch, woken](std::function<void()> fn) {
    if (fn) woken->store(true);
    watch->SetWaker(std::move(fn));
  };
  res.stream = [watch, end, clock, as_table, as_metadata, kind, first, bookmarks, last_sent, store,
                include_object, woken](std::string* chunk) mutable {
    TimePoint now = clock->Now();
    if (now >= end || watch->stopped()) return false;
    WatchEvent e;
    if (woken->load() ? watch->TryNext(&e)
                      : watch->Next(&e, std::min(end, now + std::chrono::seconds(1)))) {
      last_sent = clock->Now();
      // What is queued goes out in one chunk: one write for many events
      // when this watcher falls behind.
      do {
        if (as_table) {
          // kubectl get -w asks for Table rows; the columns come with the first.
          json table = ToTable(*kind, {*e.object}, clock->Now(), first, include_object);
          *chunk += json{{"type", e.type}, {"object", table}}.dump() + "\n";
        } else if (as_metadata) {
          // A metadata informer's watch: each object as PartialObjectMetadata.
          *chunk +=
              json{{"type", e.type}, {"object", PartialObjectMetadata(*e.object)}}.dump() + "\n";
        } else {
          // The object's bytes are shared with every other watcher.
          chunk->append("{\"type\":\"")
              .append(e.type)
              .append("\",\"object\":")
              .append(*e.text)
              .append("}\n");  // no temporary: one copy of the text per watcher
        }
        first = false;
      } while (chunk->size() < 65536 && watch->TryNext(&e));
    } else if (bookmarks && clock->Now() - last_sent >= std::chrono::minutes(1)) {
      // A quiet watch still learns the current version, to resume from it.
      last_sent = clock->Now();
      json mark = {{"kind", kind->kind},
                   {"apiVersion", kind->ApiVersion()},
                   {"metadata",
                    {{"resourceVersion", std::to_string(store->resource_version())},
                     {"annotations", {{"k8s.io/initial-events-end", "false"}}}}}};
      *chunk = json{{"type", "BOOKMARK"}, {"object", mark}}.dump() + "\n";
    }
    return !watch->stopped() || !chunk->empty();
  };
  return res;
}

// The answer of one object: metadata only where the request asks for
// PartialObjectMetadata (the whole object is not copied).
static HttpResponse ObjectAnswer(int status, const ApiRequest& r, const json& object) {
  return r.as_metadata ? Json(status, PartialObjectMetadata(object)) : Json(status, object);
}

// A list answer of `items`: metadata only where the request asks for
// PartialObjectMetadataList (what kubectl and controllers ask for when they
// need no more).
static json ListOf(const ApiRequest& r, std::vector<json> items, json meta) {
  if (r.as_metadata) {
    for (json& item : items) item = PartialObjectMetadata(item);
    return {{"kind", "PartialObjectMetadataList"},
            {"apiVersion", "meta.k8s.io/v1"},
            {"metadata", std::move(meta)},
            {"items", std::move(items)}};
  }
  return {{"kind", r.kind->kind + "List"},
          {"apiVersion", r.kind->ApiVersion()},
          {"metadata", std::move(meta)},
          {"items", std::move(items)}};
}

HttpResponse FakeCluster::ListResource(const ApiRequest& r) {
  auto list = store_.List(*r.kind, r.ns, r.list);
  if (!list.ok()) return FromStatus(list.status(), r.kind);
  json meta = {{"resourceVersion", std::to_string(list->resource_version)}};
  if (!list->continue_token.empty()) {
    meta["continue"] = list->continue_token;
    meta["remainingItemCount"] = list->remaining;
  }
  if (r.as_table) {
    json table = ToTable(*r.kind, list->items, clock_.Now(), true, r.target.Param("includeObject"));
    table["metadata"] = meta;
    return Json(200, table);
  }
  return Json(200, ListOf(r, std::move(list->items), std::move(meta)));
}

HttpResponse FakeCluster::CreateResource(const ApiRequest& r) {
  const ResourceKind* kind = r.kind;
  json body = json::parse(*r.body, nullptr, false);
  if (!body.is_object()) return Failure(400, "BadRequest", "the request body is not a JSON object");
  if (kind->namespaced && !store_.Peek(*FindKind("", "namespaces"), "", r.ns)) {  // no copy
    return Failure(404, "NotFound", "namespaces \"" + r.ns + "\" not found",
                   {{"name", r.ns}, {"kind", "namespaces"}});
  }
  json invalid;
  auto admit = [&](json& object) {
    if (options_.kueue_suspends && kind->kind == "Job" && object["spec"].is_object() &&
        object["metadata"]["labels"].is_object() &&
        object["metadata"]["labels"].contains("kueue.x-k8s.io/queue-name")) {
      object["spec"]["suspend"] = true;
    }
    ApplyDefaults(*kind, object, object["metadata"].value("uid", ""));
    std::vector<Cause> causes = Validate(*kind, object);
    if (causes.empty()) return OkStatus();
    invalid = InvalidStatus(*kind, object["metadata"].value("name", ""), causes);
    return InvalidArgument("invalid");
  };
  auto created = kind->kind == "Pod" ? controllers_.pod_admission().Create(r.ns, body, admit)
                                     : store_.Create(*kind, r.ns, body, admit);
  if (!invalid.is_null()) return Json(422, invalid);
  if (!created.ok()) {
    return FromStatus(created.status(), kind,
                      body.value("metadata", json::object()).value("name", ""));
  }
  return ObjectAnswer(201, r, **created);
}

HttpResponse FakeCluster::GetResource(const ApiRequest& r) {
  if (r.as_table || r.as_metadata) {
    auto obj = store_.Find(*r.kind, r.ns, r.name);  // no copy
    if (!obj.ok()) return FromStatus(obj.status(), r.kind, r.name);
    if (r.as_metadata) return ObjectAnswer(200, r, **obj);
    return Json(200,
                ToTable(*r.kind, {**obj}, clock_.Now(), true, r.target.Param("includeObject")));
  }
  // Serialised once per version, however often it is read.
  std::shared_ptr<const std::string> text = store_.PeekText(*r.kind, r.ns, r.name);
  if (!text) return FromStatus(store_.Get(*r.kind, r.ns, r.name).status(), r.kind, r.name);
  return {200, "application/json", *text, nullptr};
}

// PodLogOptions as the API server reads them from the query: tailLines,
// limitBytes and sinceSeconds checked as its validation does (a 422 naming
// the field), then the container against the pod's (a 400). The fake has
// one log a pod, the first container's; another container's is empty, and
// no container has a previous one.
HttpResponse FakeCluster::GetLog(const ApiRequest& r) {
  auto found = store_.Find(*r.kind, r.ns, r.name);  // no copy
  if (!found.ok()) return FromStatus(found.status(), r.kind, r.name);
  const std::shared_ptr<const json>& pod = *found;
  LogOptions options;
  options.follow = ParseBool(r.target.Param("follow"));
  std::vector<Cause> causes;
  std::string not_number;  // the first of them that is not a whole number
  auto number = [&](const char* field, int64_t least, const char* must) -> std::optional<int64_t> {
    std::string text = r.target.Param(field);
    if (text.empty()) return std::nullopt;
    char* end = nullptr;
    errno = 0;
    long long v = std::strtoll(text.c_str(), &end, 10);
    if (*end != '\0' || errno == ERANGE) {
      if (not_number.empty()) not_number = field;
      return std::nullopt;
    }
    if (v < least)
      causes.push_back({"FieldValueInvalid", field, "Invalid value: " + text + ": " + must});
    return v;
  };
  options.tail_lines = number("tailLines", 0, "must be greater than or equal to 0");
  options.limit_bytes = number("limitBytes", 1, "must be greater than 0");
  number("sinceSeconds", 1, "must be greater than 0");  // checked, not applied
  if (!not_number.empty()) {
    return Failure(400, "BadRequest",
                   not_number + ": \"" + r.target.Param(not_number) + "\" is not a whole number");
  }
  if (!causes.empty()) {
    static const ResourceKind kLogOptions{"", "v1", "", "PodLogOptions"};
    return Json(422, InvalidStatus(kLogOptions, r.name, causes));
  }
  std::vector<std::string> names, init;  // init containers may be named too
  for (const json& c : Field(Field(*pod, "spec"), "containers")) names.push_back(Str(c, "name"));
  for (const json& c : Field(Field(*pod, "spec"), "initContainers")) init.push_back(Str(c, "name"));
  std::string container = r.target.Param("container");
  if (container.empty() && names.size() > 1) {
    std::string all;
    for (const std::string& n : names) all += (all.empty() ? "" : " ") + n;
    return Failure(
        400, "BadRequest",
        "a container name must be specified for pod " + r.name + ", choose one of: [" + all + "]");
  }
  if (!container.empty() && std::find(names.begin(), names.end(), container) == names.end() &&
      std::find(init.begin(), init.end(), container) == init.end())
    return Failure(400, "BadRequest", "container " + container + " is not valid for pod " + r.name);
  if (container.empty() && !names.empty()) container = names[0];
  if (ParseBool(r.target.Param("previous"))) {
    return Failure(
        400, "BadRequest",
        "previous terminated container \"" + container + "\" in pod \"" + r.name + "\" not found");
  }
  options.container = container;
  options.empty = !names.empty() && container != names[0];
  return Logs(r.ns, r.name, *pod, options);
}

HttpResponse FakeCluster::WriteResource(const ApiRequest& r) {
  const std::string& name = r.name;
  auto current = store_.Get(*r.kind, r.ns, name);
  if (!current.ok()) return FromStatus(current.status(), r.kind, name);
  json body = json::parse(*r.body, nullptr, false);
  if (body.is_discarded()) return Failure(400, "BadRequest", "the request body is not valid JSON");
  json next;
  if (r.verb == "update") {
    if (!body.is_object())
      return Failure(400, "BadRequest", "the request body is not a JSON object");
    next = body;
    std::string named = next.value("metadata", json::object()).value("name", "");
    if (named != name) {
      return Failure(400, "BadRequest",
                     "the name of the object (" + named + ") does not match the name on the URL (" +
                         name + ")");
    }
  } else {
    auto patched = Patched(r, *current, body);
    if (auto* refused = std::get_if<HttpResponse>(&patched)) return std::move(*refused);
    next = std::get<json>(std::move(patched));
  }
  KeepStatus(r.subresource, *current, next);
  if (r.subresource.empty()) {
    ApplyDefaults(*r.kind, next, (*current)["metadata"].value("uid", ""));
    std::vector<Cause> causes = Validate(*r.kind, next);
    for (Cause& c : ValidateUpdate(*r.kind, *current, next)) causes.push_back(std::move(c));
    if (!causes.empty()) return Json(422, InvalidStatus(*r.kind, name, causes));
  }
  auto updated = store_.Update(*r.kind, r.ns, next);
  if (!updated.ok()) return FromStatus(updated.status(), r.kind, name);
  return ObjectAnswer(200, r, **updated);
}

HttpResponse FakeCluster::DeleteResource(const ApiRequest& r) {
  // A missing object answers NotFound whatever the options.
  if (!store_.Peek(*r.kind, r.ns, r.name))  // (no copy of an object that is there)
    return FromStatus(store_.Get(*r.kind, r.ns, r.name).status(), r.kind, r.name);
  std::string policy = PropagationPolicy(r);
  if (auto bad = UnsupportedPolicy(policy)) return *bad;
  auto deleted = DeleteNamed(r, r.name, policy);
  if (!deleted.ok()) return FromStatus(deleted.status(), r.kind, r.name);
  return ObjectAnswer(200, r, **deleted);
}

// As the real server: the objects the selectors match, each deleted as its
// own DELETE would be, answered with the list of them as they were deleted.
// One gone meanwhile is left out; any other failure ends the call.
HttpResponse FakeCluster::DeleteCollection(const ApiRequest& r) {
  if (!DeletesCollections(*r.kind)) {
    return Failure(405, "MethodNotAllowed",
                   "the server does not allow this method on the requested resource");
  }
  std::string policy = PropagationPolicy(r);
  if (auto bad = UnsupportedPolicy(policy)) return *bad;
  ListOptions everything = r.list;
  everything.limit = 0;
  everything.continue_token.clear();
  auto list = store_.List(*r.kind, r.ns, everything);
  if (!list.ok()) return FromStatus(list.status(), r.kind);
  std::vector<json> items;
  for (const json& item : list->items) {
    std::string name = item["metadata"].value("name", "");
    auto deleted = DeleteNamed(r, name, policy);
    if (!deleted.ok() && deleted.status().code() == StatusCode::kNotFound) continue;
    if (!deleted.ok()) return FromStatus(deleted.status(), r.kind, name);
    items.push_back(**deleted);
  }
  return Json(200, ListOf(r, std::move(items),
                          {{"resourceVersion", std::to_string(store_.resource_version())}}));
}

Result<ObjectStore::Stored> FakeCluster::DeleteNamed(const ApiRequest& r, const std::string& name,
                                                     const std::string& policy) {
  ASSIGN_OR_RETURN(std::shared_ptr<const json> current, store_.Find(*r.kind, r.ns, name));
  if (policy == "Orphan") ReleaseDependents(Str(Sub(*current, "metadata"), "uid"));
  if (policy == "Foreground") {
    // Marked, not removed: the garbage collector deletes the dependents,
    // then the owner.
    json marked = *current;
    marked["metadata"]["deletionTimestamp"] = K8sTime(clock_.Now());
    json& finalizers = marked["metadata"]["finalizers"];
    if (!finalizers.is_array()) finalizers = json::array();
    finalizers.push_back("foregroundDeletion");
    return store_.Update(*r.kind, r.ns, marked);
  }
  return r.kind == &Pods() ? DeletePod(store_, r.ns, name, GracePeriod(r))
                           : store_.Delete(*r.kind, r.ns, name);
}

}  // namespace portflow::fake
