// The store, in order: the kinds it serves and its errors (NotFound,
// AlreadyExists); Watch, a reader's queue of changes; ObjectStore, the
// objects by kind, namespace and name, their versions and the history that
// watches from a version replay (what it lets go of freed by
// deferred_free.h); and the event log, events kept as the fields recorded
// with JSON made when first read, found by name through hashed_numbers.h,
// judged by their fields for a selector.
#include "k8s_backend/fake_cluster/store/object_store.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <utility>

#include "core/encoding.h"
#include "core/json_fields.h"
#include "core/k8s_time.h"

namespace portflow::fake {
namespace {

std::vector<ResourceKind> MakeKinds() {
  std::vector<std::string> involved = {"involvedObject.kind",
                                       "involvedObject.namespace",
                                       "involvedObject.name",
                                       "involvedObject.uid",
                                       "involvedObject.apiVersion",
                                       "involvedObject.resourceVersion",
                                       "involvedObject.fieldPath",
                                       "reason",
                                       "reportingComponent",
                                       "source",
                                       "type"};
  return {
      {"", "v1", "namespaces", "Namespace", false, {"status.phase"}},
      {"", "v1", "nodes", "Node", false, {"spec.unschedulable"}},
      {"",
       "v1",
       "pods",
       "Pod",
       true,
       {"spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
        "status.phase", "status.podIP", "status.nominatedNodeName"}},
      {"", "v1", "services", "Service", true, {}},
      {"", "v1", "events", "Event", true, involved},
      {"", "v1", "configmaps", "ConfigMap", true, {}},
      {"", "v1", "secrets", "Secret", true, {"type"}},
      {"", "v1", "resourcequotas", "ResourceQuota", true, {}},
      {"batch", "v1", "jobs", "Job", true, {"status.successful"}},
  };
}

// A version 4 (random) uid from 128 random bits.
std::string Uid(uint64_t hi, uint64_t lo) {
  char uid[40];
  std::snprintf(uid, sizeof uid, "%08llx-%04llx-4%03llx-%04llx-%012llx",
                static_cast<unsigned long long>(hi >> 32),
                static_cast<unsigned long long>((hi >> 16) & 0xffff),
                static_cast<unsigned long long>(hi & 0xfff),
                static_cast<unsigned long long>(0x8000 | ((lo >> 48) & 0x3fff)),
                static_cast<unsigned long long>(lo & 0xffffffffffffULL));
  return uid;
}

std::string Plural(const ResourceKind& kind) {
  return kind.group.empty() ? kind.resource : kind.resource + "." + kind.group;
}

// The API server's NotFound: `pods "x" not found`.
Status NotFoundError(const ResourceKind& kind, const std::string& name) {
  return NotFound(Plural(kind) + " \"" + name + "\" not found");
}

// The API server's AlreadyExists: `pods "x" already exists`, said to be on
// its way out when the object holding the name is.
Status AlreadyExistsError(const ResourceKind& kind, const std::string& name, bool leaving) {
  return AlreadyExists(std::string(leaving ? "object is being deleted: " : "") + Plural(kind) +
                       " \"" + name + "\" already exists");
}

}  // namespace

const std::vector<ResourceKind>& AllKinds() {
  static const std::vector<ResourceKind> kinds = MakeKinds();
  return kinds;
}

const ResourceKind* FindKind(const std::string& group, const std::string& resource) {
  for (const ResourceKind& k : AllKinds()) {
    if (k.group == group && k.resource == resource) return &k;
  }
  return nullptr;
}

// One version of an event: as a client wrote it, or as recorded, its JSON
// then made from `record` when first needed.
struct ObjectStore::EventVersion {
  int64_t rv;
  std::string ns, name;
  mutable std::shared_ptr<const json> object;
  std::optional<EventRecord> record;
  TimePoint at{};
  uint64_t uid_hi = 0, uid_lo = 0;
  mutable std::shared_ptr<const std::string> text;  // Serialize(*object), once needed
};

// --- Watch ---------------------------------------------------------------

bool Watch::Next(WatchEvent* event, TimePoint deadline) {
  std::unique_lock<std::mutex> l(mu_);
  store_->clock().WaitUntil(l, cv_, deadline, [this] { return !queue_.empty() || stopped_; });
  if (queue_.empty()) return false;
  *event = std::move(queue_.front());
  queue_.pop_front();
  return true;
}

bool Watch::TryNext(WatchEvent* event) {
  std::lock_guard<std::mutex> l(mu_);
  if (queue_.empty()) return false;
  *event = std::move(queue_.front());
  queue_.pop_front();
  return true;
}

void Watch::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stopped_ = true;
    if (waker_) waker_();
  }
  cv_.notify_all();
}

