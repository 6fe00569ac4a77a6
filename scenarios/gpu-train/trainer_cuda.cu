// GPU path of gpu-train: the same full-batch gradient descent as train_cpu
// (logreg.h), with one CUDA block per kChunk-row chunk so that every float sum
// is taken in the same order as on the CPU. Plain cudaMalloc only; every CUDA
// call is checked and any error prints a message and exits 1.
#include "logreg.h"

#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#define GT_CUDA_CHECK(call)                                                        \
  do {                                                                             \
    const cudaError_t gt_err_ = (call);                                            \
    if (gt_err_ != cudaSuccess) {                                                  \
      std::fprintf(stderr, "gpu-train: CUDA error %s (%s) in %s at %s:%d\n",       \
                   cudaGetErrorName(gt_err_), cudaGetErrorString(gt_err_), #call,  \
                   __FILE__, __LINE__);                                            \
      std::exit(1);                                                                \
    }                                                                              \
  } while (0)

#define GT_CUDA_CHECK_LAUNCH() GT_CUDA_CHECK(cudaGetLastError())

namespace gputrain {
namespace {

// Explicit round-to-nearest intrinsics keep nvcc from contracting a*b+c into an
// FMA, matching the CPU build (compiled with -ffp-contract=off).
__device__ __forceinline__ float logit_dev(const float* xi, const float* wb, int d) {
  float z = wb[d];
  for (int j = 0; j < d; ++j) z = __fadd_rn(z, __fmul_rn(wb[j], xi[j]));
  return z;
}

__device__ __forceinline__ float sigmoid_dev(float z) { return 1.0f / (1.0f + expf(-z)); }

__device__ __forceinline__ float bce_dev(float z, float y) {
  return __fadd_rn(__fsub_rn(fmaxf(z, 0.0f), __fmul_rn(z, y)), log1pf(expf(-fabsf(z))));
}

// One block per chunk (blockDim.x == kChunk). Writes the chunk's partial
// gradient (d weights + bias) to partial[blockIdx.x * (d + 1) + j].
// Dynamic shared memory: (d + 1) + blockDim.x floats.
__global__ void grad_partial_kernel(const float* __restrict__ x, const float* __restrict__ y,
                                    const float* __restrict__ wb, int n, int d,
                                    float* __restrict__ partial) {
  extern __shared__ float sh[];
  float* sw = sh;            // d + 1
  float* sg = sh + (d + 1);  // blockDim.x
  const int stride = d + 1;
  for (int j = threadIdx.x; j < stride; j += blockDim.x) sw[j] = wb[j];
  __syncthreads();

  const int base = blockIdx.x * blockDim.x;
  const int i = base + threadIdx.x;
  float g = 0.0f;
  if (i < n) g = sigmoid_dev(logit_dev(x + static_cast<size_t>(i) * d, sw, d)) - y[i];
  sg[threadIdx.x] = g;
  __syncthreads();

  const int rows = min(static_cast<int>(blockDim.x), n - base);
  for (int j = threadIdx.x; j < stride; j += blockDim.x) {
    float acc = 0.0f;
    if (j < d) {
      const float* col = x + static_cast<size_t>(base) * d + j;
      for (int k = 0; k < rows; ++k)
        acc = __fadd_rn(acc, __fmul_rn(sg[k], col[static_cast<size_t>(k) * d]));
    } else {
      for (int k = 0; k < rows; ++k) acc = __fadd_rn(acc, sg[k]);
    }
    partial[static_cast<size_t>(blockIdx.x) * stride + j] = acc;
  }
}

// Single block: sums the chunk partials in chunk order and applies the update.
__global__ void update_kernel(const float* __restrict__ partial, int nchunks, int d, float nf,
                              float lr, float* __restrict__ wb) {
  const int stride = d + 1;
  for (int j = threadIdx.x; j < stride; j += blockDim.x) {
    float acc = 0.0f;
    for (int c = 0; c < nchunks; ++c) acc = __fadd_rn(acc, partial[static_cast<size_t>(c) * stride + j]);
    const float grad = __fdiv_rn(acc, nf);
    wb[j] = __fsub_rn(wb[j], __fmul_rn(lr, grad));
  }
}

// One block per chunk: per-chunk loss sum and correct count, summed
// sequentially by thread 0 in row order.
// Dynamic shared memory: (d + 1) + blockDim.x floats + blockDim.x ints.
__global__ void eval_kernel(const float* __restrict__ x, const float* __restrict__ y,
                            const float* __restrict__ wb, int n, int d,
                            float* __restrict__ loss_partial, int* __restrict__ correct_partial) {
  extern __shared__ float sh[];
  float* sw = sh;                                         // d + 1
  float* sl = sh + (d + 1);                               // blockDim.x
  int* sc = reinterpret_cast<int*>(sl + blockDim.x);      // blockDim.x
  for (int j = threadIdx.x; j < d + 1; j += blockDim.x) sw[j] = wb[j];
  __syncthreads();

  const int base = blockIdx.x * blockDim.x;
  const int i = base + threadIdx.x;
  float l = 0.0f;
  int ok = 0;
  if (i < n) {
    const float z = logit_dev(x + static_cast<size_t>(i) * d, sw, d);
    const float yi = y[i];
    l = bce_dev(z, yi);
    ok = ((z > 0.0f) == (yi > 0.5f)) ? 1 : 0;
  }
  sl[threadIdx.x] = l;
  sc[threadIdx.x] = ok;
  __syncthreads();

  if (threadIdx.x == 0) {
    const int rows = min(static_cast<int>(blockDim.x), n - base);
    float ls = 0.0f;
    int cs = 0;
    for (int k = 0; k < rows; ++k) {
      ls = __fadd_rn(ls, sl[k]);
      cs += sc[k];
    }
    loss_partial[blockIdx.x] = ls;
    correct_partial[blockIdx.x] = cs;
  }
}

template <typename T>
T* device_alloc(size_t count) {
  void* p = nullptr;
  GT_CUDA_CHECK(cudaMalloc(&p, count * sizeof(T)));
  return static_cast<T*>(p);
}

}  // namespace

int cuda_device_count() {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    // No driver / no device is not fatal here: the caller decides whether to
    // fall back to the CPU (--device auto) or fail (--device gpu).
    std::fprintf(stderr, "gpu-train: no usable CUDA device: %s (%s)\n", cudaGetErrorName(err),
                 cudaGetErrorString(err));
    (void)cudaGetLastError();  // reset the runtime's last-error state
    return 0;
  }
  return count;
}

