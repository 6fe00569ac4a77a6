#include "k8s_backend/client/api_client.h"

#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "core/json_parse.h"
#include "core/log.h"
#include "core/quantity.h"

namespace portflow::k8s {
namespace {

bool Idempotent(const std::string& method) {
  return method == "GET" || method == "HEAD" || method == "PUT" || method == "DELETE" ||
         method == "OPTIONS";
}

// Retry-After in seconds (the API server sends seconds, never a date).
std::optional<Duration> RetryAfter(const ApiResponse& r) {
  auto it = r.headers.find("retry-after");
  if (it == r.headers.end()) return std::nullopt;
  char* end = nullptr;
  long seconds = std::strtol(it->second.c_str(), &end, 10);
  if (end == it->second.c_str() || seconds < 0) return std::nullopt;
  return std::chrono::seconds(std::min(seconds, 600L));
}

// A URL's user:password@, if it has one, is left out of the logs.
std::string WithoutUserInfo(std::string url) {
  size_t scheme = url.find("://");
  size_t start = scheme == std::string::npos ? 0 : scheme + 3;
  size_t at = url.find('@', start);
  if (at != std::string::npos && at < url.find('/', start)) url.erase(start, at + 1 - start);
  return url;
}

std::string Outcome(const ApiResponse& r) {
  return r.status == 0 ? "no answer: " + r.network_error : HttpStatusText(r.status);
}

std::string Outcome(const Result<ApiResponse>& r) {
  return r.ok() ? Outcome(*r) : "failed: " + r.status().message();
}

}  // namespace

ApiClient::ApiClient(std::unique_ptr<Transport> transport, std::shared_ptr<Credentials> credentials,
                     Clock& clock, RetryPolicy policy)
    : transport_(std::move(transport)),
      server_(WithoutUserInfo(transport_->server())),
      credentials_(std::move(credentials)),
      clock_(clock),
      policy_(policy),
      rng_(std::random_device{}()) {}

Duration ApiClient::Backoff(int attempt) {
  // Exponential, capped, with "equal jitter": half fixed, half random, so
  // that clients failing together do not retry together.
  Duration d = policy_.first_backoff * (int64_t{1} << std::min(attempt, 20));
  d = std::min(d, policy_.max_backoff);
  std::lock_guard<std::mutex> l(rng_mu_);
  auto half = d.count() / 2;
  return Duration(half +
                  (half > 0 ? static_cast<int64_t>(rng_() % static_cast<uint64_t>(half)) : 0));
}

Result<ApiResponse> ApiClient::Call(const ApiRequest& request) {
  bool refreshed = false;
  ApiResponse last;
  for (int attempt = 0; attempt < policy_.max_attempts; ++attempt) {
    ASSIGN_OR_RETURN(Credential credential, credentials_->Current());
    auto started = std::chrono::steady_clock::now();  // real time: the network's latency
    Result<ApiResponse> sent = transport_->Send(request, credential);
    PORTFLOW_LOG(LogLevel::kDebug, "api",
                 request.method + " " + Url(request) + " " + Outcome(sent) + " in " +
                     FormatMillis(std::chrono::steady_clock::now() - started));
    if (!sent.ok()) return sent.status();
    last = std::move(*sent);
    ++requests_;
    if (last.status == 401 && !refreshed) {
      // An expired token: a fresh one (exec plugins run again), once.
      PORTFLOW_LOG(LogLevel::kDebug, "api",
                   "retrying " + request.method + " " + Url(request) +
                       " with a fresh credential: the server answered 401 Unauthorized");
      credentials_->Invalidate();
      refreshed = true;
      --attempt;
      continue;
    }
    bool safe = request.idempotent || Idempotent(request.method);
    bool retry = false;
    if (last.status == 0) {
      retry = safe || !last.maybe_sent;  // a POST that may have landed is not repeated
    } else if (last.status == 429) {
      retry = true;  // throttled: not processed
    } else if (last.status >= 500 && last.status != 501) {
      retry = safe || RetryAfter(last).has_value();
    }
    if (!retry) break;
    if (attempt + 1 == policy_.max_attempts) {
      PORTFLOW_LOG(LogLevel::kDebug, "api",
                   "giving up on " + request.method + " " + Url(request) + " after " +
                       std::to_string(policy_.max_attempts) + " attempts");
      break;
    }
    Duration wait = Backoff(attempt);
    auto after = RetryAfter(last);
    if (after) wait = std::max(wait, *after);
    PORTFLOW_LOG(LogLevel::kDebug, "api",
                 "retrying " + request.method + " " + Url(request) + " (attempt " +
                     std::to_string(attempt + 2) + " of " + std::to_string(policy_.max_attempts) +
                     ") in " + FormatMillis(wait) + ": " + Outcome(last) +
                     (after ? ", Retry-After " + FormatMillis(*after) : ""));
    SleepFor(clock_, wait);
  }
  if (last.status == 0) {
    return Unavailable("no answer from the API server: " + last.network_error);
  }
  return last;
}

void StreamStop::Stop() {
  std::lock_guard<std::mutex> l(mu_);
  stopped_ = true;
  for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);  // the transfer ends at once
}

