#include "k8s_backend/client/kubeconfig.h"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "core/base64.h"

namespace portflow::k8s {
namespace {

namespace fs = std::filesystem;

// One named entry (cluster, user or context) and the file it came from.
struct Entry {
  YAML::Node node;  // the inner map: `cluster:`, `user:` or `context:`
  std::string file;
};

struct Merged {
  std::map<std::string, Entry> clusters, users, contexts;
  std::vector<std::string> context_order;
  std::string current_context;
  std::vector<std::string> files;
};

std::string At(const std::string& file, const YAML::Node& node) {
  YAML::Mark m = node.Mark();
  if (m.line < 0) return file;
  return file + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
}

Status Bad(const std::string& file, const YAML::Node& node, const std::string& message) {
  return InvalidArgument(At(file, node) + ": " + message);
}

// A string field of a map; "" when absent or null.
Result<std::string> Str(const YAML::Node& map, const char* key, const std::string& file,
                        const std::string& path) {
  YAML::Node v = map[key];
  if (!v || v.IsNull()) return std::string();
  if (!v.IsScalar()) return Bad(file, v, path + "." + key + " must be a string");
  return v.Scalar();
}

Result<bool> Bool(const YAML::Node& map, const char* key, const std::string& file,
                  const std::string& path) {
  YAML::Node v = map[key];
  if (!v || v.IsNull()) return false;
  if (v.IsScalar() && (v.Scalar() == "true" || v.Scalar() == "false")) return v.Scalar() == "true";
  return Bad(file, v, path + "." + key + " must be true or false");
}

// `*-data` fields hold base64; the result is the bytes.
Result<std::string> Data(const YAML::Node& map, const char* key, const std::string& file,
                         const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, Str(map, key, file, path));
  if (text.empty()) return text;
  std::optional<std::string> bytes = Base64Decode(text);
  if (!bytes) return Bad(file, map[key], path + "." + key + " is not valid base64");
  return *bytes;
}

// Paths in a kubeconfig are relative to the file that holds them.
std::string Resolve(const std::string& path, const std::string& file) {
  if (path.empty() || fs::path(path).is_absolute()) return path;
  return (fs::path(file).parent_path() / path).lexically_normal().string();
}

Status ReadNamed(const YAML::Node& root, const char* list, const char* inner,
                 const std::string& file, std::map<std::string, Entry>& into,
                 std::vector<std::string>* order) {
  YAML::Node seq = root[list];
  if (!seq || seq.IsNull()) return OkStatus();
  if (!seq.IsSequence()) return Bad(file, seq, std::string(list) + " must be a list");
  for (size_t i = 0; i < seq.size(); ++i) {
    std::string path = std::string(list) + "[" + std::to_string(i) + "]";
    const YAML::Node item = seq[i];
    if (!item.IsMap()) return Bad(file, item, path + " must be a map");
    ASSIGN_OR_RETURN(std::string name, Str(item, "name", file, path));
    if (name.empty()) return Bad(file, item, path + " has no name");
    YAML::Node body = item[inner];
    if (body && !body.IsNull() && !body.IsMap()) {
      return Bad(file, body, path + "." + inner + " must be a map");
    }
    if (into.count(name)) continue;  // the first file to name it wins
    into[name] = {body && body.IsMap() ? body : YAML::Node(YAML::NodeType::Map), file};
    if (order) order->push_back(name);
  }
  return OkStatus();
}

Status ReadFile(const std::string& file, Merged& merged) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(file);
  } catch (const YAML::ParserException& e) {
    return InvalidArgument(file + ":" + std::to_string(e.mark.line + 1) + ":" +
                           std::to_string(e.mark.column + 1) + ": " + e.msg);
  } catch (const YAML::Exception& e) {
    return InvalidArgument(file + ": " + e.what());
  }
  merged.files.push_back(file);
  if (root.IsNull()) return OkStatus();  // an empty file adds nothing
  if (!root.IsMap()) return Bad(file, root, "a kubeconfig must be a map");
  RETURN_IF_ERROR(ReadNamed(root, "clusters", "cluster", file, merged.clusters, nullptr));
  RETURN_IF_ERROR(ReadNamed(root, "users", "user", file, merged.users, nullptr));
  RETURN_IF_ERROR(
      ReadNamed(root, "contexts", "context", file, merged.contexts, &merged.context_order));
  ASSIGN_OR_RETURN(std::string current, Str(root, "current-context", file, "kubeconfig"));
  if (merged.current_context.empty()) merged.current_context = current;
  return OkStatus();
}

bool Exists(const std::string& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec);
}

