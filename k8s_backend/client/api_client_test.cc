#include "k8s_backend/client/api_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>
#include <vector>

#include "core/log.h"
#include "k8s_backend/fake_cluster/fake_cluster.h"
#include "k8s_backend/fake_cluster/fake_transport.h"

namespace portflow::k8s {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using json = nlohmann::json;

// The real libcurl transport against the fake cluster over loopback HTTP.
// The client's backoff runs on a FakeClock: retries take no real time.
class ApiClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fake::ClusterOptions o;
    o.nodes = 1;
    cluster_ = std::move(fake::FakeCluster::Create(o, RealClock()).value());
    // Which connection each request came on.
    ASSERT_TRUE(cluster_
                    ->Serve(0,
                            [this](const fake::HttpRequest& r, int, std::chrono::microseconds) {
                              std::lock_guard<std::mutex> l(mu_);
                              peers_[r.target] = r.peer;
                            })
                    .ok());
    ClusterAccess access = fake::ServedAccess(*cluster_);
    client_ = std::make_unique<ApiClient>(MakeCurlTransport(access).value(),
                                          std::make_shared<Credentials>(access, clock_), clock_);
  }
  // The connection `target` came on, once the server has told (after its
  // answer was sent: a moment after the client has it); "" if never.
  std::string PeerOf(const std::string& target) {
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (true) {
      {
        std::lock_guard<std::mutex> l(mu_);
        auto it = peers_.find(target);
        if (it != peers_.end() || std::chrono::steady_clock::now() > until)
          return it == peers_.end() ? "" : it->second;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  void TearDown() override { cluster_->StopServing(); }

  Result<ApiResponse> Get(const std::string& path) { return client_->Call({"GET", path, ""}); }
  Result<ApiResponse> Post(const std::string& path, const json& body) {
    return client_->Call({"POST", path, body.dump()});
  }

  FakeClock clock_;
  std::mutex mu_;
  std::map<std::string, std::string> peers_;  // request target -> client address:port
  std::unique_ptr<fake::FakeCluster> cluster_;
  std::unique_ptr<ApiClient> client_;
};

json ConfigMap(const std::string& name) {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", name}}},
          {"data", {{"k", "v"}}}};
}

TEST_F(ApiClientTest, CallsAndErrorsAsStatuses) {
  auto version = Get("/version");
  ASSERT_TRUE(version.ok()) << version.status().ToString();
  EXPECT_EQ(version->status, 200);
  EXPECT_EQ(json::parse(version->body)["minor"], "32");
  EXPECT_EQ(version->headers["content-type"], "application/json");

  const std::string cms = "/api/v1/namespaces/default/configmaps";
  auto created = Post(cms, ConfigMap("a"));
  ASSERT_TRUE(created.ok());
  EXPECT_EQ(created->status, 201);
  EXPECT_TRUE(ApiError(*created).ok());
  Status exists = ApiError(*Post(cms, ConfigMap("a")));
  EXPECT_EQ(exists.code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(exists.message(), "configmaps \"a\" already exists");
  Status missing = ApiError(*Get(cms + "/nope"));
  EXPECT_EQ(missing.code(), StatusCode::kNotFound);
  EXPECT_EQ(missing.message(), "configmaps \"nope\" not found");
  json stale = json::parse(Get(cms + "/a")->body);
  stale["metadata"]["resourceVersion"] = "1";
  Status conflict = ApiError(*client_->Call({"PUT", cms + "/a", stale.dump()}));
  EXPECT_EQ(conflict.code(), StatusCode::kAborted);
  auto patched = client_->Call(
      {"PATCH", cms + "/a", R"({"data": {"k": "w"}})", "application/merge-patch+json"});
  ASSERT_TRUE(patched.ok());
  EXPECT_EQ(json::parse(patched->body)["data"]["k"], "w");
  EXPECT_EQ(client_->Call({"DELETE", cms + "/a", ""})->status, 200);
}

// What -v shows: each request with its status and latency, each retry with
// its attempt, wait and cause; never the token or a body.
TEST_F(ApiClientTest, LogsRequestsAndRetriesButNoCredentialOrBody) {
  std::string dir = ::testing::TempDir() + "api_log_" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  ASSERT_TRUE(cluster_->Serve(0).ok());
  ClusterAccess access = fake::ServedAccess(*cluster_);
  ApiClient client(MakeCurlTransport(access).value(), std::make_shared<Credentials>(access, clock_),
                   clock_);
  const std::string cms = "/api/v1/namespaces/default/configmaps";
  {
    auto log = RunLog::Open(dir);
    ASSERT_TRUE(log.ok());
    cluster_->FailNextCalls(2, 500);
    ASSERT_EQ(client.Call({"GET", cms + "?limit=5", ""})->status, 200);
    json secret = {{"apiVersion", "v1"},
                   {"kind", "Secret"},
                   {"metadata", {{"name", "s"}}},
                   {"stringData", {{"password", "planted-data-9e1f"}}}};
    ASSERT_EQ(client.Call({"POST", "/api/v1/namespaces/default/secrets", secret.dump()})->status,
              201);
    ASSERT_EQ(client.Call({"GET", "/api/v1/namespaces/default/secrets/s", ""})->status, 200);
  }
  std::ifstream in(dir + "/portflow.log");
  std::stringstream text;
  text << in.rdbuf();
  std::string url = access.server + cms + "\\?limit=5";  // a regular expression
  for (const std::string& line :
       {"api: GET " + url + " 500 Internal Server Error in [0-9]+ ms\n",
        "api: retrying GET " + url +
            " \\(attempt 2 of 5\\) in [0-9]+ ms: 500 Internal Server Error\n",
        "api: retrying GET " + url +
            " \\(attempt 3 of 5\\) in [0-9]+ ms: 500 Internal Server Error\n",
        "api: GET " + url + " 200 OK in [0-9]+ ms\n",
        "api: POST " + access.server + "/api/v1/namespaces/default/secrets 201 Created in",
        "api: GET " + access.server + "/api/v1/namespaces/default/secrets/s 200 OK in"}) {
    EXPECT_THAT(text.str(), ::testing::ContainsRegex(line));
  }
  EXPECT_THAT(text.str(), Not(HasSubstr("planted")));
  EXPECT_THAT(text.str(), Not(HasSubstr(access.token)));
  std::filesystem::remove_all(dir);
}

TEST_F(ApiClientTest, RetriesWhatIsSafeToRepeat) {
  const std::string cms = "/api/v1/namespaces/default/configmaps";
  // Throttled twice: the third try answers, after Retry-After (1 s) each time.
  cluster_->FailNextCalls(2, 429);
  TimePoint before = clock_.Now();
  int64_t sent = client_->requests();
  auto list = Get(cms);
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->status, 200);
  EXPECT_EQ(client_->requests() - sent, 3);
  EXPECT_GE(clock_.Now() - before, std::chrono::seconds(2));
  // A 429 is never processed, so a create is retried too.
  cluster_->FailNextCalls(1, 429);
  EXPECT_EQ(Post(cms, ConfigMap("b"))->status, 201);
  // Dropped connections: a GET is repeated...
  cluster_->FailNextCalls(2, 0);
  EXPECT_EQ(Get(cms)->status, 200);
  // ...a create that may have landed is not. (libcurl itself sends a request
  // again, once, when a reused keep-alive connection turns out to be closed
  // before any answer; the second drop comes on a fresh connection.)
  cluster_->FailNextCalls(2, 0);
  sent = client_->requests();
  int64_t served = cluster_->api_calls();
  auto dropped = Post(cms, ConfigMap("c"));
  EXPECT_EQ(dropped.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(dropped.status().message(), HasSubstr("no answer from the API server"));
  EXPECT_EQ(client_->requests() - sent, 1);
  EXPECT_EQ(cluster_->api_calls() - served, 2);
  // A 500 on a create is returned as it is; on a GET it is retried.
  cluster_->FailNextCalls(1, 500);
  EXPECT_EQ(Post(cms, ConfigMap("d"))->status, 500);
  cluster_->FailNextCalls(1, 500);
  EXPECT_EQ(Get(cms)->status, 200);
  // A server that keeps failing: five tries, then its last answer.
  cluster_->FailCallsAtRate(1.0, 503);
  sent = client_->requests();
  auto down = Get(cms);
  ASSERT_TRUE(down.ok());
  EXPECT_EQ(down->status, 503);
  EXPECT_EQ(ApiError(*down).code(), StatusCode::kUnavailable);
  EXPECT_EQ(client_->requests() - sent, 5);
  cluster_->FailCallsAtRate(0, 503);
}

TEST_F(ApiClientTest, StreamsAWatch) {
  const std::string cms = "/api/v1/namespaces/default/configmaps";
  std::string rv = json::parse(Get(cms)->body)["metadata"]["resourceVersion"];
  ASSERT_EQ(Post(cms, ConfigMap("w"))->status, 201);
  std::string seen;
  auto r = client_->Stream({"GET", cms + "?watch=true&resourceVersion=" + rv, ""},
                           [&](std::string_view data) {
                             seen.append(data);
                             return seen.find('\n') == std::string::npos;  // stop after one
                           });
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 200);
  json event = json::parse(seen.substr(0, seen.find('\n')));
  EXPECT_EQ(event["type"], "ADDED");
  EXPECT_EQ(event["object"]["metadata"]["name"], "w");
}

// curl may race two addresses for one stream (IPv6 and IPv4) and close
// the one that loses: a Stop still shuts the winner, whichever opened last.
TEST(StreamStopTest, StopShutsTheSocketThatWonARace) {
  int won[2], lost[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, won), 0);
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, lost), 0);
  StreamStop stop;
  stop.SetSocket(won[0]);
  stop.SetSocket(lost[0]);
  stop.ClearSocket(lost[0]);  // closed by curl once the other connected
  char c;
  EXPECT_EQ(::recv(won[1], &c, 1, MSG_DONTWAIT), -1);  // open: nothing to read yet
  stop.Stop();
  EXPECT_EQ(::recv(won[1], &c, 1, MSG_DONTWAIT), 0);    // shut: its peer reads the end
  EXPECT_EQ(::recv(lost[1], &c, 1, MSG_DONTWAIT), -1);  // forgotten: left alone
  for (int fd : {won[0], won[1], lost[0], lost[1]}) ::close(fd);
}

