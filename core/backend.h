// The Backend contract. Every place work can run (local processes, a
// Kubernetes cluster, the fake cluster, a cloud) implements this interface,
// and the engine drives all of them the same way. Commands are plain calls;
// state changes arrive as events on the EventSink.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/status.h"
#include "core/task.h"

namespace portflow {

// The TaskSpec features a backend may be unable to honour.
enum class Feature {
  kImage,     // a container image (spec.image)
  kGpu,       // GPUs (resources.gpu)
  kReplicas,  // a gang of replicas > 1
};

// "image", "gpu", "replicas": the workload field, as messages name it.
std::string_view FeatureName(Feature f);

// A feature a backend cannot honour, and why.
struct Unsupported {
  Feature feature;
  std::string reason;  // "local runs the command on the host, without a container"
};

struct Capabilities {
  std::vector<Unsupported> unsupported;
};

// A question to a backend before an attempt is submitted: could it start
// this now, could it ever, and at what price. `held` is capacity the caller
// keeps free for attempts ahead of this one (a gang waiting for room), so
// that small attempts do not starve it.
struct PlacementRequest {
  ResourceRequest per_replica;
  int replicas = 1;
  ResourceRequest held;
  // On a composite backend: members not to place it on, those it was
  // moved away from (see MoveAfter). A composite ignores them when no
  // other member could ever take it.
  std::vector<std::string> avoid_members;
  // How long it is expected to run, where the engine can tell (the mean of
  // its step's attempts that succeeded in this run, else its timeout): what
  // a priced backend estimates its cost from.
  std::optional<Duration> expected_runtime;
  ResourceRequest Total() const { return per_replica * replicas; }
};

// A backend's answer. Probing: no side effects, nothing is reserved or
// scaled; the answer may be stale by the time the attempt is submitted.
struct Placement {
  // It would start without waiting for capacity.
  bool can_start_now = false;
  // It fits the backend's capacity when nothing else runs (a gang: all its
  // replicas at once). False means it can never start here.
  bool can_ever_fit = false;
  // When it should start, where the backend can tell (now when it can
  // start now).
  std::optional<Duration> estimated_wait;
  // What it costs an hour, in US dollars, where the backend is priced.
  std::optional<double> hourly_price;
  // Capacity grows on demand (a cloud's node groups).
  bool elastic = false;
  // It takes an attempt it cannot start now and starts it when room comes
  // (a cluster's scheduler): a composite backend may send an attempt there
  // to wait. A backend that runs only what it can start now says false.
  bool queues = false;
  // Why it cannot start now or ever, for people.
  std::string why;
  // When it cannot start now for a reason the backend names (CamelCase, as
  // a pending reason: Budget), that name; "" when it just waits for room.
  std::string reason;
  // The member of a composite backend this answer is for ("" otherwise):
  // the engine submits the attempt there (TaskSpec::member) and records it.
  std::string member;
};

// Receives events from a backend. May be called from any backend thread; an
// implementation must be thread-safe and must not call back into the backend.
class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void OnTaskEvent(TaskEvent event) = 0;
};

// Work found by Recover() for a run whose engine died.
struct RecoveredTask {
  TaskHandle handle;
  // Terminal with a result when the backend knows how it ended; Running when
  // the backend re-attached and will send events; kUnknown when the outcome is
  // lost (the engine runs the instance again).
  TaskState state = TaskState::kUnknown;
  std::optional<ExitResult> result;
};

class Backend {
 public:
  virtual ~Backend() = default;

  // The registry name, e.g. "local".
  virtual std::string name() const = 0;

  // What this backend cannot honour. A --strict run refuses a workload that
  // uses any of these fields; otherwise they are ignored with a warning.
  virtual Capabilities capabilities() const = 0;

  // The directory (or mount path) under which a run's outputs live, as the
  // task sees it. TaskSpec output and input paths are built below it.
  virtual std::string ArtifactRoot(const std::string& run_id, const std::string& run_dir) const = 0;
  // The same on `member` of a composite backend (each member may keep
  // outputs elsewhere); ArtifactRoot on a plain backend.
  virtual std::string ArtifactRootOn(const std::string& member, const std::string& run_id,
                                     const std::string& run_dir) const {
    (void)member;
    return ArtifactRoot(run_id, run_dir);
  }
  // Where a person finds those outputs, for the run's summary: the artifact
  // root itself by default; a cluster names its volume.
  virtual std::string OutputsLocation(const std::string& run_id, const std::string& run_dir) const {
    return ArtifactRoot(run_id, run_dir);
  }
  // The folder on this machine that holds those outputs (the artifact root
  // itself by default); empty when only a cluster's volume has them.
  virtual std::string OutputsDir(const std::string& run_id, const std::string& run_dir) const {
    return ArtifactRoot(run_id, run_dir);
  }
  // The object store that holds the outputs (a hybrid target's
  // artifacts), with the credentials that read it; nullopt where outputs
  // are not in one.
  virtual Result<std::optional<ObjectStoreRef>> OutputsStore() {
    return std::optional<ObjectStoreRef>();
  }
  // A tar archive of what is at `rel` under run `run_id`'s artifact root
  // (all of it when empty), read from where only the backend reaches it (a
  // cluster's volume, by a short-lived pod that runs `image`).
  virtual Result<std::string> OutputsArchive(const std::string& run_id, const std::string& rel,
                                             const std::string& image) {
    (void)run_id, (void)rel, (void)image;
    return Unimplemented("the " + name() + " backend keeps outputs on this machine");
  }

