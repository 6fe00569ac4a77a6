// gpu-train: logistic regression by full-batch gradient descent on synthetic
// data, on the GPU (CUDA build + device present) or the CPU.
//
//   gpu-train [--device auto|cpu|gpu] [--epochs N] [--lr X] [--out DIR] [--check]
//
// Exit status: 0 success, 1 runtime failure (GPU requested but unavailable,
// CUDA error, --check mismatch, I/O error), 2 bad command line.
#include "logreg.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>

namespace {

using gputrain::TrainConfig;
using gputrain::TrainResult;

// --check passes only when both paths agree:
//   |loss_gpu - loss_cpu|            <= kLossTolerance   (absolute)
//   max_j |w_gpu[j] - w_cpu[j]| (+b) <= kWeightTolerance (absolute)
// Both paths use the same data, hyper-parameters and float32 summation order
// and avoid FMA contraction; they differ only in the rounding of expf/log1pf
// (CUDA: <= 2 ulp). Emulating a systematic 2-ulp bias in those functions on the
// CPU moves the default run's loss by 2.2e-8 and the weights by 1.7e-7, so
// the tolerances leave a >= 450x margin. They are still tight enough to catch
// real divergence: one epoch more or less moves the loss by 9.6e-6 and the
// weights by 7.7e-4; lr 0.499 instead of 0.5 moves the weights by 3.1e-4.
constexpr double kLossTolerance = 1e-5;
constexpr double kWeightTolerance = 1e-4;

constexpr int kUsageError = 2;

enum class Device { kAuto, kCpu, kGpu };

struct Options {
  Device device = Device::kAuto;
  TrainConfig cfg;
  std::optional<std::filesystem::path> out_dir;
  bool check = false;
};

struct Run {
  std::string device;
  TrainResult result;
  double seconds = 0.0;
};

void print_usage(std::FILE* f) {
  std::fprintf(f,
               "usage: gpu-train [--device auto|cpu|gpu] [--epochs N] [--lr X] [--out DIR] "
               "[--check]\n"
               "  --device   auto (default): GPU if built with CUDA and a device exists, else CPU\n"
               "  --epochs   full-batch gradient-descent epochs (default %d)\n"
               "  --lr       learning rate (default %g)\n"
               "  --out      write DIR/result.json\n"
               "  --check    run both CPU and GPU paths; exit 0 only if |loss diff| <= %g\n"
               "             and max |weight diff| <= %g\n",
               gputrain::kDefaultEpochs, static_cast<double>(gputrain::kDefaultLr),
               kLossTolerance, kWeightTolerance);
}

[[noreturn]] void usage_error(const std::string& msg) {
  std::fprintf(stderr, "gpu-train: %s\n", msg.c_str());
  print_usage(stderr);
  std::exit(kUsageError);
}

Options parse_args(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto value = [&](std::string_view name) -> std::string {
      if (i + 1 >= argc) usage_error(std::string(name) + " needs a value");
      return argv[++i];
    };
    if (arg == "--help" || arg == "-h") {
      print_usage(stdout);
      std::exit(0);
    } else if (arg == "--device") {
      const std::string v = value(arg);
      if (v == "auto") o.device = Device::kAuto;
      else if (v == "cpu") o.device = Device::kCpu;
      else if (v == "gpu") o.device = Device::kGpu;
      else usage_error("--device must be auto, cpu or gpu, got '" + v + "'");
    } else if (arg == "--epochs") {
      const std::string v = value(arg);
      char* end = nullptr;
      const long e = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || e < 0 || e > 1000000)
        usage_error("--epochs must be an integer in [0, 1000000], got '" + v + "'");
      o.cfg.epochs = static_cast<int>(e);
    } else if (arg == "--lr") {
      const std::string v = value(arg);
      char* end = nullptr;
      const double lr = std::strtod(v.c_str(), &end);
      if (v.empty() || *end != '\0' || !std::isfinite(lr) || lr <= 0.0)
        usage_error("--lr must be a positive finite number, got '" + v + "'");
      o.cfg.lr = static_cast<float>(lr);
    } else if (arg == "--out") {
      const std::string v = value(arg);
      if (v.empty()) usage_error("--out needs a non-empty directory");
      o.out_dir = v;
    } else if (arg == "--check") {
      o.check = true;
    } else {
      usage_error("unknown argument '" + std::string(arg) + "'");
    }
  }
  return o;
}

// Returns an empty string when the GPU is usable, else the reason it is not.
std::string gpu_unavailable_reason() {
#ifdef PORTFLOW_HAVE_CUDA
  if (gputrain::cuda_device_count() <= 0) return "no CUDA device is available";
  return {};
#else
  return "this binary was built without CUDA support (PORTFLOW_HAVE_CUDA not defined)";
#endif
}

template <typename F>
Run timed(std::string device, F&& train) {
  Run run;
  run.device = std::move(device);
  const auto t0 = std::chrono::steady_clock::now();
  run.result = train();
  const auto t1 = std::chrono::steady_clock::now();
  run.seconds = std::chrono::duration<double>(t1 - t0).count();
  return run;
}

Run run_cpu(const gputrain::Dataset& data, const TrainConfig& cfg) {
  return timed("cpu", [&] { return gputrain::train_cpu(data, cfg); });
}

#ifdef PORTFLOW_HAVE_CUDA
Run run_gpu(const gputrain::Dataset& data, const TrainConfig& cfg) {
  std::string name = gputrain::cuda_init_device();
  return timed(std::move(name), [&] { return gputrain::train_gpu(data, cfg); });
}
#endif

