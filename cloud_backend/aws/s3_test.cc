// portflow's S3 client, the same cases against two servers: moto's S3 (an
// independent implementation that verifies SigV4, tests/testing/
// moto_fixture.py) and the fake cloud's. What one accepts and the other
// refuses shows up as a case that passes on one only.
#include "cloud_backend/aws/s3.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "cloud_backend/fake_cloud/fake_cloud.h"
#include "tests/testing/s3_servers.h"

namespace portflow::aws {
namespace {

using ::testing::ElementsAre;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::Not;
using json = nlohmann::json;

class S3Test : public testing::S3ServerTest {
 protected:
  void SetUp() override {
    S3ServerTest::SetUp();
    if (HasFatalFailure()) return;
    // A bucket of each test's own: the servers live for the whole suite.
    bucket_ =
        "portflow-" +
        std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()).substr(0, 20);
    for (char& c : bucket_) c = std::isalnum(static_cast<unsigned char>(c)) ? std::tolower(c) : '-';
    while (bucket_.back() == '-') bucket_.pop_back();
    ASSERT_TRUE(s3_->CreateBucket(bucket_).ok());
  }

  std::string bucket_;
};

// moto 5.2 refuses what boto3 signs, as portflow's client does, for keys
// with '+', '=' or UTF-8 in them and for a query value with '/' in it (its
// own canonical request differs), and stores a body whose Content-MD5 does
// not match: those cases run on the fake cloud alone.
bool Moto() { return ::testing::TestWithParam<std::string>::GetParam() == "moto"; }

// Keys as artifacts name them: folders, spaces, '+', '=', UTF-8.
TEST_P(S3Test, ObjectsGoInAndComeBack) {
  EXPECT_TRUE(s3_->CreateBucket(bucket_).ok()) << "already ours is fine";
  const std::string key = Moto() ? "run 1/train/output.bin" : "run 1/train/out+put=é.bin";
  const std::string data = std::string("bytes\0with a zero", 17);
  ASSERT_TRUE(s3_->Put(bucket_, key, data).ok());
  ASSERT_TRUE(s3_->Put(bucket_, "run 1/eval.json", "{}").ok());
  ASSERT_TRUE(s3_->Put(bucket_, "run 2/x", "").ok());
  auto got = s3_->Get(bucket_, key);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, data);
  auto head = s3_->Head(bucket_, key);
  ASSERT_TRUE(head.ok()) << head.status().ToString();
  EXPECT_EQ(head->size, 17);
  EXPECT_EQ(head->etag, "4fc976a662d9a80e5b5ec2049fd941dc") << "the MD5 of the bytes";
  auto listed = s3_->List(bucket_, Moto() ? "run 1" : "run 1/");
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0].key, "run 1/eval.json");
  EXPECT_EQ((*listed)[1].key, key);
  EXPECT_EQ((*listed)[1].size, 17);
  EXPECT_EQ((*listed)[1].etag, head->etag);

  ASSERT_TRUE(s3_->Delete(bucket_, key).ok());
  EXPECT_TRUE(s3_->Delete(bucket_, key).ok()) << "gone already is fine";
  EXPECT_EQ(s3_->Get(bucket_, key).status().code(), StatusCode::kNotFound);
  EXPECT_THAT(s3_->Get(bucket_, key).status().message(), HasSubstr("NoSuchKey"));
  EXPECT_EQ(s3_->Head(bucket_, key).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(s3_->Get("portflow-no-such-bucket", "k").status().code(), StatusCode::kNotFound);
}

TEST_P(S3Test, ListingFollowsItsPages) {
  for (const char* key : {"p/a", "p/b", "p/c/d", "p/e", "p/f", "q/g"})
    ASSERT_TRUE(s3_->Put(bucket_, key, key).ok());
  auto listed = s3_->List(bucket_, Moto() ? "p" : "p/", 2);
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  std::vector<std::string> keys;
  for (const S3Object& o : *listed) keys.push_back(o.key);
  EXPECT_THAT(keys, ElementsAre("p/a", "p/b", "p/c/d", "p/e", "p/f"));
  EXPECT_TRUE(s3_->List(bucket_, "none")->empty());
}

