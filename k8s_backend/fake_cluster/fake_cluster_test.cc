#include "k8s_backend/fake_cluster/fake_cluster.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/base64.h"
#include "k8s_backend/fake_cluster/apiserver/table.h"

namespace portflow::fake {
namespace {

using ::testing::HasSubstr;

class FakeClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ClusterOptions o;
    o.nodes = 3;
    o.gpus = 2;
    cluster_ = std::move(FakeCluster::Create(o, clock_).value());
  }
  HttpResponse Call(const std::string& method, const std::string& target,
                    const json& body = nullptr,
                    const std::string& content_type = "application/json") {
    HttpRequest r{method, target, {}, body.is_null() ? "" : body.dump()};
    if (!body.is_null()) r.headers["content-type"] = content_type;
    return cluster_->Handle(r);
  }
  json Body(const HttpResponse& r) { return json::parse(r.body); }

  FakeClock clock_;
  std::unique_ptr<FakeCluster> cluster_;
};

TEST_F(FakeClusterTest, DiscoveryAndVersion) {
  EXPECT_EQ(Body(Call("GET", "/version"))["gitVersion"], "v1.32.0");
  EXPECT_EQ(Body(Call("GET", "/api"))["versions"][0], "v1");
  EXPECT_EQ(Body(Call("GET", "/apis"))["groups"][0]["name"], "batch");
  json core = Body(Call("GET", "/api/v1"));
  std::vector<std::string> names;
  for (const json& r : core["resources"]) names.push_back(r["name"]);
  EXPECT_THAT(names,
              ::testing::IsSupersetOf({"pods", "pods/status", "pods/log", "nodes", "namespaces",
                                       "events", "configmaps", "secrets", "services"}));
  EXPECT_EQ(Body(Call("GET", "/apis/batch/v1"))["resources"][0]["kind"], "Job");
  json index = Body(Call("GET", "/openapi/v3"));
  EXPECT_TRUE(index["paths"].contains("apis/batch/v1"));
  json doc = Body(Call("GET", "/openapi/v3/apis/batch/v1?hash=portflow"));
  EXPECT_TRUE(doc["paths"].contains("/apis/batch/v1/namespaces/{namespace}/jobs/{name}"));
  EXPECT_EQ(Call("GET", "/apis/apps/v1").status, 404);
}

TEST_F(FakeClusterTest, NodesLookLikeRealOnes) {
  json nodes = Body(Call("GET", "/api/v1/nodes"));
  ASSERT_EQ(nodes["items"].size(), 3u);
  EXPECT_EQ(nodes["kind"], "NodeList");
  const json& n = nodes["items"][0];
  EXPECT_EQ(n["metadata"]["labels"]["kubernetes.io/hostname"], "node-1");
  EXPECT_EQ(n["status"]["capacity"]["nvidia.com/gpu"], "2");
  EXPECT_EQ(n["status"]["conditions"][0]["type"], "Ready");
}

