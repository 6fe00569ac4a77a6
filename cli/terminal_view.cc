#include "cli/terminal_view.h"

#include <iostream>

#include "cli/common.h"
#include "core/backend.h"

namespace portflow::cli {

TerminalView::~TerminalView() {
  for (auto& [path, s] : streams_) Pump(s, true);
}

void TerminalView::OnAttemptStarted(const TaskSpec& spec) {
  if (!show_logs_) return;
  for (int r = 0; r < spec.replicas; ++r) {
    std::string path = LogPath(spec.run_dir, spec.instance, spec.attempt, r);
    streams_[path] = {spec.instance + "/" + std::to_string(r) + " | ", path, 0, ""};
  }
}

void TerminalView::OnAttemptEnded(const std::string& instance, int attempt) {
  for (auto it = streams_.begin(); it != streams_.end();) {
    const std::string& p = it->second.path;
    bool mine = p.find("/logs/" + instance + ".attempt-" + std::to_string(attempt) + ".") !=
                std::string::npos;
    if (mine) {
      Pump(it->second, true);
      it = streams_.erase(it);
    } else {
      ++it;
    }
  }
}

void TerminalView::OnInstanceState(const std::string& instance, const std::string& state,
                                   const std::string& message) {
  if (state == "Waiting") return;
  // Quiet runs show only what went wrong.
  if (!show_logs_ && state != "Failed" && state != "Retrying") return;
  std::cerr << "portflow: " << instance << " " << state << (message.empty() ? "" : ": " + message)
            << std::endl;
}

void TerminalView::OnCancelling(bool force) {
  std::cerr << "portflow: " << CancellingNote(force) << std::endl;  // quiet runs too
}

void TerminalView::OnTick() {
  for (auto& [path, s] : streams_) Pump(s, false);
}

void TerminalView::Pump(Stream& s, bool final) {
  std::string chunk = ReadLog(s.path, static_cast<uint64_t>(s.offset)).text;
  s.offset += static_cast<long>(chunk.size());
  s.partial += chunk;
  size_t start = 0, nl;
  std::string out;
  while ((nl = s.partial.find('\n', start)) != std::string::npos) {
    out += s.prefix + s.partial.substr(start, nl - start + 1);
    start = nl + 1;
  }
  s.partial.erase(0, start);
  if (final && !s.partial.empty()) {
    out += s.prefix + s.partial + "\n";
    s.partial.clear();
  }
  if (!out.empty()) std::cout << out << std::flush;
}

}  // namespace portflow::cli
