// The only file of the AWS client that includes libcurl.
#include "cloud_backend/aws/aws_client.h"

#include <curl/curl.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>

#include "cloud_backend/aws/xml.h"
#include "core/encoding.h"
#include "core/json_parse.h"
#include "core/log.h"
#include "core/quantity.h"

namespace portflow::aws {
namespace {

using json = nlohmann::json;

constexpr long kConnectTimeoutSeconds = 10;
constexpr long kCallTimeoutSeconds = 60;  // an SQS long poll waits at most 20 s

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  static_cast<Response*>(user)->body.append(data, size * count);
  return size * count;
}

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  std::string line(data, size * count);
  size_t colon = line.find(':');
  if (colon != std::string::npos) {
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n')) value.pop_back();
    static_cast<Response*>(user)->headers[Lower(line.substr(0, colon))] = value;
  }
  return size * count;
}

std::string ErrorMessage(const Response& r) {
  json body = ParseJson(r.body);
  if (body.is_object()) {
    for (const char* key : {"message", "Message"}) {
      if (body.contains(key) && body[key].is_string()) return body[key];
    }
  }
  return XmlText(r.body, "Message");
}

bool Throttled(const Response& r, const std::string& code) {
  static const char* kCodes[] = {"Throttling",
                                 "ThrottlingException",
                                 "ThrottledException",
                                 "RequestThrottledException",
                                 "TooManyRequestsException",
                                 "RequestLimitExceeded",
                                 "RequestThrottled",
                                 "SlowDown",
                                 "ProvisionedThroughputExceededException"};
  return r.status == 429 || r.status >= 500 ||
         std::find(std::begin(kCodes), std::end(kCodes), code) != std::end(kCodes);
}

bool RefusedCredentials(const Response& r, const std::string& code) {
  static const char* kCodes[] = {
      "SignatureDoesNotMatch",     "InvalidClientTokenId", "UnrecognizedClientException",
      "InvalidSignatureException", "InvalidAccessKeyId",   "ExpiredToken",
      "ExpiredTokenException",     "IncompleteSignature",  "MissingAuthenticationToken"};
  return r.status == 401 || r.status == 403 ||
         std::find(std::begin(kCodes), std::end(kCodes), code) != std::end(kCodes);
}

struct HeaderList {
  curl_slist* list = nullptr;
  ~HeaderList() { curl_slist_free_all(list); }
  void Add(const std::string& h) { list = curl_slist_append(list, h.c_str()); }
};

}  // namespace

std::string Sha256Hex(const std::string& data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  return HexEncode(std::string_view(reinterpret_cast<const char*>(digest), sizeof digest));
}

std::string ErrorCode(const Response& r) {
  // "com.amazonaws.sqs#QueueDoesNotExist" or "ResourceNotFoundException:http://..."
  auto bare = [](std::string code) {
    code = code.substr(code.find('#') + 1);
    return code.substr(0, code.find(':'));
  };
  json body = ParseJson(r.body);
  for (const char* key : {"__type", "code"}) {
    if (body.is_object() && body.contains(key) && body[key].is_string()) return bare(body[key]);
  }
  if (auto it = r.headers.find("x-amzn-errortype"); it != r.headers.end()) return bare(it->second);
  return XmlText(r.body, "Code");
}

Client::Client(std::string endpoint, std::string region, Credentials credentials, Clock& clock,
               Retries retries)
    : endpoint_(std::move(endpoint)),
      region_(std::move(region)),
      credentials_(std::move(credentials)),
      clock_(clock),
      retries_(retries) {
  while (!endpoint_.empty() && endpoint_.back() == '/') endpoint_.pop_back();
}

std::string Client::Endpoint(const std::string& service) const {
  return endpoint_.empty() ? "https://" + service + "." + region_ + ".amazonaws.com" : endpoint_;
}

