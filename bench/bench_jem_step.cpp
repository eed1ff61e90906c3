// One JEM training step (arXiv:1912.03263; `JEM:train_wrn_ebm.py`): 20 SGLD steps
// (a = 1, b = 0.01) from a 10000-chain replay buffer, then the hybrid loss (cross-entropy +
// log p(x) term) and an Adam update, batch 64 — timed through the library's real path
// (joule::train::Trainer::step with joule::Jem). bench/jem_step_peer.py is the same step in
// Python PyTorch; bench/run_jem_step.sh runs both and prints the ratio.
//
// Usage: bench_jem_step [--net cnn16|cnn32|wrn16_4|wrn28_10|mlp] [--threads N] [--reps R]
//                       [--warmup W] [--batch B] [--sgld K] [--device cpu|cuda]
// Prints one JSON object per line: per-step median/min seconds and the SGLD share.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "joule/core/runtime.h"
#include "joule/models/classifiers.h"
#include "joule/objectives/jem.h"
#include "joule/samplers/langevin.h"
#include "joule/train/trainer.h"

namespace {

using joule::bench::Clock;
using joule::bench::since;

using joule::bench::median;

}  // namespace

int main(int argc, char** argv) {
  std::string net_name = "cnn16", device_name = "cpu";
  int threads = 1, reps = 10, warmup = 2;
  int64_t batch = 64, sgld = 20;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--net") net_name = argv[i + 1];
    else if (a == "--threads") threads = std::atoi(argv[i + 1]);
    else if (a == "--reps") reps = std::atoi(argv[i + 1]);
    else if (a == "--warmup") warmup = std::atoi(argv[i + 1]);
    else if (a == "--batch") batch = std::atoll(argv[i + 1]);
    else if (a == "--sgld") sgld = std::atoll(argv[i + 1]);
    else if (a == "--device") device_name = argv[i + 1];
    else {
      std::fprintf(stderr, "unknown argument %s\n", argv[i]);
      return 2;
    }
  }
  joule::keep_freed_memory();
  joule::set_num_threads(threads);
  const torch::Device device = joule::resolve_device(device_name);
  auto gen = joule::make_generator(0);

  std::vector<int64_t> shape;
  torch::nn::AnyModule net;
  if (net_name == "cnn16" || net_name == "cnn32") {
    shape = {1, 28, 28};
    auto cnn = joule::SmallCnn(joule::SmallCnnOptions(1, 10).channels(net_name == "cnn16" ? 16 : 32));
    cnn->reset_parameters(gen);
    net = torch::nn::AnyModule(cnn);
  } else if (net_name == "wrn16_4" || net_name == "wrn28_10") {
    shape = {3, 32, 32};
    const bool big = net_name == "wrn28_10";
    auto wrn = joule::WideResNet(joule::WideResNetOptions(3, 10).depth(big ? 28 : 16).widen(big ? 10 : 4));
    wrn->reset_parameters(gen);
    net = torch::nn::AnyModule(wrn);
  } else if (net_name == "mlp") {
    // A tabular configuration: 50 standardised features, two hidden layers of 256 (per-op
    // overhead matters more here than in the convolutional nets).
    shape = {50};
    auto mlp = joule::MlpClassifier(joule::MlpClassifierOptions(50, 10).hidden({256, 256}));
    mlp->reset_parameters(gen);
    net = torch::nn::AnyModule(mlp);
  } else {
    std::fprintf(stderr, "unknown --net %s (cnn16, cnn32, wrn16_4, wrn28_10, mlp)\n", net_name.c_str());
    return 2;
  }
  auto model = std::make_shared<joule::ClassifierEnergyImpl>(net, shape, 10);
  model->to(device);

  // Synthetic data of the right shape: timing does not depend on the pixel values.
  std::vector<int64_t> data_shape{1024};
  data_shape.insert(data_shape.end(), shape.begin(), shape.end());
  auto x = torch::empty(data_shape).uniform_(-1.0, 1.0, gen).to(device);
  auto y = torch::randint(10, {1024}, gen, torch::kLong).to(device);
  auto sampler = std::make_shared<joule::Langevin>(joule::LangevinOptions::jem().steps(sgld));
  auto buffer = std::make_shared<joule::ReplayBuffer>(joule::ReplayBufferOptions(10000), shape, device);
  auto jem = std::make_shared<joule::Jem>(joule::JemOptions(10), sampler, buffer);
  joule::train::Trainer trainer(model, jem, std::make_shared<joule::data::TensorDataset>(x, y),
                                joule::train::TrainerOptions().steps(warmup + reps).batch_size(batch),
                                joule::train::OptimizerOptions().lr(1e-4).beta1(0.9));

  std::vector<double> step_s, sgld_s;
  for (int i = 0; i < warmup + reps; ++i) {
    const auto t0 = Clock::now();
    trainer.step();
    if (device.is_cuda()) torch::empty({1}, torch::TensorOptions().device(device)).cpu();  // wait for the queue
    const double dt = since(t0);
    if (i >= warmup) step_s.push_back(dt);
  }
  // The sampler alone (SGLD on a buffer-sized batch), to show where the time goes.
  for (int i = 0; i < std::max(1, reps / 2); ++i) {
    auto x0 = buffer->sample(batch, gen).x;
    const auto t0 = Clock::now();
    sampler->sample(*model, x0, gen);
    if (device.is_cuda()) torch::empty({1}, torch::TensorOptions().device(device)).cpu();
    sgld_s.push_back(since(t0));
  }
  std::printf(
      "{\"impl\": \"joule\", \"net\": \"%s\", \"threads\": %d, \"batch\": %lld, \"sgld_steps\": %lld, \"device\": \"%s\", "
      "\"reps\": %d, \"step_s_median\": %.5f, \"step_s_min\": %.5f, \"sgld_s_median\": %.5f}\n",
      net_name.c_str(), threads, static_cast<long long>(batch), static_cast<long long>(sgld), device_name.c_str(), reps,
      median(step_s), *std::min_element(step_s.begin(), step_s.end()), median(sgld_s));
  return 0;
}
