// The fake cloud and the cloud targets through the real binary: `portflow
// cloud serve` for boto3 and kubectl.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <filesystem>
#include <regex>

#include "tests/testing/cli_runner.h"

namespace portflow::testing {
namespace {

using ::testing::HasSubstr;

// `portflow cloud serve ARGS...` in `dir`, waited for until it prints its
// last line; the endpoint it printed, or "" (then `why` says why).
std::string ServeCloud(const std::string& dir, const std::vector<std::string>& args, pid_t& pid,
                       std::string& why) {
  std::vector<std::string> all = {"cloud", "serve"};
  all.insert(all.end(), args.begin(), args.end());
  pid = StartCli(all, dir, dir + "/serve.out", dir + "/serve.err");
  std::string endpoint;
  bool serving = WaitFor(
      [&] {
        std::string out = ReadFile(dir + "/serve.out");
        std::smatch m;
        if (out.find("server: ") == std::string::npos) return false;
        if (std::regex_search(out, m, std::regex("endpoint: (\\S+)"))) endpoint = m[1];
        return true;
      },
      std::chrono::seconds(30));
  if (!serving) why = ReadFile(dir + "/serve.err");
  return serving ? endpoint : "";
}

TEST(CloudServeTest, Boto3AndKubectlWorkAgainstItWithTheFilesItWrites) {
  TempDir dir;
  WriteFile(dir.path() + "/groups.yaml", R"(nodeGroups:
  - name: small
    instanceTypes: [c5.large]
    zones: [us-east-1b]
    maxSize: 2
)");
  pid_t pid = -1;
  std::string why;
  std::string endpoint = ServeCloud(dir.path(),
                                    {"--provisioning", "500ms", "--node-groups", "groups.yaml",
                                     "--kubeconfig", "kubeconfig", "--aws-credentials", "creds"},
                                    pid, why);
  ASSERT_FALSE(endpoint.empty()) << why;
  std::string out = ReadFile(dir.path() + "/serve.out");
  EXPECT_THAT(out, HasSubstr("credentials: " + dir.path() + "/creds\n"));
  EXPECT_THAT(out, HasSubstr("cluster: burst\n"));
  for (const char* secret : {"/kubeconfig", "/creds"}) {
    struct stat st {};
    ASSERT_EQ(::stat((dir.path() + secret).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u) << secret;
  }
  EXPECT_THAT(ReadFile(dir.path() + "/creds"), HasSubstr("[default]\naws_access_key_id = AKIA"));

  // boto3, with nothing but the credentials file and the endpoint.
  ShellResult py =
      RunShell("cd " + dir.path() + " && AWS_SHARED_CREDENTIALS_FILE=creds python3 -c \"" +
               "import boto3, time\n"
               "eks = boto3.client('eks', endpoint_url='" +
               endpoint +
               "', region_name='us-east-1')\n"
               "eks.update_nodegroup_config(clusterName='burst', "
               "nodegroupName='small', scalingConfig={'desiredSize': 1})\n"
               "print(eks.list_nodegroups(clusterName='burst')['nodegroups'])\n"
               "\" 2>&1");
  EXPECT_EQ(py.code, 0) << py.out;
  EXPECT_THAT(py.out, HasSubstr("['small']"));
  std::filesystem::create_directories(dir.path() + "/home");
  bool joined = WaitFor(
      [&] {
        return Kubectl(dir.path(), "get nodes -L topology.kubernetes.io/zone")
                   .out.find("us-east-1b") != std::string::npos;
      },
      std::chrono::seconds(20));
  EXPECT_TRUE(joined) << Kubectl(dir.path(), "get nodes").out;
  EXPECT_EQ(StopCluster(pid), 0);
}

TEST(CloudServeTest, ABadNodeGroupsFileNamesItsPlace) {
  TempDir dir;
  WriteFile(dir.path() + "/groups.yaml",
            "nodeGroups:\n  - name: a\n    instanceTypes: [x9.tiny]\n");
  CliResult r = RunCli({"cloud", "serve", "--node-groups", "groups.yaml"}, dir.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(
      r.err,
      HasSubstr(
          "groups.yaml: node group a: instance type x9.tiny is not in the catalog for us-east-1"));
  WriteFile(dir.path() + "/groups.yaml", "nodeGroups:\n  - name: a\n    size: 3\n");
  r = RunCli({"cloud", "serve", "--node-groups", "groups.yaml"}, dir.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("groups.yaml:3:5: unknown key \"size\""));
  r = RunCli({"cloud", "serve", "--provisioning", "soon"}, dir.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--provisioning: "));
}

}  // namespace
}  // namespace portflow::testing
