#include "k8s_backend/client/credentials.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "core/base64.h"
#include "core/k8s_time.h"

extern char** environ;

namespace portflow::k8s {
namespace {

using json = nlohmann::json;

constexpr auto kPluginTimeout = std::chrono::seconds(60);
constexpr auto kTokenFileRefresh = std::chrono::minutes(1);

std::string Trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t start = 0;
  while (start < s.size() && std::isspace(static_cast<unsigned char>(s[start]))) ++start;
  return s.substr(start);
}

// The last non-empty line of a plugin's stderr, for error messages.
std::string LastLine(const std::string& text) {
  std::string t = Trim(text);
  size_t nl = t.rfind('\n');
  std::string line = nl == std::string::npos ? t : t.substr(nl + 1);
  return line.size() > 300 ? line.substr(0, 300) + "..." : line;
}

}  // namespace

Result<std::string> RunExecPlugin(const ExecConfig& exec, const std::string& exec_info) {
  // The environment: ours, then the kubeconfig's, then KUBERNETES_EXEC_INFO.
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string kv(*e);
    size_t eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& [k, v] : exec.env) env[k] = v;
  env["KUBERNETES_EXEC_INFO"] = exec_info;
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args{exec.command};
  args.insert(args.end(), exec.args.begin(), exec.args.end());
  std::vector<char*> argv;
  for (std::string& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);

  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0) return Internal(std::string("pipe: ") + std::strerror(errno));
  if (pipe2(err, O_CLOEXEC) != 0) {
    close(out[0]);
    close(out[1]);
    return Internal(std::string("pipe: ") + std::strerror(errno));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);  // never interactive
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err[1], 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, exec.command.c_str(), &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(out[1]);
  close(err[1]);
  if (rc != 0) {
    close(out[0]);
    close(err[0]);
    std::string message =
        rc == ENOENT ? "exec plugin: executable " + exec.command + " not found"
                     : "exec plugin " + exec.command + " could not start: " + std::strerror(rc);
    if (!exec.install_hint.empty()) message += "\n\n" + Trim(exec.install_hint);
    return FailedPrecondition(message);
  }

  std::string stdout_text, stderr_text;
  auto deadline = std::chrono::steady_clock::now() + kPluginTimeout;
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  bool timed_out = false;
  while (fds[0].fd >= 0 || fds[1].fd >= 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    int n = poll(fds, 2, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[4096];
      ssize_t got = read(fds[i].fd, buf, sizeof buf);
      if (got > 0) {
        (i == 0 ? stdout_text : stderr_text).append(buf, static_cast<size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        close(fds[i].fd);
        fds[i].fd = -1;
      }
    }
  }
  for (pollfd& f : fds) {
    if (f.fd >= 0) close(f.fd);
  }
  if (timed_out) kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    return Status(StatusCode::kDeadlineExceeded, "exec plugin " + exec.command +
                                                     " did not finish within " +
                                                     std::to_string(kPluginTimeout.count()) + "s");
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string how = WIFEXITED(status)
                          ? "exited with code " + std::to_string(WEXITSTATUS(status))
                          : "was killed by signal " + std::to_string(WTERMSIG(status));
    std::string last = LastLine(stderr_text);
    return Unavailable("exec plugin " + exec.command + " " + how +
                       (last.empty() ? "" : ": " + last));
  }
  return stdout_text;
}

Credentials::Credentials(ClusterAccess access, Clock& clock, ExecRunner runner)
    : access_(std::move(access)), clock_(clock), runner_(std::move(runner)) {}

int Credentials::exec_runs() const {
  std::lock_guard<std::mutex> l(mu_);
  return exec_runs_;
}

void Credentials::Invalidate() {
  std::lock_guard<std::mutex> l(mu_);
  exec_cache_.reset();
  file_read_at_.reset();
}

Result<Credential> Credentials::Current() {
  if (access_.exec) return FromExec();
  Credential c;
  c.username = access_.username;
  c.password = access_.password;
  c.client_cert_pem = access_.client_cert_pem;
  c.client_key_pem = access_.client_key_pem;
  c.token = access_.token;
  if (c.token.empty() && !access_.token_file.empty()) {
    std::lock_guard<std::mutex> l(mu_);
    TimePoint now = clock_.Now();
    if (!file_read_at_ || now - *file_read_at_ >= kTokenFileRefresh) {
      std::ifstream in(access_.token_file);
      if (!in) return FailedPrecondition("tokenFile " + access_.token_file + " cannot be read");
      std::stringstream s;
      s << in.rdbuf();
      file_token_ = Trim(s.str());
      file_read_at_ = now;
    }
    c.token = file_token_;
  }
  return c;
}

Result<Credential> Credentials::FromExec() {
  std::lock_guard<std::mutex> l(mu_);
  TimePoint now = clock_.Now();
  if (exec_cache_ && (!exec_cache_->expires || *exec_cache_->expires > now)) return *exec_cache_;
  const ExecConfig& exec = *access_.exec;
  json spec = {{"interactive", false}};
  if (exec.provide_cluster_info) {
    json cluster = {{"server", access_.server}};
    if (!access_.tls_server_name.empty()) cluster["tls-server-name"] = access_.tls_server_name;
    if (access_.insecure_skip_tls_verify) cluster["insecure-skip-tls-verify"] = true;
    if (!access_.ca_pem.empty())
      cluster["certificate-authority-data"] = Base64Encode(access_.ca_pem);
    if (!access_.proxy_url.empty()) cluster["proxy-url"] = access_.proxy_url;
    spec["cluster"] = cluster;
  }
  json info = {{"apiVersion", exec.api_version}, {"kind", "ExecCredential"}, {"spec", spec}};
  ++exec_runs_;
  ASSIGN_OR_RETURN(std::string out, runner_(exec, info.dump()));
  // What a plugin prints holds the secret: errors describe it, never quote it.
  std::string bad = "exec plugin " + exec.command + " printed no valid ExecCredential: ";
  json cred = json::parse(out, nullptr, false);
  if (!cred.is_object()) return FailedPrecondition(bad + "its output is not a JSON object");
  auto field = [&](const char* key) {  // any type may come back: never throw
    return cred.contains(key) && cred[key].is_string() ? cred[key].get<std::string>()
                                                       : std::string();
  };
  if (field("kind") != "ExecCredential")
    return FailedPrecondition(bad + "kind is not ExecCredential");
  if (field("apiVersion") != exec.api_version) {
    return FailedPrecondition(bad + "apiVersion \"" + field("apiVersion") +
                              "\" is not the kubeconfig's \"" + exec.api_version + "\"");
  }
  const json status = cred.value("status", json::object());
  if (!status.is_object()) return FailedPrecondition(bad + "status is not an object");
  Credential c;
  auto text = [&](const char* key) {
    return status.contains(key) && status[key].is_string() ? status[key].get<std::string>()
                                                           : std::string();
  };
  c.token = text("token");
  c.client_cert_pem = text("clientCertificateData");
  c.client_key_pem = text("clientKeyData");
  if (c.token.empty() && (c.client_cert_pem.empty() || c.client_key_pem.empty())) {
    return FailedPrecondition(bad + "status has neither a token nor a client certificate and key");
  }
  if (std::string when = text("expirationTimestamp"); !when.empty()) {
    std::optional<TimePoint> t = ParseK8sTime(when);
    if (!t) return FailedPrecondition(bad + "expirationTimestamp is not an RFC 3339 time");
    c.expires = *t;
  }
  exec_cache_ = c;
  return c;
}

}  // namespace portflow::k8s