// The files kubectl would read, in order; NotFound when there are none.
Result<std::vector<std::string>> Files(const KubeconfigSelection& selection,
                                       const KubeconfigEnv& env) {
  if (!selection.kubeconfig.empty()) {
    if (!Exists(selection.kubeconfig))
      return NotFound("kubeconfig " + selection.kubeconfig + ": no such file");
    return std::vector<std::string>{selection.kubeconfig};
  }
  std::vector<std::string> files;
  if (!env.kubeconfig.empty()) {
    std::stringstream list(env.kubeconfig);
    for (std::string f; std::getline(list, f, ':');) {
      if (!f.empty() && Exists(f)) files.push_back(f);  // missing files are skipped
    }
    if (files.empty()) {
      return NotFound("no kubeconfig: none of the files in KUBECONFIG (" + env.kubeconfig +
                      ") exists");
    }
    return files;
  }
  std::string home_config = env.home + "/.kube/config";
  if (!env.home.empty() && Exists(home_config)) return std::vector<std::string>{home_config};
  return NotFound("no kubeconfig: KUBECONFIG is unset and " +
                  (env.home.empty() ? std::string("$HOME") : env.home) +
                  "/.kube/config does not exist");
}

Result<Merged> Load(const KubeconfigSelection& selection, const KubeconfigEnv& env) {
  ASSIGN_OR_RETURN(std::vector<std::string> files, Files(selection, env));
  Merged merged;
  for (const std::string& f : files) RETURN_IF_ERROR(ReadFile(f, merged));
  return merged;
}

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

Result<std::string> ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound(path + ": cannot be read");
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A pod's own service account, as client-go's InClusterConfig reads it.
Result<ClusterAccess> InCluster(const KubeconfigEnv& env) {
  std::string token_file = env.service_account_dir + "/token";
  if (!Exists(token_file)) {
    return NotFound("in-cluster: " + token_file + " does not exist");
  }
  ClusterAccess a;
  bool v6 = env.service_host.find(':') != std::string::npos;
  a.server =
      "https://" + (v6 ? "[" + env.service_host + "]" : env.service_host) + ":" + env.service_port;
  a.ca_file = env.service_account_dir + "/ca.crt";
  a.token_file = token_file;
  if (auto ns = ReadText(env.service_account_dir + "/namespace"); ns.ok() && !ns->empty()) {
    std::string name = *ns;
    while (!name.empty() && (name.back() == '\n' || name.back() == ' ')) name.pop_back();
    a.namespace_name = name;
  }
  a.origin = "in-cluster service account";
  return a;
}

Status ReadExec(const YAML::Node& exec, const std::string& file, const std::string& path,
                ExecConfig& out) {
  if (!exec.IsMap()) return Bad(file, exec, path + " must be a map");
  ASSIGN_OR_RETURN(out.api_version, Str(exec, "apiVersion", file, path));
  if (out.api_version != "client.authentication.k8s.io/v1" &&
      out.api_version != "client.authentication.k8s.io/v1beta1") {
    return Bad(file, exec,
               path + ".apiVersion must be client.authentication.k8s.io/v1 or /v1beta1, not \"" +
                   out.api_version + "\"");
  }
  ASSIGN_OR_RETURN(out.command, Str(exec, "command", file, path));
  if (out.command.empty()) return Bad(file, exec, path + ".command is required");
  if (out.command.find('/') != std::string::npos) out.command = Resolve(out.command, file);
  ASSIGN_OR_RETURN(out.install_hint, Str(exec, "installHint", file, path));
  ASSIGN_OR_RETURN(out.provide_cluster_info, Bool(exec, "provideClusterInfo", file, path));
  if (YAML::Node args = exec["args"]; args && !args.IsNull()) {
    if (!args.IsSequence()) return Bad(file, args, path + ".args must be a list");
    for (const YAML::Node& a : args) {
      if (!a.IsScalar()) return Bad(file, a, path + ".args must hold strings");
      out.args.push_back(a.Scalar());
    }
  }
  if (YAML::Node env = exec["env"]; env && !env.IsNull()) {
    if (!env.IsSequence()) return Bad(file, env, path + ".env must be a list");
    for (const YAML::Node& e : env) {
      if (!e.IsMap()) return Bad(file, e, path + ".env entries must be maps");
      ASSIGN_OR_RETURN(std::string name, Str(e, "name", file, path + ".env"));
      ASSIGN_OR_RETURN(std::string value, Str(e, "value", file, path + ".env"));
      if (name.empty()) return Bad(file, e, path + ".env entry has no name");
      out.env.emplace_back(name, value);
    }
  }
  return OkStatus();
}

}  // namespace

KubeconfigEnv KubeconfigEnv::FromProcess() {
  auto get = [](const char* name) {
    const char* v = std::getenv(name);
    return std::string(v ? v : "");
  };
  KubeconfigEnv env;
  env.kubeconfig = get("KUBECONFIG");
  env.home = get("HOME");
  env.service_host = get("KUBERNETES_SERVICE_HOST");
  env.service_port = get("KUBERNETES_SERVICE_PORT");
  return env;
}