std::string cuda_init_device() {
  GT_CUDA_CHECK(cudaSetDevice(0));
  GT_CUDA_CHECK(cudaFree(nullptr));  // force context creation outside the timed region
  cudaDeviceProp prop{};
  GT_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  return std::string(prop.name);
}

TrainResult train_gpu(const Dataset& data, const TrainConfig& cfg) {
  const int n = data.n;
  const int d = data.d;
  const int stride = d + 1;
  const int nchunks = (n + kChunk - 1) / kChunk;
  const float nf = static_cast<float>(n);

  float* d_x = device_alloc<float>(data.x.size());
  float* d_y = device_alloc<float>(data.y.size());
  float* d_wb = device_alloc<float>(static_cast<size_t>(stride));
  float* d_partial = device_alloc<float>(static_cast<size_t>(nchunks) * stride);
  float* d_loss = device_alloc<float>(static_cast<size_t>(nchunks));
  int* d_correct = device_alloc<int>(static_cast<size_t>(nchunks));

  GT_CUDA_CHECK(cudaMemcpy(d_x, data.x.data(), data.x.size() * sizeof(float), cudaMemcpyHostToDevice));
  GT_CUDA_CHECK(cudaMemcpy(d_y, data.y.data(), data.y.size() * sizeof(float), cudaMemcpyHostToDevice));
  GT_CUDA_CHECK(cudaMemset(d_wb, 0, static_cast<size_t>(stride) * sizeof(float)));

  const size_t grad_smem = static_cast<size_t>(stride + kChunk) * sizeof(float);
  const size_t eval_smem = grad_smem + static_cast<size_t>(kChunk) * sizeof(int);
  if (eval_smem > 48 * 1024) {
    std::fprintf(stderr, "gpu-train: %d features need %zu bytes of shared memory (> 48 KiB)\n", d,
                 eval_smem);
    std::exit(1);
  }

  for (int epoch = 0; epoch < cfg.epochs; ++epoch) {
    grad_partial_kernel<<<nchunks, kChunk, grad_smem>>>(d_x, d_y, d_wb, n, d, d_partial);
    GT_CUDA_CHECK_LAUNCH();
    update_kernel<<<1, 64>>>(d_partial, nchunks, d, nf, cfg.lr, d_wb);
    GT_CUDA_CHECK_LAUNCH();
  }
  eval_kernel<<<nchunks, kChunk, eval_smem>>>(d_x, d_y, d_wb, n, d, d_loss, d_correct);
  GT_CUDA_CHECK_LAUNCH();
  GT_CUDA_CHECK(cudaDeviceSynchronize());

  std::vector<float> loss_partial(static_cast<size_t>(nchunks));
  std::vector<int> correct_partial(static_cast<size_t>(nchunks));
  TrainResult r;
  r.weights.resize(static_cast<size_t>(stride));
  GT_CUDA_CHECK(cudaMemcpy(loss_partial.data(), d_loss, loss_partial.size() * sizeof(float), cudaMemcpyDeviceToHost));
  GT_CUDA_CHECK(cudaMemcpy(correct_partial.data(), d_correct, correct_partial.size() * sizeof(int), cudaMemcpyDeviceToHost));
  GT_CUDA_CHECK(cudaMemcpy(r.weights.data(), d_wb, r.weights.size() * sizeof(float), cudaMemcpyDeviceToHost));

  GT_CUDA_CHECK(cudaFree(d_correct));
  GT_CUDA_CHECK(cudaFree(d_loss));
  GT_CUDA_CHECK(cudaFree(d_partial));
  GT_CUDA_CHECK(cudaFree(d_wb));
  GT_CUDA_CHECK(cudaFree(d_y));
  GT_CUDA_CHECK(cudaFree(d_x));

  // Final cross-chunk sums on the host, chunk order, exactly as train_cpu.
  float loss_sum = 0.0f;
  long long correct = 0;
  for (int c = 0; c < nchunks; ++c) {
    loss_sum += loss_partial[static_cast<size_t>(c)];
    correct += correct_partial[static_cast<size_t>(c)];
  }
  r.loss = loss_sum / nf;
  r.accuracy = static_cast<float>(static_cast<double>(correct) / static_cast<double>(n));
  return r;
}

}  // namespace gputrain
