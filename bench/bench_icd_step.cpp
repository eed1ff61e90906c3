// One improved-contrastive-divergence training step (Du et al., arXiv:2012.01316;
// upstream github.com/yilundu/improved_contrastive_divergence train.py and utils.py) timed through the library's real path:
// joule::train::Trainer::step() with joule::ImprovedContrastiveDivergence on
// joule::PersistentChains. The step, batch 64 of 1×28×28 images in [0, 1]:
//   - chains: a FIFO replay buffer of 10000 states stored in 8 bits, reinit 0.001 to U(0, 1),
//     pre-filled with 10000 uniform states so the timed steps are the steady state;
//   - transition: the drawn chains are augmented first (random resized crop, scale (0.08, 1);
//     horizontal flip p = 0.5; colour jitter brightness 0.8, contrast 0.8 with p = 0.8);
//   - sampler: 20 Langevin steps x ← clamp(x − 10·∇E + 0.005·ε, 0, 1), the last one kept on the
//     graph for the KL term;
//   - objective: L_CD (α = 1) + E_θ̄(x_kl) − 0.3 · mean log d_NN(x_kl, 100 augmented stored states);
//   - update: Adam lr 2e-4, β = (0, 0.9), gradient norm clipped to 0.5.
// The network is joule::ConvEnergy (channels 16, 3 blocks, SiLU, no norm). The data are uniform
// random images: the cost of a step does not depend on the pixel values.
// bench/icd_step_peer.py is the same step in Python PyTorch; bench/run_icd_step.sh runs both.
//
// Usage: bench_icd_step [--threads N] [--reps R] [--warmup W] [--batch B] [--steps K]
//                       [--channels C] [--device cpu|cuda]
// Prints one JSON object: per-step median/min seconds, and the chains' share (draw, augment,
// 20 Langevin steps with the last on the graph, write-back) timed separately.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bench/bench_util.h"
#include "joule/core/runtime.h"
#include "joule/data/augment.h"
#include "joule/data/dataset.h"
#include "joule/models/conv_energy.h"
#include "joule/objectives/improved_cd.h"
#include "joule/samplers/chains.h"
#include "joule/samplers/langevin.h"
#include "joule/samplers/replay_buffer.h"
#include "joule/train/trainer.h"

namespace {

using joule::bench::Clock;
using joule::bench::median;
using joule::bench::since;

void sync(const torch::Device& device) {
  if (device.is_cuda()) torch::empty({1}, torch::TensorOptions().device(device)).cpu();  // wait for the queue
}

}  // namespace

