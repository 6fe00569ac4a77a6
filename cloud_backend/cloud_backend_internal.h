// The cloud backend's class, for cloud_backend.cc, the cloud-rehearsal
// backend (cloud_rehearsal.cc) and tests. Users go through the registry.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cloud_backend/catalog.h"
#include "cloud_backend/cloud_backend.h"
#include "cloud_backend/provider.h"
#include "cloud_backend/sizing.h"
#include "core/backend_wrapper.h"
#include "k8s_backend/client/api_client.h"
#include "k8s_backend/client/kubeconfig.h"

namespace portflow {

struct CloudBackendOptions {
  CloudTarget target;
  std::unique_ptr<cloud::Provider> provider;
  // The kubernetes backend on the cloud's cluster, and that cluster, whose
  // nodes and pods the backend reads to size the groups.
  std::unique_ptr<Backend> inner;
  k8s::ClusterAccess access;
  Status access_error;  // why `access` could not be had (the kubeconfig): said at the first call
  Clock* clock = &RealClock();
  Duration tick = std::chrono::milliseconds(500);  // how often it looks
  // How it reaches the cluster to read it; over the network (`access`)
  // when empty (the fake cluster in process, for virtual time).
  std::function<Result<std::unique_ptr<k8s::Transport>>(const k8s::ClusterAccess&)> transport;
};

class CloudBackend : public BackendWrapper {
 public:
  explicit CloudBackend(CloudBackendOptions options);
  ~CloudBackend() override;

  std::string name() const override { return "cloud"; }
  ResourceRequest Capacity() override;
  Availability Probe() override;
  // Where the nodes the run added are kept (RUN_DIR/cloud-nodes.json), and
  // read back when the run is resumed.
  void StartRun(const std::string& run_id, const std::string& run_dir) override;
  std::optional<RunCost> FinishRun(const std::string& run_id) override;
  std::optional<double> CostSoFar() override;

 protected:
  Placement DoPlace(const PlacementRequest& request) override;
  Result<TaskHandle> DoSubmit(const TaskSpec& spec) override;
  void OnInnerEvent(TaskEvent event) override;
  // Stops the sizing thread and the inner backend (a subclass that owns
  // what they use calls it first).
  void Shutdown();
  // Stops the sizing thread only (the run is done with it).
  void StopLoop();

 private:
  // A node this run asked for: from the raised desired size (its launch, as
  // the cloud bills it) to the end of its node.
  struct Launched {
    std::string group;
    std::string node;  // "" until a node of its group joins for it
    TimePoint launched;
    std::optional<TimePoint> ended;
    std::optional<TimePoint> idle_since;
    std::optional<TimePoint> warned;  // of a spot interruption
    double price = 0;                 // USD an hour
    std::string type;                 // its instance type once joined ("": the group's first)
  };

  // Reads the node groups (once, then every 10 s): what the first call
  // that needs the cloud says when it cannot be reached.
  Status Start();
  Status ReadGroups();
  void Loop();
  // One look: the cluster's nodes and pods, then groups grown for pods no
  // node takes (within maxHourlyCost) and idle nodes given back.
  Status Tick();
  // Asks for `desired` nodes of `group`; returns when the cloud took it.
  Result<TimePoint> Resize(const std::string& group, int desired);
  // Groups with nodes on their way are read: one that says it cannot
  // launch them is passed over for 60 s, and gets back what it was asked
  // for that has not joined when it would have.
  Status GiveUpFailedLaunches(TimePoint now);
  // Says, for each pod of `keys` that no node takes, why it waits now
  // (Provisioning, Budget, Unschedulable) when that changed.
  void Report(const std::vector<ResourceRequest>& waiting, const std::vector<std::string>& avoid,
              const std::vector<std::string>& keys);
  // Reads the spot interruption warnings: each warned node of the cluster
  // is cordoned, and the run's attempts on it are stopped, to end as
  // Preempted and avoid that group when they are placed again. A warning
  // for an instance that `node_of` lacks waits for the next look.
  Status Interrupt(TimePoint now, const std::map<std::string, std::string>& node_of,
                   const std::map<std::string, std::string>& group_of,
                   const std::map<std::string, std::set<std::string>>& keys_on);
  // Says that `event`'s pod waits for a node of `group`, ready at `ready`:
  // one portflow adds, or (`autoscaler: cluster`) one the cluster's
  // autoscaler is expected to add.
  void Provisioning(TaskEvent& event, const std::string& group, TimePoint ready) const;
  // Whether portflow sizes the groups (else the cluster's autoscaler does).
  bool Sizes() const { return target_.autoscaler == CloudTarget::Autoscaler::kPortflow; }
  // Lowers `group` by `count` of the nodes this run added, newest first.
  Status Shrink(const std::string& group, int count);
  // (mu_ held)
  void SaveLedger();
  bool Allowed(const cloud::GroupView& g) const;
  const cloud::GroupView* GroupNamed(const std::string& name) const;  // null when not read
  // What the allowed groups hold at their max sizes: the capacity.
  ResourceRequest Potential() const;
  double HourlyNow() const;
  // The run's cost if it ended now: the nodes it added, each billed from
  // its launch to its end (or now), 60 s at least; with `autoscaler:
  // cluster`, its pods' share of the nodes they used.
  RunCost BilledCost() const;
  cloud::SizingInput SizingFor(const std::vector<ResourceRequest>& waiting,
                               const std::vector<std::string>& avoid = {}) const;