void Watch::SetWaker(std::function<void()> waker) {
  std::lock_guard<std::mutex> l(mu_);
  waker_ = std::move(waker);
  if (waker_ && (!queue_.empty() || stopped_)) waker_();
}

bool Watch::stopped() const {
  std::lock_guard<std::mutex> l(mu_);
  return stopped_;
}

void Watch::Offer(const std::string& type, const std::shared_ptr<const json>& shared,
                  const json* previous, std::shared_ptr<const std::string>& text) {
  const json& object = *shared;
  auto matches = [&](const json& o) {
    if (kind_->namespaced && !ns_.empty() && FieldValue(o, "metadata.namespace") != ns_)
      return false;
    return labels_.Matches(o) && fields_.Matches(o);
  };
  std::string sent = type;
  if (type == "MODIFIED" && previous) {
    // Selectors see objects enter and leave, as on the API server.
    bool now = matches(object), before = matches(*previous);
    if (!now && !before) return;
    if (now && !before) sent = "ADDED";
    if (!now && before) sent = "DELETED";
  } else if (!matches(object)) {
    return;
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stopped_) return;
    if (!text) text = std::make_shared<const std::string>(Serialize(object));
    queue_.push_back({sent, shared, text});
    if (waker_) {
      // Told once until the queue is read: one wake-up for a burst.
      if (queue_.size() == 1) waker_();
      return;
    }
  }
  cv_.notify_all();
}

// --- ObjectStore ---------------------------------------------------------

ObjectStore::ObjectStore(Clock& clock, size_t history) : clock_(clock), history_(history) {}

int64_t ObjectStore::resource_version() const {
  std::lock_guard<std::mutex> l(mu_);
  return rv_;
}

void ObjectStore::FreeDropped() {
  std::lock_guard<std::mutex> l(mu_);
  dropped_.Flush();
}

Result<ObjectStore::Stored> ObjectStore::Create(const ResourceKind& kind, const std::string& ns,
                                                json object, const Admit& admit) {
  if (!object.is_object()) return InvalidArgument("the body of the request is not an object");
  object["apiVersion"] = kind.ApiVersion();
  object["kind"] = kind.kind;
  // Taken after the inserts into `object`: an insert moves its members.
  json& meta = object["metadata"];
  if (!meta.is_object()) meta = json::object();
  std::string obj_ns = meta.value("namespace", "");
  if (kind.namespaced) {
    if (ns.empty()) return InvalidArgument("a namespace is required for " + kind.resource);
    if (!obj_ns.empty() && obj_ns != ns) {
      return InvalidArgument(
          "the namespace of the provided object does not match the namespace sent on the request");
    }
    meta["namespace"] = ns;
  } else {
    meta.erase("namespace");
  }
  std::lock_guard<std::mutex> l(mu_);
  std::string name = meta.value("name", "");
  if (name.empty()) {
    std::string prefix = meta.value("generateName", "");
    if (prefix.empty()) return InvalidArgument("name or generateName is required");
    // Five characters from the API server's alphabet, derived from a
    // counter, after at most 58 of the prefix (so 63 in all, as its
    // generator makes them).
    static constexpr char kAlphabet[] = "bcdfghjklmnpqrstvwxz2456789";
    if (prefix.size() > 58) prefix.resize(58);
    do {
      uint64_t n = ++name_counter_ * 2654435761u;
      name = prefix;
      for (int i = 0; i < 5; ++i, n /= 27) name += kAlphabet[n % 27];
    } while (Taken(kind, ns, name));
    meta["name"] = name;
  }
  meta["uid"] = Uid(uid_random_(), uid_random_());
  meta.erase("deletionTimestamp");
  meta.erase("resourceVersion");
  // As the API server's registry: the object is validated and admitted
  // (422, 403) before its name is found taken (409).
  if (admit) {
    Status st = admit(object);
    if (!st.ok()) return st;
  }
  if (Taken(kind, ns, name)) {
    auto held = objects_.find(ViewOf(kind, ns, name));
    return AlreadyExistsError(
        kind, name,
        held != objects_.end() && (*held->second.object)["metadata"].contains("deletionTimestamp"));
  }
  json& m = object["metadata"];
  m["resourceVersion"] = std::to_string(++rv_);
  m["creationTimestamp"] = K8sTime(clock_.Now());
  m["generation"] = 1;
  std::shared_ptr<const json> stored = std::make_shared<json>(std::move(object));
  if (&kind == &Events()) {
    auto v = std::make_shared<EventVersion>(EventVersion{rv_, ns, name, stored});
    AddEvent(v);  // the name was free (Taken, above)
    EventChanged("ADDED", std::move(v), nullptr);
    TrimEvents();
    return stored;
  }
  Key key{&kind, kind.namespaced ? ns : "", name};
  objects_[key] = {stored, Record(kind, std::get<1>(key), "ADDED", stored, nullptr)};
  return stored;
}

