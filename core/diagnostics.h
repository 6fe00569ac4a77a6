// Errors about a file, each with FILE:LINE:COL, reported all at once.
#pragma once

#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "core/spec.h"

namespace portflow {

struct Diagnostic {
  std::string file;
  SourcePos pos;
  std::string message;

  // "pipeline.yaml:12:7: message" (line and column omitted when unknown).
  std::string ToString() const;
};

class Diagnostics {
 public:
  explicit Diagnostics(std::string file) : file_(std::move(file)) {}
  // One that is already here (same place, same message: two equal
  // references in one multi-line script) is not added again.
  void Add(SourcePos pos, std::string message);
  bool empty() const { return list_.empty(); }
  const std::vector<Diagnostic>& list() const { return list_; }
  // Sorted by position, one per line.
  std::string ToString() const;

 private:
  std::string file_;
  std::vector<Diagnostic> list_;
  std::set<std::tuple<int, int, std::string>> seen_;
};

// `text` in double quotes, control characters written as \xNN, for messages.
std::string Quoted(std::string_view text);

// The closest candidate within a small edit distance, or "" when none is close.
std::string ClosestMatch(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace portflow
