// CPU path of gpu-train: deterministic data generation and the reference
// full-batch gradient-descent loop (float32, fixed summation order; see logreg.h).
#include "logreg.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <utility>
#include <vector>

namespace gputrain {
namespace {

constexpr double kTwoPi = 6.283185307179586476925286766559;

// Box-Muller on splitmix64 output; caches the second normal of each pair.
class NormalGen {
 public:
  explicit NormalGen(std::uint64_t seed) : state_(seed) {}

  std::uint64_t bits() { return splitmix64(state_); }

  float next() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    // u1 in (0, 1], u2 in [0, 1), both with 53 random bits.
    const double u1 = static_cast<double>((bits() >> 11) + 1) * 0x1.0p-53;
    const double u2 = static_cast<double>(bits() >> 11) * 0x1.0p-53;
    const double r = std::sqrt(-2.0 * std::log(u1));
    const double t = kTwoPi * u2;
    spare_ = static_cast<float>(r * std::sin(t));
    has_spare_ = true;
    return static_cast<float>(r * std::cos(t));
  }

 private:
  std::uint64_t state_;
  float spare_ = 0.0f;
  bool has_spare_ = false;
};

inline float sigmoidf(float z) { return 1.0f / (1.0f + std::exp(-z)); }

// Numerically stable binary cross-entropy of logit z against label y.
inline float bce(float z, float y) {
  return std::max(z, 0.0f) - z * y + std::log1p(std::exp(-std::fabs(z)));
}

inline float logit(const float* xi, const float* wb, int d) {
  float z = wb[d];
  for (int j = 0; j < d; ++j) z += wb[j] * xi[j];
  return z;
}

}  // namespace

Dataset make_dataset(int n, int d, std::uint64_t seed) {
  if (n <= 0 || d <= 0) throw std::invalid_argument("make_dataset: n and d must be positive");
  Dataset data;
  data.n = n;
  data.d = d;
  data.x.resize(static_cast<std::size_t>(n) * static_cast<std::size_t>(d));
  data.y.resize(static_cast<std::size_t>(n));

  NormalGen gen(seed);
  std::vector<float> mu(static_cast<std::size_t>(d));
  for (auto& m : mu) m = 0.3f * gen.next();
  for (int i = 0; i < n; ++i) {
    const bool positive = (gen.bits() >> 63) != 0;
    const float sign = positive ? 1.0f : -1.0f;
    data.y[static_cast<std::size_t>(i)] = positive ? 1.0f : 0.0f;
    float* xi = data.x.data() + static_cast<std::size_t>(i) * static_cast<std::size_t>(d);
    for (int j = 0; j < d; ++j) xi[j] = gen.next() + sign * mu[static_cast<std::size_t>(j)];
  }
  return data;
}

TrainResult train_cpu(const Dataset& data, const TrainConfig& cfg) {
  const int n = data.n;
  const int d = data.d;
  const int nchunks = (n + kChunk - 1) / kChunk;
  const float nf = static_cast<float>(n);
  const std::size_t stride = static_cast<std::size_t>(d) + 1;

  std::vector<float> wb(stride, 0.0f);               // weights + bias
  std::vector<float> partial(static_cast<std::size_t>(nchunks) * stride);
  std::vector<float> g(static_cast<std::size_t>(kChunk));

  for (int epoch = 0; epoch < cfg.epochs; ++epoch) {
    for (int c = 0; c < nchunks; ++c) {
      const int base = c * kChunk;
      const int rows = std::min(kChunk, n - base);
      for (int k = 0; k < rows; ++k) {
        const std::size_t i = static_cast<std::size_t>(base + k);
        g[static_cast<std::size_t>(k)] =
            sigmoidf(logit(data.x.data() + i * static_cast<std::size_t>(d), wb.data(), d)) -
            data.y[i];
      }
      float* p = partial.data() + static_cast<std::size_t>(c) * stride;
      std::fill(p, p + stride, 0.0f);
      for (int k = 0; k < rows; ++k) {
        const float gk = g[static_cast<std::size_t>(k)];
        const float* xi = data.x.data() + static_cast<std::size_t>(base + k) * static_cast<std::size_t>(d);
        for (int j = 0; j < d; ++j) p[j] += gk * xi[j];
        p[d] += gk;
      }
    }
    for (std::size_t j = 0; j < stride; ++j) {
      float acc = 0.0f;
      for (int c = 0; c < nchunks; ++c) acc += partial[static_cast<std::size_t>(c) * stride + j];
      const float grad = acc / nf;
      wb[j] -= cfg.lr * grad;
    }
  }

  // Evaluation pass: per-chunk sequential sums, then chunks in order.
  float loss_sum = 0.0f;
  long long correct = 0;
  for (int c = 0; c < nchunks; ++c) {
    const int base = c * kChunk;
    const int rows = std::min(kChunk, n - base);
    float chunk_loss = 0.0f;
    int chunk_correct = 0;
    for (int k = 0; k < rows; ++k) {
      const std::size_t i = static_cast<std::size_t>(base + k);
      const float z = logit(data.x.data() + i * static_cast<std::size_t>(d), wb.data(), d);
      const float y = data.y[i];
      chunk_loss += bce(z, y);
      chunk_correct += ((z > 0.0f) == (y > 0.5f)) ? 1 : 0;
    }
    loss_sum += chunk_loss;
    correct += chunk_correct;
  }

  TrainResult r;
  r.loss = loss_sum / nf;
  r.accuracy = static_cast<float>(static_cast<double>(correct) / static_cast<double>(n));
  r.weights = std::move(wb);
  return r;
}

}  // namespace gputrain
