// Benchmark (a): spawn and reap of a no-op task through the local backend,
// against a plain posix_spawn + waitpid loop in the same program, first with
// a small parent and then with the parent holding 1 GiB of touched memory.
// The backend is waited on as the engine waits on it: its descriptor
// (Backend::TakeOverWaiting) polled and Drive called on this thread. For
// reference, the same with the backend's own thread reporting the end.
//
// Usage: spawn_bench [iterations]   (prints one line per case and the ratios)
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "core/testing/event_recorder.h"
#include "local_backend/local_backend.h"

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;

double PlainSpawnMicros(int n) {
  char arg0[] = "/bin/true";
  char* argv[] = {arg0, nullptr};
  auto start = Clock::now();
  for (int i = 0; i < n; ++i) {
    pid_t pid;
    if (posix_spawn(&pid, "/bin/true", nullptr, nullptr, argv, environ) != 0) std::abort();
    int status;
    waitpid(pid, &status, 0);
  }
  return std::chrono::duration<double, std::micro>(Clock::now() - start).count() / n;
}

// Counts the attempts that ended.
struct Ends : portflow::EventSink {
  std::atomic<int> n{0};
  void OnTaskEvent(portflow::TaskEvent e) override {
    if (portflow::IsTerminal(e.state)) ++n;
  }
};

double BackendSpawnMicros(int n, const std::string& dir, bool driven) {
  portflow::LocalOptions o;
  o.capacity = portflow::ResourceRequest{1000, 1, 0};
  auto backend = portflow::NewLocalBackend(o);
  Ends ends;
  portflow::testing::EventRecorder events;  // as before the engine drove the backend
  if (driven) {
    backend->SetEventSink(&ends);
  } else {
    backend->SetEventSink(&events);
  }
  int fd = driven ? backend->TakeOverWaiting() : -1;
  if (driven && fd < 0) std::abort();
  portflow::TaskSpec t;
  t.run_id = "bench";
  t.step = t.instance = "noop";
  t.argv = {"/bin/true"};
  t.workdir = dir;
  t.run_dir = dir + "/run";
  t.resources = {1000, 0, 0};
  auto start = Clock::now();
  for (int i = 1; i <= n; ++i) {
    t.attempt = i;
    if (!backend->Submit(t).ok()) std::abort();
    if (!driven) {  // the backend's thread reports the end
      if (!events.WaitTerminal(t.Key())) std::abort();
      continue;
    }
    while (ends.n < i) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 30000) != 1) std::abort();
      backend->Drive();
    }
  }
  double us = std::chrono::duration<double, std::micro>(Clock::now() - start).count() / n;
  if (driven) backend->ReleaseWaiting();
  return us;
}

// Best of `rounds`, alternating the two so that noise hits both alike.
void Compare(const char* label, const char* figure, int n, const std::string& dir) {
  double plain = 1e18, backend = 1e18, threaded = 1e18;
  for (int round = 0; round < 5; ++round) {
    plain = std::min(plain, PlainSpawnMicros(n));
    backend = std::min(backend, BackendSpawnMicros(n, dir, true));
    threaded = std::min(threaded, BackendSpawnMicros(n, dir, false));
  }
  std::printf(
      "%-22s posix_spawn+waitpid %8.1f us   local backend %8.1f us   ratio %.2fx"
      "   (its own thread reporting: %.1f us, %.2fx)\n",
      label, plain, backend, backend / plain, threaded, threaded / plain);
  std::printf("figure: %s %.3f\n", figure, backend / plain);
}

}  // namespace

int main(int argc, char** argv) {
  int n = argc > 1 ? std::atoi(argv[1]) : 300;
  std::string dir =
      std::filesystem::temp_directory_path() / ("portflow_spawn_bench_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  Compare("parent small", "spawn.small_ratio", n, dir);
  // Hold and touch 1 GiB, as a parent with a large heap would.
  size_t size = size_t{1} << 30;
  char* big = static_cast<char*>(std::malloc(size));
  std::memset(big, 1, size);
  Compare("parent holding 1 GiB", "spawn.big_ratio", n, dir);
  std::printf("(checksum %d)\n", big[size / 2]);
  std::free(big);
  std::filesystem::remove_all(dir);
  return 0;
}
