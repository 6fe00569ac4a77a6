#include "cloud_backend/fake_cloud/sigv4.h"

#include <gtest/gtest.h>

namespace portflow::fake_cloud {
namespace {

using namespace std::chrono_literals;

// Signed by botocore's SigV4Auth (boto3 1.43) on 2026-12-05 at 04:58:13Z with
// AWS's documentation keys.
const std::string kKey = "AKIDEXAMPLE";
const std::string kSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const TimePoint kSigned =
    std::chrono::sys_days{std::chrono::year{2026} / 12 / 5} + 4h + 58min + 13s;

SignedRequest EksGet() {
  return {
      "GET",
      "/clusters/burst/node-groups",
      "nextToken=a%2Bb&maxResults=10",
      {{"host", "127.0.0.1:4566"},
       {"x-amz-date", "20261205T045813Z"},
       {"x-amz-content-sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
       {"authorization",
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261205/us-east-1/eks/aws4_request, "
        "SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
        "Signature=cf704bb359918abbfe11613c5c5764316512c30751e3bdc8f49f4d384f385a15"}},
      ""};
}

SignedRequest SqsPost() {
  return {
      "POST",
      "/",
      "",
      {{"host", "127.0.0.1:4566"},
       {"content-type", "application/x-amz-json-1.0"},
       {"x-amz-target", "AmazonSQS.GetQueueUrl"},
       {"x-amz-date", "20261205T045813Z"},
       {"x-amz-content-sha256", "12ec763fb18c09f311e40ae56af6f43bec87b70be56a04df779b094525c2f294"},
       {"authorization",
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261205/us-east-1/sqs/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-target, "
        "Signature=bb59aecd970ca648bf619384e22235eec38422ec0794f1e9b057e57ba20cc8ef"}},
      R"({"QueueName":"q"})"};
}

std::optional<std::string> Secrets(const std::string& key) {
  if (key == kKey) return kSecret;
  return std::nullopt;
}

std::string Refusal(const SignedRequest& r, const SecretOf& secrets = Secrets,
                    TimePoint now = kSigned) {
  auto v = VerifySigV4(r, secrets, now);
  return std::holds_alternative<SignatureError>(v) ? std::get<SignatureError>(v).code : "";
}

TEST(SigV4Test, BotocoresSignaturesVerify) {
  auto get = VerifySigV4(EksGet(), Secrets, kSigned);
  ASSERT_TRUE(std::holds_alternative<SignatureScope>(get)) << std::get<SignatureError>(get).code;
  EXPECT_EQ(std::get<SignatureScope>(get).access_key_id, kKey);
  EXPECT_EQ(std::get<SignatureScope>(get).region, "us-east-1");
  EXPECT_EQ(std::get<SignatureScope>(get).service, "eks");
  EXPECT_EQ(Refusal(SqsPost()), "");
  SignedRequest reordered = EksGet();
  reordered.query = "maxResults=10&nextToken=a%2Bb";  // the canonical query is sorted
  EXPECT_EQ(Refusal(reordered), "");
  EXPECT_EQ(Refusal(EksGet(), Secrets, kSigned + 14min), "") << "within 15 minutes";
}

TEST(SigV4Test, EveryChangeIsRefusedWithTheServicesCode) {
  SignedRequest body = SqsPost();
  body.body = R"({"QueueName":"other"})";
  EXPECT_EQ(Refusal(body), "XAmzContentSHA256Mismatch");
  SignedRequest target = SqsPost();
  target.headers["x-amz-target"] = "AmazonSQS.DeleteQueue";
  EXPECT_EQ(Refusal(target), "SignatureDoesNotMatch");
  SignedRequest query = EksGet();
  query.query = "nextToken=a%2Bc&maxResults=10";
  EXPECT_EQ(Refusal(query), "SignatureDoesNotMatch");
  SignedRequest path = EksGet();
  path.path = "/clusters/other/node-groups";
  EXPECT_EQ(Refusal(path), "SignatureDoesNotMatch");
  EXPECT_EQ(Refusal(EksGet(), [](const std::string&) { return std::string("wrong"); }),
            "SignatureDoesNotMatch");
  EXPECT_EQ(Refusal(EksGet(), [](const std::string&) { return std::nullopt; }),
            "InvalidClientTokenId");
  EXPECT_EQ(Refusal(EksGet(), Secrets, kSigned + 16min), "RequestTimeTooSkewed");
  SignedRequest unsigned_request = EksGet();
  unsigned_request.headers.erase("authorization");
  EXPECT_EQ(Refusal(unsigned_request), "MissingAuthenticationToken");
  SignedRequest half = EksGet();
  half.headers["authorization"] = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261205/us-east-1";
  EXPECT_EQ(Refusal(half), "IncompleteSignature");
}

// S3 lets a client leave its payload unsigned (botocore does over HTTPS);
// the other services hash it. Signed by botocore's SigV4Auth at 09:22:41Z.
TEST(SigV4Test, OnlyS3TakesAnUnsignedPayload) {
  const TimePoint signed_at =
      std::chrono::sys_days{std::chrono::year{2026} / 12 / 5} + 9h + 22min + 41s;
  auto request = [](const std::string& method, const std::string& path, const std::string& service,
                    const std::string& signature, const std::string& body) {
    return SignedRequest{method,
                         path,
                         "",
                         {{"host", "127.0.0.1:4566"},
                          {"x-amz-date", "20261205T092241Z"},
                          {"x-amz-content-sha256", "UNSIGNED-PAYLOAD"},
                          {"authorization",
                           "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261205/"
                           "us-east-1/" +
                               service +
                               "/aws4_request, "
                               "SignedHeaders=host;x-amz-content-sha256;x-amz-"
                               "date, Signature=" +
                               signature}},
                         body};
  };
  SignedRequest put =
      request("PUT", "/bucket/ab.txt", "s3",
              "14ca93bf5a9bcddfaa6a25922d5b60c6321c09b3b1da8b5ab4a57ccc68f1ff64", "hello");
  EXPECT_EQ(Refusal(put, Secrets, signed_at), "");
  put.body = "any body at all";
  EXPECT_EQ(Refusal(put, Secrets, signed_at), "") << "the payload is not signed";
  SignedRequest eks =
      request("GET", "/clusters", "eks",
              "3e8cfe5362975ef8c5137aa32b8cfea25233d19acc5f0a5d5d445eba0365c85d", "");
  EXPECT_EQ(Refusal(eks, Secrets, signed_at), "XAmzContentSHA256Mismatch");
  auto refused = VerifySigV4(eks, Secrets, signed_at);
  EXPECT_EQ(std::get<SignatureError>(refused).service, "eks") << "read from the credential";
}

}  // namespace
}  // namespace portflow::fake_cloud
