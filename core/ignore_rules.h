// Which files to leave out, read from an ignore file in gitignore syntax
// (`.portflowignore` of shipped code): blank lines and `#` comments are
// skipped; `!` re-includes; a trailing `/` matches folders only; a pattern
// with a `/` elsewhere is anchored to the file's folder, one without
// matches a name at any depth; `*`, `?` and `[...]` match within a name
// and `**` matches any number of folders. The last matching rule decides.
#pragma once

#include <string>
#include <vector>

namespace portflow {

class IgnoreRules {
 public:
  IgnoreRules() = default;
  // The rules of `text` (the ignore file's contents).
  explicit IgnoreRules(const std::string& text);

  // Whether `path` (relative to the ignore file's folder, `/`-separated) is
  // left out; `folder` says whether it is a folder.
  bool Ignored(const std::string& path, bool folder) const;

 private:
  struct Rule {
    std::vector<std::string> segments;  // the pattern split at `/`
    bool negated = false, folder_only = false, anchored = false;
  };
  std::vector<Rule> rules_;
};

}  // namespace portflow
