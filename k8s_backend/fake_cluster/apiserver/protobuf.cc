#include "k8s_backend/fake_cluster/apiserver/protobuf.h"

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "core/base64.h"
#include "core/k8s_time.h"
#include "core/utf8.h"

namespace portflow::fake {
namespace {

// How a field's value becomes JSON.
enum class Type {
  kString,
  kBytes,  // base64 string, as Go's encoding/json writes []byte
  kInt,    // int32 or int64 varint
  kBool,
  kMessage,      // a nested object
  kInline,       // an embedded Go struct: its fields join the parent's
  kStringMap,    // map<string,string>
  kBytesMap,     // map<string,bytes>
  kQuantityMap,  // map<string,resource.Quantity>
  kQuantity,     // resource.Quantity {string = 1}: a JSON string
  kTime,         // metav1.Time {seconds = 1, nanos = 2}: RFC 3339, empty = unset
  kIntOrString,  // intstr.IntOrString {type = 1, intVal = 2, strVal = 3}
};

struct Message;

struct Field {
  int number;
  std::string_view name;
  Type type;
  const Message* message = nullptr;  // kMessage and kInline
  bool repeated = false;
  // A Go pointer: written only when set, so a zero value is meant and kept.
  // Plain fields are always written and dropped when zero, as omitempty does.
  bool pointer = false;
};

struct Message {
  std::string_view name;
  std::vector<Field> fields;

