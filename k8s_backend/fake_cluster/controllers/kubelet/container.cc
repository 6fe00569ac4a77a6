#include "k8s_backend/fake_cluster/controllers/kubelet/container.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include "core/base64.h"
#include "core/image_ref.h"
#include "k8s_backend/fake_cluster/store/json_fields.h"

namespace portflow::fake {
namespace {

namespace fs = std::filesystem;

std::string Scalar(const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

std::string NotFoundMessage(bool secret, const std::string& name) {
  return std::string(secret ? "secret" : "configmap") + " \"" + name + "\" not found";
}

std::string MissingKeyMessage(bool secret, const std::string& ns, const json& ref) {
  return "couldn't find key " + Str(ref, "key") + " in " + (secret ? "Secret " : "ConfigMap ") +
         ns + "/" + Str(ref, "name");
}

// Why the container's env cannot be built from its ConfigMaps and Secrets.
std::optional<std::string> ConfigError(const ObjectStore& store, const std::string& ns,
                                       const json& c) {
  for (const json& from : Field(c, "envFrom")) {
    bool secret = from.contains("secretRef");
    const json& ref = Field(from, secret ? "secretRef" : "configMapRef");
    if (Field(ref, "optional") == json(true)) continue;
    if (!store.Peek(secret ? Secrets() : ConfigMaps(), ns, Str(ref, "name")))
      return NotFoundMessage(secret, Str(ref, "name"));
  }
  for (const json& e : Field(c, "env")) {
    const json& from = Field(e, "valueFrom");
    bool secret = from.contains("secretKeyRef");
    if (!secret && !from.contains("configMapKeyRef")) continue;
    const json& ref = Field(from, secret ? "secretKeyRef" : "configMapKeyRef");
    if (Field(ref, "optional") == json(true)) continue;
    auto object = store.Peek(secret ? Secrets() : ConfigMaps(), ns, Str(ref, "name"));
    if (!object) return NotFoundMessage(secret, Str(ref, "name"));
    if (!Field(*object, "data").contains(Str(ref, "key")) &&
        !Field(*object, "binaryData").contains(Str(ref, "key")))
      return MissingKeyMessage(secret, ns, ref);
  }
  return std::nullopt;
}

// $(VAR) references expand to earlier variables, $$ is a literal $, and an
// unknown reference stays as written: the kubelet's rules.
std::string Expand(const std::string& s, const std::map<std::string, std::string>& vars) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '$' && i + 1 < s.size() && s[i + 1] == '$') {
      out += '$';
      ++i;
    } else if (s[i] == '$' && i + 1 < s.size() && s[i + 1] == '(') {
      size_t close = s.find(')', i + 2);
      auto it = close == std::string::npos ? vars.end() : vars.find(s.substr(i + 2, close - i - 2));
      if (it == vars.end()) {
        out += s[i];
        continue;
      }
      out += it->second;
      i = close;
    } else {
      out += s[i];
    }
  }
  return out;
}

// The value of a downward-API fieldPath.
std::optional<std::string> FieldRef(const json& pod, const std::string& path) {
  const json& meta = Field(pod, "metadata");
  for (const char* map : {"annotations", "labels"}) {
    std::string prefix = std::string("metadata.") + map + "['";
    if (path.rfind(prefix, 0) == 0 && path.size() > prefix.size() + 2 &&
        path.substr(path.size() - 2) == "']") {
      return Str(Field(meta, map),
                 path.substr(prefix.size(), path.size() - prefix.size() - 2).c_str());
    }
  }
  if (path == "metadata.name") return Str(meta, "name");
  if (path == "metadata.namespace") return Str(meta, "namespace");
  if (path == "metadata.uid") return Str(meta, "uid");
  if (path == "spec.nodeName") return Str(Field(pod, "spec"), "nodeName");
  if (path == "spec.serviceAccountName") return Str(Field(pod, "spec"), "serviceAccountName");
  if (path == "status.podIP" || path == "status.hostIP") return std::string("127.0.0.1");
  return std::nullopt;
}

// Data of a ConfigMap or Secret as bytes per key.
Result<std::map<std::string, std::string>> DataOf(const ObjectStore& store, const std::string& ns,
                                                  bool secret, const std::string& name) {
  auto object = store.Peek(secret ? Secrets() : ConfigMaps(), ns, name);
  if (!object) return NotFound(NotFoundMessage(secret, name));
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : Field(*object, "data").items()) {
    if (!secret) {
      out[k] = Scalar(v);
    } else if (auto bytes = Base64Decode(Scalar(v))) {
      out[k] = *bytes;
    }
  }
  for (const auto& [k, v] : Field(*object, "binaryData").items()) {
    if (auto bytes = Base64Decode(Scalar(v))) out[k] = *bytes;
  }
  return out;
}

