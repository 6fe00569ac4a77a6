// Parsing JSON text into nlohmann::json about twice as fast as nlohmann's
// own parser: Boost.JSON's parser reads the text and the tree is built from
// its callbacks directly. For the text a run reads most of, the watch
// events of the kubernetes backend (a Job's or a pod's 2 to 4 KB each).
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string_view>

namespace portflow {

// What nlohmann::json::parse(text, nullptr, false) returns, for any text:
// the same tree with the same number types (a number without a minus sign
// unsigned, one past 64 bits a double), the last of a repeated key, and a
// discarded value (is_discarded()) for what nlohmann refuses. Text that
// Boost.JSON's parser refuses (not JSON, mostly) is handed to nlohmann's for
// its verdict: their few differences (nlohmann reads "1e-400" as 0 where
// Boost finds the exponent too small, and takes a NUL byte for the end of
// the text) then read as nlohmann has them.
//
// One difference on purpose: arrays and objects nested deeper than
// kMaxJsonDepth read as discarded, where nlohmann builds the tree. Copying
// or printing a tree recurses once a level, so a server's answer nested
// tens of thousands deep would overflow the stack of whoever copies it;
// no Kubernetes or AWS answer comes near (the API server's own decoder
// stops at 10,000). Use this for any text from the network.
inline constexpr std::size_t kMaxJsonDepth = 1000;
nlohmann::json ParseJson(std::string_view text);

}  // namespace portflow
