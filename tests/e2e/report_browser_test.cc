// `portflow report` and `portflow ui` in a real browser: Debian's headless
// Chromium, driven by tests/browser/check_page.mjs (playwright-core, pinned
// in its package-lock.json), which prints what the page shows as JSON. The
// page must open with no console error and show every instance with its
// state, the timeline's bars in the order they started and the run's cost
// as `status -o json` gives it. Screenshots go to BUILD/tests/screenshots.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "tests/testing/cli_runner.h"

namespace portflow::testing {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;

std::string FirstLine(const std::string& s) { return s.substr(0, s.find('\n')); }

// What check_page.mjs saw of `url`, its screenshot saved as NAME.png.
json OpenInChromium(const std::string& url, const std::string& name, const std::string& more = "") {
  std::string shots = std::string(PORTFLOW_BINARY_DIR) + "/tests/screenshots";
  std::filesystem::create_directories(shots);
  ShellResult r = RunShell("timeout 120 node " + std::string(PORTFLOW_SOURCE_DIR) +
                           "/tests/browser/check_page.mjs '" + url + "' " + shots + "/" + name +
                           ".png " + more + " 2>&1");
  json out = json::parse(r.out, nullptr, false);
  EXPECT_TRUE(out.is_object()) << r.out;
  if (!out.is_object()) return json::object();
  EXPECT_FALSE(out.contains("error")) << out.value("error", "");
  EXPECT_EQ(out["consoleErrors"], json::array()) << "no console error";
  return out;
}

json Status(const std::string& dir, const std::string& run) {
  return json::parse(RunCli({"status", run, "-o", "json"}, dir).out, nullptr, false);
}

// Each instance of `status` is a row and a node of the page, with its
// state; the page's bars are its attempts, in the order they started.
void ExpectThePageShowsTheRun(const json& page, const json& status) {
  std::set<std::pair<std::string, std::string>> want, rows, nodes;
  size_t attempts = 0;
  for (const json& i : status["instances"]) {
    want.insert({i["name"].get<std::string>(), i["state"].get<std::string>()});
    attempts += i["attemptList"].size();
  }
  for (const json& r : page["rows"])
    rows.insert({r["name"].get<std::string>(), r["state"].get<std::string>()});
  for (const json& n : page["nodes"])
    nodes.insert({n["name"].get<std::string>(), n["state"].get<std::string>()});
  EXPECT_EQ(rows, want);
  EXPECT_EQ(nodes, want);
  EXPECT_EQ(page["runState"], status["state"]);
  ASSERT_EQ(page["bars"].size(), attempts) << page["bars"].dump();
  for (size_t k = 1; k < page["bars"].size(); ++k)
    EXPECT_LE(page["bars"][k - 1]["start"].get<int64_t>(), page["bars"][k]["start"].get<int64_t>())
        << "bars in the order they started";
  EXPECT_EQ(page["data"]["id"], status["id"]) << "the run's data is embedded";
}

class ReportBrowserTest : public ::testing::Test {
 protected:
  // Writes RUN's report and opens it; the page as check_page.mjs saw it.
  json Report(const std::string& run, const std::string& name) {
    std::string file = dir_.path() + "/" + name + ".html";
    CliResult r = RunCli({"report", run, "-o", file}, dir_.path());
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_THAT(r.err, HasSubstr("wrote the report of " + run));
    return OpenInChromium("file://" + file, name);
  }
  TempDir dir_;
};

TEST_F(ReportBrowserTest, AFinishedLaptopRunShowsEachInstanceAndItsBar) {
  CopyScenario("laptop-dev", dir_.path());
  CliResult run = RunCli({"run", "pipeline.yaml", "-q"}, dir_.path());
  ASSERT_EQ(run.exit_code, 0) << run.err;
  std::string id = FirstLine(run.out);
  json page = Report(id, "report-laptop");
  ExpectThePageShowsTheRun(page, Status(dir_.path(), id));
  EXPECT_EQ(page["lanes"], json::array({"laptop"}));
  EXPECT_TRUE(page["costTotal"].is_null()) << "the laptop is not priced";
  for (const json& b : page["bars"]) EXPECT_GT(b["width"].get<double>(), 0) << b.dump();
  // The same graph in the terminal and as Mermaid, to stdout.
  CliResult tree = RunCli({"status", id, "--graph"}, dir_.path());
  EXPECT_THAT(tree.out, HasSubstr("\n\nprepare                Succeeded\n"
                                  "  train                2 Succeeded\n"
                                  "    - train[lr=0.1]    Succeeded\n"
                                  "    - train[lr=0.01]   Succeeded\n"
                                  "    evaluate           Succeeded\n"
                                  "      pick             Succeeded\n"))
      << tree.out;
  CliResult mermaid = RunCli({"report", id, "--format", "mermaid"}, dir_.path());
  EXPECT_THAT(mermaid.out,
              HasSubstr("flowchart LR\n  s0[\"prepare<br/>Succeeded\"]:::Succeeded\n"));
  EXPECT_THAT(mermaid.out, HasSubstr("  s2 --> s3\n"));
  CliResult out = RunCli({"report", id, "-o", "-"}, dir_.path());
  EXPECT_THAT(out.out, ::testing::StartsWith("<!DOCTYPE html>"));
  EXPECT_EQ(RunCli({"report", "nope-1"}, dir_.path()).exit_code, 2);
}

// Retries are bars of their own; the failure is in the row and the node.
TEST_F(ReportBrowserTest, AFailedRunWithRetriesShowsEachAttempt) {
  WriteFile(dir_.path() + "/w.yaml",
            "apiVersion: portflow.dev/v1\nkind: Workload\nmetadata: {name: flaky}\nspec:\n"
            "  steps:\n"
            "    - name: flaky\n      retries: {limit: 2, backoff: 0s}\n"
            "      script: 'echo try $PORTFLOW_ATTEMPT; sleep 0.2; [ $PORTFLOW_ATTEMPT = 3 ]'\n"
            "    - name: broken\n      needs: [flaky]\n      retries: {limit: 1, backoff: 0s}\n"
            "      script: 'echo no model here; sleep 0.2; exit 3'\n"
            "    - {name: never, needs: [broken], command: ['true']}\n");
  CliResult run = RunCli({"run", "w.yaml", "-q"}, dir_.path());
  ASSERT_EQ(run.exit_code, 1) << run.err;
  std::string id = FirstLine(run.out);
  json status = Status(dir_.path(), id);
  json page = Report(id, "report-failed");
  ExpectThePageShowsTheRun(page, status);
  std::vector<int> flaky;
  for (const json& b : page["bars"])
    if (b["instance"] == "flaky") flaky.push_back(b["attempt"].get<int>());
  EXPECT_EQ(flaky, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(page["runState"], "Failed");
}

// A hybrid run: a lane a member, the cost total as status gives it, the
// placement decisions listed.
TEST_F(ReportBrowserTest, AHybridRunShowsItsMembersItsCostAndItsDecisions) {
  CopyScenario("laptop-dev", dir_.path());
  CliResult run =
      RunCli({"run", "pipeline.yaml", "--target", "hybrid-rehearsal", "-q"}, dir_.path());
  ASSERT_EQ(run.exit_code, 0) << run.err;
  std::string id = FirstLine(run.out);
  json status = Status(dir_.path(), id);
  json page = Report(id, "report-hybrid");
  ExpectThePageShowsTheRun(page, status);
  std::set<std::string> lanes;
  for (const json& l : page["lanes"]) lanes.insert(l.get<std::string>());
  EXPECT_EQ(lanes, (std::set<std::string>{"onprem", "cloud"}));
  ASSERT_TRUE(status["cost"].is_object());
  EXPECT_NEAR(page["costTotal"].get<double>(), status["cost"]["usd"].get<double>(), 1e-6);
  EXPECT_EQ(page["decisions"].get<size_t>(), status["decisions"].size());
  // The moved attempt waited on onprem (Unschedulable) and moved; the one
  // on the cloud waited for its node.
  std::set<std::string> reasons;
  int moves = 0;
  for (const json& i : page["data"]["instances"])
    for (const json& a : i["attemptList"]) {
      if (!a.contains("timeline")) continue;
      for (const json& w : a["timeline"]["waits"]) reasons.insert(w["reason"].get<std::string>());
      moves += static_cast<int>(a["timeline"]["moves"].size());
    }
  EXPECT_TRUE(reasons.count("Unschedulable")) << page["data"].dump();
  EXPECT_EQ(moves, 1);
}

// `portflow ui` while a run goes: the log page of a step that waits shows
// its next line once the step goes on, and the run's page shows the next
// step Running, then Succeeded, each without a reload; the first page
// lists the run. Then Ctrl-C stops the server cleanly.
TEST(UiBrowserTest, ThePagesFollowARunWithoutAReload) {
  TempDir dir;
  auto waits_for = [&](const std::string& name) {
    return "    - name: " + name + "\n      script: |\n        echo waiting for " + name +
           "\n        while [ ! -f " + dir.path() + "/release-" + name +
           " ]; do sleep 0.1; done\n        echo " + name + " released\n";
  };
  WriteFile(dir.path() + "/w.yaml",
            "apiVersion: portflow.dev/v1\nkind: Workload\nmetadata: {name: live}\nspec:\n"
            "  steps:\n" +
                waits_for("a") + waits_for("b") + "      needs: [a]\n");
  pid_t run = StartCli({"run", "w.yaml", "--plain"}, dir.path(), dir.path() + "/run.out",
                       dir.path() + "/run.err");
  pid_t ui =
      StartCli({"ui", "--port", "0"}, dir.path(), dir.path() + "/ui.out", dir.path() + "/ui.err");
  std::string url, id;
  ASSERT_TRUE(WaitFor(
      [&] {
        url = FirstLine(ReadFile(dir.path() + "/ui.out"));
        id = FirstLine(ReadFile(dir.path() + "/run.out"));
        return url.rfind("http://127.0.0.1:", 0) == 0 && !id.empty();
      },
      std::chrono::seconds(30)))
      << ReadFile(dir.path() + "/ui.err") << ReadFile(dir.path() + "/run.err");
  EXPECT_THAT(ReadFile(dir.path() + "/ui.err"), HasSubstr("(read-only; Ctrl-C stops it)"));

  json log =
      OpenInChromium(url + "runs/" + id + "/logs/a", "ui-log",
                     "--follow-log 'waiting for a' " + dir.path() + "/release-a 'a released'");
  EXPECT_EQ(log["reloaded"], false);
  ASSERT_EQ(log["logLines"].size(), 1u);
  EXPECT_THAT(log["logLines"][0].get<std::string>(), HasSubstr("waiting for a\na released\n"));

  // `report` of a run that goes is a snapshot: b waits, still Running.
  EXPECT_TRUE(WaitFor(
      [&] {
        const json st = Status(dir.path(), id);
        for (const json& i : st["instances"])
          if (i["name"] == "b") return i["state"] == "Running";
        return false;
      },
      std::chrono::seconds(30)));
  CliResult snapshot = RunCli({"report", id, "-o", "-"}, dir.path());
  EXPECT_EQ(snapshot.exit_code, 0) << snapshot.err;
  EXPECT_THAT(snapshot.out,
              HasSubstr("<tr class=\"instance\" data-instance=\"b\" data-state=\"Running\">"));

  json page = OpenInChromium(url + "runs/" + id, "ui-run",
                             "--follow b Running Succeeded " + dir.path() + "/release-b");
  EXPECT_EQ(page["seenBefore"], "Running");
  EXPECT_EQ(page["reloaded"], false) << "the state changed in place";
  EXPECT_EQ(WaitChild(run, std::chrono::seconds(60)), 0) << ReadFile(dir.path() + "/run.err");

  json runs = OpenInChromium(url, "ui-runs");
  ASSERT_EQ(runs["runs"].size(), 1u) << runs.dump();
  EXPECT_EQ(runs["runs"][0]["id"], id);
  EXPECT_EQ(runs["runs"][0]["state"], "Succeeded");
  ::kill(ui, SIGINT);
  EXPECT_EQ(WaitChild(ui, std::chrono::seconds(10)), 0);
}

// Only an address it is given takes it off loopback; a bad one is named.
TEST(UiBrowserTest, AnAddressThatIsNotOneIsRefused) {
  TempDir dir;
  CliResult bad = RunCli({"ui", "--address", "10.1.2", "--port", "0"}, dir.path());
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.err, HasSubstr("\"10.1.2\" is not an IP address"));
}

}  // namespace
}  // namespace portflow::testing