void print_run(const Run& r, int epochs) {
  std::printf("device=%s epochs=%d loss=%.6f accuracy=%.4f seconds=%.3f\n", r.device.c_str(),
              epochs, static_cast<double>(r.result.loss), static_cast<double>(r.result.accuracy),
              r.seconds);
}

std::string json_escape(const std::string& s) {
  std::string o;
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"') o += "\\\"";
    else if (c == '\\') o += "\\\\";
    else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
      o += buf;
    } else o += ch;
  }
  return o;
}

std::string run_json_fields(const Run& r, const Options& o) {
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "  \"device\": \"%s\",\n  \"epochs\": %d,\n  \"lr\": %g,\n  \"samples\": %d,\n"
                "  \"features\": %d,\n  \"loss\": %.9f,\n  \"accuracy\": %.4f,\n  \"seconds\": %.3f",
                json_escape(r.device).c_str(), o.cfg.epochs, static_cast<double>(o.cfg.lr),
                gputrain::kDefaultSamples, gputrain::kDefaultFeatures,
                static_cast<double>(r.result.loss), static_cast<double>(r.result.accuracy),
                r.seconds);
  return buf;
}

void write_json(const Options& o, const std::string& body) {
  if (!o.out_dir) return;
  std::error_code ec;
  std::filesystem::create_directories(*o.out_dir, ec);
  if (ec) {
    std::fprintf(stderr, "gpu-train: cannot create %s: %s\n", o.out_dir->string().c_str(),
                 ec.message().c_str());
    std::exit(1);
  }
  const auto path = *o.out_dir / "result.json";
  std::ofstream f(path);
  f << "{\n" << body << "\n}\n";
  f.close();
  if (!f) {
    std::fprintf(stderr, "gpu-train: cannot write %s\n", path.string().c_str());
    std::exit(1);
  }
}

int run_check(const Options& o) {
  const std::string reason = gpu_unavailable_reason();
  if (!reason.empty()) {
    std::fprintf(stderr, "gpu-train: --check needs a GPU: %s\n", reason.c_str());
    return 1;
  }
#ifdef PORTFLOW_HAVE_CUDA
  const gputrain::Dataset data = gputrain::make_dataset();
  const Run gpu = run_gpu(data, o.cfg);
  print_run(gpu, o.cfg.epochs);
  const Run cpu = run_cpu(data, o.cfg);
  print_run(cpu, o.cfg.epochs);
  const double diff =
      std::fabs(static_cast<double>(gpu.result.loss) - static_cast<double>(cpu.result.loss));
  double max_w = 0.0;
  for (std::size_t j = 0; j < cpu.result.weights.size(); ++j)
    max_w = std::fmax(max_w, std::fabs(static_cast<double>(gpu.result.weights[j]) -
                                       static_cast<double>(cpu.result.weights[j])));
  const bool loss_ok = diff <= kLossTolerance;
  const bool weights_ok = max_w <= kWeightTolerance;
  const bool pass = loss_ok && weights_ok;
  std::printf("check: loss_gpu=%.9f loss_cpu=%.9f diff=%.3e tolerance=%.1e %s\n",
              static_cast<double>(gpu.result.loss), static_cast<double>(cpu.result.loss), diff,
              kLossTolerance, loss_ok ? "ok" : "MISMATCH");
  std::printf("check: max_weight_diff=%.3e tolerance=%.1e %s\n", max_w, kWeightTolerance,
              weights_ok ? "ok" : "MISMATCH");
  std::printf("check: accuracy_gpu=%.4f accuracy_cpu=%.4f -> %s\n",
              static_cast<double>(gpu.result.accuracy), static_cast<double>(cpu.result.accuracy),
              pass ? "PASS" : "FAIL");
  char extra[512];
  std::snprintf(extra, sizeof extra,
                ",\n  \"check\": {\"loss_gpu\": %.9f, \"loss_cpu\": %.9f, \"loss_diff\": %.3e, "
                "\"loss_tolerance\": %.1e, \"max_weight_diff\": %.3e, \"weight_tolerance\": %.1e, "
                "\"cpu_accuracy\": %.4f, \"cpu_seconds\": %.3f, \"pass\": %s}",
                static_cast<double>(gpu.result.loss), static_cast<double>(cpu.result.loss), diff,
                kLossTolerance, max_w, kWeightTolerance,
                static_cast<double>(cpu.result.accuracy), cpu.seconds, pass ? "true" : "false");
  write_json(o, run_json_fields(gpu, o) + extra);
  return pass ? 0 : 1;
#else
  (void)o;
  return 1;
#endif
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse_args(argc, argv);
  if (o.check) return run_check(o);

  bool use_gpu = false;
  if (o.device == Device::kGpu) {
    const std::string reason = gpu_unavailable_reason();
    if (!reason.empty()) {
      std::fprintf(stderr, "gpu-train: --device gpu requested but %s\n", reason.c_str());
      return 1;
    }
    use_gpu = true;
  } else if (o.device == Device::kAuto) {
#ifdef PORTFLOW_HAVE_CUDA
    use_gpu = gputrain::cuda_device_count() > 0;
#endif
    if (!use_gpu) std::fprintf(stderr, "gpu-train: --device auto: using the CPU\n");
  }

  const gputrain::Dataset data = gputrain::make_dataset();
  Run run;
#ifdef PORTFLOW_HAVE_CUDA
  if (use_gpu) run = run_gpu(data, o.cfg);
  else run = run_cpu(data, o.cfg);
#else
  (void)use_gpu;
  run = run_cpu(data, o.cfg);
#endif
  print_run(run, o.cfg.epochs);
  write_json(o, run_json_fields(run, o));
  return 0;
}