  // How long an attempt may wait for capacity on a composite backend's
  // member (Pending for capacity there, or held for it by the engine)
  // before the engine asks Place() again with that member avoided, and
  // moves it where it can start (a hybrid target's burstAfter). nullopt:
  // attempts stay where they were placed.
  virtual std::optional<Duration> MoveAfter() const { return std::nullopt; }

  // Total capacity: what Place() measures can_ever_fit against, and what
  // `portflow targets` shows.
  virtual ResourceRequest Capacity() = 0;

  // Whether an attempt of `request` could start now, and could ever. The
  // engine submits an attempt only when this says it can start now. An
  // implementation answers from what it knows without waiting on work: its
  // own slots less what it runs, or a cluster's allocatable less what it has
  // placed there.
  Placement Place(const PlacementRequest& request);

  // For `portflow targets`: whether the backend can be reached now, what it
  // has in all, and what is free when it knows (a cluster: allocatable less
  // what its running and pending pods request).
  struct Availability {
    Status reachable;
    ResourceRequest capacity;
    std::optional<ResourceRequest> free;
  };
  virtual Availability Probe() { return {OkStatus(), Capacity(), std::nullopt}; }

  // The exact thing Submit would do for `spec`, as a JSON document (argv, env
  // and cwd of each replica for processes; manifests for clusters). Pure: no
  // side effects, same output for the same input.
  Result<std::string> Render(const TaskSpec& spec) const;
  // Whether Render would refuse `spec` (what the target can never take: no
  // image, code too large to ship), without building the document:
  // Preflight asks it of every step. Submit may still refuse what only an
  // attempt shows (an executable missing on this machine).
  Status Check(const TaskSpec& spec) const;

  // Starts one attempt. Idempotent per spec.Key(): submitting the same key
  // again returns the existing handle and starts nothing. InvalidArgument for
  // a spec the backend can never run, Unavailable for a transient failure
  // (the attempt failed), ResourceExhausted when a shortage that Place() does
  // not count stopped it (a process's open files): nothing of it is left, and
  // while other attempts run the engine submits it again when they end,
  // without counting an attempt.
  // After OK, the backend sends at least one terminal event for the key.
  Result<TaskHandle> Submit(const TaskSpec& spec);

  // Stops an attempt: gracefully (SIGTERM or delete with grace period), or at
  // once when `force`. Idempotent; OK for work that already ended. The
  // attempt's terminal event follows (state Cancelled unless it had already
  // ended otherwise).
  virtual Status Cancel(const TaskHandle& handle, bool force) = 0;

  // Called by a new engine for a run whose previous engine died, with the
  // handles of attempts it had not seen end. Must not lose or duplicate work:
  // a backend either re-attaches (state Running, events follow) or stops
  // what is left and reports it.
  virtual Result<std::vector<RecoveredTask>> Recover(const std::string& run_id,
                                                     const std::vector<TaskHandle>& handles) = 0;

  // Copies replica `replica`'s combined stdout and stderr to `sink` until the
  // end or, with `follow`, until the attempt ends; stops early when `sink`
  // returns false. Every backend keeps (or copies) the log at LogPath, so
  // the default reads that file (TailLog); a backend overrides this only to
  // read another place.
  virtual Status Logs(const TaskHandle& handle, int replica, bool follow,
                      const std::function<bool(std::string_view)>& sink);

  // The engine is about to drive run `run_id` (new, or resumed after its
  // portflow died) on this backend: one that keeps state of its own for
  // the run keeps it under `run_dir`, and finds it there on resume.
  virtual void StartRun(const std::string& run_id, const std::string& run_dir) {
    (void)run_id, (void)run_dir;
  }

  // What a run cost on a priced backend, once it ended.
  struct RunCost {
    double usd = 0;
    int nodes = 0;       // the nodes the run had added, each billed
    std::string detail;  // "2 c5.large (spot) for 3m10s", for people
  };
  // What the run has spent so far on a priced backend, in US dollars (the
  // nodes it added, billed up to now); nullopt where it is not priced.
  virtual std::optional<double> CostSoFar() { return std::nullopt; }
  // The run's engine is done with this backend: a backend that added
  // capacity for the run gives back what it added, and says what the run
  // cost; nullopt where the backend is not priced.
  virtual std::optional<RunCost> FinishRun(const std::string& run_id) {
    (void)run_id;
    return std::nullopt;
  }