  const Field* Find(int number) const {
    for (const Field& f : fields) {
      if (f.number == number) return &f;
    }
    return nullptr;
  }
};

// Shorthands for the schema below.
Field Str(int n, std::string_view name) { return {n, name, Type::kString}; }
Field StrP(int n, std::string_view name) { return {n, name, Type::kString, nullptr, false, true}; }
Field Strs(int n, std::string_view name) { return {n, name, Type::kString, nullptr, true}; }
Field Int(int n, std::string_view name) { return {n, name, Type::kInt}; }
Field IntP(int n, std::string_view name) { return {n, name, Type::kInt, nullptr, false, true}; }
Field Ints(int n, std::string_view name) { return {n, name, Type::kInt, nullptr, true}; }
Field Bool(int n, std::string_view name) { return {n, name, Type::kBool}; }
Field BoolP(int n, std::string_view name) { return {n, name, Type::kBool, nullptr, false, true}; }
Field Msg(int n, std::string_view name, const Message& m) { return {n, name, Type::kMessage, &m}; }
Field Msgs(int n, std::string_view name, const Message& m) {
  return {n, name, Type::kMessage, &m, true};
}
Field Inline(int n, const Message& m) { return {n, "", Type::kInline, &m}; }
Field Of(int n, std::string_view name, Type t) { return {n, name, t}; }

// --- The schema: k8s.io/api and apimachinery 1.32, generated.proto -------

const Message kTypeMeta{"TypeMeta", {Str(1, "apiVersion"), Str(2, "kind")}};

const Message kOwnerReference{"OwnerReference",
                              {Str(1, "kind"), Str(3, "name"), Str(4, "uid"), Str(5, "apiVersion"),
                               BoolP(6, "controller"), BoolP(7, "blockOwnerDeletion")}};
const Message kObjectMeta{
    "ObjectMeta",
    {Str(1, "name"), Str(2, "generateName"), Str(3, "namespace"), Str(4, "selfLink"), Str(5, "uid"),
     Str(6, "resourceVersion"), Int(7, "generation"), Of(8, "creationTimestamp", Type::kTime),
     Of(9, "deletionTimestamp", Type::kTime), IntP(10, "deletionGracePeriodSeconds"),
     Of(11, "labels", Type::kStringMap), Of(12, "annotations", Type::kStringMap),
     Msgs(13, "ownerReferences", kOwnerReference), Strs(14, "finalizers")}};
const Message kLabelSelectorRequirement{"LabelSelectorRequirement",
                                        {Str(1, "key"), Str(2, "operator"), Strs(3, "values")}};
const Message kLabelSelector{"LabelSelector",
                             {Of(1, "matchLabels", Type::kStringMap),
                              Msgs(2, "matchExpressions", kLabelSelectorRequirement)}};

const Message kEmpty{"Status", {}};  // a status as clients send it on create
const Message kNamespaceSpec{"NamespaceSpec", {Strs(1, "finalizers")}};
const Message kNamespaceStatus{"NamespaceStatus", {Str(1, "phase")}};
const Message kNamespace{"Namespace",
                         {Msg(1, "metadata", kObjectMeta), Msg(2, "spec", kNamespaceSpec),
                          Msg(3, "status", kNamespaceStatus)}};
const Message kConfigMap{"ConfigMap",
                         {Msg(1, "metadata", kObjectMeta), Of(2, "data", Type::kStringMap),
                          Of(3, "binaryData", Type::kBytesMap), BoolP(4, "immutable")}};
const Message kSecret{
    "Secret",
    {Msg(1, "metadata", kObjectMeta), Of(2, "data", Type::kBytesMap), Str(3, "type"),
     Of(4, "stringData", Type::kStringMap), BoolP(5, "immutable")}};

const Message kServicePort{
    "ServicePort",
    {Str(1, "name"), Str(2, "protocol"), Int(3, "port"), Of(4, "targetPort", Type::kIntOrString),
     Int(5, "nodePort"), StrP(6, "appProtocol")}};
const Message kServiceSpec{
    "ServiceSpec",
    {Msgs(1, "ports", kServicePort), Of(2, "selector", Type::kStringMap), Str(3, "clusterIP"),
     Str(4, "type"), Strs(5, "externalIPs"), Str(7, "sessionAffinity"), Str(8, "loadBalancerIP"),
     Strs(9, "loadBalancerSourceRanges"), Str(10, "externalName"), Str(11, "externalTrafficPolicy"),
     Int(12, "healthCheckNodePort"), Bool(13, "publishNotReadyAddresses"),
     StrP(17, "ipFamilyPolicy"), Strs(18, "clusterIPs"), Strs(19, "ipFamilies"),
     BoolP(20, "allocateLoadBalancerNodePorts"), StrP(21, "loadBalancerClass"),
     StrP(22, "internalTrafficPolicy"), StrP(23, "trafficDistribution")}};
const Message kLoadBalancerStatus{"LoadBalancerStatus", {}};
const Message kServiceStatus{"ServiceStatus", {Msg(1, "loadBalancer", kLoadBalancerStatus)}};
const Message kService{"Service",
                       {Msg(1, "metadata", kObjectMeta), Msg(2, "spec", kServiceSpec),
                        Msg(3, "status", kServiceStatus)}};

const Message kLocalObjectReference{"LocalObjectReference", {Str(1, "name")}};
const Message kObjectFieldSelector{"ObjectFieldSelector",
                                   {Str(1, "apiVersion"), Str(2, "fieldPath")}};
const Message kResourceFieldSelector{
    "ResourceFieldSelector",
    {Str(1, "containerName"), Str(2, "resource"), Of(3, "divisor", Type::kQuantity)}};
const Message kKeySelector{"KeySelector",  // ConfigMapKeySelector and SecretKeySelector
                           {Inline(1, kLocalObjectReference), Str(2, "key"), BoolP(3, "optional")}};
const Message kEnvVarSource{
    "EnvVarSource",
    {Msg(1, "fieldRef", kObjectFieldSelector), Msg(2, "resourceFieldRef", kResourceFieldSelector),
     Msg(3, "configMapKeyRef", kKeySelector), Msg(4, "secretKeyRef", kKeySelector)}};
const Message kEnvVar{"EnvVar",
                      {Str(1, "name"), Str(2, "value"), Msg(3, "valueFrom", kEnvVarSource)}};
const Message kEnvSource{"EnvSource",  // ConfigMapEnvSource and SecretEnvSource
                         {Inline(1, kLocalObjectReference), BoolP(2, "optional")}};
const Message kEnvFromSource{
    "EnvFromSource",
    {Str(1, "prefix"), Msg(2, "configMapRef", kEnvSource), Msg(3, "secretRef", kEnvSource)}};
const Message kContainerPort{"ContainerPort",
                             {Str(1, "name"), Int(2, "hostPort"), Int(3, "containerPort"),
                              Str(4, "protocol"), Str(5, "hostIP")}};
const Message kResourceRequirements{
    "ResourceRequirements",
    {Of(1, "limits", Type::kQuantityMap), Of(2, "requests", Type::kQuantityMap)}};
const Message kVolumeMount{
    "VolumeMount",
    {Str(1, "name"), Bool(2, "readOnly"), Str(3, "mountPath"), Str(4, "subPath"),
     StrP(5, "mountPropagation"), Str(6, "subPathExpr"), StrP(7, "recursiveReadOnly")}};
const Message kContainer{
    "Container",
    {Str(1, "name"), Str(2, "image"), Strs(3, "command"), Strs(4, "args"), Str(5, "workingDir"),
     Msgs(6, "ports", kContainerPort), Msgs(7, "env", kEnvVar),
     Msg(8, "resources", kResourceRequirements), Msgs(9, "volumeMounts", kVolumeMount),
     Str(13, "terminationMessagePath"), Str(14, "imagePullPolicy"), Bool(16, "stdin"),
     Bool(17, "stdinOnce"), Bool(18, "tty"), Msgs(19, "envFrom", kEnvFromSource),
     Str(20, "terminationMessagePolicy"), StrP(24, "restartPolicy")}};

const Message kKeyToPath{"KeyToPath", {Str(1, "key"), Str(2, "path"), IntP(3, "mode")}};
const Message kHostPath{"HostPathVolumeSource", {Str(1, "path"), StrP(2, "type")}};
const Message kEmptyDir{
    "EmptyDirVolumeSource",
    {Str(1, "medium"), {2, "sizeLimit", Type::kQuantity, nullptr, false, true}}};
const Message kSecretVolume{"SecretVolumeSource",
                            {Str(1, "secretName"), Msgs(2, "items", kKeyToPath),
                             IntP(3, "defaultMode"), BoolP(4, "optional")}};
const Message kClaimVolume{"PersistentVolumeClaimVolumeSource",
                           {Str(1, "claimName"), Bool(2, "readOnly")}};
const Message kConfigMapVolume{"ConfigMapVolumeSource",
                               {Inline(1, kLocalObjectReference), Msgs(2, "items", kKeyToPath),
                                IntP(3, "defaultMode"), BoolP(4, "optional")}};
const Message kVolumeSource{
    "VolumeSource",
    {Msg(1, "hostPath", kHostPath), Msg(2, "emptyDir", kEmptyDir), Msg(6, "secret", kSecretVolume),
     Msg(10, "persistentVolumeClaim", kClaimVolume), Msg(19, "configMap", kConfigMapVolume)}};
const Message kVolume{"Volume", {Str(1, "name"), Inline(2, kVolumeSource)}};
const Message kToleration{"Toleration",
                          {Str(1, "key"), Str(2, "operator"), Str(3, "value"), Str(4, "effect"),
                           IntP(5, "tolerationSeconds")}};
const Message kPodSecurityContext{
    "PodSecurityContext",
    {IntP(2, "runAsUser"), BoolP(3, "runAsNonRoot"), Ints(4, "supplementalGroups"),
     IntP(5, "fsGroup"), IntP(6, "runAsGroup")}};
const Message kNodeSelectorRequirement{"NodeSelectorRequirement",
                                       {Str(1, "key"), Str(2, "operator"), Strs(3, "values")}};
const Message kNodeSelectorTerm{"NodeSelectorTerm",
                                {Msgs(1, "matchExpressions", kNodeSelectorRequirement),
                                 Msgs(2, "matchFields", kNodeSelectorRequirement)}};
const Message kNodeSelector{"NodeSelector", {Msgs(1, "nodeSelectorTerms", kNodeSelectorTerm)}};
const Message kNodeAffinity{
    "NodeAffinity", {Msg(1, "requiredDuringSchedulingIgnoredDuringExecution", kNodeSelector)}};
const Message kAffinity{"Affinity", {Msg(1, "nodeAffinity", kNodeAffinity)}};
const Message kPodSpec{"PodSpec",
                       {Msgs(1, "volumes", kVolume),
                        Msgs(2, "containers", kContainer),
                        Str(3, "restartPolicy"),
                        IntP(4, "terminationGracePeriodSeconds"),
                        IntP(5, "activeDeadlineSeconds"),
                        Str(6, "dnsPolicy"),
                        Of(7, "nodeSelector", Type::kStringMap),
                        Str(8, "serviceAccountName"),
                        Str(9, "serviceAccount"),
                        Str(10, "nodeName"),
                        Bool(11, "hostNetwork"),
                        Bool(12, "hostPID"),
                        Bool(13, "hostIPC"),
                        Msg(14, "securityContext", kPodSecurityContext),
                        Msgs(15, "imagePullSecrets", kLocalObjectReference),
                        Str(16, "hostname"),
                        Str(17, "subdomain"),
                        Msg(18, "affinity", kAffinity),
                        Str(19, "schedulerName"),
                        Msgs(20, "initContainers", kContainer),
                        BoolP(21, "automountServiceAccountToken"),
                        Msgs(22, "tolerations", kToleration),
                        Str(24, "priorityClassName"),
                        IntP(25, "priority"),
                        BoolP(27, "shareProcessNamespace"),
                        StrP(29, "runtimeClassName"),
                        BoolP(30, "enableServiceLinks"),
                        StrP(31, "preemptionPolicy"),
                        BoolP(35, "setHostnameAsFQDN"),
                        BoolP(37, "hostUsers")}};
const Message kPod{
    "Pod", {Msg(1, "metadata", kObjectMeta), Msg(2, "spec", kPodSpec), Msg(3, "status", kEmpty)}};
const Message kPodTemplateSpec{"PodTemplateSpec",
                               {Msg(1, "metadata", kObjectMeta), Msg(2, "spec", kPodSpec)}};

const Message kOnExitCodes{"PodFailurePolicyOnExitCodesRequirement",
                           {StrP(1, "containerName"), Str(2, "operator"), Ints(3, "values")}};
const Message kOnPodConditions{"PodFailurePolicyOnPodConditionsPattern",
                               {Str(1, "type"), Str(2, "status")}};
const Message kPodFailurePolicyRule{"PodFailurePolicyRule",
                                    {Str(1, "action"), Msg(2, "onExitCodes", kOnExitCodes),
                                     Msgs(3, "onPodConditions", kOnPodConditions)}};
const Message kPodFailurePolicy{"PodFailurePolicy", {Msgs(1, "rules", kPodFailurePolicyRule)}};
const Message kSuccessPolicyRule{"SuccessPolicyRule",
                                 {StrP(1, "succeededIndexes"), IntP(2, "succeededCount")}};
const Message kSuccessPolicy{"SuccessPolicy", {Msgs(1, "rules", kSuccessPolicyRule)}};
const Message kJobSpec{
    "JobSpec",
    {IntP(1, "parallelism"), IntP(2, "completions"), IntP(3, "activeDeadlineSeconds"),
     Msg(4, "selector", kLabelSelector), BoolP(5, "manualSelector"),
     Msg(6, "template", kPodTemplateSpec), IntP(7, "backoffLimit"),
     IntP(8, "ttlSecondsAfterFinished"), StrP(9, "completionMode"), BoolP(10, "suspend"),
     Msg(11, "podFailurePolicy", kPodFailurePolicy), IntP(12, "backoffLimitPerIndex"),
     IntP(13, "maxFailedIndexes"), StrP(14, "podReplacementPolicy"), StrP(15, "managedBy"),
     Msg(16, "successPolicy", kSuccessPolicy)}};
// On create a client sends the zero JobStatus: counts of 0, no conditions.
const Message kJobStatus{
    "JobStatus",
    {Int(4, "active"), Int(5, "succeeded"), Int(6, "failed"), Str(7, "completedIndexes")}};
const Message kJob{
    "Job",
    {Msg(1, "metadata", kObjectMeta), Msg(2, "spec", kJobSpec), Msg(3, "status", kJobStatus)}};

// kubectl create quota: hard and scopes (scopeSelector is not in the table).
const Message kResourceQuotaSpec{"ResourceQuotaSpec",
                                 {Of(1, "hard", Type::kQuantityMap), Strs(2, "scopes")}};
const Message kResourceQuotaStatus{
    "ResourceQuotaStatus", {Of(1, "hard", Type::kQuantityMap), Of(2, "used", Type::kQuantityMap)}};
const Message kResourceQuota{"ResourceQuota",
                             {Msg(1, "metadata", kObjectMeta), Msg(2, "spec", kResourceQuotaSpec),
                              Msg(3, "status", kResourceQuotaStatus)}};

struct TopLevel {
  std::string_view api_version;
  std::string_view kind;
  const Message* message;
};
const TopLevel kTopLevel[] = {
    {"v1", "Namespace", &kNamespace},
    {"v1", "ConfigMap", &kConfigMap},
    {"v1", "Secret", &kSecret},
    {"v1", "Service", &kService},
    {"v1", "Pod", &kPod},
    {"v1", "ResourceQuota", &kResourceQuota},
    {"batch/v1", "Job", &kJob},
};

// --- The wire format -----------------------------------------------------

class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  bool done() const { return at_ >= data_.size(); }