// 11 MiB in 5 MiB parts goes up as three parts (S3's ETag for a multipart
// object ends "-3") and comes back whole, in 4 MiB ranges.
TEST_P(S3Test, AFileGoesUpInPartsAndComesBackInRanges) {
  testing::TempDir dir;
  std::string big(11 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 131 + i / 977) & 0xff);
  testing::WriteFile(dir.path() + "/model.bin", big);
  ASSERT_TRUE(s3_->Upload(bucket_, "model.bin", dir.path() + "/model.bin", S3::kMinPartSize).ok());
  auto head = s3_->Head(bucket_, "model.bin");
  ASSERT_TRUE(head.ok()) << head.status().ToString();
  EXPECT_EQ(head->size, static_cast<int64_t>(big.size()));
  EXPECT_THAT(head->etag, EndsWith("-3"));
  ASSERT_TRUE(s3_->Download(bucket_, "model.bin", dir.path() + "/back.bin", 4 << 20).ok())
      << s3_->Download(bucket_, "model.bin", dir.path() + "/back.bin", 4 << 20).ToString();
  EXPECT_TRUE(testing::ReadFile(dir.path() + "/back.bin") == big) << "the bytes differ";
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/back.bin.partial"));

  // A small file is one PutObject.
  testing::WriteFile(dir.path() + "/small.txt", "small");
  ASSERT_TRUE(s3_->Upload(bucket_, "small.txt", dir.path() + "/small.txt").ok());
  EXPECT_EQ(*s3_->Get(bucket_, "small.txt"), "small");
  EXPECT_THAT(s3_->Head(bucket_, "small.txt")->etag, Not(HasSubstr("-")));

  EXPECT_EQ(s3_->Download(bucket_, "nope", dir.path() + "/nope").code(), StatusCode::kNotFound);
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/nope"));
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/nope.partial"));
  EXPECT_EQ(s3_->Upload(bucket_, "x", dir.path() + "/missing").code(),
            StatusCode::kInvalidArgument);
}

// What S3 checks: a body that does not match its Content-MD5, a read of an
// object that is no longer the one named (If-Match), a wrong secret.
TEST_P(S3Test, DamagedBodiesChangedObjectsAndWrongSecretsAreRefused) {
  if (!Moto()) {
    auto damaged = client_->Call({"s3",
                                  "PUT",
                                  "/" + bucket_ + "/k",
                                  {{"Content-MD5", "1B2M2Y8AsgTpgAmY7PhCfg=="}},  // the MD5 of ""
                                  "not empty"});
    EXPECT_EQ(damaged.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(damaged.status().message(), HasSubstr("BadDigest"));
    EXPECT_EQ(s3_->Get(bucket_, "k").status().code(), StatusCode::kNotFound) << "nothing stored";
  }

  ASSERT_TRUE(s3_->Put(bucket_, "k", "v1").ok());
  auto stale = client_->Call({"s3", "GET", "/" + bucket_ + "/k", {{"If-Match", "\"0123\""}}, ""});
  EXPECT_EQ(stale.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(stale.status().message(), HasSubstr("412"));

  Client wrong(server_.endpoint, "us-east-1",
               {server_.key, "not-the-secret-4711", "", "the test's keys"});
  auto refused = S3(wrong).Get(bucket_, "k");
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(), HasSubstr("SignatureDoesNotMatch"));
  EXPECT_THAT(refused.status().message(), HasSubstr("the test's keys"));
  EXPECT_THAT(refused.status().message(), Not(HasSubstr("4711")));
}

INSTANTIATE_TEST_SUITE_P(Servers, S3Test, ::testing::Values("moto", "fake"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace portflow::aws
