// The HTTP server as clients other than kubectl meet it, over a real socket:
// boto3 waits for "100 Continue" before an object's bytes, HeadObject reads
// a length without a body, and a header sent twice is one list.
#include "k8s_backend/fake_cluster/apiserver/http_server.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <chrono>
#include <deque>
#include <filesystem>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <utility>

namespace portflow::fake {
namespace {

using ::testing::AllOf;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// Whether `holds` comes true within 5 s (asked every 10 ms): a wait that
// fails instead of hanging.
bool Eventually(const std::function<bool()>& holds) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!holds()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = StartPlainHttpServer(0, [this](const HttpRequest& r) {
      if (r.target == "/forever") {
        auto held = std::make_shared<int>(0);  // as long as the stream is
        {
          std::lock_guard<std::mutex> l(forever_mu_);
          forever_ = held;
        }
        return HttpResponse{200, "text/plain", "", [held](std::string* chunk) {
                              std::this_thread::sleep_for(std::chrono::milliseconds(5));
                              return chunk->empty();
                            }};
      }
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

  std::mutex forever_mu_;
  std::weak_ptr<int> forever_;          // the last /forever stream's producer
  std::unique_ptr<HttpServer> server_;  // after what its handler uses: it goes first
  int fd_ = -1;
};

// A client that goes away ends its stream, though the stream writes
// nothing that would fail.
TEST_F(HttpServerTest, AClientThatGoesAwayEndsItsStream) {
  Send("GET /forever HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_THAT(Receive(/*head=*/true), StartsWith("HTTP/1.1 200"));
  ::close(fd_);
  fd_ = -1;
  EXPECT_TRUE(Eventually([&] {
    std::lock_guard<std::mutex> l(forever_mu_);
    return forever_.expired();
  })) << "the stream goes on for a client gone";
}

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

// The HTTPS server of the fake cluster: a few event loops serve every
// connection, a stream gets a thread while it lasts and then hands its
// connection back.
namespace asio = boost::asio;
namespace http = boost::beast::http;

class LoopServerTest : public ::testing::Test {
 protected:
  using TlsStream = asio::ssl::stream<asio::ip::tcp::socket>;

  void SetUp() override {
    auto certificate = NewServingCertificate();
    ASSERT_TRUE(certificate.ok());
    ca_pem_ = certificate->ca_pem;
    auto server = StartHttpServer(0, *certificate, [this](const HttpRequest& r) {
      if (r.target == "/drop") return HttpResponse{0, "", "", nullptr, {}, true};
      if (r.target == "/stream") {
        int left = 3;
        return HttpResponse{200, "text/plain", "", [left](std::string* chunk) mutable {
                              *chunk = "part" + std::to_string(left) + ";";
                              return --left > 0;
                            }};
      }
      if (r.target == "/pushed") {
        auto p = std::make_shared<Pushed>();
        {
          std::lock_guard<std::mutex> l(pushed_mu_);
          pushed_.push_back(p);
        }
        HttpResponse res{200, "text/plain", "", [p](std::string* chunk) {
                           std::lock_guard<std::mutex> l(p->mu);
                           for (; !p->queue.empty(); p->queue.pop_front())
                             *chunk += p->queue.front();
                           return !p->ended;
                         }};
        res.wake_me = [p](std::function<void()> fn) {
          std::lock_guard<std::mutex> l(p->mu);
          p->wake = std::move(fn);
          if (p->wake) p->wake();
        };
        return res;
      }
      if (r.target == "/throws" || r.target == "/throws-pushed") {
        HttpResponse res{200, "text/plain", "", [](std::string*) -> bool {
                           throw std::runtime_error("a bug in the stream");
                         }};
        if (r.target == "/throws-pushed") res.wake_me = [](std::function<void()>) {};
        return res;
      }
      if (r.target == "/forever") {
        auto held = std::make_shared<int>(0);  // as long as the stream is
        {
          std::lock_guard<std::mutex> l(pushed_mu_);
          forever_ = held;
        }
        return HttpResponse{200, "text/plain", "", [held](std::string*) {
                              std::this_thread::sleep_for(std::chrono::milliseconds(5));
                              return true;
                            }};
      }
      if (r.target == "/body") return HttpResponse{200, "text/plain", r.method + " " + r.body};
      if (r.target == "/size")
        return HttpResponse{200, "text/plain", std::to_string(r.body.size())};
      if (r.target == "/split") {
        HttpResponse res{200, "text/plain", "ok"};
        res.headers["X-Note"] = "a\r\nSet-Cookie: x=1\r\n\r\nmore";
        return res;
      }
      if (r.target == "/framed") {
        HttpResponse res{200, "text/plain", "ok"};
        res.headers["content-length"] = "99";
        res.headers["CONNECTION"] = "close";
        res.headers["Transfer-Encoding"] = "chunked";
        res.headers["Content-type"] = "text/html";
        res.headers["X-Kept"] = "yes";
        return res;
      }
      if (r.target == "/busy") {
        HttpResponse res{429, "text/plain", "later"};
        res.headers["Retry-After"] = "1";
        return res;
      }
      return HttpResponse{200, "text/plain", r.method + " " + r.target, nullptr};
    });
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(*server);
    tls_.add_certificate_authority(asio::buffer(ca_pem_));
    tls_.set_verify_mode(asio::ssl::verify_peer);
  }

  std::unique_ptr<TlsStream> Connect() {
    auto s = std::make_unique<TlsStream>(io_, tls_);
    asio::ip::tcp::endpoint at(asio::ip::make_address("127.0.0.1"),
                               static_cast<unsigned short>(server_->port()));
    s->next_layer().connect(at);
    s->handshake(asio::ssl::stream_base::client);
    return s;
  }

  // One GET on `s` and its answer's body; the error when there is none.
  std::string Get(TlsStream& s, const std::string& target) {
    http::request<http::empty_body> req{http::verb::get, target, 11};
    req.set(http::field::host, "127.0.0.1");
    boost::system::error_code ec;
    http::write(s, req, ec);
    if (ec) return "error: " + ec.message();
    boost::beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(s, buffer, res, ec);
    if (ec) return "error: " + ec.message();
    return res.body();
  }

  // Bytes as a client sends them, for what a client library would not send.
  static void Send(TlsStream& s, const std::string& bytes) { asio::write(s, asio::buffer(bytes)); }
  // One answer as it came: its head, then as many bytes as its
  // Content-Length says unless it answers a HEAD; what came short when the
  // connection ends or nothing comes for 2 s. `rest` keeps what came after.
  static std::string Receive(TlsStream& s, std::string& rest, bool head = false) {
    timeval two{2, 0};
    ::setsockopt(s.next_layer().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &two, sizeof two);
    std::string out = std::exchange(rest, "");
    size_t want = std::string::npos;
    while (true) {
      size_t end = out.find("\r\n\r\n");
      if (want == std::string::npos && end != std::string::npos) {
        size_t length = out.find("Content-Length: ");
        bool sized = !head && length != std::string::npos && length < end;
        want = end + 4 + (sized ? std::stoul(out.substr(length + 16)) : 0);
      }
      if (out.size() >= want) break;
      char buf[4096];
      boost::system::error_code ec;
      size_t n = s.read_some(asio::buffer(buf), ec);
      if (ec) return out;
      out.append(buf, n);
    }
    rest = out.substr(want);
    return out.substr(0, want);
  }

  // Whether the server ends the connection within 2 s: EOF, or a reset
  // where it closed with bytes of ours unread. What TLS sent after the
  // handshake is read past.
  static bool Ends(TlsStream& s) {
    pollfd ended{s.next_layer().native_handle(), POLLIN, 0};
    char buf[4096];
    ssize_t n = 1;
    while (n > 0 && ::poll(&ended, 1, 2000) == 1) n = ::recv(ended.fd, buf, sizeof buf, 0);
    return n == 0 || (n < 0 && errno == ECONNRESET);
  }

  // A GET of a stream on `s`, read up to the end of its head; the body is
  // read on with `buffer` and `parser`.
  static void StartStream(TlsStream& s, const std::string& target,
                          boost::beast::flat_buffer& buffer,
                          http::response_parser<http::string_body>& parser) {
    http::request<http::empty_body> req{http::verb::get, target, 11};
    http::write(s, req);
    http::read_header(s, buffer, parser);
  }

  static size_t Threads() {
    return std::distance(std::filesystem::directory_iterator("/proc/self/task"),
                         std::filesystem::directory_iterator{});
  }

  // A stream that wakes its server when it has more, as a watch does.
  struct Pushed {
    std::mutex mu;
    std::deque<std::string> queue;
    bool ended = false;
    std::function<void()> wake;
    void Push(const std::string& text, bool end = false) {
      std::lock_guard<std::mutex> l(mu);
      queue.push_back(text);
      ended = end;
      if (wake) wake();
    }
  };

  // The one pushed stream started so far; null, failing the test, when
  // there is not exactly one.
  std::shared_ptr<Pushed> OnlyPushed() {
    std::lock_guard<std::mutex> l(pushed_mu_);
    EXPECT_EQ(pushed_.size(), 1u);
    return pushed_.size() == 1 ? pushed_[0] : nullptr;
  }

  // A connection with a pushed stream started on it (its head read), and
  // the stream's producer (null, failing the test, when none started).
  struct PushedOn {
    std::unique_ptr<TlsStream> s;
    boost::beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    std::shared_ptr<Pushed> pushed;
  };
  std::unique_ptr<PushedOn> StartPushed() {
    auto p = std::make_unique<PushedOn>();
    p->s = Connect();
    StartStream(*p->s, "/pushed", p->buffer, p->parser);
    p->pushed = OnlyPushed();
    return p;
  }

  // Whether the last /forever stream's producer is still held (its stream
  // goes on) 5 s after it is asked, or was let go before.
  bool ForeverHeld() {
    return !Eventually([this] {
      std::lock_guard<std::mutex> l(pushed_mu_);
      return forever_.expired();
    });
  }

  std::string ca_pem_;
  std::weak_ptr<int> forever_;
  std::mutex pushed_mu_;
  std::vector<std::shared_ptr<Pushed>> pushed_;
  std::unique_ptr<HttpServer> server_;
  asio::io_context io_;
  asio::ssl::context tls_{asio::ssl::context::tls_client};
};

TEST_F(LoopServerTest, ManyConnectionsShareAFewThreads) {
  size_t before = Threads();
  std::vector<std::unique_ptr<TlsStream>> open;
  for (int i = 0; i < 40; ++i) open.push_back(Connect());
  for (int i = 0; i < 40; ++i)
    EXPECT_EQ(Get(*open[i], "/n" + std::to_string(i)), "GET /n" + std::to_string(i));
  EXPECT_EQ(Threads(), before) << "no thread per connection";
  // Each connection is kept alive and answers again.
  for (int i = 0; i < 40; ++i) EXPECT_EQ(Get(*open[i], "/again"), "GET /again");
}

TEST_F(LoopServerTest, AnExpectingClientIsToldToContinueBeforeItSendsTheBody) {
  auto s = Connect();
  std::string rest;
  Send(*s, "PUT /body HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
  EXPECT_EQ(Receive(*s, rest), "HTTP/1.1 100 Continue\r\n\r\n");
  Send(*s, "hello");
  EXPECT_EQ(Receive(*s, rest),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nPUT hello");
}

TEST_F(LoopServerTest, RequestsSentTogetherAreAnsweredInTurn) {
  auto s = Connect();
  std::string rest;
  // Three requests in one write: the second and third wait in the server's
  // buffer while the first is answered. HEAD gets GET's length, no bytes.
  Send(*s,
       "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
       "HEAD /b HTTP/1.1\r\nHost: x\r\n\r\n"
       "POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
  EXPECT_THAT(Receive(*s, rest),
              AllOf(StartsWith("HTTP/1.1 200 OK\r\n"), EndsWith("\r\n\r\nGET /a")));
  EXPECT_THAT(Receive(*s, rest, /*head=*/true),
              AllOf(StartsWith("HTTP/1.1 200 OK\r\n"), EndsWith("Content-Length: 7\r\n\r\n")));
  EXPECT_THAT(Receive(*s, rest),
              AllOf(StartsWith("HTTP/1.1 200 OK\r\n"), EndsWith("\r\n\r\nPOST abc")))
      << "the HEAD answer had no bytes after its head";
  EXPECT_EQ(rest, "") << "nothing after the last answer";
}

TEST_F(LoopServerTest, AnAnswerSaysItsStatusItsHeadersAndWhetherTheConnectionStays) {
  auto s = Connect();
  std::string rest;
  // HTTP/1.0 asks to keep the connection and is told it is kept.
  Send(*s, "GET /busy HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  EXPECT_EQ(Receive(*s, rest),
            "HTTP/1.0 429 Too Many Requests\r\nContent-Type: text/plain\r\nRetry-After: 1\r\n"
            "Connection: keep-alive\r\nContent-Length: 5\r\n\r\nlater");
  // HTTP/1.1 keeps it unless told to close; then it is told so, and closed.
  Send(*s, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(Receive(*s, rest),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\nGET /a");
  Send(*s, "GET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(Receive(*s, rest),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n"
            "Content-Length: 6\r\n\r\nGET /b");
  EXPECT_TRUE(Ends(*s)) << "the connection is still open";
}

TEST_F(LoopServerTest, ALineBreakInAHeaderValueCannotStartAnotherHeader) {
  auto s = Connect();
  std::string rest;
  Send(*s, "GET /split HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(Receive(*s, rest),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Note: a  Set-Cookie: x=1    more\r\n"
            "Content-Length: 2\r\n\r\nok");
}

// A handler's extra headers cannot contradict the server's framing: one
// Content-Length, the connection kept as the request asked.
TEST_F(LoopServerTest, AnExtraHeaderCannotReframeTheAnswer) {
  auto s = Connect();
  std::string rest;
  for (int i = 0; i < 2; ++i) {
    Send(*s, "GET /framed HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(Receive(*s, rest),
              "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Kept: yes\r\n"
              "Content-Length: 2\r\n\r\nok");
  }
}

TEST_F(LoopServerTest, ABodyThatComesInManyPiecesIsReadWhole) {
  auto s = Connect();
  std::string rest;
  const size_t size = 3 << 20;
  Send(*s,
       "POST /size HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(size) + "\r\n\r\n");
  std::string piece(size / 6, 'x');
  for (int i = 0; i < 6; ++i) {
    Send(*s, piece);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_THAT(Receive(*s, rest), EndsWith("\r\n\r\n" + std::to_string(size)));
}

TEST_F(LoopServerTest, AChunkedBodyIsReadWhole) {
  auto s = Connect();
  std::string rest;
  Send(*s, "POST /body HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n");
  std::this_thread::sleep_for(std::chrono::milliseconds(10));
  Send(*s, "2\r\nde\r\n0\r\n\r\n");
  EXPECT_THAT(Receive(*s, rest), EndsWith("\r\n\r\nPOST abcde"));
}

TEST_F(LoopServerTest, ARequestThatIsNotHttpEndsItsConnectionWithoutAnAnswer) {
  auto s = Connect();
  std::string rest;
  Send(*s, "NOT HTTP AT ALL\r\n\r\n");
  EXPECT_EQ(Receive(*s, rest), "") << "no answer";
  EXPECT_TRUE(Ends(*s)) << "the connection is still open";
  auto other = Connect();  // the server goes on
  EXPECT_EQ(Get(*other, "/x"), "GET /x");
}

TEST_F(LoopServerTest, AHeadPastItsLimitEndsTheConnectionWithoutAnAnswer) {
  auto s = Connect();
  std::string rest;
  // Beast's request parser takes 8 KiB of head; this one never ends. (The
  // server may close while it is still being sent: the write's error is
  // not the test's.)
  std::string head = "GET /a HTTP/1.1\r\nX-Long: " + std::string(64 << 10, 'x');
  boost::system::error_code ignored;
  asio::write(*s, asio::buffer(head), ignored);
  EXPECT_EQ(Receive(*s, rest), "") << "no answer";
  EXPECT_TRUE(Ends(*s)) << "the connection is still open";
}

TEST_F(LoopServerTest, AConnectionServesAgainAfterAStream) {
  auto s = Connect();
  EXPECT_EQ(Get(*s, "/stream"), "part3;part2;part1;");  // chunked, decoded by Beast
  EXPECT_EQ(Get(*s, "/after"), "GET /after");
}

TEST_F(LoopServerTest, AStreamThatWakesItsServerIsWrittenWithoutAThread) {
  size_t before = Threads();
  std::vector<std::unique_ptr<TlsStream>> open;
  std::vector<boost::beast::flat_buffer> buffers(20);
  std::vector<http::response_parser<http::string_body>> parsers(20);
  for (int i = 0; i < 20; ++i) {
    open.push_back(Connect());
    StartStream(*open[i], "/pushed", buffers[i], parsers[i]);
  }
  EXPECT_EQ(Threads(), before) << "no thread per stream";
  std::vector<std::shared_ptr<Pushed>> pushed;
  {
    std::lock_guard<std::mutex> l(pushed_mu_);
    pushed = pushed_;
  }
  ASSERT_EQ(pushed.size(), 20u);
  for (auto& p : pushed) p->Push("a;");
  for (auto& p : pushed) p->Push("b;", /*end=*/true);
  // Which connection a stream is cannot be told from here; each has two.
  for (int i = 0; i < 20; ++i) {
    http::read(*open[i], buffers[i], parsers[i]);
    EXPECT_EQ(parsers[i].get().body(), "a;b;");
    EXPECT_EQ(Get(*open[i], "/after"), "GET /after") << "served again after its stream";
  }
}

// A pushed stream is written as soon as it wakes its server, not at the
// loop's next one-second tick: ten events, each pushed once the one before
// has arrived, take milliseconds (on ticks alone, about ten seconds).
TEST_F(LoopServerTest, APushedStreamIsWrittenWhenItWakesNotAtTheNextTick) {
  auto p = StartPushed();
  ASSERT_TRUE(p->pushed);
  auto start = std::chrono::steady_clock::now();
  std::string want;
  for (int i = 0; i < 10; ++i) {
    std::string event = "e" + std::to_string(i) + ";";
    want += event;
    p->pushed->Push(event, /*end=*/i == 9);
    while (p->parser.get().body() != want && !p->parser.is_done())
      http::read_some(*p->s, p->buffer, p->parser);
    ASSERT_EQ(p->parser.get().body(), want);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

// A client that goes away ends its watch at once, though nothing is
// written to it: the server reads a pushed stream's connection too. (A
// watch that matches nothing was kept for its whole timeout, 30 minutes,
// and with it the connection and the watch's place among the store's.)
TEST_F(LoopServerTest, AClientThatGoesAwayEndsItsPushedStream) {
  auto p = StartPushed();
  ASSERT_TRUE(p->pushed);
  p->s->next_layer().close();
  EXPECT_TRUE(Eventually([&] {
    std::lock_guard<std::mutex> l(p->pushed->mu);
    return !p->pushed->wake;
  })) << "the server still writes the stream of a client gone";
}

// What a client sends while its pushed stream runs is answered after it.
TEST_F(LoopServerTest, ARequestSentDuringAPushedStreamIsAnsweredAfterIt) {
  auto p = StartPushed();
  ASSERT_TRUE(p->pushed);
  Send(*p->s, "GET /next HTTP/1.1\r\nHost: x\r\n\r\n");
  p->pushed->Push("a;");
  while (p->parser.get().body() != "a;") http::read_some(*p->s, p->buffer, p->parser);
  p->pushed->Push("b;", /*end=*/true);
  http::read(*p->s, p->buffer, p->parser);
  EXPECT_EQ(p->parser.get().body(), "a;b;");
  // Read with a deadline: a request lost would leave both sides waiting.
  http::response<http::string_body> next;
  http::async_read(*p->s, p->buffer, next, [](boost::system::error_code, size_t) {});
  io_.restart();
  io_.run_for(std::chrono::seconds(5));
  EXPECT_EQ(next.body(), "GET /next");
}

// A stream that throws ends its connection, not the server.
TEST_F(LoopServerTest, AStreamThatThrowsEndsItsConnectionOnly) {
  for (const char* target : {"/throws", "/throws-pushed"}) {
    auto s = Connect();
    http::request<http::empty_body> req{http::verb::get, target, 11};
    http::write(*s, req);
    boost::beast::flat_buffer buffer;
    http::response<http::string_body> res;
    boost::system::error_code ec;
    http::read(*s, buffer, res, ec);
    EXPECT_TRUE(ec) << target << ": the stream is cut, not ended";
    auto other = Connect();
    EXPECT_EQ(Get(*other, "/x"), "GET /x") << "after " << target;
  }
}

TEST_F(LoopServerTest, ADroppedConnectionIsClosedWithoutAnAnswer) {
  auto s = Connect();
  EXPECT_THAT(Get(*s, "/drop"), StartsWith("error: "));
  auto other = Connect();  // the server goes on
  EXPECT_EQ(Get(*other, "/x"), "GET /x");
}

// A followed log asked for during a watch is written from a thread of its
// own once the watch ends, with no read of the loop's left waiting on the
// connection meanwhile (TSan would see the two threads in one TLS stream),
// and it ends with its client.
TEST_F(LoopServerTest, AStreamAskedForDuringAPushedStreamIsWrittenAfterIt) {
  auto p = StartPushed();
  ASSERT_TRUE(p->pushed);
  Send(*p->s, "GET /forever HTTP/1.1\r\nHost: x\r\n\r\n");
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // read by the loop meanwhile
  p->pushed->Push("a;", /*end=*/true);
  http::read(*p->s, p->buffer, p->parser);
  EXPECT_EQ(p->parser.get().body(), "a;");
  http::response_parser<http::string_body> next;
  http::read_header(*p->s, p->buffer, next);
  EXPECT_EQ(next.get().result_int(), 200);
  p->s->next_layer().close();
  EXPECT_FALSE(ForeverHeld()) << "the stream goes on for a client gone";
}

// A stream written from a thread of its own (a followed log, written only
// when there is output) ends when its client goes, not when its producer
// does (a pod's end, maybe hours away).
TEST_F(LoopServerTest, AClientThatGoesAwayEndsItsStreamsThread) {
  auto s = Connect();
  boost::beast::flat_buffer buffer;
  http::response_parser<http::string_body> head;
  StartStream(*s, "/forever", buffer, head);
  EXPECT_EQ(head.get().result_int(), 200);
  s->next_layer().close();
  EXPECT_FALSE(ForeverHeld()) << "the stream goes on for a client gone";
}

TEST_F(LoopServerTest, StopEndsStreamsAndIdleConnections) {
  auto streaming = Connect();
  auto idle = Connect();
  boost::beast::flat_buffer buffer;
  http::response_parser<http::string_body> head;
  StartStream(*streaming, "/forever", buffer, head);
  EXPECT_EQ(head.get().result_int(), 200);
  size_t before = Threads();
  auto start = std::chrono::steady_clock::now();
  server_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  EXPECT_LT(Threads(), before) << "the loops' and the stream's threads are joined";
  // The idle connection is ended (EOF), not left open; waited for with a
  // deadline so that a connection left open fails instead of hanging.
  EXPECT_TRUE(Ends(*idle)) << "the connection is still open";
}

}  // namespace
}  // namespace portflow::fake
