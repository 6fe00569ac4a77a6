#include "k8s_backend/fake_cluster/store/quota.h"

#include <algorithm>

#include "core/quantity.h"
#include "k8s_backend/fake_cluster/store/json_fields.h"

namespace portflow::fake {
namespace {

bool StartsWith(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

bool IsCpu(const std::string& key) { return key == "cpu" || key.ends_with(".cpu"); }

std::string Format(const std::string& key, int64_t v) {
  if (IsCpu(key)) return FormatMilliCpu(v);
  if (key.find("memory") != std::string::npos || key.find("storage") != std::string::npos)
    return FormatBytes(v);
  return std::to_string(v);
}

// The container resource a quota key counts, and whether from limits;
// "" for keys that are not about pods' resources.
std::pair<std::string, bool> ResourceOf(const std::string& key) {
  if (StartsWith(key, "requests.")) return {key.substr(9), false};
  if (StartsWith(key, "limits.")) return {key.substr(7), true};
  if (key == "cpu" || key == "memory" || key == "ephemeral-storage") return {key, false};
  return {"", false};
}

bool BestEffort(const json& pod) {
  for (const json& c : Field(Field(pod, "spec"), "containers")) {
    const json& r = Field(c, "resources");
    for (const char* kind : {"requests", "limits"}) {
      const json& m = Field(r, kind);
      if (m.is_object() && (m.contains("cpu") || m.contains("memory"))) return false;
    }
  }
  return true;
}

// Whether the quota's scopes select the pod.
bool Selects(const json& quota, const json& pod) {
  for (const json& s : Field(Field(quota, "spec"), "scopes")) {
    std::string scope = s.is_string() ? s.get<std::string>() : "";
    bool terminating = Field(Field(pod, "spec"), "activeDeadlineSeconds").is_number();
    if (scope == "Terminating" && !terminating) return false;
    if (scope == "NotTerminating" && terminating) return false;
    if (scope == "BestEffort" && !BestEffort(pod)) return false;
    if (scope == "NotBestEffort" && BestEffort(pod)) return false;
  }
  return true;
}

// What one pod holds of `key`.
int64_t Amount(const json& pod, const std::string& key) {
  if (key == "pods" || key == "count/pods") return 1;
  auto [resource, limits] = ResourceOf(key);
  if (resource.empty()) return 0;
  int64_t sum = 0;
  for (const json& c : Field(Field(pod, "spec"), "containers")) {
    const json& req = Field(Field(c, "resources"), "requests");
    const json& lim = Field(Field(c, "resources"), "limits");
    // As the API server defaults: a limit without a request is the request.
    const json& v = limits || !req.contains(resource) ? Field(lim, resource.c_str())
                                                      : Field(req, resource.c_str());
    sum += Quantity(v, IsCpu(key));
  }
  return sum;
}

bool Live(const json& pod) {
  std::string phase = Str(Field(pod, "status"), "phase");
  return phase != "Succeeded" && phase != "Failed";
}

// "must specify limits.cpu for: main; requests.cpu for: main" for the cpu
// and memory keys a container leaves unset; "" when none.
std::string Missing(const json& quota, const json& pod) {
  std::map<std::string, std::vector<std::string>> missing;
  for (const auto& [key, hard] : Field(Field(quota, "spec"), "hard").items()) {
    auto [resource, limits] = ResourceOf(key);
    if (resource != "cpu" && resource != "memory") continue;
    for (const json& c : Field(Field(pod, "spec"), "containers")) {
      const json& req = Field(Field(c, "resources"), "requests");
      const json& lim = Field(Field(c, "resources"), "limits");
      bool set = lim.is_object() && lim.contains(resource);
      if (!limits) set = set || (req.is_object() && req.contains(resource));
      if (!set)
        missing[limits ? "limits." + resource : "requests." + resource].push_back(Str(c, "name"));
    }
  }
  std::string out;
  for (const auto& [key, names] : missing) {
    std::string list;
    for (const std::string& n : names) list += (list.empty() ? "" : ",") + n;
    out += (out.empty() ? "must specify " : "; ") + key + " for: " + list;
  }
  return out;
}

std::vector<json> Quotas(ObjectStore& store, const std::string& ns) {
  auto list = store.List(ResourceQuotas(), ns, {});
  return list.ok() ? std::move(list->items) : std::vector<json>{};
}

std::vector<json> PodsIn(ObjectStore& store, const std::string& ns) {
  auto list = store.List(*FindKind("", "pods"), ns, {});
  return list.ok() ? std::move(list->items) : std::vector<json>{};
}

}  // namespace

const ResourceKind& ResourceQuotas() { return *FindKind("", "resourcequotas"); }

std::map<std::string, int64_t> QuotaUsage(const json& quota, const std::vector<json>& pods) {
  std::map<std::string, int64_t> used;
  for (const auto& [key, hard] : Field(Field(quota, "spec"), "hard").items()) {
    int64_t& u = used[key];
    for (const json& pod : pods) {
      if (Live(pod) && Selects(quota, pod)) u += Amount(pod, key);
    }
  }
  return used;
}

Result<ObjectStore::Stored> PodAdmission::Create(const std::string& ns, json pod,
                                                 const ObjectStore::Admit& admit) {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<json> quotas = Quotas(store_, ns);
  if (quotas.empty()) return store_.Create(*FindKind("", "pods"), ns, std::move(pod), admit);
  // What the namespace's pods hold now: no other pod is created meanwhile.
  std::vector<json> pods = PodsIn(store_, ns);
  std::vector<std::map<std::string, int64_t>> used;
  for (const json& q : quotas) used.push_back(QuotaUsage(q, pods));
  return store_.Create(*FindKind("", "pods"), ns, std::move(pod), [&](json& object) -> Status {
    if (admit) RETURN_IF_ERROR(admit(object));
    std::string forbidden =
        "pods \"" + Str(Field(object, "metadata"), "name") + "\" is forbidden: ";
    for (size_t i = 0; i < quotas.size(); ++i) {
      const json& q = quotas[i];
      if (!Selects(q, object)) continue;
      std::string name = Str(Field(q, "metadata"), "name");
      if (std::string missing = Missing(q, object); !missing.empty())
        return ResourceExhausted(forbidden + "failed quota: " + name + ": " + missing);
      std::string requested, in_use, limited;
      for (const auto& [key, hard] : Field(Field(q, "spec"), "hard").items()) {
        int64_t amount = Amount(object, key), limit = Quantity(hard, IsCpu(key));
        if (amount == 0 || used[i][key] + amount <= limit) continue;
        auto add = [&](std::string& s, int64_t v) {
          s += (s.empty() ? "" : ",") + key + "=" + Format(key, v);
        };
        add(requested, amount);
        add(in_use, used[i][key]);
        add(limited, limit);
      }
      if (!requested.empty()) {
        return ResourceExhausted(forbidden + "exceeded quota: " + name + ", requested: " +
                                 requested + ", used: " + in_use + ", limited: " + limited);
      }
    }
    return OkStatus();
  });
}

bool SyncQuotaStatus(ObjectStore& store, const std::string& ns, std::vector<json> quotas) {
  std::vector<json> pods = PodsIn(store, ns);
  bool changed = false;
  for (json& q : quotas) {
    json status = {{"hard", Field(Field(q, "spec"), "hard")}, {"used", json::object()}};
    for (const auto& [key, v] : QuotaUsage(q, pods)) status["used"][key] = Format(key, v);
    if (Field(q, "status") == status) continue;
    q["status"] = std::move(status);
    changed = store.Update(ResourceQuotas(), ns, std::move(q)).ok() || changed;
  }
  return changed;
}

}  // namespace portflow::fake
