#include "k8s_backend/fake_cluster/apiserver/protobuf.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace portflow::fake {
namespace {

using ::testing::HasSubstr;

// A minimal protobuf writer, to build the bodies client-go would send.
std::string Varint(uint64_t v) {
  std::string out;
  do {
    uint8_t b = v & 0x7f;
    v >>= 7;
    out.push_back(static_cast<char>(v ? b | 0x80 : b));
  } while (v);
  return out;
}
std::string Num(int field, int64_t v) {
  return Varint(static_cast<uint64_t>(field) << 3) + Varint(static_cast<uint64_t>(v));
}
std::string Bytes(int field, const std::string& s) {
  return Varint((static_cast<uint64_t>(field) << 3) | 2) + Varint(s.size()) + s;
}
std::string Entry(int field, const std::string& key, const std::string& value) {
  return Bytes(field, Bytes(1, key) + Bytes(2, value));
}
std::string Envelope(const std::string& api_version, const std::string& kind,
                     const std::string& raw) {
  return std::string("k8s\0", 4) + Bytes(1, Bytes(1, api_version) + Bytes(2, kind)) +
         Bytes(2, raw) + Bytes(3, "") + Bytes(4, "");
}
// ObjectMeta as the gogo marshaller writes it: every plain field, even empty.
std::string Meta(const std::string& name, const std::string& extra = "") {
  return Bytes(1, name) + Bytes(2, "") + Bytes(3, "") + Bytes(4, "") + Bytes(5, "") + Bytes(6, "") +
         Num(7, 0) + Bytes(8, "") + extra;
}

// What `kubectl create job train --image=python:3.12 -- python3 -c 'print(1)'`
// sends: the plain fields of every message written, zero or not.
TEST(Protobuf, DecodesAJobAsKubectlCreateSendsIt) {
  std::string container =
      Bytes(1, "train") + Bytes(2, "python:3.12") + Bytes(3, "python3") + Bytes(3, "-c") +
      Bytes(3, "print(1)") + Bytes(5, "") +
      Bytes(8, Entry(1, "cpu", Bytes(1, "500m")) + Entry(2, "nvidia.com/gpu", Bytes(1, "1"))) +
      Bytes(7, Bytes(1, "A") + Bytes(2, "1")) + Bytes(13, "") + Bytes(14, "") + Num(16, 0) +
      Num(17, 0) + Num(18, 0) + Bytes(20, "");
  std::string pod_spec = Bytes(2, container) + Bytes(3, "Never") + Bytes(6, "") + Bytes(8, "") +
                         Bytes(9, "") + Bytes(10, "") + Num(11, 0) + Num(12, 0) + Num(13, 0) +
                         Bytes(16, "") + Bytes(17, "") + Bytes(19, "") + Bytes(24, "");
  std::string job_spec =
      Num(7, 0) + Bytes(6, Bytes(1, Meta("")) + Bytes(2, pod_spec)) + Bytes(9, "Indexed");
  std::string status = Num(4, 0) + Num(5, 0) + Num(6, 0) + Bytes(7, "");
  std::string raw =
      Bytes(1, Meta("train", Entry(11, "app", "ml"))) + Bytes(2, job_spec) + Bytes(3, status);
  auto job = DecodeProtobuf(Envelope("batch/v1", "Job", raw));
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  json want = json::parse(R"js({
    "apiVersion": "batch/v1", "kind": "Job",
    "metadata": {"name": "train", "labels": {"app": "ml"}},
    "spec": {
      "backoffLimit": 0,
      "completionMode": "Indexed",
      "template": {"metadata": {}, "spec": {
        "restartPolicy": "Never",
        "containers": [{"name": "train", "image": "python:3.12",
                        "command": ["python3", "-c", "print(1)"],
                        "env": [{"name": "A", "value": "1"}],
                        "resources": {"limits": {"cpu": "500m"},
                                      "requests": {"nvidia.com/gpu": "1"}}}]}}},
    "status": {}})js");
  EXPECT_EQ(*job, want) << job->dump(2);
}

