// portflow ui: a read-only web page of this folder's runs, served on
// loopback (like `sky dashboard`): the runs newest first, each run's report
// page (the same drawing as `portflow report`) followed live, and an
// instance's log followed as it grows. The pages poll their own body each
// second; nothing is written.
#include <signal.h>

#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/run_document.h"
#include "core/backend.h"
#include "core/encoding.h"
#include "k8s_backend/fake_cluster/apiserver/http_server.h"
#include "report/report.h"

namespace portflow::cli {
namespace {

using json = nlohmann::json;
using fake::HttpRequest;
using fake::HttpResponse;

HttpResponse Text(int status, const std::string& content_type, std::string body) {
  HttpResponse r{status, content_type, std::move(body), nullptr};
  r.headers["Cache-Control"] = "no-store";
  return r;
}

HttpResponse NotFoundPage(const std::string& what) {
  return Text(404, "text/html; charset=utf-8",
              "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>not found"
              "</title><link rel=\"icon\" href=\"data:,\"></head><body><p>" +
                  report::Html(what) + " (<a href=\"/\">all runs</a>)</p></body></html>\n");
}

int64_t NowMs() { return ToUnixMillis(RealClock().Now()); }

// The last 64 KiB of each replica's log of `instance`'s latest attempt,
// prefixed "R | " where there are several.
std::string LogText(const RunRecord& run, const std::vector<AttemptRecord>& attempts,
                    const std::string& instance) {
  const AttemptRecord* latest = nullptr;
  for (const AttemptRecord& a : attempts)
    if (a.instance == instance && (!latest || a.attempt > latest->attempt)) latest = &a;
  if (!latest) return "";
  std::string out;
  for (int r = 0; r < std::max(1, latest->replicas); ++r) {
    std::string text = FileEnd(LogPath(run.run_dir, instance, latest->attempt, r), 65536);
    if (latest->replicas <= 1) return text;
    size_t start = 0;
    while (start < text.size()) {
      size_t nl = text.find('\n', start);
      size_t end = nl == std::string::npos ? text.size() : nl + 1;
      out += std::to_string(r) + " | " + text.substr(start, end - start);
      start = end;
    }
  }
  return out;
}

class Ui {
 public:
  explicit Ui(std::string state_dir) : state_dir_(std::move(state_dir)) {}

  HttpResponse Handle(const HttpRequest& request) {
    if (request.method != "GET" && request.method != "HEAD")
      return Text(405, "text/plain", "portflow ui is read-only\n");
    std::string path = request.target.substr(0, request.target.find('?'));
    try {
      if (path == "/")
        return Text(200, kHtml, report::RenderRunList(Runs(), {NowMs(), "/body", ""}));
      if (path == "/body") return Text(200, kHtml, report::RenderRunListBody(Runs()));
      if (path == "/api/runs") return Text(200, "application/json", Runs().dump() + "\n");
      // /runs/ID[/body | /logs/INSTANCE[/text]], /api/runs/ID
      bool api = path.rfind("/api/runs/", 0) == 0;
      if (!api && path.rfind("/runs/", 0) != 0) return NotFoundPage("no page " + path);
      std::string rest = path.substr(api ? 10 : 6);
      std::vector<std::string> parts;
      for (size_t start = 0; start <= rest.size();) {
        size_t slash = rest.find('/', start);
        if (slash == std::string::npos) slash = rest.size();
        parts.push_back(PercentDecode(rest.substr(start, slash - start), false));
        start = slash + 1;
      }
      const std::string& id = parts[0];
      auto store = RunStore::Open(state_dir_);
      if (!store.ok()) return Text(500, "text/plain", store.status().message() + "\n");
      auto run = (*store)->GetRun(id);
      if (!run.ok()) return NotFoundPage("no run " + id + " in " + state_dir_);
      std::string base = "/runs/" + PercentEncode(id, false);
      if (parts.size() >= 3 && parts[1] == "logs") {
        auto attempts = (*store)->ListAttempts(id);
        if (!attempts.ok()) return Text(500, "text/plain", attempts.status().message() + "\n");
        std::string url = base + "/logs/" + PercentEncode(parts[2], false);
        if (parts.size() == 4 && parts[3] == "text")
          return Text(200, "text/plain; charset=utf-8", LogText(*run, *attempts, parts[2]));
        return Text(200, kHtml, report::RenderLogPage(id, parts[2], url + "/text", base));
      }
      bool body = parts.size() == 2 && parts[1] == "body";
      if (parts.size() > 1 && !body) return NotFoundPage("no page " + path);
      auto doc = RunDocument(**store, *run, {!api, api ? 0 : 8});
      if (!doc.ok()) return Text(500, "text/plain", doc.status().message() + "\n");
      if (api) return Text(200, "application/json", doc->dump() + "\n");
      report::PageOptions options{NowMs(), base + "/body", "/"};
      return Text(200, kHtml,
                  body ? report::RenderBody(*doc, options) : report::RenderPage(*doc, options));
    } catch (const std::exception& e) {  // a store being written as it is read
      return Text(500, "text/plain", std::string("portflow ui: ") + e.what() + "\n");
    }
  }

 private:
  static constexpr const char* kHtml = "text/html; charset=utf-8";

  // This folder's runs, newest first, as `runs -o json` gives them, with
  // their duration so far.
  json Runs() {
    json out = json::array();
    auto store = RunStore::Open(state_dir_);
    if (!store.ok()) return out;
    auto runs = (*store)->ListRuns();  // newest first
    if (!runs.ok()) return out;
    for (const RunRecord& r : *runs) {
      json j = RunJson(r);
      j["durationMs"] = Elapsed(r);
      out.push_back(std::move(j));
    }
    return out;
  }

  const std::string state_dir_;
};

bool Loopback(const std::string& address) {
  return address == "127.0.0.1" || address == "::1" || address.rfind("127.", 0) == 0;
}

}  // namespace

int UiServe(const GlobalOptions& g, const UiOptions& o) {
  sigset_t stop = BlockStopSignals();
  std::string dir = std::filesystem::absolute(g.state_dir).lexically_normal().string();
  auto ui = std::make_shared<Ui>(dir);
  auto server = fake::StartPlainHttpServer(
      o.port, [ui](const HttpRequest& r) { return ui->Handle(r); }, nullptr, o.address);
  if (!server.ok())
    return Fail(server.status(),
                server.status().code() == StatusCode::kInvalidArgument ? kExitUsage : kExitFailed);
  std::string host = o.address.find(':') != std::string::npos ? "[" + o.address + "]" : o.address;
  std::cout << "http://" << host << ":" << (*server)->port() << "/\n" << std::flush;
  std::cerr << "portflow: serving the runs of " << dir << " at http://" << host << ":"
            << (*server)->port() << "/ (read-only; Ctrl-C stops it)\n";
  if (!Loopback(o.address))
    std::cerr << "portflow: warning: " << o.address
              << " is not loopback: anyone who reaches it can read these runs and their logs\n";
  int sig = 0;
  sigwait(&stop, &sig);
  (*server)->Stop();
  return kExitOk;
}

}  // namespace portflow::cli