Result<json> ObjectStore::Get(const ResourceKind& kind, const std::string& ns,
                              const std::string& name) const {
  ASSIGN_OR_RETURN(std::shared_ptr<const json> object, Find(kind, ns, name));
  return *object;
}

Result<std::shared_ptr<const json>> ObjectStore::Find(const ResourceKind& kind,
                                                      const std::string& ns,
                                                      const std::string& name) const {
  std::shared_ptr<const json> object = Peek(kind, ns, name);
  if (!object) return NotFoundError(kind, name);
  return object;
}

std::shared_ptr<const json> ObjectStore::Peek(const ResourceKind& kind, const std::string& ns,
                                              const std::string& name) const {
  std::lock_guard<std::mutex> l(mu_);
  if (&kind == &Events()) {
    size_t at = FindEvent(ns, name);
    return at == npos ? nullptr : EventJson(*events_[at]);
  }
  auto it = objects_.find(ViewOf(kind, ns, name));
  return it == objects_.end() ? nullptr : it->second.object;
}

std::shared_ptr<const std::string> ObjectStore::PeekText(const ResourceKind& kind,
                                                         const std::string& ns,
                                                         const std::string& name) const {
  KeyView key = ViewOf(kind, ns, name);
  std::shared_ptr<const json> object;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (&kind == &Events()) {
      size_t at = FindEvent(ns, name);
      if (at == npos) return nullptr;
      const EventVersion& v = *events_[at];
      if (!v.text) v.text = std::make_shared<const std::string>(Serialize(*EventJson(v)));
      return v.text;
    }
    auto it = objects_.find(key);
    if (it == objects_.end()) return nullptr;
    if (it->second.text) return it->second.text;
    object = it->second.object;
  }
  // Serialised outside the lock; kept unless the object changed meanwhile.
  auto text = std::make_shared<const std::string>(Serialize(*object));
  std::lock_guard<std::mutex> l(mu_);
  auto it = objects_.find(key);
  if (it != objects_.end() && it->second.object == object) it->second.text = text;
  return text;
}

void ObjectStore::AddListener(Listener listener) {
  std::lock_guard<std::mutex> l(mu_);
  listeners_.push_back(std::move(listener));
}

template <typename F>
void ObjectStore::ForEachObject(const ResourceKind& kind, F&& f) const {
  for (auto it = objects_.lower_bound(KeyView{&kind, "", ""});
       it != objects_.end() && std::get<0>(it->first) == &kind; ++it)
    f(std::get<1>(it->first), std::get<2>(it->first), it->second);
}

