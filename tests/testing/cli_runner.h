// Runs the real portflow binary for end-to-end tests.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace portflow::testing {

struct CliResult {
  int exit_code = -1;  // 128+N when killed by signal N
  std::string out;
  std::string err;
};

// The binary under test.
std::string PortflowBinary();

// Runs `portflow ARGS...` in `cwd`, with a time limit; stdin is /dev/null.
CliResult RunCli(const std::vector<std::string>& args, const std::string& cwd,
                 std::chrono::seconds limit = std::chrono::seconds(120));

// Starts `portflow ARGS...` in the background; its stdout and stderr go to
// out_path and err_path.
pid_t StartCli(const std::vector<std::string>& args, const std::string& cwd,
               const std::string& out_path, const std::string& err_path);

// Waits for a child started by StartCli; -1 on timeout (the child is then killed).
int WaitChild(pid_t pid, std::chrono::seconds limit);

// Runs `command` through /bin/sh; its stdout (add 2>&1 for stderr) and its
// exit code (-1 when it did not exit normally).
struct ShellResult {
  int code = -1;
  std::string out;
};
ShellResult RunShell(const std::string& command);

std::string ReadFile(const std::string& path);
// Copies the files of scenarios/NAME (not its folders) into `dir`, which it
// creates.
void CopyScenario(const std::string& name, const std::string& dir);
void WriteFile(const std::string& path, const std::string& text);

// A fresh folder under the system's temporary one, removed with all it
// holds when destroyed.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Polls `pred` every 20ms until it holds or `limit` passes.
bool WaitFor(const std::function<bool()>& pred, std::chrono::seconds limit);

// `portflow cluster serve ARGS... --kubeconfig DIR/kubeconfig`, started in
// DIR (its output in DIR/serve.out and DIR/serve.err) and waited for until
// it serves. When it does not within 30 s, pid is -1 and `error` says why.
struct ServedCluster {
  pid_t pid = -1;
  std::string url;         // https://127.0.0.1:PORT
  std::string kubeconfig;  // DIR/kubeconfig
  std::string token;       // its bearer token, from the kubeconfig
  std::string error;       // "" once it serves
};
ServedCluster ServeCluster(const std::string& dir, std::vector<std::string> args);
// `method` `path` on the served cluster with the JSON `body` (no single
// quotes), from python3, through tests/testing/cluster_request.py: with
// the kubeconfig's token, or once per `authorizations` value ("": none)
// instead. Its stdout (a status a line) and stderr together.
ShellResult ClusterRequest(const ServedCluster& cluster, const std::string& method,
                           const std::string& path, const std::string& body = "",
                           const std::vector<std::string>& authorizations = {});
// Stops a served cluster as Ctrl-C would; its exit code (0: a clean stop).
int StopCluster(pid_t pid);

// kubectl against DIR/kubeconfig with HOME=DIR/home (its discovery cache),
// `stdin_text` on its stdin; stdout and stderr together.
ShellResult Kubectl(const std::string& dir, const std::string& args,
                    const std::string& stdin_text = "");

}  // namespace portflow::testing