  bool Varint(uint64_t* out) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64 && at_ < data_.size(); shift += 7) {
      uint8_t b = static_cast<uint8_t>(data_[at_++]);
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) {
        *out = v;
        return true;
      }
    }
    return false;
  }
  bool Bytes(std::string_view* out) {
    uint64_t n = 0;
    if (!Varint(&n) || n > data_.size() - at_) return false;
    *out = data_.substr(at_, n);
    at_ += n;
    return true;
  }
  bool Skip(size_t n) {
    if (n > data_.size() - at_) return false;
    at_ += n;
    return true;
  }

 private:
  std::string_view data_;
  size_t at_ = 0;
};

enum Wire { kVarint = 0, kFixed64 = 1, kDelimited = 2, kFixed32 = 5 };

Status Malformed(std::string_view message) {
  return InvalidArgument("the protobuf body is malformed: " + std::string(message));
}

Result<json> DecodeMessage(const Message& m, std::string_view data);

// A map entry {key = 1, value = 2}; `value` is the raw bytes of field 2.
Status MapEntry(std::string_view data, std::string* key, std::string_view* value) {
  Reader r(data);
  while (!r.done()) {
    uint64_t tag = 0;
    std::string_view bytes;
    if (!r.Varint(&tag) || (tag & 7) != kDelimited || !r.Bytes(&bytes))
      return Malformed("bad map entry");
    if ((tag >> 3) == 1) *key = std::string(bytes);
    if ((tag >> 3) == 2) *value = bytes;
  }
  return OkStatus();
}

