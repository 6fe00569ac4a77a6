#include "k8s_backend/log_copier.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <system_error>
#include <thread>

#include "k8s_backend/client/credentials.h"

namespace portflow::k8s {
namespace {

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Answers a pod's log with "log of POD\n".
class LogsTransport : public Transport {
 public:
  Result<ApiResponse> Send(const ApiRequest& r, const Credential&) override {
    std::string pod = r.path.substr(r.path.rfind("/pods/") + 6);
    pod = pod.substr(0, pod.find('/'));
    ApiResponse a{200};
    a.body = "log of " + pod + "\n";
    return a;
  }
  // A follow of the pod named `held` waits until `release`.
  Result<ApiResponse> Stream(const ApiRequest& r, const Credential& c,
                             const std::function<bool(std::string_view)>& on_data,
                             StreamStop*) override {
    if (r.path.find("/" + held + "/") != std::string::npos) {
      std::unique_lock<std::mutex> l(mu);
      cv.wait(l, [&] { return released; });
    }
    auto a = Send(r, c);
    on_data(a->body);
    a->body.clear();
    return a;
  }
  void Release() {
    std::lock_guard<std::mutex> l(mu);
    released = true;
    cv.notify_all();
  }

  std::string held = "none";
  std::mutex mu;
  std::condition_variable cv;
  bool released = false;
};

// Which copies' `done` ran, and how many copies their thread had run by
// then (a thread's own count: a new thread starts at 1 even where the
// system reuses the id of one that has ended).
struct Dones {
  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, int> on;  // pod -> the copies its thread had run
  std::function<void()> For(const std::string& pod) {
    return [this, pod] {
      static thread_local int copies = 0;
      std::lock_guard<std::mutex> l(mu);
      on[pod] = ++copies;
      cv.notify_all();
    };
  }
  bool Wait(const std::string& pod) {
    std::unique_lock<std::mutex> l(mu);
    return cv.wait_for(l, std::chrono::seconds(10), [&] { return on.count(pod) > 0; });
  }
};

// A copier over a client whose follow of the pod "slow" is held until
// logs->Release(), done on a failure too (the copier's Stop waits for it).
struct HeldFollows {
  explicit HeldFollows(LogCopier::ThreadStarter start_thread = LogCopier::DetachedThread)
      : client(Transport(), std::make_shared<Credentials>(ClusterAccess{}, clock), clock),
        copier(clock, std::move(start_thread)) {}
  ~HeldFollows() { logs->Release(); }
  std::unique_ptr<LogsTransport> Transport() {
    auto t = std::make_unique<LogsTransport>();
    t->held = "slow";
    logs = t.get();
    return t;
  }
  // Copies `pod`'s log to DIR/POD.log; `ended` is what the pod says.
  bool Start(const std::string& dir, const std::string& pod, bool ended) {
    return copier.Start(
        &client, "/api/v1/namespaces/default/pods/" + pod, pod, dir + "/" + pod + ".log",
        [ended] { return ended; }, dones.For(pod));
  }

  FakeClock clock;
  LogsTransport* logs = nullptr;
  ApiClient client;
  LogCopier copier;
  Dones dones;
};

class LogCopierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/portflow-log-copier-XXXXXX";
    dir_ = mkdtemp(tmpl);
    file_ = dir_ + "/step.attempt-1.replica-0.log";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // One copy of `pod`'s log by a copier of its own (a portflow started
  // afresh), the pod already ended.
  void CopyAfresh(const std::string& pod, const std::string& file = "") {
    FakeClock clock;
    ClusterAccess access;
    ApiClient client(std::make_unique<LogsTransport>(),
                     std::make_shared<Credentials>(access, clock), clock);
    LogCopier copier(clock);
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    ASSERT_TRUE(copier.Start(
        &client, "/api/v1/namespaces/default/pods/" + pod, pod, file.empty() ? file_ : file,
        [] { return true; },
        [&] {
          std::lock_guard<std::mutex> l(mu);
          done = true;
          cv.notify_all();
        }));
    std::unique_lock<std::mutex> l(mu);
    ASSERT_TRUE(cv.wait_for(l, std::chrono::seconds(10), [&] { return done; }));
  }

