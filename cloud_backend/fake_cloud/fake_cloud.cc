#include "cloud_backend/fake_cloud/fake_cloud.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "cloud_backend/fake_cloud/ec2_api.h"
#include "cloud_backend/fake_cloud/sigv4.h"
#include "core/base64.h"
#include "core/encoding.h"
#include "core/json_fields.h"

namespace portflow::fake_cloud {
namespace {

using json = nlohmann::json;

std::string RandomText(size_t n, const std::string& alphabet) {
  std::string out;
  unsigned char byte = 0;
  while (out.size() < n) {
    if (RAND_bytes(&byte, 1) != 1) continue;
    if (byte < 256 - 256 % alphabet.size()) out += alphabet[byte % alphabet.size()];
  }
  return out;
}

// SQS answers the MD5 of each message body, and botocore checks it.
std::string Md5Hex(const std::string& data) {
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), d, &n, EVP_md5(), nullptr);
  return HexEncode(std::string_view(reinterpret_cast<const char*>(d), n));
}

double Epoch(TimePoint t) { return std::chrono::duration<double>(t.time_since_epoch()).count(); }

// An error as AWS's JSON services answer it: the code in x-amzn-ErrorType
// and in the body's __type (REST-JSON clients read the one, JSON-protocol
// clients the other).
// SQS also names the error as its older query protocol did (`query_code`,
// the code itself when empty), which botocore reports in its place.
fake::HttpResponse Error(int status, const std::string& code, const std::string& message,
                         const std::string& prefix = "", std::string query_code = "") {
  fake::HttpResponse r{status, "application/x-amz-json-1.0",
                       json{{"__type", prefix + code}, {"message", message}}.dump(), nullptr};
  r.headers["x-amzn-ErrorType"] = code;
  if (!prefix.empty()) {
    if (query_code.empty())
      query_code = code == "QueueDoesNotExist" ? "AWS.SimpleQueueService.NonExistentQueue" : code;
    r.headers["x-amzn-query-error"] = query_code + (status >= 500 ? ";Receiver" : ";Sender");
  }
  return r;
}

// REST-JSON (EKS) answers application/json; the JSON protocol (SQS) its own.
fake::HttpResponse Ok(const json& body, const char* type = "application/json") {
  return {200, type, body.dump(), nullptr};
}

std::vector<std::string> Segments(const std::string& path) {
  std::vector<std::string> out;
  std::stringstream in(path);
  for (std::string s; std::getline(in, s, '/');)
    if (!s.empty()) out.push_back(s);
  return out;
}

std::string QueryValue(const std::string& query, const std::string& key) {
  std::stringstream in(query);
  for (std::string part; std::getline(in, part, '&');) {
    if (part.rfind(key + "=", 0) == 0) return part.substr(key.size() + 1);
  }
  return "";
}

// The pods of `cluster` that have not ended on `node`, filtered by the API
// server's field selectors.
json RunningPodsOn(fake::FakeCluster& cluster, const std::string& node) {
  std::string selector = PercentEncode(
      "spec.nodeName=" + node + ",status.phase!=Succeeded,status.phase!=Failed", true);
  fake::HttpResponse r = cluster.Handle({"GET", "/api/v1/pods?fieldSelector=" + selector, {}, ""});
  json list = json::parse(r.body, nullptr, false);
  return list.is_object() && list.contains("items") ? list["items"] : json::array();
}

std::vector<GroupConfig> DefaultGroups() {
  return {{"cpu-spot", "SPOT", {"c5.large", "m5.large"}, {}, 0, 10, 0},
          {"cpu-ondemand", "ON_DEMAND", {"m5.large"}, {}, 0, 10, 0},
          {"gpu-ondemand", "ON_DEMAND", {"g5.xlarge"}, {}, 0, 4, 0},
          {"gpu-spot", "SPOT", {"g5.xlarge"}, {}, 0, 4, 0}};
}

}  // namespace

FakeCloud::FakeCloud(FakeCloudOptions options)
    : options_(std::move(options)),
      clock_(options_.clock ? *options_.clock : RealClock()),
      sqs_(clock_),
      s3_(clock_, options_.region, options_.s3_dir) {}

