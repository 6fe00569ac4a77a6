// Golden tests for `portflow validate` over the workload corpus in this folder.
//
//   bad/NAME.yaml      a malformed workload; bad/NAME.expected holds exactly what
//                      `portflow validate tests/spec_corpus/bad/NAME.yaml` prints
//                      (stdout and stderr together) when run from the source root.
//                      It must exit 1.
//   good/NAME.yaml     a valid edge-case workload. It must exit 0.
//
// PORTFLOW_UPDATE_GOLDENS=1 rewrites the .expected files from the current output
// instead of comparing (exit codes are still checked). See README.md.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

constexpr const char* kSourceDir = PORTFLOW_SOURCE_DIR;
constexpr const char* kCli = PORTFLOW_BINARY_DIR "/cli/portflow";
constexpr const char* kCorpus = "tests/spec_corpus";  // relative to the source root
constexpr size_t kMinBadFiles = 40;
constexpr size_t kMinGoodFiles = 5;
constexpr size_t kMaxWorkloadBytes = size_t{1} << 20;  // core/spec_loader.h
constexpr size_t kMaxSteps = 5000;                     // core/spec_loader.h
constexpr size_t kMaxInstances = 10000;                // core/spec_loader.h

bool UpdateGoldens() {
  const char* v = std::getenv("PORTFLOW_UPDATE_GOLDENS");
  return v != nullptr && std::string(v) == "1";
}

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

struct CliResult {
  std::string output;  // stdout and stderr, interleaved as printed
  int exit_code = -1;  // 128 + N when killed by signal N
};

// Runs `portflow validate PATH` with the source root as working directory.
CliResult RunValidate(const std::string& path) {
  std::string cmd = "cd " + ShellQuote(kSourceDir) + " && " + ShellQuote(kCli) + " validate " +
                    ShellQuote(path) + " 2>&1";
  CliResult r;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (pipe == nullptr) {
    r.output = "popen failed for: " + cmd;
    return r;
  }
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) r.output.append(buf, n);
  int status = pclose(pipe);
  if (status == -1) {
    r.exit_code = -1;
  } else if (WIFEXITED(status)) {
    r.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    r.exit_code = 128 + WTERMSIG(status);
  }
  return r;
}

std::string DescribeExit(int code) {
  std::string s = std::to_string(code);
  if (code > 128) s += " (killed by signal " + std::to_string(code - 128) + ": a crash)";
  if (code == 127) s += " (command not found: is " + std::string(kCli) + " built?)";
  return s;
}

std::vector<std::string> SplitLines(const std::string& text) {
  std::vector<std::string> lines;
  std::string line;
  std::istringstream in(text);
  while (std::getline(in, line)) lines.push_back(line);
  if (!text.empty() && text.back() != '\n') lines.back() += "  <no newline at end>";
  return lines;
}

// A line diff (longest common subsequence): "  " same, "- " expected only, "+ " actual only.
std::string LineDiff(const std::string& expected, const std::string& actual) {
  std::vector<std::string> a = SplitLines(expected), b = SplitLines(actual);
  std::vector<std::vector<size_t>> lcs(a.size() + 1, std::vector<size_t>(b.size() + 1, 0));
  for (size_t i = a.size(); i-- > 0;) {
    for (size_t j = b.size(); j-- > 0;) {
      lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : std::max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  std::string out;
  size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    if (i < a.size() && j < b.size() && a[i] == b[j]) {
      out += "    " + a[i++] + "\n";
      ++j;
    } else if (i < a.size() && (j == b.size() || lcs[i + 1][j] >= lcs[i][j + 1])) {
      out += "  - " + a[i++] + "\n";
    } else {
      out += "  + " + b[j++] + "\n";
    }
  }
  return out;
}

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Workload stems (file names without .yaml) in tests/spec_corpus/SUBDIR, sorted.
std::vector<std::string> ListWorkloads(const std::string& subdir) {
  std::vector<std::string> stems;
  std::error_code ec;
  fs::path dir = fs::path(kSourceDir) / kCorpus / subdir;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.is_regular_file() && entry.path().extension() == ".yaml") {
      stems.push_back(entry.path().stem().string());
    }
  }
  std::sort(stems.begin(), stems.end());
  return stems;
}

