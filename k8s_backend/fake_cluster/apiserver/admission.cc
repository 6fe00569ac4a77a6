#include "k8s_backend/fake_cluster/apiserver/admission.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "core/base64.h"
#include "core/json_fields.h"
#include "core/quantity.h"

namespace portflow::fake {
namespace {

bool IsDnsSubdomain(const std::string& s) {
  if (s.empty() || s.size() > 253) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(s.front()) || !alnum(s.back())) return false;
  for (char c : s) {
    if (!alnum(c) && c != '-' && c != '.') return false;
  }
  return true;
}

bool IsDnsLabel(const std::string& s) {
  return s.size() <= 63 && IsDnsSubdomain(s) && s.find('.') == std::string::npos;
}

// A label's name part or value: ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9].
bool IsLabelPart(const std::string& s) {
  auto alnum = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  if (s.empty() || !alnum(s.front()) || !alnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(),
                     [&](char c) { return alnum(c) || c == '-' || c == '_' || c == '.'; });
}

constexpr char kPartRule[] =
    "consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character";

// "Too long" at `field`, as the API server words it for a size past `max`.
Cause TooLong(const std::string& field, size_t max) {
  return {"FieldValueTooLong", field,
          "Too long: must have at most " + std::to_string(max) + " bytes"};
}

// A label's or annotation's key as the API server checks it, a qualified
// name: an optional DNS subdomain prefix and '/', then a name part of at
// most 63 characters. A cause each problem, at `path`.
void ValidateKey(const std::string& key, const std::string& path, std::vector<Cause>& causes) {
  auto invalid = [&](const std::string& why) {
    causes.push_back({"FieldValueInvalid", path, "Invalid value: \"" + key + "\": " + why});
  };
  size_t slash = key.find('/');
  std::string name = slash == std::string::npos ? key : key.substr(slash + 1);
  if (slash != std::string::npos) {
    std::string prefix = key.substr(0, slash);
    if (prefix.empty())
      invalid("prefix part must be non-empty");
    else if (!IsDnsSubdomain(prefix))
      invalid(
          "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
          "characters, '-' or '.', and must start and end with an alphanumeric character (e.g. "
          "'example.com', regex used for validation is "
          "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')");
  }
  if (name.empty()) {
    invalid("name part must be non-empty");
  } else if (name.size() > 63) {
    invalid("name part must be no more than 63 characters");
  } else if (!IsLabelPart(name) || name.find('/') != std::string::npos) {
    invalid(std::string("name part must ") + kPartRule +
            " (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
            "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')");
  }
}

// metadata.labels as the API server checks them: qualified keys, values
// empty or a name part of at most 63 characters; a cause each, worded as
// the API server words them.
void ValidateLabels(const json& labels, const std::string& path, std::vector<Cause>& causes) {
  if (!labels.is_object()) return;
  for (const auto& [key, value] : labels.items()) {
    ValidateKey(key, path, causes);
    if (!value.is_string()) continue;
    const std::string& v = value.get_ref<const std::string&>();
    auto invalid = [&](const std::string& why) {
      causes.push_back({"FieldValueInvalid", path, "Invalid value: \"" + v + "\": " + why});
    };
    if (v.size() > 63) {
      invalid("must be no more than 63 characters");
    } else if (!v.empty() && !IsLabelPart(v)) {
      invalid(std::string("a valid label must be an empty string or ") + kPartRule +
              " (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is "
              "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')");
    }
  }
}

// metadata.annotations: keys qualified names (checked in lower case, as the
// API server does), keys and values at most 256 KiB in all.
void ValidateAnnotations(const json& annotations, std::vector<Cause>& causes) {
  if (!annotations.is_object()) return;
  constexpr size_t kMaxTotal = 256 << 10;
  size_t total = 0;
  for (const auto& [key, value] : annotations.items()) {
    std::string lower = key;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    ValidateKey(lower, "metadata.annotations", causes);
    total += key.size() + (value.is_string() ? value.get_ref<const std::string&>().size() : 0);
  }
  if (total > kMaxTotal) causes.push_back(TooLong("metadata.annotations", kMaxTotal));
}

std::string Quote(const json& v) {
  return v.is_string() ? "\"" + v.get<std::string>() + "\"" : v.dump();
}

void ValidatePodSpec(const json& spec, const std::string& path, bool job,
                     std::vector<Cause>& causes) {
  if (!spec.is_object()) {
    causes.push_back({"FieldValueRequired", path, "Required value"});
    return;
  }
  const json containers = spec.value("containers", json::array());
  if (!containers.is_array() || containers.empty()) {
    causes.push_back({"FieldValueRequired", path + ".containers", "Required value"});
  } else {
    for (size_t i = 0; i < containers.size(); ++i) {
      std::string at = path + ".containers[" + std::to_string(i) + "]";
      const json& c = containers[i];
      std::string name = c.is_object() ? c.value("name", "") : "";
      if (name.empty()) {
        causes.push_back({"FieldValueRequired", at + ".name", "Required value"});
      } else if (!IsDnsLabel(name)) {
        causes.push_back({"FieldValueInvalid", at + ".name",
                          "Invalid value: \"" + name +
                              "\": a lowercase RFC 1123 label must consist of lower case "
                              "alphanumeric characters or '-', and must start and end with an "
                              "alphanumeric character"});
      }
      if (!c.is_object() || c.value("image", "").empty()) {
        causes.push_back({"FieldValueRequired", at + ".image", "Required value"});
      }
    }
  }
  // Volume items put files under the mount: a path must stay below it.
  const json volumes = spec.value("volumes", json::array());
  for (size_t i = 0; volumes.is_array() && i < volumes.size(); ++i) {
    for (const char* source : {"configMap", "secret"}) {
      const json items =
          volumes[i].is_object()
              ? volumes[i].value(source, json::object()).value("items", json::array())
              : json::array();
      for (size_t j = 0; items.is_array() && j < items.size(); ++j) {
        std::string item = items[j].is_object() ? items[j].value("path", "") : "";
        std::string at = path + ".volumes[" + std::to_string(i) + "]." + source + ".items[" +
                         std::to_string(j) + "].path";
        std::string segments = "/" + item + "/";
        if (!item.empty() && item.front() == '/') {
          causes.push_back({"FieldValueInvalid", at,
                            "Invalid value: " + Quote(item) + ": must be a relative path"});
        } else if (segments.find("/../") != std::string::npos) {
          causes.push_back({"FieldValueInvalid", at,
                            "Invalid value: " + Quote(item) + ": must not contain '..'"});
        }
      }
    }
  }
  json policy = spec.value("restartPolicy", json(job ? "" : "Always"));
  if (job) {
    if (policy == "" || policy.is_null()) {
      causes.push_back({"FieldValueRequired", path + ".restartPolicy",
                        "Required value: valid values: \"OnFailure\", \"Never\""});
    } else if (policy != "OnFailure" && policy != "Never") {
      causes.push_back(
          {"FieldValueNotSupported", path + ".restartPolicy",
           "Unsupported value: " + Quote(policy) + ": supported values: \"OnFailure\", \"Never\""});
    }
  } else if (policy != "Always" && policy != "OnFailure" && policy != "Never") {
    causes.push_back({"FieldValueNotSupported", path + ".restartPolicy",
                      "Unsupported value: " + Quote(policy) +
                          ": supported values: \"Always\", \"OnFailure\", \"Never\""});
  }
}

void NonNegative(const json& spec, const char* field, const std::string& path,
                 std::vector<Cause>& causes) {
  if (!spec.contains(field) || spec[field].is_null()) return;
  const json& v = spec[field];
  if (!v.is_number_integer() || v.get<int64_t>() < 0) {
    causes.push_back({"FieldValueInvalid", path + "." + field,
                      "Invalid value: " + v.dump() + ": must be greater than or equal to 0"});
  }
}

void Immutable(const json& current, const json& next, const std::string& field, const char* path,
               std::vector<Cause>& causes) {
  json::json_pointer ptr(path);
  json before = current.contains(ptr) ? current[ptr] : json();
  json after = next.contains(ptr) ? next[ptr] : json();
  if (before != after) {
    causes.push_back(
        {"FieldValueInvalid", field, "Invalid value: " + after.dump() + ": field is immutable"});
  }
}

// The pod spec without what an update may change, to compare the rest.
json PodSpecFixedPart(json spec) {
  if (!spec.is_object()) return spec;
  for (const char* list : {"containers", "initContainers"}) {
    if (!spec.contains(list) || !spec[list].is_array()) continue;
    for (json& c : spec[list]) {
      if (c.is_object()) c.erase("image");
    }
  }
  spec.erase("activeDeadlineSeconds");
  spec.erase("terminationGracePeriodSeconds");
  spec.erase("tolerations");
  return spec;
}

// What the API server fills in a pod spec, a pod's or a template's (of those
// the fake knows: restartPolicy is a pod's alone, a Job's must be given).
void DefaultPodSpec(json& spec) {
  // As the API server: an empty one (or null) is defaulted too.
  if (const json& name = Field(spec, "schedulerName"); name.is_null() || name == "")
    spec["schedulerName"] = "default-scheduler";
}

}  // namespace

