// The two layer paths behind joule::conv2d / joule::linear (core/layers.h) against LibTorch's
// at::conv2d / at::linear, timed the way a sampler uses them: forward plus the gradient with
// respect to the input only (the parameters do not require gradients), batch 64.
//
// Usage: bench_layers [--threads N] [--openblas-threads M] [--budget SECONDS]
//   --openblas-threads overrides the one OpenBLAS thread that joule::set_num_threads sets, to
//   show LibTorch's default (OpenBLAS on every core) side by side.
// Prints one JSON object per line; bench/run_layers.sh turns them into the table of
// docs/benchmarks.md.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "bench/bench_util.h"
#include "joule/core/layers.h"
#include "joule/core/runtime.h"

#include <torch/autograd.h>

namespace {

using joule::bench::seconds_per_call;

// Forward + input gradient of one layer, after an OpenMP-parallel element-wise op on a
// feature map as in a network (the op LibTorch's workers spin after); the op's own time is
// reported separately (elementwise_op_ms) and included in both columns.
template <class Layer>
double pass_ms(Layer layer, const torch::Tensor& x, const torch::Tensor& before, double budget) {
  return 1e3 * seconds_per_call(
                   [&] {
                     auto warm = at::leaky_relu(before, 0.2);
                     auto xg = x.detach().requires_grad_(true);
                     auto y = layer(xg);
                     torch::autograd::grad({y.sum()}, {xg});
                   },
                   budget);
}

double op_ms(const torch::Tensor& before, double budget) {
  return 1e3 * seconds_per_call([&] { auto warm = at::leaky_relu(before, 0.2); }, budget);
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 1, openblas_threads = -1;
  double budget = 0.5;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--threads") threads = std::atoi(argv[i + 1]);
    else if (a == "--openblas-threads") openblas_threads = std::atoi(argv[i + 1]);
    else if (a == "--budget") budget = std::atof(argv[i + 1]);
    else {
      std::fprintf(stderr, "unknown argument %s\n", argv[i]);
      return 2;
    }
  }
  joule::keep_freed_memory();
  joule::set_num_threads(threads);
  if (openblas_threads > 0) joule::set_blas_num_threads(openblas_threads);
  const int blas_threads = joule::blas_num_threads();
  auto gen = joule::make_generator(0);
  const auto before = torch::randn({64, 16, 28, 28}, gen);
  const double op = op_ms(before, budget);

  struct Conv {
    const char* name;
    int64_t cin, cout, k, stride, hw;
  };
  for (const Conv& c : {Conv{"cnn16 conv1", 1, 16, 3, 1, 28}, Conv{"cnn32 conv1", 1, 32, 3, 1, 28},
                        Conv{"wrn stem", 3, 16, 3, 1, 32}, Conv{"cnn16 conv2", 16, 32, 4, 2, 28}}) {
    auto x = torch::rand({64, c.cin, c.hw, c.hw}, gen);
    auto w = torch::randn({c.cout, c.cin, c.k, c.k}, gen), b = torch::randn({c.cout}, gen);
    const int64_t pad = (c.k - 1) / 2;
    const double torch_ms = pass_ms([&](const torch::Tensor& xg) { return at::conv2d(xg, w, b, c.stride, pad); }, x,
                                    before, budget);
    const double joule_ms =
        pass_ms([&](const torch::Tensor& xg) { return joule::conv2d(xg, w, b, c.stride, pad); }, x, before, budget);
    std::printf(
        "{\"layer\": \"conv %lld->%lld k%lld s%lld %lldx%lld (%s)\", \"threads\": %d, \"openblas_threads\": %d, "
        "\"torch_ms\": %.4f, \"joule_ms\": %.4f, \"elementwise_op_ms\": %.4f}\n",
        (long long)c.cin, (long long)c.cout, (long long)c.k, (long long)c.stride, (long long)c.hw, (long long)c.hw,
        c.name, threads, blas_threads, torch_ms, joule_ms, op);
  }
  struct Lin {
    const char* name;
    int64_t rows, in, out;
  };
  for (const Lin& l : {Lin{"cnn16 head", 64, 3136, 10}, Lin{"mlp hidden", 64, 256, 256}, Lin{"rbm-sized", 256, 784, 512}}) {
    auto x = torch::randn({l.rows, l.in}, gen);
    auto w = torch::randn({l.out, l.in}, gen), b = torch::randn({l.out}, gen);
    const double torch_ms = pass_ms([&](const torch::Tensor& xg) { return at::linear(xg, w, b); }, x, before, budget);
    const double joule_ms =
        pass_ms([&](const torch::Tensor& xg) { return joule::linear(xg, w, b); }, x, before, budget);
    std::printf(
        "{\"layer\": \"linear %lldx%lld->%lld (%s)\", \"threads\": %d, \"openblas_threads\": %d, \"torch_ms\": %.4f, "
        "\"joule_ms\": %.4f, \"elementwise_op_ms\": %.4f}\n",
        (long long)l.rows, (long long)l.in, (long long)l.out, l.name, threads, blas_threads, torch_ms, joule_ms, op);
  }
  return 0;
}
