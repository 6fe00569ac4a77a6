// Plain request/response values between the HTTP server (the only code that
// sees Boost.Beast) and the API handler (testable without sockets).
#pragma once

#include <functional>
#include <map>
#include <string>

namespace portflow::fake {

struct HttpRequest {
  std::string method;                          // GET, POST, PUT, PATCH, DELETE
  std::string target;                          // path and query, as sent
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string peer;  // the client's address and port ("127.0.0.1:51234"): one a connection
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  // For streams (watch, log follow): called until it returns false; each
  // call may put one chunk in *chunk (empty means "nothing yet").
  std::function<bool(std::string* chunk)> stream;
  // Extra response headers (Retry-After). The server writes Content-Type,
  // Content-Length, Connection and Transfer-Encoding itself: those names
  // here (in any case) are not written.
  std::map<std::string, std::string> headers;
  bool drop_connection = false;  // close the socket without answering (fault injection)
  // Optional, for a stream that can say when it has more (a watch). A server
  // that does not want to wait in `stream` calls wake_me(fn) before it
  // first calls `stream`: from then on `stream` never waits, and fn runs
  // (on any thread, briefly) when there may be more; the server also calls
  // `stream` now and then for the stream's deadlines. wake_me(nullptr)
  // before the stream is dropped: fn never runs after that returns.
  std::function<void(std::function<void()> fn)> wake_me;
};

}  // namespace portflow::fake
