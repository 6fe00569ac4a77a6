#include "k8s_backend/fake_cluster/store/strategic_merge.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace portflow::fake {
namespace {

using ::testing::HasSubstr;

json Patch(const json& original, const std::string& patch, const std::string& kind = "Pod") {
  auto r = StrategicMergePatch(original, json::parse(patch), kind);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : json();
}

Status PatchError(const json& original, const std::string& patch, const std::string& kind = "Pod") {
  auto r = StrategicMergePatch(original, json::parse(patch), kind);
  EXPECT_FALSE(r.ok()) << r->dump();
  return r.status();
}

// A Job as the API server stores it after `kubectl apply` of two containers.
json TwoContainerJob() {
  return json::parse(R"({
    "metadata": {"name": "train", "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "old"}},
    "spec": {"completions": 1, "template": {"spec": {"restartPolicy": "Never", "containers": [
      {"name": "main", "image": "train:1", "command": ["python3", "train.py"],
       "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
      {"name": "sidecar", "image": "log:1", "command": ["tail", "-f"]}]}}},
    "status": {"active": 1}})");
}

TEST(StrategicMergeTest, ObjectsMergeAndNullDeletes) {
  json pod = {{"metadata", {{"name", "p"}, {"labels", {{"a", "1"}, {"b", "2"}}}}},
              {"spec", {{"nodeSelector", {{"zone", "x"}}}}}};
  json out = Patch(pod, R"({"metadata": {"labels": {"b": null, "c": "3", "gone": null}},
                            "spec": {"nodeSelector": null, "priority": 5}})");
  EXPECT_EQ(out["metadata"], json::parse(R"({"name": "p", "labels": {"a": "1", "c": "3"}})"));
  EXPECT_EQ(out["spec"], json::parse(R"({"priority": 5})"));
  // Nulls inside a new value are dropped, not stored.
  out = Patch(pod, R"({"spec": {"securityContext": {"runAsUser": 1, "fsGroup": null}}})");
  EXPECT_EQ(out["spec"]["securityContext"], json::parse(R"({"runAsUser": 1})"));
}

TEST(StrategicMergeTest, KubectlApplyOfOneImageInATwoContainerJob) {
  // What kubectl 1.32 sends (client-side apply) when sidecar's image changes.
  json out = Patch(TwoContainerJob(), R"({
    "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "new"}},
    "spec": {"template": {"spec": {
      "$setElementOrder/containers": [{"name": "main"}, {"name": "sidecar"}],
      "containers": [{"image": "log:2", "name": "sidecar"}]}}}})",
                   "Job");
  const json& containers = out["spec"]["template"]["spec"]["containers"];
  ASSERT_EQ(containers.size(), 2u) << out.dump(2);
  EXPECT_EQ(containers[0], TwoContainerJob()["spec"]["template"]["spec"]["containers"][0]);
  EXPECT_EQ(containers[1], json::parse(R"({"name": "sidecar", "image": "log:2",
                                           "command": ["tail", "-f"]})"));
  EXPECT_EQ(out["spec"]["template"]["spec"]["restartPolicy"], "Never");
  EXPECT_EQ(out["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"],
            "new");
  EXPECT_FALSE(out["spec"]["template"]["spec"].contains("$setElementOrder/containers"));
}

TEST(StrategicMergeTest, DeleteAnEnvEntry) {
  json out = Patch(TwoContainerJob(), R"({"spec": {"template": {"spec": {"containers": [
      {"name": "main", "env": [{"name": "A", "$patch": "delete"}]}]}}}})",
                   "Job");
  const json& main = out["spec"]["template"]["spec"]["containers"][0];
  EXPECT_EQ(main["env"], json::parse(R"([{"name": "B", "value": "2"}])"));
  EXPECT_EQ(main["command"], json::parse(R"(["python3", "train.py"])"));
  EXPECT_EQ(out["spec"]["template"]["spec"]["containers"].size(), 2u);
}

