// Talking to a Kubernetes API server. A Transport makes one HTTP exchange
// (libcurl over HTTP(S) here; tests may put anything behind it); ApiClient
// adds what every call needs: the credential, a fresh one after a 401, and
// retries with exponential backoff and jitter for 429 (honouring
// Retry-After), 5xx and lost connections, on calls that are safe to repeat.
// (Below that, libcurl sends a request again once by itself when a reused
// keep-alive connection turns out to be closed before any answer came.)
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/status.h"
#include "k8s_backend/client/credentials.h"
#include "k8s_backend/client/kubeconfig.h"

namespace portflow::k8s {

struct ApiRequest {
  std::string method = "GET";
  std::string path;  // "/api/v1/namespaces/ml/pods?labelSelector=a%3Db", already encoded
  std::string body;
  std::string content_type = "application/json";
  // Safe to send again whatever happened to the first try: set for creates
  // of deterministic names, whose repeat answers AlreadyExists.
  bool idempotent = false;
  std::string accept = "application/json";  // kAcceptMetadataList: metadata only
};

// The Accept of a list (or deletecollection) whose caller reads only the
// items' metadata: PartialObjectMetadataList where the server can, the full
// list where it cannot.
inline constexpr char kAcceptMetadataList[] =
    "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json";

struct ApiResponse {
  int status = 0;                              // 0: no answer (see network_error)
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
  std::string network_error;  // why there was no answer
  bool maybe_sent = true;     // false when the request surely never reached the server
};

// Ends a stream from another thread at once: the transport shuts the
// stream's socket, so a quiet watch does not wait for its next tick.
class StreamStop {
 public:
  void Stop();
  bool stopped() const;
  // For transports: a socket opened for the stream in flight, and its
  // close. A stream may have two at once (curl races an IPv6 and an IPv4
  // address, then closes the loser): Stop shuts every one still open.
  void SetSocket(int fd);
  void ClearSocket(int fd);

 private:
  mutable std::mutex mu_;
  std::vector<int> fds_;
  bool stopped_ = false;
};

// One exchange, no retries. Network failures come back as a response with
// status 0; an error Status means the request could not be made at all (a
// TLS setting that cannot be loaded, a certificate the server refused...).
class Transport {
 public:
  virtual ~Transport() = default;
  virtual Result<ApiResponse> Send(const ApiRequest& request, const Credential& credential) = 0;
  // A streaming GET (watch, log follow): the body goes to `on_data` as it
  // arrives, until the server ends it or `on_data` returns false. `on_data`
  // is also called with no data about once a second, so that a caller can
  // stop a quiet stream. The response carries the status and headers, with
  // an empty body.
  virtual Result<ApiResponse> Stream(const ApiRequest& request, const Credential& credential,
                                     const std::function<bool(std::string_view)>& on_data,
                                     StreamStop* stop = nullptr) = 0;
  // Where requests go ("https://10.0.0.1:6443"), for diagnostics; "" when
  // not over a network.
  virtual std::string server() const { return ""; }
};

// libcurl: keep-alive connections reused across calls, TLS verification on
// unless the kubeconfig turns it off, the CA and client certificate from
// files or inline PEM, tls-server-name and proxy-url honoured.
Result<std::unique_ptr<Transport>> MakeCurlTransport(const ClusterAccess& access);

struct RetryPolicy {
  int max_attempts = 5;
  Duration first_backoff = std::chrono::milliseconds(250);
  Duration max_backoff = std::chrono::seconds(10);
};

// Every request is logged at debug (core/log.h) as kubectl -v=6 shows it:
// method, URL, status and latency, then each retry with its attempt, wait
// and cause. Never a header or a body: they carry tokens and Secrets.
class ApiClient {
 public:
  ApiClient(std::unique_ptr<Transport> transport, std::shared_ptr<Credentials> credentials,
            Clock& clock, RetryPolicy policy = {});

  // The server's answer, whatever its status, once retries are done;
  // Unavailable when no answer came at all.
  Result<ApiResponse> Call(const ApiRequest& request);
  // One streaming GET (a 401 is retried once with a fresh credential;
  // watchers resume on their own).
  Result<ApiResponse> Stream(const ApiRequest& request,
                             const std::function<bool(std::string_view)>& on_data,
                             StreamStop* stop = nullptr);

  // Requests sent, retries included.
  int64_t requests() const { return requests_.load(); }

 private:
  Duration Backoff(int attempt);
  std::string Url(const ApiRequest& request) const { return server_ + request.path; }

  std::unique_ptr<Transport> transport_;
  std::string server_;  // the transport's, without any user:password@
  std::shared_ptr<Credentials> credentials_;
  Clock& clock_;
  RetryPolicy policy_;
  std::atomic<int64_t> requests_{0};
  std::mutex rng_mu_;
  std::mt19937_64 rng_;
};

// "200 OK", "429 Too Many Requests": the status with its reason phrase.
std::string HttpStatusText(int status);

// The Status for an error response, from its metav1.Status body: 404
// NotFound, 409 AlreadyExists or Aborted (a Conflict), 422 InvalidArgument,
// 410 OutOfRange, 429 and 5xx Unavailable, 401/403 FailedPrecondition. OK
// for 2xx.
Status ApiError(const ApiResponse& response);

}  // namespace portflow::k8s