// The one string field (number 1) of a resource.Quantity.
Result<std::string> Quantity(std::string_view data) {
  std::string key;  // field 1 read as a "key"
  std::string_view unused;
  RETURN_IF_ERROR(MapEntry(data, &key, &unused));
  return ToValidUtf8(key);
}

Result<json> DecodeValue(const Field& f, Reader& r, int wire) {
  auto expect = [&](int want) -> Status {
    if (wire == want) return OkStatus();
    return Malformed(std::string(f.name) + " has wire type " + std::to_string(wire));
  };
  if (f.type == Type::kInt || f.type == Type::kBool) {
    RETURN_IF_ERROR(expect(kVarint));
    uint64_t v = 0;
    if (!r.Varint(&v)) return Malformed("truncated varint");
    if (f.type == Type::kBool) return json(v != 0);
    return json(static_cast<int64_t>(v));
  }
  RETURN_IF_ERROR(expect(kDelimited));
  std::string_view bytes;
  if (!r.Bytes(&bytes)) return Malformed("truncated field " + std::string(f.name));
  switch (f.type) {
    case Type::kString:
      return json(ToValidUtf8(bytes));  // Go strings may hold any bytes
    case Type::kBytes:
      return json(Base64Encode(std::string(bytes)));
    case Type::kMessage:
    case Type::kInline:
      return DecodeMessage(*f.message, bytes);
    case Type::kQuantity: {
      ASSIGN_OR_RETURN(std::string q, Quantity(bytes));
      return json(q);
    }
    case Type::kTime: {
      if (bytes.empty()) return json();  // the zero time: unset
      Reader t(bytes);
      int64_t seconds = 0;
      while (!t.done()) {
        uint64_t tag = 0, v = 0;
        if (!t.Varint(&tag) || (tag & 7) != kVarint || !t.Varint(&v))
          return Malformed("bad timestamp");
        if ((tag >> 3) == 1) seconds = static_cast<int64_t>(v);
      }
      return json(K8sTime(TimePoint(std::chrono::seconds(seconds))));
    }
    case Type::kIntOrString: {
      Reader t(bytes);
      uint64_t kind = 0, int_val = 0;
      std::string str_val;
      while (!t.done()) {
        uint64_t tag = 0;
        if (!t.Varint(&tag)) return Malformed("bad IntOrString");
        if ((tag & 7) == kVarint) {
          uint64_t v = 0;
          if (!t.Varint(&v)) return Malformed("bad IntOrString");
          ((tag >> 3) == 1 ? kind : int_val) = v;
        } else {
          std::string_view s;
          if ((tag & 7) != kDelimited || !t.Bytes(&s)) return Malformed("bad IntOrString");
          str_val = ToValidUtf8(s);
        }
      }
      if (kind == 1) return json(str_val);
      return json(static_cast<int32_t>(int_val));
    }
    default:
      return Malformed("unexpected field type");
  }
}

