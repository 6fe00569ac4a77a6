#include "cloud_backend/hybrid/hybrid_backend.h"

#include <algorithm>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>

#include "cloud_backend/aws/credentials.h"
#include "core/process/proc.h"
#include "core/quantity.h"

namespace portflow {
namespace {

const std::vector<std::string> kHybridKeys = {"burstAfter",        "budget",  "artifacts",
                                              "artifactsEndpoint", "profile", "agentImage"};

// What an attempt is expected to run for when the engine cannot tell (no
// attempt of its step has succeeded, no timeout): an hour.
constexpr Duration kUnknownRuntime = std::chrono::hours(1);

double Hours(Duration d) { return std::chrono::duration<double>(d).count() / 3600.0; }

// `spec` with the paths below `from` moved below `to`, in its bindings,
// its command and its environment.
TaskSpec Rebased(const TaskSpec& spec, const std::string& from, const std::string& to) {
  TaskSpec out = spec;
  if (from == to) return out;
  auto move = [&](std::string& text) {
    for (size_t at = 0; (at = text.find(from, at)) != std::string::npos;) {
      if (at + from.size() < text.size() && text[at + from.size()] != '/') {
        at += from.size();  // a longer name that starts the same
        continue;
      }
      text.replace(at, from.size(), to);
      at += to.size();
    }
  };
  for (auto* bindings : {&out.inputs, &out.outputs})
    for (ArtifactBinding& b : *bindings) move(b.path);
  for (std::string& arg : out.argv) move(arg);
  for (auto& [key, value] : out.env) move(value);
  return out;
}

// A member whose tasks run on this machine: its outputs are in a folder
// here, where its tasks write them.
bool OnThisMachine(const Backend& b) {
  const std::string run_id = "RUN_ID", run_dir = "/RUN_DIR";
  std::string dir = b.OutputsDir(run_id, run_dir);
  return !dir.empty() && dir == b.ArtifactRoot(run_id, run_dir);
}

// What a priced member bills an attempt for: its foreseen wait (a node is
// billed from when it is asked for) and its expected runtime.
Duration Billed(const PlacementRequest& request, const Placement& answer) {
  return answer.estimated_wait.value_or(Duration::zero()) +
         request.expected_runtime.value_or(kUnknownRuntime);
}

// A member's answer says it starts the attempt without waiting.
bool StartsNow(const Placement& p) {
  return p.can_start_now && (!p.estimated_wait || *p.estimated_wait <= Duration::zero());
}

// One member's answer, for people: "can start it now", or why not, with
// the estimated start and the price where the member tells them.
std::string Describe(const Placement& p, std::optional<double> estimate = std::nullopt) {
  bool now = StartsNow(p);
  std::string out = now               ? "can start it now"
                    : !p.why.empty()  ? p.why
                    : p.can_start_now ? "can start it"
                                      : "cannot start it now";
  if (p.can_start_now && p.estimated_wait && *p.estimated_wait > Duration::zero())
    out += ", est. start in " + FormatDuration(*p.estimated_wait);
  if (p.reason == "Budget") return out;  // its why has the prices
  if (p.hourly_price) out += ", " + FormatUsd(*p.hourly_price) + " an hour";
  if (estimate) out += ", est. " + FormatUsd(*estimate);
  return out;
}

class HybridBackend : public Backend, private EventSink {
 public:
  HybridBackend(const HybridTarget& target,
                std::vector<std::pair<std::string, std::unique_ptr<Backend>>> members, Clock& clock)
      : burst_after_(target.burst_after),
        budget_(target.budget),
        clock_(clock),
        members_(std::move(members)) {
    if (!target.artifacts.empty()) {
      store_ = ObjectStoreRef{target.artifacts, target.artifacts_endpoint};
      store_->profile = target.profile;
      store_->agent_image = target.agent_image;
      if (!target.credentials.empty()) credentials_ = target.credentials;
      self_ = SelfExecutable();
    }
    for (auto& [name, backend] : members_) {
      backend->SetEventSink(this);
      if (OnThisMachine(*backend)) here_.insert(name);
    }
  }
  ~HybridBackend() override {
    members_.clear();  // their threads may still send events
  }

  std::string name() const override { return "hybrid"; }

  // burstAfter: the engine moves an attempt that waited this long for
  // capacity on its member, when Place finds another that can take it.
  std::optional<Duration> MoveAfter() const override { return burst_after_; }