std::vector<Cause> ValidateUpdate(const ResourceKind& kind, const json& current, const json& next) {
  std::vector<Cause> causes;
  if (kind.kind == "Job") {
    Immutable(current, next, "spec.selector", "/spec/selector", causes);
    Immutable(current, next, "spec.completionMode", "/spec/completionMode", causes);
    Immutable(current, next, "spec.podFailurePolicy", "/spec/podFailurePolicy", causes);
    Immutable(current, next, "spec.backoffLimitPerIndex", "/spec/backoffLimitPerIndex", causes);
    const json& spec = next.value("spec", json::object());
    // Elastic Indexed Jobs scale by changing completions with parallelism.
    bool elastic = spec.value("completionMode", "") == "Indexed" &&
                   spec.value("completions", json()) == spec.value("parallelism", json());
    if (!elastic) Immutable(current, next, "spec.completions", "/spec/completions", causes);
    // A suspended Job that never started may change where its pods go.
    bool unstarted = current.value("spec", json::object()).value("suspend", false) &&
                     !current.value("status", json::object()).contains("startTime");
    json before = current.value("spec", json::object()).value("template", json());
    json after = spec.value("template", json());
    if (unstarted) {
      for (json* t : {&before, &after}) {
        if (!t->is_object()) continue;
        if ((*t)["metadata"].is_object()) {
          (*t)["metadata"].erase("labels");
          (*t)["metadata"].erase("annotations");
        }
        if ((*t)["spec"].is_object()) {
          for (const char* f : {"nodeSelector", "affinity", "tolerations", "schedulingGates"})
            (*t)["spec"].erase(f);
        }
      }
    }
    if (before != after) {
      causes.push_back(
          {"FieldValueInvalid", "spec.template",
           "Invalid value: " + spec.value("template", json()).dump() + ": field is immutable"});
    }
  } else if (kind.kind == "Pod") {
    json before = current.value("spec", json());
    json after = next.value("spec", json());
    // Tolerations may be added, never removed or changed.
    json old_tolerations = before.is_object() ? before.value("tolerations", json::array()) : json();
    json new_tolerations = after.is_object() ? after.value("tolerations", json::array()) : json();
    bool tolerations_kept = true;
    for (const json& t : old_tolerations) {
      if (std::find(new_tolerations.begin(), new_tolerations.end(), t) == new_tolerations.end())
        tolerations_kept = false;
    }
    if (PodSpecFixedPart(before) != PodSpecFixedPart(after) || !tolerations_kept) {
      causes.push_back(
          {"FieldValueForbidden", "spec",
           "Forbidden: pod updates may not change fields other than "
           "`spec.containers[*].image`,`spec.initContainers[*].image`,"
           "`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing "
           "tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was "
           "previously negative)"});
    }
  } else if ((kind.kind == "ConfigMap" || kind.kind == "Secret") &&
             current.value("immutable", false)) {
    const char* message = "Forbidden: field is immutable when `immutable` is set";
    if (!next.value("immutable", false))
      causes.push_back({"FieldValueForbidden", "immutable", message});
    for (const char* f : {"data", "binaryData", "type"}) {
      if (current.value(f, json()) != next.value(f, json()))
        causes.push_back({"FieldValueForbidden", f, message});
    }
  }
  return causes;
}

