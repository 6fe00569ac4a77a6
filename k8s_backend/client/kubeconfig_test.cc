#include "k8s_backend/client/kubeconfig.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace portflow::k8s {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
namespace fs = std::filesystem;

class KubeconfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "kubeconfig_" + std::to_string(::getpid()) + "_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::remove_all(dir_);
    fs::create_directories(dir_ + "/a");
    fs::create_directories(dir_ + "/b");
    env_.home = dir_ + "/home";
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Write(const std::string& rel, const std::string& text) {
    std::string path = dir_ + "/" + rel;
    fs::create_directories(fs::path(path).parent_path());
    std::ofstream(path) << text;
    return path;
  }

  std::string dir_;
  KubeconfigEnv env_;
};

constexpr const char* kFirst = R"(apiVersion: v1
kind: Config
current-context: lab
clusters:
- name: lab
  cluster:
    server: https://lab.example:6443
    certificate-authority: certs/ca.pem
    tls-server-name: api.lab
contexts:
- name: lab
  context: {cluster: lab, user: alice, namespace: ml}
users:
- name: alice
  user:
    client-certificate: alice.crt
    client-key: /abs/alice.key
)";

constexpr const char* kSecond = R"(apiVersion: v1
kind: Config
current-context: burst
clusters:
- name: lab
  cluster: {server: https://ignored.example}
- name: burst
  cluster:
    server: https://burst.example
    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==
    insecure-skip-tls-verify: false
contexts:
- name: lab
  context: {cluster: burst, user: bob}
- name: burst
  context: {cluster: burst, user: bob}
users:
- name: bob
  user: {tokenFile: token}
)";

TEST_F(KubeconfigTest, KubeconfigFilesMergeAsKubectlMergesThem) {
  std::string a = Write("a/config", kFirst);
  std::string b = Write("b/config", kSecond);
  env_.kubeconfig = a + ":" + dir_ + "/missing:" + b;  // a missing file is skipped
  auto access = ResolveClusterAccess({}, env_);
  ASSERT_TRUE(access.ok()) << access.status().ToString();
  // The first file's current-context and its "lab" entries win.
  EXPECT_EQ(access->context, "lab");
  EXPECT_EQ(access->server, "https://lab.example:6443");
  EXPECT_EQ(access->namespace_name, "ml");
  EXPECT_EQ(access->tls_server_name, "api.lab");
  // Relative paths are relative to the file that holds them.
  EXPECT_EQ(access->ca_file, dir_ + "/a/certs/ca.pem");
  EXPECT_EQ(access->client_cert_file, dir_ + "/a/alice.crt");
  EXPECT_EQ(access->client_key_file, "/abs/alice.key");
  EXPECT_EQ(access->origin, "kubeconfig " + a + " (context lab, user alice)");

  // A context from the second file, with its own cluster and user.
  auto burst = ResolveClusterAccess({"", "burst", ""}, env_);
  ASSERT_TRUE(burst.ok()) << burst.status().ToString();
  EXPECT_EQ(burst->server, "https://burst.example");
  EXPECT_EQ(burst->ca_pem, "-----BEGIN CERTIFICATE-----\n");
  EXPECT_EQ(burst->token_file, dir_ + "/b/token");
  EXPECT_EQ(burst->namespace_name, "default");
  auto ns = ResolveClusterAccess({"", "burst", "team-a"}, env_);
  EXPECT_EQ(ns->namespace_name, "team-a");

  auto contexts = ListContexts({}, env_);
  ASSERT_TRUE(contexts.ok());
  EXPECT_EQ(contexts->contexts, (std::vector<std::string>{"lab", "burst"}));
  EXPECT_EQ(contexts->current, "lab");
  EXPECT_EQ(contexts->files, (std::vector<std::string>{a, b}));
}

TEST_F(KubeconfigTest, ExplicitFileHomeFileAndInCluster) {
  std::string b = Write("b/config", kSecond);
  env_.kubeconfig = Write("a/config", kFirst);
  // --kubeconfig: that file only.
  auto only = ResolveClusterAccess({b, "", ""}, env_);
  ASSERT_TRUE(only.ok()) << only.status().ToString();
  EXPECT_EQ(only->context, "burst");
  auto missing = ResolveClusterAccess({dir_ + "/nope", "", ""}, env_);
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("nope: no such file"));

  // No KUBECONFIG: ~/.kube/config.
  env_.kubeconfig.clear();
  auto none = ResolveClusterAccess({}, env_);
  EXPECT_EQ(none.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(none.status().message(), HasSubstr("/home/.kube/config does not exist"));
  Write("home/.kube/config", kSecond);
  EXPECT_EQ(ResolveClusterAccess({}, env_)->server, "https://burst.example");

  // No kubeconfig at all, inside a pod: the service account.
  fs::remove_all(dir_ + "/home");
  env_.service_host = "10.96.0.1";
  env_.service_port = "443";
  env_.service_account_dir = dir_ + "/sa";
  Write("sa/token", "sa-token\n");
  Write("sa/namespace", "ml-jobs\n");
  auto pod = ResolveClusterAccess({}, env_);
  ASSERT_TRUE(pod.ok()) << pod.status().ToString();
  EXPECT_EQ(pod->server, "https://10.96.0.1:443");
  EXPECT_EQ(pod->token_file, dir_ + "/sa/token");
  EXPECT_EQ(pod->ca_file, dir_ + "/sa/ca.crt");
  EXPECT_EQ(pod->namespace_name, "ml-jobs");
  EXPECT_EQ(pod->origin, "in-cluster service account");
  env_.service_host = "fd00::1";
  EXPECT_EQ(ResolveClusterAccess({}, env_)->server, "https://[fd00::1]:443");
}

