#include "k8s_backend/render.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "core/base64.h"
#include "core/ignore_rules.h"
#include "core/image_ref.h"
#include "core/quantity.h"
#include "core/utf8.h"
#include "core/yaml_errors.h"

namespace portflow::k8s {
namespace {

namespace fs = std::filesystem;

uint64_t Fnv1a(const std::string& text) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::string Hex(uint64_t v, int digits) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return std::string(buf + 16 - digits);
}

// Cuts `s` to `max` characters, ending with a hash of the whole when cut.
std::string Fit(std::string s, const std::string& whole, size_t max,
                const std::function<bool(char)>& can_end) {
  if (s.size() <= max) return s;
  s.resize(max - 9);
  while (!s.empty() && !can_end(s.back())) s.pop_back();
  return s + "-" + Hex(Fnv1a(whole), 8);
}

bool Alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

// A label value: [A-Za-z0-9-_.], at most 63, alphanumeric at both ends.
std::string LabelValue(const std::string& text) {
  std::string out;
  for (char c : text) {
    bool ok = Alnum(c) || c == '-' || c == '_' || c == '.';
    char v = ok ? c : '-';
    if (v == '-' && !out.empty() && out.back() == '-') continue;
    out += v;
  }
  while (!out.empty() && !Alnum(out.front())) out.erase(0, 1);
  while (!out.empty() && !Alnum(out.back())) out.pop_back();
  return Fit(out, text, 63, Alnum);
}

// A toleration as the API defines it: key, operator (Exists or Equal),
// value, effect (NoSchedule, PreferNoSchedule or NoExecute) and, with
// NoExecute, tolerationSeconds. A value YAML read as a number ("value: 1")
// is a string again.
Status CheckToleration(json& t) {
  const std::string what = "setting tolerations: " + t.dump() + ": ";
  for (auto it = t.begin(); it != t.end(); ++it) {
    if (it.key() == "tolerationSeconds") {
      if (!it->is_number_integer())
        return InvalidArgument(what + "tolerationSeconds must be a whole number of seconds");
      continue;
    }
    if (it.key() != "key" && it.key() != "operator" && it.key() != "value" &&
        it.key() != "effect") {
      return InvalidArgument(what + "unknown field \"" + it.key() +
                             "\" (a toleration has key, operator, value, effect and "
                             "tolerationSeconds)");
    }
    if (it->is_number()) *it = it->dump();
    if (!it->is_string()) return InvalidArgument(what + it.key() + " must be a string");
  }
  std::string op = t.value("operator", ""), effect = t.value("effect", "");
  if (op.empty()) op = "Equal";  // as the API reads it
  if (op != "Equal" && op != "Exists")
    return InvalidArgument(what + "operator must be Exists or Equal");
  if (op == "Exists" && !t.value("value", "").empty())
    return InvalidArgument(what + "value must be empty when operator is Exists");
  if (t.value("key", "").empty() && op != "Exists")
    return InvalidArgument(what + "operator must be Exists when key is empty");
  if (!effect.empty() && effect != "NoSchedule" && effect != "PreferNoSchedule" &&
      effect != "NoExecute") {
    return InvalidArgument(what + "effect must be NoSchedule, PreferNoSchedule or NoExecute");
  }
  if (t.contains("tolerationSeconds") && effect != "NoExecute")
    return InvalidArgument(what + "tolerationSeconds needs effect NoExecute");
  return OkStatus();
}

// Flow YAML of a setting ("{a: b}", "[x, y]") as JSON.
Result<json> FlowValue(const std::string& key, const std::string& text) {
  YAML::Node node;
  try {
    node = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return InvalidArgument("setting " + key + ": line " + std::to_string(e.mark.line + 1) +
                           ", column " + std::to_string(e.mark.column + 1) + ": " +
                           YamlErrorText(e));
  }
  std::function<json(const YAML::Node&)> convert = [&](const YAML::Node& n) -> json {
    if (n.IsMap()) {
      json o = json::object();
      for (auto it = n.begin(); it != n.end(); ++it) o[it->first.Scalar()] = convert(it->second);
      return o;
    }
    if (n.IsSequence()) {
      json a = json::array();
      for (const YAML::Node& v : n) a.push_back(convert(v));
      return a;
    }
    if (n.IsScalar()) {
      // Numbers stay numbers (tolerationSeconds); everything else is a string.
      const std::string& s = n.Scalar();
      bool digits = !s.empty() && s.size() < 18 && std::all_of(s.begin(), s.end(), [](char c) {
        return std::isdigit(static_cast<unsigned char>(c)) != 0;
      });
      if (digits && n.Tag() != "!") return std::stoll(s);
      return s;
    }
    return nullptr;
  };
  return convert(node);
}

// A setting that names objects: "[a, b]" or a single "a".
Result<std::vector<std::string>> NameList(const std::string& key, const std::string& text) {
  ASSIGN_OR_RETURN(json v, FlowValue(key, text));
  if (v.is_string()) v = json::array({v});
  if (!v.is_array()) return InvalidArgument("setting " + key + " must be a list of names");
  std::vector<std::string> out;
  for (const json& s : v) {
    if (!s.is_string()) return InvalidArgument("setting " + key + " must be a list of names");
    out.push_back(s.get<std::string>());
  }
  return out;
}

Result<std::map<std::string, std::string>> StringMap(const std::string& key,
                                                     const std::string& text) {
  ASSIGN_OR_RETURN(json v, FlowValue(key, text));
  if (!v.is_object()) return InvalidArgument("setting " + key + " must be a map");
  std::map<std::string, std::string> out;
  for (auto& [k, val] : v.items()) {
    out[k] = val.is_string() ? val.get<std::string>() : val.dump();
  }
  return out;
}

// Kubernetes expands $(VAR) and turns $$ into $ in a container's command,
// args and env values; portflow gives `$` no meaning there (the local
// backend passes it on as written), so each is sent as $$ and arrives as
// written: a script's `echo $$` or `$(date)` is the shell's, as on a laptop.
std::string Literal(const std::string& text) {
  std::string out;
  for (char c : text) out += c == '$' ? std::string("$$") : std::string(1, c);
  return out;
}

json EnvValue(const std::string& name, const std::string& value) {
  return {{"name", name}, {"value", Literal(value)}};
}

json EnvIndex(const std::string& name) {
  return {
      {"name", name},
      {"valueFrom",
       {{"fieldRef",
         {{"fieldPath", "metadata.annotations['batch.kubernetes.io/job-completion-index']"}}}}}};
}

}  // namespace

