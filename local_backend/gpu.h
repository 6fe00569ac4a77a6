// GPU discovery through the CUDA driver API, loaded at run time: no link-time
// dependency, and zero GPUs where there is no driver.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace portflow {

struct GpuInfo {
  int index = 0;  // as CUDA numbers it in this process
  std::string name;
  int64_t memory_bytes = 0;
};

// The GPUs the CUDA driver reports; empty when libcuda is missing or fails.
std::vector<GpuInfo> DiscoverGpus();

}  // namespace portflow
