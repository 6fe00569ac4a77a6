// Reading the fields of API objects without copies and without exceptions:
// a field that is absent, or of another type, reads as null, "" or 0.
#pragma once

#include <cstdint>
#include <string>

#include "core/quantity.h"
#include "k8s_backend/fake_cluster/store/object_store.h"

namespace portflow::fake {

// A member without a copy: null when absent (iterating null yields nothing).
inline const json& Sub(const json& object, const char* key) {
  static const json kNull;
  if (!object.is_object()) return kNull;
  auto it = object.find(key);
  return it == object.end() ? kNull : *it;
}

inline std::string Str(const json& object, const char* key) {
  const json& v = Sub(object, key);
  return v.is_string() ? v.get<std::string>() : "";
}

// A resource quantity ("500m", "2Gi", 3) in thousandths or whole units; 0
// when absent or malformed.
inline int64_t Quantity(const json& v, bool milli) {
  std::string s = v.is_string() ? v.get<std::string>() : v.is_number() ? v.dump() : "";
  if (s.empty()) return 0;
  auto r = milli ? ParseMilliQuantity(s) : ParseQuantity(s);
  return r.ok() ? *r : 0;
}

}  // namespace portflow::fake