bool IsZero(const json& v) {
  return (v.is_string() && v.get_ref<const std::string&>().empty()) ||
         (v.is_number_integer() && v.get<int64_t>() == 0) || (v.is_boolean() && !v.get<bool>());
}

Result<json> DecodeMessage(const Message& m, std::string_view data) {
  json out = json::object();
  Reader r(data);
  while (!r.done()) {
    uint64_t tag = 0;
    if (!r.Varint(&tag)) return Malformed("truncated tag in " + std::string(m.name));
    int number = static_cast<int>(tag >> 3);
    int wire = static_cast<int>(tag & 7);
    const Field* f = m.Find(number);
    if (!f) {
      return Unimplemented("field " + std::to_string(number) + " of " + std::string(m.name) +
                           " is not supported by the fake cluster's protobuf decoder; send JSON");
    }
    std::string name(f->name);
    if (f->type == Type::kStringMap || f->type == Type::kBytesMap ||
        f->type == Type::kQuantityMap) {
      std::string_view entry;
      if (wire != kDelimited || !r.Bytes(&entry)) return Malformed("bad map " + name);
      std::string key;
      std::string_view value;
      RETURN_IF_ERROR(MapEntry(entry, &key, &value));
      json& map = out[name];
      key = ToValidUtf8(key);
      if (f->type == Type::kStringMap) {
        map[key] = ToValidUtf8(value);
      } else if (f->type == Type::kBytesMap) {
        map[key] = Base64Encode(std::string(value));
      } else {
        ASSIGN_OR_RETURN(map[key], Quantity(value));
      }
      continue;
    }
    if (f->repeated && wire == kDelimited && f->type == Type::kInt) {
      std::string_view packed;  // proto3-style packed ints, accepted too
      if (!r.Bytes(&packed)) return Malformed("bad packed " + name);
      Reader p(packed);
      while (!p.done()) {
        uint64_t v = 0;
        if (!p.Varint(&v)) return Malformed("bad packed " + name);
        out[name].push_back(static_cast<int64_t>(v));
      }
      continue;
    }
    ASSIGN_OR_RETURN(json value, DecodeValue(*f, r, wire));
    if (f->type == Type::kInline) {
      for (auto& [k, v] : value.items()) out[k] = std::move(v);
    } else if (f->repeated) {
      out[name].push_back(std::move(value));
    } else if (value.is_null() || (!f->pointer && IsZero(value))) {
      continue;  // omitempty
    } else {
      out[name] = std::move(value);
    }
  }
  return out;
}

}  // namespace

