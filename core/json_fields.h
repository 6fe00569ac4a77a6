// Reading the fields of JSON API objects without copies and without
// exceptions, whatever a server sent: a field that is absent, or of another
// type, reads as null, an empty object or "".
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace portflow {

// The member `key` of `object`, of any type; null when absent or when
// `object` is not an object (iterating null yields nothing).
inline const nlohmann::json& Field(const nlohmann::json& object, const char* key) {
  static const nlohmann::json kNull;
  if (!object.is_object()) return kNull;
  auto it = object.find(key);
  return it == object.end() ? kNull : *it;
}

// The member `key` when it is an object, else an empty object: safe to chain
// (Sub(Sub(pod, "status"), "allocatable")) and to ask .value() of.
inline const nlohmann::json& Sub(const nlohmann::json& object, const char* key) {
  static const nlohmann::json kEmpty = nlohmann::json::object();
  const nlohmann::json& v = Field(object, key);
  return v.is_object() ? v : kEmpty;
}

// The member `key` when it is a string, else "".
inline std::string Str(const nlohmann::json& object, const char* key) {
  const nlohmann::json& v = Field(object, key);
  return v.is_string() ? v.get<std::string>() : "";
}

}  // namespace portflow