TEST(StrategicMergeTest, NewItemsComeFirstUnlessOrdered) {
  json pod = {{"spec", {{"containers", {{{"name", "a"}}, {{"name", "b"}}}}}}};
  // As the API server: a patch item the server lacks goes before server-only items.
  json out = Patch(pod, R"({"spec": {"containers": [{"name": "c"}]}})");
  EXPECT_EQ(out["spec"]["containers"],
            json::parse(R"([{"name": "c"}, {"name": "a"}, {"name": "b"}])"));
  out = Patch(
      pod,
      R"({"spec": {"$setElementOrder/containers": [{"name": "a"}, {"name": "b"}, {"name": "c"}],
                                "containers": [{"name": "c"}]}})");
  EXPECT_EQ(out["spec"]["containers"],
            json::parse(R"([{"name": "a"}, {"name": "b"}, {"name": "c"}])"));
  // Reordering alone; a server-only item keeps its place after its neighbour.
  pod["spec"]["containers"].push_back({{"name", "z"}});
  out = Patch(pod, R"({"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]}})");
  EXPECT_EQ(out["spec"]["containers"],
            json::parse(R"([{"name": "b"}, {"name": "a"}, {"name": "z"}])"));
  // The case "set elements order in a list with server-only items 2" of
  // strategicpatch's tests: server-only 9 stays after 1, its neighbour.
  pod = json::parse(R"({"spec": {"containers": [{"name": "1", "other": "a"}, {"name": "2"},
                                                {"name": "9"}, {"name": "3"}, {"name": "4"}]}})");
  out = Patch(pod, R"({"spec": {"$setElementOrder/containers":
                                  [{"name": "2"}, {"name": "1"}, {"name": "4"}, {"name": "3"}]}})");
  EXPECT_EQ(out["spec"]["containers"], json::parse(R"([{"name": "2"}, {"name": "1", "other": "a"},
                                                       {"name": "9"}, {"name": "4"}, {"name": "3"}])"));
}

// Each tagged list merges by its key: the patched item changes, the other stays.
TEST(StrategicMergeTest, ListsMergeByTheirKeys) {
  struct Case {
    std::string kind;
    std::vector<std::string> path;
    std::string key;
  };
  const std::vector<Case> cases = {
      {"Pod", {"spec", "containers"}, "name"},
      {"Pod", {"spec", "initContainers"}, "name"},
      {"Pod", {"spec", "ephemeralContainers"}, "name"},
      {"Pod", {"spec", "volumes"}, "name"},
      {"Pod", {"spec", "imagePullSecrets"}, "name"},
      {"Pod", {"spec", "hostAliases"}, "ip"},
      {"Pod", {"spec", "topologySpreadConstraints"}, "topologyKey"},
      {"Pod", {"spec", "schedulingGates"}, "name"},
      {"Pod", {"spec", "resourceClaims"}, "name"},
      {"Pod", {"spec", "containers", "0", "env"}, "name"},
      {"Pod", {"spec", "containers", "0", "ports"}, "containerPort"},
      {"Pod", {"spec", "containers", "0", "volumeMounts"}, "mountPath"},
      {"Pod", {"spec", "containers", "0", "volumeDevices"}, "devicePath"},
      {"Pod", {"spec", "initContainers", "0", "env"}, "name"},
      {"Pod", {"status", "conditions"}, "type"},
      {"Pod", {"status", "podIPs"}, "ip"},
      {"Pod", {"status", "hostIPs"}, "ip"},
      {"Pod", {"metadata", "ownerReferences"}, "uid"},
      {"Job", {"spec", "template", "spec", "containers"}, "name"},
      {"Job", {"spec", "template", "spec", "containers", "0", "env"}, "name"},
      {"Job", {"spec", "template", "metadata", "ownerReferences"}, "uid"},
      {"Job", {"status", "conditions"}, "type"},
      {"Service", {"spec", "ports"}, "port"},
      {"Service", {"status", "conditions"}, "type"},
      {"Node", {"status", "conditions"}, "type"},
      {"Node", {"status", "addresses"}, "type"},
      {"Namespace", {"status", "conditions"}, "type"},
      {"ConfigMap", {"metadata", "ownerReferences"}, "uid"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.kind + " " + ::testing::PrintToString(c.path));
    // Built twice: the object with items a and b, the patch with b only.
    auto build = [&](const json& list) {
      json root = json::object(), *at = &root;
      for (size_t i = 0; i < c.path.size(); ++i) {
        bool last = i + 1 == c.path.size();
        if (c.path[i] == "0") {
          json item = {{"name", "c0"}};
          (*at) = json::array({item});
          at = &(*at)[0];
          continue;
        }
        at = &(*at)[c.path[i]];
        if (last) *at = list;
      }
      return root;
    };
    json original = build({{{c.key, "a"}, {"x", 1}}, {{c.key, "b"}, {"x", 1}, {"y", 1}}});
    json patch = build({{{c.key, "b"}, {"x", 2}}});
    auto out = StrategicMergePatch(original, patch, c.kind);
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    json expected = build({{{c.key, "a"}, {"x", 1}}, {{c.key, "b"}, {"x", 2}, {"y", 1}}});
    EXPECT_EQ(*out, expected);
  }
}

