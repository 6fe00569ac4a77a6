// Reading the fields of JSON API objects without copies and without
// exceptions, whatever a server sent: a field that is absent, or of another
// type, reads as null, an empty object or "". For any nlohmann::basic_json
// (the fake cluster stores its own kind, with compact objects).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace portflow {

// The member `key` of `object`, of any type; null when absent or when
// `object` is not an object (iterating null yields nothing).
template <class Json>
const Json& Field(const Json& object, const char* key) {
  static const Json kNull;
  if (!object.is_object()) return kNull;
  auto it = object.find(key);
  return it == object.end() ? kNull : *it;
}

// The member `key` when it is an object, else an empty object: safe to chain
// (Sub(Sub(pod, "status"), "allocatable")) and to ask .value() of.
template <class Json>
const Json& Sub(const Json& object, const char* key) {
  static const Json kEmpty = Json::object();
  const Json& v = Field(object, key);
  return v.is_object() ? v : kEmpty;
}

// The member `key` when it is a string, else "".
template <class Json>
std::string Str(const Json& object, const char* key) {
  const Json& v = Field(object, key);
  return v.is_string() ? v.template get<std::string>() : "";
}

}  // namespace portflow
