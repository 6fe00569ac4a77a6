#include "k8s_backend/rehearsal/rehearsal.h"

#include <filesystem>

#include "core/backend_wrapper.h"
#include "core/process/proc.h"
#include "k8s_backend/fake_cluster/fake_cluster.h"
#include "k8s_backend/fake_cluster/fake_transport.h"
#include "k8s_backend/kubernetes_backend.h"

namespace portflow {
namespace {

// The kubernetes backend over the embedded cluster: forwards everything
// but its name, what it cannot honour, where outputs are, and Recover.
class RehearsalBackend : public BackendWrapper {
 public:
  RehearsalBackend(std::unique_ptr<fake::FakeCluster> cluster, std::unique_ptr<Backend> inner,
                   std::string volumes)
      : BackendWrapper(std::move(inner)),
        cluster_(std::move(cluster)),
        volumes_(std::move(volumes)) {}
  ~RehearsalBackend() override {
    ResetInner();  // its watches and log copies end before the cluster goes
    cluster_.reset();
  }

  std::string name() const override { return "rehearsal"; }
  Capabilities capabilities() const override {
    return {
        {{Feature::kImage, "the rehearsal runs the command on this machine, without a container"}}};
  }
  // The embedded cluster's volumes are directories on this machine.
  std::string OutputsLocation(const std::string& run_id, const std::string&) const override {
    return volumes_ + "/default/" + k8s::KubernetesTarget{}.artifacts_claim + "/" + run_id;
  }
  std::string OutputsDir(const std::string& run_id, const std::string& run_dir) const override {
    return OutputsLocation(run_id, run_dir);
  }
  // The embedded cluster died with the portflow that ran it, but the pods
  // it ran as processes of this machine did not: they are stopped (found by
  // the run's id in their environment, as the local backend finds its own),
  // and the new cluster, which has none of the Jobs, reports every attempt
  // lost, so that the engine runs it again.
  Result<std::vector<RecoveredTask>> Recover(const std::string& run_id,
                                             const std::vector<TaskHandle>& handles) override {
    StopProcesses(ProcessesWithEnv("PORTFLOW_RUN_ID=" + run_id), std::chrono::seconds(5));
    return BackendWrapper::Recover(run_id, handles);
  }

 private:
  std::unique_ptr<fake::FakeCluster> cluster_;
  std::string volumes_;  // the fake cluster's volumes, on this machine
};

Result<std::unique_ptr<Backend>> MakeRehearsal(const std::map<std::string, std::string>& settings) {
  fake::ClusterOptions o;
  o.nodes = 3;
  std::string work_dir = ".portflow/rehearsal";
  std::string agent = SelfExecutable();
  for (const auto& [key, value] : settings) {
    if (key == "nodes") {
      o.nodes = std::atoi(value.c_str());
      if (o.nodes < 1 || o.nodes > 5000)
        return InvalidArgument("setting nodes must be 1 to 5000, not \"" + value + "\"");
    } else if (key == "cpu") {
      o.cpu = value;
    } else if (key == "memory") {
      o.memory = value;
    } else if (key == "gpus") {
      o.gpus = std::atoi(value.c_str());
    } else if (key == "workDir") {
      work_dir = value;
    } else if (key == "agentBinary") {
      agent = value;
    } else {
      return InvalidArgument("unknown setting \"" + key +
                             "\" for the rehearsal backend (known: nodes, cpu, memory, gpus, "
                             "workDir, agentBinary)");
    }
  }
  o.kubelet.execute = true;
  // The agent image of a hybrid target's pods is this binary (or the
  // portflow that agentBinary names, for tests).
  o.kubelet.image_files[kDefaultAgentImage] = {{"/portflow", agent}};
  o.kubelet.exec_root = std::filesystem::absolute(work_dir).lexically_normal().string();
  ASSIGN_OR_RETURN(std::unique_ptr<fake::FakeCluster> cluster, fake::FakeCluster::Create(o));
  RETURN_IF_ERROR(cluster->Serve(0).status());
  KubernetesBackendOptions k;
  // No default image: a real cluster refuses a pod without one, so the
  // rehearsal does too (the image is not pulled; pods run on this machine).
  k.target.namespace_name = "default";
  // Its URL, CA and token are held in memory only, for this run.
  k.access = fake::ServedAccess(*cluster);
  k.access->context = "rehearsal";
  return std::unique_ptr<Backend>(new RehearsalBackend(
      std::move(cluster), NewKubernetesBackend(std::move(k)), o.kubelet.exec_root + "/volumes"));
}

}  // namespace

void RegisterRehearsalBackend() { RegisterBackend("rehearsal", MakeRehearsal); }

}  // namespace portflow