void ApplyDefaults(const ResourceKind& kind, json& object, const std::string& uid) {
  if (kind.kind == "Secret") {
    // stringData is write-only: merged into data, base64-encoded, then dropped.
    // Taken out first: an insert into `object` moves its members.
    json string_data = object.contains("stringData") ? std::move(object["stringData"]) : json();
    object.erase("stringData");
    if (string_data.is_object()) {
      for (const auto& [key, value] : string_data.items()) {
        if (value.is_string()) object["data"][key] = Base64Encode(value.get<std::string>());
      }
    }
    if (!object.contains("type")) object["type"] = "Opaque";
    return;
  }
  if (kind.kind == "Pod") {
    json& spec = object["spec"];
    if (!spec.is_object()) return;
    if (!spec.contains("restartPolicy")) spec["restartPolicy"] = "Always";
    DefaultPodSpec(spec);
    if (!object.contains("status") || object["status"].empty())
      object["status"] = {{"phase", "Pending"}, {"qosClass", "BestEffort"}};
    return;
  }
  if (kind.kind == "Namespace") {
    // Every namespace carries its name as a label, for namespace selectors.
    std::string name = object["metadata"].value("name", "");
    if (!name.empty()) object["metadata"]["labels"]["kubernetes.io/metadata.name"] = name;
    if (!object["spec"].is_object() || !object["spec"].contains("finalizers"))
      object["spec"]["finalizers"] = {"kubernetes"};
    if (!object.contains("status") || object["status"].empty())
      object["status"] = {{"phase", "Active"}};
    return;
  }
  if (kind.kind != "Job") return;
  if (!object.contains("status"))
    object["status"] = json::object();  // as the API server returns it
  json& spec = object["spec"];
  if (!spec.is_object()) return;
  bool indexed = spec.value("completionMode", "NonIndexed") == "Indexed";
  // The template's pod spec is defaulted as a pod's is, so that the Job's
  // pods are stored as a pod created alone would be.
  if (Field(Field(spec, "template"), "spec").is_object()) DefaultPodSpec(spec["template"]["spec"]);
  if (!spec.contains("completionMode")) spec["completionMode"] = "NonIndexed";
  if (!spec.contains("parallelism")) spec["parallelism"] = 1;
  if (!spec.contains("completions") && !indexed) spec["completions"] = 1;
  if (!spec.contains("backoffLimit")) spec["backoffLimit"] = 6;
  if (!spec.contains("suspend")) spec["suspend"] = false;
  if (!spec.contains("podReplacementPolicy")) spec["podReplacementPolicy"] = "TerminatingOrFailed";
  if (!spec.contains("manualSelector") || !spec["manualSelector"].get<bool>()) {
    std::string name = object["metadata"].value("name", "");
    spec["selector"] = {{"matchLabels", {{"batch.kubernetes.io/controller-uid", uid}}}};
    json& labels = spec["template"]["metadata"]["labels"];
    if (!labels.is_object()) labels = json::object();
    labels["batch.kubernetes.io/controller-uid"] = uid;
    labels["batch.kubernetes.io/job-name"] = name;
    labels["controller-uid"] = uid;
    labels["job-name"] = name;
    json& meta_labels = object["metadata"]["labels"];
    if (!meta_labels.is_object() || meta_labels.empty()) {
      meta_labels = {{"batch.kubernetes.io/controller-uid", uid},
                     {"batch.kubernetes.io/job-name", name},
                     {"controller-uid", uid},
                     {"job-name", name}};
    }
  }
}

