// The watches the Kubernetes backend sees its namespace through: for each
// run, one of its Jobs and one of its Pods (by the run's label), and for
// the namespace one of the Job controller's FailedCreate events (a quota
// refused a pod). Each hands (type, object) to its handler on its own
// thread, in order.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "core/clock.h"
#include "core/status.h"
#include "k8s_backend/client/api_client.h"
#include "k8s_backend/client/watcher.h"
#include "k8s_backend/namespace_objects.h"

namespace portflow::k8s {

class RunWatches {
 public:
  struct Handlers {
    Watcher::Handler job, pod, event;
  };
  // `paths` must outlive the watches.
  RunWatches(const NamespacePaths& paths, Handlers handlers, Clock& clock)
      : paths_(paths), handlers_(std::move(handlers)), clock_(clock) {}
  ~RunWatches() { StopAll(); }

  // Starts the run's two watches once, and waits (every caller) until their
  // first lists are in, so that what the run made is known. Unavailable
  // when they could not list within a minute; the next call starts over.
  Status Watch(ApiClient& client, const std::string& run_id);
  // Stops every watch; no handler call follows.
  void StopAll();

 private:
  struct Run {
    std::unique_ptr<Watcher> jobs, pods;
  };

  const NamespacePaths& paths_;
  Handlers handlers_;
  Clock& clock_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<Run>> runs_;
  std::unique_ptr<Watcher> events_;
};

}  // namespace portflow::k8s
