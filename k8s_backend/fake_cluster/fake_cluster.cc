#include "k8s_backend/fake_cluster/fake_cluster.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <iomanip>
#include <random>
#include <set>
#include <sstream>
#include <vector>

#include "core/base64.h"
#include "core/k8s_time.h"
#include "core/quantity.h"
#include "k8s_backend/fake_cluster/apiserver/discovery.h"
#include "k8s_backend/fake_cluster/apiserver/protobuf.h"
#include "k8s_backend/fake_cluster/apiserver/responses.h"
#include "k8s_backend/fake_cluster/controllers/pod_status.h"
#include "k8s_backend/fake_cluster/store/json_fields.h"

namespace portflow::fake {
namespace {

// An API call's kind for the stats: the method and the path, with each
// object's name (and namespace) as "*", and "(watch)" or "(list)" for a
// collection read: "GET /api/v1/namespaces/*/pods/*/log".
std::string CallKind(const HttpRequest& req) {
  std::string_view target = req.target;
  size_t q = target.find('?');
  std::string_view path = target.substr(0, q);
  size_t skip = path.starts_with("/apis/") ? 3 : 2;  // parts before the resource's
  std::string kind;
  kind.reserve(req.method.size() + path.size() + 10);
  kind.append(req.method).append(" ");
  size_t parts = 0;  // after /api/v1 or /apis/GROUP/VERSION
  bool namespaced = false;
  for (size_t start = 1, n = 0; start <= path.size(); ++n) {
    size_t end = std::min(path.find('/', start), path.size());
    std::string_view part = path.substr(start, end - start);
    kind.append("/");
    if (n < skip) {
      kind.append(part);
    } else {
      if (++parts == 1) namespaced = part == "namespaces";
      // Names: a namespace's, then each object's (every other part).
      kind.append(parts % 2 == 0 ? "*" : part);
    }
    start = end + 1;
  }
  if (q != std::string_view::npos && target.find("watch=true", q) != std::string_view::npos)
    return kind + " (watch)";
  bool collection = parts == 1 || (parts == 3 && namespaced);
  if (req.method == "GET" && collection) return kind + " (list)";
  return kind;
}

// How deep a request body may nest. The server's copies, comparisons and
// serialisations of an object recurse, and past some thousands of levels
// they would overflow a thread's stack (a sanitizer build's first). The
// real API server stops at 10,000 (Go's encoding/json); no real object
// comes near either.
constexpr int kMaxBodyDepth = 1000;

// Whether JSON text opens more than `limit` arrays and objects at once
// (strings skipped); the text need not be valid.
bool NestsDeeperThan(std::string_view text, int limit) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // the character escaped
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > limit) return true;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return false;
}

// Where the last `lines` lines of `text` start (a last line without its
// newline counts as one); none for 0.
size_t TailStart(std::string_view text, int64_t lines) {
  if (lines <= 0) return text.size();
  size_t i = text.size();
  if (i > 0 && text[i - 1] == '\n') --i;  // the last line's own newline
  for (int64_t seen = 0; i > 0; --i) {
    if (text[i - 1] == '\n' && ++seen == lines) return i;
  }
  return 0;
}

// The first `left` bytes of `text`, taken from `left`.
std::string Cut(std::string text, int64_t& left) {
  if (static_cast<int64_t>(text.size()) > left) text.resize(static_cast<size_t>(left));
  left -= static_cast<int64_t>(text.size());
  return text;
}

}  // namespace

Result<std::unique_ptr<FakeCluster>> FakeCluster::Create(ClusterOptions options, Clock& clock) {
  if (options.kubelet.execute && options.kubelet.exec_root.empty()) {
    return InvalidArgument("execute mode needs a directory for the pods' files");
  }
  std::unique_ptr<FakeCluster> c(new FakeCluster(std::move(options), clock));
  c->InstallRoutes();
  RETURN_IF_ERROR(c->Bootstrap());
  ASSIGN_OR_RETURN(c->certificate_, NewServingCertificate());
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
  for (int i = 1; i <= options_.nodes; ++i) {
    RETURN_IF_ERROR(AddNode({"node-" + std::to_string(i),
                             options_.cpu,
                             options_.memory,
                             options_.gpus,
                             {{"node.kubernetes.io/instance-type", "portflow-fake"}}}));
  }
  return OkStatus();
}

