#include "k8s_backend/call_later.h"

#include <gtest/gtest.h>

#include <vector>

namespace portflow::k8s {
namespace {

// Calls run in the order of their times, not of their making, and none
// after Stop.
TEST(CallLaterTest, CallsRunInTimeOrderAndNoneAfterStop) {
  CallLater later;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<int> ran;
  auto record = [&](int n) {
    return [&, n] {
      std::lock_guard<std::mutex> l(mu);
      ran.push_back(n);
      cv.notify_all();
    };
  };
  auto now = std::chrono::steady_clock::now();
  later.At(now + std::chrono::milliseconds(30), record(2));
  later.At(now, record(1));
  {
    std::unique_lock<std::mutex> l(mu);
    ASSERT_TRUE(cv.wait_for(l, std::chrono::seconds(5), [&] { return ran.size() == 2; }));
  }
  EXPECT_EQ(ran, (std::vector<int>{1, 2}));
  later.At(now + std::chrono::hours(1), record(3));  // pending: dropped by Stop
  later.Stop();
  later.At(now, record(4));  // after Stop: never
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::lock_guard<std::mutex> l(mu);
  EXPECT_EQ(ran, (std::vector<int>{1, 2}));
}

}  // namespace
}  // namespace portflow::k8s
