// The cloud-rehearsal backend: the cloud backend over the fake cloud
// embedded in this process (EKS, SQS and the cluster its instances join,
// served on loopback), in execute mode: pods are processes of this machine,
// nodes join 3 s after they are asked for, and the bill is the fake cloud's.
// Its S3 keeps what it holds under the work folder.
#include <filesystem>

#include "cloud_backend/cloud_backend_internal.h"
#include "cloud_backend/fake_cloud/fake_cloud.h"
#include "core/process/proc.h"
#include "core/quantity.h"
#include "k8s_backend/fake_cluster/fake_transport.h"
#include "k8s_backend/kubernetes_backend.h"

namespace portflow {
namespace {

class CloudRehearsalBackend : public CloudBackend {
 public:
  CloudRehearsalBackend(CloudBackendOptions o, std::unique_ptr<fake_cloud::FakeCloud> cloud)
      : CloudBackend(std::move(o)), cloud_(std::move(cloud)) {}
  ~CloudRehearsalBackend() override {
    Shutdown();  // the sizing thread and the Jobs' watches end before the cloud goes
    cloud_.reset();
  }

  std::string name() const override { return "cloud-rehearsal"; }
  Capabilities capabilities() const override {
    return {{{Feature::kImage,
              "the cloud rehearsal runs the command on this machine, without a container"}}};
  }
  // The embedded cluster's volumes are directories on this machine.
  std::string OutputsLocation(const std::string& run_id, const std::string&) const override {
    return cloud_->options().kubelet.exec_root + "/volumes/default/" +
           k8s::KubernetesTarget{}.artifacts_claim + "/" + run_id;
  }
  std::string OutputsDir(const std::string& run_id, const std::string& run_dir) const override {
    return OutputsLocation(run_id, run_dir);
  }
  // As the rehearsal: the pods the dead portflow ran as processes are
  // stopped, and the new cloud, which has none of the Jobs, reports every
  // attempt lost, so that the engine runs it again.
  Result<std::vector<RecoveredTask>> Recover(const std::string& run_id,
                                             const std::vector<TaskHandle>& handles) override {
    StopProcesses(ProcessesWithEnv("PORTFLOW_RUN_ID=" + run_id), std::chrono::seconds(5));
    return CloudBackend::Recover(run_id, handles);
  }

 private:
  std::unique_ptr<fake_cloud::FakeCloud> cloud_;
};

}  // namespace

Result<CloudRehearsal> MakeCloudRehearsal(const std::map<std::string, std::string>& given) {
  std::map<std::string, std::string> settings = {
      {"cluster", "burst"},
      {"nodeGroups", "[cpu-spot, cpu-ondemand, gpu-ondemand, gpu-spot]"},
      {"provisioning", "3s"}};
  std::string work_dir = ".portflow/cloud-rehearsal";
  std::string agent = SelfExecutable();
  for (const auto& [key, value] : given) {
    if (key == "workDir") {
      work_dir = value;
    } else if (key == "agentBinary") {
      agent = value;
    } else if (key == "endpoint" || key == "kubeconfig" || key == "context" || key == "profile") {
      return InvalidArgument("setting " + key +
                             ": the cloud rehearsal makes its own cloud; name no " + key);
    } else {
      settings[key] = value;
    }
  }
  ASSIGN_OR_RETURN(CloudTarget t, ParseCloudTarget(settings));

  fake_cloud::FakeCloudOptions f;
  f.region = t.region;
  f.cluster = t.cluster;
  f.provisioning = t.provisioning;
  f.spot_notice = t.spot_notice;
  // autoscaler: cluster: the embedded cluster runs its own.
  if (t.autoscaler == CloudTarget::Autoscaler::kCluster)
    f.autoscaler = fake_cloud::AutoscalerOptions{};
  // Instance ids from the wall clock (ms): a run resumed on a new cloud
  // rehearsal meets no new node named as one of its old ones.
  f.first_instance = static_cast<unsigned long long>(ToUnixMillis(RealClock().Now()));
  // A catalog of the target's own prices what the fake cloud launches, so
  // that the run's cost is still the bill's.
  if (!t.catalog.empty()) {
    ASSIGN_OR_RETURN(cloud::Catalog catalog, cloud::Catalog::Load(t.catalog));
    f.catalog = std::make_shared<const cloud::Catalog>(std::move(catalog));
  }
  f.kubelet.execute = true;
  // The agent image of a hybrid target's pods is this binary (or the
  // portflow that agentBinary names, for tests).
  f.kubelet.image_files[kDefaultAgentImage] = {{"/portflow", agent}};
  f.kubelet.exec_root = std::filesystem::absolute(work_dir).lexically_normal().string();
  // Its S3 outlives the process, as the outputs of a run that a resume goes
  // on with must.
  f.s3_dir = f.kubelet.exec_root + "/s3";
  ASSIGN_OR_RETURN(std::unique_ptr<fake_cloud::FakeCloud> cloud, fake_cloud::FakeCloud::Make(f));
  RETURN_IF_ERROR(cloud->Serve(0));

  KubernetesBackendOptions k;
  ASSIGN_OR_RETURN(k.target, k8s::ParseKubernetesTarget(t.kubernetes));
  if (k.target.namespace_name.empty()) k.target.namespace_name = "default";
  // Its URL, CA and token are held in memory only, for this run.
  k.access = fake::ServedAccess(cloud->cluster());
  k.access->context = t.cluster;

  CloudBackendOptions o;
  o.access = *k.access;
  o.provider = cloud::NewAwsProvider(
      std::make_unique<aws::Client>(
          cloud->url(), t.region,
          aws::Credentials{cloud->options().access_key_id, cloud->options().secret_access_key, "",
                           "the cloud rehearsal's own keys"}),
      t.cluster, t.interruption_queue);
  o.inner = NewKubernetesBackend(std::move(k));
  o.target = std::move(t);
  CloudRehearsal out{nullptr, cloud->url(), cloud->options().access_key_id,
                     cloud->options().secret_access_key};
  out.backend.reset(new CloudRehearsalBackend(std::move(o), std::move(cloud)));
  return out;
}

void RegisterCloudRehearsal() {
  RegisterBackend(
      "cloud-rehearsal",
      [](const std::map<std::string, std::string>& settings) -> Result<std::unique_ptr<Backend>> {
        ASSIGN_OR_RETURN(CloudRehearsal made, MakeCloudRehearsal(settings));
        return std::move(made.backend);
      });
}

}  // namespace portflow