// A configMap or secret volume `v`: its keys (or its items) as files in `host`.
Status Project(const ObjectStore& store, const std::string& ns, const json& v,
               const fs::path& host) {
  bool secret = v.contains("secret");
  const json& source = v[secret ? "secret" : "configMap"];
  auto data = DataOf(store, ns, secret, Str(source, secret ? "secretName" : "name"));
  if (!data.ok()) {
    if (Field(source, "optional") != json(true))
      return Status(data.status().code(), "MountVolume.SetUp failed for volume \"" +
                                              Str(v, "name") + "\" : " + data.status().message());
    data = std::map<std::string, std::string>{};
  }
  std::map<std::string, std::string> files;  // path in the volume -> bytes
  if (Field(source, "items").empty()) {
    files = *data;
  } else {
    for (const json& item : source["items"]) {
      auto it = data->find(Str(item, "key"));
      if (it != data->end()) files[Str(item, "path")] = it->second;
    }
  }
  std::error_code ec;
  fs::create_directories(host, ec);
  for (const auto& [path, bytes] : files) {
    fs::path file = host / path;
    fs::create_directories(file.parent_path(), ec);
    std::ofstream(file, std::ios::binary) << bytes;
  }
  return OkStatus();
}

// Each volume of the pod as a host directory, by volume name.
Result<std::map<std::string, fs::path>> Volumes(const ObjectStore& store,
                                                const std::string& exec_root, const fs::path& dir,
                                                const json& pod) {
  std::string ns = Str(Field(pod, "metadata"), "namespace");
  std::map<std::string, fs::path> volumes;
  for (const json& v : Field(Field(pod, "spec"), "volumes")) {
    std::string name = Str(v, "name");
    fs::path host = dir / "volumes" / name;
    if (v.contains("persistentVolumeClaim")) {
      // One directory per claim, shared by every pod that mounts it.
      host = fs::path(exec_root) / "volumes" / ns / Str(v["persistentVolumeClaim"], "claimName");
    } else if (v.contains("hostPath")) {
      host = Str(v["hostPath"], "path");
    } else if (v.contains("secret") || v.contains("configMap")) {
      if (Status s = Project(store, ns, v, host); !s.ok()) return s;
    } else if (!v.contains("emptyDir")) {
      return InvalidArgument("volume \"" + name +
                             "\": execute mode supports configMap, secret, "
                             "emptyDir, persistentVolumeClaim and hostPath volumes");
    }
    std::error_code ec;
    fs::create_directories(host, ec);
    volumes[name] = host;
  }
  return volumes;
}

using Mounts = std::vector<std::pair<std::string, std::string>>;  // mount path -> path here

