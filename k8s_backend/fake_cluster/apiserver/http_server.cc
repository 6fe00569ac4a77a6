// The HTTP servers, in order: the pieces both use (listening, whether a
// stream's client has gone, the request as the handler sees it, the
// answer's text, a stream's chunked writes); BeastServer, plain HTTP with a
// thread per connection; and LoopServer, the fake cluster's HTTPS, whose
// event loops each run their connections (Connection: the parser fed by
// hand, answers, streams written from the loop while its connection is
// read, or handed to a thread) and deal new ones out in turn.
#include "k8s_backend/fake_cluster/apiserver/http_server.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstring>
#include <list>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <utility>

namespace portflow::fake {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

using BeastRequest = http::request<http::string_body>;

// Binds and listens on address:port (0: a free port).
Status Listen(tcp::acceptor& acceptor, const std::string& address, int port) {
  boost::system::error_code ec;
  asio::ip::address ip = asio::ip::make_address(address, ec);
  if (ec) return InvalidArgument("\"" + address + "\" is not an IP address: " + ec.message());
  tcp::endpoint ep(ip, static_cast<unsigned short>(port));
  acceptor.open(ep.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(ep, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return Unavailable("cannot listen on " + address + ":" + std::to_string(port) + ": " +
                       ec.message());
  return OkStatus();
}

// Whether the client of the socket `fd` has closed its side.
bool PeerGone(int fd) {
  pollfd p{fd, POLLRDHUP, 0};
  return ::poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

// The request as the handler sees it: lower-case header names, a header
// sent twice one list, as HTTP reads it.
HttpRequest ToRequest(BeastRequest& req, const std::string& peer) {
  HttpRequest in;
  in.peer = peer;
  in.method = std::string(req.method_string());
  in.target = std::string(req.target());
  for (const auto& f : req) {
    std::string name(f.name_string());
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto [at, added] = in.headers.emplace(name, std::string(f.value()));
    if (!added) at->second += ", " + std::string(f.value());
  }
  in.body = std::move(req.body());
  return in;
}

// "ADDRESS:PORT" of the client, "" once the connection is gone.
template <typename Socket>
std::string Peer(const Socket& socket) {
  boost::system::error_code ec;
  auto ep = socket.remote_endpoint(ec);
  return ec ? "" : ep.address().to_string() + ":" + std::to_string(ep.port());
}

// The handler's answer; a bug in a handler answers 500 instead of ending
// the server.
HttpResponse Answer(const HttpHandler& handler, const HttpRequest& in) {
  try {
    return handler(in);
  } catch (const std::exception& e) {
    return {
        500, "application/json",
        std::string(R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)") +
            R"("reason":"InternalError","code":500,"message":"internal error in the fake cluster"})",
        nullptr};
  }
}

// An answer as Beast wrote one (the status line, Content-Type, the extra
// headers, Connection as keep-alive and the version ask, Content-Length),
// in one piece for one write, for both servers; `head_only` leaves the
// body out.
std::string ResponseText(const HttpResponse& out, unsigned version, bool keep_alive,
                         bool head_only) {
  std::string text;
  text.reserve(160 + out.body.size());
  text.append("HTTP/")
      .append(std::to_string(version / 10))
      .append(".")
      .append(std::to_string(version % 10))
      .append(" ")
      .append(std::to_string(out.status))
      .append(" ")
      .append(http::obsolete_reason(static_cast<http::status>(out.status)));
  auto field = [&text](std::string_view name, std::string_view value) {
    text.append("\r\n");
    // A line break in a name or value would start a header of its own (or
    // the body): it is written as a space.
    for (std::string_view part : {name, std::string_view(": "), value}) {
      for (char c : part) text.push_back(c == '\r' || c == '\n' ? ' ' : c);
    }
  };
  field("Content-Type", out.content_type);
  for (const auto& [name, value] : out.headers) {
    // The answer's framing is the server's: an extra header that would
    // contradict it (a second length, a close never done) is not written.
    bool framing = false;
    for (std::string_view own :
         {"Content-Type", "Content-Length", "Connection", "Transfer-Encoding"})
      framing = framing || beast::iequals(name, own);
    if (!framing) field(name, value);
  }
  if (version >= 11 && !keep_alive) field("Connection", "close");
  if (version < 11 && keep_alive) field("Connection", "keep-alive");
  field("Content-Length", std::to_string(out.body.size()));
  text.append("\r\n\r\n");
  if (!head_only) text.append(out.body);
  return text;
}

// Writes a stream's answer, chunked, until its producer ends, the client
// goes (PeerGone, asked each turn: a producer with nothing to say writes
// nothing that would fail) or `stopping` says so; then `served` is told
// once the head is out. True when the connection may serve another request.
template <typename Stream, typename Served>
bool WriteStream(Stream& socket, HttpResponse& out, const BeastRequest& req, Served served,
                 const std::function<bool()>& stopping) {
  int fd = beast::get_lowest_layer(socket).native_handle();
  boost::system::error_code ec;
  http::response<http::empty_body> res{static_cast<http::status>(out.status), req.version()};
  res.set(http::field::content_type, out.content_type);
  res.set(http::field::transfer_encoding, "chunked");
  res.keep_alive(req.keep_alive());
  http::response_serializer<http::empty_body> sr{res};
  http::write_header(socket, sr, ec);
  served(out.status);
  if (ec) return false;
  std::string chunk;
  while (!stopping() && !PeerGone(fd)) {
    chunk.clear();
    bool more = false;
    try {
      more = out.stream(&chunk);
    } catch (const std::exception&) {  // a bug in the stream ends it, not the server
      return false;
    }
    if (!chunk.empty()) {
      asio::write(socket, http::make_chunk(asio::buffer(chunk)), ec);
      if (ec) return false;
    }
    if (!more) break;
  }
  asio::write(socket, http::make_chunk_last(), ec);
  return !ec && req.keep_alive();
}

// Joins the threads (each with its `done` flag) that have ended and drops
// them, so that a long-lived server does not collect them.
template <typename T>
void JoinEnded(std::list<T>& threads) {
  for (auto it = threads.begin(); it != threads.end();) {
    if (it->done->load()) {
      it->thread.join();
      it = threads.erase(it);
    } else {
      ++it;
    }
  }
}

// A thread per connection, for handlers that may block (the fake cloud's
// SQS long poll waits up to 20 s in real time).
class BeastServer : public HttpServer {
 public:
  BeastServer(HttpHandler handler, ServedHook served)
      : handler_(std::move(handler)), served_(std::move(served)), acceptor_(io_) {}
  ~BeastServer() override { Stop(); }

  Status Start(const std::string& address, int port) {
    RETURN_IF_ERROR(Listen(acceptor_, address, port));
    port_ = acceptor_.local_endpoint().port();
    accept_thread_ = std::thread([this] { AcceptLoop(); });
    return OkStatus();
  }

  int port() const override { return port_; }

  void Stop() override {
    std::list<Connection> conns;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (stopped_) return;
      stopped_ = true;
      // shutdown() wakes the threads blocked in accept(), recv() or send().
      // Only the kernel's socket is touched here: asio's socket objects are
      // closed by the threads that use them, once they have returned.
      ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
      for (Connection& c : conns_) ::shutdown(c.socket->native_handle(), SHUT_RDWR);
      conns.splice(conns.end(), conns_);
    }
    if (accept_thread_.joinable()) accept_thread_.join();
    boost::system::error_code ec;
    acceptor_.close(ec);
    for (Connection& c : conns) {
      if (c.thread.joinable()) c.thread.join();
    }
  }

 private:
  struct Connection {
    std::shared_ptr<tcp::socket> socket;
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };

  void AcceptLoop() {
    while (true) {
      auto socket = std::make_shared<tcp::socket>(io_);
      boost::system::error_code ec;
      acceptor_.accept(*socket, ec);
      if (ec == asio::error::no_descriptors ||
          ec == boost::system::errc::too_many_files_open_in_system) {
        // The connection stays queued until a descriptor is free: wait for
        // one instead of spinning on accept().
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      std::lock_guard<std::mutex> l(mu_);
      if (stopped_) return;
      if (ec) continue;
      socket->set_option(tcp::no_delay(true), ec);
      JoinEnded(conns_);
      auto done = std::make_shared<std::atomic<bool>>(false);
      conns_.push_back({socket, std::thread([this, socket, done] {
                          Serve(*socket, Peer(*socket));
                          {
                            std::lock_guard<std::mutex> l(mu_);  // Stop() shuts sockets under it
                            boost::system::error_code ignored;
                            socket->close(ignored);
                          }
                          done->store(true);
                        }),
                        done});
    }
  }

  template <typename Stream>
  void Serve(Stream& socket, const std::string& peer) {
    beast::flat_buffer buffer;
    while (true) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(64 << 20);
      boost::system::error_code ec;
      http::read_header(socket, buffer, parser, ec);
      if (ec) return;
      // boto3 asks before it sends an object's bytes; answer at once rather
      // than leave it waiting out its second.
      if (beast::iequals(parser.get()[http::field::expect], "100-continue")) {
        http::write(socket, http::response<http::empty_body>{http::status::continue_, 11}, ec);
        if (ec) return;
      }
      http::read(socket, buffer, parser, ec);
      if (ec) return;
      auto& req = parser.get();
      HttpRequest in = ToRequest(req, peer);
      auto received = std::chrono::steady_clock::now();
      auto served = [&](int status) {
        if (!served_) return;
        served_(in, status,
                std::chrono::duration_cast<std::chrono::microseconds>(
                    std::chrono::steady_clock::now() - received));
      };
      HttpResponse out = Answer(handler_, in);
      if (out.drop_connection) {  // as a broken network would
        served(0);
        return;
      }
      if (!out.stream) {
        // HEAD: what GET would answer, its length without its bytes.
        std::string text =
            ResponseText(out, req.version(), req.keep_alive(), req.method() == http::verb::head);
        asio::write(socket, asio::buffer(text), ec);
        served(out.status);
        if (ec || !req.keep_alive()) return;
        continue;
      }
      // A stream: chunked, until the producer ends or the client goes.
      if (!WriteStream(socket, out, req, served, [this] { return Stopping(); })) return;
    }
  }

  bool Stopping() {
    std::lock_guard<std::mutex> l(mu_);
    return stopped_;
  }

  HttpHandler handler_;
  ServedHook served_;
  asio::io_context io_;
  tcp::acceptor acceptor_;
  int port_ = 0;
  std::thread accept_thread_;
  std::mutex mu_;
  bool stopped_ = false;
  std::list<Connection> conns_;
};

// HTTPS for the fake cluster, whose handlers never block (only its streams
// wait): a few event loops, a thread each, share the connections out and
// each runs its own connections' reads and writes, as nginx's workers do,
// instead of a thread and a context switch per request (one shared loop
// woke its other threads for every handler). A stream (watch, log follow)
// waits in its producer, so each gets a thread of its own for as long as it
// lasts; the connection then comes back to its loop.
class LoopServer : public HttpServer {
 public:
  LoopServer(HttpHandler handler, ServedHook served)
      : handler_(std::move(handler)),
        served_(std::move(served)),
        tls_(ssl::context::tls_server),
        loops_(MakeLoops()),
        acceptor_(loops_[0]->io),
        retry_(loops_[0]->io) {}
  ~LoopServer() override { Stop(); }

  Status Start(int port, const ServingCertificate& certificate) {
    boost::system::error_code ec;
    // TLS 1.2 and 1.3 only, as the API server's defaults.
    tls_.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                         ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1,
                     ec);
    if (!ec) tls_.use_certificate_chain(asio::buffer(certificate.cert_pem), ec);
    if (!ec) tls_.use_private_key(asio::buffer(certificate.key_pem), ssl::context::pem, ec);
    if (ec) return Internal("cannot set up TLS for the fake cluster: " + ec.message());
    RETURN_IF_ERROR(Listen(acceptor_, "127.0.0.1", port));
    port_ = acceptor_.local_endpoint().port();
    Accept();
    for (auto& loop : loops_) loop->thread = std::thread([&io = loop->io] { io.run(); });
    return OkStatus();
  }

  int port() const override { return port_; }

  void Stop() override {
    std::list<StreamThread> streams;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (stopped_) return;
      stopped_ = true;
      // Wakes what waits on a socket: the loop's reads, a stream's writes.
      // Only the kernel's sockets are touched here: each is closed under mu_
      // by its connection, so none is closed (and its number reused) meanwhile.
      ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
      for (Connection* c : connections_) {
        ::shutdown(c->fd(), SHUT_RDWR);
        c->CloseMailbox();  // nothing more posted to the loops, which stop
      }
      streams.splice(streams.end(), streams_);
    }
    for (auto& loop : loops_) loop->io.stop();
    for (auto& loop : loops_) {
      if (loop->thread.joinable()) loop->thread.join();
    }
    for (StreamThread& t : streams) t.thread.join();
    boost::system::error_code ec;
    acceptor_.close(ec);
    // The connections still held by the loops' handlers go with them.
  }

 private:
  // A connection's socket and timer name their loop's executor by type, not
  // through any_io_executor: each operation on them would otherwise copy
  // and destroy a type-erased executor (3% of a GET's CPU).
  using Executor = asio::io_context::executor_type;
  using Socket = asio::basic_stream_socket<tcp, Executor>;
  using Timer = asio::basic_waitable_timer<std::chrono::steady_clock,
                                           asio::wait_traits<std::chrono::steady_clock>, Executor>;

  class Connection : public std::enable_shared_from_this<Connection> {
    static constexpr size_t kReadSize = 16384;

   public:
    Connection(LoopServer* server, Socket socket)
        : server_(server),
          stream_(std::move(socket), server->tls_),
          tick_(stream_.get_executor()),
          mailbox_(std::make_shared<Mailbox>()) {
      mailbox_->executor = stream_.get_executor();
    }
    ~Connection() {
      CloseMailbox();
      if (pushed_) pushed_->wake_me(nullptr);
      Close();
    }

    int fd() { return beast::get_lowest_layer(stream_).native_handle(); }
    Executor executor() { return stream_.get_executor(); }

    // After this, a pushed stream's wake-ups post nothing more.
    void CloseMailbox() {
      std::lock_guard<std::mutex> l(mailbox_->mu);
      mailbox_->open = false;
    }

    void Start() {
      peer_ = Peer(beast::get_lowest_layer(stream_));
      {
        std::lock_guard<std::mutex> l(mailbox_->mu);
        mailbox_->to = weak_from_this();
      }
      stream_.async_handshake(ssl::stream_base::server,
                              [self = shared_from_this()](boost::system::error_code ec) {
                                if (!ec) self->Read();
                              });
    }

    void Read() {
      parser_.emplace();
      parser_->body_limit(64 << 20);
      parser_->eager(true);
      continued_ = false;
      ReadMore();
    }

    // Beast's parser is fed here, what has come first, and the socket read
    // for more until the request is whole. (Beast's composed reads and
    // writes, each completion posted through the loop, cost about 3 us of
    // a GET's 13 us of server CPU.) A request that cannot be parsed ends
    // the connection, as before.
    void ReadMore() {
      while (buffer_.size() > 0 && !parser_->is_done()) {
        beast::error_code ec;
        size_t used = parser_->put(buffer_.data(), ec);
        buffer_.consume(used);
        if (ec == http::error::need_more || (!ec && used == 0)) break;  // more must come
        if (ec) return;  // not HTTP: the connection ends
      }
      if (parser_->is_done()) return Serve();
      // A client that asks before it sends a body is answered at once.
      if (parser_->is_header_done() && !continued_ &&
          beast::iequals(parser_->get()[http::field::expect], "100-continue")) {
        continued_ = true;
        static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        asio::async_write(stream_, asio::buffer(kContinue),
                          [self = shared_from_this()](boost::system::error_code ec, size_t) {
                            if (!ec) self->ReadMore();
                          });
        return;
      }
      if (peeking_) {  // the read a stream left waiting goes on with this request
        resume_ = true;
        return;
      }
      stream_.async_read_some(buffer_.prepare(kReadSize),
                              [self = shared_from_this()](boost::system::error_code ec, size_t n) {
                                if (ec) return;
                                self->buffer_.commit(n);
                                self->ReadMore();
                              });
    }

    // While a pushed stream is written, its connection is read too, so that
    // a client that goes away ends its watch at once, as the API server's
    // does, instead of at the watch's timeout (a silent watch is never
    // written, so its write never fails). Only while nothing else waits to
    // be read: once a client sends something (its next request), that is
    // kept for after the stream and the connection is not read again
    // meanwhile, so that no read is left waiting when the next request's
    // answer is written (from another thread for a followed log). (It is
    // read into a buffer of its own: the request after the stream may
    // consume buffer_ while this read waits.)
    void Peek() {
      if (peeking_ || buffer_.size() > 0) return;
      peeking_ = true;
      stream_.async_read_some(asio::buffer(peeked_),
                              [self = shared_from_this()](boost::system::error_code ec, size_t n) {
                                self->peeking_ = false;
                                if (!ec) {
                                  auto to = self->buffer_.prepare(n);
                                  std::memcpy(to.data(), self->peeked_.data(), n);
                                  self->buffer_.commit(n);
                                }
                                if (self->pushed_) {
                                  if (ec) self->EndPushed(false);
                                } else if (std::exchange(self->resume_, false) && !ec) {
                                  self->ReadMore();
                                }
                              });
    }

    void Serve() {
      auto req = std::make_shared<BeastRequest>(parser_->release());
      auto in = std::make_shared<HttpRequest>(ToRequest(*req, peer_));
      auto received = std::chrono::steady_clock::now();
      auto served = [server = server_, in, received](int status) {
        if (!server->served_) return;
        server->served_(*in, status,
                        std::chrono::duration_cast<std::chrono::microseconds>(
                            std::chrono::steady_clock::now() - received));
      };
      auto out = std::make_shared<HttpResponse>(Answer(server_->handler_, *in));
      if (out->drop_connection) {  // as a broken network would
        served(0);
        return Close();
      }
      if (out->stream && out->wake_me) return StartPushed(req, out, served);
      if (out->stream) return server_->StartStream(shared_from_this(), req, out, served);
      bool keep_alive = req->keep_alive();
      auto done = [self = shared_from_this(), served, status = out->status, keep_alive](
                      boost::system::error_code ec, size_t) {
        served(status);
        if (!ec && keep_alive) self->Read();
      };
      // HEAD: what GET would answer, its length without its bytes.
      auto text = std::make_shared<std::string>(
          ResponseText(*out, req->version(), keep_alive, req->method() == http::verb::head));
      asio::async_write(stream_, asio::buffer(*text),
                        [text, done](auto ec, size_t n) { done(ec, n); });
    }

    // A stream's thread writes to the connection, then hands it back.
    bool WriteStream(const BeastRequest& req, HttpResponse& out,
                     const std::function<void(int)>& served) {
      return fake::WriteStream(stream_, out, req, served, [this] { return server_->Stopping(); });
    }

    // A stream that says when it has more (a watch) is written from the
    // loop, with no thread of its own: its wake-ups post a Pump here (one
    // at a time), and a tick each second lets it see its deadlines.
    void StartPushed(std::shared_ptr<BeastRequest> req, std::shared_ptr<HttpResponse> out,
                     std::function<void(int)> served) {
      pushed_ = out;
      keep_alive_ = req->keep_alive();
      auto head = std::make_shared<http::response<http::empty_body>>(
          static_cast<http::status>(out->status), req->version());
      head->set(http::field::content_type, out->content_type);
      head->set(http::field::transfer_encoding, "chunked");
      head->keep_alive(keep_alive_);
      auto sr = std::make_shared<http::response_serializer<http::empty_body>>(*head);
      http::async_write_header(
          stream_, *sr,
          [self = shared_from_this(), head, sr, served, status = out->status](
              boost::system::error_code ec, size_t) {
            served(status);
            if (ec) return self->EndPushed(false);
            self->armed_ = true;
            self->pushed_->wake_me([mailbox = self->mailbox_] { Post(mailbox); });
            self->Tick();
            self->Peek();
            self->Pump();
          });
    }

    // Writes what the stream has (one write at a time), until it ends.
    void Pump() {
      // Not before the stream's head is out and its wake-ups go here (a
      // late tick or wake-up of the stream before may find the next one).
      if (!pushed_ || !armed_ || writing_) return;
      std::string chunk;
      bool more = false;
      try {
        more = !server_->Stopping() && pushed_->stream(&chunk);
      } catch (const std::exception&) {  // a bug in the stream ends it, not the server
        return EndPushed(false);
      }
      if (chunk.empty()) {
        if (!more) EndPushed(true);
        return;
      }
      writing_ = true;
      char size[24];
      int n = std::snprintf(size, sizeof size, "%zx\r\n", chunk.size());
      auto framed = std::make_shared<std::string>();
      framed->reserve(static_cast<size_t>(n) + chunk.size() + 2);
      framed->append(size, static_cast<size_t>(n)).append(chunk).append("\r\n");
      asio::async_write(
          stream_, asio::buffer(*framed),
          [self = shared_from_this(), framed, more](boost::system::error_code ec, size_t) {
            self->writing_ = false;
            if (ec) return self->EndPushed(false);
            if (!more) return self->EndPushed(true);
            self->Pump();
          });
    }

    // The stream is over: its last chunk when `last`, then the connection
    // serves again if it is kept alive.
    void EndPushed(bool last) {
      if (!pushed_) return;
      pushed_->wake_me(nullptr);
      pushed_.reset();
      armed_ = false;
      tick_.cancel();
      if (!last) return Close();
      static const std::string kLastChunk = "0\r\n\r\n";
      asio::async_write(stream_, asio::buffer(kLastChunk),
                        [self = shared_from_this()](boost::system::error_code ec, size_t) {
                          if (!ec && self->keep_alive_) return self->Read();
                          self->Close();
                        });
    }

    void Tick() {
      tick_.expires_after(std::chrono::seconds(1));
      tick_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
        if (ec || !self->armed_) return;
        self->Pump();
        if (self->armed_) self->Tick();  // the stream may have ended in Pump
      });
    }