void StreamStop::ClearSocket(int fd) {
  std::lock_guard<std::mutex> l(mu_);
  std::erase(fds_, fd);
}

bool StreamStop::stopped() const {
  std::lock_guard<std::mutex> l(mu_);
  return stopped_;
}

void StreamStop::SetSocket(int fd) {
  std::lock_guard<std::mutex> l(mu_);
  if (std::find(fds_.begin(), fds_.end(), fd) == fds_.end()) fds_.push_back(fd);
  if (stopped_) ::shutdown(fd, SHUT_RDWR);
}

Result<ApiResponse> ApiClient::Stream(const ApiRequest& request,
                                      const std::function<bool(std::string_view)>& on_data,
                                      StreamStop* stop) {
  for (int tries = 0;; ++tries) {
    ASSIGN_OR_RETURN(Credential credential, credentials_->Current());
    PORTFLOW_LOG(LogLevel::kTrace, "api", request.method + " " + Url(request) + ": streaming");
    auto started = std::chrono::steady_clock::now();
    Result<ApiResponse> r = transport_->Stream(request, credential, on_data, stop);
    PORTFLOW_LOG(LogLevel::kDebug, "api",
                 request.method + " " + Url(request) + " " + Outcome(r) + ", stream ended after " +
                     FormatMillis(std::chrono::steady_clock::now() - started));
    if (!r.ok()) return r.status();
    ++requests_;
    if (r->status == 401 && tries == 0) {
      PORTFLOW_LOG(LogLevel::kDebug, "api",
                   "retrying " + request.method + " " + Url(request) +
                       " with a fresh credential: the server answered 401 Unauthorized");
      credentials_->Invalidate();
      continue;
    }
    if (r->status == 0) return Unavailable("no answer from the API server: " + r->network_error);
    return *r;
  }
}

std::string HttpStatusText(int status) {
  static const std::map<int, std::string_view> kReasons = {
      {200, "OK"},
      {201, "Created"},
      {202, "Accepted"},
      {204, "No Content"},
      {400, "Bad Request"},
      {401, "Unauthorized"},
      {403, "Forbidden"},
      {404, "Not Found"},
      {405, "Method Not Allowed"},
      {406, "Not Acceptable"},
      {409, "Conflict"},
      {410, "Gone"},
      {415, "Unsupported Media Type"},
      {422, "Unprocessable Entity"},
      {429, "Too Many Requests"},
      {500, "Internal Server Error"},
      {501, "Not Implemented"},
      {502, "Bad Gateway"},
      {503, "Service Unavailable"},
      {504, "Gateway Timeout"},
  };
  auto it = kReasons.find(status);
  return std::to_string(status) + (it == kReasons.end() ? "" : " " + std::string(it->second));
}

Status ApiError(const ApiResponse& r) {
  if (r.status >= 200 && r.status < 300) return OkStatus();
  nlohmann::json body = ParseJson(r.body);
  std::string message, reason;
  if (body.is_object()) {
    if (body.contains("message") && body["message"].is_string()) message = body["message"];
    if (body.contains("reason") && body["reason"].is_string()) reason = body["reason"];
  }
  if (message.empty()) {
    message = "the API server answered " + std::to_string(r.status);
    if (!r.body.empty() && r.body.size() < 200 && !body.is_object()) message += ": " + r.body;
  }
  switch (r.status) {
    case 404:
      return NotFound(message);
    case 409:
      if (reason == "AlreadyExists") return {StatusCode::kAlreadyExists, message};
      return Aborted(message);
    case 400:
    case 422:
      return InvalidArgument(message);
    case 410:
      return OutOfRange(message);
    case 401:
    case 403:
      return FailedPrecondition(message);
    case 429:
      return Unavailable(message);
    default:
      if (r.status >= 500) return Unavailable(message);
      return Internal(message);
  }
}

}  // namespace portflow::k8s
