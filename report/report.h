// Drawing a run: one self-contained HTML page (the DAG and the timeline as
// inline SVG, cost, decisions, each instance with the end of its log, the
// run's data embedded as JSON), Mermaid for Markdown, and an indented tree
// for the terminal. Each takes the run's document (cli/run_document.h,
// with its timeline and log tails for the page) and reads nothing else, so
// `report`, `ui` and `status --graph` draw a run the same way.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace portflow::report {

struct PageOptions {
  int64_t now_ms = 0;  // what a bar still open runs to (a running run)
  // `ui`: the URL the page polls for its body (RenderBody) to follow the
  // run without a reload, and the one its title links back to; "" for a
  // file.
  std::string live_url, home_url;
};

// The whole page.
std::string RenderPage(const nlohmann::json& doc, const PageOptions& options);
// What the page shows inside <main id="report">, its data included.
std::string RenderBody(const nlohmann::json& doc, const PageOptions& options);

// `ui`'s first page: the runs (each as cli::RunJson gives it, with
// "durationMs"), newest first, each linking to its page; its body alone
// for the page to poll.
std::string RenderRunListBody(const nlohmann::json& runs);
std::string RenderRunList(const nlohmann::json& runs, const PageOptions& options);
// `ui`'s page of one instance's log, followed live from `text_url`.
std::string RenderLogPage(const std::string& run_id, const std::string& instance,
                          const std::string& text_url, const std::string& run_url);

// flowchart LR: a node a step, coloured by its state, its instances counted.
std::string RenderMermaid(const nlohmann::json& doc);
// Each step under the step it needs first, indented, with its state and
// its instances' (when it has more than one, or any retried).
std::string RenderTree(const nlohmann::json& doc);

// The DAG as SVG (dag.cc) and the timeline as SVG (timeline.cc).
std::string DagSvg(const nlohmann::json& doc);
std::string TimelineSvg(const nlohmann::json& doc, int64_t now_ms);

// For the parts: text safe in HTML and in attributes; a state's colour; a
// document's time (RFC 3339) as Unix milliseconds, 0 when absent; a
// coordinate to a tenth.
std::string Html(const std::string& text);
int64_t TimeMs(const nlohmann::json& object, const char* key);
std::string Num(double v);
std::string StateColour(const std::string& state);

}  // namespace portflow::report
