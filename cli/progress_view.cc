#include "cli/progress_view.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "cli/common.h"
#include "core/backend.h"
#include "core/run_store.h"

namespace portflow::cli {
namespace {

using std::chrono::steady_clock;

// The last non-empty line of a log file (read from its last 4 KiB).
std::string LastLine(const std::string& path) {
  std::string tail = FileEnd(path, 4096);
  while (!tail.empty() && (tail.back() == '\n' || tail.back() == '\r')) tail.pop_back();
  size_t nl = tail.find_last_of("\r\n");
  std::string line = nl == std::string::npos ? tail : tail.substr(nl + 1);
  for (char& c : line) {
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  return line;
}

std::string Seconds(steady_clock::duration d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1fs", std::chrono::duration<double>(d).count());
  return buf;
}

int Rank(const std::string& state) {
  if (state == "Running") return 0;
  if (state == "Pending" || state == "Retrying") return 1;
  if (state == "Failed") return 2;
  return 3;
}

const char* Mark(const std::string& state) {
  if (state == "Running") return ">";
  if (state == "Succeeded") return "+";
  if (state == "Failed") return "x";
  if (state == "Pending" || state == "Retrying") return ".";
  return "-";
}

}  // namespace

ProgressView::ProgressView(std::string run_id, size_t instances)
    : run_id_(std::move(run_id)), total_(instances), start_(steady_clock::now()) {}

ProgressView::~ProgressView() {
  Draw();
  // What failed, in full, below the final picture.
  for (const std::string& name : order_) {
    const Row& r = rows_[name];
    if (r.state == "Failed")
      std::fprintf(stderr, "portflow: %s Failed: %s\n", name.c_str(), r.message.c_str());
  }
}

void ProgressView::OnAttemptStarted(const TaskSpec& spec) {
  rows_[spec.instance].log = LogPath(spec.run_dir, spec.instance, spec.attempt, 0);
}

void ProgressView::OnInstanceState(const std::string& instance, const std::string& state,
                                   const std::string& message) {
  if (state == "Waiting") return;
  if (!rows_.count(instance) || rows_[instance].state == "Waiting") order_.push_back(instance);
  Row& r = rows_[instance];
  if (r.state == "Waiting") r.started = steady_clock::now();
  r.ended = IsTerminalInstanceState(state) ? steady_clock::now() : steady_clock::time_point{};
  r.state = state;
  r.message = message;
}

void ProgressView::OnCancelling(bool force) {
  note_ = CancellingNote(force);
  Draw();
}

void ProgressView::OnTick() {
  if (steady_clock::now() - last_draw_ >= std::chrono::milliseconds(200)) Draw();
}

void ProgressView::Draw() {
  last_draw_ = steady_clock::now();
  winsize ws{};
  int width = 100, height = 24;
  if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
    width = ws.ws_col;
    height = ws.ws_row;
  }
  size_t done = 0, running = 0, failed = 0;
  for (const auto& [name, r] : rows_) {
    done += r.state == "Succeeded";
    running += r.state == "Running";
    failed += r.state == "Failed";
  }
  std::vector<std::string> shown = order_;
  std::stable_sort(shown.begin(), shown.end(), [&](const std::string& a, const std::string& b) {
    return Rank(rows_[a].state) < Rank(rows_[b].state);
  });
  size_t room = static_cast<size_t>(std::max(3, height - 3));
  size_t hidden = shown.size() > room ? shown.size() - room : 0;
  shown.resize(std::min(shown.size(), room));

  std::string out;
  if (drawn_lines_ > 0) out += "\x1b[" + std::to_string(drawn_lines_) + "A\x1b[J";
  auto line = [&](std::string text) {
    if (static_cast<int>(text.size()) > width - 1)
      text.resize(static_cast<size_t>(std::max(0, width - 1)));
    out += text + "\n";
  };
  char head[256];
  std::snprintf(head, sizeof head, "run %s   %zu/%zu done   %zu running   %zu failed   %s",
                run_id_.c_str(), done, total_, running, failed,
                Seconds(steady_clock::now() - start_).c_str());
  line(head);
  if (!note_.empty()) line("  " + note_);
  for (const std::string& name : shown) {
    Row& r = rows_[name];
    char buf[512];
    bool over = r.ended != steady_clock::time_point{};
    auto took = (over ? r.ended : steady_clock::now()) - r.started;
    std::snprintf(buf, sizeof buf, "  %s %-28s %-10s %7s", Mark(r.state), name.c_str(),
                  r.state.c_str(), Seconds(took).c_str());
    std::string text = buf;
    // What the task said last (a loss, the chosen model); else the reason.
    bool said = r.state == "Running" || r.state == "Succeeded";
    std::string detail = said ? LastLine(r.log) : r.message;
    if (!detail.empty()) text += "  | " + detail;
    line(text);
  }
  if (hidden) line("  ... and " + std::to_string(hidden) + " more");
  drawn_lines_ = 1 + static_cast<int>(shown.size()) + (hidden ? 1 : 0);
  std::fputs(out.c_str(), stderr);
  std::fflush(stderr);
}

}  // namespace portflow::cli
