// Finished Jobs deleted in batches, off the thread that saw them end: the
// Jobs queued within a moment of each other go in one deletecollection by
// the label that holds each Job's name (kJobLabel), not one DELETE each.
// A Job the collection's answer does not name (made without the label by
// an older portflow, or the call failed) is deleted by its name; a server
// or credentials that refuse deletecollection (403, 405) get one DELETE a
// Job from then on.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"
#include "k8s_backend/client/api_client.h"
#include "k8s_backend/namespace_objects.h"

namespace portflow::k8s {

class JobDeletions {
 public:
  using GetClient = std::function<Result<ApiClient*>()>;

  // `linger`: how long the first Job queued waits for others to join it.
  // `paths` must outlive this.
  JobDeletions(GetClient client, const NamespacePaths& paths,
               std::chrono::milliseconds linger = std::chrono::milliseconds(50));
  ~JobDeletions() { Stop(); }
  JobDeletions(const JobDeletions&) = delete;
  JobDeletions& operator=(const JobDeletions&) = delete;

  // Queues the deletion of `job` (with its pods, in the background).
  void Delete(std::string job);
  // Returns once every Job queued before it has been sent for deletion.
  void Flush();
  // Flush, then the thread ends; later Deletes are sent on their caller's
  // thread.
  void Stop();

 private:
  void Loop();
  void Send(std::vector<std::string> jobs);

  const GetClient client_;
  const NamespacePaths& paths_;
  const std::chrono::milliseconds linger_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> queued_;
  std::chrono::steady_clock::time_point first_queued_;
  int sending_ = 0;  // batches taken from the queue, not yet sent
  int flushes_ = 0;  // Flush calls waiting: send without lingering
  bool stop_ = false;
  bool refused_ = false;  // the server refused deletecollection: by name only
  std::thread thread_;
};

}  // namespace portflow::k8s
