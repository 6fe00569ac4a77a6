// A Backend that forwards every call to another (LevelDB's EnvWrapper): a
// decorator overrides only what it changes. The inner backend's events come
// back through the wrapper (OnInnerEvent), so a decorator can also see or
// change what the engine hears.
#pragma once

#include <memory>

#include "core/backend.h"

namespace portflow {

class BackendWrapper : public Backend, private EventSink {
 public:
  explicit BackendWrapper(std::unique_ptr<Backend> inner);

  Backend& inner() { return *inner_; }
  const Backend& inner() const { return *inner_; }

  std::string name() const override { return inner_->name(); }
  Capabilities capabilities() const override { return inner_->capabilities(); }
  std::string ArtifactRootOn(const std::string& member, const std::string& run_id,
                             const std::string& run_dir) const override {
    return inner_->ArtifactRootOn(member, run_id, run_dir);
  }
  std::string ArtifactRoot(const std::string& run_id, const std::string& run_dir) const override {
    return inner_->ArtifactRoot(run_id, run_dir);
  }
  std::string OutputsLocation(const std::string& run_id,
                              const std::string& run_dir) const override {
    return inner_->OutputsLocation(run_id, run_dir);
  }
  std::string OutputsDir(const std::string& run_id, const std::string& run_dir) const override {
    return inner_->OutputsDir(run_id, run_dir);
  }
  Result<std::string> OutputsArchive(const std::string& run_id, const std::string& rel,
                                     const std::string& image) override {
    return inner_->OutputsArchive(run_id, rel, image);
  }
  ResourceRequest Capacity() override { return inner_->Capacity(); }
  std::optional<Duration> MoveAfter() const override { return inner_->MoveAfter(); }
  Availability Probe() override { return inner_->Probe(); }
  Status Cancel(const TaskHandle& handle, bool force) override {
    return inner_->Cancel(handle, force);
  }
  Result<std::vector<RecoveredTask>> Recover(const std::string& run_id,
                                             const std::vector<TaskHandle>& handles) override {
    return inner_->Recover(run_id, handles);
  }
  void StartRun(const std::string& run_id, const std::string& run_dir) override {
    inner_->StartRun(run_id, run_dir);
  }
  std::optional<double> CostSoFar() override { return inner_->CostSoFar(); }
  std::optional<RunCost> FinishRun(const std::string& run_id) override {
    return inner_->FinishRun(run_id);
  }
  Status Logs(const TaskHandle& handle, int replica, bool follow,
              const std::function<bool(std::string_view)>& sink) override {
    return inner_->Logs(handle, replica, follow, sink);
  }
  int TakeOverWaiting() override { return inner_->TakeOverWaiting(); }
  void Drive() override { inner_->Drive(); }
  void ReleaseWaiting() override { inner_->ReleaseWaiting(); }

 protected:
  Result<std::string> DoRender(const TaskSpec& spec) const override { return inner_->Render(spec); }
  Status DoCheck(const TaskSpec& spec) const override { return inner_->Check(spec); }
  Result<TaskHandle> DoSubmit(const TaskSpec& spec) override { return inner_->Submit(spec); }
  Placement DoPlace(const PlacementRequest& request) override { return inner_->Place(request); }
  // Each event of the inner backend; the default passes it on unchanged.
  virtual void OnInnerEvent(TaskEvent event) { Emit(std::move(event)); }

  // Drops the inner backend first (its threads may still send events).
  void ResetInner() { inner_.reset(); }

 private:
  void OnTaskEvent(TaskEvent event) override { OnInnerEvent(std::move(event)); }

  std::unique_ptr<Backend> inner_;
};

}  // namespace portflow
