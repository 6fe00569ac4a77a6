// gpu-train: tiny logistic-regression trainer with a CPU path and an optional
// CUDA path that run the *same* algorithm with the *same* summation order.
//
// Algorithm (both paths):
//   full-batch gradient descent on mean binary cross-entropy, float32 math.
//   Per epoch:
//     z_i  = b + sum_j w_j * x_ij                (j ascending)
//     g_i  = sigmoid(z_i) - y_i
//     the samples are split into chunks of kChunk rows (one CUDA block each);
//     per chunk c: P[c][j] = sum_{i in c} g_i * x_ij, P[c][d] = sum_{i in c} g_i
//     (i ascending inside the chunk), then G[j] = sum_c P[c][j] (c ascending),
//     w_j -= lr * (G[j] / n), b -= lr * (G[d] / n).
//   After the last epoch one evaluation pass computes the mean loss and accuracy
//   with the same chunked summation order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace gputrain {

// Rows per reduction chunk == CUDA block size. Shared by both paths so that the
// floating-point summation order is identical.
inline constexpr int kChunk = 256;

inline constexpr int kDefaultSamples = 65536;
inline constexpr int kDefaultFeatures = 32;
inline constexpr std::uint64_t kDefaultSeed = 0x5EED0F1077ULL;
inline constexpr int kDefaultEpochs = 200;
inline constexpr float kDefaultLr = 0.5f;

struct Dataset {
  int n = 0;               // samples
  int d = 0;               // features
  std::vector<float> x;    // row-major, n * d
  std::vector<float> y;    // labels, 0.0f or 1.0f
};

struct TrainConfig {
  int epochs = kDefaultEpochs;
  float lr = kDefaultLr;
};

struct TrainResult {
  float loss = 0.0f;             // mean binary cross-entropy after training
  float accuracy = 0.0f;         // fraction of samples with (z > 0) == y
  std::vector<float> weights;    // d weights followed by the bias (d + 1)
};

// splitmix64 step: portable, the same sequence on every platform.
inline std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// Two Gaussian classes: y ~ Bernoulli(1/2), x = N(0, I) + (2y - 1) * mu, where
// mu_j = 0.3 * N(0, 1) is drawn first from the same stream. Normals come from
// splitmix64 + Box-Muller (in double, rounded to float).
Dataset make_dataset(int n = kDefaultSamples, int d = kDefaultFeatures,
                     std::uint64_t seed = kDefaultSeed);

// CPU reference path.
TrainResult train_cpu(const Dataset& data, const TrainConfig& cfg);

#ifdef PORTFLOW_HAVE_CUDA
// Number of usable CUDA devices; 0 when there is no device or no driver (the
// reason is printed to stderr so `--device gpu` can explain the failure).
int cuda_device_count();
// Selects device 0, creates its context, and returns its name. Exits 1 on any
// CUDA error.
std::string cuda_init_device();
// GPU path: same algorithm, hyper-parameters and summation order as train_cpu.
// Exits 1 (after printing the error) on any CUDA error.
TrainResult train_gpu(const Dataset& data, const TrainConfig& cfg);
#endif

}  // namespace gputrain
