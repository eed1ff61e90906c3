// One training step of the video VAE (joule::VideoVae, the video_vae method's model) through the
// library's trainer, against the same model and step in Python PyTorch (bench/video_vae_peer.py).
//
//   bench_video_vae [--threads N] [--reps R] [--warmup W] [--channels C] [--size S] [--frames T]
//                   [--batch B] [--sequences N] [--seed S]
//     Times joule::train::Trainer::step() on the video_vae method's model: a per-frame conv VAE
//     (filters 32, hidden 256, leaky ReLU), 8 slow identity + 8 independent pose channels
//     (ε = 0.01), Bernoulli pixels, the shared Elbo objective, Adam (lr 1e-3, β = 0.9/0.999, the
//     method's cosine schedule and gradient-norm clip at 100). The step is what a user's run does:
//     the batch drawn from an in-memory TensorDataset, the ELBO and its metrics, backward, the
//     clip, Adam. Synthetic videos (Bernoulli(0.3) pixels; timing does not depend on content).
//     One JSON line: ms per step (median, mean, min) and the configuration.
//
//   bench_video_vae --dump-init DIR [--channels C] [--size S] [--frames T] [--batch B] [--seed S]
//     The numerical cross-check: writes the initial weights (DIR/<name>.npy, named as
//     named_parameters() spells them), a batch x and the reparameterisation noise eps (DIR/x.npy,
//     DIR/eps.npy), and DIR/reference.json with the loss −mean ELBO at init, the gradient norm,
//     and the loss on the same x and eps after one clipped Adam step (LibTorch's Adam with the
//     trainer's settings). `video_vae_peer.py --load-init DIR` recomputes all three.
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adam.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "joule/core/runtime.h"
#include "joule/data/dataset.h"
#include "joule/io/npy.h"
#include "joule/models/video_vae.h"
#include "joule/objectives/elbo.h"
#include "joule/train/trainer.h"

