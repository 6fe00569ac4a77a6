#include "k8s_backend/fake_cluster/store/strategic_merge.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

namespace portflow::fake {
namespace {

constexpr const char* kPatch = "$patch";
constexpr const char* kRetainKeys = "$retainKeys";
constexpr std::string_view kSetElementOrder = "$setElementOrder";
constexpr std::string_view kDeleteFromPrimitiveList = "$deleteFromPrimitiveList";

// The patch tags of one Go struct field. Fields not in the table behave as
// untagged ones: objects merge, lists are replaced.
struct Tags {
  std::string_view type;       // Go struct of the value or of its list items; "" past the table
  bool merge = false;          // patchStrategy:"merge"
  std::string_view merge_key;  // patchMergeKey, for lists of objects
};

// (Go struct, JSON field) -> tags, from k8s.io/api core/v1 and batch/v1 and
// apimachinery meta/v1 types.go of Kubernetes 1.32, for the paths from the
// served kinds down to every tagged list. ("retainKeys" in a tag changes only
// what clients send: the server applies $retainKeys wherever it finds it.)
const std::map<std::pair<std::string_view, std::string_view>, Tags>& TagTable() {
  static const auto table = [] {
    std::map<std::pair<std::string_view, std::string_view>, Tags> t = {
        {{"Pod", "spec"}, {"PodSpec"}},
        {{"Pod", "status"}, {"PodStatus"}},
        {{"Job", "spec"}, {"JobSpec"}},
        {{"Job", "status"}, {"JobStatus"}},
        {{"JobSpec", "template"}, {"PodTemplateSpec"}},
        {{"PodTemplateSpec", "metadata"}, {"ObjectMeta"}},
        {{"PodTemplateSpec", "spec"}, {"PodSpec"}},
        {{"Service", "spec"}, {"ServiceSpec"}},
        {{"Service", "status"}, {"ServiceStatus"}},
        {{"Node", "spec"}, {"NodeSpec"}},
        {{"Node", "status"}, {"NodeStatus"}},
        {{"Namespace", "status"}, {"NamespaceStatus"}},
        {{"ObjectMeta", "finalizers"}, {"", true}},
        {{"ObjectMeta", "ownerReferences"}, {"", true, "uid"}},
        {{"PodSpec", "containers"}, {"Container", true, "name"}},
        {{"PodSpec", "initContainers"}, {"Container", true, "name"}},
        // EphemeralContainerCommon has the same tagged lists as Container.
        {{"PodSpec", "ephemeralContainers"}, {"Container", true, "name"}},
        {{"PodSpec", "volumes"}, {"", true, "name"}},
        {{"PodSpec", "imagePullSecrets"}, {"", true, "name"}},
        {{"PodSpec", "hostAliases"}, {"", true, "ip"}},
        {{"PodSpec", "topologySpreadConstraints"}, {"", true, "topologyKey"}},
        {{"PodSpec", "schedulingGates"}, {"", true, "name"}},
        {{"PodSpec", "resourceClaims"}, {"", true, "name"}},
        {{"Container", "ports"}, {"", true, "containerPort"}},
        {{"Container", "env"}, {"", true, "name"}},
        {{"Container", "volumeMounts"}, {"", true, "mountPath"}},
        {{"Container", "volumeDevices"}, {"", true, "devicePath"}},
        {{"PodStatus", "conditions"}, {"", true, "type"}},
        {{"PodStatus", "podIPs"}, {"", true, "ip"}},
        {{"PodStatus", "hostIPs"}, {"", true, "ip"}},
        {{"PodStatus", "resourceClaimStatuses"}, {"", true, "name"}},
        {{"JobStatus", "conditions"}, {"", true, "type"}},
        {{"ServiceSpec", "ports"}, {"", true, "port"}},
        {{"ServiceStatus", "conditions"}, {"", true, "type"}},
        {{"NodeSpec", "podCIDRs"}, {"", true}},
        {{"NodeStatus", "conditions"}, {"", true, "type"}},
        {{"NodeStatus", "addresses"}, {"", true, "type"}},
        {{"NamespaceStatus", "conditions"}, {"", true, "type"}},
    };
    for (std::string_view kind :
         {"Pod", "Job", "Service", "ConfigMap", "Secret", "Namespace", "Node", "Event"}) {
      t[{kind, "metadata"}] = {"ObjectMeta"};
    }
    return t;
  }();
  return table;
}

Tags Lookup(std::string_view type, const std::string& field) {
  if (type.empty()) return {};
  auto it = TagTable().find({type, field});
  return it == TagTable().end() ? Tags{} : it->second;
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

bool IsDirective(const json& item, const char* value) {
  return item.is_object() && item.contains(kPatch) && item.at(kPatch) == value;
}

Status NoMergeKey(const json& item, const std::string& key) {
  return FailedPrecondition("map: " + item.dump() + " does not contain declared merge key: " + key);
}

Status NotAMap(const json& value) {
  return FailedPrecondition(std::string("expected a map, but received a ") + value.type_name());
}

// "$setElementOrder/containers" -> "containers".
Result<std::string> FieldOf(const std::string& key, std::string_view prefix) {
  size_t slash = key.find('/');
  if (slash == std::string::npos || std::string_view(key).substr(0, slash) != prefix) {
    return InvalidArgument(prefix == kSetElementOrder
                               ? "invalid patch format of setElementOrder list"
                               : "invalid patch format of primitive list");
  }
  return key.substr(slash + 1);
}

// No field of a served kind starts with '$', so such a key is a directive
// or a mistake (the API server's strict decoding rejects unknown fields).
Status CheckDirectives(const json& value) {
  if (value.is_array()) {
    for (const json& item : value) RETURN_IF_ERROR(CheckDirectives(item));
  }
  if (!value.is_object()) return OkStatus();
  for (auto it = value.begin(); it != value.end(); ++it) {
    const std::string& k = it.key();
    if (StartsWith(k, "$") && k != kPatch && k != kRetainKeys && !StartsWith(k, kSetElementOrder) &&
        !StartsWith(k, kDeleteFromPrimitiveList)) {
      return InvalidArgument("unknown directive \"" + k + "\" in the patch");
    }
    RETURN_IF_ERROR(CheckDirectives(it.value()));
  }
  return OkStatus();
}

// A patch value taken whole: drops nulls in objects, objects that carry
// $patch, and other directives. False when `value` itself is dropped.
bool Clean(json& value) {
  if (value.is_object()) {
    if (value.contains(kPatch)) return false;
    for (auto it = value.begin(); it != value.end();) {
      bool drop = it->is_null() || StartsWith(it.key(), "$") || !Clean(*it);
      it = drop ? value.erase(it) : std::next(it);
    }
  } else if (value.is_array()) {
    json kept = json::array();
    for (json& item : value) {
      if (Clean(item)) kept.push_back(std::move(item));
    }
    value = std::move(kept);
  }
  return true;
}

// The one type of the items of `a` and `b` (any number counts as one type).
Result<json::value_t> ItemType(const json& a, const json& b) {
  std::optional<json::value_t> type;
  for (const json* list : {&a, &b}) {
    for (const json& item : *list) {
      json::value_t t = item.is_number() ? json::value_t::number_float : item.type();
      if (!type && t == json::value_t::array) {
        return InvalidArgument("lists of lists are not supported");
      }
      if (type && *type != t) {
        return FailedPrecondition("list element types are not identical: " + a.dump() + " " +
                                  b.dump());
      }
      type = t;
    }
  }
  if (!type) return FailedPrecondition("no elements in any of the given slices");
  return *type;
}

// What identifies a list item: its merge key's value, or the item itself.
json IdOf(const json& item, const std::string& key, bool objects) {
  if (!objects) return item;
  return item.is_object() && item.contains(key) ? item.at(key) : json();
}

// Where `item` is in `list`, or list.size() when it is not.
size_t RankIn(const json& list, const json& item, const std::string& key, bool objects) {
  json id = IdOf(item, key, objects);
  for (size_t i = 0; i < list.size(); ++i) {
    if (IdOf(list[i], key, objects) == id) return i;
  }
  return list.size();
}

Status RequireMergeKey(const json& list, const std::string& key) {
  for (const json& item : list) {
    if (!item.is_object()) return NotAMap(item);
    if (!item.contains(key)) return NoMergeKey(item, key);
  }
  return OkStatus();
}

// Splits `merged` into the items that `by` names (by merge key; by value
// when `key` is "") and the others, keeping their order.
Status Partition(const json& merged, const json& by, const std::string& key, json* named,
                 json* others) {
  *named = json::array();
  *others = json::array();
  bool objects = !key.empty();
  if (objects) RETURN_IF_ERROR(RequireMergeKey(merged, key));
  for (const json& item : merged) {
    (RankIn(by, item, key, objects) < by.size() ? named : others)->push_back(item);
  }
  return OkStatus();
}

// Sorts `items` (stably) by where they are in `order`; items marked
// "$patch: delete" go last. Items not in `order` go after the others (the API
// server's order for them is arbitrary; patches from kubectl have none).
Result<json> SortByOrder(const json& items, const json& order, const std::string& key,
                         bool objects) {
  if (objects) {
    RETURN_IF_ERROR(RequireMergeKey(items, key));
    RETURN_IF_ERROR(RequireMergeKey(order, key));
  }
  std::vector<std::pair<size_t, json>> ranked;
  for (const json& item : items) {
    size_t rank =
        objects && IsDirective(item, "delete") ? SIZE_MAX : RankIn(order, item, key, objects);
    ranked.emplace_back(rank, item);
  }
  std::stable_sort(ranked.begin(), ranked.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  json out = json::array();
  for (auto& [rank, item] : ranked) out.push_back(std::move(item));
  return out;
}

// The patch's items in `patch_order`, the server-only items in
// `server_order`, interleaved: a server-only item goes before a patch item
// that comes after it on the server (strategicpatch's normalizeElementOrder).
Result<json> Normalize(const json& patch_items, const json& server_items, const json& patch_order,
                       const json& server_order, const std::string& key, bool objects) {
  ASSIGN_OR_RETURN(json right, SortByOrder(patch_items, patch_order, key, objects));
  ASSIGN_OR_RETURN(json left, SortByOrder(server_items, server_order, key, objects));
  json out = json::array();
  size_t i = 0, j = 0;
  while (i < left.size() || j < right.size()) {
    bool take_left = j >= right.size();
    if (i < left.size() && j < right.size()) {
      size_t li = RankIn(server_order, left[i], key, objects);
      size_t rj = RankIn(server_order, right[j], key, objects);
      take_left = li < server_order.size() && rj < server_order.size() && li < rj;
    }
    out.push_back(take_left ? left[i++] : right[j++]);
  }
  return out;
}

// The "$patch" elements of a merging list: "delete" removes the items with
// that merge key from `original`; "replace" makes the list the patch's
// other items.
Status ApplyListDirectives(json& original, json& patch, const std::string& key) {
  json rest = json::array();
  bool replace = false;
  for (json& item : patch) {
    if (!item.contains(kPatch)) {
      rest.push_back(std::move(item));
      continue;
    }
    const json& directive = item.at(kPatch);
    if (directive == "delete") {
      if (!item.contains(key)) return NoMergeKey(item, key);
      json kept = json::array();
      for (json& o : original) {
        if (!o.is_object()) return NotAMap(o);
        if (!o.contains(key) || o.at(key) != item.at(key)) kept.push_back(std::move(o));
      }
      original = std::move(kept);
    } else if (directive == "replace") {
      replace = true;
    } else if (directive == "merge") {
      return FailedPrecondition("merging lists cannot yet be specified in the patch");
    } else {
      return FailedPrecondition(
          "unknown patch type: " +
          (directive.is_string() ? directive.get<std::string>() : directive.dump()) +
          " in map: " + item.dump());
    }
  }
  if (replace) {
    Clean(rest);
    original = std::move(rest);
    patch = json::array();
  } else {
    patch = std::move(rest);
  }
  return OkStatus();
}

Status MergeMap(json& original, json patch, std::string_view type);

// A list field met in both: merged when tagged merge, else replaced. A
// "$deleteFromPrimitiveList" list (`delete_list`) takes its items out.
Result<json> MergeList(json original, json patch, const Tags& tags, const std::string& field,
                       bool delete_list) {
  if (!tags.merge && !delete_list) {
    Clean(patch);
    return patch;
  }
  if (original.empty() && patch.empty()) return original;
  ASSIGN_OR_RETURN(json::value_t type, ItemType(original, patch));
  std::string key(tags.merge_key);
  json merged = json::array();
  if (type != json::value_t::object) {
    key.clear();  // scalars are their own key
    if (delete_list) {
      for (const json& item : original) {
        if (std::find(patch.begin(), patch.end(), item) == patch.end()) merged.push_back(item);
      }
      return merged;
    }
    for (const json* list : {&original, &patch}) {
      for (const json& item : *list) {
        if (std::find(merged.begin(), merged.end(), item) == merged.end()) merged.push_back(item);
      }
    }
  } else {
    if (key.empty()) return FailedPrecondition("cannot merge lists without merge key for " + field);
    RETURN_IF_ERROR(ApplyListDirectives(original, patch, key));
    merged = original;
    for (const json& item : patch) {
      if (!item.contains(key)) return NoMergeKey(item, key);
      size_t at = RankIn(merged, item, key, true);
      if (at < merged.size()) {
        RETURN_IF_ERROR(MergeMap(merged[at], item, tags.type));
      } else {
        json added = item;
        Clean(added);
        merged.push_back(std::move(added));
      }
    }
  }
  json patch_items, server_items;
  RETURN_IF_ERROR(Partition(merged, patch, key, &patch_items, &server_items));
  return Normalize(patch_items, server_items, patch, original, key, type == json::value_t::object);
}

// "$retainKeys": `original` keeps only the listed keys, and the patch may
// set no other.
Status ApplyRetainKeys(json& original, json& patch) {
  auto found = patch.find(kRetainKeys);
  if (found == patch.end()) return OkStatus();
  json keep = std::move(*found);
  patch.erase(found);
  if (!keep.is_array()) return InvalidArgument("invalid patch format of retainKeys");
  auto kept = [&keep](const std::string& k) {
    return std::find(keep.begin(), keep.end(), json(k)) != keep.end();
  };
  for (auto it = patch.begin(); it != patch.end(); ++it) {
    if (it->is_null() || StartsWith(it.key(), kDeleteFromPrimitiveList) ||
        StartsWith(it.key(), kSetElementOrder)) {
      continue;
    }
    if (!kept(it.key())) return InvalidArgument("invalid patch format of retainKeys");
  }
  for (auto it = original.begin(); it != original.end();) {
    it = kept(it.key()) ? std::next(it) : original.erase(it);
  }
  return OkStatus();
}

// The patch list's items (less deletions) must come in the order of the
// $setElementOrder list, which may name more.
Status CheckOrder(const json& patch_list, const json& order, const std::string& key) {
  if (order.empty() || patch_list.empty()) return OkStatus();
  json items = json::array();
  for (const json& item : patch_list) {
    if (!key.empty() && !item.is_object()) return NotAMap(item);
    if (key.empty() || !IsDirective(item, "delete")) items.push_back(item);
  }
  size_t p = 0, s = 0;
  while (p < items.size() && s < order.size()) {
    if (items[p].is_object() && items[p].contains(kPatch)) {
      ++p;
      continue;
    }
    if (!key.empty()) {
      if (!order[s].is_object()) return NotAMap(order[s]);
      if (!items[p].contains(key)) return NoMergeKey(items[p], key);
      if (!order[s].contains(key)) return NoMergeKey(order[s], key);
    }
    if (IdOf(items[p], key, !key.empty()) == IdOf(order[s], key, !key.empty())) ++p;
    ++s;
  }
  if (p < items.size()) {
    return FailedPrecondition("The order in patch list:\n" + patch_list.dump() +
                              "\n doesn't match $setElementOrder list:\n" + order.dump() + "\n");
  }
  return OkStatus();
}

// Every "$setElementOrder/F": merges list F (when the patch has it) and puts
// its items in the given order, the server-only ones among them.
Status ApplySetElementOrder(json& original, json& patch, std::string_view type) {
  std::vector<std::string> directives;
  for (auto it = patch.begin(); it != patch.end(); ++it) {
    if (StartsWith(it.key(), kSetElementOrder)) directives.push_back(it.key());
  }
  for (const std::string& directive : directives) {
    json order = std::move(patch[directive]);
    patch.erase(directive);
    if (!order.is_array()) {
      return FailedPrecondition(std::string("expected a slice, but received a ") +
                                order.type_name());
    }
    ASSIGN_OR_RETURN(std::string field, FieldOf(directive, kSetElementOrder));
    bool in_original = original.contains(field), in_patch = patch.contains(field);
    json original_list = in_original ? original[field] : json::array();
    json patch_list = in_patch ? patch[field] : json::array();
    for (const json* list : {&original_list, &patch_list}) {
      if (!list->is_array()) {
        return FailedPrecondition(std::string("expected a slice, but received a ") +
                                  list->type_name());
      }
    }
    Tags tags = Lookup(type, field);
    std::string key(tags.merge_key);
    RETURN_IF_ERROR(CheckOrder(patch_list, order, key));
    json merged;
    if (in_original && in_patch) {
      ASSIGN_OR_RETURN(merged, MergeList(original_list, patch_list, tags, field, false));
    } else if (in_original) {
      merged = original_list;
    } else if (in_patch) {
      merged = patch_list;
      Clean(merged);
    } else {
      continue;
    }
    json ordered_items, server_items;
    RETURN_IF_ERROR(Partition(merged, order, key, &ordered_items, &server_items));
    ASSIGN_OR_RETURN(json::value_t item_type, ItemType(original_list, patch_list));
    ASSIGN_OR_RETURN(original[field], Normalize(ordered_items, server_items, order, original_list,
                                                key, item_type == json::value_t::object));
    patch.erase(field);
  }
  return OkStatus();
}

// strategicpatch's mergeMap, as the server runs it (nulls that match nothing
// are dropped; $deleteFromPrimitiveList lists are applied).
Status MergeMap(json& original, json patch, std::string_view type) {
  if (patch.contains(kPatch)) {
    const json& directive = patch.at(kPatch);
    if (directive == "replace") {
      patch.erase(kPatch);
      Clean(patch);
      original = std::move(patch);
      return OkStatus();
    }
    if (directive == "delete") {
      original = json::object();
      return OkStatus();
    }
    return FailedPrecondition(
        "unknown patch type: " +
        (directive.is_string() ? directive.get<std::string>() : directive.dump()) +
        " in map: " + patch.dump());
  }
  if (original.is_null()) original = json::object();
  RETURN_IF_ERROR(ApplyRetainKeys(original, patch));
  RETURN_IF_ERROR(ApplySetElementOrder(original, patch, type));
  for (auto it = patch.begin(); it != patch.end(); ++it) {
    std::string field = it.key();
    bool delete_list = StartsWith(field, kDeleteFromPrimitiveList);
    if (delete_list) {
      ASSIGN_OR_RETURN(field, FieldOf(field, kDeleteFromPrimitiveList));
    }
    json& value = it.value();
    if (value.is_null()) {
      original.erase(field);
      continue;
    }
    auto at = original.find(field);
    bool both_objects = at != original.end() && at->is_object() && value.is_object();
    bool both_lists = at != original.end() && at->is_array() && value.is_array();
    if (!both_objects && !both_lists) {
      // A deletion list for a field that is not there has nothing to do.
      if (delete_list) continue;
      if (Clean(value)) {
        original[field] = std::move(value);
      } else {
        original.erase(field);
      }
      continue;
    }
    Tags tags = Lookup(type, field);
    if (both_objects) {
      RETURN_IF_ERROR(MergeMap(*at, std::move(value), tags.type));
    } else {
      ASSIGN_OR_RETURN(*at, MergeList(*at, std::move(value), tags, field, delete_list));
    }
  }
  return OkStatus();
}

}  // namespace

Result<json> StrategicMergePatch(const json& original, const json& patch, const std::string& kind) {
  if (!patch.is_object()) return InvalidArgument("the patch is not a JSON object");
  RETURN_IF_ERROR(CheckDirectives(patch));
  json result = original.is_object() ? original : json::object();
  try {
    RETURN_IF_ERROR(MergeMap(result, patch, kind));
  } catch (const json::exception& e) {
    // Malformed patches reach here only through a check missed above.
    return InvalidArgument(std::string("the patch could not be applied: ") + e.what());
  }
  return result;
}

}  // namespace portflow::fake