Result<Response> Client::Call(const Request& request) {
  Duration backoff = retries_.first_backoff;
  std::string what = request.method + " " + Endpoint(request.service) + request.path;
  for (int attempt = 1;; ++attempt) {
    Result<Response> r = Send(request);
    if (r.ok() && r->status < 300) return r;
    std::string code = r.ok() ? ErrorCode(*r) : "";
    bool again = r.ok() ? Throttled(*r, code) : r.status().code() == StatusCode::kUnavailable;
    if (again && attempt < retries_.max_attempts) {
      PORTFLOW_LOG(LogLevel::kDebug, "aws",
                   what + ": try " + std::to_string(attempt) + " failed (" +
                       (r.ok() ? std::to_string(r->status) + " " + code : r.status().message()) +
                       "); again in " + FormatDuration(backoff));
      SleepFor(clock_, backoff);
      backoff = std::min(backoff * 2, retries_.max_backoff);
      continue;
    }
    if (!r.ok()) return r.status();
    std::string why = what + ": " + std::to_string(r->status) + (code.empty() ? "" : " " + code) +
                      ": " + ErrorMessage(*r);
    if (again) return Unavailable(why + " (after " + std::to_string(attempt) + " tries)");
    if (code == "AccessDenied" || code == "AccessDeniedException")
      return FailedPrecondition("the credentials from " + credentials_.source +
                                " may not do this: " + why);
    if (RefusedCredentials(*r, code))
      return FailedPrecondition("AWS refused the credentials from " + credentials_.source + ": " +
                                why);
    bool missing = r->status == 404 || code == "ResourceNotFoundException" ||
                   code == "QueueDoesNotExist" || code.rfind("NoSuch", 0) == 0 ||
                   code.ends_with(".NotFound");  // EC2: InvalidSubnetID.NotFound
    if (missing) return NotFound(why);
    if (r->status == 409 || r->status == 412) return FailedPrecondition(why);
    if (r->status == 400) return InvalidArgument(why);
    return Internal(why);
  }
}

Result<Response> Client::Send(const Request& request) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  std::unique_ptr<CURL, void (*)(CURL*)> handle(curl_easy_init(), curl_easy_cleanup);
  if (!handle) return Internal("curl_easy_init failed");
  CURL* h = handle.get();
  std::string url = Endpoint(request.service) + request.path;
  std::string scope = "aws:amz:" + region_ + ":" + request.service;
  HeaderList headers;
  bool typed = false;
  for (const auto& [name, value] : request.headers) {
    headers.Add(name + ": " + value);
    typed = typed || Lower(name) == "content-type";
  }
  // libcurl signs the payload's hash only when given it; moto and S3 need it.
  headers.Add("x-amz-content-sha256: " + Sha256Hex(request.body));
  if (!credentials_.session_token.empty())
    headers.Add("x-amz-security-token: " + credentials_.session_token);
  if (!typed && !request.body.empty()) headers.Add("Content-Type: application/octet-stream");
  // No "Expect:" to turn 100-continue off: libcurl 7.88 would sign that
  // header and not send it, and every signature would fail.
  Response response;
  char error[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_AWS_SIGV4, scope.c_str());
  curl_easy_setopt(h, CURLOPT_USERNAME, credentials_.access_key_id.c_str());
  curl_easy_setopt(h, CURLOPT_PASSWORD, credentials_.secret_access_key.c_str());
  if (request.method == "HEAD") {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else if (request.method == "POST" || request.method == "PUT" || !request.body.empty()) {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
  }
  curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.list);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &response);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &response);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, kConnectTimeoutSeconds);
  curl_easy_setopt(h, CURLOPT_TIMEOUT, kCallTimeoutSeconds);
  TimePoint start = clock_.Now();
  CURLcode rc = curl_easy_perform(h);
  if (rc != CURLE_OK) {
    std::string why = error[0] ? error : curl_easy_strerror(rc);
    switch (rc) {
      case CURLE_COULDNT_RESOLVE_HOST:
      case CURLE_COULDNT_CONNECT:
      case CURLE_OPERATION_TIMEDOUT:
      case CURLE_SEND_ERROR:
      case CURLE_RECV_ERROR:
      case CURLE_GOT_NOTHING:
      case CURLE_PARTIAL_FILE:
        return Unavailable("no answer from " + url + ": " + why);
      default:  // TLS verification, a bad URL: trying again would not help
        return FailedPrecondition("cannot call " + url + ": " + why);
    }
  }
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &response.status);
  PORTFLOW_LOG(LogLevel::kDebug, "aws",
               request.method + " " + url + " " + std::to_string(response.status) + " in " +
                   FormatDuration(clock_.Now() - start));
  return response;
}

}  // namespace portflow::aws
