#include "cloud_backend/fake_cloud/fake_sqs.h"

#include <cstdio>
#include <nlohmann/json.hpp>

namespace portflow::fake_cloud {
namespace {

std::string Uuid(int n) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "00000000-0000-4000-a000-%012d", n);
  return buf;
}

std::string NoQueue(const std::string& name) {
  return "QueueDoesNotExist: The specified queue " + name + " does not exist.";
}

}  // namespace

void FakeSqs::CreateQueue(const std::string& name) { queues_[name]; }

bool FakeSqs::HasQueue(const std::string& name) const { return queues_.count(name) > 0; }

Result<std::string> FakeSqs::Send(const std::string& queue, const std::string& body) {
  auto it = queues_.find(queue);
  if (it == queues_.end()) return NotFound(NoQueue(queue));
  SqsMessage m;
  m.id = Uuid(next_++);
  m.body = body;
  it->second.push_back(m);
  return m.id;
}

Result<std::vector<SqsMessage>> FakeSqs::Receive(const std::string& queue, int max,
                                                 Duration visibility) {
  auto it = queues_.find(queue);
  if (it == queues_.end()) return NotFound(NoQueue(queue));
  TimePoint now = clock_.Now();
  std::vector<SqsMessage> out;
  for (SqsMessage& m : it->second) {
    if (static_cast<int>(out.size()) >= max) break;
    if (m.visible_at > now) continue;
    m.receipt_handle = "rh-" + m.id + "-" + std::to_string(++m.receives);
    m.visible_at = now + visibility;
    handed_out_[m.receipt_handle] = queue;
    out.push_back(m);
  }
  return out;
}

Status FakeSqs::Delete(const std::string& queue, const std::string& receipt_handle) {
  auto it = queues_.find(queue);
  if (it == queues_.end()) return NotFound(NoQueue(queue));
  auto handed = handed_out_.find(receipt_handle);
  if (handed == handed_out_.end() || handed->second != queue)
    return InvalidArgument("ReceiptHandleIsInvalid: The input receipt handle \"" + receipt_handle +
                           "\" is not a valid receipt handle.");
  auto& q = it->second;
  for (auto m = q.begin(); m != q.end(); ++m) {
    // Any receipt of the message deletes it (SQS accepts older ones too).
    if (receipt_handle.rfind("rh-" + m->id + "-", 0) == 0) {
      q.erase(m);
      break;
    }
  }
  return OkStatus();
}

size_t FakeSqs::Size(const std::string& queue) const {
  auto it = queues_.find(queue);
  return it == queues_.end() ? 0 : it->second.size();
}

std::string SpotInterruptionWarning(const Instance& instance, TimePoint now,
                                    const std::string& account, const std::string& region) {
  std::string time = FormatTime(now);
  time = time.substr(0, 19) + "Z";  // EventBridge: seconds, no fraction
  nlohmann::json event = {
      {"version", "0"},
      {"id", "spot-" + instance.id + "-" + time},
      {"detail-type", "EC2 Spot Instance Interruption Warning"},
      {"source", "aws.ec2"},
      {"account", account},
      {"time", time},
      {"region", region},
      {"resources", {"arn:aws:ec2:" + instance.zone + ":instance/" + instance.id}},
      {"detail", {{"instance-id", instance.id}, {"instance-action", "terminate"}}}};
  return event.dump();
}

}  // namespace portflow::fake_cloud
