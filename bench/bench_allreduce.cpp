// The cost of reducing gradients across processes: Joule's GradientReducer (flattened 25 MiB
// buckets, one Gloo all-reduce each, the mean written back into .grad) on one rank of a job the
// environment describes (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT; bench/run_data_parallel.sh
// starts the ranks). Prints one JSON line per size from rank 0.
#include <torch/torch.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "joule/core/runtime.h"
#include "joule/distributed/communicator.h"

int main(int argc, char** argv) {
  joule::set_num_threads(1);
  auto comm = joule::distributed::connect(joule::distributed::DistributedOptions::from_environment());
  joule::distributed::GradientReducer reducer(comm);
  const std::vector<int64_t> sizes{100'000, 1'000'000, 10'000'000, 36'500'000};  // the last: WRN-28-10
  for (int64_t n : sizes) {
    // Parameters of 1 M floats each (a network's layers), so the bucketing is exercised.
    std::vector<torch::Tensor> params;
    for (int64_t left = n; left > 0; left -= 1'000'000) {
      auto p = torch::zeros({std::min<int64_t>(left, 1'000'000)}).requires_grad_();
      p.mutable_grad() = torch::randn_like(p);
      params.push_back(p);
    }
    std::vector<double> extra{0.0, 1.0};
    const double budget = n >= 10'000'000 ? 3.0 : 1.0;
    comm->barrier();
    // Every rank makes the same number of calls: the count is fixed from a short timing on rank 0.
    auto count = torch::zeros({1}, torch::kLong);
    if (comm->is_main()) {
      const auto t0 = joule::bench::Clock::now();
      reducer.reduce(params, extra);
      count[0] = std::max<int64_t>(3, static_cast<int64_t>(budget / std::max(1e-6, joule::bench::since(t0))));
    } else {
      reducer.reduce(params, extra);
    }
    std::vector<torch::Tensor> c{count};
    comm->broadcast(c, 0);
    const int64_t reps = c[0].item<int64_t>();
    std::vector<double> times;
    for (int64_t r = 0; r < reps; ++r) {
      const auto t0 = joule::bench::Clock::now();
      reducer.reduce(params, extra);
      times.push_back(joule::bench::since(t0));
    }
    if (comm->is_main()) {
      const double s = joule::bench::median(times);
      std::printf("{\"impl\": \"joule\", \"world\": %lld, \"floats\": %lld, \"ms\": %.3f, \"gb_per_s\": %.3f}\n",
                  static_cast<long long>(comm->world_size()), static_cast<long long>(n), 1e3 * s, 4.0 * n / s / 1e9);
      std::fflush(stdout);
    }
  }
  return 0;
}
