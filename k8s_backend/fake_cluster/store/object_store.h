// The fake cluster's object store: what etcd plus the API server's generic
// registry do for every resource. Objects are JSON, deep-copied in and out.
// Events have a log of their own behind the same calls (see RecordEvent).
// The store assigns uid, resourceVersion (one counter for the whole store),
// generation, creationTimestamp and names from generateName; answers
// NotFound / AlreadyExists / Conflict where the API server would; lists in a
// stable order (namespace, then name); and keeps a window of recent changes
// so that watches can start from a resourceVersion, as on a real server.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "core/clock.h"
#include "core/status.h"
#include "k8s_backend/fake_cluster/store/deferred_free.h"
#include "k8s_backend/fake_cluster/store/hashed_numbers.h"
#include "k8s_backend/fake_cluster/store/json.h"
#include "k8s_backend/fake_cluster/store/selectors.h"

namespace portflow::fake {

struct ResourceKind {
  std::string group;  // "" for core
  std::string version;
  std::string resource;  // plural, e.g. "pods"
  std::string kind;      // "Pod"
  bool namespaced = true;
  std::vector<std::string> field_selectors;  // supported beyond metadata.name/namespace

  std::string ApiVersion() const { return group.empty() ? version : group + "/" + version; }
};

// The kinds this fake serves, by plural resource name; nullptr when unknown.
const ResourceKind* FindKind(const std::string& group, const std::string& resource);
const std::vector<ResourceKind>& AllKinds();

// The kinds the controllers name.
inline const ResourceKind& Pods() { return *FindKind("", "pods"); }
inline const ResourceKind& Nodes() { return *FindKind("", "nodes"); }
inline const ResourceKind& Jobs() { return *FindKind("batch", "jobs"); }
inline const ResourceKind& Events() { return *FindKind("", "events"); }
inline const ResourceKind& Services() { return *FindKind("", "services"); }
inline const ResourceKind& ConfigMaps() { return *FindKind("", "configmaps"); }
inline const ResourceKind& Secrets() { return *FindKind("", "secrets"); }

struct ListOptions {
  std::string label_selector;
  std::string field_selector;
  int64_t limit = 0;           // 0: no limit
  std::string continue_token;  // from a previous page
};

struct ListResult {
  std::vector<json> items;
  int64_t resource_version = 0;
  std::string continue_token;  // "" on the last page
  int64_t remaining = 0;       // items after this page
};

struct WatchEvent {
  std::string type;  // ADDED, MODIFIED, DELETED, BOOKMARK, ERROR
  std::shared_ptr<const json> object;
  // object->dump(), made once per change and shared by every watcher.
  std::shared_ptr<const std::string> text;
};

// An event as the controllers report it: core/v1 Event's fields, kept as
// they are until a client reads the event, when its JSON is made.
struct EventRecord {
  std::string name;  // the event's own
  std::string involved_api_version, involved_kind, involved_name, involved_uid,
      involved_resource_version;
  std::string type, reason, message, component;
};

class ObjectStore;

// A watch's stream of events. Next() blocks (through the store's clock) until
// an event, the deadline, or Stop().
class Watch {
 public:
  // False at the deadline or once stopped with nothing left to read.
  bool Next(WatchEvent* event, TimePoint deadline);
  // The next event if one is queued; never waits.
  bool TryNext(WatchEvent* event);
  void Stop();
  bool stopped() const;
  // For a reader that does not wait in Next (an event loop): `waker` runs,
  // under the watch's lock and so never after SetWaker(nullptr) returns,
  // when an event is queued to an empty queue (at once if some are queued)
  // and when the watch stops. It must not call the watch; nullptr removes it.
  void SetWaker(std::function<void()> waker);

 private:
  friend class ObjectStore;
  Watch(ObjectStore* store, const ResourceKind* kind, std::string ns, LabelSelector labels,
        FieldSelector fields)
      : store_(store),
        kind_(kind),
        ns_(std::move(ns)),
        labels_(std::move(labels)),
        fields_(std::move(fields)) {}
  // Called by the store with its lock held. `text` caches the object's
  // serialisation across the watches offered the same change.
  void Offer(const std::string& type, const std::shared_ptr<const json>& object,
             const json* previous, std::shared_ptr<const std::string>& text);

