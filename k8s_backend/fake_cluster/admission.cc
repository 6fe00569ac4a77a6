#include "k8s_backend/fake_cluster/admission.h"

#include <cctype>

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

}  // namespace

void ApplyDefaults(const ResourceKind& kind, json& object, const std::string& uid) {
  if (kind.kind == "Pod") {
    json& spec = object["spec"];
    if (!spec.is_object()) return;
    if (!spec.contains("restartPolicy")) spec["restartPolicy"] = "Always";
    if (!spec.contains("schedulerName")) spec["schedulerName"] = "default-scheduler";
    if (!object.contains("status"))
      object["status"] = {{"phase", "Pending"}, {"qosClass", "BestEffort"}};
    return;
  }
  if (kind.kind != "Job") return;
  if (!object.contains("status"))
    object["status"] = json::object();  // as the API server returns it
  json& spec = object["spec"];
  if (!spec.is_object()) return;
  bool indexed = spec.value("completionMode", "NonIndexed") == "Indexed";
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
  json spec = object.value("spec", json());
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
    ValidatePodSpec(spec.value("template", json::object()).value("spec", json()),
                    "spec.template.spec", true, causes);
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