namespace {

struct Config {
  int threads = 1, reps = 20, warmup = 3;
  int64_t channels = 3, size = 32, frames = 8, batch = 16, sequences = 256;
  uint64_t seed = 0;
  std::string dump;
};

joule::VideoVae make_model(const Config& c) {
  // The video_vae method's model, factored prior, with 8 pose channels (the method now defaults to
  // 4; the step time hardly depends on it, and the peer is written for 8).
  joule::VideoVae model(joule::VideoVaeOptions(c.channels, c.size, c.size, c.frames)
                            .identity_dim(8)
                            .pose_dim(8)
                            .identity_prior(joule::SequencePrior{joule::SequencePriorKind::kSlow, 0.01, 0.9})
                            .pose_prior(joule::SequencePrior{joule::SequencePriorKind::kIndependent, 0.01, 0.9})
                            .filters(32)
                            .hidden(256)
                            .activation(joule::Activation::kLeakyReLU)
                            .likelihood("bernoulli"));
  model->reset_parameters(joule::make_generator(joule::derive_seed(c.seed, 1)));
  return model;
}

// The main group's optimizer as the video_vae method configures it.
joule::train::OptimizerOptions optimizer_options() {
  return joule::train::OptimizerOptions()
      .lr(1e-3)
      .beta1(0.9)
      .beta2(0.999)
      .lr_schedule(joule::train::LrSchedule::kCosine)
      .grad_clip_norm(100.0);
}

int time_step(const Config& c) {
  joule::set_num_threads(c.threads);
  auto model = make_model(c);
  auto gen = joule::make_generator(joule::derive_seed(c.seed, 2));
  const auto videos = (at::rand({c.sequences, c.frames, c.channels, c.size, c.size}, gen) < 0.3).to(at::kFloat);
  const int64_t steps = std::max<int64_t>(3000, c.warmup + c.reps);  // the method's train.steps (cosine horizon)
  joule::train::Trainer trainer(model.ptr(), std::make_shared<joule::Elbo>(),
                                std::make_shared<joule::data::TensorDataset>(videos),
                                joule::train::TrainerOptions().steps(steps).batch_size(c.batch).seed(c.seed),
                                optimizer_options());
  std::vector<double> ms;
  double first = NAN, last = NAN;
  bool finite = true;
  for (int i = 0; i < c.warmup + c.reps; ++i) {
    const auto t0 = joule::bench::Clock::now();
    const auto r = trainer.step();
    const double dt = joule::bench::since(t0) * 1e3;
    if (i == 0) first = r.loss;
    last = r.loss;
    finite = finite && std::isfinite(r.loss);
    if (i >= c.warmup) ms.push_back(dt);
  }
  const double mean = std::accumulate(ms.begin(), ms.end(), 0.0) / double(ms.size());
  std::printf(
      "{\"impl\": \"joule\", \"task\": \"video-vae-step\", \"channels\": %lld, \"size\": %lld, \"frames\": %lld, "
      "\"batch\": %lld, \"threads\": %d, \"reps\": %d, \"warmup\": %d, \"step_ms_median\": %.4f, \"step_ms_mean\": "
      "%.4f, \"step_ms_min\": %.4f, \"loss_first\": %.4f, \"loss_last\": %.4f, \"checksum_finite\": %s}\n",
      static_cast<long long>(c.channels), static_cast<long long>(c.size), static_cast<long long>(c.frames),
      static_cast<long long>(c.batch), c.threads, c.reps, c.warmup, joule::bench::median(ms), mean,
      *std::min_element(ms.begin(), ms.end()), first, last, finite ? "true" : "false");
  std::fflush(stdout);
  return finite ? 0 : 1;
}

// −mean ELBO of x with the given noise, through the model's public pieces (encode, log_likelihood,
// kl): the same terms elbo_terms() computes with its own draw.
at::Tensor loss_with_noise(joule::VideoVaeImpl& model, const at::Tensor& x, const at::Tensor& eps) {
  auto [mu, logvar] = model.encode(x);
  const auto z = mu + (0.5 * logvar).exp() * eps;
  return -(model.log_likelihood(x, z) - model.kl(mu, logvar)).mean();
}

int dump_init(const Config& c) {
  joule::set_num_threads(c.threads);
  auto model = make_model(c);
  auto gen = joule::make_generator(joule::derive_seed(c.seed, 2));
  const auto x = (at::rand({c.batch, c.frames, c.channels, c.size, c.size}, gen) < 0.3).to(at::kFloat);
  const int64_t k = model->latent_dim();
  // The noise elbo_terms() would draw from a generator in this state: empty_like(μ).normal_(0, 1).
  auto noise_gen = joule::make_generator(joule::derive_seed(c.seed, 3));
  const auto eps = at::empty({c.batch, c.frames, k}).normal_(0.0, 1.0, noise_gen);
  for (const auto& p : model->named_parameters()) {
    joule::io::write_npy(c.dump + "/" + p.key() + ".npy", p.value().detach());
  }
  joule::io::write_npy(c.dump + "/x.npy", x);
  joule::io::write_npy(c.dump + "/eps.npy", eps);

  // elbo_terms() with a generator in the same state draws the same eps: its loss must be equal.
  auto check_gen = joule::make_generator(joule::derive_seed(c.seed, 3));
  double elbo_terms_loss;
  {
    at::NoGradGuard no_grad;
    elbo_terms_loss = -model->elbo_terms(x, check_gen).elbo().mean().item<double>();
  }
  // One step as Trainer::update does it: zero_grad, backward, clip at 100, Adam.
  const auto o = optimizer_options();
  auto params = model->parameters();
  torch::optim::Adam adam(params, torch::optim::AdamOptions(o.lr()).betas({o.beta1(), o.beta2()}));
  adam.zero_grad();
  const auto loss0 = loss_with_noise(*model, x, eps);
  loss0.backward();
  const double grad_norm = torch::nn::utils::clip_grad_norm_(params, o.grad_clip_norm());
  adam.step();
  double loss1;
  {
    at::NoGradGuard no_grad;
    loss1 = loss_with_noise(*model, x, eps).item<double>();
  }
  std::ofstream json(c.dump + "/reference.json");
  if (!json) {
    std::fprintf(stderr, "cannot write %s/reference.json (does the folder exist?)\n", c.dump.c_str());
    return 1;
  }
  char line[512];
  std::snprintf(line, sizeof line,
                "{\"loss0\": %.9g, \"grad_norm0\": %.9g, \"loss1\": %.9g, \"elbo_terms_loss0\": %.9g, \"channels\": "
                "%lld, \"size\": %lld, \"frames\": %lld, \"batch\": %lld}\n",
                loss0.item<double>(), grad_norm, loss1, elbo_terms_loss, static_cast<long long>(c.channels),
                static_cast<long long>(c.size), static_cast<long long>(c.frames), static_cast<long long>(c.batch));
  json << line;
  std::printf("%s", line);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Config c;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--threads" && has_value) c.threads = std::atoi(argv[++i]);
    else if (a == "--reps" && has_value) c.reps = std::atoi(argv[++i]);
    else if (a == "--warmup" && has_value) c.warmup = std::atoi(argv[++i]);
    else if (a == "--channels" && has_value) c.channels = std::atoll(argv[++i]);
    else if (a == "--size" && has_value) c.size = std::atoll(argv[++i]);
    else if (a == "--frames" && has_value) c.frames = std::atoll(argv[++i]);
    else if (a == "--batch" && has_value) c.batch = std::atoll(argv[++i]);
    else if (a == "--sequences" && has_value) c.sequences = std::atoll(argv[++i]);
    else if (a == "--seed" && has_value) c.seed = std::strtoull(argv[++i], nullptr, 10);
    else if (a == "--dump-init" && has_value) c.dump = argv[++i];
    else {
      std::fprintf(stderr,
                   "unknown argument %s\nusage: bench_video_vae [--threads N] [--reps R] [--warmup W] [--channels C] "
                   "[--size S] [--frames T] [--batch B] [--sequences N] [--seed S] [--dump-init DIR]\n",
                   a.c_str());
      return 2;
    }
  }
  if (c.threads < 1 || c.reps < 1 || c.warmup < 0 || c.batch < 1 || c.sequences < c.batch) {
    std::fprintf(stderr, "need threads >= 1, reps >= 1, warmup >= 0, 1 <= batch <= sequences\n");
    return 2;
  }
  if (!c.dump.empty()) return dump_init(c);
  return time_step(c);
}