  ObjectStore* store_;
  const ResourceKind* kind_;
  std::string ns_;
  LabelSelector labels_;
  FieldSelector fields_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<WatchEvent> queue_;
  bool stopped_ = false;
  std::function<void()> waker_;
};

class ObjectStore {
 public:
  // `history` changes are kept for watches that start from a version (etcd
  // compacts too; an older version gets 410 Expired and the client re-lists).
  explicit ObjectStore(Clock& clock, size_t history = 20000);

  // One change to the store. Objects are immutable once stored and shared,
  // so a change costs no copy.
  struct Change {
    int64_t rv;
    const ResourceKind* kind;
    std::string ns;
    std::string type;  // ADDED, MODIFIED, DELETED
    std::shared_ptr<const json> object;
    std::shared_ptr<const json> previous;  // MODIFIED: the version before
  };
  // Sees every change in order, with the store's lock held: it must not call
  // the store. The controllers use it as their informer.
  using Listener = std::function<void(const Change&)>;
  void AddListener(Listener listener);

  Clock& clock() { return clock_; }

  // Runs before an object is stored, with its name, uid and namespace set;
  // an error stops the create and is returned as it is.
  using Admit = std::function<Status(json& object)>;

  // An object as stored: shared and never changed, so returning it costs no copy.
  using Stored = std::shared_ptr<const json>;

  // AlreadyExists when the name is taken; InvalidArgument without a name or
  // generateName. Returns the stored object.
  Result<Stored> Create(const ResourceKind& kind, const std::string& ns, json object,
                        const Admit& admit = nullptr);
  Result<json> Get(const ResourceKind& kind, const std::string& ns, const std::string& name) const;
  // The stored object itself, without a copy; nullptr when absent.
  std::shared_ptr<const json> Peek(const ResourceKind& kind, const std::string& ns,
                                   const std::string& name) const;
  // The same, NotFound (as Get says it) when absent.
  Result<std::shared_ptr<const json>> Find(const ResourceKind& kind, const std::string& ns,
                                           const std::string& name) const;
  // The stored object's JSON text, made once per version and shared;
  // nullptr when absent.
  std::shared_ptr<const std::string> PeekText(const ResourceKind& kind, const std::string& ns,
                                              const std::string& name) const;
  // `ns` "" lists every namespace.
  Result<ListResult> List(const ResourceKind& kind, const std::string& ns,
                          const ListOptions& options) const;
  // Replaces the object. Aborted (409 Conflict) when metadata.resourceVersion
  // is set and stale; NotFound when absent. generation moves when spec does.
  Result<Stored> Update(const ResourceKind& kind, const std::string& ns, json object);
  // Removes the object and returns it as it was.
  Result<Stored> Delete(const ResourceKind& kind, const std::string& ns, const std::string& name);

  // Starts a watch. `resource_version` "" or "0": ADDED for every current
  // object first; "N": every change after N, OutOfRange (410 Expired) when N
  // is older than the kept history.
  Result<std::shared_ptr<Watch>> StartWatch(const ResourceKind& kind, const std::string& ns,
                                            const ListOptions& selectors,
                                            const std::string& resource_version);
  // Ends every watch (e.g. fault injection: dropped watches).
  void StopAllWatches();

  int64_t resource_version() const;
  // Blocks until the versions the history let go of are freed (they are
  // freed off the store's thread, in batches: store/deferred_free.h).
  void FreeDropped();

  // Events. The controllers make about three a pod, so they are not kept as
  // the other objects are (a tree, a map entry, a change told to the
  // listeners, each) but in a log of their own, oldest first, with versions
  // from the store's counter and a history of their own for watches; every
  // call above answers for them as for any kind, and the listeners are not
  // told of them. RecordEvent adds one as recorded, its JSON made only if a
  // client reads it; AlreadyExists if a client took its name.
  Status RecordEvent(const std::string& ns, EventRecord record);
  // The most events kept: past it the oldest go (DELETED to watches), as
  // the API server lets events expire. Unlimited until set.
  void LimitEvents(size_t max);

