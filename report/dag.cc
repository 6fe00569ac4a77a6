// The run's DAG: laid out by portflow in layers (a step one layer right of
// the last step it needs), steps as boxes coloured by state, a matrix's
// instances as chips inside their step's box; and the same graph as
// Mermaid and as an indented tree.
#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "report/report.h"

namespace portflow::report {
namespace {

using json = nlohmann::json;

constexpr int kNodeWidth = 200, kHeader = 36, kChip = 10, kChipGap = 3, kChipsPerRow = 15;
constexpr int kLayerGap = 70, kNodeGap = 22, kMargin = 16, kLine = 14;

const char* kOrder[] = {"Failed",  "Running",   "Pending", "Retrying",
                        "Waiting", "Cancelled", "Skipped", "Succeeded"};

std::map<std::string, const json*> InstancesByName(const json& doc) {
  std::map<std::string, const json*> out;
  for (const json& i : doc["instances"]) out[i.value("name", "")] = &i;
  return out;
}

std::string InstanceState(const std::map<std::string, const json*>& by_name,
                          const std::string& name) {
  auto it = by_name.find(name);
  return it == by_name.end() ? "Waiting" : it->second->value("state", "Waiting");
}

// "2 Succeeded, 1 Failed" for a step of several instances; the state alone
// for one.
std::string Summary(const std::map<std::string, const json*>& by_name, const json& step) {
  std::map<std::string, int> count;
  for (const json& n : step["instances"]) ++count[InstanceState(by_name, n.get<std::string>())];
  if (step["instances"].size() <= 1) return count.empty() ? "Waiting" : count.begin()->first;
  std::string out;
  for (const char* s : kOrder)
    if (count.count(s)) out += (out.empty() ? "" : ", ") + std::to_string(count[s]) + " " + s;
  return out;
}

// Why the first failed instance of `step` failed: "exit 1 (Error)".
std::string FailNote(const std::map<std::string, const json*>& by_name, const json& step) {
  for (const json& n : step["instances"]) {
    auto it = by_name.find(n.get<std::string>());
    if (it == by_name.end() || it->second->value("state", "") != "Failed") continue;
    const json& attempts = (*it->second)["attemptList"];
    std::string out = step["instances"].size() > 1 ? n.get<std::string>() + ": " : "";
    if (!attempts.empty()) {
      const json& a = attempts.back();
      out += a.value("signal", 0) ? "signal " + std::to_string(a.value("signal", 0))
                                  : "exit " + std::to_string(a.value("exitCode", 0));
      if (!a.value("reason", "").empty()) out += " (" + a.value("reason", "") + ")";
    } else {
      out += it->second->value("message", "failed");
    }
    return out;
  }
  return "";
}

// The state of `step` from its instances': the one that matters most
// (Failed, then Running, Pending, Retrying, Waiting, Cancelled, Skipped,
// Succeeded).
std::string StepState(const std::map<std::string, const json*>& by_name, const json& step) {
  std::set<std::string> states;
  for (const json& n : step["instances"])
    states.insert(InstanceState(by_name, n.get<std::string>()));
  for (const char* s : kOrder)
    if (states.count(s)) return s;
  return states.empty() ? "Waiting" : *states.begin();
}

// Each step's layer: one right of the last step it needs.
std::vector<int> Layers(const json& steps) {
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < steps.size(); ++i) index[steps[i].value("name", "")] = i;
  std::vector<int> layer(steps.size(), -1);
  // Steps are checked to form no cycle; a bound keeps a bad store finite.
  for (size_t pass = 0; pass <= steps.size(); ++pass) {
    bool changed = false;
    for (size_t i = 0; i < steps.size(); ++i) {
      int l = 0;
      for (const json& n : steps[i]["needs"]) {
        auto it = index.find(n.get<std::string>());
        if (it != index.end()) l = std::max(l, layer[it->second] + 1);
      }
      if (l != layer[i]) layer[i] = l, changed = true;
    }
    if (!changed) break;
  }
  return layer;
}

}  // namespace

