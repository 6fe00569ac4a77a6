#include "k8s_backend/job_deletions.h"

#include <nlohmann/json.hpp>
#include <set>

#include "core/encoding.h"
#include "core/json_fields.h"
#include "core/json_parse.h"
#include "core/log.h"
#include "k8s_backend/render.h"

namespace portflow::k8s {
namespace {

// Names in one selector: the URL stays a few KB long.
constexpr size_t kBatch = 50;

}  // namespace

JobDeletions::JobDeletions(GetClient client, const NamespacePaths& paths,
                           std::chrono::milliseconds linger)
    : client_(std::move(client)), paths_(paths), linger_(linger) {}

void JobDeletions::Delete(std::string job) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!stop_) {
      if (queued_.empty()) first_queued_ = std::chrono::steady_clock::now();
      queued_.push_back(std::move(job));
      if (!thread_.joinable()) thread_ = std::thread([this] { Loop(); });
      cv_.notify_all();
      return;
    }
  }
  Send({std::move(job)});
}

void JobDeletions::Flush() {
  std::unique_lock<std::mutex> l(mu_);
  if (!thread_.joinable()) return;
  ++flushes_;
  cv_.notify_all();
  cv_.wait(l, [this] { return queued_.empty() && sending_ == 0; });
  --flushes_;
}

void JobDeletions::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void JobDeletions::Loop() {
  std::unique_lock<std::mutex> l(mu_);
  while (true) {
    if (queued_.empty()) {
      if (stop_) return;
      cv_.wait(l);
      continue;
    }
    auto due = first_queued_ + linger_;
    if (!stop_ && flushes_ == 0 && std::chrono::steady_clock::now() < due) {
      cv_.wait_until(l, due);
      continue;
    }
    std::vector<std::string> jobs;
    jobs.swap(queued_);
    ++sending_;
    l.unlock();
    Send(std::move(jobs));
    l.lock();
    --sending_;
    cv_.notify_all();
  }
}

void JobDeletions::Send(std::vector<std::string> jobs) {
  auto client = client_();
  if (!client.ok()) return;
  bool refused;
  {
    std::lock_guard<std::mutex> l(mu_);
    refused = refused_;
  }
  std::set<std::string> deleted;
  for (size_t i = 0; !refused && i < jobs.size(); i += kBatch) {
    std::string names;
    for (size_t j = i; j < std::min(jobs.size(), i + kBatch); ++j)
      names += (names.empty() ? "" : ",") + jobs[j];
    // Only the deleted Jobs' names are read: their metadata is enough.
    ApiRequest request{"DELETE",
                       paths_.Jobs() + "?propagationPolicy=Background&labelSelector=" +
                           PercentEncode(std::string(kJobLabel) + " in (" + names + ")", false),
                       ""};
    request.accept = kAcceptMetadataList;
    auto r = (*client)->Call(request);
    {
      std::lock_guard<std::mutex> l(mu_);
      if (r.ok() && (r->status == 403 || r->status == 405)) refused = refused_ = true;
    }
    if (refused)
      PORTFLOW_LOG(LogLevel::kDebug, "k8s",
                   "the API server refused to delete Jobs by a selector (" +
                       std::to_string(r->status) + "): deleting each by its name");
    nlohmann::json list = r.ok() && r->status == 200 ? ParseJson(r->body) : nlohmann::json();
    if (!list.is_object()) continue;
    for (const nlohmann::json& job : list.value("items", nlohmann::json::array()))
      deleted.insert(Str(Sub(job, "metadata"), "name"));
  }
  // What the selector did not take: made without the label, or the call
  // failed.
  for (const std::string& job : jobs) {
    if (!deleted.count(job)) (void)(*client)->Call({"DELETE", paths_.JobDeletion(job), ""});
  }
}

}  // namespace portflow::k8s
