// portflow report: a run drawn as one self-contained HTML file (or as
// Mermaid), from the run store, while it runs too.
#include <filesystem>
#include <fstream>
#include <iostream>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/run_document.h"
#include "report/report.h"

namespace portflow::cli {

int Report(const GlobalOptions& g, const ReportOptions& options) {
  auto store = OpenStoreOf(g.state_dir, options.run_id);
  if (!store.ok()) return Fail(store.status(), kExitUsage);
  auto run = (*store)->GetRun(options.run_id);
  if (!run.ok()) return Fail(run.status(), kExitUsage);
  bool html = options.format == "html";
  auto doc = RunDocument(**store, *run, {html, html ? 8 : 0});
  if (!doc.ok()) return Fail(doc.status());
  std::string text = html ? report::RenderPage(*doc, {ToUnixMillis(RealClock().Now()), "", ""})
                          : report::RenderMermaid(*doc);
  std::string out = options.out.empty() && html ? run->id + ".html" : options.out;
  if (out.empty() || out == "-") {
    std::cout << text << std::flush;
    return kExitOk;
  }
  // Whole or not at all, beside where it goes.
  std::string tmp = out + ".tmp";
  {
    std::ofstream file(tmp, std::ios::binary | std::ios::trunc);
    file << text;
    if (!file.flush()) return Fail(Internal("cannot write " + tmp));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, out, ec);
  if (ec) return Fail(Internal("cannot write " + out + ": " + ec.message()));
  std::cerr << "portflow: wrote the report of " << run->id << " (" << ShownState(*run) << ") to "
            << out << " (" << text.size() / 1024 + 1 << " KiB)\n";
  return kExitOk;
}

}  // namespace portflow::cli
