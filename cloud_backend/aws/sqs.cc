#include "cloud_backend/aws/sqs.h"

#include <nlohmann/json.hpp>

#include "core/json_fields.h"
#include "core/json_parse.h"

namespace portflow::aws {
namespace {
using json = nlohmann::json;
}  // namespace

Result<std::string> Sqs::Call(const std::string& action, const std::string& body) {
  Request r{
      "sqs",
      "POST",
      "/",
      {{"Content-Type", "application/x-amz-json-1.0"}, {"X-Amz-Target", "AmazonSQS." + action}},
      body};
  ASSIGN_OR_RETURN(Response answer, client_.Call(r));
  return answer.body;
}

Result<std::string> Sqs::QueueUrl(const std::string& name) {
  ASSIGN_OR_RETURN(std::string body, Call("GetQueueUrl", json{{"QueueName", name}}.dump()));
  std::string url = Str(ParseJson(body), "QueueUrl");
  if (url.empty()) return Internal("GetQueueUrl " + name + ": no QueueUrl in the answer");
  return url;
}

Result<std::vector<SqsMessage>> Sqs::Receive(const std::string& queue_url, int max,
                                             int wait_seconds) {
  json request = {
      {"QueueUrl", queue_url}, {"MaxNumberOfMessages", max}, {"WaitTimeSeconds", wait_seconds}};
  ASSIGN_OR_RETURN(std::string body, Call("ReceiveMessage", request.dump()));
  json j = ParseJson(body);
  if (!j.is_object()) return Internal("ReceiveMessage: the answer is not a JSON object");
  std::vector<SqsMessage> out;
  for (const json& m : Field(j, "Messages")) {
    if (m.is_object())
      out.push_back({Str(m, "MessageId"), Str(m, "ReceiptHandle"), Str(m, "Body")});
  }
  return out;
}

Status Sqs::Delete(const std::string& queue_url, const std::string& receipt_handle) {
  return Call("DeleteMessage",
              json{{"QueueUrl", queue_url}, {"ReceiptHandle", receipt_handle}}.dump())
      .status();
}

Status Sqs::Send(const std::string& queue_url, const std::string& body) {
  return Call("SendMessage", json{{"QueueUrl", queue_url}, {"MessageBody", body}}.dump()).status();
}

}  // namespace portflow::aws
