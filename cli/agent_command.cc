// portflow agent: a step's command where the run's outputs live in an
// object store. In a pod (as Kubeflow Pipelines' launcher): fetch the
// inputs into the paths the templates named, run the command, store the
// outputs with a manifest of sizes and SHA-256.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>

#include "cli/commands.h"
#include "cli/common.h"
#include "cloud_backend/artifacts/run_artifacts.h"
#include "cloud_backend/aws/credentials.h"
#include "core/process/spawn.h"

extern char** environ;

namespace portflow::cli {
namespace {

std::atomic<pid_t> g_child{0};

constexpr int kExitNotFound = 127;

// SIGTERM and SIGINT go on to the command's process group: a pod's grace
// period reaches the step, not only the agent.
void PassOn(int sig) {
  pid_t child = g_child.load();
  if (child > 0) ::kill(-child, sig);
}

// The replicas of a gang on one machine share ROOT: one fetches or
// stores at a time (a lock on ROOT/.portflow-agent.lock, released when the
// descriptor closes).
class RootLock {
 public:
  explicit RootLock(const std::string& root) {
    std::error_code ec;
    std::filesystem::create_directories(root, ec);
    fd_ = ::open((root + "/.portflow-agent.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ >= 0) ::flock(fd_, LOCK_EX);
  }
  ~RootLock() {
    if (fd_ >= 0) ::close(fd_);
  }
  RootLock(const RootLock&) = delete;
  RootLock& operator=(const RootLock&) = delete;

 private:
  int fd_ = -1;
};

int AgentFailed(const std::string& what, const Status& s) {
  PrintError("agent: " + what + ": " + s.message());
  return kExitAgent;
}

}  // namespace

int Agent(const AgentOptions& o) {
  auto uri = artifacts::ParseStoreUri(o.artifacts);
  if (!uri.ok())
    return Fail(Status(uri.status().code(), "--artifacts: " + uri.status().message()), kExitUsage);
  auto credentials = aws::ResolveCredentials(o.profile, aws::CredentialsEnv::FromProcess());
  if (!credentials.ok()) return AgentFailed("credentials for " + o.artifacts, credentials.status());
  aws::Client client(o.endpoint, o.region, *credentials);  // "": AWS's own for the region
  aws::S3 s3(client);
  artifacts::RunArtifacts store(s3, *uri, o.run_id);

  {
    RootLock lock(o.root);
    for (const std::string& rel : o.inputs) {
      auto fetched = store.Download(rel, o.root + "/" + rel);
      if (!fetched.ok()) return AgentFailed("input " + rel, fetched.status());
      std::cerr << "portflow agent: fetched " << rel << " (" << fetched->size() << " files)\n";
    }
  }
  std::error_code ec;
  for (const std::string& rel : o.outputs)
    std::filesystem::create_directories(o.root + "/" + rel, ec);

  const char* path = std::getenv("PATH");
  // A command that cannot start ends as a shell's would: 127.
  auto exe = FindExecutable(o.command[0], path ? path : "/usr/bin:/bin", ".");
  if (!exe.ok()) {
    PrintError("agent: command " + o.command[0] + ": " + exe.status().message());
    return kExitNotFound;
  }
  SpawnRequest req;
  req.executable = *exe;
  req.args.assign(o.command.begin() + 1, o.command.end());
  for (char** e = environ; *e; ++e) req.env.emplace_back(*e);
  req.cwd = std::filesystem::current_path(ec).string();
  req.out_fd = STDOUT_FILENO;
  struct sigaction pass {};
  pass.sa_handler = PassOn;
  sigemptyset(&pass.sa_mask);
  ::sigaction(SIGTERM, &pass, nullptr);
  ::sigaction(SIGINT, &pass, nullptr);
  auto pid = SpawnProcess(req);
  if (!pid.ok()) {
    PrintError("agent: command " + o.command[0] + ": " + pid.status().message());
    return kExitNotFound;
  }
  g_child = *pid;
  int status = 0;
  while (::waitpid(*pid, &status, 0) < 0 && errno == EINTR) {
  }
  g_child = 0;
  if (WIFSIGNALED(status)) {
    // Ended by a signal: the agent ends by the same one, so that the pod
    // reports the signal as it would without the agent (nothing is stored
    // for a failed attempt).
    std::cout.flush();
    ::signal(WTERMSIG(status), SIG_DFL);
    ::raise(WTERMSIG(status));
  }
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  // In a gang whose replicas each have a folder, replica 0's is the one
  // kept (as a training's rank 0 saves its checkpoint).
  const char* rank = std::getenv("PORTFLOW_RANK");
  bool stores = code == 0 && !(o.rank_zero_stores && rank && std::string(rank) != "0");
  std::optional<RootLock> lock;
  if (stores && !o.outputs.empty()) lock.emplace(o.root);
  for (const std::string& rel : o.outputs) {
    if (!stores) break;  // a failed attempt's outputs are not kept
    auto stored = store.Upload(rel, o.root + "/" + rel);
    if (!stored.ok()) return AgentFailed("output " + rel, stored.status());
    std::cerr << "portflow agent: stored " << rel << " (" << stored->size() << " files)\n";
  }
  return code;
}

}  // namespace portflow::cli
