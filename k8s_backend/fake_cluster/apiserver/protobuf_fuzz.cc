// libFuzzer target: any request body given to the protobuf decoder ends in
// an object or an error, never in a crash, a hang or a leak.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "k8s_backend/fake_cluster/apiserver/protobuf.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  auto decoded = portflow::fake::DecodeProtobuf(body);
  if (decoded.ok()) (void)decoded->dump();
  return 0;
}