FakeCloud::~FakeCloud() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;  // a long poll in flight answers now
  }
  tick_cv_.notify_all();
  if (ticker_.joinable()) ticker_.join();
  if (server_) server_->Stop();
  cluster_.reset();  // before the instances whose Nodes it holds
}

Result<std::unique_ptr<FakeCloud>> FakeCloud::Make(FakeCloudOptions options) {
  if (options.groups.empty()) options.groups = DefaultGroups();
  if (options.access_key_id.empty())
    options.access_key_id = "AKIA" + RandomText(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567");
  if (options.secret_access_key.empty())
    options.secret_access_key =
        RandomText(40, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
  std::unique_ptr<FakeCloud> cloud(new FakeCloud(std::move(options)));
  const FakeCloudOptions& o = cloud->options_;
  Ec2Options ec2{o.region, o.provisioning, o.spot_notice, &cloud->catalog()};
  ec2.spot_interruptions_per_hour = o.spot_interruptions_per_hour;
  ec2.seed = o.seed;
  ec2.first_instance = o.first_instance;
  cloud->ec2_ =
      std::make_unique<FakeEc2>(cloud->clock_, ec2, static_cast<NodeEvents*>(cloud.get()));
  for (const GroupConfig& g : o.groups) RETURN_IF_ERROR(cloud->ec2_->AddGroup(g));
  RETURN_IF_ERROR(cloud->s3_.Load());
  cloud->sqs_.CreateQueue(o.queue);
  fake::ClusterOptions cluster;
  cluster.nodes = 0;  // Nodes come with instances
  cluster.kubelet = o.kubelet;
  ASSIGN_OR_RETURN(cloud->cluster_, fake::FakeCluster::Create(cluster, cloud->clock_));
  if (o.autoscaler)
    cloud->autoscaler_ = std::make_unique<FakeAutoscaler>(
        *cloud->ec2_, *cloud->cluster_, cloud->catalog(), o.region, *o.autoscaler);
  return cloud;
}

Status FakeCloud::Serve(int port) {
  ASSIGN_OR_RETURN(server_, fake::StartPlainHttpServer(
                                port, [this](const fake::HttpRequest& r) { return Handle(r); }));
  RETURN_IF_ERROR(cluster_->Serve(0).status());
  ticker_ = std::thread([this] {
    std::unique_lock<std::mutex> l(mu_);
    while (!stopping_) {
      ec2_->Sync();
      if (autoscaler_) autoscaler_->Step(clock_.Now());
      tick_cv_.wait_for(l, std::chrono::milliseconds(50));
    }
  });
  return OkStatus();
}

std::string FakeCloud::Kubeconfig() const { return cluster_->Kubeconfig(options_.cluster); }

void FakeCloud::RunFor(Duration d) {
  TimePoint end = clock_.Now() + d;
  while (true) {
    std::optional<TimePoint> due;
    {
      std::lock_guard<std::mutex> l(mu_);
      due = ec2_->Sync();
      if (autoscaler_) {
        TimePoint scan = autoscaler_->Step(clock_.Now());
        due = ec2_->Sync();  // what it asked for launches now
        if (!due || scan < *due) due = scan;
      }
    }
    TimePoint now = clock_.Now();
    if (now >= end) return;
    TimePoint next = due && *due < end ? std::max(*due, now) : end;
    cluster_->RunFor(std::max<Duration>(next - now, std::chrono::milliseconds(1)));
  }
}

void FakeCloud::Joined(const Instance& instance) {
  auto row = catalog().Find(instance.type, options_.region, instance.zone);
  auto number = [](double v, double scale, const char* unit) {
    return std::to_string(std::llround(v * scale)) + unit;
  };
  fake::NodeSpec node;
  node.name = instance.id;
  if (row) {
    node.cpu = row->vcpus == std::floor(row->vcpus) ? number(row->vcpus, 1, "")
                                                    : number(row->vcpus, 1000, "m");
    node.memory = number(row->memory_gib, 1024, "Mi");
    node.gpus = row->accelerator.empty() ? 0 : row->accelerators;
  }
  node.labels = {{"eks.amazonaws.com/nodegroup", instance.group},
                 {"eks.amazonaws.com/capacityType", instance.capacity_type},
                 {"node.kubernetes.io/instance-type", instance.type},
                 {"topology.kubernetes.io/region", options_.region},
                 {"topology.kubernetes.io/zone", instance.zone}};
  node.provider_id = "aws:///" + instance.zone + "/" + instance.id;
  (void)cluster_->AddNode(node);  // ids are never reused
}

void FakeCloud::Left(const Instance& instance) {
  (void)cluster_->RemoveNode(instance.id);  // NotFound when it never joined
}

// As EKS drains a node its group lets go: cordoned, then each pod running
// on it evicted (deleted with its grace period; a Job makes its replacement
// elsewhere). Drained when none is left running there.
void FakeCloud::Drain(const Instance& instance) {
  (void)cluster_->Handle({"PATCH",
                          "/api/v1/nodes/" + instance.id,
                          {{"content-type", "application/merge-patch+json"}},
                          R"({"spec":{"unschedulable":true}})"});
  for (const json& p : RunningPodsOn(*cluster_, instance.id)) {
    const json& meta = Field(p, "metadata");
    (void)cluster_->Handle(
        {"DELETE",
         "/api/v1/namespaces/" + Str(meta, "namespace") + "/pods/" + Str(meta, "name"),
         {},
         ""});
  }
}

bool FakeCloud::Drained(const Instance& instance) {
  return RunningPodsOn(*cluster_, instance.id).empty();
}

std::string FakeCloud::url() const {
  return server_ ? "http://127.0.0.1:" + std::to_string(server_->port()) : "";
}

void FakeCloud::Warned(const Instance& instance) {
  (void)sqs_.Send(options_.queue, SpotInterruptionWarning(instance, clock_.Now(), options_.account,
                                                          options_.region));
  // As aws-node-termination-handler taints a node whose instance is warned.
  (void)cluster_->TaintNode(instance.id, {{"key", "aws-node-termination-handler/spot-itn"},
                                          {"value", "true"},
                                          {"effect", "NoSchedule"}});
}

Result<std::string> FakeCloud::InjectFaults(const std::string& body) {
  json in = json::parse(body, nullptr, false);
  if (!in.is_object()) return InvalidArgument("faults must be a JSON object");
  static const std::set<std::string> known = {"interruptSpot", "stockout", "vcpuQuota",
                                              "apiErrors"};
  for (const auto& [key, value] : in.items()) {
    if (!known.count(key))
      return InvalidArgument("unknown fault \"" + key +
                             "\" (known: interruptSpot, stockout, vcpuQuota, apiErrors)");
  }
  std::lock_guard<std::mutex> l(mu_);
  FakeEc2::HeldAt held(*ec2_, clock_.Now());  // a warning and its replacement at one instant
  json done = json::object();
  if (in.contains("interruptSpot")) {
    const json& f = in["interruptSpot"];
    std::string group = Str(f, "nodeGroup");
    if (!ec2_->Group(group).ok()) return NotFound("no node group \"" + group + "\"");
    int count = Field(f, "count").is_number_integer() ? Field(f, "count").get<int>() : 1;
    done["interrupted"] = ec2_->InterruptSpot(group, count);
  }
  if (in.contains("stockout")) {
    const json& f = in["stockout"];
    std::string type = Str(f, "instanceType"), zone = Str(f, "zone");
    if (!catalog().Find(type, options_.region))
      return InvalidArgument("stockout: no instance type \"" + type + "\" in " + options_.region);
    std::vector<std::string> zones = {zone};
    if (zone.empty()) zones = catalog().Zones(type, options_.region);
    for (const std::string& z : zones) ec2_->SetStockout(type, z, Field(f, "clear") != json(true));
    done["stockout"] = zones;
  }
  if (in.contains("vcpuQuota")) {
    const json& q = in["vcpuQuota"];
    if (!q.is_null() && !q.is_number())
      return InvalidArgument("vcpuQuota must be a number or null");
    ec2_->SetVcpuQuota(q.is_null() ? std::nullopt : std::optional<double>(q.get<double>()));
    done["vcpuQuota"] = q;
  }
  if (in.contains("apiErrors")) {
    const json& f = in["apiErrors"];
    api_errors_ = Field(f, "count").is_number_integer() ? Field(f, "count").get<int>() : 1;
    api_error_code_ = Str(f, "code").empty() ? "ThrottlingException" : Str(f, "code");
    done["apiErrors"] = api_errors_;
  }
  ec2_->Sync();
  return done.dump();
}

std::string FakeCloud::Bill() {
  std::lock_guard<std::mutex> l(mu_);
  ec2_->Sync();
  TimePoint now = clock_.Now();
  json instances = json::array();
  for (const Instance& i : ec2_->Instances()) {
    instances.push_back({{"id", i.id},
                         {"nodeGroup", i.group},
                         {"type", i.type},
                         {"zone", i.zone},
                         {"capacityType", i.capacity_type},
                         {"hourlyPrice", i.hourly_price},
                         {"launch", Epoch(i.launched)},
                         {"end", i.ended ? json(Epoch(*i.ended)) : json(nullptr)},
                         {"cost", i.Cost(now)}});
  }
  return json{{"instances", instances}, {"cost", ec2_->Cost(now)}}.dump();
}

fake::HttpResponse FakeCloud::Handle(const fake::HttpRequest& request) {
  std::string path = request.target.substr(0, request.target.find('?'));
  size_t q = request.target.find('?');
  std::string query = q == std::string::npos ? "" : request.target.substr(q + 1);
  SignedRequest signed_request{request.method, path, query, request.headers, request.body};
  auto verdict = VerifySigV4(
      signed_request,
      [this](const std::string& key) -> std::optional<std::string> {
        if (key == options_.access_key_id) return options_.secret_access_key;
        return std::nullopt;
      },
      RealClock().Now());  // clients sign with the wall clock, in virtual time too
  if (auto* refused = std::get_if<SignatureError>(&verdict))
    return Refused(request, path, *refused);
  const SignatureScope& scope = std::get<SignatureScope>(verdict);
  if (scope.region != options_.region)
    return Refused(request, path,
                   {"WrongRegion",
                    "Credential should be scoped to a valid region, not '" + scope.region +
                        "'; expecting '" + options_.region + "'.",
                    scope.service});
  if (scope.service == "portflow") return Portflow(request, path);
  if (scope.service == "s3") {
    ++s3_calls_;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (std::optional<bool> throttled = TakeApiError())  // S3's name: SlowDown
        return s3_.Error(*throttled ? 503 : 500, *throttled ? "SlowDown" : api_error_code_,
                         "injected by /portflow/faults", request.method);
    }
    return s3_.Handle(request, path, query);
  }
  ++aws_calls_;
  std::unique_lock<std::mutex> lock(mu_);
  FakeEc2::HeldAt held(*ec2_, clock_.Now());  // until the answer
  ec2_->Sync();                               // what fell due since the last request
  if (std::optional<bool> throttled = TakeApiError()) {
    if (scope.service == "ec2")
      return Ec2Error(*throttled ? 503 : 500, *throttled ? "RequestLimitExceeded" : api_error_code_,
                      "injected by /portflow/faults");
    return Error(*throttled ? 429 : 500, api_error_code_, "injected by /portflow/faults",
                 scope.service == "sqs" ? "com.amazonaws.sqs#" : "");
  }
  fake::HttpResponse response;
  if (scope.service == "ec2") {
    std::vector<std::string> zones;  // the subnets' zones: those of every group
    for (const std::string& name : ec2_->GroupNames()) {
      GroupConfig g = *ec2_->Group(name);
      for (const std::string& z : g.zones)
        if (std::find(zones.begin(), zones.end(), z) == zones.end()) zones.push_back(z);
    }
    response = Ec2Api(request.method == "POST" ? request.body : query, zones, options_.region,
                      options_.account);
  } else if (scope.service == "eks") {
    response = Eks(request, path, query);
  } else if (scope.service == "sqs") {
    ec2_->Hold(std::nullopt);  // a long poll lets go of the lock
    response = Sqs(request, lock);
  } else {
    response =
        Error(400, "UnknownOperationException", "the fake cloud does not serve " + scope.service);
  }
  ec2_->Sync();  // a resize launches at once
  return response;
}

std::optional<bool> FakeCloud::TakeApiError() {
  if (api_errors_ <= 0) return std::nullopt;
  --api_errors_;
  return api_error_code_.find("Throttl") != std::string::npos;
}

fake::HttpResponse FakeCloud::Refused(const fake::HttpRequest& request, const std::string& path,
                                      const SignatureError& refused) {
  std::string service = refused.service;
  if (service.empty())  // no credential to read it from: what the request looks like
    service = request.headers.count("x-amz-target")                                ? "sqs"
              : path.rfind("/clusters", 0) == 0 || path.rfind("/portflow", 0) == 0 ? "eks"
              : request.body.rfind("Action=", 0) == 0                              ? "ec2"
                                                                                   : "s3";
  const std::string& code = refused.code;
  if (service == "ec2") {  // EC2's names, in its XML
    bool auth = code == "InvalidClientTokenId" || code == "MissingAuthenticationToken";
    return Ec2Error(auth                                                     ? 401
                    : code == "IncompleteSignature" || code == "WrongRegion" ? 400
                                                                             : 403,
                    auth ? "AuthFailure" : code, refused.message);
  }
  int status = code == "IncompleteSignature" || code == "XAmzContentSHA256Mismatch" ? 400 : 403;
  if (service == "s3") {  // REST-XML, with S3's own names
    std::string s3_code = code == "MissingAuthenticationToken" ? "AccessDenied"
                          : code == "InvalidClientTokenId"     ? "InvalidAccessKeyId"
                          : code == "IncompleteSignature" || code == "WrongRegion"
                              ? "AuthorizationHeaderMalformed"
                              : code;
    std::string message = code == "InvalidClientTokenId"
                              ? "The AWS Access Key Id you provided does not exist in our records."
                              : refused.message;
    return s3_.Error(code == "WrongRegion" ? 400 : status, s3_code, message, request.method);
  }
  // The JSON services' names (EKS, SQS, the fake cloud's own endpoints);
  // SQS adds the query protocol's (SignatureDoesNotMatch, InvalidClientTokenId).
  std::string json_code =
      code == "SignatureDoesNotMatch" || code == "WrongRegion" ? "InvalidSignatureException"
      : code == "InvalidClientTokenId"                         ? "UnrecognizedClientException"
      : code == "MissingAuthenticationToken" ? "MissingAuthenticationTokenException"
      : code == "IncompleteSignature"        ? "IncompleteSignatureException"
                                             : code;
  if (service == "sqs")
    return Error(status, json_code, refused.message, "com.amazon.coral.service#",
                 code == "WrongRegion" ? "SignatureDoesNotMatch" : code);
  return Error(status, json_code, refused.message);
}

fake::HttpResponse FakeCloud::Portflow(const fake::HttpRequest& request, const std::string& path) {
  if (path == "/portflow/bill" && request.method == "GET") return Ok(json::parse(Bill()));
  if (path == "/portflow/stats" && request.method == "GET")
    return Ok({{"awsCalls", aws_calls_.load()}, {"s3Calls", s3_calls_.load()}});
  if (path == "/portflow/faults" && request.method == "POST") {
    auto done = InjectFaults(request.body);
    if (!done.ok())
      return Error(done.status().code() == StatusCode::kNotFound ? 404 : 400,
                   "InvalidParameterException", done.status().message());
    return Ok(json::parse(*done));
  }
  return Error(404, "ResourceNotFoundException",
               "the fake cloud serves GET /portflow/bill, GET /portflow/stats and POST "
               "/portflow/faults, not " +
                   request.method + " " + path);
}

fake::HttpResponse FakeCloud::Eks(const fake::HttpRequest& request, const std::string& path,
                                  const std::string& query) {
  std::vector<std::string> s = Segments(path);
  const FakeCloudOptions& o = options_;
  auto group_json = [&](const std::string& name) {
    GroupConfig g = *ec2_->Group(name);
    json subnets = json::array();
    for (const std::string& zone : g.zones) subnets.push_back(SubnetOf(zone));
    json issues = json::array();
    if (auto [code, message] = ec2_->Health(name); !code.empty())
      issues.push_back({{"code", "AsgInstanceLaunchFailures"},
                        {"message", code + ": " + message},
                        {"resourceIds", json::array({"eks-" + name})}});
    // UPDATING while an update runs, DEGRADED while it cannot launch.
    std::string status = ec2_->Updating(name) ? "UPDATING" : issues.empty() ? "ACTIVE" : "DEGRADED";
    auto gpu = catalog().Find(g.instance_types[0], o.region);
    const double created = 1764547200;  // 2025-12-01: a fixed time, as a group has one
    return json{
        {"nodegroupName", name},
        {"nodegroupArn",
         "arn:aws:eks:" + o.region + ":" + o.account + ":nodegroup/" + o.cluster + "/" + name},
        {"clusterName", o.cluster},
        {"version", "1.32"},
        {"releaseVersion", "1.32.0-20261201"},
        {"createdAt", created},
        {"modifiedAt", created},
        {"status", status},
        {"capacityType", g.capacity_type},
        {"instanceTypes", g.instance_types},
        {"amiType",
         gpu && gpu->accelerators > 0 ? "AL2023_x86_64_NVIDIA" : "AL2023_x86_64_STANDARD"},
        {"nodeRole", "arn:aws:iam::" + o.account + ":role/eks-node"},
        {"diskSize", 20},
        {"subnets", subnets},
        {"scalingConfig",
         {{"minSize", g.min_size}, {"maxSize", g.max_size}, {"desiredSize", g.desired_size}}},
        {"updateConfig", {{"maxUnavailable", 1}}},
        {"resources", {{"autoScalingGroups", json::array({{{"name", "eks-" + name}}})}}},
        {"labels", json::object()},
        {"tags", json::object()},
        {"health", {{"issues", issues}}}};
  };
  auto update_json = [&](const GroupUpdate& u) {
    json errors = json::array();
    if (!u.error_code.empty())
      errors.push_back({{"errorCode", u.error_code},
                        {"errorMessage", u.error_message},
                        {"resourceIds", json::array({u.group})}});
    return json{{"update",
                 {{"id", u.id},
                  {"status", u.status},
                  {"type", "ConfigUpdate"},
                  {"params", {{{"type", "DesiredSize"}, {"value", std::to_string(u.desired)}}}},
                  {"createdAt", Epoch(u.created)},
                  {"errors", errors}}}};
  };
  auto not_found = [](const std::string& what) {
    return Error(404, "ResourceNotFoundException", what);
  };
  if (s.empty() || s[0] != "clusters") return not_found("No such EKS path: " + path);
  if (s.size() == 1 && request.method == "GET") return Ok({{"clusters", json::array({o.cluster})}});
  if (s.size() < 2) return not_found("No such EKS path: " + request.method + " " + path);
  if (s[1] != o.cluster) return not_found("No cluster found for name: " + s[1] + ".");
  if (s.size() == 2 && request.method == "GET") {
    return Ok({{"cluster",
                {{"name", o.cluster},
                 {"arn", "arn:aws:eks:" + o.region + ":" + o.account + ":cluster/" + o.cluster},
                 {"status", "ACTIVE"},
                 {"version", "1.32"},
                 {"endpoint", cluster_->url()},
                 {"certificateAuthority", {{"data", Base64Encode(cluster_->ca_pem())}}}}}});
  }
  if (s.size() == 3 && s[2] == "node-groups" && request.method == "GET")
    return Ok({{"nodegroups", ec2_->GroupNames()}});
  if (s.size() >= 4 && s[2] == "node-groups") {
    if (!ec2_->Group(s[3]).ok()) return not_found("No node group found for name: " + s[3] + ".");
    if (s.size() == 4 && request.method == "GET") return Ok({{"nodegroup", group_json(s[3])}});
    if (s.size() == 5 && s[4] == "update-config" && request.method == "POST") {
      json body = json::parse(request.body, nullptr, false);
      const json& sizes = Sub(body, "scalingConfig");
      GroupConfig g = *ec2_->Group(s[3]);
      auto size = [&](const char* key, int fallback) {
        const json& v = Field(sizes, key);
        return v.is_number_integer() ? v.get<int>() : fallback;
      };
      auto update = ec2_->Resize(s[3], size("desiredSize", g.desired_size),
                                 size("minSize", g.min_size), size("maxSize", g.max_size));
      if (!update.ok() && update.status().code() == StatusCode::kFailedPrecondition)
        return Error(409, "ResourceInUseException", update.status().message());
      if (!update.ok()) return Error(400, "InvalidParameterException", update.status().message());
      return Ok(update_json(*update));
    }
  }
  if (s.size() == 4 && s[2] == "updates" && request.method == "GET") {
    auto update = ec2_->Update(s[3]);
    if (!update.ok() || update->group != QueryValue(query, "nodegroupName"))
      return not_found("No update found for ID: " + s[3] + ".");
    return Ok(update_json(*update));
  }
  return not_found("No such EKS path: " + request.method + " " + path);
}

fake::HttpResponse FakeCloud::Sqs(const fake::HttpRequest& request,
                                  std::unique_lock<std::mutex>& lock) {
  const std::string prefix = "com.amazonaws.sqs#";
  const char* kJson10 = "application/x-amz-json-1.0";
  auto target = request.headers.find("x-amz-target");
  std::string action = target == request.headers.end() ? "" : target->second;
  if (action.rfind("AmazonSQS.", 0) != 0)
    return Error(400, "UnknownOperationException", "no X-Amz-Target", prefix);
  action = action.substr(10);
  json in = json::parse(request.body, nullptr, false);
  std::string queue_url = Str(in, "QueueUrl");
  std::string queue = queue_url.substr(queue_url.rfind('/') + 1);
  auto failed = [&](const Status& st) {
    std::string code = st.message().substr(0, st.message().find(':'));
    return Error(400, code, st.message().substr(st.message().find(':') + 2), prefix);
  };
  if (action == "GetQueueUrl") {
    std::string name = Str(in, "QueueName");
    if (!sqs_.HasQueue(name))
      return Error(400, "QueueDoesNotExist", "The specified queue does not exist.", prefix);
    return Ok({{"QueueUrl", url() + "/" + options_.account + "/" + name}}, kJson10);
  }
  if (action == "SendMessage") {
    std::string body = Str(in, "MessageBody");
    auto id = sqs_.Send(queue, body);
    if (!id.ok()) return failed(id.status());
    return Ok({{"MessageId", *id}, {"MD5OfMessageBody", Md5Hex(body)}}, kJson10);
  }
  if (action == "ReceiveMessage") {
    int max = Field(in, "MaxNumberOfMessages").is_number_integer()
                  ? Field(in, "MaxNumberOfMessages").get<int>()
                  : 1;
    int wait = Field(in, "WaitTimeSeconds").is_number_integer()
                   ? Field(in, "WaitTimeSeconds").get<int>()
                   : 0;
    int visibility = Field(in, "VisibilityTimeout").is_number_integer()
                         ? Field(in, "VisibilityTimeout").get<int>()
                         : 30;
    if (max < 1 || max > 10 || wait < 0 || wait > 20)
      return Error(400, "InvalidParameterValue",
                   "MaxNumberOfMessages must be 1 to 10 and WaitTimeSeconds 0 to 20", prefix);
    TimePoint deadline = clock_.Now() + std::chrono::seconds(wait);
    while (true) {
      auto got = sqs_.Receive(queue, max, std::chrono::seconds(visibility));
      if (!got.ok()) return failed(got.status());
      if (!got->empty() || clock_.Now() >= deadline || options_.clock || stopping_) {
        json messages = json::array();
        for (const SqsMessage& m : *got)
          messages.push_back({{"MessageId", m.id},
                              {"ReceiptHandle", m.receipt_handle},
                              {"MD5OfBody", Md5Hex(m.body)},
                              {"Body", m.body}});
        return Ok(messages.empty() ? json::object() : json{{"Messages", messages}}, kJson10);
      }
      // A long poll in real time: let other requests in meanwhile.
      lock.unlock();
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      lock.lock();
      ec2_->Sync();
    }
  }
  if (action == "DeleteMessage") {
    Status st = sqs_.Delete(queue, Str(in, "ReceiptHandle"));
    if (!st.ok()) return failed(st);
    return Ok(json::object(), kJson10);
  }
  return Error(400, "UnknownOperationException", "the fake cloud does not serve " + action, prefix);
}

}  // namespace portflow::fake_cloud
