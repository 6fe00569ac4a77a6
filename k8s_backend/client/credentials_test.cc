#include "k8s_backend/client/credentials.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/k8s_time.h"

namespace portflow::k8s {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
namespace fs = std::filesystem;

class CredentialsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "credentials_" + std::to_string(::getpid()) + "_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& text, bool executable = false) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    if (executable) ::chmod(path.c_str(), 0755);
    return path;
  }
  std::string Read(const std::string& name) {
    std::ifstream in(dir_ + "/" + name);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  // A plugin script: records each run and what it was given, prints `body`.
  ExecConfig Plugin(const std::string& body, const std::string& api_version) {
    std::string script =
        "#!/bin/sh\n"
        "echo run >> " +
        dir_ +
        "/runs\n"
        "printf '%s' \"$KUBERNETES_EXEC_INFO\" > " +
        dir_ +
        "/info\n"
        "printf '%s %s' \"$REGION\" \"$*\" > " +
        dir_ + "/env\n" + body;
    ExecConfig e;
    e.api_version = api_version;
    e.command = Write("plugin.sh", script, true);
    e.args = {"--audience", "k8s"};
    e.env = {{"REGION", "eu"}};
    return e;
  }
  int Runs() {
    std::string runs = Read("runs");
    return static_cast<int>(std::count(runs.begin(), runs.end(), '\n'));
  }

  std::string dir_;
  FakeClock clock_;
};

TEST_F(CredentialsTest, TokensAndCertificatesComeFromTheKubeconfig) {
  ClusterAccess a;
  a.token = "static-token";
  Credentials given(a, clock_);
  EXPECT_EQ(given.Current()->token, "static-token");

  ClusterAccess f;
  f.token_file = Write("token", "first\n");
  Credentials file(f, clock_);
  EXPECT_EQ(file.Current()->token, "first");
  Write("token", "rotated\n");
  EXPECT_EQ(file.Current()->token, "first");  // re-read at most once a minute
  clock_.Advance(std::chrono::seconds(61));
  EXPECT_EQ(file.Current()->token, "rotated");
  Write("token", "after-401\n");
  file.Invalidate();  // a 401 reads it again at once
  EXPECT_EQ(file.Current()->token, "after-401");
  fs::remove(dir_ + "/token");
  file.Invalidate();
  auto gone = file.Current();
  EXPECT_EQ(gone.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(gone.status().message(), HasSubstr("tokenFile " + dir_ + "/token cannot be read"));

  ClusterAccess c;
  c.client_cert_pem = "CERT";
  c.client_key_pem = "KEY";
  auto cert = Credentials(c, clock_).Current();
  EXPECT_EQ(cert->client_cert_pem, "CERT");
  EXPECT_EQ(cert->client_key_pem, "KEY");
  EXPECT_TRUE(cert->token.empty());
}

TEST_F(CredentialsTest, ExecPluginRunsOnceUntilItsCredentialExpires) {
  for (std::string version :
       {"client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"}) {
    fs::remove(dir_ + "/runs");
    std::string expires = K8sTime(clock_.Now() + std::chrono::minutes(10));
    ClusterAccess a;
    a.server = "https://lab.example";
    a.ca_pem = "PEM";
    a.exec =
        Plugin("cat <<EOF\n{\"apiVersion\": \"" + version +
                   "\", \"kind\": \"ExecCredential\", \"status\": {\"token\": \"tok-$(wc -l < " +
                   dir_ + "/runs)\", \"expirationTimestamp\": \"" + expires + "\"}}\nEOF\n",
               version);
    a.exec->provide_cluster_info = true;
    Credentials creds(a, clock_);
    auto first = creds.Current();
    ASSERT_TRUE(first.ok()) << first.status().ToString();
    EXPECT_EQ(first->token, "tok-1");
    EXPECT_EQ(Read("env"), "eu --audience k8s");
    nlohmann::json info = nlohmann::json::parse(Read("info"));
    EXPECT_EQ(info["apiVersion"], version);
    EXPECT_EQ(info["kind"], "ExecCredential");
    EXPECT_EQ(info["spec"]["interactive"], false);
    EXPECT_EQ(info["spec"]["cluster"]["server"], "https://lab.example");
    EXPECT_EQ(info["spec"]["cluster"]["certificate-authority-data"], "UEVN");
    // Cached until it expires.
    clock_.Advance(std::chrono::minutes(9));
    EXPECT_EQ(creds.Current()->token, "tok-1");
    EXPECT_EQ(Runs(), 1);
    clock_.Advance(std::chrono::minutes(2));
    EXPECT_EQ(creds.Current()->token, "tok-2");
    // A 401 runs it again.
    creds.Invalidate();
    EXPECT_EQ(creds.Current()->token, "tok-3");
    EXPECT_EQ(Runs(), 3);
    EXPECT_EQ(creds.exec_runs(), 3);
  }
}

TEST_F(CredentialsTest, PluginFailuresAreClearAndKeepTheTokenOut) {
  const std::string v1 = "client.authentication.k8s.io/v1";
  auto error_of = [&](ExecConfig exec) {
    ClusterAccess a;
    a.exec = std::move(exec);
    auto r = Credentials(a, clock_).Current();
    EXPECT_FALSE(r.ok());
    EXPECT_THAT(r.status().message(), Not(HasSubstr("leaked-token")));
    return r.status().message();
  };
  ExecConfig missing;
  missing.api_version = v1;
  missing.command = "portflow-no-such-plugin";
  missing.install_hint = "Install it with: apt-get install portflow-plugin\n";
  EXPECT_EQ(error_of(missing),
            "exec plugin: executable portflow-no-such-plugin not found\n\n"
            "Install it with: apt-get install portflow-plugin");
  EXPECT_THAT(error_of(Plugin("echo 'token expired, run login' >&2\nexit 3\n", v1)),
              HasSubstr("plugin.sh exited with code 3: token expired, run login"));
  // Output that is not an ExecCredential is described, never echoed.
  EXPECT_THAT(error_of(Plugin("echo '{\"token\": \"leaked-token\"'\n", v1)),
              HasSubstr("printed no valid ExecCredential: its output is not a JSON object"));
  EXPECT_THAT(error_of(Plugin("echo '{\"apiVersion\": \"client.authentication.k8s.io/v1beta1\", "
                              "\"kind\": \"ExecCredential\", \"status\": {\"token\": "
                              "\"leaked-token\"}}'\n",
                              v1)),
              HasSubstr("apiVersion \"client.authentication.k8s.io/v1beta1\" is not the "
                        "kubeconfig's \"client.authentication.k8s.io/v1\""));
  EXPECT_THAT(error_of(Plugin("echo '{\"apiVersion\": \"" + v1 +
                                  "\", \"kind\": \"ExecCredential\", \"status\": {}}'\n",
                              v1)),
              HasSubstr("neither a token nor a client certificate and key"));
  // Fields of the wrong type are refused, not a crash.
  EXPECT_THAT(error_of(Plugin("echo '{\"apiVersion\": null, \"kind\": \"ExecCredential\"}'\n", v1)),
              HasSubstr("apiVersion \"\" is not the kubeconfig's"));
  EXPECT_THAT(error_of(Plugin("echo '{\"apiVersion\": \"" + v1 +
                                  "\", \"kind\": \"ExecCredential\", \"status\": {\"token\": "
                                  "\"leaked-token\", \"expirationTimestamp\": \"soon\"}}'\n",
                              v1)),
              HasSubstr("expirationTimestamp is not an RFC 3339 time"));
}

}  // namespace
}  // namespace portflow::k8s
