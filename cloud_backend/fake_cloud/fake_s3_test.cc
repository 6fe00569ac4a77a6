// FakeS3's answers, request by request, without sockets or signatures:
// what boto3 and the AWS CLI lean on beyond what portflow's client uses.
#include "cloud_backend/fake_cloud/fake_s3.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "cloud_backend/aws/xml.h"
#include "tests/testing/cli_runner.h"

namespace portflow::fake_cloud {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class FakeS3Test : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(Do("PUT", "/bucket").status, 200); }

  fake::HttpResponse Do(const std::string& method, const std::string& target,
                        std::map<std::string, std::string> headers = {},
                        const std::string& body = "") {
    size_t q = target.find('?');
    return s3_.Handle({method, target, std::move(headers), body}, target.substr(0, q),
                      q == std::string::npos ? "" : target.substr(q + 1));
  }
  static std::string Code(const fake::HttpResponse& r) { return aws::XmlText(r.body, "Code"); }

  FakeClock clock_;
  FakeS3 s3_{clock_, "us-east-1"};
};

TEST_F(FakeS3Test, BucketsFollowS3sRules) {
  EXPECT_EQ(Code(Do("PUT", "/ab")), "InvalidBucketName") << "too short";
  EXPECT_EQ(Code(Do("PUT", "/Upper-Case")), "InvalidBucketName");
  EXPECT_EQ(Code(Do("PUT", "/bkt")), "") << "3 characters is enough";
  EXPECT_EQ(Do("PUT", "/bkt").status, 409);
  EXPECT_EQ(Code(Do("PUT", "/other", {},
                    "<CreateBucketConfiguration><LocationConstraint>eu-west-1"
                    "</LocationConstraint></CreateBucketConfiguration>")),
            "IllegalLocationConstraintException");
  EXPECT_EQ(Do("HEAD", "/bkt").headers["x-amz-bucket-region"], "us-east-1");
  fake::HttpResponse missing = Do("HEAD", "/nope");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.body, "") << "HEAD answers with the status alone";
  ASSERT_EQ(Do("PUT", "/bkt/k", {}, "v").status, 200);
  EXPECT_EQ(Code(Do("DELETE", "/bkt")), "BucketNotEmpty");
  EXPECT_EQ(Do("DELETE", "/bkt/k").status, 204);
  EXPECT_EQ(Do("DELETE", "/bkt").status, 204);
  EXPECT_THAT(aws::XmlElements(Do("GET", "/").body, "Name"), ElementsAre("bucket"));
}

// A PUT's Content-MD5 and x-amz-checksum-* are checked against its bytes;
// the checksum comes back on a GET that asks for it.
TEST_F(FakeS3Test, DigestsAndChecksumsAreChecked) {
  // CRC32 of "hello" is 0x3610a686.
  EXPECT_EQ(Code(Do("PUT", "/bucket/k", {{"x-amz-checksum-crc32", "AAAAAA=="}}, "hello")),
            "BadDigest");
  EXPECT_EQ(Code(Do("PUT", "/bucket/k", {{"content-md5", "XUFAKrxLKna5cZ2REBfFkg=="}}, "hellO")),
            "BadDigest");
  EXPECT_EQ(Code(Do("PUT", "/bucket/k", {{"x-amz-checksum-crc64nvme", "x"}}, "hello")),
            "InvalidRequest");
  EXPECT_EQ(Do("GET", "/bucket/k").status, 404) << "nothing stored by a refused PUT";
  fake::HttpResponse put = Do("PUT", "/bucket/k",
                              {{"x-amz-checksum-crc32", "NhCmhg=="},
                               {"content-md5", "XUFAKrxLKna5cZ2REBfFkg=="},
                               {"x-amz-meta-run", "r1"}},
                              "hello");
  ASSERT_EQ(put.status, 200) << put.body;
  EXPECT_EQ(put.headers["ETag"], "\"5d41402abc4b2a76b9719d911017c592\"");
  EXPECT_EQ(Code(Do("PUT", "/bucket/c", {{"x-amz-checksum-crc32c", "mnG7TA=="}}, "hello")), "");
  fake::HttpResponse get = Do("GET", "/bucket/k", {{"x-amz-checksum-mode", "ENABLED"}});
  EXPECT_EQ(get.body, "hello");
  EXPECT_EQ(get.headers["x-amz-checksum-crc32"], "NhCmhg==");
  EXPECT_EQ(get.headers["x-amz-meta-run"], "r1");
  EXPECT_EQ(Do("GET", "/bucket/k").headers.count("x-amz-checksum-crc32"), 0u) << "not asked for";
}

