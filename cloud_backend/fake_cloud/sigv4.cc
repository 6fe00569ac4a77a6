#include "cloud_backend/fake_cloud/sigv4.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <sstream>
#include <vector>

#include "cloud_backend/aws/aws_client.h"
#include "core/encoding.h"

namespace portflow::fake_cloud {
namespace {

std::string Hmac(const std::string& key, const std::string& data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &n);
  return std::string(reinterpret_cast<char*>(out), n);
}

std::string CanonicalQuery(const std::string& query) {
  std::vector<std::pair<std::string, std::string>> params;
  std::stringstream in(query);
  for (std::string part; std::getline(in, part, '&');) {
    if (part.empty()) continue;
    size_t eq = part.find('=');
    std::string k = PercentDecode(part.substr(0, eq), false);
    std::string v = eq == std::string::npos ? "" : PercentDecode(part.substr(eq + 1), false);
    params.push_back({PercentEncode(k, false), PercentEncode(v, false)});
  }
  std::sort(params.begin(), params.end());
  std::string out;
  for (const auto& [k, v] : params) out += (out.empty() ? "" : "&") + k + "=" + v;
  return out;
}

// "  a   b " -> "a b", as SigV4 canonicalizes header values.
std::string Collapse(const std::string& v) {
  std::string out;
  bool space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t') {
      space = !out.empty();
    } else {
      if (space) out += ' ';
      out += c;
      space = false;
    }
  }
  return out;
}

// The value of "Key=VALUE" among the comma-separated parts of `auth`.
std::string Part(const std::string& auth, const std::string& key) {
  size_t at = auth.find(key + "=");
  if (at == std::string::npos) return "";
  at += key.size() + 1;
  size_t end = auth.find(',', at);
  std::string v = auth.substr(at, end == std::string::npos ? std::string::npos : end - at);
  while (!v.empty() && v.back() == ' ') v.pop_back();
  return v;
}

std::optional<TimePoint> ParseAmzDate(const std::string& s) {
  std::tm tm{};
  if (s.size() != 16 || s[8] != 'T' || s[15] != 'Z') return std::nullopt;
  if (std::sscanf(s.c_str(), "%4d%2d%2dT%2d%2d%2dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
    return std::nullopt;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

}  // namespace

std::variant<SignatureScope, SignatureError> VerifySigV4(const SignedRequest& request,
                                                         const SecretOf& secret_of, TimePoint now) {
  auto header = [&](const std::string& name) {
    auto it = request.headers.find(name);
    return it == request.headers.end() ? std::string() : it->second;
  };
  std::string auth = header("authorization");
  const std::string kAlgorithm = "AWS4-HMAC-SHA256";
  if (auth.rfind(kAlgorithm + " ", 0) != 0)
    return SignatureError{"MissingAuthenticationToken", "Request is missing Authentication Token",
                          ""};
  std::string credential = Part(auth, "Credential");
  std::string signed_names = Part(auth, "SignedHeaders");
  std::string signature = Part(auth, "Signature");
  std::vector<std::string> scope;  // KEY/DATE/REGION/SERVICE/aws4_request
  std::stringstream parts(credential);
  for (std::string p; std::getline(parts, p, '/');) scope.push_back(p);
  std::string amz_date = header("x-amz-date");
  if (scope.size() != 5 || scope[4] != "aws4_request" || signed_names.empty() ||
      signature.empty() || amz_date.empty()) {
    return SignatureError{"IncompleteSignature",
                          "Authorization header requires Credential, SignedHeaders, Signature "
                          "and an X-Amz-Date header",
                          scope.size() == 5 ? scope[3] : ""};
  }
  const std::string& service = scope[3];
  std::optional<std::string> secret = secret_of(scope[0]);
  if (!secret)
    return SignatureError{"InvalidClientTokenId",
                          "The security token included in the request is invalid.", service};
  auto when = ParseAmzDate(amz_date);
  if (!when || amz_date.substr(0, 8) != scope[1])
    return SignatureError{"IncompleteSignature", "X-Amz-Date is not a date of the credential",
                          service};
  if (*when > now + std::chrono::minutes(15) || *when < now - std::chrono::minutes(15))
    return SignatureError{"RequestTimeTooSkewed",
                          "The difference between the request time and the current time is too "
                          "large.",
                          service};
  std::string payload = header("x-amz-content-sha256");
  if (payload.empty()) payload = aws::Sha256Hex(request.body);
  bool unsigned_payload = payload == "UNSIGNED-PAYLOAD" && service == "s3";
  if (!unsigned_payload && payload != aws::Sha256Hex(request.body))
    return SignatureError{"XAmzContentSHA256Mismatch",
                          "The provided 'x-amz-content-sha256' header does not match what was "
                          "computed.",
                          service};
  // S3 signs the path as sent; the other services encode it once more.
  std::string path = request.path.empty() ? "/" : request.path;
  std::string canonical_path = service == "s3" ? path : PercentEncode(path, true);
  std::string canonical_headers;
  std::stringstream names(signed_names);
  for (std::string name; std::getline(names, name, ';');)
    canonical_headers += name + ":" + Collapse(header(name)) + "\n";
  std::string canonical = request.method + "\n" + canonical_path + "\n" +
                          CanonicalQuery(request.query) + "\n" + canonical_headers + "\n" +
                          signed_names + "\n" + payload;
  std::string scope_text = scope[1] + "/" + scope[2] + "/" + service + "/aws4_request";
  std::string to_sign =
      kAlgorithm + "\n" + amz_date + "\n" + scope_text + "\n" + aws::Sha256Hex(canonical);
  std::string key =
      Hmac(Hmac(Hmac(Hmac("AWS4" + *secret, scope[1]), scope[2]), service), "aws4_request");
  std::string raw = Hmac(key, to_sign);
  std::string expected = HexEncode(raw);
  if (expected.size() != signature.size() ||
      CRYPTO_memcmp(expected.data(), signature.data(), expected.size()) != 0) {
    return SignatureError{"SignatureDoesNotMatch",
                          "The request signature we calculated does not match the signature you "
                          "provided. Check your AWS Secret Access Key and signing method.",
                          service};
  }
  return SignatureScope{scope[0], scope[2], service};
}

}  // namespace portflow::fake_cloud
