// Base64 (RFC 4648, standard alphabet, padded), as Kubernetes uses it for
// Secret data and kubeconfig *-data fields.
#pragma once

#include <optional>
#include <string>

namespace portflow {

std::string Base64Encode(const std::string& bytes);
// nullopt when `text` is not valid padded base64 (whitespace is skipped).
std::optional<std::string> Base64Decode(const std::string& text);

}  // namespace portflow
