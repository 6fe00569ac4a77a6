// The run's timeline (a Gantt chart): a lane per place attempts ran (a
// hybrid target's members, else the target), each attempt a bar: its wait
// hatched and labelled with the reasons it was given (Unschedulable,
// Provisioning, QuotaWait...), then its run coloured by how it ended;
// moves and preemptions marked, retries numbered. Bars are drawn in the
// order they started.
#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <set>

#include "core/clock.h"
#include "core/k8s_time.h"
#include "report/report.h"

namespace portflow::report {
namespace {

using json = nlohmann::json;

constexpr double kPlot = 900, kLaneLabel = 110, kRow = 18, kLaneGap = 10, kTop = 26;

struct Bar {
  std::string lane, instance, state, reason, waits, moved;
  int attempt = 0;
  int64_t queued = 0, started = 0, ended = 0;
};

// "+90s", "+2m30s": a tick's offset from the run's start.
std::string Offset(int64_t ms) {
  int64_t s = ms / 1000;
  if (s < 60) return "+" + std::to_string(s) + "s";
  if (s < 3600)
    return "+" + std::to_string(s / 60) + "m" + (s % 60 ? std::to_string(s % 60) + "s" : "");
  return "+" + std::to_string(s / 3600) + "h" +
         (s % 3600 / 60 ? std::to_string(s % 3600 / 60) + "m" : "");
}

}  // namespace

std::string TimelineSvg(const json& doc, int64_t now_ms) {
  std::vector<Bar> bars;
  std::string target = doc.value("target", "");
  for (const json& i : doc["instances"]) {
    for (const json& a : i["attemptList"]) {
      Bar b;
      b.lane = a.value("member", target);
      b.instance = i.value("name", "");
      b.attempt = a.value("attempt", 0);
      b.state = a.value("state", "");
      b.reason = a.value("reason", "");
      b.started = TimeMs(a, "started");
      b.ended = TimeMs(a, "finished");
      b.queued = b.started;
      std::set<std::string> reasons;
      if (a.contains("timeline")) {
        const json& t = a["timeline"];
        if (int64_t q = TimeMs(t, "queued")) b.queued = q;
        // It ran from when it was seen running (its start is its submit);
        // until then it waited. Never seen running: it waited throughout,
        // unless it succeeded (too quick for a look to see it run).
        if (int64_t r = TimeMs(t, "running")) {
          b.started = r;
        } else if (b.state != "Succeeded") {
          b.started = 0;
        }
        for (const json& w : t["waits"]) {
          std::string r = w.value("reason", "");
          if (!r.empty() && !reasons.count(r)) {
            reasons.insert(r);
            b.waits += (b.waits.empty() ? "" : ", ") + r;
          }
        }
        for (const json& m : t["moves"]) b.moved = m.value("message", "");
      }
      if (!b.queued) continue;  // never placed: nothing to draw
      if (!b.ended) b.ended = std::max(now_ms, std::max(b.queued, b.started));
      bars.push_back(std::move(b));
    }
  }
  std::stable_sort(bars.begin(), bars.end(), [](const Bar& x, const Bar& y) {
    return std::max(x.queued, x.started) < std::max(y.queued, y.started);
  });
  if (bars.empty()) return "<p class=\"empty\">No attempt has been placed yet.</p>";
  int64_t t0 = bars[0].queued, t1 = t0 + 1;
  for (const Bar& b : bars) t0 = std::min(t0, b.queued), t1 = std::max(t1, b.ended);
  auto X = [&](int64_t t) {
    return kLaneLabel + kPlot * static_cast<double>(t - t0) / static_cast<double>(t1 - t0);
  };
  // Lanes in the order they were first used; rows within a lane packed so
  // that bars never overlap.
  std::vector<std::string> lanes;
  std::map<std::string, std::vector<int64_t>> row_ends;  // by lane
  std::vector<int> row(bars.size());
  for (size_t k = 0; k < bars.size(); ++k) {
    const Bar& b = bars[k];
    if (!row_ends.count(b.lane)) lanes.push_back(b.lane);
    std::vector<int64_t>& ends = row_ends[b.lane];
    size_t r = 0;
    while (r < ends.size() && ends[r] > b.queued) ++r;
    if (r == ends.size()) ends.push_back(0);
    ends[r] = b.ended;
    row[k] = static_cast<int>(r);
  }
  std::map<std::string, double> lane_top;
  double y = kTop;
  for (const std::string& l : lanes) {
    lane_top[l] = y;
    y += static_cast<double>(row_ends[l].size()) * kRow + kLaneGap;
  }
  double height = y + 4, width = kLaneLabel + kPlot + 50;
  std::string out = "<svg id=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" width=\"" +
                    Num(width) + "\" height=\"" + Num(height) + "\" viewBox=\"0 0 " + Num(width) +
                    " " + Num(height) + "\">";
  out +=
      "<defs><pattern id=\"hatch\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" "
      "patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" fill=\"#fdf3dc\"/>"
      "<line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"#d9a520\" stroke-width=\"3\"/>"
      "</pattern></defs>";
  // Ticks: 1, 2 or 5 times a power of ten seconds, about eight of them.
  double span_s = static_cast<double>(t1 - t0) / 1000.0;
  double step = std::pow(10.0, std::floor(std::log10(std::max(span_s / 8, 0.001))));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (span_s / (step * m) <= 10) {
      step *= m;
      break;
    }
  for (double s = 0; s <= span_s + 1e-9; s += step) {
    double tx = X(t0 + static_cast<int64_t>(s * 1000));
    out += "<line class=\"tick\" x1=\"" + Num(tx) + "\" y1=\"" + Num(kTop - 6) + "\" x2=\"" +
           Num(tx) + "\" y2=\"" + Num(height) + "\"/><text class=\"axis\" x=\"" + Num(tx + 2) +
           "\" y=\"" + Num(kTop - 10) + "\">" +
           (step >= 1      ? Offset(static_cast<int64_t>(std::llround(s * 1000)))
            : s < 1 - 1e-9 ? "+" + std::to_string(std::llround(s * 1000)) + "ms"
                           : "+" + Num(s) + "s") +
           "</text>";
  }
  for (const std::string& l : lanes) {
    double top = lane_top[l], h = static_cast<double>(row_ends[l].size()) * kRow;
    out += "<g class=\"lane\" data-lane=\"" + Html(l) + "\"><rect class=\"lane-bg\" x=\"0\" y=\"" +
           Num(top - 2) + "\" width=\"" + Num(width) + "\" height=\"" + Num(h + 4) +
           "\"/><text class=\"lane-name\" x=\"6\" y=\"" + Num(top + 13) + "\">" + Html(l) +
           "</text></g>";
  }
  for (size_t k = 0; k < bars.size(); ++k) {
    const Bar& b = bars[k];
    double top = lane_top[b.lane] + row[k] * kRow;
    int64_t run_from = b.started ? b.started : b.ended;  // never started: all of it waited
    std::string label = b.instance + (b.attempt > 1 ? " #" + std::to_string(b.attempt) : "");
    std::string title = label + " on " + b.lane + ": " + b.state;
    if (!b.reason.empty() && b.reason != "Completed") title += " (" + b.reason + ")";
    if (!b.waits.empty()) title += "; waited: " + b.waits;
    if (!b.moved.empty()) title += "; moved: " + b.moved;
    out += "<g class=\"bar\" data-instance=\"" + Html(b.instance) + "\" data-attempt=\"" +
           std::to_string(b.attempt) + "\" data-lane=\"" + Html(b.lane) + "\" data-state=\"" +
           b.state + "\" data-start=\"" + std::to_string(std::max(b.queued, b.started)) +
           "\"><title>" + Html(title) + "</title>";
    double wx = X(b.queued), rx = X(run_from), ex = X(b.ended);
    if (run_from > b.queued) {
      out += "<rect class=\"wait\" x=\"" + Num(wx) + "\" y=\"" + Num(top) + "\" width=\"" +
             Num(std::max(1.0, rx - wx)) + "\" height=\"" + Num(kRow - 4) +
             "\" fill=\"url(#hatch)\"/>";
      if (!b.waits.empty() && rx - wx > 7.0 * static_cast<double>(b.waits.size()))
        out += "<text class=\"wait-label\" x=\"" + Num(wx + 3) + "\" y=\"" + Num(top + 10) + "\">" +
               Html(b.waits) + "</text>";
    }
    if (b.started) {
      out += "<rect class=\"run\" x=\"" + Num(rx) + "\" y=\"" + Num(top) + "\" width=\"" +
             Num(std::max(1.5, ex - rx)) + "\" height=\"" + Num(kRow - 4) +
             "\" style=\"fill:" + StateColour(b.state) + "\"/>";
      if (ex - rx > 7.0 * static_cast<double>(label.size()))
        out += "<text class=\"bar-label\" x=\"" + Num(rx + 3) + "\" y=\"" + Num(top + 10) + "\">" +
               Html(label) + "</text>";
    }
    if (!b.moved.empty())
      out +=
          "<path class=\"mark moved\" d=\"M" + Num(ex) + " " + Num(top - 1) + " l6 7 l-6 7 z\"/>";
    if (b.reason == "Preempted")
      out += "<text class=\"mark preempted\" x=\"" + Num(ex + 1) + "\" y=\"" + Num(top + 11) +
             "\">✕</text>";
    out += "</g>";
  }
  return out + "</svg>";
}

}  // namespace portflow::report
