// The report page: the run's header, its DAG, its timeline, its cost, the
// decisions of a hybrid target, and each instance with the end of its
// log, with the run's data embedded as JSON. Nothing is fetched from the
// network; `ui` adds a few lines of script that poll for the body.
#include "report/report.h"

#include <map>

#include "core/encoding.h"
#include "core/k8s_time.h"
#include "core/quantity.h"

namespace portflow::report {
namespace {

using json = nlohmann::json;

const char* kStyle = R"(
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1f2328;background:#f6f8fa}
header{background:#24292f;color:#fff;padding:14px 24px}
header h1{font-size:18px;margin:0 0 4px}header a{color:#9cd1ff}
header .meta span{margin-right:18px;color:#d0d7de}
main{padding:8px 24px 32px}
section{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:12px 16px;margin:14px 0;overflow-x:auto}
h2{font-size:15px;margin:0 0 10px}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;font-weight:600;font-size:12px}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eaeef2;vertical-align:top}
th{font-size:12px;color:#57606a}
pre{margin:4px 0;font-size:12px;background:#f6f8fa;padding:6px;border-radius:4px;white-space:pre-wrap;max-width:900px}
svg text{font:11px system-ui,sans-serif;fill:#1f2328}
.edge{fill:none;stroke:#8c959f;stroke-width:1.5}
.node{fill:#fff;stroke-width:1.5}
svg text.name{font-weight:600;font-size:13px}svg text.summary{fill:#57606a}svg text.fail{fill:#cf222e}
.lane-bg{fill:#f6f8fa}.lane-name{font-weight:600}.tick{stroke:#eaeef2}svg text.axis{fill:#8c959f;font-size:10px}
svg text.bar-label{fill:#fff;font-size:10px}svg text.wait-label{fill:#7d5a00;font-size:10px}
.mark.moved{fill:#8250df}svg text.mark.preempted{fill:#cf222e;font-weight:700}
.legend span{margin-right:14px;font-size:12px}.legend i{display:inline-block;width:12px;height:10px;margin-right:4px;vertical-align:middle}
.decisions li{margin:2px 0;font-size:13px}.decisions code{font-size:12px}
.muted{color:#57606a}
)";

std::string Badge(const std::string& state) {
  return "<span class=\"badge st-" + state + "\" data-state=\"" + state +
         "\" style=\"background:" + StateColour(state) + "\">" + Html(state) + "</span>";
}

std::string Usd(const json& v) { return v.is_number() ? FormatUsd(v.get<double>()) : "-"; }

}  // namespace

std::string Html(const std::string& text) { return XmlEscape(text); }

int64_t TimeMs(const json& object, const char* key) {
  std::optional<TimePoint> t = ParseK8sTime(object.value(key, ""));
  return t ? ToUnixMillis(*t) : 0;
}

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

std::string StateColour(const std::string& state) {
  static const std::map<std::string, std::string> colours = {
      {"Succeeded", "#1a7f37"}, {"Failed", "#cf222e"},   {"Running", "#0969da"},
      {"Pending", "#bf8700"},   {"Retrying", "#bc4c00"}, {"Waiting", "#8c959f"},
      {"Cancelled", "#6e7781"}, {"Skipped", "#afb8c1"},  {"Interrupted", "#8250df"}};
  auto it = colours.find(state);
  return it == colours.end() ? "#8c959f" : it->second;
}

std::string RenderBody(const json& doc, const PageOptions& options) {
  std::string state = doc.value("state", "");
  int64_t created = TimeMs(doc, "created"), finished = TimeMs(doc, "finished");
  int64_t end = finished ? finished : options.now_ms;
  std::string out = "<header><h1>";
  out += options.home_url.empty() ? "portflow"
                                  : "<a href=\"" + Html(options.home_url) + "\">portflow</a>";
  out += " · <span id=\"run-id\">" + Html(doc.value("id", "")) + "</span> " + Badge(state) +
         "</h1><div class=\"meta\"><span>workload " + Html(doc.value("workload", "")) + " (" +
         Html(doc.value("file", "")) + ")</span><span>target " + Html(doc.value("target", "")) +
         "</span><span>started " + Html(doc.value("created", "")) + "</span><span>duration " +
         (created && end >= created ? FormatElapsed(end - created) : "-") + "</span>";
  const json& cost = doc.contains("cost") ? doc["cost"] : json();
  if (cost.is_object())
    out += "<span>cost <b id=\"cost-total\" data-usd=\"" +
           (cost["usd"].is_number() ? std::to_string(cost["usd"].get<double>()) : "") + "\">" +
           Usd(cost["usd"]) + "</b></span>";
  out += "</div>";
  if (!doc.value("message", "").empty())
    out += "<div class=\"meta\"><span>" + Html(doc.value("message", "")) + "</span></div>";
  out += "</header><main>";

  out += "<section id=\"graph\"><h2>Steps</h2>" + DagSvg(doc) + "</section>";
  out += "<section id=\"timeline-section\"><h2>Timeline</h2><div class=\"legend\">";
  for (const char* s : {"Succeeded", "Failed", "Running", "Cancelled"})
    out += "<span><i style=\"background:" + StateColour(s) + "\"></i>" + s + "</span>";
  out +=
      "<span><i style=\"background:repeating-linear-gradient(45deg,#d9a520 0 3px,#fdf3dc 3px "
      "6px)\"></i>waiting (its reason)</span><span><i style=\"background:#8250df\"></i>moved "
      "to another member</span><span><b style=\"color:#cf222e\">✕</b> preempted</span></div>" +
      TimelineSvg(doc, options.now_ms) + "</section>";

  // Cost per step, where the target is priced.
  if (cost.is_object()) {
    out += "<section id=\"cost\"><h2>Cost</h2><table><tr><th>step</th><th>cost</th></tr>";
    std::map<std::string, double> by_step;
    std::vector<std::string> order;
    for (const json& i : doc["instances"]) {
      std::string step = i.value("step", "");
      if (!by_step.count(step)) order.push_back(step), by_step[step] = 0;
      for (const json& a : i["attemptList"])
        if (a["cost"].is_number()) by_step[step] += a["cost"].get<double>();
    }
    for (const std::string& s : order)
      out += "<tr data-step=\"" + Html(s) + "\"><td>" + Html(s) + "</td><td>" +
             (by_step[s] > 0 ? FormatUsd(by_step[s]) : "$0") + "</td></tr>";
    out += "<tr><th>total</th><th>" + Usd(cost["usd"]) + "</th></tr></table><p class=\"muted\">" +
           Html(cost.value("detail", "")) +
           " (a step's cost is what its attempts were billed; the total is the whole bill, "
           "nodes' idle time included)</p></section>";
  }
  if (!doc["decisions"].empty()) {
    out += "<section id=\"decisions\"><h2>Placement decisions</h2><ul class=\"decisions\">";
    for (const json& d : doc["decisions"])
      out += "<li data-type=\"" + Html(d.value("type", "")) + "\"><code>" +
             Html(d.value("time", "")) + "</code> " + Html(d.value("instance", "")) + " #" +
             std::to_string(d.value("attempt", 0)) + " → " + Html(d.value("message", "")) + "</li>";
    out += "</ul></section>";
  }
  out +=
      "<section id=\"instances\"><h2>Instances</h2><table><tr><th>instance</th><th>state</th>"
      "<th>attempts</th><th>exit</th><th>duration</th><th>where</th>" +
      std::string(cost.is_object() ? "<th>cost</th>" : "") + "<th>message and log</th></tr>";
  for (const json& i : doc["instances"]) {
    const json& attempts = i["attemptList"];
    const json last = attempts.empty() ? json::object() : attempts.back();
    std::string exit = "-";
    if (!last.value("finished", "").empty())
      exit = last.value("signal", 0) ? "signal " + std::to_string(last.value("signal", 0))
                                     : std::to_string(last.value("exitCode", 0));
    json usd;
    for (const json& a : attempts)
      if (a["cost"].is_number())
        usd = (usd.is_number() ? usd.get<double>() : 0) + a["cost"].get<double>();
    int64_t ms = i.value("durationMs", int64_t{0});
    std::string name = i.value("name", "");
    out += "<tr class=\"instance\" data-instance=\"" + Html(name) + "\" data-state=\"" +
           Html(i.value("state", "")) + "\"><td>" + Html(name) + "</td><td>" +
           Badge(i.value("state", "")) + "</td><td>" + std::to_string(i.value("attempts", 0)) +
           "</td><td class=\"exit\">" + exit + "</td><td>" + (ms ? FormatElapsed(ms) : "-") +
           "</td><td>" + Html(last.value("member", doc.value("target", ""))) + "</td>" +
           (cost.is_object() ? "<td>" + Usd(usd) + "</td>" : "") + "<td>" +
           Html(i.value("message", ""));
    if (i.contains("logTail") && !i["logTail"].empty()) {
      std::string tail;
      for (const json& line : i["logTail"]) tail += line.get<std::string>() + "\n";
      out += "<details><summary class=\"muted\">last lines of its log" +
             (options.live_url.empty()
                  ? std::string()
                  : " (<a href=\"" + Html(options.live_url.substr(0, options.live_url.rfind('/'))) +
                        "/logs/" + PercentEncode(name, false) + "\">follow it</a>)") +
             "</summary><pre>" + Html(tail) + "</pre></details>";
    }
    out += "</td></tr>";
  }
  out += "</table></section>";
  // The run's data, for scripts and people; no `<` in it, so nothing in it
  // can end the element or start another.
  std::string data = doc.dump(-1, ' ', false, json::error_handler_t::replace);
  std::string safe;
  for (char c : data) safe += c == '<' ? std::string("\\u003c") : std::string(1, c);
  out += "<script type=\"application/json\" id=\"portflow-run\">" + safe + "</script></main>";
  return out;
}

namespace {

// Puts the body `data-live` names in place each second, when it changed;
// quiet while the server is away.
const char* kFollowBody = R"(<script>
(function(){var url=document.body.dataset.live,last=null;
setInterval(function(){fetch(url,{cache:"no-store"}).then(function(r){return r.ok?r.text():null})
.then(function(t){if(t!==null&&t!==last){last=t;document.getElementById("report").innerHTML=t;}})
.catch(function(){});},1000);})();
</script>)";

// Puts the log text `data-live` names in #log-lines each second, kept
// scrolled to its end when it was there.
const char* kFollowLog = R"(<script>
(function(){var url=document.body.dataset.live,pre=document.getElementById("log-lines");
function look(){fetch(url,{cache:"no-store"}).then(function(r){return r.ok?r.text():null})
.then(function(t){if(t!==null&&t!==pre.textContent){var end=window.innerHeight+window.scrollY>=document.body.scrollHeight-4;
pre.textContent=t;if(end)window.scrollTo(0,document.body.scrollHeight);}}).catch(function(){});}
look();setInterval(look,1000);})();
</script>)";

// A page of `title` around `body` (inside <div id="report">); with
// `live_url`, followed from there by `script`.
std::string Page(const std::string& title, const std::string& body, const std::string& live_url,
                 const char* script) {
  std::string out = "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>" +
                    Html(title) + " · portflow</title>" +
                    "<link rel=\"icon\" href=\"data:,\"><style>" + kStyle + "</style></head><body";
  if (!live_url.empty()) out += " data-live=\"" + Html(live_url) + "\"";
  out += "><div id=\"report\">" + body + "</div>";
  if (!live_url.empty()) out += script;
  return out + "</body></html>\n";
}

}  // namespace

std::string RenderPage(const json& doc, const PageOptions& options) {
  return Page(doc.value("id", "run"), RenderBody(doc, options), options.live_url, kFollowBody);
}

std::string RenderRunListBody(const json& runs) {
  std::string out =
      "<header><h1>portflow · runs</h1><div class=\"meta\"><span>newest first; this page "
      "follows them as they go</span></div></header><main><section id=\"runs\"><table><tr>"
      "<th>run</th><th>workload</th><th>target</th><th>state</th><th>started</th>"
      "<th>duration</th><th>cost</th></tr>";
  for (const json& r : runs) {
    std::string id = r.value("id", ""), state = r.value("state", "");
    const json& cost = r.contains("cost") ? r["cost"] : json();
    out += "<tr class=\"run\" data-run=\"" + Html(id) + "\" data-state=\"" + Html(state) +
           "\"><td><a href=\"/runs/" + PercentEncode(id, false) + "\">" + Html(id) +
           "</a></td><td>" + Html(r.value("workload", "")) + "</td><td>" +
           Html(r.value("target", "")) + "</td><td>" + Badge(state) + "</td><td>" +
           Html(r.value("created", "")) + "</td><td>" +
           FormatElapsed(r.value("durationMs", int64_t{0})) + "</td><td>" +
           (cost.is_object() ? Usd(cost["usd"]) : "-") + "</td></tr>";
  }
  if (runs.empty())
    out +=
        "<tr><td colspan=\"7\" class=\"muted\">No runs in this folder's store yet: "
        "<code>portflow run WORKLOAD.yaml</code> makes one.</td></tr>";
  return out + "</table></section></main>";
}

std::string RenderRunList(const json& runs, const PageOptions& options) {
  return Page("runs", RenderRunListBody(runs), options.live_url, kFollowBody);
}

std::string RenderLogPage(const std::string& run_id, const std::string& instance,
                          const std::string& text_url, const std::string& run_url) {
  std::string body = "<header><h1><a href=\"/\">portflow</a> · <a href=\"" + Html(run_url) + "\">" +
                     Html(run_id) + "</a> · " + Html(instance) +
                     "</h1><div class=\"meta\"><span>its latest attempt's log, followed as it "
                     "grows</span></div></header><main><section><pre id=\"log-lines\"></pre>"
                     "</section></main>";
  return Page(instance + " · " + run_id, body, text_url, kFollowLog);
}

}  // namespace portflow::report
