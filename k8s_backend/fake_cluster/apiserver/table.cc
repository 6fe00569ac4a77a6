#include "k8s_backend/fake_cluster/apiserver/table.h"

#include <ctime>

#include "core/k8s_time.h"

namespace portflow::fake {
namespace {

struct Column {
  const char* name;
  const char* type;
  const char* format;
  int priority;  // 1: shown with -o wide
};

std::string Since(const json& object, const char* path1, const char* path2, TimePoint now) {
  const json outer = object.value(path1, json::object());
  const json v = outer.value(path2, json());
  if (!v.is_string()) return "<unknown>";
  auto t = ParseK8sTime(v.get<std::string>());
  return t ? HumanDuration(now - *t) : "<unknown>";
}

std::string Cell(const json& v, const std::string& fallback = "<none>") {
  return v.is_string() && !v.get<std::string>().empty() ? v.get<std::string>() : fallback;
}

std::vector<Column> ColumnsOf(const ResourceKind& kind) {
  if (kind.kind == "Pod") {
    return {{"Name", "string", "name", 0},
            {"Ready", "string", "", 0},
            {"Status", "string", "", 0},
            {"Restarts", "string", "", 0},
            {"Age", "string", "", 0},
            {"IP", "string", "", 1},
            {"Node", "string", "", 1},
            {"Nominated Node", "string", "", 1},
            {"Readiness Gates", "string", "", 1}};
  }
  if (kind.kind == "Job") {
    return {{"Name", "string", "name", 0},    {"Status", "string", "", 0},
            {"Completions", "string", "", 0}, {"Duration", "string", "", 0},
            {"Age", "string", "", 0},         {"Containers", "string", "", 1},
            {"Images", "string", "", 1},      {"Selector", "string", "", 1}};
  }
  if (kind.kind == "Node") {
    return {{"Name", "string", "name", 0},       {"Status", "string", "", 0},
            {"Roles", "string", "", 0},          {"Age", "string", "", 0},
            {"Version", "string", "", 0},        {"Internal-IP", "string", "", 1},
            {"External-IP", "string", "", 1},    {"OS-Image", "string", "", 1},
            {"Kernel-Version", "string", "", 1}, {"Container-Runtime", "string", "", 1}};
  }
  if (kind.kind == "Namespace")
    return {{"Name", "string", "name", 0}, {"Status", "string", "", 0}, {"Age", "string", "", 0}};
  if (kind.kind == "ConfigMap")
    return {{"Name", "string", "name", 0}, {"Data", "integer", "", 0}, {"Age", "string", "", 0}};
  if (kind.kind == "Secret") {
    return {{"Name", "string", "name", 0},
            {"Type", "string", "", 0},
            {"Data", "integer", "", 0},
            {"Age", "string", "", 0}};
  }
  if (kind.kind == "Service") {
    return {{"Name", "string", "name", 0},   {"Type", "string", "", 0},
            {"Cluster-IP", "string", "", 0}, {"External-IP", "string", "", 0},
            {"Port(s)", "string", "", 0},    {"Age", "string", "", 0}};
  }
  if (kind.kind == "ResourceQuota") {
    return {{"Name", "string", "name", 0},
            {"Age", "string", "", 0},
            {"Request", "string", "", 0},
            {"Limit", "string", "", 0}};
  }
  if (kind.kind == "Event") {
    return {{"Last Seen", "string", "", 0},
            {"Type", "string", "", 0},
            {"Reason", "string", "", 0},
            {"Object", "string", "", 0},
            {"Message", "string", "", 0}};
  }
  return {{"Name", "string", "name", 0}, {"Age", "string", "", 0}};
}

// A member that must be a map; an empty one when it is absent or is not.
json Map(const json& o, const char* key) {
  json v = o.value(key, json::object());
  return v.is_object() ? v : json::object();
}

json Cells(const ResourceKind& kind, const json& o, TimePoint now) {
  const json meta = Map(o, "metadata");
  const json spec = Map(o, "spec");
  const json status = Map(o, "status");
  std::string name = meta.value("name", "");
  std::string age = Since(o, "metadata", "creationTimestamp", now);
  if (kind.kind == "Pod") {
    int total = static_cast<int>(spec.value("containers", json::array()).size()), ready = 0;
    int64_t restarts = 0;
    for (const json& c : status.value("containerStatuses", json::array())) {
      ready += c.value("ready", false);
      restarts += c.value("restartCount", 0);
    }
    return {name,
            std::to_string(ready) + "/" + std::to_string(total),
            PodStatus(o),
            std::to_string(restarts),
            age,
            Cell(status.value("podIP", json())),
            Cell(spec.value("nodeName", json())),
            "<none>",
            "<none>"};
  }
  if (kind.kind == "Job") {
    std::string state = spec.value("suspend", false) ? "Suspended" : "Running";
    for (const json& c : status.value("conditions", json::array())) {
      if (c.value("status", "") != "True") continue;
      std::string t = c.value("type", "");
      if (t == "Complete" || t == "Failed" || t == "FailureTarget" || t == "SuccessCriteriaMet")
        state = t;
    }
    int64_t succeeded = status.value("succeeded", 0);
    std::string completions =
        spec.contains("completions") && spec["completions"].is_number()
            ? std::to_string(succeeded) + "/" + std::to_string(spec["completions"].get<int64_t>())
            : std::to_string(succeeded) + "/1 of " + std::to_string(spec.value("parallelism", 1));
    std::string duration;
    if (auto start = ParseK8sTime(status.value("startTime", ""))) {
      auto end = ParseK8sTime(status.value("completionTime", ""));
      duration = HumanDuration((end ? *end : now) - *start);
    }
    std::string containers, images;
    for (const json& c : spec.value("template", json::object())
                             .value("spec", json::object())
                             .value("containers", json::array())) {
      containers += (containers.empty() ? "" : ",") + c.value("name", "");
      images += (images.empty() ? "" : ",") + c.value("image", "");
    }
    std::string selector;
    const json match = spec.value("selector", json::object()).value("matchLabels", json::object());
    for (auto it = match.begin(); it != match.end(); ++it) {
      selector += (selector.empty() ? "" : ",") + it.key() + "=" +
                  (it->is_string() ? it->get<std::string>() : it->dump());
    }
    return {name, state, completions, duration, age, containers, images, selector};
  }
  if (kind.kind == "Node") {
    std::string ready = "Unknown";
    for (const json& c : status.value("conditions", json::array())) {
      if (c.value("type", "") == "Ready")
        ready = c.value("status", "") == "True" ? "Ready" : "NotReady";
    }
    if (spec.value("unschedulable", false)) ready += ",SchedulingDisabled";
    std::string ip;
    for (const json& a : status.value("addresses", json::array())) {
      if (a.value("type", "") == "InternalIP") ip = a.value("address", "");
    }
    const json info = status.value("nodeInfo", json::object());
    return {name,
            ready,
            "<none>",
            age,
            info.value("kubeletVersion", ""),
            Cell(json(ip)),
            "<none>",
            info.value("osImage", ""),
            info.value("kernelVersion", ""),
            info.value("containerRuntimeVersion", "")};
  }
  if (kind.kind == "Namespace") return {name, status.value("phase", "Active"), age};
  if (kind.kind == "ConfigMap") {
    return {name,
            o.value("data", json::object()).size() + o.value("binaryData", json::object()).size(),
            age};
  }
  if (kind.kind == "Secret")
    return {name, o.value("type", "Opaque"), o.value("data", json::object()).size(), age};
  if (kind.kind == "Service") {
    std::string ports;
    for (const json& p : spec.value("ports", json::array())) {
      ports += (ports.empty() ? "" : ",") + std::to_string(p.value("port", 0)) + "/" +
               p.value("protocol", "TCP");
    }
    return {name,     spec.value("type", "ClusterIP"),  spec.value("clusterIP", "None"),
            "<none>", ports.empty() ? "<none>" : ports, age};
  }
  if (kind.kind == "ResourceQuota") {
    // "pods: 1/10, requests.cpu: 500m/4" and "limits.cpu: 1/8", by key.
    std::string request, limit;
    const json hard = Map(status, "hard"), used = Map(status, "used");
    for (auto it = hard.begin(); it != hard.end(); ++it) {
      std::string item = it.key() + ": " + Cell(used.value(it.key(), json()), "0") + "/" +
                         (it->is_string() ? it->get<std::string>() : it->dump());
      std::string& list = it.key().rfind("limits.", 0) == 0 ? limit : request;
      list += (list.empty() ? "" : ", ") + item;
    }
    return {name, age, request, limit};
  }
  if (kind.kind == "Event") {
    const json inv = o.value("involvedObject", json::object());
    std::string object = inv.value("kind", "");
    for (char& c : object) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string seen = age;
    if (o.contains("lastTimestamp") && o["lastTimestamp"].is_string()) {
      auto t = ParseK8sTime(o["lastTimestamp"].get<std::string>());
      seen = t ? HumanDuration(now - *t) : age;
    }
    return {seen, o.value("type", ""), o.value("reason", ""), object + "/" + inv.value("name", ""),
            o.value("message", "")};
  }
  return {name, age};
}

}  // namespace

json PartialObjectMetadata(const json& object) {
  return {{"kind", "PartialObjectMetadata"},
          {"apiVersion", "meta.k8s.io/v1"},
          {"metadata", object.value("metadata", json::object())}};
}

std::string HumanDuration(Duration d) {
  int64_t s = std::chrono::duration_cast<std::chrono::seconds>(d).count();
  if (s < 0) s = 0;
  char buf[32];
  int64_t m = s / 60, h = s / 3600, days = h / 24;
  if (s < 120) {
    std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(s));
  } else if (m < 10) {
    s % 60 ? std::snprintf(buf, sizeof buf, "%lldm%llds", static_cast<long long>(m),
                           static_cast<long long>(s % 60))
           : std::snprintf(buf, sizeof buf, "%lldm", static_cast<long long>(m));
  } else if (m < 180) {
    std::snprintf(buf, sizeof buf, "%lldm", static_cast<long long>(m));
  } else if (h < 8) {
    m % 60 ? std::snprintf(buf, sizeof buf, "%lldh%lldm", static_cast<long long>(h),
                           static_cast<long long>(m % 60))
           : std::snprintf(buf, sizeof buf, "%lldh", static_cast<long long>(h));
  } else if (h < 48) {
    std::snprintf(buf, sizeof buf, "%lldh", static_cast<long long>(h));
  } else if (h < 24 * 8) {
    h % 24 ? std::snprintf(buf, sizeof buf, "%lldd%lldh", static_cast<long long>(days),
                           static_cast<long long>(h % 24))
           : std::snprintf(buf, sizeof buf, "%lldd", static_cast<long long>(days));
  } else if (days < 365 * 2) {
    std::snprintf(buf, sizeof buf, "%lldd", static_cast<long long>(days));
  } else if (days < 365 * 8) {
    std::snprintf(buf, sizeof buf, "%lldy%lldd", static_cast<long long>(days / 365),
                  static_cast<long long>(days % 365));
  } else {
    std::snprintf(buf, sizeof buf, "%lldy", static_cast<long long>(days / 365));
  }
  return buf;
}

