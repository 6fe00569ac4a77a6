#include "k8s_backend/call_later.h"

namespace portflow::k8s {

void CallLater::At(Time at, std::function<void()> fn) {
  std::lock_guard<std::mutex> l(mu_);
  if (stop_) return;
  due_.emplace(at, std::move(fn));
  if (!thread_.joinable()) thread_ = std::thread([this] { Loop(); });
  cv_.notify_one();
}

void CallLater::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
    due_.clear();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void CallLater::Loop() {
  std::unique_lock<std::mutex> l(mu_);
  while (!stop_) {
    if (due_.empty()) {
      cv_.wait(l);
      continue;
    }
    auto next = due_.begin();
    if (Time at = next->first; std::chrono::steady_clock::now() < at) {
      cv_.wait_until(l, at);  // a copy: Stop may free the entry meanwhile
      continue;
    }
    std::function<void()> fn = std::move(next->second);
    due_.erase(next);
    l.unlock();
    fn();
    l.lock();
  }
}

}  // namespace portflow::k8s
