// Two S3 servers for tests that run the same cases on each: moto's S3 (an
// independent implementation that verifies SigV4, moto_fixture.py) and the
// fake cloud's. Started once per test suite; one that does not start is
// missing, and its cases fail saying so.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "cloud_backend/aws/s3.h"
#include "cloud_backend/fake_cloud/fake_cloud.h"
#include "tests/testing/cli_runner.h"

namespace portflow::testing {

struct S3Server {
  std::string endpoint, key, secret;
};

class S3Servers {
 public:
  void Start() {
    ShellResult r =
        RunShell(std::string("python3 ") + PORTFLOW_SOURCE_DIR + "/tests/testing/moto_fixture.py");
    auto moto = nlohmann::json::parse(r.out, nullptr, false);
    if (r.code == 0 && moto.is_object()) {
      moto_pid_ = moto["pid"];
      moto_ = std::make_unique<S3Server>(
          S3Server{moto["endpoint"], moto["access_key_id"], moto["secret_access_key"]});
    }
    auto cloud = fake_cloud::FakeCloud::Make({});
    if (cloud.ok() && (*cloud)->Serve(0).ok()) {
      cloud_ = std::move(*cloud);
      fake_ = std::make_unique<S3Server>(S3Server{cloud_->url(), cloud_->options().access_key_id,
                                                  cloud_->options().secret_access_key});
    }
  }
  void Stop() {
    if (moto_pid_ > 0) ::kill(moto_pid_, SIGTERM);
    moto_pid_ = 0;
    moto_.reset();
    fake_.reset();
    cloud_.reset();
  }
  // "moto" or "fake"; null when it did not start.
  const S3Server* Get(const std::string& name) const {
    return name == "moto" ? moto_.get() : fake_.get();
  }

 private:
  pid_t moto_pid_ = 0;
  std::unique_ptr<S3Server> moto_, fake_;
  std::unique_ptr<fake_cloud::FakeCloud> cloud_;
};

// A test run against each server (its parameter, "moto" or "fake"), both
// started once per suite, with the server and an S3 client of its keys.
class S3ServerTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() { servers_.Start(); }
  static void TearDownTestSuite() { servers_.Stop(); }
  void SetUp() override {
    const S3Server* s = servers_.Get(GetParam());
    ASSERT_NE(s, nullptr) << GetParam() << " did not start";
    server_ = *s;
    client_ = std::make_unique<aws::Client>(
        server_.endpoint, "us-east-1",
        aws::Credentials{server_.key, server_.secret, "", "test keys"});
    s3_ = std::make_unique<aws::S3>(*client_);
  }

  inline static S3Servers servers_;
  S3Server server_;
  std::unique_ptr<aws::Client> client_;
  std::unique_ptr<aws::S3> s3_;
};

}  // namespace portflow::testing