int main(int argc, char** argv) {
  std::string device_name = "cpu";
  int threads = 1, reps = 10, warmup = 2;
  int64_t batch = 64, steps = 20, channels = 16;
  const int64_t capacity = 10000;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--threads") threads = std::atoi(argv[i + 1]);
    else if (a == "--reps") reps = std::atoi(argv[i + 1]);
    else if (a == "--warmup") warmup = std::atoi(argv[i + 1]);
    else if (a == "--batch") batch = std::atoll(argv[i + 1]);
    else if (a == "--steps") steps = std::atoll(argv[i + 1]);
    else if (a == "--channels") channels = std::atoll(argv[i + 1]);
    else if (a == "--device") device_name = argv[i + 1];
    else {
      std::fprintf(stderr, "unknown argument %s\n", argv[i]);
      return 2;
    }
  }
  if (reps < 1 || warmup < 0 || batch < 1 || steps < 1 || channels < 1) {
    std::fprintf(stderr, "need --reps >= 1, --warmup >= 0, --batch >= 1, --steps >= 1, --channels >= 1\n");
    return 2;
  }
  joule::keep_freed_memory();
  joule::set_num_threads(threads);
  const torch::Device device = joule::resolve_device(device_name);
  auto gen = joule::make_generator(0);
  const std::vector<int64_t> shape{1, 28, 28};

  auto model = joule::ConvEnergy(
      joule::ConvEnergyOptions(1).channels(channels).blocks(3).activation(joule::Activation::kSiLU).norm(joule::NormKind::kNone));
  model->reset_parameters(gen);
  model->to(device);

  auto x = torch::empty({1024, 1, 28, 28}).uniform_(0.0, 1.0, gen).to(device);
  auto sampler = std::make_shared<joule::Langevin>(
      joule::LangevinOptions(steps).step_size(10.0).noise(0.005).clamp(std::make_pair(0.0, 1.0)));
  auto buffer = std::make_shared<joule::ReplayBuffer>(joule::ReplayBufferOptions(capacity)
                                                          .policy(joule::BufferPolicy::kFifo)
                                                          .storage_bits(8)
                                                          .reinit_prob(0.001)
                                                          .init(joule::BufferInit::kUniform)
                                                          .init_low(0.0)
                                                          .init_high(1.0),
                                                      shape, device);
  auto chains = std::make_shared<joule::PersistentChains>(sampler, buffer);
  const auto aug = joule::data::AugmentOptions()
                       .crop_prob(1.0)
                       .crop_scale_min(0.08)
                       .crop_scale_max(1.0)
                       .flip_prob(0.5)
                       .jitter_prob(0.8)
                       .brightness(0.8)
                       .contrast(0.8);
  chains->set_transition(
      [aug](const torch::Tensor& s, at::Generator& g) { return joule::data::augment(s, aug, g); });
  // The steady state: a full buffer, so the draws, the write-back and the entropy's reference
  // set cost what they cost in a long run.
  chains->initialize(torch::empty({capacity, 1, 28, 28}).uniform_(0.0, 1.0, gen).to(device));

  auto icd = std::make_shared<joule::ImprovedContrastiveDivergence>(joule::ImprovedCdOptions()
                                                                        .l2_energy(1.0)
                                                                        .kl_weight(1.0)
                                                                        .kl_steps(1)
                                                                        .entropy_weight(0.3)
                                                                        .entropy_reference(100)
                                                                        .entropy_min_buffer(0),
                                                                    chains);
  joule::train::Trainer trainer(model.ptr(), icd, std::make_shared<joule::data::TensorDataset>(x),
                                joule::train::TrainerOptions().steps(warmup + reps).batch_size(batch),
                                joule::train::OptimizerOptions().lr(2e-4).beta1(0.0).beta2(0.9).grad_clip_norm(0.5));

  std::vector<double> step_s, chain_s;
  bool entropy_paid = true;
  for (int i = 0; i < warmup + reps; ++i) {
    const auto t0 = Clock::now();
    const auto result = trainer.step();
    sync(device);
    const double dt = since(t0);
    if (i >= warmup) {
      step_s.push_back(dt);
      // The objective reports nn_log_dist only when it computed the entropy term.
      entropy_paid = entropy_paid && std::any_of(result.metrics.begin(), result.metrics.end(),
                                                 [](const auto& m) { return m.first == "nn_log_dist"; });
    }
  }
  // The chains alone (what the step spends before the loss): draw, augment, K Langevin steps
  // with the last on the graph, write-back.
  const auto run = joule::ChainRunOptions().keep_graph_last(1);
  for (int i = 0; i < std::max(1, reps / 2); ++i) {
    const auto t0 = Clock::now();
    auto s = chains->advance(*model, batch, gen, run);
    sync(device);
    chain_s.push_back(since(t0));
  }
  std::printf(
      "{\"impl\": \"joule\", \"net\": \"conv_energy%lld\", \"threads\": %d, \"batch\": %lld, \"langevin_steps\": %lld, "
      "\"device\": \"%s\", \"aug\": \"joule\", \"buffer_size\": %lld, \"entropy_paid\": %s, \"reps\": %d, "
      "\"step_s_median\": %.5f, \"step_s_min\": %.5f, \"sampler_s_median\": %.5f}\n",
      static_cast<long long>(channels), threads, static_cast<long long>(batch), static_cast<long long>(steps),
      device_name.c_str(), static_cast<long long>(buffer->size()), entropy_paid ? "true" : "false", reps, median(step_s),
      *std::min_element(step_s.begin(), step_s.end()), median(chain_s));
  return 0;
}
