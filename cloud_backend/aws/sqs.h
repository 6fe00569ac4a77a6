// The SQS calls the cloud backend makes to read spot interruption warnings
// (JSON protocol: POST / with X-Amz-Target AmazonSQS.ACTION, signing name
// "sqs").
#pragma once

#include <string>
#include <vector>

#include "cloud_backend/aws/aws_client.h"

namespace portflow::aws {

struct SqsMessage {
  std::string id;
  std::string receipt_handle;  // what DeleteMessage takes
  std::string body;
};

class Sqs {
 public:
  explicit Sqs(Client& client) : client_(client) {}

  // NotFound when there is no such queue.
  Result<std::string> QueueUrl(const std::string& name);
  // Up to `max` (1 to 10) messages, waiting up to `wait_seconds` (0 to 20)
  // for the first; none when the wait ends empty.
  Result<std::vector<SqsMessage>> Receive(const std::string& queue_url, int max, int wait_seconds);
  Status Delete(const std::string& queue_url, const std::string& receipt_handle);
  Status Send(const std::string& queue_url, const std::string& body);

 private:
  Result<std::string> Call(const std::string& action, const std::string& body);

  Client& client_;
};

}  // namespace portflow::aws