  // What any member cannot honour: the attempt may be placed there.
  Capabilities capabilities() const override {
    Capabilities out;
    for (const auto& [name, backend] : members_) {
      for (Unsupported u : backend->capabilities().unsupported) {
        u.reason = "member " + name + ": " + u.reason;
        out.unsupported.push_back(std::move(u));
      }
    }
    return out;
  }

  std::string ArtifactRoot(const std::string& run_id, const std::string& run_dir) const override {
    return ArtifactRootOn(members_.front().first, run_id, run_dir);
  }
  // With an object store, each member on this machine has a folder of its
  // own, so that what a step reads comes from the store, as on a cluster.
  std::string ArtifactRootOn(const std::string& member, const std::string& run_id,
                             const std::string& run_dir) const override {
    const Backend* m = Find(member);
    if (!m) return ArtifactRoot(run_id, run_dir);
    if (store_ && here_.count(member)) return run_dir + "/members/" + member + "/outputs";
    return m->ArtifactRoot(run_id, run_dir);
  }
  // The members share where outputs live (MakeHybridBackend checks it),
  // else they are in the store.
  std::string OutputsLocation(const std::string& run_id,
                              const std::string& run_dir) const override {
    return store_ ? store_->uri + "/" + run_id : First().OutputsLocation(run_id, run_dir);
  }
  std::string OutputsDir(const std::string& run_id, const std::string& run_dir) const override {
    return store_ ? "" : First().OutputsDir(run_id, run_dir);
  }
  Result<std::optional<ObjectStoreRef>> OutputsStore() override {
    if (!store_) return std::optional<ObjectStoreRef>();
    ObjectStoreRef out = *store_;
    ASSIGN_OR_RETURN(out.credentials, Credentials());
    return std::optional<ObjectStoreRef>(std::move(out));
  }

  ResourceRequest Capacity() override {
    ResourceRequest total;
    for (auto& [name, backend] : members_) total += backend->Capacity();
    return total;
  }

  Availability Probe() override {
    Availability out{OkStatus(), {}, ResourceRequest{}};
    for (auto& [name, backend] : members_) {
      Availability a = backend->Probe();
      if (!a.reachable.ok() && out.reachable.ok())
        out.reachable = Status(a.reachable.code(), "member " + name + ": " + a.reachable.message());
      out.capacity += a.capacity;
      if (out.free && a.free) {
        *out.free += *a.free;
      } else {
        out.free.reset();  // one member that cannot tell makes the sum unknown
      }
    }
    return out;
  }

  Status Cancel(const TaskHandle& handle, bool force) override {
    ASSIGN_OR_RETURN(Backend * m, MemberOf(handle));
    return m->Cancel(handle, force);
  }

  // Each member recovers its own attempts; every member is asked, also
  // one with none open, as the engine asks a plain backend.
  Result<std::vector<RecoveredTask>> Recover(const std::string& run_id,
                                             const std::vector<TaskHandle>& handles) override {
    std::vector<RecoveredTask> out;
    std::map<std::string, std::vector<TaskHandle>> by_member;
    for (const TaskHandle& h : handles) {
      if (Find(h.member)) {
        by_member[h.member].push_back(h);
      } else {
        // Placed on a member the target no longer has: it runs again.
        out.push_back({h, TaskState::kUnknown, std::nullopt});
      }
    }
    for (auto& [name, backend] : members_) {
      auto recovered = backend->Recover(run_id, by_member[name]);
      if (!recovered.ok())
        return Status(recovered.status().code(),
                      "member " + name + ": " + recovered.status().message());
      for (RecoveredTask& t : *recovered) {
        t.handle.member = name;
        out.push_back(std::move(t));
      }
    }
    return out;
  }

  Status Logs(const TaskHandle& handle, int replica, bool follow,
              const std::function<bool(std::string_view)>& sink) override {
    ASSIGN_OR_RETURN(Backend * m, MemberOf(handle));
    return m->Logs(handle, replica, follow, sink);
  }

  Result<std::string> OutputsArchive(const std::string& run_id, const std::string& rel,
                                     const std::string& image) override {
    return members_.front().second->OutputsArchive(run_id, rel, image);
  }

  void StartRun(const std::string& run_id, const std::string& run_dir) override {
    for (auto& [name, backend] : members_) backend->StartRun(run_id, run_dir);
  }

  // The priced members' spend together.
  std::optional<double> CostSoFar() override {
    std::optional<double> total;
    for (auto& [name, backend] : members_)
      if (std::optional<double> c = backend->CostSoFar()) total = total.value_or(0) + *c;
    return total;
  }