Result<KubernetesTarget> ParseKubernetesTarget(const std::map<std::string, std::string>& settings) {
  static const std::vector<std::string> kKnown = {
      "kubeconfig",       "context",        "namespace",      "image",       "serviceAccount",
      "imagePullSecrets", "envFromSecrets", "nodeSelector",   "tolerations", "labels",
      "annotations",      "queue",          "artifactsClaim", "code",        "ttlAfterFinished",
      "cleanup",          "grace"};
  KubernetesTarget t;
  for (const auto& [key, value] : settings) {
    if (std::find(kKnown.begin(), kKnown.end(), key) == kKnown.end()) {
      std::string known;
      for (const std::string& k : kKnown) known += (known.empty() ? "" : ", ") + k;
      return InvalidArgument("unknown setting \"" + key +
                             "\" for the kubernetes backend (known: " + known + ")");
    }
    if (key == "kubeconfig") t.kubeconfig = value;
    if (key == "context") t.context = value;
    if (key == "namespace") t.namespace_name = value;
    if (key == "image") {
      if (!IsImageReference(value)) {
        return InvalidArgument("setting image: \"" + value +
                               "\" is not an image reference ([registry[:port]/]path[:tag]"
                               "[@digest], the path in lowercase)");
      }
      t.image = value;
    }
    if (key == "serviceAccount") t.service_account = value;
    if (key == "queue") t.queue = value;
    if (key == "artifactsClaim") t.artifacts_claim = value;
    if (key == "imagePullSecrets") {
      ASSIGN_OR_RETURN(t.image_pull_secrets, NameList(key, value));
    }
    if (key == "envFromSecrets") {
      ASSIGN_OR_RETURN(t.env_from_secrets, NameList(key, value));
    }
    if (key == "nodeSelector") {
      ASSIGN_OR_RETURN(t.node_selector, StringMap(key, value));
    }
    if (key == "labels") {
      ASSIGN_OR_RETURN(t.labels, StringMap(key, value));
    }
    if (key == "annotations") {
      ASSIGN_OR_RETURN(t.annotations, StringMap(key, value));
    }
    if (key == "tolerations") {
      ASSIGN_OR_RETURN(t.tolerations, FlowValue(key, value));
      if (!t.tolerations.is_array() || !std::all_of(t.tolerations.begin(), t.tolerations.end(),
                                                    [](const json& e) { return e.is_object(); })) {
        return InvalidArgument(
            "setting tolerations must be a list of maps such as {key: gpu, operator: Exists, "
            "effect: NoSchedule}");
      }
      for (json& toleration : t.tolerations) RETURN_IF_ERROR(CheckToleration(toleration));
    }
    if (key == "code") {
      if (value != "ship" && value != "image")
        return InvalidArgument("setting code must be ship or image, not \"" + value + "\"");
      t.ship_code = value == "ship";
    }
    if (key == "cleanup") {
      if (value != "delete" && value != "keep")
        return InvalidArgument("setting cleanup must be delete or keep, not \"" + value + "\"");
      t.cleanup = value;
    }
    if (key == "ttlAfterFinished") {
      auto d = ParseDuration(value);
      if (!d.ok()) return InvalidArgument("setting ttlAfterFinished: " + d.status().message());
      t.ttl_seconds = std::chrono::duration_cast<std::chrono::seconds>(*d).count();
    }
    if (key == "grace") {
      auto d = ParseDuration(value);
      if (!d.ok()) return InvalidArgument("setting grace: " + d.status().message());
      // Whole seconds, rounded up: a grace is never cut short.
      t.grace_seconds = std::chrono::ceil<std::chrono::seconds>(*d).count();
    }
  }
  return t;
}