Result<ListResult> ObjectStore::List(const ResourceKind& kind, const std::string& ns,
                                     const ListOptions& options) const {
  ASSIGN_OR_RETURN(LabelSelector labels, LabelSelector::Parse(options.label_selector));
  std::vector<std::string> supported{"metadata.name"};
  if (kind.namespaced) supported.push_back("metadata.namespace");
  supported.insert(supported.end(), kind.field_selectors.begin(), kind.field_selectors.end());
  ASSIGN_OR_RETURN(FieldSelector fields, FieldSelector::Parse(options.field_selector, supported));
  std::optional<std::pair<std::string, std::string>> after;
  if (!options.continue_token.empty()) {
    auto raw = HexDecode(options.continue_token);
    size_t sep = raw ? raw->find('\0') : std::string::npos;
    if (sep == std::string::npos) return InvalidArgument("invalid continue token");
    after = std::make_pair(raw->substr(0, sep), raw->substr(sep + 1));
  }
  std::lock_guard<std::mutex> l(mu_);
  ListResult out;
  out.resource_version = rv_;
  auto add = [&](const std::string& obj_ns, const std::string& name, const json& object) {
    if (kind.namespaced && !ns.empty() && obj_ns != ns) return;
    if (after && std::make_pair(obj_ns, name) <= *after) return;
    if (!labels.Matches(object) || !fields.Matches(object)) return;
    if (options.limit > 0 && static_cast<int64_t>(out.items.size()) == options.limit) {
      ++out.remaining;
      return;
    }
    out.items.push_back(object);
  };
  if (&kind == &Events()) {
    json made;
    for (const EventVersion* v : EventsByName(ns, &fields)) {
      if (after && std::tie(v->ns, v->name) <= std::tie(after->first, after->second)) continue;
      // Made for the list and not kept: a list is read once.
      if (!v->object) made = MakeEventJson(*v);
      add(v->ns, v->name, v->object ? *v->object : made);
    }
  } else {
    ForEachObject(kind, [&](const std::string& obj_ns, const std::string& name, const Entry& e) {
      add(obj_ns, name, *e.object);
    });
  }
  if (out.remaining > 0) {
    const json& last = out.items.back()["metadata"];
    out.continue_token =
        HexEncode(last.value("namespace", "") + std::string(1, '\0') + last.value("name", ""));
  }
  return out;
}

Status ObjectStore::StampUpdate(const ResourceKind& kind, const json& old, json& object) {
  json& meta = object["metadata"];
  const json& old_meta = Sub(old, "metadata");
  std::string want = meta.value("resourceVersion", "");
  if (!want.empty() && want != Str(old_meta, "resourceVersion")) {
    return Aborted("Operation cannot be fulfilled on " + Plural(kind) + " \"" +
                   meta.value("name", "") +
                   "\": the object has been modified; please apply your changes to the latest "
                   "version and try again");
  }
  // Fields the server owns are kept as they were (most often, sent as they were).
  for (const char* f : {"uid", "creationTimestamp", "generation", "namespace"}) {
    auto was = old_meta.find(f);
    if (was == old_meta.end()) continue;
    if (auto sent = meta.find(f);
        sent == meta.end() || sent->type() != was->type() || *sent != *was)
      meta[f] = *was;
  }
  auto spec = std::as_const(object).find("spec");
  auto old_spec = old.find("spec");
  bool has = spec != object.end(), had = old_spec != old.end();
  if (has != had || (has && *spec != *old_spec)) {
    meta["generation"] = old_meta.value("generation", 1) + 1;
  }
  meta["resourceVersion"] = std::to_string(++rv_);
  return OkStatus();
}

Result<ObjectStore::Stored> ObjectStore::Update(const ResourceKind& kind, const std::string& ns,
                                                json object) {
  if (!object.is_object() || !object["metadata"].is_object()) {
    return InvalidArgument("the body of the request is not an object with metadata");
  }
  object["apiVersion"] = kind.ApiVersion();
  object["kind"] = kind.kind;
  std::string name = object["metadata"].value("name", "");
  std::lock_guard<std::mutex> l(mu_);
  if (&kind == &Events()) {
    size_t at = FindEvent(ns, name);
    if (at == npos) return NotFoundError(kind, name);
    RETURN_IF_ERROR(StampUpdate(kind, *EventJson(*events_[at]), object));
    auto stored = std::make_shared<const json>(std::move(object));
    // In its place in the log: events go oldest first.
    EventPtr& slot = events_[at];
    EventPtr previous = std::exchange(
        slot, std::make_shared<EventVersion>(EventVersion{rv_, slot->ns, name, stored}));
    EventChanged("MODIFIED", slot, std::move(previous));
    return stored;
  }
  auto it = objects_.find(ViewOf(kind, ns, name));
  if (it == objects_.end()) return NotFoundError(kind, name);
  RETURN_IF_ERROR(StampUpdate(kind, *it->second.object, object));
  std::shared_ptr<const json> stored = std::make_shared<json>(std::move(object));
  std::shared_ptr<const json> previous = std::move(it->second.object);
  it->second = {stored,
                Record(kind, std::get<1>(it->first), "MODIFIED", stored, std::move(previous))};
  return stored;
}