// A stream keeps its connection for the next one (no new TLS handshake
// each), and a Stop still shuts the stream at once on a kept connection,
// but not the connection kept once the stream has ended.
TEST_F(ApiClientTest, StreamsKeepTheirConnectionAndStopAtOnceOnIt) {
  const std::string cms = "/api/v1/namespaces/default/configmaps";
  auto all = [](std::string_view) { return true; };
  StreamStop first;
  ASSERT_EQ(client_->Stream({"GET", cms + "?limit=1", ""}, all, &first)->status, 200);
  first.Stop();  // after its end: the kept connection is not its to shut
  StreamStop second;
  ASSERT_EQ(client_->Stream({"GET", cms + "?limit=2", ""}, all, &second)->status, 200);
  EXPECT_FALSE(PeerOf(cms + "?limit=1").empty());
  EXPECT_EQ(PeerOf(cms + "?limit=2"), PeerOf(cms + "?limit=1"));

  // A quiet watch on that connection, stopped from another thread 100 ms
  // after a progress tick a while in (the next tick would come a second
  // later): the socket is shut, and the stream ends at once.
  std::string rv = json::parse(Get(cms)->body)["metadata"]["resourceVersion"];
  std::string watch = cms + "?watch=true&resourceVersion=" + rv;
  StreamStop third;
  std::mutex mu;
  std::condition_variable cv;
  bool ticked = false;
  std::chrono::steady_clock::time_point stopped_at;
  std::thread stopper([&] {
    std::unique_lock<std::mutex> l(mu);
    if (!cv.wait_for(l, std::chrono::seconds(10), [&] { return ticked; })) return;
    l.unlock();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    stopped_at = std::chrono::steady_clock::now();
    third.Stop();
  });
  auto begun = std::chrono::steady_clock::now();
  auto r = client_->Stream(
      {"GET", watch, ""},
      [&](std::string_view data) {
        if (data.empty() &&
            std::chrono::steady_clock::now() - begun > std::chrono::milliseconds(300)) {
          std::lock_guard<std::mutex> l(mu);
          ticked = true;
          cv.notify_all();
        }
        return true;
      },
      &third);
  auto ended = std::chrono::steady_clock::now();
  stopper.join();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(PeerOf(watch), PeerOf(cms + "?limit=1"));
  ASSERT_NE(stopped_at, std::chrono::steady_clock::time_point());
  EXPECT_LT(ended - stopped_at, std::chrono::milliseconds(500));
}

