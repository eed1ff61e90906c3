// Langevin sampling throughput for MLP energies, against the sgemm ceiling of this machine.
//
// For each (width, batch) it runs K Langevin steps with MlpEnergy's analytic input gradient
// (the path samplers use) and with the generic autograd path, and reports score evaluations
// per second and GFLOP/s. The ceiling is LibTorch's own sgemm on the same matrix shapes,
// measured in the same process. Prints one JSON object per line (bench/run_langevin.sh makes
// the table). Usage: bench_langevin [--threads N] [--seconds S]
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "joule/core/gemm.h"
#include "joule/core/runtime.h"
#include "joule/models/mlp_energy.h"
#include "joule/samplers/langevin.h"

namespace {

using joule::bench::Clock;
using joule::bench::since;

// FLOPs of one energy + input-gradient evaluation: forward d→w→…→w→1, backward without the
// weight gradients (2·m·n·k per product).
double flops_per_eval(int64_t batch, int64_t dim, int64_t width, int64_t depth) {
  const double fwd = 2.0 * batch * (dim * width + (depth - 1) * width * width + width);
  const double bwd = 2.0 * batch * ((depth - 1) * width * width + width * dim);
  return fwd + bwd;
}


}  // namespace

int main(int argc, char** argv) {
  int threads = 1;
  double budget = 2.0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--seconds")) budget = std::atof(argv[i + 1]);
  }
  joule::keep_freed_memory();
  joule::set_num_threads(threads);
  const int64_t dim = 2, depth = 3, steps = 10;
  auto gen = joule::make_generator(0);
  for (int64_t width : {128, 512}) {
    for (int64_t batch : {256, 4096}) {
      auto model = joule::MlpEnergy(joule::MlpEnergyOptions(dim).width(width).depth(depth));
      model->reset_parameters(gen);
      joule::Langevin sampler(joule::LangevinOptions::ula(0.01, steps));
      auto x0 = torch::randn({batch, dim}, gen);
      const double flops = flops_per_eval(batch, dim, width, depth);
      // Analytic path (what Langevin uses for MlpEnergy).
      const double calls = 1.0 / joule::bench::seconds_per_call([&] { sampler.sample(*model, x0, gen); }, budget);
      // Autograd path: the same loop with torch::autograd::grad, as a Python user writes it.
      auto autograd_loop = [&] {
        auto x = x0.clone();
        for (int64_t k = 0; k < steps; ++k) {
          auto eg = joule::energy_and_grad_autograd(*model, x);
          x = x - 0.01 * eg.grad + std::sqrt(0.02) * torch::randn(x.sizes(), gen);
        }
      };
      const double calls_ag = 1.0 / joule::bench::seconds_per_call(autograd_loop, budget);
      // The ceiling: the dominant product of one evaluation ([batch, width] x [width, width])
      // as back-to-back sgemms, with the faster of LibTorch's BLAS and oneDNN.
      auto h = torch::randn({batch, width});
      auto w = torch::randn({width, width});
      auto out = torch::empty({batch, width});
      const double blas_rate = 1.0 / joule::bench::seconds_per_call([&] { at::mm_out(out, h, w); }, budget / 2);
      const double dnnl_rate = 1.0 / joule::bench::seconds_per_call([&] { joule::gemm(h, false, w, false, out); }, budget / 2);
      const double mm_gflops = 2.0 * batch * width * width * std::max(blas_rate, dnnl_rate) / 1e9;
      for (auto [impl, c] : {std::pair<const char*, double>{"joule", calls}, {"joule-autograd", calls_ag}}) {
        const double evals = c * steps;
        std::printf(
            "{\"impl\": \"%s\", \"width\": %ld, \"batch\": %ld, \"threads\": %d, \"score_evals_per_s\": %.1f, "
            "\"samples_steps_per_s\": %.1f, \"gflops\": %.2f, \"sgemm_gflops\": %.2f}\n",
            impl, long(width), long(batch), threads, evals, evals * batch, evals * flops / 1e9, mm_gflops);
      }
      std::fflush(stdout);
    }
  }
  // The machine's sgemm ceiling on a large square product, for reference.
  auto a = torch::randn({2048, 2048}), b = torch::randn({2048, 2048}), c = torch::empty({2048, 2048});
  const double big_blas = 1.0 / joule::bench::seconds_per_call([&] { at::mm_out(c, a, b); }, budget);
  const double big_dnnl = 1.0 / joule::bench::seconds_per_call([&] { joule::gemm(a, false, b, false, c); }, budget);
  const double f = 2.0 * 2048 * 2048 * 2048 / 1e9;
  std::printf("{\"impl\": \"sgemm-2048\", \"threads\": %d, \"gflops\": %.2f, \"blas_gflops\": %.2f, \"onednn_gflops\": %.2f}\n",
              threads, f * std::max(big_blas, big_dnnl), f * big_blas, f * big_dnnl);
  return 0;
}
