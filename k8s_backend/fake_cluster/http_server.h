// An HTTP/1.1 server on 127.0.0.1 with keep-alive and chunked streams, for
// the fake cluster. One thread per connection: the fake serves tests and a
// handful of clients, not a fleet.
#pragma once

#include <functional>
#include <memory>

#include "core/status.h"
#include "k8s_backend/fake_cluster/http_types.h"

namespace portflow::fake {

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

class HttpServer {
 public:
  virtual ~HttpServer() = default;
  virtual int port() const = 0;
  // Closes the listener and every connection, and joins their threads.
  virtual void Stop() = 0;
};

// Listens on 127.0.0.1:`port` (0 picks a free port).
Result<std::unique_ptr<HttpServer>> StartHttpServer(int port, HttpHandler handler);

}  // namespace portflow::fake
