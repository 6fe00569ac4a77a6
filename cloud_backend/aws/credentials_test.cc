#include "cloud_backend/aws/credentials.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace portflow::aws {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class CredentialsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "aws_credentials_" + std::to_string(::getpid());
    std::filesystem::create_directories(dir_);
    env_.credentials_file = dir_ + "/credentials";
    env_.config_file = dir_ + "/config";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void Write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

  std::string dir_;
  CredentialsEnv env_;
};

TEST_F(CredentialsTest, TheEnvironmentComesFirstUnlessAProfileIsNamed) {
  Write(env_.credentials_file,
        "# a comment\n[default]\naws_access_key_id = AKFILE\naws_secret_access_key=sfile\n"
        "[burst]\n aws_access_key_id=AKBURST\naws_secret_access_key = sburst\n"
        "aws_session_token = tok\n");
  env_.access_key_id = "AKENV";
  env_.secret_access_key = "senv";
  auto c = ResolveCredentials("", env_);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->access_key_id, "AKENV");
  EXPECT_EQ(c->secret_access_key, "senv");
  EXPECT_EQ(c->source, "the environment (AWS_ACCESS_KEY_ID)");

  c = ResolveCredentials("burst", env_);  // a target's profile: the files only
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->access_key_id, "AKBURST");
  EXPECT_EQ(c->secret_access_key, "sburst");
  EXPECT_EQ(c->session_token, "tok");
  EXPECT_EQ(c->source, env_.credentials_file + ", profile burst");

  env_.access_key_id.clear();  // no environment: AWS_PROFILE, else default
  EXPECT_EQ(ResolveCredentials("", env_)->access_key_id, "AKFILE");
  env_.profile = "burst";
  EXPECT_EQ(ResolveCredentials("", env_)->access_key_id, "AKBURST");
}

TEST_F(CredentialsTest, TheConfigFileNamesProfilesWithThePrefix) {
  Write(env_.config_file,
        "[default]\nregion = us-east-1\n[profile lab] ; the lab's keys\nAWS_Access_Key_ID = AKLAB\n"
        "s3 =\n  aws_access_key_id = AKNESTED\naws_secret_access_key: slab\n[lab2]\n"
        "aws_access_key_id = AKNO\naws_secret_access_key = sno\n");
  auto c = ResolveCredentials("lab", env_);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->access_key_id, "AKLAB");
  EXPECT_EQ(c->secret_access_key, "slab");
  EXPECT_EQ(c->source, env_.config_file + ", profile lab");
  // "[lab2]" without "profile " names no profile in the config file.
  EXPECT_EQ(ResolveCredentials("lab2", env_).status().code(), StatusCode::kNotFound);
}

TEST_F(CredentialsTest, MissingOrHalfCredentialsAreClearErrors) {
  auto none = ResolveCredentials("", env_);
  EXPECT_EQ(none.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(none.status().message(),
              HasSubstr("no AWS credentials for profile default: looked in AWS_ACCESS_KEY_ID "
                        "and AWS_SECRET_ACCESS_KEY, " +
                        env_.credentials_file + " and " + env_.config_file));
  Write(env_.credentials_file, "[default]\n\naws_access_key_id = AKHALF\n");
  auto half = ResolveCredentials("", env_);
  EXPECT_EQ(half.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(half.status().message(),
            env_.credentials_file +
                ":3: profile default has aws_access_key_id but no aws_secret_access_key");
  Write(env_.credentials_file,
        "[default]\naws_access_key_id = AK\naws_secret_access_key = s3cr3t\n");
  auto named = ResolveCredentials("other", env_);
  EXPECT_EQ(named.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(named.status().message(), Not(HasSubstr("s3cr3t")));
}

}  // namespace
}  // namespace portflow::aws
