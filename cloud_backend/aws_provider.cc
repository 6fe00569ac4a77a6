#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>

#include "cloud_backend/aws/ec2.h"
#include "cloud_backend/aws/eks.h"
#include "cloud_backend/aws/sqs.h"
#include "cloud_backend/provider.h"
#include "core/json_fields.h"
#include "core/json_parse.h"
#include "core/k8s_time.h"
#include "core/log.h"

namespace portflow::cloud {
namespace {

class AwsProvider : public Provider {
 public:
  AwsProvider(std::unique_ptr<aws::Client> client, std::string cluster, std::string queue)
      : client_(std::move(client)),
        eks_(*client_, std::move(cluster)),
        ec2_(*client_),
        sqs_(*client_),
        queue_(std::move(queue)) {}

  Result<NodeGroupState> Group(const std::string& name) override {
    ++calls_;
    ASSIGN_OR_RETURN(aws::NodeGroup g, eks_.DescribeNodegroup(name));
    return NodeGroupState{g.name,           g.capacity_type == "SPOT",
                          g.instance_types, g.min_size,
                          g.max_size,       g.desired_size,
                          g.health,         Zones(g.subnets)};
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

  Result<std::vector<SpotWarning>> Interruptions() override {
    if (queue_url_.empty()) {
      ++calls_;
      ASSIGN_OR_RETURN(queue_url_, sqs_.QueueUrl(queue_));
    }
    ++calls_;
    ASSIGN_OR_RETURN(std::vector<aws::SqsMessage> messages, sqs_.Receive(queue_url_, 10, 0));
    std::vector<SpotWarning> out;
    for (const aws::SqsMessage& m : messages) {
      nlohmann::json event = ParseJson(m.body);
      if (Str(event, "detail-type") == "EC2 Spot Instance Interruption Warning")
        out.push_back(
            {Str(Field(event, "detail"), "instance-id"), ParseK8sTime(Str(event, "time"))});
      ++calls_;
      // Not deleted, it comes again after its visibility timeout (read
      // twice, a warning does no harm); the ones read stand.
      if (Status st = sqs_.Delete(queue_url_, m.receipt_handle); !st.ok())
        PORTFLOW_LOG(LogLevel::kWarn, "cloud",
                     "a spot warning was read but not deleted: " + st.message());
    }
    return out;
  }

  int64_t calls() const override { return calls_.load(); }

 private:
  // The zones of `subnets`, in their order. A subnet keeps its zone, so
  // each is asked once. None when EC2 will not say (said once; refused
  // for good when the credentials may not ask): a group is then priced in
  // the catalog's first zone.
  std::vector<std::string> Zones(const std::vector<std::string>& subnets) {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<std::string> unknown;
    for (const std::string& s : subnets)
      if (!zone_of_.count(s)) unknown.push_back(s);
    if (!unknown.empty() && !subnets_refused_) {
      ++calls_;
      auto got = ec2_.SubnetZones(unknown);
      if (got.ok()) {
        zone_of_.insert(got->begin(), got->end());
      } else {
        subnets_refused_ = got.status().code() == StatusCode::kFailedPrecondition;
        if (!subnets_warned_)
          PORTFLOW_LOG(LogLevel::kWarn, "cloud",
                       "the zones of the node groups' subnets could not be read (" +
                           got.status().message() +
                           "): each group is priced in the catalog's first zone");
        subnets_warned_ = true;
      }
    }
    std::vector<std::string> zones;
    for (const std::string& s : subnets) {
      auto z = zone_of_.find(s);
      if (z != zone_of_.end() && std::find(zones.begin(), zones.end(), z->second) == zones.end())
        zones.push_back(z->second);
    }
    return zones;
  }

  std::unique_ptr<aws::Client> client_;
  aws::Eks eks_;
  aws::Ec2 ec2_;
  aws::Sqs sqs_;
  std::mutex mu_;
  std::map<std::string, std::string> zone_of_;  // subnet -> zone
  bool subnets_refused_ = false, subnets_warned_ = false;
  std::string queue_, queue_url_;
  std::atomic<int64_t> calls_{0};
};

}  // namespace

std::unique_ptr<Provider> NewAwsProvider(std::unique_ptr<aws::Client> client, std::string cluster,
                                         std::string queue) {
  return std::make_unique<AwsProvider>(std::move(client), std::move(cluster), std::move(queue));
}

}  // namespace portflow::cloud
