#include "k8s_backend/log_copier.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

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
  Result<ApiResponse> Stream(const ApiRequest& r, const Credential& c,
                             const std::function<bool(std::string_view)>& on_data,
                             StreamStop*) override {
    auto a = Send(r, c);
    on_data(a->body);
    a->body.clear();
    return a;
  }
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
  void CopyAfresh(const std::string& pod) {
    FakeClock clock;
    ClusterAccess access;
    ApiClient client(std::make_unique<LogsTransport>(),
                     std::make_shared<Credentials>(access, clock), clock);
    LogCopier copier(clock);
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    ASSERT_TRUE(copier.Start(
        &client, "/api/v1/namespaces/default/pods/" + pod, pod, file_, [] { return true; },
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
}

}  // namespace
}  // namespace portflow::k8s
