// A live view of one kind's objects in one namespace that match a label
// selector, kept as client-go's informers keep theirs: LIST, then WATCH from
// the list's resourceVersion with bookmarks; when a watch ends (timeout,
// dropped connection, server restart) it resumes from the last version it
// saw; after 410 Gone it lists again and reports what changed meanwhile
// (objects that vanished come as DELETED). One watcher serves every task of
// a run: there is no polling loop per task.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "core/clock.h"
#include "k8s_backend/client/api_client.h"

namespace portflow::k8s {

struct WatchOptions {
  std::string path;            // "/apis/batch/v1/namespaces/ml/jobs"
  std::string label_selector;  // "portflow.dev/run=r1"
  std::string field_selector;  // "reason=FailedCreate"
  int timeout_seconds = 300;   // each watch request's timeoutSeconds
  // After a failed list or watch; doubled while they keep failing (a 403
  // for want of permission does not change soon), up to 30 s.
  Duration retry_backoff = std::chrono::seconds(1);
};

class Watcher {
 public:
  // An object as the watcher last saw it, never changed after: the
  // watcher's view and its handler share it (a handler keeps it without a
  // copy).
  using Object = std::shared_ptr<const nlohmann::json>;
  // ADDED, MODIFIED or DELETED with the object; called on the watcher's
  // thread, in resourceVersion order, never concurrently.
  using Handler = std::function<void(const std::string& type, const Object& object)>;

  Watcher(ApiClient& client, WatchOptions options, Handler handler, Clock& clock);
  ~Watcher();  // stops

  void Start();
  // Ends the current request and the thread; no handler call follows.
  void Stop();
  // Blocks until the first list has been delivered, at most `limit` of real
  // time (a list is I/O on another thread, not a timer: a virtual clock
  // must not skip it); false when it has not.
  bool WaitSynced(std::chrono::milliseconds limit);

  int lists() const;    // LIST requests made
  int watches() const;  // WATCH requests made

 private:
  void Loop();
  bool List();       // false when it failed
  void WatchOnce();  // until the stream ends
  // Hands `object` to the handler, then keeps it.
  void Deliver(const std::string& type, Object object);
  std::string Query(bool watch) const;
  bool Stopping();
  void Pause(Duration d);
  void Backoff();                // pauses, and doubles the next pause
  std::string Describe() const;  // for the log: the path and selectors

  ApiClient& client_;
  WatchOptions options_;
  Handler handler_;
  Clock& clock_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool synced_ = false;
  bool relist_ = true;
  std::string version_;                  // the last resourceVersion seen
  std::map<std::string, Object> known_;  // name -> the object as last seen
  StreamStop* current_ = nullptr;        // the watch request in flight
  int lists_ = 0, watches_ = 0;
  Duration pause_{0};  // the next pause after a failure
};

}  // namespace portflow::k8s