  // Every member gives back what it added; the cost is the priced
  // members' together.
  std::optional<RunCost> FinishRun(const std::string& run_id) override {
    std::optional<RunCost> total;
    for (auto& [name, backend] : members_) {
      std::optional<RunCost> c = backend->FinishRun(run_id);
      if (!c) continue;
      if (!total) total.emplace();
      total->usd += c->usd;
      total->nodes += c->nodes;
      if (!c->detail.empty())
        total->detail += (total->detail.empty() ? "" : "; ") + name + ": " + c->detail;
    }
    return total;
  }

 protected:
  // On its member when placed; before placement (`portflow render`), on
  // every member, by name.
  Result<std::string> DoRender(const TaskSpec& spec) const override {
    if (!spec.member.empty()) {
      const Backend* m = Find(spec.member);
      if (!m) return InvalidArgument("no member \"" + spec.member + "\" in this hybrid target");
      ASSIGN_OR_RETURN(TaskSpec on, OnMember(spec));
      return m->Render(on);
    }
    // The spec's paths are below ArtifactRoot (the first member's); on
    // another member, they are below its own, as the engine makes them.
    const std::string from = ArtifactRoot(spec.run_id, spec.run_dir);
    nlohmann::json members = nlohmann::json::object();
    for (const auto& [name, backend] : members_) {
      TaskSpec on = Rebased(spec, from, ArtifactRootOn(name, spec.run_id, spec.run_dir));
      on.member = name;
      ASSIGN_OR_RETURN(on, OnMember(on));
      ASSIGN_OR_RETURN(std::string rendered, backend->Render(on));
      nlohmann::json doc = nlohmann::json::parse(rendered, nullptr, false);
      members[name] = doc.is_discarded() ? nlohmann::json(rendered) : doc;
    }
    return nlohmann::json{{"members", members}}.dump();
  }

  Result<TaskHandle> DoSubmit(const TaskSpec& spec) override {
    Backend* m = Find(spec.member);
    if (!m)
      return InvalidArgument("attempt " + spec.Key() + " names no member of this hybrid target (" +
                             (spec.member.empty() ? "none" : "\"" + spec.member + "\"") + ")");
    ASSIGN_OR_RETURN(TaskSpec placed, OnMember(spec));
    if (store_) {
      using Variables = std::map<std::string, std::string>;
      ASSIGN_OR_RETURN(Variables credentials, Credentials());
      if (placed.store) {
        placed.store->credentials = credentials;  // to the run's Secret
      } else if (!credentials.empty()) {
        placed.env.insert(placed.env.end(), credentials.begin(), credentials.end());
      }
    }
    // A priced attempt's expected cost counts against the budget until it
    // ends (its price from the placement that sent it here): from before
    // Submit, whose member may report its end before it returns.
    {
      std::lock_guard<std::mutex> l(mu_);
      if (last_ && last_->member == spec.member)
        committed_[spec.Key()] = {last_->hourly, clock_.Now(), last_->wait, last_->runtime};
    }
    Result<TaskHandle> h = m->Submit(placed);
    if (!h.ok()) {
      std::lock_guard<std::mutex> l(mu_);
      committed_.erase(spec.Key());
      return h.status();
    }
    h->member = spec.member;
    return h;
  }