std::string DagSvg(const json& doc) {
  const json& steps = doc["steps"];
  auto by_name = InstancesByName(doc);
  std::vector<int> layer = Layers(steps);
  int layers = steps.empty() ? 0 : *std::max_element(layer.begin(), layer.end()) + 1;
  // Within a layer: by where the steps they need are (their mean row), then
  // in the workload's order.
  std::vector<std::vector<size_t>> rows(static_cast<size_t>(layers));
  std::map<std::string, double> row_of;
  std::vector<double> x(steps.size()), y(steps.size()), h(steps.size());
  for (int l = 0; l < layers; ++l) {
    std::vector<std::pair<double, size_t>> order;
    for (size_t i = 0; i < steps.size(); ++i) {
      if (layer[i] != l) continue;
      double sum = 0;
      int n = 0;
      for (const json& need : steps[i]["needs"])
        if (row_of.count(need.get<std::string>())) sum += row_of[need.get<std::string>()], ++n;
      order.push_back({n ? sum / n : static_cast<double>(i), i});
    }
    std::stable_sort(order.begin(), order.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    double top = kMargin;
    for (size_t r = 0; r < order.size(); ++r) {
      size_t i = order[r].second;
      row_of[steps[i].value("name", "")] = static_cast<double>(r);
      size_t count = steps[i]["instances"].size();
      double chips =
          count > 1 ? std::ceil(static_cast<double>(count) / kChipsPerRow) * (kChip + kChipGap) + 6
                    : 0;
      double note = FailNote(by_name, steps[i]).empty() ? 0 : kLine;
      x[i] = kMargin + l * (kNodeWidth + kLayerGap);
      y[i] = top;
      h[i] = kHeader + chips + note;
      top += h[i] + kNodeGap;
    }
  }
  double width = kMargin * 2 + std::max(1, layers) * (kNodeWidth + kLayerGap) - kLayerGap;
  double height = kMargin;
  for (size_t i = 0; i < steps.size(); ++i) height = std::max(height, y[i] + h[i] + kMargin);

  std::map<std::string, size_t> index;
  for (size_t i = 0; i < steps.size(); ++i) index[steps[i].value("name", "")] = i;
  std::string out = "<svg id=\"dag\" xmlns=\"http://www.w3.org/2000/svg\" width=\"" + Num(width) +
                    "\" height=\"" + Num(height) + "\" viewBox=\"0 0 " + Num(width) + " " +
                    Num(height) + "\">";
  for (size_t i = 0; i < steps.size(); ++i) {
    for (const json& need : steps[i]["needs"]) {
      auto from = index.find(need.get<std::string>());
      if (from == index.end()) continue;
      size_t f = from->second;
      double x1 = x[f] + kNodeWidth, y1 = y[f] + kHeader / 2.0, x2 = x[i],
             y2 = y[i] + kHeader / 2.0;
      out += "<path class=\"edge\" d=\"M" + Num(x1) + " " + Num(y1) + " C" + Num(x1 + 35) + " " +
             Num(y1) + " " + Num(x2 - 35) + " " + Num(y2) + " " + Num(x2) + " " + Num(y2) + "\"/>";
    }
  }
  for (size_t i = 0; i < steps.size(); ++i) {
    const json& step = steps[i];
    std::string name = step.value("name", "");
    std::string state = StepState(by_name, step);
    bool single = step["instances"].size() == 1;
    std::string single_name = single ? step["instances"][0].get<std::string>() : "";
    out += "<g class=\"step\" data-step=\"" + Html(name) + "\" data-state=\"" + state + "\"";
    if (single) out += " data-instance=\"" + Html(single_name) + "\"";
    out += "><title>" + Html(name + ": " + Summary(by_name, step));
    if (single) {
      auto it = by_name.find(single_name);
      if (it != by_name.end()) {
        int attempts = it->second->value("attempts", 0);
        if (attempts > 1) out += Html(", " + std::to_string(attempts) + " attempts");
        if (!it->second->value("message", "").empty())
          out += Html("\n" + it->second->value("message", ""));
      }
    }
    out += "</title><rect class=\"node st-" + state + "\" x=\"" + Num(x[i]) + "\" y=\"" +
           Num(y[i]) + "\" width=\"" + std::to_string(kNodeWidth) + "\" height=\"" + Num(h[i]) +
           "\" rx=\"6\" style=\"stroke:" + StateColour(state) + "\"/>";
    out += "<rect x=\"" + Num(x[i]) + "\" y=\"" + Num(y[i]) + "\" width=\"6\" height=\"" +
           Num(h[i]) + "\" rx=\"3\" style=\"fill:" + StateColour(state) + "\"/>";
    out += "<text class=\"name\" x=\"" + Num(x[i] + 14) + "\" y=\"" + Num(y[i] + 15) + "\">" +
           Html(name) + "</text>";
    std::string summary = Summary(by_name, step);
    if (single) {
      auto it = by_name.find(single_name);
      int attempts = it == by_name.end() ? 0 : it->second->value("attempts", 0);
      if (attempts > 1) summary += " · " + std::to_string(attempts) + " attempts";
    }
    out += "<text class=\"summary\" x=\"" + Num(x[i] + 14) + "\" y=\"" + Num(y[i] + 29) + "\">" +
           Html(summary) + "</text>";
    if (!single) {
      size_t k = 0;
      for (const json& n : step["instances"]) {
        std::string inst = n.get<std::string>();
        std::string st = InstanceState(by_name, inst);
        double cx = x[i] + 14 + static_cast<double>(k % kChipsPerRow) * (kChip + kChipGap);
        double cy = y[i] + kHeader + static_cast<double>(k / kChipsPerRow) * (kChip + kChipGap);
        auto it = by_name.find(inst);
        int attempts = it == by_name.end() ? 0 : it->second->value("attempts", 0);
        out += "<rect class=\"chip\" data-instance=\"" + Html(inst) + "\" data-state=\"" + st +
               "\" x=\"" + Num(cx) + "\" y=\"" + Num(cy) + "\" width=\"" + std::to_string(kChip) +
               "\" height=\"" + std::to_string(kChip) +
               "\" rx=\"2\" style=\"fill:" + StateColour(st) + "\"><title>" +
               Html(inst + ": " + st +
                    (attempts > 1 ? ", " + std::to_string(attempts) + " attempts" : "") +
                    (it != by_name.end() && !it->second->value("message", "").empty()
                         ? "\n" + it->second->value("message", "")
                         : "")) +
               "</title></rect>";
        ++k;
      }
    }
    std::string note = FailNote(by_name, step);
    if (!note.empty())
      out += "<text class=\"fail\" x=\"" + Num(x[i] + 14) + "\" y=\"" + Num(y[i] + h[i] - 5) +
             "\">" + Html(note) + "</text>";
    out += "</g>";
  }
  return out + "</svg>";
}

std::string RenderMermaid(const json& doc) {
  auto by_name = InstancesByName(doc);
  const json& steps = doc["steps"];
  std::map<std::string, std::string> id;
  for (size_t i = 0; i < steps.size(); ++i)
    id[steps[i].value("name", "")] = "s" + std::to_string(i);
  std::string out = "flowchart LR\n";
  std::set<std::string> used;
  for (size_t i = 0; i < steps.size(); ++i) {
    std::string label = steps[i].value("name", "") + "<br/>" + Summary(by_name, steps[i]);
    std::string safe;
    for (char c : label) safe += c == '"' ? std::string("#quot;") : std::string(1, c);
    std::string state = StepState(by_name, steps[i]);
    used.insert(state);
    out += "  s" + std::to_string(i) + "[\"" + safe + "\"]:::" + state + "\n";
  }
  for (size_t i = 0; i < steps.size(); ++i)
    for (const json& need : steps[i]["needs"])
      if (id.count(need.get<std::string>()))
        out += "  " + id[need.get<std::string>()] + " --> s" + std::to_string(i) + "\n";
  for (const std::string& state : used)
    out += "  classDef " + state + " fill:" + StateColour(state) + ",color:#fff,stroke:#333\n";
  return out;
}

std::string RenderTree(const json& doc) {
  auto by_name = InstancesByName(doc);
  const json& steps = doc["steps"];
  std::map<std::string, std::vector<size_t>> children;  // under the first step each needs
  std::vector<size_t> roots;
  std::map<std::string, bool> known;
  for (const json& s : steps) known[s.value("name", "")] = true;
  for (size_t i = 0; i < steps.size(); ++i) {
    const json& needs = steps[i]["needs"];
    if (needs.empty() || !known.count(needs[0].get<std::string>()))
      roots.push_back(i);
    else
      children[needs[0].get<std::string>()].push_back(i);
  }
  std::vector<std::pair<std::string, std::string>> lines;  // text, state column
  std::function<void(size_t, const std::string&)> walk = [&](size_t i, const std::string& indent) {
    const json& step = steps[i];
    std::string name = step.value("name", "");
    std::string also;
    for (size_t k = 1; k < step["needs"].size(); ++k)
      also += (also.empty() ? "  (also needs " : ", ") + step["needs"][k].get<std::string>();
    if (!also.empty()) also += ")";
    lines.push_back({indent + name, Summary(by_name, step) + also});
    bool show = step["instances"].size() > 1;
    for (const json& n : step["instances"]) {
      auto it = by_name.find(n.get<std::string>());
      if (it != by_name.end() && it->second->value("attempts", 0) > 1) show = true;
    }
    if (show) {
      for (const json& n : step["instances"]) {
        auto it = by_name.find(n.get<std::string>());
        int attempts = it == by_name.end() ? 0 : it->second->value("attempts", 0);
        std::string more = attempts > 1 ? "  " + std::to_string(attempts) + " attempts" : "";
        if (it != by_name.end() && it->second->value("state", "") == "Failed" &&
            !it->second->value("message", "").empty())
          more += "  " + it->second->value("message", "");
        lines.push_back({indent + "  - " + n.get<std::string>(),
                         InstanceState(by_name, n.get<std::string>()) + more});
      }
    }
    for (size_t c : children[name]) walk(c, indent + "  ");
  };
  for (size_t r : roots) walk(r, "");
  size_t width = 0;
  for (const auto& [text, state] : lines) width = std::max(width, text.size());
  std::string out;
  for (const auto& [text, state] : lines)
    out += text + std::string(width - text.size() + 3, ' ') + state + "\n";
  return out;
}

}  // namespace portflow::report