std::vector<Cause> Validate(const ResourceKind& kind, const json& object) {
  std::vector<Cause> causes;
  std::string name = object.value("metadata", json::object()).value("name", "");
  if (!name.empty() && !IsDnsSubdomain(name)) {
    causes.push_back({"FieldValueInvalid", "metadata.name",
                      "Invalid value: \"" + name +
                          "\": a lowercase RFC 1123 subdomain must consist of lower "
                          "case alphanumeric characters, '-' or '.', and must start and end with "
                          "an alphanumeric "
                          "character"});
  }
  const json& meta = Field(object, "metadata");  // read in place: no copies
  ValidateLabels(Field(meta, "labels"), "metadata.labels", causes);
  ValidateAnnotations(Field(meta, "annotations"), causes);
  json spec = object.value("spec", json());
  if (kind.kind == "ConfigMap" || kind.kind == "Secret") {
    // What the values may total (as stored: binaryData and a Secret's data
    // decoded from base64): 1 MiB, as the API server's validation allows.
    constexpr size_t kMaxDataBytes = 1 << 20;
    bool secret = kind.kind == "Secret";
    size_t total = 0;
    auto add = [&](const char* field, bool encoded) {
      for (const auto& [key, value] : Sub(object, field).items()) {
        if (!value.is_string()) continue;
        const std::string& text = value.get_ref<const std::string&>();
        std::optional<std::string> decoded = encoded ? Base64Decode(text) : std::nullopt;
        total += decoded ? decoded->size() : text.size();
      }
    };
    add("data", secret);
    if (!secret) add("binaryData", true);
    if (total > kMaxDataBytes) causes.push_back(TooLong(secret ? "data" : "[]", kMaxDataBytes));
  }
  if (kind.kind == "Pod") {
    ValidatePodSpec(spec, "spec", false, causes);
  } else if (kind.kind == "Job") {
    if (!spec.is_object()) {
      causes.push_back({"FieldValueRequired", "spec", "Required value"});
      return causes;
    }
    for (const char* f : {"parallelism", "completions", "backoffLimit", "activeDeadlineSeconds"}) {
      NonNegative(spec, f, "spec", causes);
    }
    ValidateLabels(Field(Sub(Sub(spec, "template"), "metadata"), "labels"),
                   "spec.template.metadata.labels", causes);
    ValidatePodSpec(spec.value("template", json::object()).value("spec", json()),
                    "spec.template.spec", true, causes);
  } else if (kind.kind == "ResourceQuota" && spec.is_object()) {
    json hard = spec.value("hard", json::object());
    if (!hard.is_object()) {
      causes.push_back({"FieldValueInvalid", "spec.hard", "Invalid value: must be a map"});
      hard = json::object();
    }
    json scopes = spec.value("scopes", json::array());
    if (!scopes.is_array()) {
      causes.push_back({"FieldValueInvalid", "spec.scopes", "Invalid value: must be a list"});
      scopes = json::array();
    }
    for (auto it = hard.begin(); it != hard.end(); ++it) {
      std::string text = it->is_string() ? it->get<std::string>() : it->dump();
      if (!ParseMilliQuantity(text).ok()) {
        causes.push_back({"FieldValueInvalid", "spec.hard[" + it.key() + "]",
                          "Invalid value: \"" + text +
                              "\": quantities must match the regular expression "
                              "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"});
      }
    }
    for (const json& scope : scopes) {
      static const std::set<std::string> kScopes = {"Terminating", "NotTerminating", "BestEffort",
                                                    "NotBestEffort"};
      std::string v = scope.is_string() ? scope.get<std::string>() : scope.dump();
      if (!kScopes.count(v)) {
        causes.push_back({"FieldValueNotSupported", "spec.scopes",
                          "Unsupported value: \"" + v +
                              "\": supported values: \"BestEffort\", \"NotBestEffort\", "
                              "\"NotTerminating\", \"Terminating\""});
      }
    }
  }
  return causes;
}

json InvalidStatus(const ResourceKind& kind, const std::string& name,
                   const std::vector<Cause>& causes) {
  std::string what = kind.group.empty() ? kind.kind : kind.kind + "." + kind.group;
  std::string list;
  json jc = json::array();
  for (const Cause& c : causes) {
    list += (list.empty() ? "" : ", ") + c.field + ": " + c.message;
    jc.push_back({{"reason", c.reason}, {"message", c.message}, {"field", c.field}});
  }
  if (causes.size() > 1) list = "[" + list + "]";
  json details = {{"name", name}, {"kind", kind.kind}, {"causes", jc}};
  if (!kind.group.empty()) details["group"] = kind.group;
  return {{"kind", "Status"},
          {"apiVersion", "v1"},
          {"metadata", json::object()},
          {"status", "Failure"},
          {"message", what + " \"" + name + "\" is invalid: " + list},
          {"reason", "Invalid"},
          {"details", details},
          {"code", 422}};
}

}  // namespace portflow::fake