// Streams that ended together keep a few connections for the next, not
// one each: the rest are closed (both ends of each are in this process).
TEST_F(ApiClientTest, StreamsEndedTogetherKeepAFewConnections) {
  auto sockets = [] {
    int n = 0;
    for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
      std::error_code ec;
      n += std::filesystem::read_symlink(e.path(), ec).string().rfind("socket:", 0) == 0;
    }
    return n;
  };
  const std::string cms = "/api/v1/namespaces/default/configmaps";
  std::string rv = json::parse(Get(cms)->body)["metadata"]["resourceVersion"];
  int before = sockets();
  std::vector<std::thread> streams;
  for (int i = 0; i < 12; ++i) {
    streams.emplace_back([&, i] {
      StreamStop stop;  // ended by the server after a second, cleanly
      (void)client_->Stream(
          {"GET",
           cms + "?watch=true&timeoutSeconds=1&resourceVersion=" + rv + "&labelSelector=n%3D" +
               std::to_string(i),
           ""},
          [](std::string_view) { return true; }, &stop);
    });
  }
  for (std::thread& t : streams) t.join();
  // Eight handles kept, four sockets each (the connection's two ends, and
  // the pair libcurl keeps to wake a handle); the server closes its end of
  // the others a moment after the client has.
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (sockets() - before > 32 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_LE(sockets() - before, 32);
  EXPECT_GE(sockets() - before, 4);  // some kept
}