TEST(Protobuf, DecodesSecretsServicesAndVolumes) {
  std::string secret = Bytes(1, Meta("s")) + Entry(2, "token", std::string("\0\xff", 2)) +
                       Bytes(3, "Opaque") + Num(5, 1);
  auto s = DecodeProtobuf(Envelope("v1", "Secret", secret));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ((*s)["data"]["token"], "AP8=");
  EXPECT_EQ((*s)["immutable"], true);
  // Go strings may hold any bytes; JSON gets U+FFFD for the invalid ones.
  auto cm =
      DecodeProtobuf(Envelope("v1", "ConfigMap", Bytes(1, Meta("c")) + Entry(2, "k", "a\x8a")));
  ASSERT_TRUE(cm.ok()) << cm.status().ToString();
  EXPECT_EQ((*cm)["data"]["k"], "a\xEF\xBF\xBD");
  EXPECT_NO_THROW(cm->dump());

  // kubectl create service clusterip web --tcp=80:8080, targetPort an int;
  // a second port names its target.
  std::string int_port = Bytes(1, "80-8080") + Bytes(2, "TCP") + Num(3, 80) +
                         Bytes(4, Num(1, 0) + Num(2, 8080) + Bytes(3, "")) + Num(5, 0);
  std::string named_port =
      Bytes(1, "m") + Bytes(2, "TCP") + Num(3, 9090) + Bytes(4, Num(1, 1) + Bytes(3, "metrics"));
  std::string spec = Bytes(1, int_port) + Bytes(1, named_port) + Entry(2, "app", "web") +
                     Bytes(3, "None") + Bytes(4, "ClusterIP");
  auto svc = DecodeProtobuf(
      Envelope("v1", "Service", Bytes(1, Meta("web")) + Bytes(2, spec) + Bytes(3, Bytes(1, ""))));
  ASSERT_TRUE(svc.ok()) << svc.status().ToString();
  EXPECT_EQ((*svc)["spec"]["ports"][0]["targetPort"], 8080);
  EXPECT_EQ((*svc)["spec"]["ports"][1]["targetPort"], "metrics");
  EXPECT_EQ((*svc)["spec"]["clusterIP"], "None");
  EXPECT_EQ((*svc)["spec"]["selector"]["app"], "web");
  EXPECT_EQ((*svc)["status"], json::parse(R"({"loadBalancer": {}})"));

  // Volumes: the source is an embedded struct, so its one field joins the volume.
  std::string volume = Bytes(1, "cfg") + Bytes(2, Bytes(19, Bytes(1, Bytes(1, "settings"))));
  std::string empty_dir = Bytes(1, "scratch") + Bytes(2, Bytes(2, Bytes(1, "")));
  std::string pod_spec = Bytes(1, volume) + Bytes(1, empty_dir) +
                         Bytes(2, Bytes(1, "c") + Bytes(2, "img") +
                                      Bytes(9, Bytes(1, "cfg") + Num(2, 1) + Bytes(3, "/etc/x")));
  auto pod = DecodeProtobuf(Envelope("v1", "Pod", Bytes(1, Meta("p")) + Bytes(2, pod_spec)));
  ASSERT_TRUE(pod.ok()) << pod.status().ToString();
  EXPECT_EQ((*pod)["spec"]["volumes"][0],
            json::parse(R"({"name": "cfg", "configMap": {"name": "settings"}})"));
  EXPECT_EQ((*pod)["spec"]["volumes"][1], json::parse(R"({"name": "scratch", "emptyDir": {}})"));
  EXPECT_EQ((*pod)["spec"]["containers"][0]["volumeMounts"][0],
            json::parse(R"({"name": "cfg", "readOnly": true, "mountPath": "/etc/x"})"));
}

TEST(Protobuf, ErrorsNameWhatIsWrong) {
  // Not protobuf at all.
  auto json_body = DecodeProtobuf(R"({"kind": "Pod"})");
  EXPECT_EQ(json_body.status().code(), StatusCode::kInvalidArgument);
  // Truncated: a length past the end.
  auto cut = DecodeProtobuf(Envelope("v1", "ConfigMap", Bytes(1, Meta("c"))).substr(0, 20));
  EXPECT_EQ(cut.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(cut.status().message(), HasSubstr("malformed"));
  // A field outside the decoder's schema (Container.livenessProbe = 10).
  std::string probe = Bytes(2, Bytes(1, "c") + Bytes(2, "img") + Bytes(10, ""));
  auto unknown = DecodeProtobuf(Envelope("v1", "Pod", Bytes(1, Meta("p")) + Bytes(2, probe)));
  EXPECT_EQ(unknown.status().code(), StatusCode::kUnimplemented);
  EXPECT_THAT(unknown.status().message(), HasSubstr("field 10 of Container"));
  // A kind the fake does not decode.
  auto kind = DecodeProtobuf(Envelope("apps/v1", "Deployment", Bytes(1, Meta("d"))));
  EXPECT_EQ(kind.status().code(), StatusCode::kUnimplemented);
  EXPECT_THAT(kind.status().message(), HasSubstr("Deployment (apps/v1)"));
  // A field with the wrong wire type.
  auto wire = DecodeProtobuf(Envelope("v1", "Namespace", Num(1, 5)));
  EXPECT_EQ(wire.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace portflow::fake