  // Members are asked in order; asking is a probe (nothing is scaled or
  // reserved). The first that can start it without waiting takes it; else
  // the first where it can ever fit and nothing but room holds it (a
  // member's own hold, such as a cloud's Budget, is not room), where it
  // waits: submitted to a member that queues (a cluster), else held by the
  // engine until that member has room.
  Placement DoPlace(const PlacementRequest& request) override {
    std::vector<Placement> answers;
    for (auto& [name, backend] : members_) answers.push_back(backend->Place(request));
    std::vector<std::optional<double>> estimate = Estimates(request, answers);
    // The members it was moved away from are passed over, unless no other
    // could ever take it.
    std::vector<bool> allowed(answers.size());
    bool any = false;
    for (size_t i = 0; i < answers.size(); ++i) {
      const auto& avoid = request.avoid_members;
      allowed[i] = std::find(avoid.begin(), avoid.end(), members_[i].first) == avoid.end();
      any = any || (allowed[i] && answers[i].can_ever_fit);
    }
    if (!any) allowed.assign(answers.size(), true);
    size_t chosen = answers.size();
    for (size_t i = 0; i < answers.size() && chosen == answers.size(); ++i)
      if (allowed[i] && StartsNow(answers[i])) chosen = i;
    for (size_t i = 0; i < answers.size() && chosen == answers.size(); ++i)
      if (allowed[i] && answers[i].can_ever_fit && answers[i].reason.empty()) chosen = i;
    // A member that runs only what it can start now (the laptop) is waited
    // for here: the engine holds the attempt and asks again.
    bool held =
        chosen < answers.size() && !answers[chosen].can_start_now && !answers[chosen].queues;
    // Why the members before it were passed over; when it must wait, also
    // why those after it cannot take it now.
    bool waits = chosen < answers.size() && !StartsNow(answers[chosen]);
    std::string others;
    for (size_t i = 0; i < answers.size(); ++i) {
      if (i == chosen || (i > chosen && !waits)) continue;
      others += (others.empty() ? "" : "; ") + members_[i].first + ": " +
                (allowed[i] ? Describe(answers[i], estimate[i]) : "moved away from");
    }
    if (chosen == answers.size()) {
      Placement p;
      for (const Placement& a : answers) {
        p.can_ever_fit = p.can_ever_fit || a.can_ever_fit;
        if (p.reason.empty() && a.can_ever_fit) p.reason = a.reason;
      }
      // None could ever: the first named limit (Budget) is the reason.
      for (const Placement& a : answers)
        if (!p.can_ever_fit && p.reason.empty()) p.reason = a.reason;
      p.why = "no member can take it now (" + others + ")";
      return p;
    }
    Placement p = answers[chosen];
    p.member = members_[chosen].first;
    // A known wait (none, or a node on its way) is what the engine moves
    // an attempt for; waiting in a queue is not.
    if (StartsNow(p)) p.estimated_wait = Duration::zero();
    p.why = (p.can_start_now ? "" : "waits there for room: ") + Describe(p, estimate[chosen]);
    if (!others.empty()) p.why += " (" + others + ")";
    p.can_start_now = !held;  // submitted there now, where it waits if it must
    std::lock_guard<std::mutex> l(mu_);
    last_.reset();
    if (p.hourly_price)
      last_ = {p.member, *p.hourly_price, answers[chosen].estimated_wait.value_or(Duration::zero()),
               request.expected_runtime.value_or(kUnknownRuntime)};
    return p;
  }

 private:
  void OnTaskEvent(TaskEvent event) override {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (auto it = committed_.find(event.key); it != committed_.end()) {
        if (IsTerminal(event.state)) {
          committed_.erase(it);  // what it cost is in the member's spend now
        } else if (event.state == TaskState::kRunning && !it->second.started) {
          it->second.started = clock_.Now();
        }
      }
    }
    Emit(std::move(event));
  }

  // Each priced member's estimate of the attempt (its price for the
  // expected runtime); with a budget, a member the estimate would take
  // past it is held (reason Budget), for good when the run's spend
  // alone leaves too little.
  std::vector<std::optional<double>> Estimates(const PlacementRequest& request,
                                               std::vector<Placement>& answers) {
    std::vector<std::optional<double>> out(answers.size());
    // Billed from when it is asked for: its foreseen wait (a node on its
    // way) and its expected runtime.
    std::vector<Duration> billed(answers.size());
    bool priced = false;
    for (size_t i = 0; i < answers.size(); ++i) {
      if (!answers[i].hourly_price) continue;
      billed[i] = Billed(request, answers[i]);
      out[i] = *answers[i].hourly_price * Hours(billed[i]);
      priced = true;
    }
    if (!budget_ || !priced) return out;
    double spent = CostSoFar().value_or(0);
    double ahead = 0;  // the running attempts' expected cost still to come
    {
      std::lock_guard<std::mutex> l(mu_);
      TimePoint now = clock_.Now();
      for (const auto& [key, c] : committed_) {
        ahead += c.hourly * Hours(std::max(c.Left(now), Duration::zero()));
      }
    }
    for (size_t i = 0; i < answers.size(); ++i) {
      Placement& a = answers[i];
      if (!out[i] || !a.can_ever_fit) continue;
      std::string cost = "est. " + FormatUsd(*out[i]) + " (" + FormatUsd(*a.hourly_price) +
                         " an hour for " + FormatDuration(billed[i]) + ")";
      if (spent + *out[i] > *budget_) {
        a.can_start_now = a.can_ever_fit = false;
        a.reason = "Budget";
        a.why = "the run has spent " + FormatUsd(spent) + " of its budget " + FormatUsd(*budget_) +
                "; this attempt would cost " + cost;
      } else if (spent + ahead + *out[i] > *budget_) {
        a.can_start_now = false;
        a.reason = "Budget";
        a.why = "the run has spent " + FormatUsd(spent) +
                " and its running attempts are expected to cost " + FormatUsd(ahead) +
                " more; this attempt (" + cost + ") would pass its budget " + FormatUsd(*budget_);
      }
    }
    return out;
  }