std::string KubernetesName(const std::string& text, size_t max) {
  std::string out;
  for (char c : text) {
    char v = Alnum(c) ? static_cast<char>(std::tolower(static_cast<unsigned char>(c))) : '-';
    if (v == '-' && (out.empty() || out.back() == '-')) continue;
    out += v;
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  if (out.empty() || !std::isalpha(static_cast<unsigned char>(out.front()))) out = "pf-" + out;
  if (out.back() == '-') out.pop_back();
  return Fit(out, text, max, Alnum);
}

std::string JobName(const TaskSpec& spec) {
  size_t max = 63;
  if (spec.replicas > 1) max -= 1 + std::to_string(spec.replicas - 1).size();  // "-<index>"
  return KubernetesName(spec.run_id + "-" + spec.instance + "-a" + std::to_string(spec.attempt),
                        max);
}

std::string StoreSecretName(const std::string& run_id) { return KubernetesName(run_id + "-store"); }

json RenderStoreSecret(const std::string& run_id, const std::string& namespace_name,
                       const std::map<std::string, std::string>& credentials) {
  return {{"apiVersion", "v1"},
          {"kind", "Secret"},
          {"metadata",
           {{"name", StoreSecretName(run_id)},
            {"namespace", namespace_name},
            {"labels", {{"portflow.dev/run", LabelValue(run_id)}}}}},
          {"type", "Opaque"},
          {"stringData", credentials}};
}

std::map<std::string, std::string> TaskLabels(const TaskSpec& spec) {
  return {{"portflow.dev/run", LabelValue(spec.run_id)},
          {"portflow.dev/step", LabelValue(spec.step)},
          {"portflow.dev/instance", LabelValue(spec.instance)},
          {"portflow.dev/attempt", std::to_string(spec.attempt)}};
}

Result<ShippedCode> CollectCode(const std::string& dir) {
  std::error_code ec;
  std::string user_rules;
  if (fs::path rules = fs::path(dir) / ".portflowignore"; fs::exists(rules, ec)) {
    std::ifstream in(rules);
    if (!in) return FromErrno("cannot read " + rules.string(), errno, StatusCode::kInvalidArgument);
    std::stringstream text;
    text << in.rdbuf();
    user_rules = text.str();
  }
  // The user's rules come after the credential patterns: the last match decides.
  const IgnoreRules credentials(kCredentialPatterns), user(user_rules),
      ignore(std::string(kCredentialPatterns) + user_rules);
  const fs::path root = fs::weakly_canonical(dir, ec);
  ShippedCode code;
  // What would ship, with sizes; read only once it is known to fit.
  std::vector<std::pair<std::string, uintmax_t>> found;  // relative path, bytes
  uintmax_t total = 0;
  fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec);
  if (ec)
    return FromErrno("the working directory " + dir + " cannot be read", ec.value(),
                     StatusCode::kNotFound);
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) return FromErrno("reading " + dir, ec.value(), StatusCode::kInternal);
    std::string name = it->path().filename().string();
    // Lexical: a path through a symlink loop cannot be resolved, and need not be.
    std::string rel = it->path().lexically_relative(dir).string();
    bool folder = it->is_directory(ec);
    if (name.front() == '.' || name == "__pycache__" || ignore.Ignored(rel, folder)) {
      if (folder) it.disable_recursion_pending();
      if (!folder && credentials.Ignored(rel, false) && !user.Ignored(rel, false)) {
        code.left_out.push_back(rel);
      }
      continue;
    }
    if (!it->is_regular_file(ec)) continue;
    if (it->is_symlink(ec)) {
      fs::path target = fs::weakly_canonical(it->path(), ec);
      std::string inside = target.lexically_relative(root).string();
      if (!ec && (inside == ".." || inside.rfind("../", 0) == 0)) {
        return InvalidArgument(
            "the code in " + dir + " holds a link to a file outside it: " + rel + " -> " +
            fs::read_symlink(it->path(), ec).string() + " (" + target.string() +
            "); shipping it would copy that file to the cluster. Copy the file into " + dir +
            ", or leave the link out in " + dir + "/.portflowignore");
      }
    }
    uintmax_t size = it->file_size(ec);
    if (ec) continue;
    found.emplace_back(rel, size);
    total += size;
  }
  std::sort(code.left_out.begin(), code.left_out.end());
  if (total > kMaxShippedCode) {
    std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) {
      return a.second != b.second ? a.second > b.second : a.first < b.first;
    });
    std::string largest;
    for (size_t k = 0; k < found.size() && k < 5; ++k)
      largest +=
          "\n  " + FormatBytesShort(static_cast<int64_t>(found[k].second)) + "  " + found[k].first;
    return InvalidArgument(
        "the code in " + dir + " is " + std::to_string(total) +
        " bytes, over the 1 MiB a ConfigMap holds. The largest files:" + largest +
        "\nleave out what the steps do not need in " + dir +
        "/.portflowignore (gitignore syntax), or build the code into the image and set "
        "`code: image` on the target");
  }
  for (const auto& [rel, size] : found) {
    std::ifstream in(fs::path(dir) / rel, std::ios::binary);
    if (!in)
      return FromErrno("cannot read " + dir + "/" + rel, errno, StatusCode::kInvalidArgument);
    std::stringstream bytes;
    bytes << in.rdbuf();
    code.files[rel] = bytes.str();
  }
  return code;
}