    // No close_notify: the connection's framing says where each answer ends.
    void Close() {
      std::lock_guard<std::mutex> l(server_->mu_);  // Stop() shuts sockets under it
      server_->connections_.erase(this);
      boost::system::error_code ignored;
      beast::get_lowest_layer(stream_).close(ignored);
    }

   private:
    // Where a pushed stream's wake-ups go: posted to the connection's loop,
    // once until that post has run, and not at all once closed.
    struct Mailbox {
      std::mutex mu;
      bool open = true;
      bool posted = false;
      std::weak_ptr<Connection> to;
      std::optional<Executor> executor;
    };

    static void Post(const std::shared_ptr<Mailbox>& mailbox) {
      std::lock_guard<std::mutex> l(mailbox->mu);
      if (!mailbox->open || mailbox->posted) return;
      mailbox->posted = true;
      asio::post(*mailbox->executor, [mailbox] {
        {
          std::lock_guard<std::mutex> l(mailbox->mu);
          mailbox->posted = false;
        }
        if (auto c = mailbox->to.lock()) c->Pump();
      });
    }

    LoopServer* server_;
    ssl::stream<Socket> stream_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    std::shared_ptr<HttpResponse> pushed_;  // the stream being written, if any
    std::string peer_;
    bool keep_alive_ = false;
    bool continued_ = false;  // 100 Continue sent for the request being read
    bool armed_ = false;      // pushed_'s head is written and its wake-ups come here
    bool writing_ = false;
    bool peeking_ = false;  // a read is waiting that Peek started
    bool resume_ = false;   // and the request being read waits for it
    std::array<char, 4096> peeked_;
    Timer tick_;
    std::shared_ptr<Mailbox> mailbox_;
  };

  struct StreamThread {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };

  struct Loop {
    asio::io_context io{1};  // one thread runs it
    asio::executor_work_guard<asio::io_context::executor_type> busy{io.get_executor()};
    std::thread thread;
  };

  static std::vector<std::unique_ptr<Loop>> MakeLoops() {
    std::vector<std::unique_ptr<Loop>> loops;
    unsigned n = std::clamp(std::thread::hardware_concurrency(), 2u, 4u);
    for (unsigned i = 0; i < n; ++i) loops.push_back(std::make_unique<Loop>());
    return loops;
  }

  void Accept() {
    // Each connection on the next loop in turn, for good.
    asio::io_context& next = loops_[next_loop_++ % loops_.size()]->io;
    acceptor_.async_accept(next.get_executor(),
                           [this](boost::system::error_code ec, Socket socket) {
                             if (ec == asio::error::no_descriptors ||
                                 ec == boost::system::errc::too_many_files_open_in_system) {
                               // The connection stays queued until a descriptor is free: wait for
                               // one instead of spinning on accept().
                               retry_.expires_after(std::chrono::milliseconds(20));
                               retry_.async_wait([this](boost::system::error_code ec) {
                                 if (!ec) Accept();
                               });
                               return;
                             }
                             std::shared_ptr<Connection> c;
                             {
                               std::lock_guard<std::mutex> l(mu_);
                               if (stopped_) return;
                               if (!ec) {
                                 socket.set_option(tcp::no_delay(true), ec);
                                 c = std::make_shared<Connection>(this, std::move(socket));
                                 connections_.insert(c.get());
                               }
                             }
                             if (c) c->Start();
                             Accept();
                           });
  }

  void StartStream(std::shared_ptr<Connection> c, std::shared_ptr<BeastRequest> req,
                   std::shared_ptr<HttpResponse> out, std::function<void(int)> served) {
    std::lock_guard<std::mutex> l(mu_);
    if (stopped_) return;
    JoinEnded(streams_);
    auto done = std::make_shared<std::atomic<bool>>(false);
    streams_.push_back({std::thread([this, c, req, out, served, done]() mutable {
                          if (c->WriteStream(*req, *out, served)) {
                            asio::post(c->executor(), [c] { c->Read(); });
                          }
                          // Let go of the connection before it counts as done:
                          // the last hold closes it under mu_, which a joiner
                          // of done threads holds.
                          c.reset();
                          done->store(true);
                        }),
                        done});
  }

  bool Stopping() {
    std::lock_guard<std::mutex> l(mu_);
    return stopped_;
  }

  HttpHandler handler_;
  ServedHook served_;
  ssl::context tls_;
  std::mutex mu_;
  bool stopped_ = false;
  std::set<Connection*> connections_;  // open ones, for Stop()
  std::list<StreamThread> streams_;
  int port_ = 0;
  // Last: the connections the loops' handlers still hold go with them,
  // before what they use above.
  std::vector<std::unique_ptr<Loop>> loops_;
  size_t next_loop_ = 0;
  tcp::acceptor acceptor_;  // on the first loop
  asio::steady_timer retry_;
};

}  // namespace

Result<std::unique_ptr<HttpServer>> StartHttpServer(int port, const ServingCertificate& certificate,
                                                    HttpHandler handler, ServedHook served) {
  auto server = std::make_unique<LoopServer>(std::move(handler), std::move(served));
  RETURN_IF_ERROR(server->Start(port, certificate));
  return std::unique_ptr<HttpServer>(std::move(server));
}

Result<std::unique_ptr<HttpServer>> StartPlainHttpServer(int port, HttpHandler handler,
                                                         ServedHook served,
                                                         const std::string& address) {
  auto server = std::make_unique<BeastServer>(std::move(handler), std::move(served));
  RETURN_IF_ERROR(server->Start(address, port));
  return std::unique_ptr<HttpServer>(std::move(server));
}

}  // namespace portflow::fake
