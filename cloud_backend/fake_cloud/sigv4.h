// Checks an AWS Signature Version 4 on a request as AWS does, so that the
// fake cloud lets in only the holder of its credentials, and refuses a wrong
// signature with the error a real service gives.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <variant>

#include "core/clock.h"
#include "core/status.h"

namespace portflow::fake_cloud {

struct SignedRequest {
  std::string method;
  std::string path;                            // as sent: percent-encoded, without the query
  std::string query;                           // as sent, without the '?'
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
};

// What a valid signature says: who signed, for which region and service.
struct SignatureScope {
  std::string access_key_id;
  std::string region;
  std::string service;
};

// Why a signature was refused: the AWS error code a service answers with
// (IncompleteSignature, InvalidClientTokenId, SignatureDoesNotMatch,
// RequestTimeTooSkewed, XAmzContentSHA256Mismatch) and its message.
struct SignatureError {
  std::string code;
  std::string message;
  std::string service;  // of the credential's scope; "" when it could not be read
};

// The secret of an access key id; nullopt for a key it does not know.
using SecretOf = std::function<std::optional<std::string>(const std::string& access_key_id)>;

// Verifies the Authorization header of `request` against the secret of its
// access key: the canonical request (S3 paths encoded once, other services'
// twice, as botocore signs them), the signed headers, the payload hash from
// x-amz-content-sha256 (checked against the body; S3 also takes
// UNSIGNED-PAYLOAD),
// and X-Amz-Date within 15 minutes of `now`.
std::variant<SignatureScope, SignatureError> VerifySigV4(const SignedRequest& request,
                                                         const SecretOf& secret_of, TimePoint now);

}  // namespace portflow::fake_cloud