 private:
  friend class Watch;
  // Objects by kind (one of AllKinds(), so told apart by address),
  // namespace ("" when not namespaced) and name; found by a KeyView, which
  // copies no string.
  using Key = std::tuple<const ResourceKind*, std::string, std::string>;
  using KeyView = std::tuple<const ResourceKind*, std::string_view, std::string_view>;
  static KeyView ViewOf(const ResourceKind& kind, const std::string& ns, const std::string& name) {
    return {&kind, kind.namespaced ? std::string_view(ns) : std::string_view(), name};
  }
  // Keeps the change, offers it to the watches and tells the listeners.
  // Returns the object's text if a watch made it (nullptr if none did), so
  // that its Entry keeps it for GETs.
  std::shared_ptr<const std::string> Record(const ResourceKind& kind, const std::string& ns,
                                            const std::string& type,
                                            std::shared_ptr<const json> object,
                                            std::shared_ptr<const json> previous);
  // Offers a change to the watches of `kind` (dropping those that ended).
  void OfferToWatches(const ResourceKind& kind, const std::string& type,
                      const std::shared_ptr<const json>& object, const json* previous,
                      std::shared_ptr<const std::string>& text);
  bool Taken(const ResourceKind& kind, const std::string& ns, const std::string& name) const;
  // Calls f(ns, name, entry) for each object of `kind` (not events), in key
  // order (defined in object_store.cc, its only user).
  template <typename F>
  void ForEachObject(const ResourceKind& kind, F&& f) const;
  // Checks `object`, a new version of `old`, against it (a stale
  // resourceVersion is a Conflict), keeps the fields the server owns and
  // stamps the new version.
  Status StampUpdate(const ResourceKind& kind, const json& old, json& object);

  // The event log's parts (object_store.cc).
  struct EventVersion;
  using EventPtr = std::shared_ptr<EventVersion>;
  struct EventChange {
    int64_t rv;
    std::string type;
    EventPtr version;   // DELETED: the version deleted
    EventPtr previous;  // MODIFIED: the version before
  };
  // The place in events_ of the live event named so, or npos.
  static constexpr size_t npos = size_t(-1);
  size_t FindEvent(const std::string& ns, const std::string& name) const;
  // The same, given EventHash(ns, name) (AddEvent files it under that too).
  size_t FindEvent(uint64_t hash, const std::string& ns, const std::string& name) const;
  // Adds an event at the log's end; false, adding nothing, when its name is
  // taken.
  bool AddEvent(EventPtr v);
  // Takes the event at `place` out of the log.
  EventPtr TakeEvent(size_t place);
  // The live events of `ns` ("" for all) by namespace and name, as lists
  // and a watch's first ADDED events come; with `fields`, only those it may
  // match (MayMatch).
  std::vector<EventVersion*> EventsByName(const std::string& ns,
                                          const FieldSelector* fields = nullptr) const;
  // False when `fields` cannot match `v`, told from a recorded event's
  // fields without making its JSON (which a list or watch that takes few
  // events, by their reason, would make for every one); true otherwise:
  // the JSON decides (labels too: a recorded event has none).
  static bool MayMatch(const FieldSelector& fields, const EventVersion& v);
  static json MakeEventJson(const EventVersion& v);
  // A version's JSON, made on first use and kept with it.
  static const std::shared_ptr<const json>& EventJson(const EventVersion& v);
  // The object a change carries (a DELETED: the version with the deletion's
  // resourceVersion).
  static std::shared_ptr<const json> ChangeObject(const EventChange& c);
  void EventChanged(std::string type, EventPtr version, EventPtr previous);
  void TrimEvents();
  // Ends a live event: a new version, DELETED to watches.
  void EventGone(EventPtr gone);

  Clock& clock_;
  size_t history_;
  mutable std::mutex mu_;
  struct Entry {
    std::shared_ptr<const json> object;
    // object->dump(), made once per version by the first that needs it (a
    // watch's event, a GET) and shared (a cache).
    mutable std::shared_ptr<const std::string> text;
  };
  std::map<Key, Entry, std::less<>> objects_;
  std::deque<Change> changes_;
  int64_t forgotten_ = 0;  // the newest version of a change let go
  int64_t rv_ = 1;
  // Version 4 (random) uids, unique across clusters as a real API
  // server's are: seeded once per store.
  std::mt19937_64 uid_random_{std::random_device{}()};
  uint64_t name_counter_ = 0;
  std::vector<std::weak_ptr<Watch>> watches_;
  std::vector<Listener> listeners_;
  // The live events, oldest first (the order the cap lets them go in);
  // nullptr where a client deleted one, until it comes to the front. Events
  // are numbered as made: events_[i] is number events_front_ + i.
  std::deque<EventPtr> events_;
  uint64_t events_front_ = 0;
  size_t live_events_ = 0;
  HashedNumbers event_numbers_;  // by EventHash of namespace and name
  std::deque<EventChange> event_changes_;
  int64_t events_forgotten_ = 0;  // the newest version of a change let go
  size_t max_events_ = SIZE_MAX;
  // The versions history lets go of, freed off the store's thread.
  DeferredFree dropped_;
};

}  // namespace portflow::fake