  const Backend& First() const { return *members_.front().second; }

  // `spec` as its member runs it. With a store: on this machine, its
  // command under `portflow agent` (this binary), which fetches its inputs
  // from the store into the member's folder and stores its outputs from
  // there; on a cluster, with the store for the pod's agent (credentials
  // are added at Submit, never rendered).
  Result<TaskSpec> OnMember(const TaskSpec& spec) const {
    TaskSpec out = spec;
    if (!store_) return out;
    if (!here_.count(spec.member)) {
      out.store = store_;
      out.store->profile.clear();  // the pod's credentials come from the Secret
      return out;
    }
    if (self_.empty()) return Internal("cannot find the running portflow for its agent");
    // The member's folder: every path below it names a STEP/OUTPUT[/MATRIX].
    ASSIGN_OR_RETURN(out.argv, AgentPrefix(*store_, spec, self_,
                                           ArtifactRootOn(spec.member, spec.run_id, spec.run_dir)));
    out.argv.insert(out.argv.end(), spec.argv.begin(), spec.argv.end());
    return out;
  }

  // The store's credentials as the agent reads them: the target's own,
  // else the AWS chain's (with the profile), read once, so that a task
  // started with a clean environment has them too.
  Result<std::map<std::string, std::string>> Credentials() {
    std::lock_guard<std::mutex> l(mu_);
    if (credentials_) return *credentials_;
    auto c = aws::ResolveCredentials(store_->profile, aws::CredentialsEnv::FromProcess());
    if (c.status().code() == StatusCode::kNotFound && store_->profile.empty()) {
      // None here: pods with a role of their own need none, and an agent on
      // this machine says what it lacks.
      credentials_.emplace();
      return *credentials_;
    }
    if (!c.ok())
      return Status(c.status().code(), "the credentials of the object store " + store_->uri + ": " +
                                           c.status().message());
    credentials_ = {{"AWS_ACCESS_KEY_ID", c->access_key_id},
                    {"AWS_SECRET_ACCESS_KEY", c->secret_access_key}};
    if (!c->session_token.empty()) (*credentials_)["AWS_SESSION_TOKEN"] = c->session_token;
    return *credentials_;
  }

  Backend* Find(const std::string& member) const {
    for (const auto& [name, backend] : members_)
      if (name == member) return backend.get();
    return nullptr;
  }
  Result<Backend*> MemberOf(const TaskHandle& handle) const {
    Backend* m = Find(handle.member);
    if (!m)
      return InvalidArgument("attempt " + handle.key + " ran on no member of this hybrid target (" +
                             (handle.member.empty() ? "none" : "\"" + handle.member + "\"") + ")");
    return m;
  }

  Duration burst_after_;
  std::optional<double> budget_;
  std::optional<ObjectStoreRef> store_;  // where outputs live, with artifacts set
  std::string self_;                     // the running portflow, the agent of tasks on this machine
  std::set<std::string> here_;           // members whose tasks run on this machine
  // The store's credentials, for a cluster member's pods (its Secret).
  std::optional<std::map<std::string, std::string>> credentials_;
  Clock& clock_;
  std::vector<std::pair<std::string, std::unique_ptr<Backend>>> members_;

  std::mutex mu_;  // members' threads send events
  // A priced attempt's estimate: billed from its Submit for the foreseen
  // wait and then its runtime; once it runs, for what is left of the
  // runtime (the wait is in the member's spend by then).
  struct Committed {
    double hourly;
    TimePoint submitted;
    Duration wait, runtime;            // foreseen, expected
    std::optional<TimePoint> started;  // its first Running event
    Duration Left(TimePoint now) const {
      return started ? runtime - (now - *started) : wait + runtime - (now - submitted);
    }
  };
  std::map<std::string, Committed> committed_;  // priced attempts not yet ended, by key
  struct Estimate {
    std::string member;
    double hourly;
    Duration wait, runtime;
  };
  std::optional<Estimate> last_;  // of the latest placement, for the Submit that follows
};

Result<std::unique_ptr<Backend>> MakeHybrid(const std::map<std::string, std::string>& settings) {
  ASSIGN_OR_RETURN(HybridTarget target, ParseHybridTarget(settings));
  std::vector<std::pair<std::string, std::unique_ptr<Backend>>> members;
  for (auto& [name, own] : target.members) {
    std::map<std::string, std::string> rest = own;
    rest.erase("backend");
    auto made = CreateBackend(own.at("backend"), rest);
    if (!made.ok())
      return Status(made.status().code(), "member " + name + ": " + made.status().message());
    members.emplace_back(name, std::move(*made));
  }
  return MakeHybridBackend(target, std::move(members));
}

}  // namespace