// Links each of the container's volumeMounts at its mount path under `root`;
// the mounts, longest first (so /data/in wins over /data).
Result<Mounts> LinkMounts(const json& c, const std::map<std::string, fs::path>& volumes,
                          const fs::path& root) {
  Mounts mounts;
  std::error_code ec;
  for (const json& m : Field(c, "volumeMounts")) {
    auto it = volumes.find(Str(m, "name"));
    if (it == volumes.end())
      return InvalidArgument("volumeMount \"" + Str(m, "name") + "\" names no volume");
    fs::path source = it->second;
    if (!Str(m, "subPath").empty()) source /= Str(m, "subPath");
    fs::create_directories(source, ec);
    std::string mount = fs::path(Str(m, "mountPath")).lexically_normal().string();
    while (mount.size() > 1 && mount.back() == '/') mount.pop_back();
    fs::path link = root / fs::path(mount).relative_path();
    fs::create_directories(link.parent_path(), ec);
    fs::remove(link, ec);
    fs::create_directory_symlink(fs::absolute(source), link, ec);
    if (ec) return Internal("cannot link " + link.string() + ": " + ec.message());
    mounts.emplace_back(mount, link.string());
  }
  std::sort(mounts.begin(), mounts.end(),
            [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  return mounts;
}

// `s` with every mount path (at a word boundary) replaced by where it is here.
std::string Reroot(const Mounts& mounts, const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    bool done = false;
    bool boundary = i == 0 || std::string(" =:,\"'(").find(s[i - 1]) != std::string::npos;
    for (const auto& [from, to] : mounts) {
      size_t end = i + from.size();
      if (boundary && s.compare(i, from.size(), from) == 0 &&
          (end == s.size() || s[end] == '/' ||
           std::string(" :,\"');").find(s[end]) != std::string::npos)) {
        out += to;
        i = end;
        done = true;
        break;
      }
    }
    if (!done) out += s[i++];
  }
  return out;
}

// `s` with each <pod>.<service>[.<namespace>[.svc[.cluster.local]]] of an
// existing Service replaced by 127.0.0.1.
std::string ResolveServices(const ObjectStore& store, const std::string& ns, const std::string& s) {
  std::string out, token;
  auto flush = [&] {
    std::vector<std::string> parts;
    for (size_t start = 0;;) {
      size_t dot = token.find('.', start);
      parts.push_back(token.substr(start, dot - start));
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    bool local = false;
    if (parts.size() >= 2 && !parts[0].empty()) {
      std::string svc_ns = parts.size() >= 3 ? parts[2] : ns;
      std::string rest;
      for (size_t k = 3; k < parts.size(); ++k) rest += (k > 3 ? "." : "") + parts[k];
      local = (rest.empty() || rest == "svc" || rest == "svc.cluster.local") &&
              store.Peek(Services(), svc_ns, parts[1]) != nullptr;
    }
    out += local ? "127.0.0.1" : token;
    token.clear();
  };
  for (char ch : s) {
    if (std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '.') {
      token += ch;
    } else {
      flush();
      out += ch;
    }
  }
  flush();
  return out;
}

// The container's variables in the order they are defined: envFrom, then
// env (values expanded against the earlier ones, fieldRefs, key refs).
struct Vars {
  std::map<std::string, std::string> values;
  std::vector<std::string> order;
  void Set(const std::string& k, const std::string& v) {
    if (!values.count(k)) order.push_back(k);
    values[k] = v;
  }
};

Result<Vars> ContainerVars(const ObjectStore& store, const json& pod, const json& c) {
  std::string ns = Str(Field(pod, "metadata"), "namespace");
  Vars vars;
  for (const json& from : Field(c, "envFrom")) {
    bool secret = from.contains("secretRef");
    const json& ref = Field(from, secret ? "secretRef" : "configMapRef");
    auto data = DataOf(store, ns, secret, Str(ref, "name"));
    if (!data.ok()) {
      if (Field(ref, "optional") == json(true)) continue;
      return data.status();
    }
    for (const auto& [k, v] : *data) vars.Set(Str(from, "prefix") + k, v);
  }
  for (const json& e : Field(c, "env")) {
    std::string name = Str(e, "name");
    const json& from = Field(e, "valueFrom");
    if (e.contains("value")) {
      vars.Set(name, Expand(Scalar(e["value"]), vars.values));
    } else if (from.contains("fieldRef")) {
      std::string path = Str(from["fieldRef"], "fieldPath");
      auto v = FieldRef(pod, path);
      if (!v) return InvalidArgument("env " + name + ": unsupported fieldPath \"" + path + "\"");
      vars.Set(name, *v);
    } else if (from.contains("configMapKeyRef") || from.contains("secretKeyRef")) {
      bool secret = from.contains("secretKeyRef");
      const json& ref = from[secret ? "secretKeyRef" : "configMapKeyRef"];
      auto data = DataOf(store, ns, secret, Str(ref, "name"));
      auto it = data.ok() ? data->find(Str(ref, "key")) : data->end();
      if (!data.ok() || it == data->end()) {
        if (Field(ref, "optional") == json(true)) continue;
        return data.ok() ? NotFound(MissingKeyMessage(secret, ns, ref)) : data.status();
      }
      vars.Set(name, it->second);
    }
  }
  return vars;
}

}  // namespace

std::optional<std::pair<std::string, std::string>> ContainerBlocked(
    const ObjectStore& store, const std::set<std::string>& missing_images, const json& pod,
    int tries) {
  std::string ns = Str(Field(pod, "metadata"), "namespace");
  for (const json& c : Field(Field(pod, "spec"), "containers")) {
    std::string image = Str(c, "image");
    if (!IsImageReference(image)) {
      return std::pair{"InvalidImageName", "Failed to apply default image tag \"" + image +
                                               "\": couldn't parse image name \"" + image +
                                               "\": invalid reference format"};
    }
    if (missing_images.count(image)) {
      if (tries == 0) {
        return std::pair{"ErrImagePull",
                         "rpc error: code = NotFound desc = failed to pull and unpack image \"" +
                             image + "\": failed to resolve reference \"" + image + "\": " + image +
                             ": not found"};
      }
      return std::pair{"ImagePullBackOff", "Back-off pulling image \"" + image + "\""};
    }
    if (auto why = ConfigError(store, ns, c))
      return std::pair{std::string("CreateContainerConfigError"), *why};
  }
  return std::nullopt;
}

Result<FolderState> Snapshot(const std::string& dir) {
  FolderState state;
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code e;
    // Python's bytecode caches: where it cannot write them, it goes on
    // without them, so they are not writes that fail a pod.
    if (it->path().filename() == "__pycache__") {
      it.disable_recursion_pending();
      continue;
    }
    auto size = it->is_regular_file(e) ? it->file_size(e) : 0;
    auto time = it->last_write_time(e).time_since_epoch().count();
    state[it->path().lexically_relative(dir).string()] = {size, static_cast<int64_t>(time)};
  }
  if (ec.value() == EMFILE || ec.value() == ENFILE)
    return FromErrno("cannot list " + dir, ec.value(), StatusCode::kInternal);
  return state;
}