TEST(ApiClient, NoServerIsUnavailableAfterRetries) {
  FakeClock clock;
  ClusterAccess access;
  access.server = "http://127.0.0.1:1";  // nothing listens on port 1
  ApiClient client(MakeCurlTransport(access).value(), std::make_shared<Credentials>(access, clock),
                   clock);
  auto r = client.Call({"POST", "/api/v1/namespaces", "{}"});
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(r.status().message(), HasSubstr("http://127.0.0.1:1"));
  EXPECT_EQ(client.requests(), 5);  // never connected, so even a POST is retried
  EXPECT_FALSE(MakeCurlTransport({.server = "127.0.0.1:6443"}).ok());
}

// A transport that answers from a script, to see what the client sends.
class ScriptedTransport : public Transport {
 public:
  std::deque<ApiResponse> answers;
  std::vector<std::string> tokens;
  Result<ApiResponse> Send(const ApiRequest&, const Credential& c) override {
    tokens.push_back(c.token);
    ApiResponse r = answers.front();
    answers.pop_front();
    return r;
  }
  Result<ApiResponse> Stream(const ApiRequest& r, const Credential& c,
                             const std::function<bool(std::string_view)>&, StreamStop*) override {
    return Send(r, c);
  }
};

TEST(ApiClient, A401RunsTheExecPluginAgainOnce) {
  FakeClock clock;
  ClusterAccess access;
  access.server = "https://lab";
  access.exec = ExecConfig{"client.authentication.k8s.io/v1", "get-token"};
  int runs = 0;
  auto plugin = [&](const ExecConfig&, const std::string&) -> Result<std::string> {
    ++runs;
    return json{{"apiVersion", "client.authentication.k8s.io/v1"},
                {"kind", "ExecCredential"},
                {"status", {{"token", "t" + std::to_string(runs)}}}}
        .dump();
  };
  auto transport = std::make_unique<ScriptedTransport>();
  ScriptedTransport* t = transport.get();
  t->answers = {{401}, {200}, {401}, {401}};
  ApiClient client(std::move(transport), std::make_shared<Credentials>(access, clock, plugin),
                   clock);
  EXPECT_EQ(client.Call({"GET", "/api/v1/pods", ""})->status, 200);
  EXPECT_EQ(t->tokens, (std::vector<std::string>{"t1", "t2"}));
  // Still 401 with a fresh token: the answer stands (no loop).
  auto denied = client.Call({"GET", "/api/v1/pods", ""});
  EXPECT_EQ(denied->status, 401);
  EXPECT_EQ(ApiError(*denied).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(runs, 3);
}

}  // namespace
}  // namespace portflow::k8s
