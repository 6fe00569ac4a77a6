// The fake cloud's SQS: named queues of messages with receipt handles and a
// visibility timeout, as the interruption queue needs them, and the
// EventBridge spot interruption warning that goes on it. Receive never
// blocks: the server that serves it waits (WaitTimeSeconds) by polling.
#pragma once

#include <deque>
#include <map>
#include <string>
#include <vector>

#include "cloud_backend/fake_cloud/fake_ec2.h"
#include "core/clock.h"
#include "core/status.h"

namespace portflow::fake_cloud {

struct SqsMessage {
  std::string id;
  std::string body;
  std::string receipt_handle;  // of the latest receive
  TimePoint visible_at{};      // hidden until then after a receive
  int receives = 0;
};

class FakeSqs {
 public:
  explicit FakeSqs(Clock& clock) : clock_(clock) {}

  void CreateQueue(const std::string& name);  // no-op when it exists
  bool HasQueue(const std::string& name) const;
  // NotFound (QueueDoesNotExist) for an unknown queue.
  Result<std::string> Send(const std::string& queue, const std::string& body);  // message id
  // Up to `max` visible messages, each hidden for `visibility` and given a
  // new receipt handle; none when none is visible.
  Result<std::vector<SqsMessage>> Receive(const std::string& queue, int max, Duration visibility);
  // NotFound for an unknown queue; InvalidArgument (ReceiptHandleIsInvalid)
  // for a handle no receive gave. Deleting twice is OK, as in SQS.
  Status Delete(const std::string& queue, const std::string& receipt_handle);
  size_t Size(const std::string& queue) const;

 private:
  Clock& clock_;
  std::map<std::string, std::deque<SqsMessage>> queues_;
  std::map<std::string, std::string> handed_out_;  // receipt handle -> queue
  int next_ = 1;
};

// The EventBridge event AWS puts on a queue two minutes before it takes a
// spot instance back ("EC2 Spot Instance Interruption Warning").
std::string SpotInterruptionWarning(const Instance& instance, TimePoint now,
                                    const std::string& account, const std::string& region);

}  // namespace portflow::fake_cloud
