#include "k8s_backend/run_watches.h"

#include "k8s_backend/render.h"

namespace portflow::k8s {

Status RunWatches::Watch(ApiClient& client, const std::string& run_id) {
  std::string selector = "portflow.dev/run=" + TaskLabels({.run_id = run_id})["portflow.dev/run"];
  std::shared_ptr<Run> w;
  bool created = false;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (auto known = runs_.find(run_id); known != runs_.end()) {
      w = known->second;
    } else {
      w = std::make_shared<Run>();
      w->jobs = std::make_unique<Watcher>(client, WatchOptions{paths_.Jobs(), selector},
                                          handlers_.job, clock_);
      w->pods = std::make_unique<Watcher>(client, WatchOptions{paths_.Pods(), selector},
                                          handlers_.pod, clock_);
      runs_[run_id] = w;
      created = true;
      if (!events_) {
        // Not waited for: without permission to list events, runs go on
        // without the reason.
        events_ = std::make_unique<Watcher>(
            client,
            WatchOptions{paths_.Events(), "", "involvedObject.kind=Job,reason=FailedCreate"},
            handlers_.event, clock_);
        events_->Start();
      }
    }
  }
  if (created) {
    w->jobs->Start();
    w->pods->Start();
  }
  auto limit = std::chrono::seconds(60);
  if (w->jobs->WaitSynced(limit) && w->pods->WaitSynced(limit)) return OkStatus();
  if (created) {
    // Not half-watched: the next call starts over.
    {
      std::lock_guard<std::mutex> l(mu_);
      if (auto it = runs_.find(run_id); it != runs_.end() && it->second == w) runs_.erase(it);
    }
    w->jobs->Stop();
    w->pods->Stop();
  }
  return Unavailable("could not list the run's Jobs and Pods in " + paths_.ns);
}

void RunWatches::StopAll() {
  std::map<std::string, std::shared_ptr<Run>> runs;
  std::unique_ptr<Watcher> events;
  {
    std::lock_guard<std::mutex> l(mu_);
    runs.swap(runs_);
    events.swap(events_);
  }
  for (auto& [id, w] : runs) {
    w->jobs->Stop();
    w->pods->Stop();
  }
  if (events) events->Stop();
}

}  // namespace portflow::k8s