Status FakeCluster::AddNode(const NodeSpec& spec) {
  ASSIGN_OR_RETURN(int64_t milli_cpu, ParseMilliQuantity(spec.cpu));
  ASSIGN_OR_RETURN(int64_t memory, ParseQuantity(spec.memory));
  (void)milli_cpu;
  (void)memory;
  const std::string& name = spec.name;
  json capacity = {
      {"cpu", spec.cpu}, {"memory", spec.memory}, {"pods", "110"}, {"ephemeral-storage", "100Gi"}};
  if (spec.gpus > 0) capacity["nvidia.com/gpu"] = std::to_string(spec.gpus);
  json labels = {{"kubernetes.io/hostname", name},
                 {"kubernetes.io/os", "linux"},
                 {"kubernetes.io/arch", "amd64"},
                 {"beta.kubernetes.io/os", "linux"},
                 {"beta.kubernetes.io/arch", "amd64"}};
  for (const auto& [k, v] : spec.labels) labels[k] = v;
  std::string now = K8sTime(clock_.Now());
  json node_spec = json::object();
  if (!spec.provider_id.empty()) node_spec["providerID"] = spec.provider_id;
  json node = {{"metadata", {{"name", name}, {"labels", labels}}},
               {"spec", node_spec},
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
                  {{"kubeletVersion", kServerVersion},
                   {"kubeProxyVersion", kServerVersion},
                   {"operatingSystem", "linux"},
                   {"architecture", "amd64"},
                   {"containerRuntimeVersion", "portflow://fake"},
                   {"osImage", "portflow fake node"},
                   {"kernelVersion", "fake"},
                   {"machineID", name},
                   {"systemUUID", name},
                   {"bootID", name}}}}}};
  return store_.Create(*FindKind("", "nodes"), "", node).status();
}

Status FakeCluster::TaintNode(const std::string& name, const json& taint) {
  const ResourceKind& nodes = *FindKind("", "nodes");
  ASSIGN_OR_RETURN(json node, store_.Get(nodes, "", name));
  json& taints = node["spec"]["taints"];
  if (!taints.is_array()) taints = json::array();
  for (const json& t : taints) {
    if (Str(t, "key") == Str(taint, "key")) return OkStatus();
  }
  taints.push_back(taint);
  return store_.Update(nodes, "", node).status();
}

Status FakeCluster::RemoveNode(const std::string& name) {
  RETURN_IF_ERROR(LoseNode(name));
  return store_.Delete(*FindKind("", "nodes"), "", name).status();
}

FaultReactor& FakeCluster::Faults() {
  std::lock_guard<std::mutex> l(faults_mu_);
  if (!faults_) {
    faults_ = std::make_shared<FaultReactor>();
    reactors_.Prepend("*", "*",
                      [faults = faults_](const RequestInfo& info, const HttpRequest& req) {
                        return faults->React(info, req);
                      });
  }
  return *faults_;
}

void FakeCluster::FailNextCalls(int count, int code) { Faults().FailNext(count, code); }

void FakeCluster::FailCallsAtRate(double rate, int code) { Faults().FailAtRate(rate, code); }

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

std::map<std::string, int64_t> FakeCluster::api_calls_by_kind() const {
  std::lock_guard<std::mutex> l(calls_mu_);
  return calls_by_kind_;
}