Result<HybridTarget> ParseHybridTarget(const std::map<std::string, std::string>& settings) {
  HybridTarget t;
  std::map<int, std::map<std::string, std::string>> members;
  for (const auto& [key, value] : settings) {
    if (key.rfind("member.", 0) == 0) {
      size_t dot = key.find('.', 7);
      if (dot == std::string::npos) return InvalidArgument("malformed member setting " + key);
      members[std::atoi(key.substr(7, dot - 7).c_str())][key.substr(dot + 1)] = value;
    } else if (key == "burstAfter") {
      auto d = ParseDuration(value);
      if (!d.ok()) return InvalidArgument("setting burstAfter: " + d.status().message());
      t.burst_after = *d;
    } else if (key == "budget") {
      auto usd = ParseUsd(value);
      if (!usd.ok()) return InvalidArgument("setting budget: " + usd.status().message());
      t.budget = *usd;
    } else if (key == "artifacts") {
      if (value.rfind("s3://", 0) != 0 || value.size() <= 5)
        return InvalidArgument("setting artifacts: \"" + value +
                               "\" is not an S3 URI (s3://BUCKET/PREFIX)");
      t.artifacts = value;
    } else if (key == "artifactsEndpoint") {
      if (value.rfind("http://", 0) != 0 && value.rfind("https://", 0) != 0)
        return InvalidArgument("setting artifactsEndpoint: \"" + value +
                               "\" is not an http(s) URL");
      t.artifacts_endpoint = value;
    } else if (key == "profile") {
      t.profile = value;
    } else if (key == "agentImage") {
      if (value.empty()) return InvalidArgument("setting agentImage: the image is empty");
      t.agent_image = value;
    } else if (key != "backend") {
      std::string known = "members";
      for (const std::string& k : kHybridKeys) known += ", " + k;
      return InvalidArgument("unknown setting \"" + key +
                             "\" for the hybrid backend (known: " + known + ")");
    }
  }
  for (auto& [index, own] : members) {
    if (!own.count("name") || !own.count("backend"))
      return InvalidArgument("setting members: member " + std::to_string(index) +
                             " has no name or backend");
    std::string name = own["name"];
    own.erase("name");
    t.members.emplace_back(name, std::move(own));
  }
  if (t.members.empty())
    return InvalidArgument(
        "setting members: a hybrid target names its members, targets in order of preference "
        "(members: [onprem, cloud])");
  return t;
}

Result<std::unique_ptr<Backend>> MakeHybridBackend(
    const HybridTarget& target,
    std::vector<std::pair<std::string, std::unique_ptr<Backend>>> members, Clock& clock) {
  if (members.empty()) return InvalidArgument("setting members: a hybrid target has no members");
  const std::string run_id = "RUN_ID", run_dir = "/RUN_DIR";
  const auto& [first, backend] = members.front();
  for (const auto& [name, other] : members) {
    if (!target.artifacts.empty()) continue;  // they meet in the store
    std::string dir = other->OutputsDir(run_id, run_dir);
    // Without a store, a step on one member reads what a step on another
    // made only where both keep outputs in one folder of this machine.
    if (!dir.empty() && dir == backend->OutputsDir(run_id, run_dir) &&
        other->ArtifactRoot(run_id, run_dir) == backend->ArtifactRoot(run_id, run_dir))
      continue;
    return InvalidArgument(
        "setting members: members " + first + " and " + name +
        " keep outputs in different places (" + backend->OutputsLocation(run_id, run_dir) + "; " +
        other->OutputsLocation(run_id, run_dir) +
        "), so a step on one could not read what a step on the other made; name an object "
        "store they share with artifacts: s3://BUCKET/PREFIX");
  }
  return std::unique_ptr<Backend>(new HybridBackend(target, std::move(members), clock));
}

void RegisterHybridBackend() { RegisterBackend("hybrid", MakeHybrid); }

}  // namespace portflow