Result<ObjectStore::Stored> ObjectStore::Delete(const ResourceKind& kind, const std::string& ns,
                                                const std::string& name) {
  std::lock_guard<std::mutex> l(mu_);
  if (&kind == &Events()) {
    size_t at = FindEvent(ns, name);
    if (at == npos) return NotFoundError(kind, name);
    EventGone(TakeEvent(at));
    return ChangeObject(event_changes_.back());
  }
  auto it = objects_.find(ViewOf(kind, ns, name));
  if (it == objects_.end()) return NotFoundError(kind, name);
  // The DELETED event carries a new resourceVersion, so a new version. An
  // object that nothing else holds any more (the history has let go of its
  // changes, no watch or reader has it: a copy of the pointer could only be
  // taken under mu_) is moved into it rather than copied.
  // (Stored objects are made as json, not const json, for this.)
  std::shared_ptr<const json>& stored = it->second.object;
  json object = stored.use_count() == 1 ? std::move(const_cast<json&>(*stored)) : *stored;
  std::string obj_ns = std::get<1>(it->first);
  objects_.erase(it);
  object["metadata"]["resourceVersion"] = std::to_string(++rv_);
  std::shared_ptr<const json> gone = std::make_shared<json>(std::move(object));
  Record(kind, obj_ns, "DELETED", gone, nullptr);
  return gone;
}

std::shared_ptr<const std::string> ObjectStore::Record(const ResourceKind& kind,
                                                       const std::string& ns,
                                                       const std::string& type,
                                                       std::shared_ptr<const json> object,
                                                       std::shared_ptr<const json> previous) {
  changes_.push_back({rv_, &kind, ns, type, std::move(object), std::move(previous)});
  const Change& c = changes_.back();
  std::shared_ptr<const std::string> text;
  OfferToWatches(kind, type, c.object, c.previous.get(), text);
  for (const Listener& listener : listeners_) listener(c);
  while (changes_.size() > std::max<size_t>(history_, 1)) {
    Change& gone = changes_.front();
    forgotten_ = gone.rv;
    dropped_.Drop(std::move(gone.object));
    dropped_.Drop(std::move(gone.previous));
    changes_.pop_front();
  }
  return text;  // for the object's Entry: GETs serve it
}

void ObjectStore::OfferToWatches(const ResourceKind& kind, const std::string& type,
                                 const std::shared_ptr<const json>& object, const json* previous,
                                 std::shared_ptr<const std::string>& text) {
  auto alive = watches_.begin();
  for (auto& w : watches_) {
    if (auto watch = w.lock(); watch && !watch->stopped()) {
      if (watch->kind_ == &kind) watch->Offer(type, object, previous, text);
      *alive++ = w;
    }
  }
  watches_.erase(alive, watches_.end());
}

bool ObjectStore::Taken(const ResourceKind& kind, const std::string& ns,
                        const std::string& name) const {
  if (&kind == &Events()) return FindEvent(ns, name) != npos;
  return objects_.count(ViewOf(kind, ns, name)) > 0;
}

// --- Events --------------------------------------------------------------

namespace {
uint64_t EventHash(std::string_view ns, std::string_view name) {
  size_t h = std::hash<std::string_view>{}(ns);
  return h ^ (std::hash<std::string_view>{}(name) + 0x9e3779b97f4a7c15 + (h << 6) + (h >> 2));
}
}  // namespace

size_t ObjectStore::FindEvent(const std::string& ns, const std::string& name) const {
  return FindEvent(EventHash(ns, name), ns, name);
}

size_t ObjectStore::FindEvent(uint64_t hash, const std::string& ns, const std::string& name) const {
  auto number = event_numbers_.Find(hash, [&](uint64_t n) {
    const EventVersion& v = *events_[n - events_front_];
    return v.ns == ns && v.name == name;
  });
  return number ? *number - events_front_ : npos;
}

bool ObjectStore::AddEvent(EventPtr v) {
  uint64_t hash = EventHash(v->ns, v->name);
  if (FindEvent(hash, v->ns, v->name) != npos) return false;
  event_numbers_.Insert(hash, events_front_ + events_.size());
  events_.push_back(std::move(v));
  ++live_events_;
  return true;
}

ObjectStore::EventPtr ObjectStore::TakeEvent(size_t place) {
  EventPtr gone = std::move(events_[place]);
  event_numbers_.Erase(EventHash(gone->ns, gone->name), events_front_ + place);
  --live_events_;
  while (!events_.empty() && !events_.front()) {
    events_.pop_front();
    ++events_front_;
  }
  return gone;
}