HttpResponse FakeCluster::Handle(const HttpRequest& req) {
  if (req.target == "/portflow/stats") {
    // For benchmarks: API requests answered so far (not these).
    return Json(200, {{"apiCalls", api_calls_.load()}, {"byKind", api_calls_by_kind()}});
  }
  // The API server reads at most 3 MiB of a request's body.
  constexpr size_t kMaxBodyBytes = 3 << 20;
  if (req.body.size() > kMaxBodyBytes) {
    return Failure(413, "RequestEntityTooLarge",
                   "Request entity too large: limit is " + std::to_string(kMaxBodyBytes));
  }
  auto ct = req.headers.find("content-type");
  bool protobuf = ct != req.headers.end() && ct->second.rfind(kProtobufType, 0) == 0;
  if (!protobuf && NestsDeeperThan(req.body, kMaxBodyDepth)) {
    return Failure(400, "BadRequest",
                   "the request body nests arrays and objects deeper than " +
                       std::to_string(kMaxBodyDepth) + " levels (exceeded max depth)");
  }
  if (req.target == "/portflow/faults") {
    if (req.method != "POST") return Failure(405, "MethodNotAllowed", "POST the faults");
    return InjectFaults(req.body);
  }
  if (req.target.rfind("/api/", 0) == 0 || req.target.rfind("/apis/", 0) == 0) {
    ++api_calls_;
    std::string kind = CallKind(req);  // made before the lock the server's loops share
    {
      std::lock_guard<std::mutex> l(calls_mu_);
      ++calls_by_kind_[kind];
    }
    if (auto answer = reactors_.Answer(req)) return *std::move(answer);
  }
  if (ct != req.headers.end() && !req.body.empty() &&
      ct->second.find("json") == std::string::npos &&
      ct->second.find("yaml") == std::string::npos && !protobuf) {
    return Failure(
        415, "UnsupportedMediaType",
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json, application/merge-patch+json, application/json-patch+json, "
        "application/strategic-merge-patch+json, application/vnd.kubernetes.protobuf");
  }
  return router_.Route(req);
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

HttpResponse FakeCluster::Logs(const std::string& ns, const std::string& name, const json& pod,
                               const LogOptions& options) {
  std::string phase = Sub(pod, "status").value("phase", "Pending");
  if (phase == "Pending") {  // GetLog has named the container
    return Failure(400, "BadRequest",
                   "container \"" + options.container + "\" in pod \"" + name +
                       "\" is waiting to start: ContainerCreating");
  }
  std::string uid = options.empty ? "" : Str(Sub(pod, "metadata"), "uid");
  // The log from where its last tail_lines lines start (all of it without
  // a tail), at most limit_bytes of it in all. Read here once where the
  // answer or the tail needs it; a follow reads the rest as it goes.
  std::string log;
  if (!options.follow || options.tail_lines) log = controllers_.LogOf(uid);
  size_t from = options.tail_lines ? TailStart(log, *options.tail_lines) : 0;
  int64_t left = options.limit_bytes.value_or(INT64_MAX);
  if (!options.follow) return {200, "text/plain", Cut(log.substr(from), left), nullptr};
  // Follow: what is there, then more until the pod ends (or the limit is
  // reached). The output is looked at again after 2 ms, then less often
  // while it is quiet (at most every 50 ms).
  HttpResponse res{200, "text/plain", "", nullptr};
  size_t sent = from;
  auto pause = std::chrono::milliseconds(2);
  res.stream = [this, ns, name, uid, sent, pause, left](std::string* chunk) mutable {
    std::string more = controllers_.LogOf(uid, sent);
    sent += more.size();
    *chunk = Cut(std::move(more), left);
    if (left == 0) return false;
    if (!chunk->empty()) {
      pause = std::chrono::milliseconds(2);
      return true;
    }
    std::shared_ptr<const json> now = store_.Peek(*FindKind("", "pods"), ns, name);
    std::string phase = now ? Str(Field(*now, "status"), "phase") : "Gone";
    if (phase != "Pending" && phase != "Running") {
      *chunk = Cut(controllers_.LogOf(uid, sent), left);
      return false;
    }
    std::this_thread::sleep_for(pause);
    pause = std::min<std::chrono::milliseconds>(pause * 2, std::chrono::milliseconds(50));
    return true;
  };
  return res;
}

std::string FakeCluster::NewToken() {
  std::random_device random;  // the system's source (getrandom)
  std::ostringstream token;
  token << std::hex << std::setfill('0');
  for (int i = 0; i < 8; ++i) token << std::setw(8) << random();
  return token.str();
}

HttpResponse FakeCluster::Authenticated(const HttpRequest& req) {
  auto given = req.headers.find("authorization");
  // Compared in time that does not depend on where they differ.
  bool ok = given != req.headers.end() && given->second.size() == bearer_.size();
  if (!ok || CRYPTO_memcmp(given->second.data(), bearer_.data(), bearer_.size()) != 0)
    return Failure(401, "Unauthorized", "Unauthorized");
  return Handle(req);
}

Result<int> FakeCluster::Serve(int port, ServedHook served) {
  if (server_) return server_->port();
  StartControllers();
  ASSIGN_OR_RETURN(
      server_, StartHttpServer(
                   port, certificate_, [this](const HttpRequest& r) { return Authenticated(r); },
                   std::move(served)));
  return server_->port();
}

void FakeCluster::StopServing() {
  store_.StopAllWatches();
  if (server_) server_->Stop();
  server_.reset();
}

std::string FakeCluster::url() const {
  return "https://127.0.0.1:" + std::to_string(server_ ? server_->port() : 0);
}

std::string FakeCluster::Kubeconfig(const std::string& context) const {
  std::ostringstream out;
  out << "apiVersion: v1\nkind: Config\nclusters:\n- name: " << context
      << "\n  cluster:\n    server: " << url()
      << "\n    certificate-authority-data: " << Base64Encode(certificate_.ca_pem)
      << "\nusers:\n- name: " << context << "\n  user:\n    token: \"" << token_ << "\""
      << "\ncontexts:\n- name: " << context << "\n  context:\n    cluster: " << context
      << "\n    user: " << context << "\n    namespace: default\ncurrent-context: " << context
      << "\n";
  return out.str();
}

}  // namespace portflow::fake
