#include "k8s_backend/fake_cluster/apiserver/http_server.h"

#include <sys/socket.h>

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <list>
#include <mutex>
#include <thread>

namespace portflow::fake {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using TlsStream = ssl::stream<tcp::socket&>;

class BeastServer : public HttpServer {
 public:
  BeastServer(HttpHandler handler, ServedHook served)
      : handler_(std::move(handler)),
        served_(std::move(served)),
        tls_(ssl::context::tls_server),
        acceptor_(io_) {}
  ~BeastServer() override { Stop(); }

  // Plain HTTP without a certificate.
  Status Listen(const std::string& address, int port, const ServingCertificate* certificate) {
    boost::system::error_code ec;
    tls_on_ = certificate != nullptr;
    // TLS 1.2 and 1.3 only, as the API server's defaults.
    if (tls_on_) {
      tls_.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                           ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                           ssl::context::no_tlsv1_1,
                       ec);
      if (!ec) tls_.use_certificate_chain(asio::buffer(certificate->cert_pem), ec);
      if (!ec) tls_.use_private_key(asio::buffer(certificate->key_pem), ssl::context::pem, ec);
      if (ec) return Internal("cannot set up TLS for the fake cluster: " + ec.message());
    }
    asio::ip::address ip = asio::ip::make_address(address, ec);
    if (ec) return InvalidArgument("\"" + address + "\" is not an IP address: " + ec.message());
    tcp::endpoint ep(ip, static_cast<unsigned short>(port));
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec)
      return Unavailable("cannot listen on " + address + ":" + std::to_string(port) + ": " +
                         ec.message());
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
      // Join the threads of connections that ended, so a long-lived server
      // does not collect them.
      for (auto it = conns_.begin(); it != conns_.end();) {
        if (it->done->load()) {
          it->thread.join();
          it = conns_.erase(it);
        } else {
          ++it;
        }
      }
      auto done = std::make_shared<std::atomic<bool>>(false);
      conns_.push_back({socket, std::thread([this, socket, done] {
                          if (tls_on_) {
                            TlsStream stream(*socket, tls_);
                            boost::system::error_code ec;
                            stream.handshake(ssl::stream_base::server, ec);
                            // No close_notify at the end: the connection's
                            // framing says where each answer ends.
                            if (!ec) Serve(stream);
                          } else {
                            Serve(*socket);
                          }
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
  void Serve(Stream& socket) {
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
      HttpRequest in;
      in.method = std::string(req.method_string());
      in.target = std::string(req.target());
      for (const auto& f : req) {
        std::string name(f.name_string());
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        // A header sent twice is one list, as HTTP reads it.
        auto [at, added] = in.headers.emplace(name, std::string(f.value()));
        if (!added) at->second += ", " + std::string(f.value());
      }
      in.body = std::move(req.body());
      auto received = std::chrono::steady_clock::now();
      auto served = [&](int status) {
        if (!served_) return;
        served_(in, status,
                std::chrono::duration_cast<std::chrono::microseconds>(
                    std::chrono::steady_clock::now() - received));
      };
      HttpResponse out;
      try {
        out = handler_(in);
      } catch (const std::exception& e) {
        // A bug in a handler answers 500 instead of ending the server.
        out = {
            500, "application/json",
            std::string(R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)") +
                R"("reason":"InternalError","code":500,"message":"internal error in the fake cluster"})",
            nullptr};
      }
      if (out.drop_connection) {  // as a broken network would
        served(0);
        return;
      }
      if (!out.stream) {
        http::response<http::string_body> res{static_cast<http::status>(out.status), req.version()};
        res.set(http::field::content_type, out.content_type);
        for (const auto& [name, value] : out.headers) res.set(name, value);
        res.keep_alive(req.keep_alive());
        res.body() = std::move(out.body);
        res.prepare_payload();
        if (req.method() == http::verb::head) {
          // What GET would answer, its length without its bytes.
          http::response<http::empty_body> head(std::move(res.base()));
          http::write(socket, head, ec);
        } else {
          http::write(socket, res, ec);
        }
        served(out.status);
        if (ec || !req.keep_alive()) return;
        continue;
      }
      // A stream: chunked, until the producer ends or the client goes.
      http::response<http::empty_body> res{static_cast<http::status>(out.status), req.version()};
      res.set(http::field::content_type, out.content_type);
      res.set(http::field::transfer_encoding, "chunked");
      res.keep_alive(req.keep_alive());
      http::response_serializer<http::empty_body> sr{res};
      http::write_header(socket, sr, ec);
      served(out.status);
      if (ec) return;
      std::string chunk;
      while (!Stopping()) {
        chunk.clear();
        bool more = out.stream(&chunk);
        if (!chunk.empty()) {
          asio::write(socket, http::make_chunk(asio::buffer(chunk)), ec);
          if (ec) return;
        }
        if (!more) break;
      }
      asio::write(socket, http::make_chunk_last(), ec);
      if (ec || !req.keep_alive()) return;
    }
  }

  bool Stopping() {
    std::lock_guard<std::mutex> l(mu_);
    return stopped_;
  }

  HttpHandler handler_;
  ServedHook served_;
  asio::io_context io_;
  ssl::context tls_;
  bool tls_on_ = true;
  tcp::acceptor acceptor_;
  int port_ = 0;
  std::thread accept_thread_;
  std::mutex mu_;
  bool stopped_ = false;
  std::list<Connection> conns_;
};

}  // namespace

Result<std::unique_ptr<HttpServer>> StartHttpServer(int port, const ServingCertificate& certificate,
                                                    HttpHandler handler, ServedHook served) {
  auto server = std::make_unique<BeastServer>(std::move(handler), std::move(served));
  RETURN_IF_ERROR(server->Listen("127.0.0.1", port, &certificate));
  return std::unique_ptr<HttpServer>(std::move(server));
}

Result<std::unique_ptr<HttpServer>> StartPlainHttpServer(int port, HttpHandler handler,
                                                         ServedHook served,
                                                         const std::string& address) {
  auto server = std::make_unique<BeastServer>(std::move(handler), std::move(served));
  RETURN_IF_ERROR(server->Listen(address, port, nullptr));
  return std::unique_ptr<HttpServer>(std::move(server));
}

}  // namespace portflow::fake
