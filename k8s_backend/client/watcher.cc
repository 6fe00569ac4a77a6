#include "k8s_backend/client/watcher.h"

#include <algorithm>

#include "core/encoding.h"
#include "core/json_fields.h"
#include "core/json_parse.h"
#include "core/log.h"
#include "core/quantity.h"

namespace portflow::k8s {
namespace {

using json = nlohmann::json;

// (Qualified: a unity batch may bring a YAML Str and Sub into this namespace.)
std::string Name(const json& o) { return portflow::Str(portflow::Sub(o, "metadata"), "name"); }

std::string Version(const json& o) {
  return portflow::Str(portflow::Sub(o, "metadata"), "resourceVersion");
}

}  // namespace

Watcher::Watcher(ApiClient& client, WatchOptions options, Handler handler, Clock& clock)
    : client_(client), options_(std::move(options)), handler_(std::move(handler)), clock_(clock) {}

Watcher::~Watcher() { Stop(); }

void Watcher::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void Watcher::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
    if (current_) current_->Stop();  // a quiet watch ends now, not at its next tick
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool Watcher::Stopping() {
  std::lock_guard<std::mutex> l(mu_);
  return stop_;
}

bool Watcher::WaitSynced(std::chrono::milliseconds limit) {
  std::unique_lock<std::mutex> l(mu_);
  return cv_.wait_for(l, limit, [this] { return synced_ || stop_; }) && synced_;
}

int Watcher::lists() const {
  std::lock_guard<std::mutex> l(mu_);
  return lists_;
}

int Watcher::watches() const {
  std::lock_guard<std::mutex> l(mu_);
  return watches_;
}

void Watcher::Pause(Duration d) {
  std::unique_lock<std::mutex> l(mu_);
  clock_.WaitUntil(l, cv_, clock_.Now() + std::chrono::duration_cast<TimePoint::duration>(d),
                   [this] { return stop_; });
}

std::string Watcher::Query(bool watch) const {
  std::string q = options_.path + "?labelSelector=" + PercentEncode(options_.label_selector, true);
  if (!options_.field_selector.empty())
    q += "&fieldSelector=" + PercentEncode(options_.field_selector, true);
  if (watch) {
    q += "&watch=true&allowWatchBookmarks=true&resourceVersion=" + PercentEncode(version_, true) +
         "&timeoutSeconds=" + std::to_string(options_.timeout_seconds);
  }
  return q;
}

std::string Watcher::Describe() const {
  std::string selectors = options_.label_selector;
  if (!options_.field_selector.empty())
    selectors += (selectors.empty() ? "" : ",") + options_.field_selector;
  return options_.path + (selectors.empty() ? "" : " (" + selectors + ")");
}

void Watcher::Backoff() {
  PORTFLOW_LOG(LogLevel::kDebug, "watch", Describe() + ": trying again in " + FormatMillis(pause_));
  Pause(pause_);
  pause_ = std::min<Duration>(pause_ * 2, std::chrono::seconds(30));
}

void Watcher::Loop() {
  pause_ = options_.retry_backoff;
  while (!Stopping()) {
    if (relist_) {
      if (!List()) {
        Backoff();
        continue;
      }
      pause_ = options_.retry_backoff;
      relist_ = false;
    }
    WatchOnce();
  }
}

bool Watcher::List() {
  {
    std::lock_guard<std::mutex> l(mu_);
    ++lists_;
  }
  std::map<std::string, json> now;
  std::string version, next;
  do {  // pages of 500
    std::string q = Query(false) + "&limit=500" +
                    (next.empty() ? "" : "&continue=" + PercentEncode(next, true));
    auto r = client_.Call({"GET", q, ""});
    if (!r.ok() || r->status != 200) {
      PORTFLOW_LOG(LogLevel::kDebug, "watch",
                   Describe() + ": the list failed: " +
                       (r.ok() ? HttpStatusText(r->status) : r.status().message()));
      return false;
    }
    json list = ParseJson(r->body);
    if (!list.is_object() || !list.contains("items")) {
      PORTFLOW_LOG(LogLevel::kDebug, "watch", Describe() + ": the list's answer is not a list");
      return false;
    }
    const json meta = list.value("metadata", json::object());
    if (version.empty()) version = meta.value("resourceVersion", "");
    next = meta.value("continue", "");
    for (json& item : list["items"]) {
      std::string name = Name(item);  // first: json's operator= takes its argument by value
      now[name] = std::move(item);
    }
  } while (!next.empty() && !Stopping());
  if (Stopping()) return false;
  // What changed since the last view: new, changed, and gone.
  std::vector<std::string> gone;
  for (const auto& [name, object] : known_) {
    if (!now.count(name)) gone.push_back(name);
  }
  for (const std::string& name : gone) Deliver("DELETED", known_[name]);
  for (auto& [name, object] : now) {
    auto it = known_.find(name);
    if (it == known_.end()) {
      Deliver("ADDED", std::make_shared<const json>(std::move(object)));
    } else if (Version(*it->second) != Version(object)) {
      Deliver("MODIFIED", std::make_shared<const json>(std::move(object)));
    }
  }
  version_ = version;
  PORTFLOW_LOG(LogLevel::kDebug, "watch",
               Describe() + ": listed " + std::to_string(now.size()) + " at resourceVersion " +
                   version + " (" + std::to_string(gone.size()) + " gone since the last list)");
  {
    std::lock_guard<std::mutex> l(mu_);
    synced_ = true;
  }
  cv_.notify_all();
  return true;
}

void Watcher::Deliver(const std::string& type, Object object) {
  std::string name = Name(*object);
  PORTFLOW_LOG(LogLevel::kTrace, "watch",
               type + " " + options_.path.substr(options_.path.rfind('/') + 1) + "/" + name +
                   " at resourceVersion " + Version(*object));
  handler_(type, object);
  if (type == "DELETED") {
    known_.erase(name);
  } else {
    known_[name] = std::move(object);
  }
}

void Watcher::WatchOnce() {
  {
    std::lock_guard<std::mutex> l(mu_);
    ++watches_;
  }
  std::string buffer;
  bool gone = false, answered = false;
  auto on_data = [&](std::string_view data) {
    if (Stopping()) return false;
    answered = answered || !data.empty();  // (empty calls are the transport's progress ticks)
    buffer.append(data);
    // Each whole line is an event, parsed in place; what is left of a line
    // waits for the rest.
    size_t start = 0;
    for (size_t nl; (nl = buffer.find('\n', start)) != std::string::npos; start = nl + 1) {
      json event = ParseJson(std::string_view(buffer).substr(start, nl - start));
      if (!event.is_object()) continue;
      std::string type = event.value("type", "");
      auto found = event.find("object");
      json object = found != event.end() ? std::move(*found) : json::object();
      if (type == "ERROR") {
        // 410 Gone: the version is too old; anything else: start over too.
        gone = true;
        return false;
      }
      std::string rv = Version(object);
      if (!rv.empty()) version_ = rv;
      if (type == "ADDED" || type == "MODIFIED" || type == "DELETED")
        Deliver(type, std::make_shared<const json>(std::move(object)));
    }
    buffer.erase(0, start);
    return true;
  };
  StreamStop stop;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stop_) return;
    current_ = &stop;
  }
  auto r = client_.Stream({"GET", Query(true), ""}, on_data, &stop);
  {
    std::lock_guard<std::mutex> l(mu_);
    current_ = nullptr;
  }
  if (Stopping()) return;
  if (gone || (r.ok() && r->status == 410)) {
    PORTFLOW_LOG(LogLevel::kDebug, "watch",
                 Describe() + ": resourceVersion " + version_ + " is too old; listing again");
    relist_ = true;
    return;
  }
  if (r.ok() && r->status == 200) {
    PORTFLOW_LOG(LogLevel::kTrace, "watch",
                 Describe() + ": the watch ended; resuming from resourceVersion " + version_);
    pause_ = options_.retry_backoff;  // it ended as watches do: again at once
  } else if (answered) {
    PORTFLOW_LOG(LogLevel::kDebug, "watch",
                 Describe() + ": the watch broke (" +
                     (r.ok() ? HttpStatusText(r->status) : r.status().message()) +
                     "); resuming from resourceVersion " + version_ + " in " +
                     FormatMillis(options_.retry_backoff));
    pause_ = options_.retry_backoff;  // it worked until its connection broke
    Pause(pause_);
  } else {
    PORTFLOW_LOG(LogLevel::kDebug, "watch",
                 Describe() + ": the watch failed: " +
                     (r.ok() ? HttpStatusText(r->status) : r.status().message()));
    Backoff();
  }
}

}  // namespace portflow::k8s
