// UTF-8 as RFC 3629 defines it: no overlong forms, no surrogates, nothing
// past U+10FFFF. Shared by the spec loader (which rejects bad text) and the
// fake cluster's protobuf decoder (which repairs it, as Go's JSON encoder does).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace portflow {

// Length (1 to 4) of the well-formed sequence starting at text[i], or 0.
size_t Utf8SequenceLength(std::string_view text, size_t i);

// `text` with every byte that starts no well-formed sequence replaced by
// U+FFFD.
std::string ToValidUtf8(std::string_view text);

}  // namespace portflow
