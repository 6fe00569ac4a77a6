// TLS as a kubeconfig sets it up, against `openssl s_server` demanding a
// client certificate: the CA and client certificate inline (as
// certificate-authority-data and client-*-data hold them) or as files,
// tls-server-name, insecure-skip-tls-verify, and a wrong CA refused with a
// clear error.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "k8s_backend/client/api_client.h"

extern char** environ;

namespace portflow::k8s {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

bool Accepting(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  close(fd);
  return ok;
}

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(::testing::TempDir() + "tls_" + std::to_string(::getpid()));
    fs::remove_all(*dir_);
    fs::create_directories(*dir_);
    // A CA, a server certificate for api.lab and 127.0.0.1, a client
    // certificate, and a second CA that signed none of them.
    std::string d = *dir_;
    std::string script =
        "cd " + d + " && exec >openssl.log 2>&1 && set -e\n" +
        "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=test-ca -keyout ca.key "
        "-out ca.pem\n"
        "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=other-ca -keyout other.key "
        "-out other.pem\n"
        "openssl req -newkey rsa:2048 -nodes -subj /CN=api.lab -keyout server.key -out "
        "server.csr\n"
        "printf 'subjectAltName=DNS:api.lab,IP:127.0.0.1\\n' > san.ext\n"
        "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 "
        "-extfile san.ext -out server.pem\n"
        "openssl req -newkey rsa:2048 -nodes -subj /CN=alice/O=ml -keyout client.key -out "
        "client.csr\n"
        "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 -out "
        "client.pem\n";
    ASSERT_EQ(std::system(script.c_str()), 0) << Read(d + "/openssl.log");
    port_ = FreePort();
    std::vector<std::string> args = {"openssl", "s_server",        "-accept", std::to_string(port_),
                                     "-cert",   d + "/server.pem", "-key",    d + "/server.key",
                                     "-CAfile", d + "/ca.pem",     "-Verify", "1",
                                     "-www",    "-quiet"};
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ASSERT_EQ(posix_spawnp(&server_, "openssl", nullptr, nullptr, argv.data(), environ), 0);
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!Accepting(port_) && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ASSERT_TRUE(Accepting(port_));
  }
  static void TearDownTestSuite() {
    if (server_ > 0) {
      kill(server_, SIGTERM);
      waitpid(server_, nullptr, 0);
    }
    fs::remove_all(*dir_);
    delete dir_;
  }

  // One GET of / through the real transport.
  Result<ApiResponse> Get(const ClusterAccess& access) {
    auto transport = MakeCurlTransport(access);
    if (!transport.ok()) return transport.status();
    FakeClock clock;
    ApiClient client(std::move(*transport), std::make_shared<Credentials>(access, clock), clock,
                     {.max_attempts = 1});
    return client.Call({"GET", "/", ""});
  }
  ClusterAccess Access() {
    ClusterAccess a;
    a.server = "https://127.0.0.1:" + std::to_string(port_);
    a.ca_pem = Read(*dir_ + "/ca.pem");
    a.client_cert_pem = Read(*dir_ + "/client.pem");
    a.client_key_pem = Read(*dir_ + "/client.key");
    return a;
  }

  static std::string* dir_;
  static int port_;
  static pid_t server_;
};

std::string* TlsTest::dir_ = nullptr;
int TlsTest::port_ = 0;
pid_t TlsTest::server_ = -1;

TEST_F(TlsTest, ClientCertificateAndCaFromTheKubeconfig) {
  auto inline_pem = Get(Access());
  ASSERT_TRUE(inline_pem.ok()) << inline_pem.status().ToString();
  EXPECT_EQ(inline_pem->status, 200);
  EXPECT_THAT(inline_pem->body, HasSubstr("CN=alice"));  // s_server echoes the client's certificate

  ClusterAccess files;
  files.server = Access().server;
  files.ca_file = *dir_ + "/ca.pem";
  files.client_cert_file = *dir_ + "/client.pem";
  files.client_key_file = *dir_ + "/client.key";
  auto from_files = Get(files);
  ASSERT_TRUE(from_files.ok()) << from_files.status().ToString();
  EXPECT_EQ(from_files->status, 200);

  // tls-server-name: the certificate names api.lab, the connection goes to 127.0.0.1.
  ClusterAccess named = Access();
  named.tls_server_name = "api.lab";
  auto by_name = Get(named);
  ASSERT_TRUE(by_name.ok()) << by_name.status().ToString();
  EXPECT_EQ(by_name->status, 200);
}

TEST_F(TlsTest, AWrongCaIsRefusedClearly) {
  ClusterAccess wrong = Access();
  wrong.ca_pem = Read(*dir_ + "/other.pem");
  auto r = Get(wrong);
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(),
              HasSubstr("TLS: the certificate of " + wrong.server +
                        " is not trusted by the certificate authority of the kubeconfig"));
  // Only when the kubeconfig turns verification off does it pass.
  wrong.insecure_skip_tls_verify = true;
  auto insecure = Get(wrong);
  ASSERT_TRUE(insecure.ok()) << insecure.status().ToString();
  EXPECT_EQ(insecure->status, 200);
}

}  // namespace
}  // namespace portflow::k8s