  CloudTarget target_;
  std::unique_ptr<cloud::Provider> provider_;
  k8s::ClusterAccess access_;
  Clock& clock_;
  Duration tick_;
  std::function<Result<std::unique_ptr<k8s::Transport>>(const k8s::ClusterAccess&)> transport_;
  const cloud::Catalog* catalog_ = nullptr;
  std::unique_ptr<cloud::Catalog> own_catalog_;
  Status setup_error_;
  std::once_flag started_;
  Status start_status_;
  std::unique_ptr<k8s::ApiClient> client_;
  std::thread loop_;

  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool woken_ = false;  // a submission wants a look now
  std::vector<cloud::GroupView> groups_;
  std::map<std::string, int> desired_;
  std::set<std::string> unhealthy_;
  std::set<std::string> busy_;  // groups whose last resize was refused as still under way
  TimePoint groups_read_;
  std::vector<cloud::NodeRoom> free_on_nodes_;
  std::set<std::string> seen_nodes_;
  // autoscaler: cluster: each group's schedulable nodes at the last look,
  // and since when it has had fewer than its desired size.
  std::map<std::string, int> schedulable_;
  std::map<std::string, TimePoint> growing_since_;
  // The attempts' costs, summed as each ends, and the nodes their pods ran
  // on: the run's cost when the cluster's autoscaler sized the groups.
  double attempts_cost_ = 0;
  std::set<std::string> nodes_used_;
  std::vector<Launched> launched_;
  std::string ledger_;  // RUN_DIR/cloud-nodes.json once StartRun named it
  std::map<std::string, TimePoint> last_growth_;
  std::map<std::string, TimePoint> failed_until_;  // groups passed over after a failed launch
  std::string run_label_;
  struct Need {
    ResourceRequest per_replica;
    int replicas = 1;
    std::string instance_label, attempt;  // its pods' portflow.dev labels
    std::optional<TaskHandle> handle;     // once submitted
    std::optional<TimePoint> submitted;   // by this process (not known on resume)
  };
  std::map<std::string, Need> needs_;  // submitted, not ended, by key
  ResourceRequest in_use_;
  bool budget_blocked_ = false;
  std::string budget_blocked_message_;
  // The queue cannot be read for good (missing, refused), or failed at the
  // last look (the loop's thread only).
  bool interruptions_off_ = false, interruptions_failing_ = false;
  // Warnings read (and so deleted from the queue) whose instance no node of
  // that look's list named: a node that joined after the list was read, or
  // one of another cluster. Looked for again at each look while their
  // notice runs (the loop's thread only).
  std::vector<cloud::SpotWarning> unmatched_warnings_;
  // Nodes a warning named, while its notice runs: an attempt seen on one at
  // a later look (its pod bound between a look's list of pods and the
  // cordon) is preempted as those seen there at once were (the loop's
  // thread only).
  struct WarnedNode {
    std::string node, group;
    TimePoint at;  // when the cloud warned
  };
  std::vector<WarnedNode> warned_nodes_;
  std::map<std::string, std::string> preempted_;  // attempt key -> why
  // The attempt after a preempted one (instance and attempt labels) -> the
  // group it must not go to: that attempt's placement only.
  std::map<std::pair<std::string, std::string>, std::string> avoid_for_;
  // Where each attempt's pods run: since when (first seen), the share of
  // the node they requested, and the node's price.
  struct Use {
    TimePoint since;
    double share = 0;
    double price = 0;
    std::string node;
  };
  std::map<std::string, std::map<std::string, Use>> usage_;  // attempt key -> pod -> use

  // Around Emit, never with mu_: what each waiting attempt was last said
  // to wait for, and the attempts that left Pending.
  std::mutex emit_mu_;
  std::map<std::string, std::string> reported_;
  std::set<std::string> left_pending_;
};

// The cloud rehearsal backend with where its cloud's S3 is and the keys
// that reach it (the hybrid rehearsal keeps outputs there).
struct CloudRehearsal {
  std::unique_ptr<Backend> backend;
  std::string s3_endpoint;
  std::string access_key_id, secret_access_key;
};
Result<CloudRehearsal> MakeCloudRehearsal(const std::map<std::string, std::string>& settings);

// Registers "cloud-rehearsal" (cloud_rehearsal.cc) and "hybrid-rehearsal"
// (hybrid_rehearsal.cc).
void RegisterCloudRehearsal();
void RegisterHybridRehearsal();

}  // namespace portflow
