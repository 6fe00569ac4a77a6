#include "k8s_backend/fake_cluster/store/deferred_free.h"

#include <system_error>
#include <utility>

namespace portflow::fake {

DeferredFree::DeferredFree(size_t batch, size_t max_pending)
    : batch_size_(batch), max_pending_(max_pending) {
  batch_.reserve(batch_size_);
}

DeferredFree::~DeferredFree() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void DeferredFree::Drop(std::shared_ptr<const void> p) {
  if (!p) return;
  batch_.push_back(std::move(p));
  if (batch_.size() >= batch_size_) HandOver();
}

void DeferredFree::HandOver() {
  Batch full;  // declared before the lock: a batch not handed over is freed after it
  full.reserve(batch_size_);
  full.swap(batch_);
  std::unique_lock<std::mutex> l(mu_);
  if (pending_.size() >= max_pending_ || !Started()) return;
  pending_.push_back(std::move(full));
  l.unlock();
  cv_.notify_one();
}

bool DeferredFree::Started() {
  if (thread_.joinable()) return true;
  try {
    thread_ = std::thread([this] { Run(); });
    return true;
  } catch (const std::system_error&) {
    return false;  // no thread to be had (a process limit): the caller frees
  }
}

void DeferredFree::Flush() {
  if (!batch_.empty()) HandOver();
  std::unique_lock<std::mutex> l(mu_);
  idle_.wait(l, [this] { return pending_.empty() && !busy_; });
}

void DeferredFree::Run() {
  std::unique_lock<std::mutex> l(mu_);
  for (;;) {
    cv_.wait(l, [this] { return stopping_ || !pending_.empty(); });
    if (pending_.empty()) return;  // stopping, and nothing waits
    Batch work = std::move(pending_.front());
    pending_.pop_front();
    busy_ = true;
    l.unlock();
    work.clear();
    l.lock();
    busy_ = false;
    idle_.notify_all();
  }
}

}  // namespace portflow::fake
