#include "core/ignore_rules.h"

#include <fnmatch.h>

#include <sstream>

namespace portflow {
namespace {

std::vector<std::string> Split(const std::string& path) {
  std::vector<std::string> out;
  std::stringstream in(path);
  std::string part;
  while (std::getline(in, part, '/')) {
    if (!part.empty()) out.push_back(part);
  }
  return out;
}

// Pattern segments [p..] against path segments [s..]; `**` takes any
// number of segments.
bool Match(const std::vector<std::string>& pat, size_t p, const std::vector<std::string>& path,
           size_t s) {
  if (p == pat.size()) return s == path.size();
  if (pat[p] == "**") {
    for (size_t k = s; k <= path.size(); ++k) {
      if (Match(pat, p + 1, path, k)) return true;
    }
    return false;
  }
  return s < path.size() && ::fnmatch(pat[p].c_str(), path[s].c_str(), 0) == 0 &&
         Match(pat, p + 1, path, s + 1);
}

}  // namespace

IgnoreRules::IgnoreRules(const std::string& text) {
  std::stringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    while (!line.empty() && line.back() == ' ') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    Rule r;
    if (line[0] == '!') {
      r.negated = true;
      line.erase(0, 1);
    } else if (line[0] == '\\') {
      line.erase(0, 1);  // \# and \! are literal
    }
    if (!line.empty() && line.back() == '/') {
      r.folder_only = true;
      line.pop_back();
    }
    r.anchored = line.find('/') != std::string::npos;
    r.segments = Split(line);
    if (r.segments.empty()) continue;
    rules_.push_back(std::move(r));
  }
}

bool IgnoreRules::Ignored(const std::string& path, bool folder) const {
  std::vector<std::string> parts = Split(path);
  bool ignored = false;
  for (const Rule& r : rules_) {
    if (r.folder_only && !folder) continue;
    bool hit = r.anchored ? Match(r.segments, 0, parts, 0)
                          : !parts.empty() && Match(r.segments, 0, {parts.back()}, 0);
    if (hit) ignored = !r.negated;
  }
  return ignored;
}

}  // namespace portflow