std::string PodStatus(const json& pod) {
  const json status = pod.value("status", json::object());
  std::string reason = status.value("phase", "Pending");
  if (status.contains("reason") && status["reason"].is_string()) reason = status["reason"];
  bool running = false;
  const json statuses = status.value("containerStatuses", json::array());
  for (auto it = statuses.rbegin(); it != statuses.rend(); ++it) {
    const json state = it->value("state", json::object());
    if (state.contains("waiting") && !state["waiting"].value("reason", "").empty()) {
      reason = state["waiting"]["reason"];
    } else if (state.contains("terminated")) {
      const json t = state["terminated"];
      if (!t.value("reason", "").empty()) {
        reason = t["reason"];
      } else if (t.value("signal", 0) != 0) {
        reason = "Signal:" + std::to_string(t.value("signal", 0));
      } else {
        reason = "ExitCode:" + std::to_string(t.value("exitCode", 0));
      }
    } else if (state.contains("running") && it->value("ready", false)) {
      running = true;
    }
  }
  if (reason == "Completed" && running) reason = "Running";
  if (pod.value("metadata", json::object()).contains("deletionTimestamp")) reason = "Terminating";
  return reason;
}

json ToTable(const ResourceKind& kind, const std::vector<json>& items, TimePoint now,
             bool with_columns, const std::string& include_object) {
  json table = {{"kind", "Table"}, {"apiVersion", "meta.k8s.io/v1"}, {"metadata", json::object()}};
  if (with_columns) {
    json cols = json::array();
    for (const Column& c : ColumnsOf(kind)) {
      cols.push_back({{"name", c.name},
                      {"type", c.type},
                      {"format", c.format},
                      {"description", ""},
                      {"priority", c.priority}});
    }
    table["columnDefinitions"] = cols;
  }
  json rows = json::array();
  for (const json& o : items) {
    json row = {{"cells", Cells(kind, o, now)}};
    if (include_object == "Object") {
      row["object"] = o;
    } else if (include_object != "None") {
      row["object"] = PartialObjectMetadata(o);
    }
    rows.push_back(std::move(row));
  }
  table["rows"] = rows;
  return table;
}

}  // namespace portflow::fake
