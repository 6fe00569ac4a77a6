#include "local_backend/gpu.h"

#include <dlfcn.h>

#include <cstddef>

namespace portflow {

std::vector<GpuInfo> DiscoverGpus() {
  std::vector<GpuInfo> gpus;
  void* lib = ::dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib) return gpus;
  using InitFn = int (*)(unsigned);
  using CountFn = int (*)(int*);
  using GetFn = int (*)(int*, int);
  using NameFn = int (*)(char*, int, int);
  using MemFn = int (*)(size_t*, int);
  auto init = reinterpret_cast<InitFn>(::dlsym(lib, "cuInit"));
  auto count = reinterpret_cast<CountFn>(::dlsym(lib, "cuDeviceGetCount"));
  auto get = reinterpret_cast<GetFn>(::dlsym(lib, "cuDeviceGet"));
  auto name = reinterpret_cast<NameFn>(::dlsym(lib, "cuDeviceGetName"));
  auto mem = reinterpret_cast<MemFn>(::dlsym(lib, "cuDeviceTotalMem_v2"));
  int n = 0;
  if (init && count && get && init(0) == 0 && count(&n) == 0) {
    for (int i = 0; i < n; ++i) {
      GpuInfo g;
      g.index = i;
      int dev = 0;
      if (get(&dev, i) == 0) {
        char buf[256] = {};
        if (name && name(buf, sizeof buf - 1, dev) == 0) g.name = buf;
        size_t bytes = 0;
        if (mem && mem(&bytes, dev) == 0) g.memory_bytes = static_cast<int64_t>(bytes);
      }
      gpus.push_back(g);
    }
  }
  // libcuda is left loaded: unloading a driver library is not safe.
  return gpus;
}

}  // namespace portflow
