// SigV4-signed calls to AWS services (libcurl's CURLOPT_AWS_SIGV4), with
// retries on throttling and server errors. One endpoint serves every service
// when `endpoint` is set (the fake cloud, moto, a private endpoint); else
// https://SERVICE.REGION.amazonaws.com.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "cloud_backend/aws/credentials.h"
#include "core/clock.h"
#include "core/status.h"

namespace portflow::aws {

struct Request {
  std::string service;  // the signing name: eks, sqs, s3
  std::string method = "GET";
  std::string path = "/";  // with its query, already encoded
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

struct Response {
  long status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // names in lower case
};

struct Retries {
  int max_attempts = 5;
  Duration first_backoff = std::chrono::milliseconds(200);
  Duration max_backoff = std::chrono::seconds(5);
};

class Client {
 public:
  Client(std::string endpoint, std::string region, Credentials credentials,
         Clock& clock = RealClock(), Retries retries = {});

  // The answer when it is 2xx. Throttling (429, or a Throttling-like error
  // code), 5xx and failures to connect are tried again with backoff, then
  // Unavailable. Otherwise the service's error becomes a Status naming its
  // code and message: FailedPrecondition for refused credentials (naming
  // where they came from, never the secret) or an action they may not do,
  // NotFound, FailedPrecondition for a conflict or an unmet precondition
  // (409, 412), InvalidArgument. Non-idempotent calls (SendMessage) may be
  // repeated by a retry after a lost answer.
  // Every call is logged at debug: method, URL, status, latency; never a
  // header or a body.
  Result<Response> Call(const Request& request);

  const std::string& region() const { return region_; }
  std::string Endpoint(const std::string& service) const;

 private:
  Result<Response> Send(const Request& request);

  std::string endpoint_;
  std::string region_;
  Credentials credentials_;
  Clock& clock_;
  Retries retries_;
};

// The error code of an AWS error answer: JSON "__type" or "code", the
// X-Amzn-ErrorType header, or XML <Code>, without a "namespace#" before or
// a ":detail" after; "" when none.
std::string ErrorCode(const Response& response);

// The SHA-256 of `data` in lower-case hex, as SigV4 hashes payloads.
std::string Sha256Hex(const std::string& data);

}  // namespace portflow::aws
