// The credential to send with each request: a bearer token (given, read
// from a file, or from an exec plugin), a client certificate, or basic auth.
// Exec plugins (client.authentication.k8s.io/v1 and v1beta1) run as kubectl
// runs them: the kubeconfig's args and env, KUBERNETES_EXEC_INFO, stdin
// closed; their ExecCredential is cached until its expirationTimestamp, and
// run again after a 401. Token files are re-read at most once a minute, as
// client-go does, so rotated tokens are picked up.
#pragma once

#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include "core/clock.h"
#include "core/status.h"
#include "k8s_backend/client/kubeconfig.h"

namespace portflow::k8s {

struct Credential {
  std::string token;  // "Authorization: Bearer" when set
  std::string client_cert_pem, client_key_pem;
  std::string username, password;
  std::optional<TimePoint> expires;  // exec credentials only
};

// Runs an exec plugin and returns what it printed on stdout. `exec_info` is
// the KUBERNETES_EXEC_INFO value. The default runs a process; tests may pass
// their own.
using ExecRunner = std::function<Result<std::string>(const ExecConfig&, const std::string&)>;
Result<std::string> RunExecPlugin(const ExecConfig& exec, const std::string& exec_info);

class Credentials {
 public:
  Credentials(ClusterAccess access, Clock& clock, ExecRunner runner = RunExecPlugin);

  // The credential to use now. Errors name the plugin or file, never a secret.
  Result<Credential> Current();
  // The server answered 401: forget cached tokens so that Current() runs the
  // plugin (or reads the token file) again.
  void Invalidate();
  // How many times the exec plugin ran (tests and benchmarks).
  int exec_runs() const;

 private:
  Result<Credential> FromExec();

  ClusterAccess access_;
  Clock& clock_;
  ExecRunner runner_;
  mutable std::mutex mu_;
  std::optional<Credential> exec_cache_;
  std::string file_token_;
  std::optional<TimePoint> file_read_at_;
  int exec_runs_ = 0;
};

}  // namespace portflow::k8s