Result<json> DecodeProtobuf(std::string_view body) {
  constexpr std::string_view kMagic("k8s\0", 4);
  if (body.substr(0, 4) != kMagic) return Malformed("it does not start with \"k8s\\0\"");
  // runtime.Unknown: typeMeta = 1, raw = 2, contentEncoding = 3, contentType = 4.
  json type = json::object();
  std::string_view raw;
  Reader r(body.substr(4));
  while (!r.done()) {
    uint64_t tag = 0;
    std::string_view bytes;
    if (!r.Varint(&tag) || (tag & 7) != kDelimited || !r.Bytes(&bytes))
      return Malformed("bad envelope");
    if ((tag >> 3) == 1) {
      ASSIGN_OR_RETURN(type, DecodeMessage(kTypeMeta, bytes));
    } else if ((tag >> 3) == 2) {
      raw = bytes;
    } else if ((tag >> 3) == 3 && !bytes.empty()) {
      return Unimplemented("protobuf bodies with a contentEncoding are not supported");
    }
  }
  std::string api_version = type.value("apiVersion", "");
  std::string kind = type.value("kind", "");
  for (const TopLevel& t : kTopLevel) {
    if (t.api_version != api_version || t.kind != kind) continue;
    ASSIGN_OR_RETURN(json object, DecodeMessage(*t.message, raw));
    object["apiVersion"] = api_version;
    object["kind"] = kind;
    return object;
  }
  return Unimplemented("the fake cluster cannot decode " + kind + " (" + api_version +
                       ") from protobuf; send JSON");
}

}  // namespace portflow::fake