  std::string dir_, file_;
};

// A pod that replaces another (a preemption) appends its log after the
// other's, though portflow restarted between them; the same pod copied again
// rewrites its own part. What says so is one journal in the folder, not a
// file per log; a line a crash tore is not read.
TEST_F(LogCopierTest, AReplacingPodAppendsAcrossRestartsFromTheFoldersJournal) {
  CopyAfresh("p1");
  EXPECT_EQ(Read(file_), "log of p1\n");
  CopyAfresh("p2");
  EXPECT_EQ(Read(file_), "log of p1\nlog of p2\n");
  CopyAfresh("p2");
  EXPECT_EQ(Read(file_), "log of p1\nlog of p2\n");
  // Only the journal beside the log: no file a copy.
  size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir_)) {
    (void)e;
    ++files;
  }
  EXPECT_EQ(files, 2u);
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/" + kPartsJournal));
  // A last line with no end (a crash mid-write) would say another pod
  // starts the file: it is not read, and p2's part is rewritten in place.
  std::ofstream(dir_ + "/" + kPartsJournal, std::ios::app) << "step.attempt-1.replica-0.log\tp9\t0";
  CopyAfresh("p2");
  EXPECT_EQ(Read(file_), "log of p1\nlog of p2\n");
  // The lines written after one torn are whole and read.
  std::ofstream(dir_ + "/" + kPartsJournal, std::ios::app) << "step.attempt-1.replica-0.log\tp9\t0";
  CopyAfresh("p3");
  CopyAfresh("p3");
  EXPECT_EQ(Read(file_), "log of p1\nlog of p2\nlog of p3\n");
  // A torn line stays torn for later readers: here the last line about the
  // file, after a restart that copied another file only.
  std::ofstream(dir_ + "/" + kPartsJournal, std::ios::app) << "step.attempt-1.replica-0.log\tp3\t1";
  CopyAfresh("q1", dir_ + "/other.log");
  CopyAfresh("p3");
  EXPECT_EQ(Read(file_), "log of p1\nlog of p2\nlog of p3\n");
}

// Copies run on threads kept for the next copy, not a thread each; a copy
// that follows a running pod for long does not hold up the others.
TEST_F(LogCopierTest, CopiesReuseTheirThreadsAndALongFollowHoldsUpNoOther) {
  HeldFollows h;
  LogCopier& copier = h.copier;
  Dones& dones = h.dones;
  auto start = [&](const std::string& pod, bool ended) { return h.Start(dir_, pod, ended); };
  ASSERT_TRUE(start("a", true));
  ASSERT_TRUE(dones.Wait("a"));
  // Free again once its `done` has returned: b is its second copy.
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (copier.IdleThreads() != 1 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_EQ(copier.IdleThreads(), 1);
  ASSERT_TRUE(start("b", true));
  ASSERT_TRUE(dones.Wait("b"));
  EXPECT_EQ(dones.on["a"], 1);
  EXPECT_EQ(dones.on["b"], 2);
  // The slow pod's follow is held; the next copy still ends meanwhile.
  ASSERT_TRUE(start("slow", false));
  ASSERT_TRUE(start("c", true));
  ASSERT_TRUE(dones.Wait("c"));
  h.logs->Release();
  ASSERT_TRUE(dones.Wait("slow"));
  EXPECT_EQ(Read(dir_ + "/slow.log"), "log of slow\n");
  copier.Stop();
  EXPECT_FALSE(start("d", true));
}

// No thread to be had for a copy (a process at its limit): with no copy
// thread at all it runs on the caller's thread, `done` included; with one,
// it waits for it. Stop then returns: it waits for no thread that never
// started.
TEST_F(LogCopierTest, ACopyWithNoThreadToBeHadStillRunsAndStopReturns) {
  std::atomic<bool> refuse{true};
  HeldFollows h([&](std::function<void()> work) {
    if (refuse)
      throw std::system_error(std::make_error_code(std::errc::resource_unavailable_try_again));
    LogCopier::DetachedThread(std::move(work));
  });
  Dones& dones = h.dones;
  auto start = [&](const std::string& pod, bool ended) { return h.Start(dir_, pod, ended); };
  ASSERT_TRUE(start("a", true));
  {
    std::lock_guard<std::mutex> l(dones.mu);
    EXPECT_EQ(dones.on.count("a"), 1u) << "copied before Start returned";
  }
  EXPECT_EQ(Read(dir_ + "/a.log"), "log of a\n");
  refuse = false;
  ASSERT_TRUE(start("slow", false));  // on a thread, held
  refuse = true;
  ASSERT_TRUE(start("b", true));  // no second thread: b waits for the one there is
  h.logs->Release();
  ASSERT_TRUE(dones.Wait("slow"));
  ASSERT_TRUE(dones.Wait("b"));
  EXPECT_EQ(Read(dir_ + "/b.log"), "log of b\n");
  h.copier.Stop();
}

// A log that an older portflow began, with its FILE.pod mark and no
// journal: a replacing pod still appends.
TEST_F(LogCopierTest, AnOlderPortflowsMarkIsReadWhereTheJournalSaysNothing) {
  std::ofstream(file_) << "log of p1\n";
  std::ofstream(file_ + ".pod") << "p1 0\n";
  CopyAfresh("p2");
  EXPECT_EQ(Read(file_), "log of p1\nlog of p2\n");
}

}  // namespace
}  // namespace portflow::k8s