// gtest names allow only letters, digits and '_'.
std::string TestName(const testing::TestParamInfo<std::string>& info) {
  std::string name = info.param;
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

class BadWorkload : public testing::TestWithParam<std::string> {};
class GoodWorkload : public testing::TestWithParam<std::string> {};

TEST_P(BadWorkload, PrintsExpectedDiagnosticsAndExits1) {
  const std::string rel = std::string(kCorpus) + "/bad/" + GetParam() + ".yaml";
  const fs::path golden = fs::path(kSourceDir) / kCorpus / "bad" / (GetParam() + ".expected");
  CliResult r = RunValidate(rel);

  EXPECT_EQ(r.exit_code, 1) << "portflow validate " << rel << " exited "
                            << DescribeExit(r.exit_code) << "; output:\n"
                            << r.output;

  if (UpdateGoldens()) {
    std::ofstream(golden, std::ios::binary | std::ios::trunc) << r.output;
    return;
  }
  ASSERT_TRUE(fs::exists(golden))
      << "missing golden " << golden.string()
      << "; run with PORTFLOW_UPDATE_GOLDENS=1 to create it. Output was:\n"
      << r.output;
  std::string expected = ReadFile(golden);
  if (expected != r.output) {
    ADD_FAILURE() << "output of `portflow validate " << rel << "` differs from "
                  << golden.filename().string() << " (- expected, + actual):\n"
                  << LineDiff(expected, r.output)
                  << "If the new output is right, regenerate with PORTFLOW_UPDATE_GOLDENS=1.";
  }
}

TEST_P(GoodWorkload, IsValid) {
  const std::string rel = std::string(kCorpus) + "/good/" + GetParam() + ".yaml";
  CliResult r = RunValidate(rel);
  EXPECT_EQ(r.exit_code, 0) << "portflow validate " << rel << " exited "
                            << DescribeExit(r.exit_code) << "; output:\n"
                            << r.output;
  EXPECT_THAT(r.output, testing::StartsWith(rel + ": valid ("));
}

INSTANTIATE_TEST_SUITE_P(Corpus, BadWorkload, testing::ValuesIn(ListWorkloads("bad")), TestName);
INSTANTIATE_TEST_SUITE_P(Corpus, GoodWorkload, testing::ValuesIn(ListWorkloads("good")), TestName);

// The parameterised tests above pass vacuously on an empty or misplaced corpus.
TEST(SpecCorpus, IsNotEmpty) {
  EXPECT_GE(ListWorkloads("bad").size(), kMinBadFiles)
      << "expected at least " << kMinBadFiles << " bad workloads in " << kSourceDir << "/"
      << kCorpus << "/bad";
  EXPECT_GE(ListWorkloads("good").size(), kMinGoodFiles)
      << "expected at least " << kMinGoodFiles << " good workloads in " << kSourceDir << "/"
      << kCorpus << "/good";
}

// Every golden belongs to a workload (catches renamed or deleted .yaml files).
TEST(SpecCorpus, NoOrphanGoldens) {
  std::error_code ec;
  fs::path dir = fs::path(kSourceDir) / kCorpus / "bad";
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().extension() != ".expected") continue;
    fs::path yaml = entry.path();
    yaml.replace_extension(".yaml");
    EXPECT_TRUE(fs::exists(yaml)) << entry.path().filename().string() << " has no matching .yaml";
  }
}