TEST_F(FakeS3Test, RangesAreServedAsS3ServesThem) {
  ASSERT_EQ(Do("PUT", "/bucket/k", {}, "0123456789").status, 200);
  fake::HttpResponse r = Do("GET", "/bucket/k", {{"range", "bytes=2-4"}});
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.body, "234");
  EXPECT_EQ(r.headers["Content-Range"], "bytes 2-4/10");
  EXPECT_EQ(Do("GET", "/bucket/k", {{"range", "bytes=7-"}}).body, "789");
  EXPECT_EQ(Do("GET", "/bucket/k", {{"range", "bytes=-3"}}).body, "789");
  EXPECT_EQ(Do("GET", "/bucket/k", {{"range", "bytes=8-100"}}).body, "89");
  EXPECT_EQ(Do("GET", "/bucket/k", {{"range", "bytes=10-"}}).status, 416);
  EXPECT_EQ(Do("GET", "/bucket/k", {{"range", "lines=1-2"}}).body, "0123456789") << "ignored";
  EXPECT_EQ(Do("GET", "/bucket/k", {{"if-match", "\"nope\""}}).status, 412);
}

// Delimiters fold keys into common prefixes, pages resume after a folded
// prefix, and encoding-type=url encodes what is listed.
TEST_F(FakeS3Test, ListingFoldsPagesAndEncodes) {
  for (const char* key : {"a/1", "a/2", "b", "c/x y", "c/z", "d"})
    ASSERT_EQ(Do("PUT", std::string("/bucket/") + key, {}, "v").status, 200);
  fake::HttpResponse page = Do("GET", "/bucket?delimiter=%2F&list-type=2&max-keys=2");
  EXPECT_THAT(aws::XmlElements(page.body, "Prefix"), ElementsAre("", "a/"));
  EXPECT_THAT(aws::XmlElements(page.body, "Key"), ElementsAre("b"));
  EXPECT_EQ(aws::XmlText(page.body, "IsTruncated"), "true");
  std::string token = aws::XmlText(page.body, "NextContinuationToken");
  fake::HttpResponse next = Do("GET", "/bucket?continuation-token=" + token +
                                          "&delimiter=%2F&encoding-type=url&list-type=2");
  EXPECT_THAT(aws::XmlElements(next.body, "Key"), ElementsAre("d"));
  EXPECT_THAT(aws::XmlElements(next.body, "Prefix"), ElementsAre("", "c/"));
  EXPECT_EQ(aws::XmlText(next.body, "IsTruncated"), "false");
  // A page that ends on a common prefix resumes after all of its keys.
  fake::HttpResponse one = Do("GET", "/bucket?delimiter=%2F&list-type=2&max-keys=1");
  EXPECT_THAT(aws::XmlElements(one.body, "Prefix"), ElementsAre("", "a/"));
  fake::HttpResponse after_a =
      Do("GET", "/bucket?continuation-token=" + aws::XmlText(one.body, "NextContinuationToken") +
                    "&delimiter=%2F&list-type=2&max-keys=1");
  EXPECT_THAT(aws::XmlElements(after_a.body, "Key"), ElementsAre("b"));
  EXPECT_THAT(aws::XmlElements(after_a.body, "Prefix"), ElementsAre(""));
  fake::HttpResponse encoded = Do("GET", "/bucket?encoding-type=url&list-type=2&prefix=c%2F");
  EXPECT_THAT(aws::XmlElements(encoded.body, "Key"), ElementsAre("c/x%20y", "c/z"));
  EXPECT_EQ(aws::XmlText(encoded.body, "KeyCount"), "2");
  EXPECT_EQ(Code(Do("GET", "/bucket?continuation-token=%21&list-type=2")), "InvalidArgument");

  fake::HttpResponse deleted = Do("POST", "/bucket?delete", {},
                                  "<Delete><Object><Key>a/1</Key></Object>"
                                  "<Object><Key>nope</Key></Object></Delete>");
  EXPECT_THAT(aws::XmlElements(deleted.body, "Key"), ElementsAre("a/1", "nope"));
  EXPECT_EQ(Do("GET", "/bucket/a/1").status, 404);
}