  // Waiting on the caller's thread, for an engine that waits on descriptors
  // itself: a backend that can (the local one: its children's pidfds)
  // stops waiting on a thread of its own and returns a descriptor that
  // turns readable when it has work; the caller then calls Drive, which
  // does it and sends its events from the caller's thread. Without the hop
  // from the backend's thread to the caller's, an end reaches the engine
  // sooner. -1 (the default): the backend keeps its threads. Until
  // ReleaseWaiting, which the same caller calls once done.
  virtual int TakeOverWaiting() { return -1; }
  virtual void Drive() {}
  virtual void ReleaseWaiting() {}

  // Where events go. Set once, before the first Submit.
  void SetEventSink(EventSink* sink) { sink_ = sink; }

  // The unsupported features (see capabilities()) that `spec` uses.
  std::vector<Unsupported> UnsupportedUses(const TaskSpec& spec) const;

 protected:
  virtual Result<std::string> DoRender(const TaskSpec& spec) const = 0;
  virtual Status DoCheck(const TaskSpec& spec) const { return DoRender(spec).status(); }
  virtual Result<TaskHandle> DoSubmit(const TaskSpec& spec) = 0;
  virtual Placement DoPlace(const PlacementRequest& request) = 0;
  // For the default Logs(): replica `replica`'s log file of `handle`, or
  // InvalidArgument for a handle or replica this backend does not know.
  virtual Result<std::string> LogFile(const TaskHandle& handle, int replica) const;
  // For the default Logs() with follow: whether `handle`'s attempt has
  // ended (no more output will come). A backend that does not know it
  // says true.
  virtual bool HasEnded(const TaskHandle& /*handle*/) { return true; }
  void Emit(TaskEvent event) const;

 private:
  EventSink* sink_ = nullptr;
};

// Path of one replica's log in the run directory:
// RUN_DIR/logs/INSTANCE.attempt-N.replica-R.log. Every backend writes (or
// copies) logs here, so logs outlive the tasks and `portflow logs` reads one
// place. One flat folder: creating directories per task cost more than the
// task itself on ext4 (see bench/README.md). The local backend may leave
// none for an attempt that printed nothing (its file went to a later
// attempt): read logs with ReadLog, to which no file is no output.
std::string LogPath(const std::string& run_dir, const std::string& instance, int attempt,
                    int replica);
// That folder: RUN_DIR/logs.
std::string LogDir(const std::string& run_dir);

// One read of the log file at `path`, from byte `offset` on: at most `max`
// bytes, the first ones or, with `last`, the last ones. The local backend
// gives the file of an attempt that ended having printed nothing to the
// next attempt (renamed: no new file a task), so a reader that opened it
// before could read the next attempt's output: what was read counts only
// if `path` still names the file it came from once read. `found` is false
// when there is no file at `path` (or it was given away meanwhile).
struct LogRead {
  bool found = false;
  uint64_t from = 0;  // where `text` starts in the file
  std::string text;
};
LogRead ReadLog(const std::string& path, uint64_t offset, size_t max = SIZE_MAX, bool last = false);
// The same, of the file open at `fd` (opened by `path`), which stays open.
LogRead ReadLog(int fd, const std::string& path, uint64_t offset, size_t max = SIZE_MAX,
                bool last = false);

// Copies the file at `path` to `sink` from its start; with `follow`, goes on
// reading what is appended (every 100 ms of `clock`) until `ended()` says
// true, then reads what is left. Stops early when `sink` returns false.
// NotFound when the file is not there and, following, the attempt ended
// without it.
Status TailLog(const std::string& path, bool follow, const std::function<bool()>& ended,
               Clock& clock, const std::function<bool(std::string_view)>& sink);

// The Placement of `request` on a backend of fixed `capacity` of which
// `in_use` is taken: what a backend that owns its slots answers.
Placement PlaceInSlots(const PlacementRequest& request, const ResourceRequest& capacity,
                       const ResourceRequest& in_use);

// Explicit registration (no static initialisers): the CLI registers the
// backends it links.
using BackendFactory = std::function<Result<std::unique_ptr<Backend>>(
    const std::map<std::string, std::string>& settings)>;
void RegisterBackend(const std::string& name, BackendFactory factory);
Result<std::unique_ptr<Backend>> CreateBackend(const std::string& name,
                                               const std::map<std::string, std::string>& settings);
std::vector<std::string> RegisteredBackends();

}  // namespace portflow
