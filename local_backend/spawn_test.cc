#include "local_backend/spawn.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

namespace portflow {
namespace {

TEST(FindExecutable, SearchesPathAndRelativeNames) {
  auto sh = FindExecutable("sh", "/nonexistent:/bin:/usr/bin", "/");
  ASSERT_TRUE(sh.ok());
  EXPECT_EQ(*sh, "/bin/sh");
  EXPECT_FALSE(FindExecutable("no-such-program-xyz", "/bin:/usr/bin", "/").ok());
  EXPECT_TRUE(FindExecutable("./sh", "", "/bin").ok());
  EXPECT_FALSE(FindExecutable("./nope", "", "/bin").ok());
  EXPECT_FALSE(FindExecutable("/etc/passwd", "", "/").ok());  // not executable
}

TEST(SpawnProcess, RunsInItsOwnProcessGroupWithEnvCwdAndOutput) {
  std::string log = ::testing::TempDir() + "spawn_test.log";
  int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  SpawnRequest req{"/bin/sh",
                   {"-c", "echo $FOO; pwd; echo err >&2; ps -o pgid= -p $$ | tr -d ' '"},
                   {"FOO=bar", "PATH=/bin:/usr/bin"},
                   "/tmp",
                   fd};
  auto pid = SpawnProcess(req);
  ::close(fd);
  ASSERT_TRUE(pid.ok()) << pid.status().ToString();
  int status = 0;
  ASSERT_EQ(::waitpid(*pid, &status, 0), *pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  std::ifstream in(log);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), "bar\n/tmp\nerr\n" + std::to_string(*pid) + "\n");
}

TEST(SpawnProcess, BadWorkingDirectoryIsAnError) {
  SpawnRequest req{"/bin/true", {}, {}, "/nonexistent-dir-xyz", 1};
  auto pid = SpawnProcess(req);
  EXPECT_FALSE(pid.ok());
}

}  // namespace
}  // namespace portflow
