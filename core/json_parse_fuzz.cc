// libFuzzer target: ParseJson and nlohmann's parser agree on every input,
// on whether it is JSON and on the tree (its text) when it is, but for text
// nested past ParseJson's limit.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/json_parse.h"

// How deep arrays and objects nest in `text`, strings skipped.
static size_t Depth(std::string_view text) {
  size_t depth = 0, deepest = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  nlohmann::json got = portflow::ParseJson(text);
  nlohmann::json want = nlohmann::json::parse(text, nullptr, false);
  // The one difference on purpose: past kMaxJsonDepth, discarded.
  if (got.is_discarded() && !want.is_discarded() && Depth(text) > portflow::kMaxJsonDepth) return 0;
  if (want.is_discarded() != got.is_discarded()) std::abort();
  if (!want.is_discarded() && want.dump() != got.dump()) std::abort();
  return 0;
}