class TempDir {
 public:
  TempDir() {
    std::string templ = (fs::temp_directory_path() / "portflow-corpus-XXXXXX").string();
    if (mkdtemp(templ.data()) != nullptr) path_ = templ;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// A valid workload padded with comment lines to exactly `size` bytes.
std::string PaddedWorkload(size_t size) {
  std::string text =
      "apiVersion: portflow.dev/v1\nkind: Workload\nmetadata:\n  name: big\n"
      "spec:\n  steps:\n    - name: a\n      command: [echo, hi]\n";
  const std::string pad = "# " + std::string(77, 'x') + "\n";  // 80 bytes
  while (text.size() + pad.size() <= size) text += pad;
  if (text.size() < size) text += "#" + std::string(size - text.size() - 2, 'y') + "\n";
  return text;
}

// Too large to commit, so generated here.
TEST(SpecCorpus, FileLargerThanOneMebibyteIsRefused) {
  TempDir tmp;
  ASSERT_FALSE(tmp.path().empty()) << "mkdtemp failed";
  fs::path big = tmp.path() / "big.yaml";
  std::string text = PaddedWorkload(kMaxWorkloadBytes + 1);
  ASSERT_EQ(text.size(), kMaxWorkloadBytes + 1);
  std::ofstream(big, std::ios::binary) << text;

  CliResult r = RunValidate(big.string());
  EXPECT_EQ(r.exit_code, 1) << DescribeExit(r.exit_code) << "; output:\n" << r.output;
  EXPECT_EQ(r.output,
            big.string() +
                ": the file is larger than 1048576 bytes; a workload is a small text file\n"
                "1 error in " +
                big.string() + "\n");
}

// The limit is inclusive: exactly 1 MiB of valid YAML is accepted.
TEST(SpecCorpus, FileOfExactlyOneMebibyteIsAccepted) {
  TempDir tmp;
  ASSERT_FALSE(tmp.path().empty()) << "mkdtemp failed";
  fs::path big = tmp.path() / "limit.yaml";
  std::string text = PaddedWorkload(kMaxWorkloadBytes);
  ASSERT_EQ(text.size(), kMaxWorkloadBytes);
  std::ofstream(big, std::ios::binary) << text;

  CliResult r = RunValidate(big.string());
  EXPECT_EQ(r.exit_code, 0) << DescribeExit(r.exit_code) << "; output:\n" << r.output;
  EXPECT_THAT(r.output, testing::HasSubstr(": valid (1 step, 1 instance)"));
}

// A workload of `steps` independent steps.
std::string WorkloadOfSteps(size_t steps) {
  std::string text =
      "apiVersion: portflow.dev/v1\nkind: Workload\nmetadata: {name: many}\nspec:\n"
      "  steps:\n";
  for (size_t i = 0; i < steps; ++i)
    text += "    - {name: s" + std::to_string(i) + ", command: [x]}\n";
  return text;
}

// Steps whose matrices fan out to `instances` instances in all: a step's
// matrix holds at most 1000 combinations, so 1000 a step, then the rest.
std::string WorkloadOfInstances(size_t instances) {
  std::string text =
      "apiVersion: portflow.dev/v1\nkind: Workload\nmetadata: {name: wide}\nspec:\n"
      "  steps:\n";
  for (size_t step = 0; instances > 0; ++step) {
    size_t n = std::min<size_t>(instances, 1000);
    instances -= n;
    text += "    - name: s" + std::to_string(step) + "\n      command: [x]\n      matrix: {i: [";
    for (size_t i = 0; i < n; ++i) text += (i ? "," : "") + std::to_string(i);
    text += "]}\n";
  }
  return text;
}

// Validates `text` written to a temporary file.
CliResult ValidateText(const std::string& text) {
  TempDir tmp;
  if (tmp.path().empty()) return {"mkdtemp failed", -1};
  fs::path file = tmp.path() / "w.yaml";
  std::ofstream(file, std::ios::binary) << text;
  return RunValidate(file.string());
}

// The step and instance limits are inclusive; one more is refused. Generated
// here: each file is hundreds of kilobytes.
TEST(SpecCorpus, StepsUpToTheLimitAreAccepted) {
  CliResult r = ValidateText(WorkloadOfSteps(kMaxSteps));
  EXPECT_EQ(r.exit_code, 0) << DescribeExit(r.exit_code) << "; output:\n" << r.output;
  EXPECT_THAT(r.output, testing::HasSubstr(": valid (5000 steps, 5000 instances)"));
}

TEST(SpecCorpus, OneStepOverTheLimitIsRefused) {
  CliResult r = ValidateText(WorkloadOfSteps(kMaxSteps + 1));
  EXPECT_EQ(r.exit_code, 1) << DescribeExit(r.exit_code) << "; output:\n" << r.output;
  EXPECT_THAT(r.output,
              testing::HasSubstr("the workload has 5001 steps; at most 5000 are allowed"));
}

TEST(SpecCorpus, InstancesUpToTheLimitAreAccepted) {
  CliResult r = ValidateText(WorkloadOfInstances(kMaxInstances));
  EXPECT_EQ(r.exit_code, 0) << DescribeExit(r.exit_code) << "; output:\n" << r.output;
  EXPECT_THAT(r.output, testing::HasSubstr(": valid (10 steps, 10000 instances)"));
}

TEST(SpecCorpus, OneInstanceOverTheLimitIsRefused) {
  CliResult r = ValidateText(WorkloadOfInstances(kMaxInstances + 1));
  EXPECT_EQ(r.exit_code, 1) << DescribeExit(r.exit_code) << "; output:\n" << r.output;
  EXPECT_THAT(r.output, testing::HasSubstr(
                            "the workload fans out to 10001 instances; at most 10000 are allowed"));
}

}  // namespace
