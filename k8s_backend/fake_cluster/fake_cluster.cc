#include "k8s_backend/fake_cluster/fake_cluster.h"

#include <set>
#include <sstream>

#include "core/k8s_time.h"
#include "core/quantity.h"
#include "k8s_backend/fake_cluster/apiserver/admission.h"
#include "k8s_backend/fake_cluster/apiserver/discovery.h"
#include "k8s_backend/fake_cluster/apiserver/openapi.h"
#include "k8s_backend/fake_cluster/apiserver/protobuf.h"
#include "k8s_backend/fake_cluster/apiserver/table.h"
#include "k8s_backend/fake_cluster/store/json_fields.h"
#include "k8s_backend/fake_cluster/store/strategic_merge.h"

namespace portflow::fake {
namespace {

constexpr const char* kVersion = "v1.32.0";

std::string UrlDecode(std::string_view s, bool plus_is_space) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else if (s[i] == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

struct Target {
  std::vector<std::string> path;
  std::map<std::string, std::string> query;
};

Target ParseTarget(const std::string& target) {
  Target t;
  size_t q = target.find('?');
  std::string_view path = std::string_view(target).substr(0, q);
  size_t start = 0;
  while (start < path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    if (end > start) t.path.push_back(UrlDecode(path.substr(start, end - start), false));
    start = end + 1;
  }
  if (q != std::string::npos) {
    std::string_view query = std::string_view(target).substr(q + 1);
    size_t s = 0;
    while (s < query.size()) {
      size_t e = query.find('&', s);
      if (e == std::string_view::npos) e = query.size();
      std::string_view kv = query.substr(s, e - s);
      size_t eq = kv.find('=');
      t.query[UrlDecode(kv.substr(0, eq), true)] =
          eq == std::string_view::npos ? "" : UrlDecode(kv.substr(eq + 1), true);
      s = e + 1;
    }
  }
  return t;
}

// Go's strconv.ParseBool, as the API server reads query flags: clients send
// "true", "1" or (the Python client) "True".
bool ParseBool(const std::string& v) {
  return v == "1" || v == "t" || v == "T" || v == "true" || v == "TRUE" || v == "True";
}

HttpResponse Json(int status, const json& body) {
  return {status, "application/json", body.dump(), nullptr};
}

// A metav1.Status failure, as the API server sends errors.
HttpResponse Failure(int code, const std::string& reason, const std::string& message,
                     const json& details = {}) {
  json s = {{"kind", "Status"},    {"apiVersion", "v1"}, {"metadata", json::object()},
            {"status", "Failure"}, {"message", message}, {"reason", reason},
            {"code", code}};
  if (!details.is_null()) s["details"] = details;
  return Json(code, s);
}

HttpResponse FromStatus(const Status& st, const ResourceKind* kind = nullptr,
                        const std::string& name = "") {
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

}  // namespace

Result<std::unique_ptr<FakeCluster>> FakeCluster::Create(ClusterOptions options, Clock& clock) {
  if (options.kubelet.execute && options.kubelet.exec_root.empty()) {
    return InvalidArgument("execute mode needs a directory for the pods' files");
  }
  std::unique_ptr<FakeCluster> c(new FakeCluster(std::move(options), clock));
  RETURN_IF_ERROR(c->Bootstrap());
  return c;
}

FakeCluster::~FakeCluster() {
  StopServing();
  StopControllers();
}

Status FakeCluster::Bootstrap() {
  const ResourceKind& ns = *FindKind("", "namespaces");
  for (const char* name : {"default", "kube-system", "kube-public", "kube-node-lease"}) {
    json n = {{"metadata", {{"name", name}, {"labels", {{"kubernetes.io/metadata.name", name}}}}},
              {"spec", {{"finalizers", {"kubernetes"}}}},
              {"status", {{"phase", "Active"}}}};
    RETURN_IF_ERROR(store_.Create(ns, "", n).status());
  }
  // Every cluster has the API server's own Service in default.
  json api_service = {
      {"metadata",
       {{"name", "kubernetes"},
        {"labels", {{"component", "apiserver"}, {"provider", "kubernetes"}}}}},
      {"spec",
       {{"clusterIP", "10.96.0.1"},
        {"clusterIPs", {"10.96.0.1"}},
        {"ports", {{{"name", "https"}, {"port", 443}, {"protocol", "TCP"}, {"targetPort", 6443}}}},
        {"type", "ClusterIP"},
        {"sessionAffinity", "None"},
        {"ipFamilies", {"IPv4"}},
        {"ipFamilyPolicy", "SingleStack"},
        {"internalTrafficPolicy", "Cluster"}}},
      {"status", {{"loadBalancer", json::object()}}}};
  RETURN_IF_ERROR(store_.Create(*FindKind("", "services"), "default", api_service).status());
  ASSIGN_OR_RETURN(int64_t milli_cpu, ParseMilliQuantity(options_.cpu));
  ASSIGN_OR_RETURN(int64_t memory, ParseQuantity(options_.memory));
  (void)milli_cpu;
  (void)memory;
  const ResourceKind& nodes = *FindKind("", "nodes");
  for (int i = 1; i <= options_.nodes; ++i) {
    std::string name = "node-" + std::to_string(i);
    json capacity = {{"cpu", options_.cpu},
                     {"memory", options_.memory},
                     {"pods", "110"},
                     {"ephemeral-storage", "100Gi"}};
    if (options_.gpus > 0) capacity["nvidia.com/gpu"] = std::to_string(options_.gpus);
    std::string now = K8sTime(clock_.Now());
    json node = {{"metadata",
                  {{"name", name},
                   {"labels",
                    {{"kubernetes.io/hostname", name},
                     {"kubernetes.io/os", "linux"},
                     {"kubernetes.io/arch", "amd64"},
                     {"beta.kubernetes.io/os", "linux"},
                     {"beta.kubernetes.io/arch", "amd64"},
                     {"node.kubernetes.io/instance-type", "portflow-fake"}}}}},
                 {"spec", json::object()},
                 {"status",
                  {{"capacity", capacity},
                   {"allocatable", capacity},
                   {"conditions",
                    {{{"type", "Ready"},
                      {"status", "True"},
                      {"reason", "KubeletReady"},
                      {"message", "kubelet is posting ready status"},
                      {"lastHeartbeatTime", now},
                      {"lastTransitionTime", now}}}},
                   {"addresses",
                    {{{"type", "InternalIP"}, {"address", "127.0.0.1"}},
                     {{"type", "Hostname"}, {"address", name}}}},
                   {"nodeInfo",
                    {{"kubeletVersion", kVersion},
                     {"kubeProxyVersion", kVersion},
                     {"operatingSystem", "linux"},
                     {"architecture", "amd64"},
                     {"containerRuntimeVersion", "portflow://fake"},
                     {"osImage", "portflow fake node"},
                     {"kernelVersion", "fake"},
                     {"machineID", name},
                     {"systemUUID", name},
                     {"bootID", name}}}}}};
    RETURN_IF_ERROR(store_.Create(nodes, "", node).status());
  }
  return OkStatus();
}

void FakeCluster::FailNextCalls(int count, int code) {
  std::lock_guard<std::mutex> l(faults_mu_);
  fail_next_ = count;
  fail_code_ = code;
}

void FakeCluster::FailCallsAtRate(double rate, int code) {
  std::lock_guard<std::mutex> l(faults_mu_);
  fail_rate_ = rate;
  fail_code_ = code;
}

Status FakeCluster::LoseNode(const std::string& name) {
  const ResourceKind& nodes = *FindKind("", "nodes");
  ASSIGN_OR_RETURN(json node, store_.Get(nodes, "", name));
  for (json& c : node["status"]["conditions"]) {
    if (c.value("type", "") != "Ready") continue;
    c["status"] = "Unknown";
    c["reason"] = "NodeStatusUnknown";
    c["message"] = "Kubelet stopped posting node status.";
    c["lastTransitionTime"] = K8sTime(clock_.Now());
  }
  node["spec"]["taints"] =
      json::array({{{"key", "node.kubernetes.io/unreachable"}, {"effect", "NoExecute"}}});
  RETURN_IF_ERROR(store_.Update(nodes, "", node).status());
  const ResourceKind& pods = *FindKind("", "pods");
  ASSIGN_OR_RETURN(ListResult all, store_.List(pods, "", {"", "spec.nodeName=" + name, 0, ""}));
  for (const json& p : all.items) {
    std::string phase = p.value("status", json::object()).value("phase", "");
    if (phase == "Succeeded" || phase == "Failed") continue;
    std::string pod_name = p["metadata"].value("name", "");
    RETURN_IF_ERROR(
        FailPodWith(p["metadata"].value("namespace", ""), pod_name, 137, [&](json& failed) {
          failed["status"]["reason"] = "NodeLost";
          failed["status"]["message"] =
              "Node " + name + " which was running pod " + pod_name + " is unresponsive";
          failed["status"]["conditions"].push_back({{"type", "DisruptionTarget"},
                                                    {"status", "True"},
                                                    {"reason", "DeletionByPodGC"},
                                                    {"message", "PodGC: node no longer exists"},
                                                    {"lastTransitionTime", K8sTime(clock_.Now())}});
        }));
  }
  return OkStatus();
}

Status FakeCluster::FailPod(const std::string& ns, const std::string& name, int exit_code) {
  return FailPodWith(ns, name, exit_code, nullptr);
}

Status FakeCluster::FailPodWith(const std::string& ns, const std::string& name, int exit_code,
                                const std::function<void(json&)>& more) {
  const ResourceKind& pods = *FindKind("", "pods");
  ASSIGN_OR_RETURN(json pod, store_.Get(pods, ns, name));
  auto started = ParseK8sTime(pod["status"].value("startTime", ""));
  EndPod(pod, exit_code, started.value_or(clock_.Now()), clock_.Now());
  if (more) more(pod);
  return store_.Update(pods, ns, pod).status();
}

HttpResponse FakeCluster::InjectFaults(const std::string& body) {
  json f = json::parse(body, nullptr, false);
  if (!f.is_object()) return Failure(400, "BadRequest", "the faults are not a JSON object");
  static const std::set<std::string> known = {"failNext", "failRate",    "code",         "loseNode",
                                              "failPod",  "dropWatches", "missingImages"};
  for (const auto& [key, value] : f.items()) {
    if (!known.count(key)) return Failure(400, "BadRequest", "unknown fault \"" + key + "\"");
  }
  try {
    int code = f.value("code", 500);
    if (code != 0 && code != 429 && (code < 500 || code > 599)) {
      return Failure(400, "BadRequest", "code must be 429, 5xx, or 0 (drop the connection)");
    }
    if (f.contains("failNext")) FailNextCalls(f["failNext"].get<int>(), code);
    if (f.contains("failRate")) {
      double rate = f["failRate"].get<double>();
      if (rate < 0 || rate > 1) return Failure(400, "BadRequest", "failRate must be in [0, 1]");
      FailCallsAtRate(rate, code);
    }
    if (f.contains("loseNode")) {
      Status st = LoseNode(f["loseNode"].get<std::string>());
      if (!st.ok()) return FromStatus(st);
    }
    if (f.contains("failPod")) {
      const json& p = f["failPod"];
      Status st = FailPod(p.value("namespace", "default"), p.at("name").get<std::string>(),
                          p.value("exitCode", 137));
      if (!st.ok()) return FromStatus(st);
    }
    if (f.value("dropWatches", false)) DropWatches();
    if (f.contains("missingImages"))
      SetMissingImages(f["missingImages"].get<std::set<std::string>>());
  } catch (const json::exception& e) {
    return Failure(400, "BadRequest", std::string("bad fault: ") + e.what());
  }
  return Json(200, {{"kind", "Status"}, {"apiVersion", "v1"}, {"status", "Success"}});
}

HttpResponse FakeCluster::Handle(const HttpRequest& req) {
  if (req.target == "/portflow/stats") {
    // For benchmarks: API requests answered so far (not these).
    return Json(200, {{"apiCalls", api_calls_.load()}});
  }
  if (req.target == "/portflow/faults") {
    if (req.method != "POST") return Failure(405, "MethodNotAllowed", "POST the faults");
    return InjectFaults(req.body);
  }
  if (req.target.rfind("/api/", 0) == 0 || req.target.rfind("/apis/", 0) == 0) {
    ++api_calls_;
    int code = 0;
    bool fail = false;
    {
      std::lock_guard<std::mutex> l(faults_mu_);
      if (fail_next_ > 0) {
        --fail_next_;
        fail = true;
      } else if (fail_rate_ > 0) {
        fault_seed_ ^= fault_seed_ << 13;  // xorshift: reproducible runs
        fault_seed_ ^= fault_seed_ >> 7;
        fault_seed_ ^= fault_seed_ << 17;
        fail = static_cast<double>(fault_seed_ % 1000000) / 1e6 < fail_rate_;
      }
      code = fail_code_;
    }
    if (fail) {
      if (code == 0) return {0, "", "", nullptr, {}, true};
      HttpResponse r = code == 429 ? Failure(429, "TooManyRequests",
                                             "the server has received too many requests "
                                             "and has asked us to try again later")
                                   : Failure(code, "InternalError",
                                             "an error on the server (injected) has "
                                             "prevented the request from succeeding");
      if (code == 429) r.headers["Retry-After"] = "1";
      return r;
    }
  }
  auto ct = req.headers.find("content-type");
  if (ct != req.headers.end() && !req.body.empty() &&
      ct->second.find("json") == std::string::npos &&
      ct->second.find("yaml") == std::string::npos && ct->second.rfind(kProtobufType, 0) != 0) {
    return Failure(
        415, "UnsupportedMediaType",
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json, application/merge-patch+json, application/json-patch+json, "
        "application/strategic-merge-patch+json, application/vnd.kubernetes.protobuf");
  }
  return Route(req);
}

HttpResponse FakeCluster::Route(const HttpRequest& req) {
  Target t = ParseTarget(req.target);
  const auto& p = t.path;
  if (p.size() == 1 && p[0] == "version") {
    return Json(200, {{"major", "1"},
                      {"minor", "32"},
                      {"gitVersion", kVersion},
                      {"gitCommit", "portflow-fake"},
                      {"gitTreeState", "clean"},
                      {"buildDate", "2026-11-30T00:00:00Z"},
                      {"goVersion", "go1.23"},
                      {"compiler", "gc"},
                      {"platform", "linux/amd64"}});
  }
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
  if (p.size() == 2 && p[0] == "openapi" && p[1] == "v3") return Json(200, OpenApiV3Index());
  if (p.size() >= 3 && p[0] == "openapi" && p[1] == "v3") {
    std::string gv;
    for (size_t i = 2; i < p.size(); ++i) gv += (gv.empty() ? "" : "/") + p[i];
    if (auto doc = OpenApiV3Document(gv)) return Json(200, *doc);
  }
  if (p.size() >= 1 && (p[0] == "healthz" || p[0] == "livez" || p[0] == "readyz")) {
    return {200, "text/plain", "ok", nullptr};
  }

  // /api/v1/... or /apis/GROUP/VERSION/...
  std::string group;
  size_t rest = 0;
  if (p.size() >= 3 && p[0] == "api" && p[1] == "v1") {
    rest = 2;
  } else if (p.size() >= 4 && p[0] == "apis" && p[2] == "v1") {
    group = p[1];
    rest = 3;
  } else {
    return Failure(404, "NotFound", "the server could not find the requested resource");
  }
  std::vector<std::string> r(p.begin() + static_cast<long>(rest), p.end());
  std::string ns, resource, name, sub;
  if (r.size() >= 3 && r[0] == "namespaces") {
    ns = r[1];
    resource = r[2];
    if (r.size() >= 4) name = r[3];
    if (r.size() >= 5) sub = r[4];
  } else {
    resource = r[0];
    if (r.size() >= 2) name = r[1];
    if (r.size() >= 3) sub = r[2];
  }
  const ResourceKind* kind = FindKind(group, resource);
  if (!kind) return Failure(404, "NotFound", "the server could not find the requested resource");
  if (!kind->namespaced && !ns.empty()) {
    return Failure(404, "NotFound", "the server could not find the requested resource");
  }

  // client-go's typed clients (kubectl create namespace, secret...) send
  // protobuf; it is decoded to the JSON the rest of the server speaks.
  const std::string* body_text = &req.body;
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
    body_text = &decoded_text;
  }

  auto accept = req.headers.find("accept");
  bool as_table =
      accept != req.headers.end() && accept->second.find("as=Table") != std::string::npos;
  ListOptions opts;
  opts.label_selector = t.query["labelSelector"];
  opts.field_selector = t.query["fieldSelector"];
  opts.continue_token = t.query["continue"];
  if (!t.query["limit"].empty()) opts.limit = std::strtoll(t.query["limit"].c_str(), nullptr, 10);

  if (name.empty()) {
    if (req.method == "GET" && ParseBool(t.query["watch"])) {
      auto w = store_.StartWatch(*kind, ns, opts, t.query["resourceVersion"]);
      if (!w.ok() && w.status().code() != StatusCode::kOutOfRange)
        return FromStatus(w.status(), kind);
      int64_t timeout = t.query["timeoutSeconds"].empty()
                            ? 1800
                            : std::strtoll(t.query["timeoutSeconds"].c_str(), nullptr, 10);
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
      bool bookmarks = ParseBool(t.query["allowWatchBookmarks"]);
      TimePoint last_sent = clock_.Now();
      ObjectStore* store = &store_;
      std::string include_object = t.query["includeObject"];
      res.stream = [watch, end, clock, as_table, kind, first, bookmarks, last_sent, store,
                    include_object](std::string* chunk) mutable {
        TimePoint now = clock->Now();
        if (now >= end || watch->stopped()) return false;
        WatchEvent e;
        if (watch->Next(&e, std::min(end, now + std::chrono::seconds(1)))) {
          last_sent = clock->Now();
          // What is queued goes out in one chunk: one write for many events
          // when this watcher falls behind.
          do {
            if (as_table) {
              // kubectl get -w asks for Table rows; the columns come with the first.
              json table = ToTable(*kind, {*e.object}, clock->Now(), first, include_object);
              *chunk += json{{"type", e.type}, {"object", table}}.dump() + "\n";
            } else {
              // The object's bytes are shared with every other watcher.
              *chunk += "{\"type\":\"" + e.type + "\",\"object\":" + *e.text + "}\n";
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
    if (req.method == "GET") {
      auto list = store_.List(*kind, ns, opts);
      if (!list.ok()) return FromStatus(list.status(), kind);
      json meta = {{"resourceVersion", std::to_string(list->resource_version)}};
      if (!list->continue_token.empty()) {
        meta["continue"] = list->continue_token;
        meta["remainingItemCount"] = list->remaining;
      }
      if (as_table) {
        json table = ToTable(*kind, list->items, clock_.Now(), true, t.query["includeObject"]);
        table["metadata"] = meta;
        return Json(200, table);
      }
      return Json(200, {{"kind", kind->kind + "List"},
                        {"apiVersion", kind->ApiVersion()},
                        {"metadata", meta},
                        {"items", list->items}});
    }
    if (req.method == "POST") {
      json body = json::parse(*body_text, nullptr, false);
      if (!body.is_object())
        return Failure(400, "BadRequest", "the request body is not a JSON object");
      if (kind->namespaced && !store_.Get(*FindKind("", "namespaces"), "", ns).ok()) {
        return Failure(404, "NotFound", "namespaces \"" + ns + "\" not found",
                       {{"name", ns}, {"kind", "namespaces"}});
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
      auto created = kind->kind == "Pod" ? controllers_.pod_admission().Create(ns, body, admit)
                                         : store_.Create(*kind, ns, body, admit);
      if (!invalid.is_null()) return Json(422, invalid);
      if (!created.ok()) {
        return FromStatus(created.status(), kind,
                          body.value("metadata", json::object()).value("name", ""));
      }
      return Json(201, **created);
    }
    return Failure(405, "MethodNotAllowed",
                   "the server does not allow this method on the requested resource");
  }

  if (req.method == "GET") {
    std::shared_ptr<const json> obj = store_.Peek(*kind, ns, name);  // no copy
    if (!obj) return FromStatus(store_.Get(*kind, ns, name).status(), kind, name);
    if (sub == "log") return Logs(ns, name, ParseBool(t.query["follow"]));
    if (as_table) {
      return Json(200, ToTable(*kind, {*obj}, clock_.Now(), true, t.query["includeObject"]));
    }
    return Json(200, *obj);
  }
  if (req.method == "PUT" || req.method == "PATCH") {
    auto current = store_.Get(*kind, ns, name);
    if (!current.ok()) return FromStatus(current.status(), kind, name);
    json body = json::parse(*body_text, nullptr, false);
    if (body.is_discarded())
      return Failure(400, "BadRequest", "the request body is not valid JSON");
    if (req.method == "PUT" && !body.is_object()) {
      return Failure(400, "BadRequest", "the request body is not a JSON object");
    }
    json next;
    if (req.method == "PUT") {
      next = body;
      if (next.value("metadata", json::object()).value("name", "") != name) {
        return Failure(400, "BadRequest",
                       "the name of the object (" +
                           next.value("metadata", json::object()).value("name", "") +
                           ") does not match the name on the URL (" + name + ")");
      }
    } else {
      std::string type = req.headers.count("content-type") ? req.headers.at("content-type") : "";
      next = *current;
      try {
        if (type.rfind("application/json-patch+json", 0) == 0) {
          next = current->patch(body);
        } else if (type.rfind("application/strategic-merge-patch+json", 0) == 0) {
          auto merged = StrategicMergePatch(*current, body, kind->kind);
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
    }
    if (sub == "status") {
      // Only status changes through the status subresource.
      json merged = *current;
      merged["status"] = next.value("status", json::object());
      merged["metadata"]["resourceVersion"] = next["metadata"].value("resourceVersion", "");
      if (merged["metadata"]["resourceVersion"] == "") merged["metadata"].erase("resourceVersion");
      next = merged;
    } else if (current->contains("status")) {
      next["status"] = (*current)["status"];  // the main resource ignores status changes
    } else {
      next.erase("status");
    }
    if (sub.empty()) {
      ApplyDefaults(*kind, next, (*current)["metadata"].value("uid", ""));
      std::vector<Cause> causes = Validate(*kind, next);
      for (Cause& c : ValidateUpdate(*kind, *current, next)) causes.push_back(std::move(c));
      if (!causes.empty()) return Json(422, InvalidStatus(*kind, name, causes));
    }
    auto updated = store_.Update(*kind, ns, next);
    if (!updated.ok()) return FromStatus(updated.status(), kind, name);
    return Json(200, **updated);
  }
  if (req.method == "DELETE") {
    auto current = store_.Get(*kind, ns, name);
    if (!current.ok()) return FromStatus(current.status(), kind, name);
    // propagationPolicy from the query or the DeleteOptions body. Without
    // one, Jobs orphan their pods (batch/v1's legacy default); the rest
    // delete dependents in the background.
    std::string policy = t.query["propagationPolicy"];
    json options = json::parse(body_text->empty() ? "{}" : *body_text, nullptr, false);
    if (policy.empty() && options.is_object()) {
      policy = options.value("propagationPolicy", "");
      if (policy.empty() && options.contains("orphanDependents") &&
          options["orphanDependents"].is_boolean()) {
        policy = options["orphanDependents"].get<bool>() ? "Orphan" : "Background";
      }
    }
    if (policy.empty()) policy = kind->kind == "Job" ? "Orphan" : "Background";
    if (policy != "Orphan" && policy != "Background" && policy != "Foreground") {
      return Failure(400, "BadRequest", "unsupported propagationPolicy \"" + policy + "\"");
    }
    std::string uid = (*current)["metadata"].value("uid", "");
    if (policy == "Orphan") ReleaseDependents(uid);
    if (policy == "Foreground") {
      // Marked, not removed: the garbage collector deletes the dependents,
      // then the owner.
      json marked = *current;
      marked["metadata"]["deletionTimestamp"] = K8sTime(clock_.Now());
      json& finalizers = marked["metadata"]["finalizers"];
      if (!finalizers.is_array()) finalizers = json::array();
      finalizers.push_back("foregroundDeletion");
      auto updated = store_.Update(*kind, ns, marked);
      if (!updated.ok()) return FromStatus(updated.status(), kind, name);
      return Json(200, **updated);
    }
    auto deleted = store_.Delete(*kind, ns, name);
    if (!deleted.ok()) return FromStatus(deleted.status(), kind, name);
    return Json(200, **deleted);
  }
  return Failure(405, "MethodNotAllowed",
                 "the server does not allow this method on the requested resource");
}

void FakeCluster::RunFor(Duration d) {
  TimePoint end = clock_.Now() + std::chrono::duration_cast<TimePoint::duration>(d);
  auto* fake = dynamic_cast<FakeClock*>(&clock_);
  while (true) {
    std::optional<TimePoint> due;
    {
      std::lock_guard<std::mutex> l(controllers_mu_);
      controllers_.Settle();
      due = controllers_.NextDue();
    }
    TimePoint now = clock_.Now();
    if (now >= end) return;
    TimePoint next = due && *due < end ? std::max(*due, now) : end;
    if (fake) {
      fake->Advance(next - now);
    } else {
      std::this_thread::sleep_for(std::min<Duration>(next - now, std::chrono::milliseconds(20)));
    }
  }
}

void FakeCluster::StartControllers() {
  if (controller_thread_.joinable()) return;
  stop_controllers_ = false;
  if (!listening_) {
    listening_ = true;
    // wake_mu_ is taken under the store's lock, never around it.
    store_.AddListener([this](const ObjectStore::Change&) { WakeControllers(); });
  }
  controller_thread_ = std::thread([this] {
    // A pass runs when the store changed or a process ended (at once) or
    // something fell due; an idle cluster costs nothing but the 20 ms
    // wake-ups.
    int64_t seen = -1;
    bool woken = false;
    std::optional<TimePoint> due;
    while (!stop_controllers_) {
      if (int64_t rv = store_.resource_version();
          woken || rv != seen || (due && clock_.Now() >= *due)) {
        std::lock_guard<std::mutex> l(controllers_mu_);
        controllers_.Settle();
        due = controllers_.NextDue();
        seen = rv;  // read before the pass: a change during it gets a pass of its own
      }
      std::unique_lock<std::mutex> l(wake_mu_);
      woken = wake_cv_.wait_for(l, std::chrono::milliseconds(20),
                                [this] { return wake_ || stop_controllers_; });
      wake_ = false;
    }
  });
}

void FakeCluster::WakeControllers() {
  std::lock_guard<std::mutex> l(wake_mu_);
  wake_ = true;
  wake_cv_.notify_one();
}

void FakeCluster::SetMissingImages(std::set<std::string> images) {
  std::lock_guard<std::mutex> l(controllers_mu_);
  controllers_.SetMissingImages(std::move(images));
  controllers_.Settle();  // waiting pods look again now
}

void FakeCluster::StopControllers() {
  {
    std::lock_guard<std::mutex> l(wake_mu_);
    stop_controllers_ = true;
  }
  wake_cv_.notify_all();
  if (controller_thread_.joinable()) controller_thread_.join();
}

void FakeCluster::ReleaseDependents(const std::string& owner_uid) {
  const ResourceKind& pods = *FindKind("", "pods");
  auto all = store_.List(pods, "", {});
  if (!all.ok()) return;
  for (json p : all->items) {
    json& refs = p["metadata"]["ownerReferences"];
    if (!refs.is_array()) continue;
    json kept = json::array();
    for (const json& r : refs) {
      if (r.value("uid", "") != owner_uid) kept.push_back(r);
    }
    if (kept.size() == refs.size()) continue;
    if (kept.empty()) {
      p["metadata"].erase("ownerReferences");
    } else {
      refs = kept;
    }
    (void)store_.Update(pods, p["metadata"].value("namespace", ""), p);
  }
}

HttpResponse FakeCluster::Logs(const std::string& ns, const std::string& name, bool follow) {
  const ResourceKind& pods = *FindKind("", "pods");
  auto pod = store_.Get(pods, ns, name);
  if (!pod.ok()) return FromStatus(pod.status(), &pods, name);
  std::string phase = (*pod)["status"].value("phase", "Pending");
  if (phase == "Pending") {
    std::string container = (*pod)["spec"].value("containers", json::array()).empty()
                                ? ""
                                : (*pod)["spec"]["containers"][0].value("name", "");
    return Failure(400, "BadRequest",
                   "container \"" + container + "\" in pod \"" + name +
                       "\" is waiting to start: ContainerCreating");
  }
  std::string uid = (*pod)["metadata"].value("uid", "");
  if (!follow) return {200, "text/plain", controllers_.LogOf(uid), nullptr};
  // Follow: what is there, then more until the pod ends. The output is
  // looked at again after 2 ms, then less often while it is quiet (at most
  // every 50 ms).
  HttpResponse res{200, "text/plain", "", nullptr};
  size_t sent = 0;
  auto pause = std::chrono::milliseconds(2);
  res.stream = [this, ns, name, uid, sent, pause](std::string* chunk) mutable {
    *chunk = controllers_.LogOf(uid, sent);
    sent += chunk->size();
    if (!chunk->empty()) {
      pause = std::chrono::milliseconds(2);
      return true;
    }
    std::shared_ptr<const json> now = store_.Peek(*FindKind("", "pods"), ns, name);
    std::string phase = now ? Str(Sub(*now, "status"), "phase") : "Gone";
    if (phase != "Pending" && phase != "Running") {
      *chunk = controllers_.LogOf(uid, sent);
      return false;
    }
    std::this_thread::sleep_for(pause);
    pause = std::min<std::chrono::milliseconds>(pause * 2, std::chrono::milliseconds(50));
    return true;
  };
  return res;
}

Result<int> FakeCluster::Serve(int port, ServedHook served) {
  if (server_) return server_->port();
  StartControllers();
  ASSIGN_OR_RETURN(
      server_, StartHttpServer(
                   port, [this](const HttpRequest& r) { return Handle(r); }, std::move(served)));
  return server_->port();
}

void FakeCluster::StopServing() {
  store_.StopAllWatches();
  if (server_) server_->Stop();
  server_.reset();
}

std::string FakeCluster::Kubeconfig(const std::string& context) const {
  std::ostringstream out;
  out << "apiVersion: v1\nkind: Config\nclusters:\n- name: " << context
      << "\n  cluster:\n    server: http://127.0.0.1:" << (server_ ? server_->port() : 0)
      << "\nusers:\n- name: " << context << "\n  user: {}\ncontexts:\n- name: " << context
      << "\n  context:\n    cluster: " << context << "\n    user: " << context
      << "\n    namespace: default\ncurrent-context: " << context << "\n";
  return out.str();
}

}  // namespace portflow::fake
