#include <atomic>
#include <nlohmann/json.hpp>

#include "cloud_backend/aws/eks.h"
#include "cloud_backend/aws/sqs.h"
#include "cloud_backend/provider.h"
#include "core/json_fields.h"

namespace portflow::cloud {
namespace {

class AwsProvider : public Provider {
 public:
  AwsProvider(std::unique_ptr<aws::Client> client, std::string cluster, std::string queue)
      : client_(std::move(client)),
        eks_(*client_, std::move(cluster)),
        sqs_(*client_),
        queue_(std::move(queue)) {}

  Result<NodeGroupState> Group(const std::string& name) override {
    ++calls_;
    ASSIGN_OR_RETURN(aws::NodeGroup g, eks_.DescribeNodegroup(name));
    return NodeGroupState{g.name,           g.capacity_type == "SPOT",
                          g.instance_types, g.min_size,
                          g.max_size,       g.desired_size,
                          g.health};
  }

  Result<TimePoint> Resize(const std::string& group, int desired, TimePoint now) override {
    ++calls_;
    Result<aws::NodeGroupUpdate> update = eks_.SetDesiredSize(group, desired);
    if (!update.ok() &&
        update.status().message().find("ResourceInUseException") != std::string::npos)
      return Aborted(update.status().message());
    RETURN_IF_ERROR(update.status());
    return update->created_at.value_or(now);
  }

  Result<std::vector<std::string>> Interruptions() override {
    if (queue_url_.empty()) {
      ++calls_;
      ASSIGN_OR_RETURN(queue_url_, sqs_.QueueUrl(queue_));
    }
    ++calls_;
    ASSIGN_OR_RETURN(std::vector<aws::SqsMessage> messages, sqs_.Receive(queue_url_, 10, 0));
    std::vector<std::string> out;
    for (const aws::SqsMessage& m : messages) {
      nlohmann::json event = nlohmann::json::parse(m.body, nullptr, false);
      if (Str(event, "detail-type") == "EC2 Spot Instance Interruption Warning")
        out.push_back(Str(Field(event, "detail"), "instance-id"));
      ++calls_;
      RETURN_IF_ERROR(sqs_.Delete(queue_url_, m.receipt_handle));
    }
    return out;
  }

  int64_t calls() const override { return calls_.load(); }

 private:
  std::unique_ptr<aws::Client> client_;
  aws::Eks eks_;
  aws::Sqs sqs_;
  std::string queue_, queue_url_;
  std::atomic<int64_t> calls_{0};
};

}  // namespace

std::unique_ptr<Provider> NewAwsProvider(std::unique_ptr<aws::Client> client, std::string cluster,
                                         std::string queue) {
  return std::make_unique<AwsProvider>(std::move(client), std::move(cluster), std::move(queue));
}

}  // namespace portflow::cloud
