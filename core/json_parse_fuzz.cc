// libFuzzer target: ParseJson and nlohmann's parser agree on every input,
// on whether it is JSON and on the tree (its text) when it is.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/json_parse.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  nlohmann::json got = portflow::ParseJson(text);
  nlohmann::json want = nlohmann::json::parse(text, nullptr, false);
  if (want.is_discarded() != got.is_discarded()) std::abort();
  if (!want.is_discarded() && want.dump() != got.dump()) std::abort();
  return 0;
}
