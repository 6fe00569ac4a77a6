// The report's parts from a run's document written by hand: what the DAG,
// the timeline, Mermaid and the tree show of each instance and attempt.
#include "report/report.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <regex>

namespace portflow::report {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

json Attempt(int n, const std::string& state, const std::string& started,
             const std::string& finished, const std::string& member = "") {
  json a = {{"attempt", n},
            {"state", state},
            {"exitCode", state == "Failed" ? 3 : 0},
            {"signal", 0},
            {"reason", state == "Failed" ? "Error" : "Completed"},
            {"message", ""},
            {"cost", nullptr},
            {"started", started},
            {"finished", finished}};
  if (!member.empty()) a["member"] = member;
  return a;
}

// prepare -> train (two instances, one retried, the second moved to the
// cloud after waiting) -> pick, which failed.
json Doc() {
  json doc = {{"id", "w-1"},
              {"workload", "w"},
              {"file", "w.yaml"},
              {"target", "hybrid"},
              {"state", "Failed"},
              {"message", ""},
              {"created", "2026-12-06T10:00:00.000Z"},
              {"finished", "2026-12-06T10:02:00.000Z"},
              {"cost", {{"usd", 0.25}, {"detail", "d"}}}};
  doc["steps"] = {{{"name", "prepare"}, {"needs", json::array()}, {"instances", {"prepare"}}},
                  {{"name", "train"},
                   {"needs", {"prepare"}},
                   {"instances", {"train[lr=0.1]", "train[lr=0.01]"}}},
                  {{"name", "pick"}, {"needs", {"train"}}, {"instances", {"pick"}}}};
  json prepare = {{"name", "prepare"}, {"step", "prepare"},   {"state", "Succeeded"},
                  {"attempts", 1},     {"durationMs", 10000}, {"message", ""}};
  prepare["attemptList"] = {
      Attempt(1, "Succeeded", "2026-12-06T10:00:00.000Z", "2026-12-06T10:00:10.000Z", "onprem")};
  json fast = {{"name", "train[lr=0.1]"}, {"step", "train"},     {"state", "Succeeded"},
               {"attempts", 2},           {"durationMs", 50000}, {"message", ""}};
  fast["attemptList"] = {
      Attempt(1, "Failed", "2026-12-06T10:00:10.000Z", "2026-12-06T10:00:20.000Z", "onprem"),
      Attempt(2, "Succeeded", "2026-12-06T10:00:30.000Z", "2026-12-06T10:01:00.000Z", "onprem")};
  json moved = {{"name", "train[lr=0.01]"}, {"step", "train"},
                {"state", "Succeeded"},     {"attempts", 2},
                {"durationMs", 60000},      {"message", ""}};
  json withdrawn = Attempt(1, "Cancelled", "", "2026-12-06T10:00:40.000Z", "onprem");
  withdrawn["reason"] = "Moved";
  withdrawn["timeline"] = {
      {"queued", "2026-12-06T10:00:10.000Z"},
      {"waits", {{{"from", "2026-12-06T10:00:11.000Z"}, {"to", ""}, {"reason", "Unschedulable"}}}},
      {"moves", {{{"time", "2026-12-06T10:00:40.000Z"}, {"message", "onprem -> cloud"}}}}};
  json on_cloud =
      Attempt(2, "Succeeded", "2026-12-06T10:01:00.000Z", "2026-12-06T10:01:40.000Z", "cloud");
  on_cloud["cost"] = 0.2;
  on_cloud["timeline"] = {{"queued", "2026-12-06T10:00:40.000Z"},
                          {"waits",
                           {{{"from", "2026-12-06T10:00:41.000Z"},
                             {"to", "2026-12-06T10:01:00.000Z"},
                             {"reason", "Provisioning"}}}},
                          {"moves", json::array()}};
  moved["attemptList"] = {withdrawn, on_cloud};
  json pick = {{"name", "pick"}, {"step", "pick"},     {"state", "Failed"},
               {"attempts", 1},  {"durationMs", 5000}, {"message", "exit code 3"}};
  pick["attemptList"] = {
      Attempt(1, "Failed", "2026-12-06T10:01:50.000Z", "2026-12-06T10:01:55.000Z", "onprem")};
  pick["logTail"] = {"reading </script><script>alert(1)</script>", "no best model"};
  doc["instances"] = {prepare, fast, moved, pick};
  doc["decisions"] = {{{"time", "2026-12-06T10:00:40.000Z"},
                       {"instance", "train[lr=0.01]"},
                       {"attempt", 1},
                       {"type", "Moved"},
                       {"message", "onprem -> cloud: waited"}}};
  return doc;
}

// The value of attribute `name` in each element of `svg` that has it, in order.
std::vector<std::string> Attributes(const std::string& svg, const std::string& element,
                                    const std::string& name) {
  std::vector<std::string> out;
  std::regex re("<" + element + "[^>]* " + name + "=\"([^\"]*)\"");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), re); it != std::sregex_iterator();
       ++it)
    out.push_back((*it)[1]);
  return out;
}