Result<std::vector<json>> RenderTask(const TaskSpec& spec, const KubernetesTarget& target,
                                     const std::string& namespace_name,
                                     const std::map<std::string, std::string>& code_files,
                                     const std::vector<std::string>& left_out) {
  std::string image = spec.image.value_or(target.image);
  if (image.empty()) {
    return InvalidArgument("step " + spec.step +
                           " has no image: set spec.image in the workload or image on the target");
  }
  const std::string job = JobName(spec);
  const bool gang = spec.replicas > 1;
  std::map<std::string, std::string> labels = target.labels;
  for (auto& [k, v] : TaskLabels(spec)) labels[k] = v;
  std::map<std::string, std::string> job_labels = labels;  // only Jobs are queued
  if (!target.queue.empty()) job_labels["kueue.x-k8s.io/queue-name"] = target.queue;
  std::map<std::string, std::string> annotations = target.annotations;
  annotations["portflow.dev/instance-name"] = spec.instance;
  std::vector<json> objects;

  // The code, shipped as a ConfigMap named after its content.
  std::string code_map;
  json code_items = json::array();
  if (target.ship_code) {
    std::string digest;
    for (const auto& [path, bytes] : code_files) digest += path + '\0' + bytes + '\0';
    code_map = KubernetesName(spec.run_id + "-code", 63 - 9) + "-" + Hex(Fnv1a(digest), 8);
    json data = json::object(), binary = json::object();
    std::set<std::string> keys;
    for (const auto& [path, bytes] : code_files) {
      // Keys hold [-._a-zA-Z0-9] only; the item puts the file at its path.
      std::string key;
      for (char c : path) key += (Alnum(c) || c == '-' || c == '.' || c == '_') ? c : '_';
      for (int n = 2; keys.count(key); ++n) key += "-" + std::to_string(n);
      keys.insert(key);
      bool text = ToValidUtf8(bytes) == bytes;
      (text ? data : binary)[key] = text ? bytes : Base64Encode(bytes);
      code_items.push_back({{"key", key}, {"path", path}});
    }
    json cm = {{"apiVersion", "v1"},
               {"kind", "ConfigMap"},
               {"metadata",
                {{"name", code_map},
                 {"namespace", namespace_name},
                 {"labels", {{"portflow.dev/run", labels["portflow.dev/run"]}}}}},
               {"data", data}};
    if (!binary.empty()) cm["binaryData"] = binary;
    if (!left_out.empty()) {
      std::string list;
      for (const std::string& path : left_out) list += (list.empty() ? "" : ", ") + path;
      cm["metadata"]["annotations"] = {{"portflow.dev/credentials-left-out", list}};
    }
    objects.push_back(cm);
  }

  // The distributed contract: every replica a pod, replica 0 reachable at
  // <job>-0.<service>. MASTER_PORT comes from the Job's name so that gangs
  // sharing a network (hostNetwork, the fake cluster) do not collide.
  // 20000 to 31999: below Linux's ephemeral range (32768 and up), where a
  // client connection's local port could already hold it.
  int port = 20000 + static_cast<int>(Fnv1a(job) % 12000);
  json env = json::array();
  std::set<std::string> seen;
  for (auto it = spec.env.rbegin(); it != spec.env.rend(); ++it) {  // later wins
    if (seen.insert(it->first).second) env.insert(env.begin(), EnvValue(it->first, it->second));
  }
  for (const std::string prefix : {"", "PORTFLOW_"}) {
    env.push_back(EnvValue(prefix + "WORLD_SIZE", std::to_string(spec.replicas)));
    env.push_back(EnvValue(prefix + "NNODES", std::to_string(spec.replicas)));
    env.push_back(EnvValue(prefix + "LOCAL_RANK", "0"));
    env.push_back(gang ? EnvIndex(prefix + "RANK") : EnvValue(prefix + "RANK", "0"));
    env.push_back(gang ? EnvIndex(prefix + "NODE_RANK") : EnvValue(prefix + "NODE_RANK", "0"));
    env.push_back(EnvValue(prefix + "MASTER_ADDR", gang ? job + "-0." + job : "127.0.0.1"));
    if (gang) env.push_back(EnvValue(prefix + "MASTER_PORT", std::to_string(port)));
  }

  json requests = json::object(), limits = json::object();
  if (spec.resources.milli_cpu > 0) requests["cpu"] = FormatMilliCpu(spec.resources.milli_cpu);
  if (spec.resources.memory_bytes > 0) {
    requests["memory"] = FormatBytes(spec.resources.memory_bytes);
    limits["memory"] = requests["memory"];
  }
  if (spec.resources.gpus > 0) {
    // Extended resources: limits, equal to requests.
    requests["nvidia.com/gpu"] = std::to_string(spec.resources.gpus);
    limits["nvidia.com/gpu"] = requests["nvidia.com/gpu"];
  }
  json resources = json::object();
  if (!requests.empty()) resources["requests"] = requests;
  if (!limits.empty()) resources["limits"] = limits;

  json command = json::array();
  // With an object store, the command runs under `portflow agent` (from
  // the agent image, copied in by an init container): its inputs fetched
  // into, and its outputs stored from, a folder of the pod's own.
  if (spec.store) {
    if (spec.store->agent_image.empty())
      return InvalidArgument("step " + spec.step +
                             ": outputs in an object store need an agent image (agentImage)");
    ASSIGN_OR_RETURN(std::vector<std::string> agent,
                     AgentPrefix(*spec.store, spec, std::string(kAgentMount) + "/portflow",
                                 std::string(kArtifactMount) + "/" + spec.run_id,
                                 /*own_root=*/true));
    command = agent;
  }
  for (const std::string& arg : spec.argv) command.push_back(Literal(arg));
  json container = {{"name", "main"},
                    {"image", image},
                    {"command", command},
                    {"env", env},
                    {"resources", resources}};
  json volumes = json::array(), mounts = json::array();
  const std::string root = std::string(kArtifactMount) + "/";
  auto mount_artifact = [&](const ArtifactBinding& b, bool read_only) -> Status {
    if (b.path.rfind(root, 0) != 0) {
      return InvalidArgument(b.name + ": " + b.path + " is not below " + kArtifactMount);
    }
    json m = {
        {"name", "artifacts"}, {"mountPath", b.path}, {"subPath", b.path.substr(root.size())}};
    if (read_only) m["readOnly"] = true;
    mounts.push_back(m);
    return OkStatus();
  };
  if (spec.store) {
    // The pod's own folders: the agent's binary, and the outputs it fetches
    // and stores (no shared volume).
    volumes.push_back({{"name", "portflow-agent"}, {"emptyDir", json::object()}});
    volumes.push_back({{"name", "artifacts"}, {"emptyDir", json::object()}});
    mounts.push_back({{"name", "portflow-agent"}, {"mountPath", kAgentMount}, {"readOnly", true}});
    mounts.push_back({{"name", "artifacts"}, {"mountPath", kArtifactMount}});
    // The credentials, from the run's Secret; optional, as pods with a
    // role of their own get none.
    container["envFrom"].push_back(
        {{"secretRef", {{"name", StoreSecretName(spec.run_id)}, {"optional", true}}}});
  } else {
    for (const ArtifactBinding& b : spec.outputs) RETURN_IF_ERROR(mount_artifact(b, false));
    for (const ArtifactBinding& b : spec.inputs) RETURN_IF_ERROR(mount_artifact(b, true));
  }
  if (!mounts.empty() && !spec.store) {
    volumes.push_back({{"name", "artifacts"},
                       {"persistentVolumeClaim", {{"claimName", target.artifacts_claim}}}});
  }
  if (target.ship_code) {
    volumes.push_back(
        {{"name", "code"}, {"configMap", {{"name", code_map}, {"items", code_items}}}});
    mounts.push_back({{"name", "code"}, {"mountPath", kCodeMount}, {"readOnly", true}});
    container["workingDir"] = kCodeMount;
  }
  if (!mounts.empty()) container["volumeMounts"] = mounts;
  for (const std::string& secret : target.env_from_secrets)
    container["envFrom"].push_back({{"secretRef", {{"name", secret}}}});

  json pod_spec = {{"restartPolicy", "Never"},
                   {"terminationGracePeriodSeconds", target.grace_seconds},
                   {"containers", json::array({container})}};
  if (spec.store) {
    pod_spec["initContainers"] = json::array(
        {{{"name", "portflow-agent"},
          {"image", spec.store->agent_image},
          {"command", {"cp", "/portflow", std::string(kAgentMount) + "/portflow"}},
          {"volumeMounts", {{{"name", "portflow-agent"}, {"mountPath", kAgentMount}}}}}});
  }
  if (gang) pod_spec["subdomain"] = job;
  if (!target.service_account.empty()) pod_spec["serviceAccountName"] = target.service_account;
  if (!target.image_pull_secrets.empty()) {
    json secrets = json::array();
    for (const std::string& s : target.image_pull_secrets) secrets.push_back({{"name", s}});
    pod_spec["imagePullSecrets"] = secrets;
  }
  if (!target.node_selector.empty()) pod_spec["nodeSelector"] = target.node_selector;
  if (!target.tolerations.empty()) pod_spec["tolerations"] = target.tolerations;
  if (!spec.avoid.empty()) {
    json not_in = json::array();
    for (const auto& [key, value] : spec.avoid)
      not_in.push_back({{"key", key}, {"operator", "NotIn"}, {"values", {value}}});
    pod_spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] = {
        {"nodeSelectorTerms", {{{"matchExpressions", not_in}}}}};
  }
  if (!volumes.empty()) pod_spec["volumes"] = volumes;

  json job_spec = {
      {"parallelism", spec.replicas},
      {"completions", spec.replicas},
      {"backoffLimit", 0},  // the engine retries; one failed replica fails the gang
      {"template",
       {{"metadata", {{"labels", job_labels}, {"annotations", annotations}}}, {"spec", pod_spec}}}};
  if (gang) job_spec["completionMode"] = "Indexed";
  if (spec.timeout) {
    double seconds = std::chrono::duration<double>(*spec.timeout).count();
    job_spec["activeDeadlineSeconds"] =
        std::max<int64_t>(1, static_cast<int64_t>(std::ceil(seconds)));
  }
  if (target.ttl_seconds) job_spec["ttlSecondsAfterFinished"] = *target.ttl_seconds;
  job_labels[kJobLabel] = job;  // on the Job only: the pods' labels were taken above

  if (gang) {
    objects.push_back(
        {{"apiVersion", "v1"},
         {"kind", "Service"},
         {"metadata", {{"name", job}, {"namespace", namespace_name}, {"labels", labels}}},
         {"spec",
          {{"clusterIP", "None"},
           {"publishNotReadyAddresses", true},
           {"selector", {{"batch.kubernetes.io/job-name", job}}},
           {"ports", {{{"name", "rendezvous"}, {"port", port}, {"protocol", "TCP"}}}}}}});
  }
  objects.push_back({{"apiVersion", "batch/v1"},
                     {"kind", "Job"},
                     {"metadata",
                      {{"name", job},
                       {"namespace", namespace_name},
                       {"labels", job_labels},
                       {"annotations", annotations}}},
                     {"spec", job_spec}});
  return objects;
}

}  // namespace portflow::k8s