std::vector<ObjectStore::EventVersion*> ObjectStore::EventsByName(
    const std::string& ns, const FieldSelector* fields) const {
  std::vector<EventVersion*> sorted;
  for (const EventPtr& v : events_) {
    if (v && (ns.empty() || v->ns == ns) && (!fields || MayMatch(*fields, *v)))
      sorted.push_back(v.get());
  }
  std::sort(sorted.begin(), sorted.end(), [](const EventVersion* a, const EventVersion* b) {
    return std::tie(a->ns, a->name) < std::tie(b->ns, b->name);
  });
  return sorted;
}

namespace {
// What FieldValue reads at `path` from the JSON of a recorded event
// (MakeEventJson), without making it.
std::string_view EventFieldValue(const std::string& ns, const std::string& name,
                                 const EventRecord& r, const std::string& path) {
  if (path == "metadata.name") return name;
  if (path == "metadata.namespace" || path == "involvedObject.namespace") return ns;
  if (path == "involvedObject.kind") return r.involved_kind;
  if (path == "involvedObject.name") return r.involved_name;
  if (path == "involvedObject.uid") return r.involved_uid;
  if (path == "involvedObject.apiVersion") return r.involved_api_version;
  if (path == "involvedObject.resourceVersion") return r.involved_resource_version;
  if (path == "type") return r.type;
  if (path == "reason") return r.reason;
  if (path == "reportingComponent") return "portflow-fake";
  return "";  // involvedObject.fieldPath is not set; source is an object
}
}  // namespace

bool ObjectStore::MayMatch(const FieldSelector& fields, const EventVersion& v) {
  if (v.object || !v.record) return true;
  return fields.MatchesBy(
      [&](const std::string& path) { return EventFieldValue(v.ns, v.name, *v.record, path); });
}

json ObjectStore::MakeEventJson(const EventVersion& v) {
  const EventRecord& r = *v.record;
  std::string at = K8sTime(v.at);
  json e = json::object();
  e["apiVersion"] = "v1";
  e["kind"] = "Event";
  json meta = json::object();
  meta["name"] = v.name;
  meta["namespace"] = v.ns;
  meta["uid"] = Uid(v.uid_hi, v.uid_lo);
  meta["resourceVersion"] = std::to_string(v.rv);
  meta["creationTimestamp"] = at;
  meta["generation"] = 1;
  e["metadata"] = std::move(meta);
  json involved = json::object();
  involved["apiVersion"] = r.involved_api_version;
  involved["kind"] = r.involved_kind;
  involved["name"] = r.involved_name;
  involved["namespace"] = v.ns;
  involved["uid"] = r.involved_uid;
  involved["resourceVersion"] = r.involved_resource_version;
  e["involvedObject"] = std::move(involved);
  e["type"] = r.type;
  e["reason"] = r.reason;
  e["message"] = r.message;
  e["count"] = 1;
  e["firstTimestamp"] = at;
  e["lastTimestamp"] = std::move(at);
  e["reportingComponent"] = "portflow-fake";
  e["source"]["component"] = r.component;
  return e;
}

const std::shared_ptr<const json>& ObjectStore::EventJson(const EventVersion& v) {
  if (!v.object) v.object = std::make_shared<const json>(MakeEventJson(v));
  return v.object;
}

std::shared_ptr<const json> ObjectStore::ChangeObject(const EventChange& c) {
  const std::shared_ptr<const json>& object = EventJson(*c.version);
  if (c.type != "DELETED") return object;
  json gone = *object;
  gone["metadata"]["resourceVersion"] = std::to_string(c.rv);
  return std::make_shared<const json>(std::move(gone));
}

void ObjectStore::EventChanged(std::string type, EventPtr version, EventPtr previous) {
  event_changes_.push_back({rv_, std::move(type), std::move(version), std::move(previous)});
  const EventChange& c = event_changes_.back();
  // JSON only for a watch that may want it (a change from a version before
  // is left to the watches to judge).
  bool watched = std::any_of(watches_.begin(), watches_.end(), [&](const std::weak_ptr<Watch>& w) {
    auto watch = w.lock();
    return watch && watch->kind_ == &Events() &&
           (watch->ns_.empty() || watch->ns_ == c.version->ns) &&
           (c.previous || MayMatch(watch->fields_, *c.version));
  });
  if (watched) {
    // The text a watch makes of a version is kept with it for GETs.
    std::shared_ptr<const std::string> deleted;
    OfferToWatches(Events(), c.type, ChangeObject(c),
                   c.previous ? EventJson(*c.previous).get() : nullptr,
                   c.type == "DELETED" ? deleted : c.version->text);
  }
  while (event_changes_.size() > std::max<size_t>(history_, 1)) {
    EventChange& gone = event_changes_.front();
    events_forgotten_ = gone.rv;
    dropped_.Drop(std::move(gone.version));
    dropped_.Drop(std::move(gone.previous));
    event_changes_.pop_front();
  }
}

