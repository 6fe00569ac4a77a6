// The hybrid-rehearsal backend, behind the built-in `hybrid-rehearsal`
// target: a hybrid of the embedded fake on-prem cluster (member "onprem",
// one small node) and the embedded fake cloud (member "cloud"), whose S3
// holds the run's outputs, so that a laptop shows the whole bursting story
// with nothing installed: what waits on "onprem" past burstAfter moves to
// "cloud", which adds a node for it, and steps on either read what steps on
// the other made, through the store. Pods on both run under the agent
// (this binary, the clusters' agent image).
#include "cloud_backend/aws/aws_client.h"
#include "cloud_backend/aws/s3.h"
#include "cloud_backend/cloud_backend_internal.h"
#include "cloud_backend/hybrid/hybrid_backend.h"

namespace portflow {
namespace {

// Its defaults are made to show bursting on the laptop pipeline: its
// training sweep asks for 2 CPUs at once (two gangs of two 500m replicas)
// where "onprem" has 1.5, so one gang waits there. A gang trains for a
// second or less, so the one waiting moves as soon as it is seen to wait
// (burstAfter 0s), to the cloud, whose node takes 3 s to come; it stays
// there for those 3 s, which the cloud foresaw.
const std::map<std::string, std::string> kDefaults = {
    {"burstAfter", "0s"}, {"budget", "2USD"}, {"onpremCpu", "1500m"}};
constexpr const char* kBucket = "portflow-rehearsal";

Result<std::unique_ptr<Backend>> MakeHybridRehearsal(
    const std::map<std::string, std::string>& given) {
  std::map<std::string, std::string> settings = kDefaults;
  std::string work_dir = ".portflow/hybrid-rehearsal";
  std::map<std::string, std::string> both;  // for each member
  for (const auto& [key, value] : given) {
    if (key == "workDir") {
      work_dir = value;
    } else if (key == "agentBinary") {
      both[key] = value;
    } else if (kDefaults.count(key)) {
      settings[key] = value;
    } else {
      return InvalidArgument("unknown setting \"" + key +
                             "\" for the hybrid-rehearsal backend (known: burstAfter, budget, "
                             "onpremCpu, workDir, agentBinary)");
    }
  }
  std::string cpu = settings["onpremCpu"];
  settings.erase("onpremCpu");
  // Members through the registry's own settings, named as the hybrid
  // parser expects them (member.N.KEY).
  settings["member.0.name"] = "onprem";
  settings["member.0.backend"] = "rehearsal";
  settings["member.1.name"] = "cloud";
  settings["member.1.backend"] = "cloud-rehearsal";
  ASSIGN_OR_RETURN(HybridTarget target, ParseHybridTarget(settings));

  std::vector<std::pair<std::string, std::unique_ptr<Backend>>> members;
  std::map<std::string, std::string> own = both;
  own.insert({{"nodes", "1"}, {"cpu", cpu}, {"workDir", work_dir + "/onprem"}});
  auto onprem = CreateBackend("rehearsal", own);
  if (!onprem.ok())
    return Status(onprem.status().code(), "member onprem: " + onprem.status().message());
  members.emplace_back("onprem", std::move(*onprem));
  own = both;
  own["workDir"] = work_dir + "/cloud";
  auto cloud = MakeCloudRehearsal(own);
  if (!cloud.ok())
    return Status(cloud.status().code(), "member cloud: " + cloud.status().message());

  // The store: a bucket in the fake cloud's S3, reached with its keys.
  aws::Client client(cloud->s3_endpoint, "us-east-1",
                     aws::Credentials{cloud->access_key_id, cloud->secret_access_key, "",
                                      "the cloud rehearsal's own keys"});
  aws::S3 s3(client);
  RETURN_IF_ERROR(s3.CreateBucket(kBucket));
  target.artifacts = std::string("s3://") + kBucket + "/runs";
  target.artifacts_endpoint = cloud->s3_endpoint;
  target.credentials = {{"AWS_ACCESS_KEY_ID", cloud->access_key_id},
                        {"AWS_SECRET_ACCESS_KEY", cloud->secret_access_key}};
  members.emplace_back("cloud", std::move(cloud->backend));
  return MakeHybridBackend(target, std::move(members));
}

}  // namespace

void RegisterHybridRehearsal() { RegisterBackend("hybrid-rehearsal", MakeHybridRehearsal); }

}  // namespace portflow
