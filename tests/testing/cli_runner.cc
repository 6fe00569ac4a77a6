#include "tests/testing/cli_runner.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace {
// The runs the tests make go into a per-user index of the tests' own, not
// the user's (unless the environment names one already).
const bool kTestStateHome =
    ::setenv("XDG_STATE_HOME",
             (std::filesystem::temp_directory_path() / "portflow-test-state").c_str(), 0) == 0;
}  // namespace

namespace portflow::testing {

std::string PortflowBinary() { return std::string(PORTFLOW_BINARY_DIR) + "/cli/portflow"; }

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "portflow-test-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

pid_t StartCli(const std::vector<std::string>& args, const std::string& cwd,
               const std::string& out_path, const std::string& err_path) {
  std::vector<std::string> argv{PortflowBinary()};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargv;
  for (std::string& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addchdir_np(&fa, cwd.c_str());
  pid_t pid = -1;
  if (posix_spawn(&pid, argv[0].c_str(), &fa, nullptr, cargv.data(), environ) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&fa);
  return pid;
}

int WaitChild(pid_t pid, std::chrono::seconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (true) {
    int status = 0;
    pid_t got = ::waitpid(pid, &status, WNOHANG);
    if (got == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (got < 0) return -1;
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

CliResult RunCli(const std::vector<std::string>& args, const std::string& cwd,
                 std::chrono::seconds limit) {
  static int counter = 0;
  std::string base = std::string("/tmp/portflow_cli_") + std::to_string(::getpid()) + "_" +
                     std::to_string(counter++);
  CliResult r;
  pid_t pid = StartCli(args, cwd, base + ".out", base + ".err");
  if (pid < 0) return r;
  r.exit_code = WaitChild(pid, limit);
  r.out = ReadFile(base + ".out");
  r.err = ReadFile(base + ".err");
  std::remove((base + ".out").c_str());
  std::remove((base + ".err").c_str());
  return r;
}

ShellResult RunShell(const std::string& command) {
  ShellResult r;
  FILE* p = ::popen(command.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) r.out.append(buf, n);
  int status = ::pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

bool WaitFor(const std::function<bool()>& pred, std::chrono::seconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pred();
}

void CopyScenario(const std::string& name, const std::string& dir) {
  std::filesystem::create_directories(dir);
  for (const auto& f : std::filesystem::directory_iterator(std::string(PORTFLOW_SOURCE_DIR) +
                                                           "/scenarios/" + name)) {
    if (f.is_regular_file())
      std::filesystem::copy_file(f.path(), dir + "/" + f.path().filename().string());
  }
}

ServedCluster ServeCluster(const std::string& dir, std::vector<std::string> args) {
  args.insert(args.begin(), {"cluster", "serve"});
  args.insert(args.end(), {"--kubeconfig", dir + "/kubeconfig"});
  std::filesystem::create_directories(dir + "/home");  // kubectl's, see Kubectl()
  ServedCluster c;
  c.pid = StartCli(args, dir, dir + "/serve.out", dir + "/serve.err");
  if (c.pid <= 0) {
    c.error = "portflow cluster serve did not start";
    return c;
  }
  bool serving = WaitFor(
      [&] {
        std::string out = ReadFile(dir + "/serve.out");
        std::smatch m;
        if (!std::regex_search(out, m, std::regex("server: (\\S+)"))) return false;
        c.url = m[1];
        c.kubeconfig = dir + "/kubeconfig";
        std::string kubeconfig = ReadFile(c.kubeconfig);
        if (!std::regex_search(kubeconfig, m, std::regex("token: \"(\\w+)\""))) return false;
        c.token = m[1];
        return true;
      },
      std::chrono::seconds(30));
  if (!serving) {
    c.error = "portflow cluster serve did not serve within 30 s: " + ReadFile(dir + "/serve.err");
    ::kill(c.pid, SIGKILL);
    WaitChild(c.pid, std::chrono::seconds(10));
    c.pid = -1;
  }
  return c;
}

ShellResult ClusterRequest(const ServedCluster& cluster, const std::string& method,
                           const std::string& path, const std::string& body,
                           const std::vector<std::string>& authorizations) {
  std::string command = "python3 " + std::string(PORTFLOW_SOURCE_DIR) +
                        "/tests/testing/cluster_request.py " + cluster.kubeconfig + " " + method +
                        " '" + path + "' '" + body + "'";
  for (const std::string& a : authorizations) command += " --authorization '" + a + "'";
  return RunShell(command + " 2>&1");
}

int StopCluster(pid_t pid) {
  if (pid <= 0) return -1;  // never kill(-1)
  ::kill(pid, SIGTERM);
  return WaitChild(pid, std::chrono::seconds(10));
}

ShellResult Kubectl(const std::string& dir, const std::string& args,
                    const std::string& stdin_text) {
  std::string input = dir + "/kubectl.stdin";
  WriteFile(input, stdin_text);
  return RunShell("HOME=" + dir + "/home KUBECONFIG=" + dir +
                  "/kubeconfig timeout 60 /usr/bin/kubectl " + args + " < " + input + " 2>&1");
}

}  // namespace portflow::testing