void ObjectStore::TrimEvents() {
  while (live_events_ > max_events_) EventGone(TakeEvent(0));
}

void ObjectStore::EventGone(EventPtr gone) {
  ++rv_;
  EventChanged("DELETED", std::move(gone), nullptr);
}

Status ObjectStore::RecordEvent(const std::string& ns, EventRecord record) {
  std::lock_guard<std::mutex> l(mu_);
  auto v = std::make_shared<EventVersion>();
  v->ns = ns;
  v->name = std::move(record.name);
  if (!AddEvent(v)) return AlreadyExistsError(Events(), v->name, false);
  v->rv = ++rv_;
  v->record = std::move(record);
  v->at = clock_.Now();
  v->uid_hi = uid_random_();
  v->uid_lo = uid_random_();
  EventChanged("ADDED", std::move(v), nullptr);
  TrimEvents();
  return OkStatus();
}

void ObjectStore::LimitEvents(size_t max) {
  std::lock_guard<std::mutex> l(mu_);
  max_events_ = max;
  TrimEvents();
}

Result<std::shared_ptr<Watch>> ObjectStore::StartWatch(const ResourceKind& kind,
                                                       const std::string& ns,
                                                       const ListOptions& selectors,
                                                       const std::string& resource_version) {
  ASSIGN_OR_RETURN(LabelSelector labels, LabelSelector::Parse(selectors.label_selector));
  std::vector<std::string> supported{"metadata.name"};
  if (kind.namespaced) supported.push_back("metadata.namespace");
  supported.insert(supported.end(), kind.field_selectors.begin(), kind.field_selectors.end());
  ASSIGN_OR_RETURN(FieldSelector fields, FieldSelector::Parse(selectors.field_selector, supported));
  int64_t from = -1;
  if (!resource_version.empty() && resource_version != "0") {
    char* end = nullptr;
    from = std::strtoll(resource_version.c_str(), &end, 10);
    if (*end != '\0' || from < 0)
      return InvalidArgument("invalid resourceVersion \"" + resource_version + "\"");
  }
  std::shared_ptr<Watch> w(new Watch(this, &kind, ns, std::move(labels), std::move(fields)));
  std::lock_guard<std::mutex> l(mu_);
  bool events = &kind == &Events();
  // Events have a history of their own, and take versions the other kinds'
  // does not hold: what decides is whether a change after `from` was let go.
  int64_t forgotten = events ? events_forgotten_ : forgotten_;
  if (from >= 0 && from < forgotten) {
    return OutOfRange("too old resource version: " + resource_version + " (" +
                      std::to_string(forgotten) + ")");
  }
  if (events) {
    if (from < 0) {
      for (EventVersion* v : EventsByName(ns, &w->fields_))
        w->Offer("ADDED", EventJson(*v), nullptr, v->text);
    } else {
      for (const EventChange& c : event_changes_) {
        std::shared_ptr<const std::string> text;
        if (c.rv > from) {
          w->Offer(c.type, ChangeObject(c), c.previous ? EventJson(*c.previous).get() : nullptr,
                   text);
        }
      }
    }
  } else if (from < 0) {
    // The text a GET or an earlier watch made of each version, or made
    // here and kept for them.
    ForEachObject(kind, [&](const std::string&, const std::string&, const Entry& e) {
      w->Offer("ADDED", e.object, nullptr, e.text);
    });
  } else {
    for (const Change& c : changes_) {
      std::shared_ptr<const std::string> text;
      if (c.rv > from && c.kind == &kind) w->Offer(c.type, c.object, c.previous.get(), text);
    }
  }
  watches_.push_back(w);
  return w;
}

void ObjectStore::StopAllWatches() {
  std::vector<std::shared_ptr<Watch>> all;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (auto& w : watches_) {
      if (auto s = w.lock()) all.push_back(s);
    }
    watches_.clear();
  }
  for (auto& w : all) w->Stop();
}

}  // namespace portflow::fake
