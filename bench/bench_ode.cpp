// dopri5 overhead: seconds per solver step with (a) a vector field that costs almost nothing
// (y' = −y), so the time is the solver's own bookkeeping (stages, error norm, step control,
// dense output), and (b) the small tanh field of tests/unit/test_ode.cpp on a batch, as one
// FFJORD-sized solve. Prints JSON lines; bench/run_ode.sh compares them with torchdiffeq.
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>

#include "bench/bench_util.h"
#include "joule/core/runtime.h"
#include "joule/ode/solvers.h"

namespace ode = joule::ode;

int main(int argc, char** argv) {
  int threads = 1;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], "--threads") == 0) threads = std::atoi(argv[i + 1]);
  joule::set_num_threads(threads);
  torch::NoGradGuard no_grad;
  for (int64_t batch : {1, 1000}) {
    // (a) The solver alone: y' = −y, tolerance 1e-8 for enough steps to time.
    auto decay = [](double, const ode::State& y) { return ode::State{-y[0]}; };
    const ode::State y0{torch::ones({batch, 2})};
    ode::SolverStats st;
    auto opts = ode::SolverOptions().rtol(1e-8).atol(1e-8);
    const double s = joule::bench::seconds_per_call([&] { ode::odeint(decay, y0, {0.0, 10.0}, opts, &st); }, 1.0);
    std::printf("{\"impl\": \"joule\", \"case\": \"decay\", \"batch\": %ld, \"threads\": %d, \"steps\": %ld, \"nfe\": %ld, "
                "\"us_per_step\": %.3f}\n",
                static_cast<long>(batch), threads, static_cast<long>(st.accepted + st.rejected), static_cast<long>(st.nfe),
                1e6 * s / static_cast<double>(st.accepted + st.rejected));
    // (b) A 2-8-2 tanh field with time input (FFJORD's toy scale is 2-64-64-64-2; this keeps the
    // field cheap so the solver's share shows).
    auto w1 = torch::randn({8, 3}) * 0.8, b1 = torch::randn({8}) * 0.1, w2 = torch::randn({2, 8}) * 0.5;
    auto field = [&](double t, const ode::State& y) {
      auto tt = torch::full({y[0].size(0), 1}, t);
      return ode::State{torch::tanh(torch::cat({y[0], tt}, 1).matmul(w1.t()) + b1).matmul(w2.t())};
    };
    const ode::State z0{torch::randn({batch, 2})};
    auto opts2 = ode::SolverOptions().rtol(1e-5).atol(1e-5);
    const double s2 = joule::bench::seconds_per_call([&] { ode::odeint(field, z0, {0.0, 1.0}, opts2, &st); }, 1.0);
    std::printf("{\"impl\": \"joule\", \"case\": \"tanh\", \"batch\": %ld, \"threads\": %d, \"steps\": %ld, \"nfe\": %ld, "
                "\"us_per_step\": %.3f}\n",
                static_cast<long>(batch), threads, static_cast<long>(st.accepted + st.rejected), static_cast<long>(st.nfe),
                1e6 * s2 / static_cast<double>(st.accepted + st.rejected));
  }
  return 0;
}
