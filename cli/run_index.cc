#include "cli/run_index.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace portflow::cli {
namespace {

namespace fs = std::filesystem;

// (id, state dir) of each line that has both.
std::vector<std::pair<std::string, std::string>> ReadIndex() {
  std::vector<std::pair<std::string, std::string>> out;
  std::ifstream in(RunIndexPath());
  std::string line;
  while (std::getline(in, line)) {
    size_t tab = line.find('\t');
    if (tab == std::string::npos || tab == 0 || tab + 1 == line.size()) continue;
    out.emplace_back(line.substr(0, tab), line.substr(tab + 1));
  }
  return out;
}

}  // namespace

std::string RunIndexPath() {
  if (const char* x = std::getenv("XDG_STATE_HOME"); x && *x)
    return std::string(x) + "/portflow/runs.index";
  if (const char* h = std::getenv("HOME"); h && *h)
    return std::string(h) + "/.local/state/portflow/runs.index";
  return "";
}

Status IndexRun(const std::string& id, const std::string& state_dir) {
  std::string path = RunIndexPath();
  if (path.empty()) return FailedPrecondition("neither XDG_STATE_HOME nor HOME is set");
  std::string dir = fs::absolute(state_dir).lexically_normal().string();
  if (id.find_first_of("\t\n") != std::string::npos ||
      dir.find_first_of("\t\n") != std::string::npos)
    return InvalidArgument("a run id or state directory with a tab or newline cannot be indexed");
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return Internal("cannot open " + path + ": " + std::strerror(errno));
  std::string line = id + "\t" + dir + "\n";
  ssize_t n = ::write(fd, line.data(), line.size());
  ::close(fd);
  if (n != static_cast<ssize_t>(line.size())) return Internal("cannot write " + path);
  return OkStatus();
}

std::optional<std::string> IndexedStateDir(const std::string& id) {
  std::optional<std::string> found;
  for (const auto& [run, dir] : ReadIndex()) {
    if (run == id) found = dir;  // the last word on it
  }
  return found;
}

std::vector<std::string> IndexedStateDirs() {
  std::vector<std::string> dirs;
  std::error_code ec;
  for (const auto& [run, dir] : ReadIndex()) {
    if (std::find(dirs.begin(), dirs.end(), dir) == dirs.end() && fs::exists(dir + "/state.db", ec))
      dirs.push_back(dir);
  }
  return dirs;
}

}  // namespace portflow::cli