TEST(StrategicMergeTest, SameFieldNameDifferentKeyByPath) {
  // Service ports merge by port; a container's ports by containerPort.
  json svc = json::parse(R"({"spec": {"ports": [{"port": 80, "targetPort": 8080},
                                                {"port": 443, "targetPort": 8443}]}})");
  json out = Patch(svc, R"({"spec": {"ports": [{"port": 80, "targetPort": 9090}]}})", "Service");
  EXPECT_EQ(out["spec"]["ports"], json::parse(R"([{"port": 80, "targetPort": 9090},
                                                  {"port": 443, "targetPort": 8443}])"));
  // A Job's spec.containers is no pod spec: replaced, not merged.
  json job = json::parse(R"({"spec": {"containers": [{"name": "a"}, {"name": "b"}]}})");
  out = Patch(job, R"({"spec": {"containers": [{"name": "b", "x": 1}]}})", "Job");
  EXPECT_EQ(out["spec"]["containers"], json::parse(R"([{"name": "b", "x": 1}])"));
  // Unknown kinds: objects merge, lists are replaced.
  out = Patch(job, R"({"spec": {"containers": [{"name": "b"}]}})", "Widget");
  EXPECT_EQ(out["spec"]["containers"], json::parse(R"([{"name": "b"}])"));
}

TEST(StrategicMergeTest, UntaggedListsAreReplaced) {
  json pod = json::parse(R"({"spec": {
      "tolerations": [{"key": "a", "operator": "Exists"}, {"key": "b", "operator": "Exists"}],
      "containers": [{"name": "c", "command": ["a", "b"], "args": ["1"],
                      "envFrom": [{"configMapRef": {"name": "x"}}]}]}})");
  json out = Patch(pod, R"({"spec": {"tolerations": [{"key": "b", "operator": "Equal"}],
                            "containers": [{"name": "c", "command": ["z"], "args": [],
                                            "envFrom": [{"secretRef": {"name": "y"}}]}]}})");
  EXPECT_EQ(out["spec"]["tolerations"], json::parse(R"([{"key": "b", "operator": "Equal"}])"));
  EXPECT_EQ(out["spec"]["containers"][0], json::parse(R"({"name": "c", "command": ["z"], "args": [],
                                                         "envFrom": [{"secretRef": {"name": "y"}}]})"));
  // A Node's taints are atomic in k8s.io/api (no patch tags).
  json node = json::parse(R"({"spec": {"taints": [{"key": "a", "effect": "NoSchedule"}]}})");
  out = Patch(node, R"({"spec": {"taints": [{"key": "b", "effect": "NoExecute"}]}})", "Node");
  EXPECT_EQ(out["spec"]["taints"], json::parse(R"([{"key": "b", "effect": "NoExecute"}])"));
}

TEST(StrategicMergeTest, ScalarListsMergeAsSets) {
  json pod = json::parse(R"({"metadata": {"finalizers": ["a", "b"]}})");
  json out = Patch(pod, R"({"metadata": {"finalizers": ["b", "c"]}})");
  EXPECT_EQ(out["metadata"]["finalizers"], json::parse(R"(["a", "b", "c"])"));
  out = Patch(pod, R"({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a", "zz"]}})");
  EXPECT_EQ(out["metadata"]["finalizers"], json::parse(R"(["b"])"));
  // Deletion works on untagged lists too, and not on a list that is not there.
  out = Patch(json::parse(R"({"spec": {"containers": [{"name": "c", "args": ["x", "y"]}]}})"),
              R"({"spec": {"containers": [{"name": "c", "$deleteFromPrimitiveList/args": ["x"]}]},
                  "metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}})");
  EXPECT_EQ(out["spec"]["containers"][0]["args"], json::parse(R"(["y"])"));
  EXPECT_FALSE(out["metadata"].contains("finalizers"));
  json node = json::parse(R"({"spec": {"podCIDRs": ["10.0.0.0/24"]}})");
  out = Patch(node, R"({"spec": {"podCIDRs": ["fd00::/64"]}})", "Node");
  EXPECT_EQ(out["spec"]["podCIDRs"].size(), 2u);
}

TEST(StrategicMergeTest, PatchDirectiveReplaceAndDelete) {
  json pod = json::parse(R"({"metadata": {"labels": {"a": "1", "b": "2"}},
      "spec": {"nodeSelector": {"zone": "x", "disk": "ssd"},
               "containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}})");
  // In an object: replace it, or empty it.
  json out = Patch(pod, R"({"spec": {"nodeSelector": {"$patch": "replace", "gpu": "a100"}},
                            "metadata": {"labels": {"$patch": "delete"}}})");
  EXPECT_EQ(out["spec"]["nodeSelector"], json::parse(R"({"gpu": "a100"})"));
  EXPECT_EQ(out["metadata"]["labels"], json::object());
  // As a list element: the list becomes the patch's other items.
  out = Patch(pod,
              R"({"spec": {"containers": [{"name": "c", "image": "z"}, {"$patch": "replace"}]}})");
  EXPECT_EQ(out["spec"]["containers"], json::parse(R"([{"name": "c", "image": "z"}])"));
  // Deleting a container by name; deleting one that is not there is no error.
  out = Patch(pod, R"({"spec": {"containers": [{"name": "a", "$patch": "delete"},
                                               {"name": "q", "$patch": "delete"}]}})");
  EXPECT_EQ(out["spec"]["containers"], json::parse(R"([{"name": "b", "image": "y"}])"));
  // A new field whose value carries $patch is not added.
  out = Patch(pod, R"({"spec": {"affinity": {"$patch": "delete"}}})");
  EXPECT_FALSE(out["spec"].contains("affinity"));
}

