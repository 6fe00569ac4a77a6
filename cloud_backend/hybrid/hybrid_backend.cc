#include "cloud_backend/hybrid/hybrid_backend.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/quantity.h"

namespace portflow {
namespace {

const std::vector<std::string> kHybridKeys = {"artifacts"};

// One member's answer, for people: "can start it now", or why not, with
// the estimated start and the price where the member tells them.
std::string Describe(const Placement& p) {
  bool now = p.can_start_now && (!p.estimated_wait || *p.estimated_wait <= Duration::zero());
  std::string out = now ? "can start it now" : p.why.empty() ? "cannot start it now" : p.why;
  if (p.can_start_now && p.estimated_wait && *p.estimated_wait > Duration::zero())
    out += ", est. start in " + FormatDuration(*p.estimated_wait);
  if (p.hourly_price) out += ", " + FormatUsd(*p.hourly_price) + " an hour";
  return out;
}

class HybridBackend : public Backend, private EventSink {
 public:
  explicit HybridBackend(std::vector<std::pair<std::string, std::unique_ptr<Backend>>> members)
      : members_(std::move(members)) {
    for (auto& [name, backend] : members_) backend->SetEventSink(this);
  }
  ~HybridBackend() override {
    members_.clear();  // their threads may still send events
  }

  std::string name() const override { return "hybrid"; }

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
    return First().ArtifactRoot(run_id, run_dir);
  }
  std::string ArtifactRootOn(const std::string& member, const std::string& run_id,
                             const std::string& run_dir) const override {
    const Backend* m = Find(member);
    return m ? m->ArtifactRoot(run_id, run_dir) : ArtifactRoot(run_id, run_dir);
  }
  // The members share where outputs live (MakeHybridBackend checks it).
  std::string OutputsLocation(const std::string& run_id,
                              const std::string& run_dir) const override {
    return First().OutputsLocation(run_id, run_dir);
  }
  std::string OutputsDir(const std::string& run_id, const std::string& run_dir) const override {
    return First().OutputsDir(run_id, run_dir);
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
      return m->Render(spec);
    }
    nlohmann::json members = nlohmann::json::object();
    for (const auto& [name, backend] : members_) {
      TaskSpec on = spec;
      on.member = name;
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
    ASSIGN_OR_RETURN(TaskHandle h, m->Submit(spec));
    h.member = spec.member;
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
    auto starts_now = [](const Placement& p) {
      return p.can_start_now && (!p.estimated_wait || *p.estimated_wait <= Duration::zero());
    };
    size_t chosen = answers.size();
    for (size_t i = 0; i < answers.size() && chosen == answers.size(); ++i)
      if (starts_now(answers[i])) chosen = i;
    for (size_t i = 0; i < answers.size() && chosen == answers.size(); ++i)
      if (answers[i].can_ever_fit && answers[i].reason.empty()) chosen = i;
    // A member that runs only what it can start now (the laptop) is waited
    // for here: the engine holds the attempt and asks again.
    bool held =
        chosen < answers.size() && !answers[chosen].can_start_now && !answers[chosen].queues;
    // Why the members before it were passed over; when it must wait, also
    // why those after it cannot take it now.
    bool waits = chosen < answers.size() && !starts_now(answers[chosen]);
    std::string others;
    for (size_t i = 0; i < answers.size(); ++i) {
      if (i == chosen || (i > chosen && !waits)) continue;
      others += (others.empty() ? "" : "; ") + members_[i].first + ": " + Describe(answers[i]);
    }
    if (chosen == answers.size()) {
      Placement p;
      for (const Placement& a : answers) {
        p.can_ever_fit = p.can_ever_fit || a.can_ever_fit;
        if (p.reason.empty() && a.can_ever_fit) p.reason = a.reason;
      }
      p.why = "no member can take it now (" + others + ")";
      return p;
    }
    Placement p = answers[chosen];
    p.member = members_[chosen].first;
    p.why = (p.can_start_now ? "" : "waits there for room: ") + Describe(p);
    if (!others.empty()) p.why += " (" + others + ")";
    p.can_start_now = !held;  // submitted there now, where it waits if it must
    return p;
  }

 private:
  void OnTaskEvent(TaskEvent event) override { Emit(std::move(event)); }

  const Backend& First() const { return *members_.front().second; }
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

  std::vector<std::pair<std::string, std::unique_ptr<Backend>>> members_;
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
    } else if (key == "artifacts") {
      if (value.rfind("s3://", 0) != 0 || value.size() <= 5)
        return InvalidArgument("setting artifacts: \"" + value +
                               "\" is not an S3 URI (s3://BUCKET/PREFIX)");
      t.artifacts = value;
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
    std::vector<std::pair<std::string, std::unique_ptr<Backend>>> members) {
  if (members.empty()) return InvalidArgument("setting members: a hybrid target has no members");
  // Until outputs go through an object store, a step on one member reads
  // what a step on another made only where both keep outputs in one
  // folder of this machine.
  const std::string run_id = "RUN_ID", run_dir = "/RUN_DIR";
  const auto& [first, backend] = members.front();
  for (const auto& [name, other] : members) {
    std::string dir = other->OutputsDir(run_id, run_dir);
    if (!dir.empty() && dir == backend->OutputsDir(run_id, run_dir) &&
        other->ArtifactRoot(run_id, run_dir) == backend->ArtifactRoot(run_id, run_dir))
      continue;
    if (target.artifacts.empty())
      return InvalidArgument(
          "setting members: members " + first + " and " + name +
          " keep outputs in different places (" + backend->OutputsLocation(run_id, run_dir) + "; " +
          other->OutputsLocation(run_id, run_dir) +
          "), so a step on one could not read what a step on the other made; name an object "
          "store they share with artifacts: s3://BUCKET/PREFIX");
    return InvalidArgument(
        "setting artifacts: outputs in an object store are not supported yet; use members that "
        "keep outputs in one folder of this machine (local targets)");
  }
  return std::unique_ptr<Backend>(new HybridBackend(std::move(members)));
}

void RegisterHybridBackend() { RegisterBackend("hybrid", MakeHybrid); }

}  // namespace portflow