TEST_F(FakeS3Test, MultipartUploadsCheckTheirParts) {
  std::string id = aws::XmlText(
      Do("POST", "/bucket/big?uploads", {{"content-type", "text/plain"}}).body, "UploadId");
  ASSERT_FALSE(id.empty());
  std::string five(5 << 20, 'x');
  auto part = [&](int n, const std::string& data) {
    return Do("PUT", "/bucket/big?partNumber=" + std::to_string(n) + "&uploadId=" + id, {}, data)
        .headers["ETag"];
  };
  std::string e1 = part(1, "small"), e2 = part(2, "tail");
  auto complete = [&](const std::string& parts) {
    return Do("POST", "/bucket/big?uploadId=" + id, {},
              "<CompleteMultipartUpload>" + parts + "</CompleteMultipartUpload>");
  };
  auto named = [](int n, const std::string& etag) {
    return "<Part><PartNumber>" + std::to_string(n) + "</PartNumber><ETag>" + etag +
           "</ETag></Part>";
  };
  EXPECT_EQ(Code(complete(named(1, e1) + named(2, e2))), "EntityTooSmall");
  EXPECT_EQ(Code(complete(named(2, e2) + named(1, e1))), "InvalidPartOrder");
  EXPECT_EQ(Code(complete(named(1, "\"0000\""))), "InvalidPart");
  EXPECT_EQ(Code(Do("PUT", "/bucket/big?partNumber=0&uploadId=" + id, {}, "x")), "InvalidArgument");
  e1 = part(1, five);
  fake::HttpResponse done = complete(named(1, e1) + named(2, e2));
  ASSERT_EQ(done.status, 200) << done.body;
  EXPECT_THAT(aws::XmlText(done.body, "ETag"), HasSubstr("-2\""));
  fake::HttpResponse got = Do("GET", "/bucket/big");
  EXPECT_EQ(got.body.size(), five.size() + 4);
  EXPECT_EQ(got.content_type, "text/plain");
  EXPECT_EQ(Code(complete(named(1, e1))), "NoSuchUpload") << "completed already";
  std::string aborted = aws::XmlText(Do("POST", "/bucket/gone?uploads").body, "UploadId");
  EXPECT_EQ(Do("DELETE", "/bucket/gone?uploadId=" + aborted).status, 204);
  EXPECT_EQ(Code(Do("PUT", "/bucket/gone?partNumber=1&uploadId=" + aborted, {}, "x")),
            "NoSuchUpload");
}

// With a folder, what a FakeS3 holds is there for the next one made on it:
// buckets, objects put whole or in parts with their metadata, and not what
// was deleted; a write a crash cut short is dropped, and a file it did not
// write is named.
TEST(FakeS3KeptTest, ALaterFakeS3OnTheSameFolderHasWhatTheFirstHeld) {
  portflow::testing::TempDir dir;
  FakeClock clock;
  auto Do = [](FakeS3& s3, const std::string& method, const std::string& target,
               const std::string& body = "", std::map<std::string, std::string> headers = {}) {
    size_t q = target.find('?');
    return s3.Handle({method, target, std::move(headers), body}, target.substr(0, q),
                     q == std::string::npos ? "" : target.substr(q + 1));
  };
  {
    FakeS3 first(clock, "us-east-1", dir.path() + "/s3");
    ASSERT_TRUE(first.Load().ok());
    ASSERT_EQ(Do(first, "PUT", "/keep").status, 200);
    ASSERT_EQ(Do(first, "PUT", "/gone").status, 200);
    ASSERT_EQ(Do(first, "DELETE", "/gone").status, 204);
    ASSERT_EQ(
        Do(first, "PUT", "/keep/run/a%20b/file", "bytes\nmore", {{"x-amz-meta-run", "r1"}}).status,
        200);
    ASSERT_EQ(Do(first, "PUT", "/keep/deleted", "x").status, 200);
    ASSERT_EQ(Do(first, "DELETE", "/keep/deleted").status, 204);
    std::string id = aws::XmlText(Do(first, "POST", "/keep/big?uploads").body, "UploadId");
    std::string etag =
        Do(first, "PUT", "/keep/big?partNumber=1&uploadId=" + id, "part").headers["ETag"];
    ASSERT_EQ(Do(first, "POST", "/keep/big?uploadId=" + id,
                 "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>" + etag +
                     "</ETag></Part></CompleteMultipartUpload>")
                  .status,
              200);
  }
  std::ofstream(dir.path() + "/s3/keep/cut-short.tmp") << "{\"key\":";  // a crash mid-write
  FakeS3 second(clock, "us-east-1", dir.path() + "/s3");
  ASSERT_TRUE(second.Load().ok());
  EXPECT_THAT(aws::XmlElements(Do(second, "GET", "/").body, "Name"), ElementsAre("keep"));
  fake::HttpResponse got = Do(second, "GET", "/keep/run/a%20b/file");
  EXPECT_EQ(got.body, "bytes\nmore");
  EXPECT_EQ(got.headers["x-amz-meta-run"], "r1");
  EXPECT_EQ(got.headers["ETag"], Do(second, "HEAD", "/keep/run/a%20b/file").headers["ETag"]);
  EXPECT_EQ(Do(second, "GET", "/keep/big").body, "part");
  EXPECT_EQ(Do(second, "GET", "/keep/deleted").status, 404);
  EXPECT_THAT(aws::XmlElements(Do(second, "GET", "/keep?list-type=2").body, "Key"),
              ElementsAre("big", "run/a b/file"));
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/s3/keep/cut-short.tmp"));

  std::ofstream(dir.path() + "/s3/keep/stray") << "not a JSON line";
  FakeS3 third(clock, "us-east-1", dir.path() + "/s3");
  Status loaded = third.Load();
  EXPECT_EQ(loaded.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(loaded.message(), HasSubstr(dir.path() + "/s3/keep/stray is not one it wrote"));
}

}  // namespace
}  // namespace portflow::fake_cloud