TEST(StrategicMergeTest, RetainKeys) {
  json pod = json::parse(R"({"spec": {"volumes": [{"name": "v", "emptyDir": {}}]}})");
  // kubectl sends $retainKeys for volumes (a union): switching the source
  // drops the old one.
  json out = Patch(pod, R"({"spec": {"volumes": [{"name": "v", "$retainKeys": ["configMap", "name"],
                                                  "configMap": {"name": "cm"}}]}})");
  EXPECT_EQ(out["spec"]["volumes"], json::parse(R"([{"name": "v", "configMap": {"name": "cm"}}])"));
  Status bad = PatchError(pod, R"({"spec": {"$retainKeys": ["volumes"], "hostname": "h"}})");
  EXPECT_EQ(bad.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.message(), "invalid patch format of retainKeys");
  EXPECT_EQ(PatchError(pod, R"({"spec": {"$retainKeys": "volumes"}})").code(),
            StatusCode::kInvalidArgument);
}

TEST(StrategicMergeTest, Errors) {
  json pod =
      json::parse(R"({"spec": {"containers": [{"name": "a"}], "nodeSelector": {"a": "b"}}})");
  Status missing = PatchError(pod, R"({"spec": {"containers": [{"image": "x"}]}})");
  EXPECT_EQ(missing.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(missing.message(), HasSubstr("does not contain declared merge key: name"));
  Status unknown = PatchError(pod, R"({"spec": {"nodeSelector": {"$patch": "bogus"}}})");
  EXPECT_EQ(unknown.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(unknown.message(), HasSubstr("unknown patch type: bogus in map"));
  // "$patch: merge" is the default, and the API server rejects it spelled out.
  EXPECT_THAT(PatchError(pod, R"({"spec": {"nodeSelector": {"$patch": "merge"}}})").message(),
              HasSubstr("unknown patch type: merge"));
  EXPECT_THAT(PatchError(pod, R"({"spec": {"containers": [{"$patch": "merge"}]}})").message(),
              HasSubstr("merging lists cannot yet be specified in the patch"));
  EXPECT_THAT(PatchError(pod, R"({"spec": {"containers": [{"$patch": "bogus"}]}})").message(),
              HasSubstr("unknown patch type: bogus"));
  Status directive = PatchError(pod, R"({"spec": {"$replaceAll": true}})");
  EXPECT_EQ(directive.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(directive.message(), HasSubstr("$replaceAll"));
  EXPECT_EQ(PatchError(pod, R"({"spec": {"$setElementOrder": []}})").message(),
            "invalid patch format of setElementOrder list");
  EXPECT_EQ(PatchError(pod, R"({"spec": {"$deleteFromPrimitiveList": []}})").message(),
            "invalid patch format of primitive list");
  EXPECT_THAT(PatchError(pod, R"({"spec": {"$setElementOrder/containers": [{"name": "b"}],
                                           "containers": [{"name": "a"}]}})")
                  .message(),
              HasSubstr("doesn't match $setElementOrder list"));
  json no_finalizers = json::parse(R"({"metadata": {"finalizers": []}})");
  EXPECT_THAT(PatchError(no_finalizers, R"({"metadata": {"finalizers": [["a"]]}})").message(),
              HasSubstr("lists of lists"));
  json with_finalizers = json::parse(R"({"metadata": {"finalizers": ["a"]}})");
  EXPECT_THAT(PatchError(with_finalizers, R"({"metadata": {"finalizers": [1]}})").message(),
              HasSubstr("list element types are not identical"));
  EXPECT_EQ(PatchError(pod, "[]").code(), StatusCode::kInvalidArgument);
}

TEST(StrategicMergeTest, InputsAreNotChanged) {
  const json job = TwoContainerJob();
  const json patch = json::parse(R"({"spec": {"template": {"spec": {"containers": [
      {"name": "main", "env": [{"name": "A", "$patch": "delete"}]}]}}}})");
  json job_copy = job, patch_copy = patch;
  ASSERT_TRUE(StrategicMergePatch(job, patch, "Job").ok());
  EXPECT_EQ(job, job_copy);
  EXPECT_EQ(patch, patch_copy);
}

}  // namespace
}  // namespace portflow::fake