TEST(ReportTest, TheDagShowsEveryInstanceWithItsStateAndWhyAStepFailed) {
  std::string svg = DagSvg(Doc());
  EXPECT_EQ(Attributes(svg, "g", "data-step"),
            (std::vector<std::string>{"prepare", "train", "pick"}));
  EXPECT_EQ(Attributes(svg, "g", "data-state"),
            (std::vector<std::string>{"Succeeded", "Succeeded", "Failed"}));
  EXPECT_EQ(Attributes(svg, "rect class=\"chip\"", "data-instance"),
            (std::vector<std::string>{"train[lr=0.1]", "train[lr=0.01]"}));
  EXPECT_THAT(svg, HasSubstr("train[lr=0.1]: Succeeded, 2 attempts</title>"));
  EXPECT_THAT(svg, HasSubstr(">exit 3 (Error)</text>")) << "the failing reason beside the node";
  EXPECT_THAT(svg, HasSubstr(">2 Succeeded</text>"));
  // Layers left to right: each step right of what it needs.
  std::vector<std::string> xs = Attributes(svg, "text class=\"name\"", "x");
  ASSERT_EQ(xs.size(), 3u);
  EXPECT_LT(std::stod(xs[0]), std::stod(xs[1]));
  EXPECT_LT(std::stod(xs[1]), std::stod(xs[2]));
  EXPECT_EQ(Attributes(svg, "path class=\"edge\"", "d").size(), 2u);
}

TEST(ReportTest, TheTimelineHasALaneAMemberAndABarAnAttemptInTheOrderTheyStarted) {
  std::string svg = TimelineSvg(Doc(), 0);
  EXPECT_EQ(Attributes(svg, "g class=\"lane\"", "data-lane"),
            (std::vector<std::string>{"onprem", "cloud"}));
  std::vector<std::string> starts = Attributes(svg, "g class=\"bar\"", "data-start");
  ASSERT_EQ(starts.size(), 6u) << "every attempt, the withdrawn one too";
  EXPECT_TRUE(std::is_sorted(starts.begin(), starts.end(),
                             [](auto& a, auto& b) { return std::stoll(a) < std::stoll(b); }));
  EXPECT_EQ(Attributes(svg, "g class=\"bar\"", "data-instance").back(), "pick");
  // The wait is hatched and says why; the move and the retry are shown.
  EXPECT_THAT(svg, HasSubstr("fill=\"url(#hatch)\""));
  EXPECT_THAT(svg, HasSubstr(">Unschedulable</text>"));
  EXPECT_THAT(svg, HasSubstr(">Provisioning</text>"));
  EXPECT_THAT(svg, HasSubstr("class=\"mark moved\""));
  EXPECT_THAT(svg, HasSubstr("train[lr=0.1] #2 on onprem: Succeeded"));
  EXPECT_THAT(svg, Not(HasSubstr("class=\"mark preempted\"")));
  // A spot node taken back: its attempt is marked where it ended.
  json doc = Doc();
  doc["instances"][0]["attemptList"][0]["reason"] = "Preempted";
  doc["instances"][0]["attemptList"][0]["state"] = "Failed";
  EXPECT_THAT(TimelineSvg(doc, 0), HasSubstr("class=\"mark preempted\""));
}

TEST(ReportTest, ThePageEmbedsTheRunAndEscapesWhatItShows) {
  std::string page = RenderPage(Doc(), {});
  EXPECT_THAT(page, HasSubstr("<script type=\"application/json\" id=\"portflow-run\">"));
  EXPECT_THAT(page, HasSubstr("reading &lt;/script&gt;&lt;script&gt;alert(1)"));
  EXPECT_EQ(page.find("<script>alert"), std::string::npos) << "not in the data either";
  EXPECT_NE(page.find("\\u003cscript>alert(1)"), std::string::npos);
  EXPECT_THAT(page, HasSubstr("id=\"cost-total\" data-usd=\"0.250000\">$0.2500</b>"));
  EXPECT_THAT(page, HasSubstr("<tr data-step=\"train\"><td>train</td><td>$0.2000</td></tr>"));
  EXPECT_THAT(page, HasSubstr("onprem -&gt; cloud: waited"));
  EXPECT_FALSE(std::regex_search(page, std::regex("https?://(?!www\\.w3\\.org/2000/svg\")")))
      << "nothing is fetched, no link out";
  EXPECT_EQ(page.find("<script>"), std::string::npos) << "no script in a file";
  std::string live = RenderPage(Doc(), {0, "/runs/w-1/body", "/"});
  EXPECT_THAT(live, HasSubstr("data-live=\"/runs/w-1/body\""));
  EXPECT_THAT(live, HasSubstr("<script>"));
}

TEST(ReportTest, MermaidAndTheTreeDrawTheSameGraph) {
  EXPECT_EQ(RenderMermaid(Doc()),
            "flowchart LR\n"
            "  s0[\"prepare<br/>Succeeded\"]:::Succeeded\n"
            "  s1[\"train<br/>2 Succeeded\"]:::Succeeded\n"
            "  s2[\"pick<br/>Failed\"]:::Failed\n"
            "  s0 --> s1\n"
            "  s1 --> s2\n"
            "  classDef Failed fill:#cf222e,color:#fff,stroke:#333\n"
            "  classDef Succeeded fill:#1a7f37,color:#fff,stroke:#333\n");
  EXPECT_EQ(RenderTree(Doc()),
            "prepare                Succeeded\n"
            "  train                2 Succeeded\n"
            "    - train[lr=0.1]    Succeeded  2 attempts\n"
            "    - train[lr=0.01]   Succeeded  2 attempts\n"
            "    pick               Failed\n");
}

}  // namespace
}  // namespace portflow::report