TEST_F(KubeconfigTest, ExecPluginsAreRead) {
  env_.kubeconfig = Write("a/config", R"(apiVersion: v1
kind: Config
current-context: c
clusters: [{name: k, cluster: {server: "https://k"}}]
contexts: [{name: c, context: {cluster: k, user: u}}]
users:
- name: u
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: ./bin/get-token
      args: [--audience, k8s]
      env: [{name: REGION, value: eu}]
      installHint: install get-token from the team wiki
      provideClusterInfo: true
      interactiveMode: Never
)");
  auto access = ResolveClusterAccess({}, env_);
  ASSERT_TRUE(access.ok()) << access.status().ToString();
  ASSERT_TRUE(access->exec.has_value());
  EXPECT_EQ(access->exec->command, dir_ + "/a/bin/get-token");
  EXPECT_EQ(access->exec->args, (std::vector<std::string>{"--audience", "k8s"}));
  ASSERT_EQ(access->exec->env.size(), 1u);
  EXPECT_EQ(access->exec->env[0].first, "REGION");
  EXPECT_TRUE(access->exec->provide_cluster_info);
  EXPECT_EQ(access->exec->install_hint, "install get-token from the team wiki");
}

TEST_F(KubeconfigTest, ErrorsPointAtTheFileAndKeepSecretsOut) {
  const std::string secret = "s3cret-t0ken-value";
  auto error_of = [&](const std::string& text, const std::string& context = "") {
    env_.kubeconfig = Write("a/config", text);
    auto r = ResolveClusterAccess({"", context, ""}, env_);
    EXPECT_FALSE(r.ok());
    EXPECT_THAT(r.status().message(), Not(HasSubstr(secret)));
    return r.status().message();
  };
  std::string head = "clusters: [{name: k, cluster: {server: \"https://k\"}}]\n";
  std::string users = "users: [{name: u, user: {token: " + secret + "}}]\n";
  EXPECT_THAT(error_of("clusters: [\n  {name: k\n"), HasSubstr("a/config:3:1: "));
  EXPECT_THAT(error_of(head + users + "contexts: [{name: c, context: {cluster: k, user: u}}]\n"),
              HasSubstr("has no current-context"));
  EXPECT_THAT(error_of(head + users + "current-context: x\n"),
              HasSubstr("context \"x\" not found in " + dir_ + "/a/config"));
  EXPECT_THAT(error_of(head + users + "current-context: c\n" +
                       "contexts: [{name: c, context: {cluster: k, user: nobody}}]\n"),
              HasSubstr("names user \"nobody\", which is not in"));
  EXPECT_THAT(error_of(head + "current-context: c\ncontexts: [{name: c, context: {cluster: k, "
                              "user: u}}]\nusers:\n- name: u\n  user: {client-certificate-data: "
                              "\"not base64!\"}\n"),
              HasSubstr("users[u].user.client-certificate-data is not valid base64"));
  EXPECT_THAT(
      error_of("current-context: c\ncontexts: [{name: c, context: {cluster: k, user: u}}]\n" +
               users +
               "clusters:\n- name: k\n  cluster:\n    certificate-authority-data: "
               "\"%%%\"\n    server: https://k\n"),
      HasSubstr("a/config:7:33: clusters[k].cluster.certificate-authority-data is not "
                "valid base64"));
  EXPECT_THAT(
      error_of("current-context: c\ncontexts: [{name: c, context: {cluster: k, user: u}}]\n" +
               std::string("clusters: [{name: k, cluster: {insecure-skip-tls-verify: "
                           "true}}]\n") +
               users),
      HasSubstr("clusters[k].cluster has no server"));
  EXPECT_THAT(error_of(head +
                       "current-context: c\ncontexts: [{name: c, context: {cluster: k, "
                       "user: u}}]\nusers: [{name: u, user: {token: " +
                       secret + ", username: me}}]\n"),
              HasSubstr("has both a token and a username"));
  EXPECT_THAT(
      error_of(head + "current-context: c\ncontexts: [{name: c, context: {cluster: k, "
                      "user: u}}]\nusers: [{name: u, user: {client-certificate: c.crt}}]\n"),
      HasSubstr("client certificate without a key"));
  EXPECT_THAT(error_of(head + "current-context: c\ncontexts: [{name: c, context: {cluster: k, "
                              "user: u}}]\nusers: [{name: u, user: {exec: {apiVersion: "
                              "client.authentication.k8s.io/v1alpha1, command: x}}}]\n"),
              HasSubstr("exec.apiVersion must be client.authentication.k8s.io/v1 or /v1beta1"));
  EXPECT_THAT(
      error_of(head + "current-context: c\ncontexts: [{name: c, context: {cluster: k, "
                      "user: u}}]\nusers: [{name: u, user: {auth-provider: {name: gcp}}}]\n"),
      HasSubstr("auth-provider is not supported"));
  EXPECT_THAT(error_of("- just\n- a list\n"), HasSubstr("a kubeconfig must be a map"));
}

}  // namespace
}  // namespace portflow::k8s
