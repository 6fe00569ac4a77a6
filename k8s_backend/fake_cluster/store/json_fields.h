// Reading the quantities of API objects (Field, Sub and Str come from
// core/json_fields.h): absent or malformed reads as 0.
#pragma once

#include <cstdint>
#include <string>

#include "core/json_fields.h"
#include "core/quantity.h"
#include "k8s_backend/fake_cluster/store/object_store.h"

namespace portflow::fake {

// A resource quantity ("500m", "2Gi", 3) in thousandths or whole units; 0
// when absent or malformed.
inline int64_t Quantity(const json& v, bool milli) {
  std::string s = v.is_string() ? v.get<std::string>() : v.is_number() ? v.dump() : "";
  if (s.empty()) return 0;
  auto r = milli ? ParseMilliQuantity(s) : ParseQuantity(s);
  return r.ok() ? *r : 0;
}

}  // namespace portflow::fake
