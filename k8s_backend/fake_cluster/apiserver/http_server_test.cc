// The HTTP server as clients other than kubectl meet it, over a real socket:
// boto3 waits for "100 Continue" before an object's bytes, HeadObject reads
// a length without a body, and a header sent twice is one list.
#include "k8s_backend/fake_cluster/apiserver/http_server.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

namespace portflow::fake {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = StartPlainHttpServer(0, [](const HttpRequest& r) {
      std::string seen = r.method + " " + r.body;
      auto a = r.headers.find("x-a");
      if (a != r.headers.end()) seen += " x-a=" + a->second;
      return HttpResponse{200, "text/plain", seen, nullptr};
    });
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(*server);
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in at{};
    at.sin_family = AF_INET;
    at.sin_port = htons(static_cast<uint16_t>(server_->port()));
    at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd_, reinterpret_cast<sockaddr*>(&at), sizeof at), 0);
    timeval two{2, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &two, sizeof two);
  }
  void TearDown() override {
    if (fd_ >= 0) ::close(fd_);
  }
  void Send(const std::string& bytes) {
    ASSERT_EQ(::send(fd_, bytes.data(), bytes.size(), 0), static_cast<ssize_t>(bytes.size()));
  }
  // One answer: its head, then as many bytes as its Content-Length says
  // unless it answers a HEAD (a read times out after 2 s).
  std::string Receive(bool head = false) {
    std::string out;
    char buf[4096];
    size_t want = std::string::npos;
    while (out.size() < want) {
      ssize_t n = ::recv(fd_, buf, want == std::string::npos ? sizeof buf : 1, 0);
      if (n <= 0) return out;
      out.append(buf, static_cast<size_t>(n));
      size_t end = out.find("\r\n\r\n");
      if (want == std::string::npos && end != std::string::npos) {
        size_t length = out.find("Content-Length: ");
        size_t body = head || length == std::string::npos ? 0 : std::stoul(out.substr(length + 16));
        want = end + 4 + body;
      }
    }
    return out;
  }

  std::unique_ptr<HttpServer> server_;
  int fd_ = -1;
};

TEST_F(HttpServerTest, AnExpectingClientIsToldToContinueBeforeItSendsTheBody) {
  Send("PUT /o HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
  EXPECT_THAT(Receive(), StartsWith("HTTP/1.1 100 Continue\r\n"));
  Send("hello");
  std::string answer = Receive();
  EXPECT_THAT(answer, StartsWith("HTTP/1.1 200"));
  EXPECT_THAT(answer, HasSubstr("PUT hello"));
}

TEST_F(HttpServerTest, HeadGetsTheLengthWithoutTheBody) {
  Send("HEAD /o HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string answer = Receive(/*head=*/true);
  EXPECT_THAT(answer, StartsWith("HTTP/1.1 200"));
  EXPECT_THAT(answer, HasSubstr("Content-Length: 5\r\n")) << "the length of \"HEAD \"";
  EXPECT_THAT(answer, Not(HasSubstr("HEAD ")));
  // The connection is still in step: the next answer is the next request's.
  Send("GET /o HTTP/1.1\r\nHost: x\r\nX-A: 1\r\nX-A: 2\r\n\r\n");
  answer = Receive();
  EXPECT_THAT(answer, StartsWith("HTTP/1.1 200"));
  EXPECT_THAT(answer, HasSubstr("GET  x-a=1, 2")) << "a header sent twice is one list";
}

}  // namespace
}  // namespace portflow::fake