std::string FirstChange(const FolderState& before, const FolderState& after) {
  for (const auto& [path, v] : after) {
    auto it = before.find(path);
    if (it == before.end() || it->second != v) return path;
  }
  for (const auto& [path, v] : before) {
    if (!after.count(path)) return path;
  }
  return "";
}

Result<ContainerLaunch> PrepareContainer(const ObjectStore& store, const std::string& exec_root,
                                         const json& pod, const json* container,
                                         const std::map<std::string, std::string>& image_files) {
  const json& meta = Field(pod, "metadata");
  const json& spec = Field(pod, "spec");
  std::string ns = Str(meta, "namespace");
  const json& containers = Field(spec, "containers");
  if (containers.empty()) return InvalidArgument("the pod has no containers");
  const json& c = container ? *container : containers[0];
  ContainerLaunch launch;
  launch.container = Str(c, "name");
  fs::path dir = fs::path(exec_root) / "pods" / Str(meta, "uid");
  launch.pod_dir = dir.string();
  fs::path root = dir / "root";
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) return Internal("cannot create " + root.string() + ": " + ec.message());
  auto volumes = Volumes(store, exec_root, dir, pod);
  if (!volumes.ok()) return volumes.status();
  auto mounts = LinkMounts(c, *volumes, root);
  if (!mounts.ok()) return mounts.status();
  // The image's own files, where it has any here (longest paths first, as
  // the mounts).
  for (const auto& [in_image, here] : image_files) mounts->emplace_back(in_image, here);
  std::sort(mounts->begin(), mounts->end(),
            [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  std::set<std::string> read_only_volumes;  // configMap and secret volumes are
  for (const json& v : Field(spec, "volumes")) {
    if (v.contains("configMap") || v.contains("secret")) read_only_volumes.insert(Str(v, "name"));
  }
  for (const json& m : Field(c, "volumeMounts")) {
    if (!read_only_volumes.count(Str(m, "name")) && Field(m, "readOnly") != json(true)) continue;
    auto volume = volumes->find(Str(m, "name"));
    if (volume == volumes->end()) continue;
    fs::path dir = volume->second;
    if (!Str(m, "subPath").empty()) dir /= Str(m, "subPath");
    auto at_start = Snapshot(dir.string());
    if (!at_start.ok()) return at_start.status();  // out of descriptors: the pod waits
    launch.read_only.push_back({Str(m, "mountPath"), dir.string(), std::move(*at_start)});
  }
  auto vars = ContainerVars(store, pod, c);
  if (!vars.ok()) return vars.status();

  const char* path = std::getenv("PATH");
  launch.search_path = path ? path : "/usr/bin:/bin";
  launch.env = {
      "PATH=" + std::string(path ? path : "/usr/local/bin:/usr/bin:/bin"), "HOME=" + root.string(),
      "HOSTNAME=" + (Str(spec, "hostname").empty() ? Str(meta, "name") : Str(spec, "hostname"))};
  for (const std::string& k : vars->order)
    launch.env.push_back(k + "=" + Reroot(*mounts, ResolveServices(store, ns, vars->values[k])));
  for (const char* field : {"command", "args"}) {
    for (const json& a : Field(c, field))
      launch.argv.push_back(Reroot(*mounts, Expand(Scalar(a), vars->values)));
  }
  if (launch.argv.empty()) {
    return FailedPrecondition("container \"" + launch.container +
                              "\" has no command: execute mode runs the container's command, "
                              "as it cannot know the image's entrypoint");
  }
  launch.cwd = root.string();
  if (std::string wd = Str(c, "workingDir"); !wd.empty()) {
    std::string normal = fs::path(wd).lexically_normal().string();
    launch.cwd = Reroot(*mounts, normal);
    if (launch.cwd == normal) launch.cwd = (root / fs::path(wd).relative_path()).string();
    fs::create_directories(launch.cwd, ec);
  }
  launch.env.push_back("PWD=" + launch.cwd);  // so that a shell's pwd shows the path as mounted
  return launch;
}

}  // namespace portflow::fake