Result<ClusterAccess> ResolveClusterAccess(const KubeconfigSelection& selection,
                                           const KubeconfigEnv& env) {
  auto merged = Load(selection, env);
  if (!merged.ok()) {
    // No kubeconfig at all: a process in a pod uses its service account.
    bool none = merged.status().code() == StatusCode::kNotFound && selection.kubeconfig.empty();
    if (none && !env.service_host.empty() && !env.service_port.empty()) {
      ASSIGN_OR_RETURN(ClusterAccess a, InCluster(env));
      if (!selection.namespace_name.empty()) a.namespace_name = selection.namespace_name;
      return a;
    }
    return merged.status();
  }
  const Merged& m = *merged;
  std::string files = Join(m.files);
  std::string name = selection.context.empty() ? m.current_context : selection.context;
  if (name.empty()) {
    return InvalidArgument("no context chosen: " + files +
                           " has no current-context; pass a context (kubectl config "
                           "get-contexts lists them)");
  }
  auto ctx = m.contexts.find(name);
  if (ctx == m.contexts.end()) {
    return NotFound("context \"" + name + "\" not found in " + files);
  }
  const Entry& c = ctx->second;
  std::string path = "contexts[" + name + "].context";
  ClusterAccess a;
  a.context = name;
  ASSIGN_OR_RETURN(a.cluster, Str(c.node, "cluster", c.file, path));
  ASSIGN_OR_RETURN(std::string user, Str(c.node, "user", c.file, path));
  ASSIGN_OR_RETURN(std::string ns, Str(c.node, "namespace", c.file, path));
  if (!ns.empty()) a.namespace_name = ns;
  if (!selection.namespace_name.empty()) a.namespace_name = selection.namespace_name;
  a.origin = "kubeconfig " + c.file + " (context " + name + ", user " + user + ")";

  auto cluster = m.clusters.find(a.cluster);
  if (cluster == m.clusters.end()) {
    return NotFound("context \"" + name + "\" names cluster \"" + a.cluster +
                    "\", which is not in " + files);
  }
  const Entry& cl = cluster->second;
  path = "clusters[" + a.cluster + "].cluster";
  ASSIGN_OR_RETURN(a.server, Str(cl.node, "server", cl.file, path));
  if (a.server.empty()) return Bad(cl.file, cl.node, path + " has no server");
  ASSIGN_OR_RETURN(std::string ca, Str(cl.node, "certificate-authority", cl.file, path));
  a.ca_file = Resolve(ca, cl.file);
  ASSIGN_OR_RETURN(a.ca_pem, Data(cl.node, "certificate-authority-data", cl.file, path));
  ASSIGN_OR_RETURN(a.insecure_skip_tls_verify,
                   Bool(cl.node, "insecure-skip-tls-verify", cl.file, path));
  ASSIGN_OR_RETURN(a.tls_server_name, Str(cl.node, "tls-server-name", cl.file, path));
  ASSIGN_OR_RETURN(a.proxy_url, Str(cl.node, "proxy-url", cl.file, path));

  if (user.empty()) return a;  // anonymous
  auto u = m.users.find(user);
  if (u == m.users.end()) {
    return NotFound("context \"" + name + "\" names user \"" + user + "\", which is not in " +
                    files);
  }
  const Entry& us = u->second;
  path = "users[" + user + "].user";
  ASSIGN_OR_RETURN(a.token, Str(us.node, "token", us.file, path));
  ASSIGN_OR_RETURN(std::string token_file, Str(us.node, "tokenFile", us.file, path));
  a.token_file = Resolve(token_file, us.file);
  ASSIGN_OR_RETURN(std::string cert, Str(us.node, "client-certificate", us.file, path));
  a.client_cert_file = Resolve(cert, us.file);
  ASSIGN_OR_RETURN(a.client_cert_pem, Data(us.node, "client-certificate-data", us.file, path));
  ASSIGN_OR_RETURN(std::string key, Str(us.node, "client-key", us.file, path));
  a.client_key_file = Resolve(key, us.file);
  ASSIGN_OR_RETURN(a.client_key_pem, Data(us.node, "client-key-data", us.file, path));
  ASSIGN_OR_RETURN(a.username, Str(us.node, "username", us.file, path));
  ASSIGN_OR_RETURN(a.password, Str(us.node, "password", us.file, path));
  if (YAML::Node exec = us.node["exec"]; exec && !exec.IsNull()) {
    ExecConfig e;
    RETURN_IF_ERROR(ReadExec(exec, us.file, path + ".exec", e));
    a.exec = std::move(e);
  }
  if (us.node["auth-provider"]) {
    return Bad(us.file, us.node["auth-provider"],
               path +
                   ".auth-provider is not supported (kubectl removed it in 1.26); use an "
                   "exec plugin");
  }
  bool has_cert = !a.client_cert_file.empty() || !a.client_cert_pem.empty();
  bool has_key = !a.client_key_file.empty() || !a.client_key_pem.empty();
  if (has_cert != has_key) {
    return Bad(us.file, us.node,
               path + " has a client certificate without a key, or a key without a certificate");
  }
  if ((!a.token.empty() || !a.token_file.empty()) && !a.username.empty()) {
    return Bad(us.file, us.node, path + " has both a token and a username: pick one");
  }
  return a;
}

Result<ContextList> ListContexts(const KubeconfigSelection& selection, const KubeconfigEnv& env) {
  ASSIGN_OR_RETURN(Merged m, Load(selection, env));
  return ContextList{m.context_order, m.current_context, m.files};
}

}  // namespace portflow::k8s
