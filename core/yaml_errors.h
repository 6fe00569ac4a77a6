// What a yaml-cpp exception should tell a user. yaml-cpp 0.7 reports input
// nested past its parser's limit as "bad file"; that one is named for what
// it is, the rest keep yaml-cpp's words.
#pragma once

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/yaml.h>

#include <string>

namespace portflow {

inline std::string YamlErrorText(const YAML::Exception& e) {
  if (const auto* deep = dynamic_cast<const YAML::DeepRecursion*>(&e))
    return "nesting deeper than " + std::to_string(deep->depth()) + " levels";
  return e.msg;
}

}  // namespace portflow