TEST_F(FakeClusterTest, CrudWithStatusObjects) {
  json pod = {{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata", {{"name", "a"}, {"labels", {{"app", "x"}}}}},
              {"spec", {{"containers", {{{"name", "c"}, {"image", "busybox"}}}}}}};
  HttpResponse created = Call("POST", "/api/v1/namespaces/default/pods", pod);
  EXPECT_EQ(created.status, 201);
  HttpResponse dup = Call("POST", "/api/v1/namespaces/default/pods", pod);
  EXPECT_EQ(dup.status, 409);
  EXPECT_EQ(Body(dup)["reason"], "AlreadyExists");
  EXPECT_EQ(Body(dup)["details"]["name"], "a");
  HttpResponse nons = Call("POST", "/api/v1/namespaces/nope/pods", pod);
  EXPECT_EQ(nons.status, 404);
  EXPECT_EQ(Body(nons)["message"], "namespaces \"nope\" not found");
  json got = Body(Call("GET", "/api/v1/namespaces/default/pods/a"));
  EXPECT_EQ(got["metadata"]["labels"]["app"], "x");
  // A stale resourceVersion is a 409 Conflict.
  json stale = got;
  got["metadata"]["labels"]["app"] = "y";
  EXPECT_EQ(Call("PUT", "/api/v1/namespaces/default/pods/a", got).status, 200);
  HttpResponse conflict = Call("PUT", "/api/v1/namespaces/default/pods/a", stale);
  EXPECT_EQ(conflict.status, 409);
  EXPECT_EQ(Body(conflict)["reason"], "Conflict");
  // Merge patch and JSON patch.
  EXPECT_EQ(Call("PATCH", "/api/v1/namespaces/default/pods/a",
                 {{"metadata", {{"labels", {{"tier", "f"}}}}}}, "application/merge-patch+json")
                .status,
            200);
  json ops = json::array({{{"op", "replace"}, {"path", "/metadata/labels/app"}, {"value", "z"}}});
  EXPECT_EQ(
      Call("PATCH", "/api/v1/namespaces/default/pods/a", ops, "application/json-patch+json").status,
      200);
  json patched = Body(Call("GET", "/api/v1/namespaces/default/pods/a"));
  EXPECT_EQ(patched["metadata"]["labels"]["app"], "z");
  EXPECT_EQ(patched["metadata"]["labels"]["tier"], "f");
  // Status changes only through the status subresource.
  json with_status = patched;
  with_status["status"] = {{"phase", "Running"}};
  with_status["metadata"].erase("resourceVersion");
  // The main resource keeps the (defaulted) status.
  EXPECT_EQ(Body(Call("PUT", "/api/v1/namespaces/default/pods/a", with_status))["status"]["phase"],
            "Pending");
  EXPECT_EQ(
      Body(Call("PUT", "/api/v1/namespaces/default/pods/a/status", with_status))["status"]["phase"],
      "Running");
  EXPECT_EQ(Body(Call("GET", "/api/v1/pods?fieldSelector=status.phase%3DRunning"))["items"].size(),
            1u);
  EXPECT_EQ(Call("GET", "/api/v1/pods?fieldSelector=spec.bogus%3D1").status, 400);
  EXPECT_EQ(Call("DELETE", "/api/v1/namespaces/default/pods/a").status, 200);
  HttpResponse gone = Call("GET", "/api/v1/namespaces/default/pods/a");
  EXPECT_EQ(gone.status, 404);
  EXPECT_EQ(Body(gone)["message"], "pods \"a\" not found");
  // JSON sent as protobuf is malformed; a format the server does not know is 415.
  EXPECT_EQ(
      Call("POST", "/api/v1/namespaces/default/pods", pod, "application/vnd.kubernetes.protobuf")
          .status,
      400);
  EXPECT_EQ(Call("POST", "/api/v1/namespaces/default/pods", pod, "application/cbor").status, 415);
}

// A plain one-pod Job named train.
json TrainJob() {
  return {{"apiVersion", "batch/v1"},
          {"kind", "Job"},
          {"metadata", {{"name", "train"}}},
          {"spec",
           {{"template",
             {{"spec",
               {{"restartPolicy", "Never"},
                {"containers", {{{"name", "main"}, {"image", "python"}}}}}}}}}}};
}

TEST_F(FakeClusterTest, JobsAreDefaultedAndValidated) {
  json job = TrainJob();
  HttpResponse ok = Call("POST", "/apis/batch/v1/namespaces/default/jobs", job);
  ASSERT_EQ(ok.status, 201) << ok.body;
  json j = Body(ok);
  std::string uid = j["metadata"]["uid"];
  EXPECT_EQ(j["spec"]["completions"], 1);
  EXPECT_EQ(j["spec"]["parallelism"], 1);
  EXPECT_EQ(j["spec"]["backoffLimit"], 6);
  EXPECT_EQ(j["spec"]["selector"]["matchLabels"]["batch.kubernetes.io/controller-uid"], uid);
  EXPECT_EQ(j["spec"]["template"]["metadata"]["labels"]["job-name"], "train");
  EXPECT_EQ(j["metadata"]["labels"]["controller-uid"], uid);
  // The template's pod spec is defaulted as a pod's: an empty scheduler
  // name too, as the API server does.
  EXPECT_EQ(j["spec"]["template"]["spec"]["schedulerName"], "default-scheduler");
  json unnamed = job;
  unnamed["metadata"]["name"] = "unnamed";
  unnamed["spec"]["template"]["spec"]["schedulerName"] = "";
  EXPECT_EQ(Body(Call("POST", "/apis/batch/v1/namespaces/default/jobs",
                      unnamed))["spec"]["template"]["spec"]["schedulerName"],
            "default-scheduler");

  json bad = job;
  bad["metadata"]["name"] = "bad";
  bad["spec"]["template"]["spec"]["restartPolicy"] = "Always";
  bad["spec"]["template"]["spec"]["containers"] = json::array();
  HttpResponse invalid = Call("POST", "/apis/batch/v1/namespaces/default/jobs", bad);
  ASSERT_EQ(invalid.status, 422);
  json st = Body(invalid);
  EXPECT_EQ(st["reason"], "Invalid");
  EXPECT_EQ(st["message"],
            "Job.batch \"bad\" is invalid: [spec.template.spec.containers: Required value, "
            "spec.template.spec.restartPolicy: Unsupported value: \"Always\": supported values: "
            "\"OnFailure\", \"Never\"]");
  ASSERT_EQ(st["details"]["causes"].size(), 2u);
  EXPECT_EQ(st["details"]["causes"][1]["field"], "spec.template.spec.restartPolicy");
  EXPECT_EQ(Call("GET", "/apis/batch/v1/namespaces/default/jobs/bad").status,
            404);  // nothing stored
  json badname = job;
  badname["metadata"]["name"] = "Bad_Name";
  EXPECT_EQ(Call("POST", "/apis/batch/v1/namespaces/default/jobs", badname).status, 422);
}

// As the API server's registry: an object is validated before its name is
// found taken (422, not 409), and a name held by an object on its way out
// says so.
TEST_F(FakeClusterTest, ATakenNameIsFoundAfterValidation) {
  const std::string jobs = "/apis/batch/v1/namespaces/default/jobs";
  json job = TrainJob();
  ASSERT_EQ(Call("POST", jobs, job).status, 201);
  json invalid = job;
  invalid["spec"]["template"]["spec"]["containers"] = json::array();
  HttpResponse r = Call("POST", jobs, invalid);
  EXPECT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(Body(r)["reason"], "Invalid");
  r = Call("POST", jobs, job);
  ASSERT_EQ(r.status, 409) << r.body;
  EXPECT_EQ(Body(r)["message"], "jobs.batch \"train\" already exists");

  json foreground = {
      {"kind", "DeleteOptions"}, {"apiVersion", "v1"}, {"propagationPolicy", "Foreground"}};
  ASSERT_EQ(Call("DELETE", jobs + "/train", foreground).status, 200);
  r = Call("POST", jobs, job);
  ASSERT_EQ(r.status, 409) << r.body;
  EXPECT_EQ(Body(r)["reason"], "AlreadyExists");
  EXPECT_EQ(Body(r)["message"], "object is being deleted: jobs.batch \"train\" already exists");
}

// As the API server: a volume item's path stays below its mount.
TEST_F(FakeClusterTest, VolumeItemPathsMayNotLeaveTheMount) {
  json job = TrainJob();
  json& spec = job["spec"]["template"]["spec"];
  spec["volumes"] = {{{"name", "code"},
                      {"configMap",
                       {{"name", "c"},
                        {"items",
                         {{{"key", "a"}, {"path", "ok/a.py"}},
                          {{"key", "b"}, {"path", "../outside/secret.txt"}},
                          {{"key", "c"}, {"path", "/etc/passwd"}},
                          {{"key", "d"}, {"path", "x/../../y"}},
                          {{"key", "e"}, {"path", "..a/b"}}}}}}}};
  HttpResponse r = Call("POST", "/apis/batch/v1/namespaces/default/jobs", job);
  ASSERT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(
      Body(r)["message"],
      "Job.batch \"train\" is invalid: [spec.template.spec.volumes[0].configMap.items[1].path: "
      "Invalid value: \"../outside/secret.txt\": must not contain '..', "
      "spec.template.spec.volumes[0].configMap.items[2].path: Invalid value: \"/etc/passwd\": "
      "must be a relative path, spec.template.spec.volumes[0].configMap.items[3].path: "
      "Invalid value: \"x/../../y\": must not contain '..']");
}

// ConfigMaps and Services owned by Jobs go once every owning Job has gone;
// one owned by nothing, or by another kind too, stays.
TEST_F(FakeClusterTest, DependentsGoWithTheLastOwningJob) {
  std::vector<json> jobs;
  for (const char* name : {"a", "b"}) {
    json job = TrainJob();
    job["metadata"]["name"] = name;
    HttpResponse r = Call("POST", "/apis/batch/v1/namespaces/default/jobs", job);
    ASSERT_EQ(r.status, 201) << r.body;
    jobs.push_back(Body(r));
  }
  auto ref = [](const json& owner) {
    return json{{"apiVersion", owner.value("apiVersion", "batch/v1")},
                {"kind", owner.value("kind", "Job")},
                {"name", owner["metadata"]["name"]},
                {"uid", owner["metadata"]["uid"]}};
  };
  const std::string cms = "/api/v1/namespaces/default/configmaps";
  json both = {{"metadata", {{"name", "both"}, {"ownerReferences", {ref(jobs[0]), ref(jobs[1])}}}}};
  json none = {{"metadata", {{"name", "none"}}}};
  json mixed = {
      {"metadata",
       {{"name", "mixed"},
        {"ownerReferences",
         {ref(jobs[0]), {{"apiVersion", "v1"}, {"kind", "Pod"}, {"name", "p"}, {"uid", "u"}}}}}}};
  for (const json& cm : {both, none, mixed}) ASSERT_EQ(Call("POST", cms, cm).status, 201);
  json svc = {{"metadata", {{"name", "gang"}, {"ownerReferences", {ref(jobs[1])}}}},
              {"spec", {{"clusterIP", "None"}, {"ports", {{{"port", 1}}}}}}};
  ASSERT_EQ(Call("POST", "/api/v1/namespaces/default/services", svc).status, 201);

  ASSERT_EQ(Call("DELETE", "/apis/batch/v1/namespaces/default/jobs/a").status, 200);
  cluster_->RunFor(std::chrono::seconds(1));
  EXPECT_EQ(Call("GET", cms + "/both").status, 200);  // b still owns it
  ASSERT_EQ(Call("DELETE", "/apis/batch/v1/namespaces/default/jobs/b").status, 200);
  cluster_->RunFor(std::chrono::seconds(1));
  EXPECT_EQ(Call("GET", cms + "/both").status, 404);
  EXPECT_EQ(Call("GET", "/api/v1/namespaces/default/services/gang").status, 404);
  EXPECT_EQ(Call("GET", cms + "/none").status, 200);
  EXPECT_EQ(Call("GET", cms + "/mixed").status, 200);
}

TEST_F(FakeClusterTest, UpdatesCannotChangeImmutableFields) {
  json job = TrainJob();
  ASSERT_EQ(Call("POST", "/apis/batch/v1/namespaces/default/jobs", job).status, 201);
  const std::string url = "/apis/batch/v1/namespaces/default/jobs/train";
  // Mutable fields change; the template does not.
  EXPECT_EQ(
      Call("PATCH", url, {{"spec", {{"parallelism", 2}}}}, "application/merge-patch+json").status,
      200);
  json change_image = {
      {"spec", {{"template", {{"spec", {{"containers", {{{"name", "main"}, {"image", "x"}}}}}}}}}}};
  HttpResponse r = Call("PATCH", url, change_image, "application/strategic-merge-patch+json");
  ASSERT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(Body(r)["details"]["causes"][0]["field"], "spec.template");
  EXPECT_THAT(Body(r)["message"].get<std::string>(),
              HasSubstr("Job.batch \"train\" is invalid: spec.template: Invalid value: "));
  EXPECT_THAT(Body(r)["message"].get<std::string>(), HasSubstr("field is immutable"));
  EXPECT_EQ(
      Call("PATCH", url, {{"spec", {{"completions", 3}}}}, "application/merge-patch+json").status,
      422);
  EXPECT_EQ(Call("GET", url).status, 200);
  EXPECT_EQ(Body(Call("GET", url))["spec"]["template"]["spec"]["containers"][0]["image"], "python");
  // Validation of the object itself holds on update too.
  EXPECT_EQ(
      Call("PATCH", url, {{"spec", {{"parallelism", -1}}}}, "application/merge-patch+json").status,
      422);

  // Pods: the image may change, the command may not.
  json pod = {{"metadata", {{"name", "p"}}},
              {"spec", {{"containers", {{{"name", "c"}, {"image", "a"}, {"command", {"x"}}}}}}}};
  ASSERT_EQ(Call("POST", "/api/v1/namespaces/default/pods", pod).status, 201);
  const std::string pod_url = "/api/v1/namespaces/default/pods/p";
  EXPECT_EQ(Call("PATCH", pod_url, {{"spec", {{"containers", {{{"name", "c"}, {"image", "b"}}}}}}},
                 "application/strategic-merge-patch+json")
                .status,
            200);
  r = Call("PATCH", pod_url, {{"spec", {{"containers", {{{"name", "c"}, {"command", {"y"}}}}}}}},
           "application/strategic-merge-patch+json");
  ASSERT_EQ(r.status, 422);
  EXPECT_EQ(Body(r)["details"]["causes"][0]["reason"], "FieldValueForbidden");

  // An immutable ConfigMap keeps its data; Secrets turn stringData into data.
  json cm = {{"metadata", {{"name", "cm"}}}, {"data", {{"k", "v"}}}, {"immutable", true}};
  ASSERT_EQ(Call("POST", "/api/v1/namespaces/default/configmaps", cm).status, 201);
  r = Call("PATCH", "/api/v1/namespaces/default/configmaps/cm", {{"data", {{"k", "w"}}}},
           "application/merge-patch+json");
  ASSERT_EQ(r.status, 422);
  EXPECT_EQ(Body(r)["details"]["causes"][0]["field"], "data");
  json secret = {{"metadata", {{"name", "s"}}}, {"stringData", {{"token", "hello"}}}};
  r = Call("POST", "/api/v1/namespaces/default/secrets", secret);
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(Body(r)["data"]["token"], "aGVsbG8=");
  EXPECT_EQ(Body(r)["type"], "Opaque");
  EXPECT_FALSE(Body(r).contains("stringData"));
}

TEST_F(FakeClusterTest, ReactorsAnswerMatchingCallsBeforeTheRouter) {
  cluster_->reactors().Prepend(
      "create", "configmaps", [](const RequestInfo& info, const HttpRequest&) {
        EXPECT_EQ(info.ns, "default");
        return std::optional<HttpResponse>(HttpResponse{503, "application/json", "{}", nullptr});
      });
  json cm = {{"metadata", {{"name", "c"}}}};
  EXPECT_EQ(Call("POST", "/api/v1/namespaces/default/configmaps", cm).status, 503);
  EXPECT_EQ(Call("GET", "/api/v1/namespaces/default/configmaps").status, 200);
  EXPECT_EQ(Call("POST", "/api/v1/namespaces/default/secrets", cm).status, 201);
  // The newest reactor goes first; one that passes leaves the call to the next.
  int seen = 0;
  cluster_->reactors().Prepend("*", "*", [&](const RequestInfo&, const HttpRequest&) {
    ++seen;
    return std::optional<HttpResponse>();
  });
  EXPECT_EQ(Call("POST", "/api/v1/namespaces/default/configmaps", cm).status, 503);
  EXPECT_EQ(seen, 1);
  // Discovery roots and /version never reach the chain.
  EXPECT_EQ(Call("GET", "/version").status, 200);
  EXPECT_EQ(seen, 1);
}

TEST_F(FakeClusterTest, FaultsCanBeInjectedOverHttp) {
  auto faults = [&](const std::string& body) {
    return cluster_->Handle({"POST", "/portflow/faults", {}, body});
  };
  ASSERT_EQ(faults(R"({"failNext": 2, "code": 429})").status, 200);
  HttpResponse first = Call("GET", "/api/v1/nodes");
  EXPECT_EQ(first.status, 429);
  EXPECT_EQ(first.headers["Retry-After"], "1");
  EXPECT_EQ(Call("GET", "/api/v1/nodes").status, 429);
  EXPECT_EQ(Call("GET", "/api/v1/nodes").status, 200);
  // Dropped connections: no status at all.
  ASSERT_EQ(faults(R"({"failNext": 1, "code": 0})").status, 200);
  EXPECT_TRUE(Call("GET", "/api/v1/nodes").drop_connection);
  // A lost node turns NotReady.
  ASSERT_EQ(faults(R"({"loseNode": "node-2"})").status, 200);
  json node = Body(Call("GET", "/api/v1/nodes/node-2"));
  EXPECT_EQ(node["spec"]["taints"][0]["key"], "node.kubernetes.io/unreachable");
  // Bad requests say what is wrong; nothing is applied.
  HttpResponse unknown = faults(R"({"loseNod": "node-1"})");
  EXPECT_EQ(unknown.status, 400);
  EXPECT_THAT(Body(unknown)["message"].get<std::string>(), HasSubstr("unknown fault \"loseNod\""));
  EXPECT_EQ(faults(R"({"failRate": 2})").status, 400);
  EXPECT_EQ(faults(R"({"failNext": 1, "code": 404})").status, 400);
  EXPECT_EQ(faults("not json").status, 400);
  EXPECT_EQ(faults(R"({"loseNode": "node-9"})").status, 404);
  EXPECT_EQ(Call("GET", "/api/v1/nodes").status, 200);
  EXPECT_EQ(cluster_->Handle({"GET", "/portflow/faults", {}, ""}).status, 405);
}

// A pod of `cpu` that runs for `seconds` in simulate mode.
json CpuPod(const std::string& name, const std::string& cpu, int seconds) {
  json c = {{"name", "c"}, {"image", "x"}};
  if (!cpu.empty()) c["resources"]["requests"]["cpu"] = cpu;
  return {
      {"metadata",
       {{"name", name}, {"annotations", {{"sim.portflow.dev/duration", std::to_string(seconds)}}}}},
      {"spec", {{"containers", {c}}}}};
}

TEST_F(FakeClusterTest, NodesJoinAndGoAtRunTime) {
  const std::string pods = "/api/v1/namespaces/default/pods";
  ASSERT_EQ(Call("POST", pods, CpuPod("big", "8", 600)).status, 201);
  cluster_->RunFor(std::chrono::seconds(1));
  json big = Body(Call("GET", pods + "/big"));
  EXPECT_EQ(big["spec"].value("nodeName", ""), "") << "no node has 8 cpus";
  ASSERT_TRUE(cluster_->AddNode({"i-1", "16", "64Gi", 1, {{"example/group", "g"}}}).ok());
  EXPECT_EQ(cluster_->AddNode({"i-1"}).code(), StatusCode::kAlreadyExists);
  cluster_->RunFor(std::chrono::seconds(1));
  big = Body(Call("GET", pods + "/big"));
  EXPECT_EQ(big["spec"].value("nodeName", ""), "i-1");
  EXPECT_EQ(big["status"]["phase"], "Running");
  json node = Body(Call("GET", "/api/v1/nodes/i-1"));
  EXPECT_EQ(node["metadata"]["labels"]["example/group"], "g");
  EXPECT_EQ(node["status"]["allocatable"]["nvidia.com/gpu"], "1");

  json taint = {{"key", "example/leaving"}, {"effect", "NoSchedule"}};
  ASSERT_TRUE(cluster_->TaintNode("i-1", taint).ok());
  ASSERT_TRUE(cluster_->TaintNode("i-1", taint).ok());
  EXPECT_EQ(Body(Call("GET", "/api/v1/nodes/i-1"))["spec"]["taints"].size(), 1u);
  ASSERT_EQ(Call("POST", pods, CpuPod("next", "8", 600)).status, 201);
  cluster_->RunFor(std::chrono::seconds(1));
  EXPECT_EQ(Body(Call("GET", pods + "/next"))["spec"].value("nodeName", ""), "")
      << "the tainted node takes no more";

  ASSERT_TRUE(cluster_->RemoveNode("i-1").ok());
  EXPECT_EQ(Call("GET", "/api/v1/nodes/i-1").status, 404);
  big = Body(Call("GET", pods + "/big"));
  EXPECT_EQ(big["status"]["phase"], "Failed");
  EXPECT_EQ(big["status"]["reason"], "NodeLost");
  EXPECT_EQ(cluster_->RemoveNode("i-1").code(), StatusCode::kNotFound);
}

TEST_F(FakeClusterTest, ResourceQuotaRefusesPodsAndHoldsJobsBack) {
  const std::string quotas = "/api/v1/namespaces/default/resourcequotas";
  const std::string pods = "/api/v1/namespaces/default/pods";
  json bad = {{"metadata", {{"name", "bad"}}}, {"spec", {{"hard", {{"cpu", "lots"}}}}}};
  EXPECT_EQ(Call("POST", quotas, bad).status, 422);
  bad["spec"] = {{"hard", {"cpu"}}, {"scopes", "BestEffort"}};
  EXPECT_EQ(Body(Call("POST", quotas, bad))["details"]["causes"].size(), 2u);
  json quota = {{"metadata", {{"name", "compute"}}},
                {"spec", {{"hard", {{"requests.cpu", "1"}, {"pods", "5"}}}}}};
  ASSERT_EQ(Call("POST", quotas, quota).status, 201);

  // A quota on cpu needs every container to ask for cpu.
  HttpResponse unset = Call("POST", pods, CpuPod("unset", "", 60));
  ASSERT_EQ(unset.status, 403);
  EXPECT_EQ(Body(unset)["reason"], "Forbidden");
  EXPECT_EQ(Body(unset)["message"],
            "pods \"unset\" is forbidden: failed quota: compute: must specify requests.cpu for: c");
  ASSERT_EQ(Call("POST", pods, CpuPod("a", "600m", 60)).status, 201);
  // Admitted before its name is found taken, as on the API server.
  EXPECT_EQ(Call("POST", pods, CpuPod("a", "600m", 60)).status, 403);
  HttpResponse over = Call("POST", pods, CpuPod("b", "600m", 60));
  ASSERT_EQ(over.status, 403);
  EXPECT_EQ(Body(over)["message"],
            "pods \"b\" is forbidden: exceeded quota: compute, requested: requests.cpu=600m, "
            "used: requests.cpu=600m, limited: requests.cpu=1");
  EXPECT_EQ(Call("GET", pods + "/b").status, 404);

  // The quota controller keeps status.used.
  cluster_->RunFor(std::chrono::seconds(1));
  json q = Body(Call("GET", quotas + "/compute"));
  EXPECT_EQ(q["status"]["used"]["requests.cpu"], "600m");
  EXPECT_EQ(q["status"]["used"]["pods"], "1");
  EXPECT_EQ(q["status"]["hard"]["requests.cpu"], "1");
  HttpRequest table{
      "GET", quotas, {{"accept", "application/json;as=Table;v=v1;g=meta.k8s.io"}}, ""};
  json rows = Body(cluster_->Handle(table))["rows"];
  EXPECT_EQ(rows[0]["cells"][2], "pods: 1/5, requests.cpu: 600m/1");

  // A Job's pod that does not fit: one FailedCreate event on the Job, no
  // pod, and the pod is made once the quota has room.
  json job = TrainJob();
  job["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "600m";
  ASSERT_EQ(Call("POST", "/apis/batch/v1/namespaces/default/jobs", job).status, 201);
  cluster_->RunFor(std::chrono::seconds(10));
  json events = Body(Call("GET",
                          "/api/v1/namespaces/default/events?fieldSelector=reason%3DFailedCreate"
                          "%2CinvolvedObject.name%3Dtrain"));
  ASSERT_EQ(events["items"].size(), 1u) << events.dump();
  EXPECT_EQ(events["items"][0]["type"], "Warning");
  EXPECT_THAT(events["items"][0]["message"].get<std::string>(),
              ::testing::MatchesRegex("Error creating: pods \"train-[a-z0-9]{5}\" is forbidden: "
                                      "exceeded quota: compute, .*"));
  json job_pods = Body(Call("GET", pods + "?labelSelector=job-name%3Dtrain"));
  EXPECT_TRUE(job_pods["items"].empty());
  // The same Job again, after a delete: its refusal is said again.
  ASSERT_EQ(Call("DELETE", "/apis/batch/v1/namespaces/default/jobs/train").status, 200);
  cluster_->RunFor(std::chrono::seconds(1));
  ASSERT_EQ(Call("POST", "/apis/batch/v1/namespaces/default/jobs", job).status, 201);
  cluster_->RunFor(std::chrono::seconds(2));
  events = Body(Call("GET",
                     "/api/v1/namespaces/default/events?fieldSelector=reason%3DFailedCreate"
                     "%2CinvolvedObject.name%3Dtrain"));
  EXPECT_EQ(events["items"].size(), 2u);
  cluster_->RunFor(std::chrono::seconds(60));  // pod a ends: its cpu is free
  job_pods = Body(Call("GET", pods + "?labelSelector=job-name%3Dtrain"));
  EXPECT_EQ(job_pods["items"].size(), 1u);
}

// What a pod's first container waits for, as the kubelet reports it.
std::string Waiting(const json& pod) {
  const json::json_pointer at("/status/containerStatuses/0/state/waiting");
  if (!pod.contains(at)) return "not waiting: " + pod.value("status", json()).dump();
  return pod[at].value("reason", "") + ": " + pod[at].value("message", "");
}

TEST_F(FakeClusterTest, PodsWaitForTheirImagesAndConfigAsTheKubeletSays) {
  const std::string pods = "/api/v1/namespaces/default/pods";
  json bad_name = CpuPod("bad-name", "", 1);
  bad_name["spec"]["containers"][0]["image"] = "Python:3.12";
  ASSERT_EQ(Call("POST", pods, bad_name).status, 201);
  cluster_->SetMissingImages({"registry.local/nosuch:1"});
  json missing = CpuPod("missing", "", 1);
  missing["spec"]["containers"][0]["image"] = "registry.local/nosuch:1";
  ASSERT_EQ(Call("POST", pods, missing).status, 201);
  json config = CpuPod("config", "", 1);
  config["spec"]["containers"][0]["env"] = {
      {{"name", "TOKEN"},
       {"valueFrom", {{"secretKeyRef", {{"name", "creds"}, {"key", "token"}}}}}}};
  ASSERT_EQ(Call("POST", pods, config).status, 201);
  cluster_->RunFor(std::chrono::milliseconds(500));

  json got = Body(Call("GET", pods + "/bad-name"));
  EXPECT_EQ(got["status"]["phase"], "Pending");
  EXPECT_EQ(Waiting(got),
            "InvalidImageName: Failed to apply default image tag \"Python:3.12\": couldn't "
            "parse image name \"Python:3.12\": invalid reference format");
  EXPECT_EQ(Waiting(Body(Call("GET", pods + "/missing"))),
            "ErrImagePull: rpc error: code = NotFound desc = failed to pull and unpack image "
            "\"registry.local/nosuch:1\": failed to resolve reference "
            "\"registry.local/nosuch:1\": registry.local/nosuch:1: not found");
  EXPECT_EQ(Waiting(Body(Call("GET", pods + "/config"))),
            "CreateContainerConfigError: secret \"creds\" not found");
  json failed = Body(Call("GET",
                          "/api/v1/namespaces/default/events?fieldSelector=reason%3DFailed%2C"
                          "involvedObject.name%3Dconfig"));
  ASSERT_EQ(failed["items"].size(), 1u);
  EXPECT_EQ(failed["items"][0]["message"], "Error: secret \"creds\" not found");

  // The kubelet tries again: the pull backs off; the Secret comes, first
  // without the key, then with it.
  cluster_->RunFor(std::chrono::seconds(2));
  EXPECT_EQ(Waiting(Body(Call("GET", pods + "/missing"))),
            "ImagePullBackOff: Back-off pulling image \"registry.local/nosuch:1\"");
  json secret = {{"metadata", {{"name", "creds"}}}, {"stringData", {{"other", "x"}}}};
  ASSERT_EQ(Call("POST", "/api/v1/namespaces/default/secrets", secret).status, 201);
  cluster_->RunFor(std::chrono::seconds(3));
  EXPECT_EQ(Waiting(Body(Call("GET", pods + "/config"))),
            "CreateContainerConfigError: couldn't find key token in Secret default/creds");
  secret["stringData"]["token"] = "s3cret";
  ASSERT_EQ(Call("PUT", "/api/v1/namespaces/default/secrets/creds", secret).status, 200);
  cluster_->SetMissingImages({});
  cluster_->RunFor(std::chrono::seconds(30));
  EXPECT_EQ(Body(Call("GET", pods + "/config"))["status"]["phase"], "Succeeded");
  EXPECT_EQ(Body(Call("GET", pods + "/missing"))["status"]["phase"], "Succeeded");
  EXPECT_EQ(Body(Call("GET", pods + "/bad-name"))["status"]["phase"], "Pending");
  // A waiting pod that something else ends leaves nothing for the kubelet
  // to retry (else RunFor would never reach its end).
  json ended = Body(Call("GET", pods + "/bad-name"));
  ended["status"]["phase"] = "Failed";
  ASSERT_EQ(Call("PUT", pods + "/bad-name/status", ended).status, 200);
  cluster_->RunFor(std::chrono::seconds(60));
  for (const char* image :
       {"python:3.12", "busybox", "ghcr.io/org/app:v1.2", "localhost:5000/a/b",
        "nvcr.io/nvidia/pytorch:24.01-py3",
        "x@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}) {
    json ok =
        CpuPod(std::string("ok-") + std::to_string(std::hash<std::string>{}(image) % 1000), "", 1);
    ok["spec"]["containers"][0]["image"] = image;
    ASSERT_EQ(Call("POST", pods, ok).status, 201);
    cluster_->RunFor(std::chrono::milliseconds(100));
    EXPECT_NE(Body(Call("GET",
                        pods + "/" + ok["metadata"]["name"].get<std::string>()))["status"]["phase"],
              "Pending")
        << image;
  }
}

TEST_F(FakeClusterTest, TablesHaveKubectlColumns) {
  HttpRequest r{
      "GET", "/api/v1/nodes", {{"accept", "application/json;as=Table;v=v1;g=meta.k8s.io"}}, ""};
  json nodes = json::parse(cluster_->Handle(r).body);
  EXPECT_EQ(nodes["kind"], "Table");
  EXPECT_EQ(nodes["columnDefinitions"][1]["name"], "Status");
  EXPECT_EQ(nodes["rows"][0]["cells"][0], "node-1");
  EXPECT_EQ(nodes["rows"][0]["cells"][1], "Ready");
  EXPECT_EQ(nodes["rows"][0]["object"]["metadata"]["name"], "node-1");
  json pod = {{"metadata", {{"name", "p"}}},
              {"spec", {{"containers", {{{"name", "c"}, {"image", "x"}}}}}}};
  ASSERT_EQ(Call("POST", "/api/v1/namespaces/default/pods", pod).status, 201);
  json got = Body(Call("GET", "/api/v1/namespaces/default/pods/p"));
  got["status"] = {{"phase", "Succeeded"},
                   {"containerStatuses",
                    {{{"name", "c"},
                      {"ready", false},
                      {"restartCount", 0},
                      {"state", {{"terminated", {{"exitCode", 0}, {"reason", "Completed"}}}}}}}}};
  ASSERT_EQ(Call("PUT", "/api/v1/namespaces/default/pods/p/status", got).status, 200);
  r.target = "/api/v1/namespaces/default/pods";
  json pods = json::parse(cluster_->Handle(r).body);
  EXPECT_EQ(pods["rows"][0]["cells"][1], "0/1");
  EXPECT_EQ(pods["rows"][0]["cells"][2], "Completed");
  EXPECT_EQ(PodStatus({{"status",
                        {{"phase", "Pending"},
                         {"containerStatuses",
                          {{{"state", {{"waiting", {{"reason", "ContainerCreating"}}}}}}}}}}}),
            "ContainerCreating");
  EXPECT_EQ(
      PodStatus({{"metadata", {{"deletionTimestamp", "x"}}}, {"status", {{"phase", "Running"}}}}),
      "Terminating");
  EXPECT_EQ(HumanDuration(std::chrono::seconds(45)), "45s");
  EXPECT_EQ(HumanDuration(std::chrono::seconds(303)), "5m3s");
  EXPECT_EQ(HumanDuration(std::chrono::hours(50)), "2d2h");
}

TEST_F(FakeClusterTest, WatchStreamsEventsAndExpiresOldVersions) {
  HttpResponse w = Call("GET", "/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=5");
  ASSERT_TRUE(w.stream);
  json cm = {{"metadata", {{"name", "c"}}}, {"data", {{"k", "v"}}}};
  ASSERT_EQ(Call("POST", "/api/v1/namespaces/default/configmaps", cm).status, 201);
  std::string chunk;
  ASSERT_TRUE(w.stream(&chunk));
  json event = json::parse(chunk);
  EXPECT_EQ(event["type"], "ADDED");
  EXPECT_EQ(event["object"]["data"]["k"], "v");
  // Nothing more: the stream ends at timeoutSeconds, in virtual time.
  int calls = 0;
  while (w.stream(&chunk) && ++calls < 100) chunk.clear();
  EXPECT_LT(calls, 100);
  HttpResponse old = Call("GET", "/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=1");
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(Call("POST", "/api/v1/namespaces/default/configmaps",
                   {{"metadata", {{"name", "x" + std::to_string(i)}}}})
                  .status,
              201);
  ASSERT_TRUE(old.stream);  // history is long enough here: events replay
  chunk.clear();
  ASSERT_TRUE(old.stream(&chunk));
  // Queued events leave together, one per line: c, then x0 to x2.
  std::vector<std::string> names;
  for (size_t at = 0, nl; (nl = chunk.find('\n', at)) != std::string::npos; at = nl + 1) {
    json e = json::parse(chunk.substr(at, nl - at));
    EXPECT_EQ(e["type"], "ADDED");
    names.push_back(e["object"]["metadata"]["name"]);
  }
  EXPECT_EQ(names, (std::vector<std::string>{"c", "x0", "x1", "x2"}));
}

// Bodies may nest 1,000 deep (a ConfigMap is one level, its field the
// rest); one level more is a 400, and so is any depth past it, without the
// server's recursive copies ever seeing the object.
TEST_F(FakeClusterTest, BodiesNestAThousandLevelsDeepAndNoDeeper) {
  auto nested = [](const std::string& name, int levels) {
    return R"({"metadata":{"name":")" + name + R"("},"extra":)" + std::string(levels, '[') +
           std::string(levels, ']') + "}";
  };
  auto send = [&](const std::string& method, const std::string& target, std::string body,
                  const std::string& type = "application/json") {
    return cluster_->Handle({method, target, {{"content-type", type}}, std::move(body)});
  };
  const std::string cms = "/api/v1/namespaces/default/configmaps";
  HttpResponse w = Call("GET", cms + "?watch=true&timeoutSeconds=5");
  ASSERT_TRUE(w.stream);
  ASSERT_EQ(send("POST", cms, nested("deep", 999)).status, 201);
  std::string chunk;
  ASSERT_TRUE(w.stream(&chunk));  // the watch's event, serialised whole
  json event = json::parse(chunk);
  EXPECT_EQ(event["type"], "ADDED");
  EXPECT_EQ(event["object"]["metadata"]["name"], "deep");
  EXPECT_EQ(Call("GET", cms + "/deep").status, 200);
  EXPECT_EQ(Call("GET", cms).status, 200);
  EXPECT_EQ(
      send("PATCH", cms + "/deep", nested("deep", 999), "application/merge-patch+json").status,
      200);
  EXPECT_EQ(
      send("PATCH", cms + "/deep", nested("deep", 999), "application/strategic-merge-patch+json")
          .status,
      200);

  for (int levels : {1000, 1000000}) {
    HttpResponse deeper = send("POST", cms, nested("deeper", levels));
    EXPECT_EQ(deeper.status, 400) << levels;
    EXPECT_THAT(Body(deeper)["message"].get<std::string>(), HasSubstr("exceeded max depth"));
  }
  EXPECT_EQ(
      send("PATCH", cms + "/deep", nested("deep", 1000000), "application/merge-patch+json").status,
      400);
  EXPECT_EQ(Call("GET", cms + "/deeper").status, 404);
  // Brackets in strings are text, not nesting, after an escaped quote too.
  EXPECT_EQ(
      send("POST", cms,
           R"({"metadata":{"name":"text"},"data":{"k":"\")" + std::string(20000, '[') + R"("}})")
          .status,
      201);
}

TEST_F(FakeClusterTest, AggregatedDiscoveryWhenAccepted) {
  HttpRequest r{"GET", "/apis", {}, ""};
  r.headers["accept"] =
      "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
      "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
      "application/json";
  HttpResponse aggregated = cluster_->Handle(r);
  EXPECT_EQ(aggregated.content_type,
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList");
  EXPECT_EQ(Body(aggregated)["items"][0]["metadata"]["name"], "batch");
  r.target = "/api";
  EXPECT_EQ(Body(cluster_->Handle(r))["kind"], "APIGroupDiscoveryList");
  r.headers["accept"] = "application/json, */*";
  HttpResponse legacy = cluster_->Handle(r);
  EXPECT_EQ(legacy.content_type, "application/json");
  EXPECT_EQ(Body(legacy)["kind"], "APIVersions");
}

// A client that reads only metadata asks for PartialObjectMetadata(List)
// and gets it, from a get, a list and a deletecollection; one that puts
// plain JSON first gets whole objects, one that asks for the wrong form 406.
TEST_F(FakeClusterTest, PartialObjectMetadataWhenAccepted) {
  const std::string cms = "/api/v1/namespaces/default/configmaps";
  for (const char* name : {"a", "b"}) {
    ASSERT_EQ(
        Call("POST", cms,
             {{"metadata", {{"name", name}, {"labels", {{"app", "x"}}}}}, {"data", {{"k", "v"}}}})
            .status,
        201);
  }
  auto with_accept = [&](const std::string& method, const std::string& target,
                         const std::string& accept) {
    HttpRequest r{method, target, {}, ""};
    r.headers["accept"] = accept;
    return Body(cluster_->Handle(r));
  };
  const std::string list_form =
      "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json";
  json list = with_accept("GET", cms, list_form);
  EXPECT_EQ(list["kind"], "PartialObjectMetadataList");
  EXPECT_EQ(list["apiVersion"], "meta.k8s.io/v1");
  ASSERT_EQ(list["items"].size(), 2u);
  EXPECT_EQ(list["items"][0]["kind"], "PartialObjectMetadata");
  EXPECT_EQ(list["items"][0]["metadata"]["labels"]["app"], "x");
  EXPECT_FALSE(list["items"][0].contains("data"));
  EXPECT_FALSE(list["metadata"]["resourceVersion"].get<std::string>().empty());
  // Plain JSON first: whole objects. The list form on a get, or the single
  // form on a list: refused, as the API server refuses them.
  EXPECT_EQ(with_accept("GET", cms, "application/json," + list_form)["kind"], "ConfigMapList");
  json wrong = with_accept("GET", cms + "/a", list_form);
  EXPECT_EQ(wrong["code"], 406);
  EXPECT_EQ(wrong["reason"], "NotAcceptable");
  EXPECT_EQ(with_accept("GET", cms,
                        "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1")["code"],
            406);
  json one = with_accept("GET", cms + "/a",
                         "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1");
  EXPECT_EQ(one["kind"], "PartialObjectMetadata");
  EXPECT_EQ(one["metadata"]["name"], "a");
  EXPECT_FALSE(one.contains("data"));
  // A watch's events carry the single form (the list form is refused).
  HttpRequest watch{"GET", cms + "?watch=true&timeoutSeconds=5", {}, ""};
  watch.headers["accept"] = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1";
  HttpResponse w = cluster_->Handle(watch);
  ASSERT_TRUE(w.stream);
  ASSERT_EQ(
      Call("PUT", cms + "/a",
           {{"metadata", {{"name", "a"}, {"labels", {{"app", "x"}}}}}, {"data", {{"k", "w"}}}})
          .status,
      200);
  // With no resourceVersion: a and b as they are (ADDED), then a's change.
  std::string chunk;
  std::vector<json> events;
  for (int reads = 0; events.size() < 3 && reads < 10 && w.stream(&chunk); ++reads) {
    for (size_t at = 0, nl; (nl = chunk.find('\n', at)) != std::string::npos; at = nl + 1)
      events.push_back(json::parse(chunk.substr(at, nl - at)));
    chunk.clear();
  }
  ASSERT_EQ(events.size(), 3u);
  for (const json& e : events) {
    EXPECT_EQ(e["object"]["kind"], "PartialObjectMetadata") << e.dump();
    EXPECT_EQ(e["object"]["apiVersion"], "meta.k8s.io/v1");
    EXPECT_FALSE(e["object"].contains("data")) << e.dump();
  }
  EXPECT_EQ(events[2]["type"], "MODIFIED");
  EXPECT_EQ(events[2]["object"]["metadata"]["name"], "a");
  EXPECT_EQ(events[2]["object"]["metadata"]["labels"]["app"], "x");
  EXPECT_EQ(with_accept("GET", cms + "?watch=true&timeoutSeconds=1", list_form)["code"], 406);
  // What answers one object written, in the single form too.
  const std::string single = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1";
  auto written = [&](const std::string& method, const std::string& target, const json& body,
                     const std::string& content_type) {
    HttpRequest r{
        method, target, {{"accept", single}, {"content-type", content_type}}, body.dump()};
    return Body(cluster_->Handle(r));
  };
  for (const json& got :
       {written("POST", cms,
                {{"metadata", {{"name", "c"}, {"labels", {{"app", "y"}}}}}, {"data", {{"k", "v"}}}},
                "application/json"),
        written("PUT", cms + "/c",
                {{"metadata", {{"name", "c"}, {"labels", {{"app", "y"}}}}}, {"data", {{"k", "u"}}}},
                "application/json"),
        written("PATCH", cms + "/c", {{"data", {{"k", "p"}}}}, "application/merge-patch+json"),
        written("DELETE", cms + "/c", json::object(), "application/json")}) {
    EXPECT_EQ(got["kind"], "PartialObjectMetadata") << got.dump();
    EXPECT_EQ(got["metadata"]["name"], "c");
    EXPECT_EQ(got["metadata"]["labels"]["app"], "y");
    EXPECT_FALSE(got.contains("data")) << got.dump();
  }
  json deleted = with_accept("DELETE", cms + "?labelSelector=app%3Dx", list_form);
  EXPECT_EQ(deleted["kind"], "PartialObjectMetadataList");
  ASSERT_EQ(deleted["items"].size(), 2u);
  EXPECT_EQ(deleted["items"][1]["metadata"]["name"], "b");
  EXPECT_FALSE(deleted["items"][1].contains("data"));
}

// JSON patches have the API server's limits: a copy can double an object,
// so thirty could ask for gigabytes; copies may add 3 MiB in all, and a
// patch may hold 10,000 operations.
TEST_F(FakeClusterTest, JsonPatchesCannotGrowAnObjectWithoutBound) {
  const std::string cm = "/api/v1/namespaces/default/configmaps/c";
  ASSERT_EQ(Call("POST", "/api/v1/namespaces/default/configmaps",
                 {{"metadata", {{"name", "c"}}}, {"data", {{"seed", std::string(1000, 'x')}}}})
                .status,
            201);
  const std::string type = "application/json-patch+json";
  json small = json::array({{{"op", "copy"}, {"from", "/data/seed"}, {"path", "/data/copy"}}});
  ASSERT_EQ(Call("PATCH", cm, small, type).status, 200);
  EXPECT_EQ(Body(Call("GET", cm))["data"]["copy"], std::string(1000, 'x'));

  // Each copy of /data into itself doubles it: 2 KB, 4 KB... past 3 MiB
  // at the 11th (12 here, so that without the limit the object stays 8 MB).
  json doubling = json::array();
  for (int i = 0; i < 12; ++i)
    doubling.push_back(
        {{"op", "copy"}, {"from", "/data"}, {"path", "/data/k" + std::to_string(i)}});
  HttpResponse grown = Call("PATCH", cm, doubling, type);
  EXPECT_EQ(grown.status, 422);
  EXPECT_THAT(Body(grown)["message"].get<std::string>(),
              HasSubstr("the accumulated size increase of copy is"));
  EXPECT_FALSE(Body(Call("GET", cm))["data"].contains("k0"));  // nothing of it was kept

  json many = json::array();
  for (int i = 0; i < 10001; ++i)
    many.push_back({{"op", "test"}, {"path", "/metadata/name"}, {"value", "c"}});
  HttpResponse too_many = Call("PATCH", cm, many, type);
  EXPECT_EQ(too_many.status, 413);
  EXPECT_EQ(Body(too_many)["message"],
            "The allowed maximum operations in a JSON patch is 10000, got 10001");
  many.erase(many.begin());
  EXPECT_EQ(Call("PATCH", cm, many, type).status, 200);
}

// A ConfigMap's or Secret's values may total 1 MiB (binaryData and a
// Secret's data counted decoded), as the API server validates them: what
// passes here passes there.
TEST_F(FakeClusterTest, ConfigMapsAndSecretsHoldAtMostOneMebibyte) {
  const std::string cms = "/api/v1/namespaces/default/configmaps";
  const size_t mib = 1 << 20;
  json full = {{"metadata", {{"name", "full"}}},
               {"data", {{"a", std::string(mib - 3, 'x')}}},
               {"binaryData", {{"b", Base64Encode("abc")}}}};
  EXPECT_EQ(Call("POST", cms, full).status, 201);
  json over = full;
  over["metadata"]["name"] = "over";
  over["binaryData"]["b"] = Base64Encode("abcd");
  HttpResponse refused = Call("POST", cms, over);
  EXPECT_EQ(refused.status, 422);
  EXPECT_EQ(Body(refused)["message"],
            "ConfigMap \"over\" is invalid: []: Too long: must have at most 1048576 bytes");
  // An update that grows it past the limit is refused too.
  HttpResponse grown =
      Call("PATCH", cms + "/full", {{"data", {{"c", "y"}}}}, "application/merge-patch+json");
  EXPECT_EQ(grown.status, 422);

  const std::string secrets = "/api/v1/namespaces/default/secrets";
  json secret = {{"metadata", {{"name", "s"}}}, {"stringData", {{"k", std::string(mib, 'x')}}}};
  EXPECT_EQ(Call("POST", secrets, secret).status, 201);  // 1 MiB once decoded
  secret["metadata"]["name"] = "t";
  secret["stringData"]["k2"] = "y";
  HttpResponse big = Call("POST", secrets, secret);
  EXPECT_EQ(big.status, 422);
  EXPECT_EQ(Body(big)["message"],
            "Secret \"t\" is invalid: data: Too long: must have at most 1048576 bytes");
  // Past 3 MiB the body is not read at all, as on the API server.
  json huge = {{"metadata", {{"name", "huge"}}}, {"data", {{"a", std::string(3 << 20, 'x')}}}};
  HttpResponse too_large = Call("POST", cms, huge);
  EXPECT_EQ(too_large.status, 413);
  EXPECT_EQ(Body(too_large)["message"], "Request entity too large: limit is 3145728");
}

// Labels and annotations are checked as the API server checks them, on
// every kind (labels on a Job's pod template too): what the fake takes, a
// cluster takes.
TEST_F(FakeClusterTest, LabelsAndAnnotationsAreCheckedAsOnTheApiServer) {
  const std::string cms = "/api/v1/namespaces/default/configmaps";
  auto labelled = [&](const std::string& name, const json& labels) {
    return Call("POST", cms, {{"metadata", {{"name", name}, {"labels", labels}}}});
  };
  EXPECT_EQ(labelled("ok", {{"app", "x"}, {"example.com/tier", ""}, {"a.b_c-d", "V.1"}}).status,
            201);
  auto message = [&](const json& labels) {
    HttpResponse r = labelled("bad", labels);
    EXPECT_EQ(r.status, 422) << labels.dump();
    return Body(r)["message"].get<std::string>();
  };
  EXPECT_EQ(message({{"a", "has space"}}),
            "ConfigMap \"bad\" is invalid: metadata.labels: Invalid value: \"has space\": a valid "
            "label must be an empty string or consist of alphanumeric characters, '-', '_' or "
            "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
            "'my_value',  or '12345', regex used for validation is "
            "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')");
  EXPECT_THAT(message({{"a", std::string(64, 'x')}}),
              HasSubstr("must be no more than 63 characters"));
  EXPECT_THAT(message({{"bad key!", "v"}}),
              HasSubstr("Invalid value: \"bad key!\": name part must consist of"));
  EXPECT_THAT(message({{"/x", "v"}}), HasSubstr("prefix part must be non-empty"));
  EXPECT_THAT(message({{"Example.com/x", "v"}}), HasSubstr("prefix part a lowercase RFC 1123"));
  EXPECT_THAT(message({{"-a", "b-"}}), HasSubstr("[metadata.labels: Invalid value: \"-a\""));
  // Annotations: keys as labels' (in any case), 256 KiB in all.
  auto annotated = [&](const json& annotations, const std::string& name = "note") {
    return Call("POST", cms, {{"metadata", {{"name", name}, {"annotations", annotations}}}});
  };
  EXPECT_EQ(annotated({{"Example.com/Why", std::string(1000, ' ')}}, "noted").status, 201);
  HttpResponse bad_key = annotated({{"a b", "v"}});
  EXPECT_EQ(bad_key.status, 422);
  EXPECT_THAT(Body(bad_key)["message"].get<std::string>(),
              HasSubstr("metadata.annotations: Invalid value: \"a b\": name part must consist"));
  HttpResponse big = annotated({{"a", std::string(256 << 10, 'x')}});
  EXPECT_EQ(big.status, 422);
  EXPECT_EQ(Body(big)["message"],
            "ConfigMap \"note\" is invalid: metadata.annotations: Too long: must have at most "
            "262144 bytes");

  json job = {
      {"metadata", {{"name", "j"}}},
      {"spec",
       {{"template",
         {{"metadata", {{"labels", {{"team", "a b"}}}}},
          {"spec",
           {{"restartPolicy", "Never"}, {"containers", {{{"name", "c"}, {"image", "x"}}}}}}}}}}};
  HttpResponse refused = Call("POST", "/apis/batch/v1/namespaces/default/jobs", job);
  EXPECT_EQ(refused.status, 422);
  EXPECT_THAT(Body(refused)["message"].get<std::string>(),
              HasSubstr("spec.template.metadata.labels: Invalid value: \"a b\""));
}

TEST_F(FakeClusterTest, StrategicMergePatch) {
  json pod = json::parse(R"({"metadata": {"name": "two"}, "spec": {"containers": [
      {"name": "a", "image": "x:1", "command": ["sleep", "1"]},
      {"name": "b", "image": "x:1", "command": ["sleep", "2"]}]}})");
  ASSERT_EQ(Call("POST", "/api/v1/namespaces/default/pods", pod).status, 201);
  const std::string smp = "application/strategic-merge-patch+json";
  json patch =
      json::parse(R"({"spec": {"$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
                               "containers": [{"name": "b", "image": "x:2"}]}})");
  HttpResponse patched = Call("PATCH", "/api/v1/namespaces/default/pods/two", patch, smp);
  ASSERT_EQ(patched.status, 200) << patched.body;
  json containers = Body(patched)["spec"]["containers"];
  ASSERT_EQ(containers.size(), 2u);
  EXPECT_EQ(containers[0]["image"], "x:1");
  EXPECT_EQ(containers[1]["image"], "x:2");
  EXPECT_EQ(containers[1]["command"], json::parse(R"(["sleep", "2"])"));
  EXPECT_FALSE(Body(patched)["spec"].contains("$setElementOrder/containers"));
  // As the API server: a patch that does not fit is a 500 without a reason,
  // a malformed one a 400.
  HttpResponse unfit = Call("PATCH", "/api/v1/namespaces/default/pods/two",
                            json::parse(R"({"spec": {"containers": [{"image": "y"}]}})"), smp);
  EXPECT_EQ(unfit.status, 500);
  EXPECT_EQ(Body(unfit)["reason"], "");
  EXPECT_THAT(Body(unfit)["message"].get<std::string>(),
              HasSubstr("does not contain declared merge key: name"));
  HttpResponse malformed = Call("PATCH", "/api/v1/namespaces/default/pods/two",
                                json::parse(R"({"spec": {"$retainKeys": 1}})"), smp);
  EXPECT_EQ(malformed.status, 400);
  EXPECT_EQ(Body(malformed)["reason"], "BadRequest");
}

}  // namespace
}  // namespace portflow::fake
