// libFuzzer target: any bytes given to the loader end in a workload or in
// diagnostics, never in a crash, a hang or a leak.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/plan.h"
#include "core/spec_loader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  portflow::LoadResult r = portflow::ParseWorkload(text, "fuzz.yaml", "/tmp", {{"p", "1"}});
  if (r.ok()) {
    auto plan = portflow::Plan::Build(std::move(*r.workload));
    if (plan.ok()) {
      for (size_t i = 0; i < plan->instances().size() && i < 64; ++i) {
        (void)plan->MakeTask(i, 1, {"run", "/tmp/run", "/tmp/run/outputs"});
      }
    }
  } else {
    (void)r.diagnostics.ToString();
  }
  return 0;
}
