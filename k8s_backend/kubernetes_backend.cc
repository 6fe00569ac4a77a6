#include "k8s_backend/kubernetes_backend.h"

#include "core/backend.h"
#include "k8s_backend/kubeconfig.h"
#include "k8s_backend/render.h"

namespace portflow {
namespace {

using k8s::json;

Status NotYet() {
  return Unimplemented(
      "the kubernetes backend renders its Jobs (portflow render) but cannot run them yet");
}

class KubernetesBackend : public Backend {
 public:
  explicit KubernetesBackend(k8s::KubernetesTarget target) : target_(std::move(target)) {
    namespace_ = target_.namespace_name;
    if (namespace_.empty()) {
      // The context's namespace, as kubectl would use it; "default" when
      // there is no kubeconfig here (rendering needs no cluster).
      auto access = k8s::ResolveClusterAccess({target_.kubeconfig, target_.context, ""},
                                              k8s::KubeconfigEnv::FromProcess());
      namespace_ = access.ok() ? access->namespace_name : "default";
    }
  }

  std::string name() const override { return "kubernetes"; }
  Capabilities capabilities() const override { return {}; }
  std::string ArtifactRoot(const std::string& run_id, const std::string&) const override {
    return std::string(k8s::kArtifactMount) + "/" + run_id;
  }
  ResourceRequest Capacity() override { return {}; }
  Status Cancel(const TaskHandle&, bool) override { return NotYet(); }
  Result<std::vector<RecoveredTask>> Recover(const std::string&,
                                             const std::vector<TaskHandle>&) override {
    return NotYet();
  }
  Status Logs(const TaskHandle&, int, bool, const std::function<bool(std::string_view)>&) override {
    return NotYet();
  }

 protected:
  Result<std::string> DoRender(const TaskSpec& spec) const override {
    std::map<std::string, std::string> code;
    if (target_.ship_code) {
      ASSIGN_OR_RETURN(code, k8s::CollectCode(spec.workdir));
    }
    ASSIGN_OR_RETURN(std::vector<json> objects, k8s::RenderTask(spec, target_, namespace_, code));
    json out = {{"backend", "kubernetes"},
                {"instance", spec.instance},
                {"attempt", spec.attempt},
                {"objects", objects}};
    return out.dump(2);
  }
  Result<TaskHandle> DoSubmit(const TaskSpec&) override { return NotYet(); }

 private:
  k8s::KubernetesTarget target_;
  std::string namespace_;
};

}  // namespace

void RegisterKubernetesBackend() {
  RegisterBackend(
      "kubernetes",
      [](const std::map<std::string, std::string>& settings) -> Result<std::unique_ptr<Backend>> {
        ASSIGN_OR_RETURN(k8s::KubernetesTarget target, k8s::ParseKubernetesTarget(settings));
        return std::unique_ptr<Backend>(new KubernetesBackend(std::move(target)));
      });
}

}  // namespace portflow
