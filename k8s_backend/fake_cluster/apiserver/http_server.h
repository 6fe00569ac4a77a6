// An HTTPS (HTTP/1.1 over TLS 1.2 or 1.3) server on 127.0.0.1 with
// keep-alive and chunked streams, for the fake cluster: a few event loops
// (a thread each) serve every connection, and each stream (a watch, a log
// followed) gets a thread while it lasts, since its producer waits. The
// plain HTTP server keeps a thread per connection: its handlers may block
// (the fake cloud's SQS long poll).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "core/status.h"
#include "k8s_backend/fake_cluster/apiserver/certificates.h"
#include "k8s_backend/fake_cluster/apiserver/http_types.h"

namespace portflow::fake {

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;
// Told of each request once its answer is sent (a stream: once its headers
// are), with the time since the request was read; status 0 when the
// connection was dropped instead. Called on the thread that served it, so
// concurrently: an access log, for instance.
using ServedHook =
    std::function<void(const HttpRequest& request, int status, std::chrono::microseconds latency)>;

class HttpServer {
 public:
  virtual ~HttpServer() = default;
  virtual int port() const = 0;
  // Closes the listener and every connection, and joins their threads.
  virtual void Stop() = 0;
};

// Listens on 127.0.0.1:`port` (0 picks a free port), with `certificate`.
Result<std::unique_ptr<HttpServer>> StartHttpServer(int port, const ServingCertificate& certificate,
                                                    HttpHandler handler,
                                                    ServedHook served = nullptr);
// The same in plain HTTP, for a protocol that authenticates each request
// itself (the fake cloud's SigV4) or a read-only page (`portflow ui`), on
// `address` (InvalidArgument when it is not an IP address).
Result<std::unique_ptr<HttpServer>> StartPlainHttpServer(int port, HttpHandler handler,
                                                         ServedHook served = nullptr,
                                                         const std::string& address = "127.0.0.1");

}  // namespace portflow::fake
