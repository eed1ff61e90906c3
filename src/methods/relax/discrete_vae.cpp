// method = "discrete_vae": Bernoulli-latent VAEs trained on the ELBO with REINFORCE, REBAR, RELAX
// or straight-through encoder gradients, or by (reweighted) wake–sleep.
#include "joule/methods/discrete_vae.h"

#include <torch/autograd.h>

#include <algorithm>
#include <cmath>

#include "joule/core/runtime.h"
#include "joule/data/dataset.h"
#include "joule/data/idx.h"
#include "joule/data/image_transforms.h"
#include "joule/io/png.h"
#include "joule/objectives/discrete_vae.h"

namespace joule::methods {

using config::ConfigError;
using config::Doc;
namespace est = joule::estimators;

namespace {

// The fixed binarisation's seed: every run (any run.seed) sees the same binary images.
constexpr uint64_t kBinarizeSeed = 0x5eedb1aULL;

}  // namespace

void DiscreteVaeConfig::Data::visit(config::Fields& f) {
  f("dataset", dataset,
    Doc("fashion-mnist (Debian's copy, or data.path) or mnist (data.path: the IDX files)").choices({"fashion-mnist", "mnist"}));
  f("path", path, "folder with the IDX files (train-images-idx3-ubyte[.gz], ...)");
  f("binarize", binarize,
    Doc("stochastic: one fixed Bernoulli(pixel) draw (the same for every run.seed); threshold: pixel > 0.5")
        .choices({"stochastic", "threshold"}));
  f("n_train", n_train, Doc("training images (0 = all but the validation ones)").min(0));
  f("validation", validation, Doc("the last training images, held out for validation").min(1));
  f("n_test", n_test, Doc("test images (0 = all)").min(0));
}

void DiscreteVaeConfig::Vae::visit(config::Fields& f) {
  f("latent", latent, Doc("Bernoulli latent units per stochastic layer (the papers: 200)").min(1).max(1 << 16));
  f("layers", layers, Doc("stochastic layers (the paper's L1: 1, L2: 2)").min(1).max(8));
  f("model", model, Doc("linear (L1) or nonlinear (NL1: two tanh layers in each network)").choices({"linear", "nonlinear"}));
  f("hidden", hidden, Doc("hidden units of the nonlinear networks").min(1).max(1 << 16));
  f("training", training,
    Doc("elbo: the ELBO with [estimator]'s encoder gradient; wake_sleep; rws: reweighted wake-sleep")
        .choices({"elbo", "wake_sleep", "rws"}));
  f("rws_samples", rws_samples, Doc("rws: importance samples per example").min(2).max(10000));
}

void DiscreteVaeConfig::Eval::visit(config::Fields& f) {
  f("iwae_samples", iwae_samples, Doc("k of the test log-likelihood bound (Burda et al.)").min(1).max(100000));
  f("n", n, Doc("images per split for the reported bounds (0 = all)").min(0));
}

DiscreteVaeConfig::DiscreteVaeConfig() {
  // The REBAR/RELAX VAE code: batch 24, Adam with β₂ = 0.99999 for the model and the surrogate,
  // a constant rate (the paper's grid: 5e-5 ... 5e-3; we take 5e-4), surrogate at the same rate.
  train.steps = 20000;
  train.batch_size = 24;
  train.eval_every = 2000;
  train.checkpoint_every = 2000;
  train.log_every = 100;
  use_constant_adam(train.optimizer, 5e-4, 0.99999);
  use_constant_adam(optim.surrogate, 5e-4, 0.99999);
  // The paper's VAE surrogate: REBAR's term plus a 2×200 network (App. D.1), z̃ from z's noise.
  estimator.surrogate = "rebar_neural";
  estimator.width = 200;
  estimator.depth = 2;
  estimator.activation = "leaky_relu";
  estimator.common_random_numbers = true;
  sample.n = 64;
}

void DiscreteVaeConfig::visit(config::Fields& f) {
  f.section("run", run);
  f.section("data", data);
  f.section("vae", vae);
  f.section("estimator", estimator);
  f.section("train", train);
  f.section("optim", optim);
  f.section("eval", eval);
  f.section("sample", sample);
}

DiscreteVaeMethod::DiscreteVaeMethod(DiscreteVaeConfig config) : config_(std::move(config)) {}

Parts DiscreteVaeMethod::build_parts(torch::Device device) {
  const auto& cfg = config_;
  const auto& e = cfg.estimator;
  const bool elbo = cfg.vae.training == "elbo";
  e.validate();
  // Data: the IDX images in [0, 1], binarised once.
  if (cfg.data.dataset == "mnist" && cfg.data.path.empty()) {
    throw ConfigError("data.dataset = \"mnist\" needs data.path = <folder with the MNIST IDX files>");
  }
  const std::string dir = cfg.data.path.empty() ? data::kFashionMnistDir : cfg.data.path;
  auto train_all = data::load_mnist_split(dir, "train").images;
  auto test = data::load_mnist_split(dir, "t10k").images;
  image_shape_ = {train_all.size(1), train_all.size(2), train_all.size(3)};
  const int64_t pixels = train_all[0].numel();
  const int64_t n_valid = cfg.data.validation;
  if (n_valid >= train_all.size(0)) {
    throw ConfigError("data.validation = " + std::to_string(n_valid) + " leaves no training images of " +
                      std::to_string(train_all.size(0)));
  }
  auto train = train_all.slice(0, 0, train_all.size(0) - n_valid);
  auto valid = train_all.slice(0, train_all.size(0) - n_valid);
  if (cfg.data.n_train > 0) train = train.slice(0, 0, std::min(train.size(0), cfg.data.n_train));
  if (cfg.data.n_test > 0) test = test.slice(0, 0, std::min(test.size(0), cfg.data.n_test));
  auto bin_gen = make_generator(kBinarizeSeed);
  auto binarize = [&](const at::Tensor& x) {
    data::check_finite(x, "images");
    const auto flat = x.reshape({x.size(0), pixels}).to(at::kFloat);
    TORCH_CHECK(flat.min().item<double>() >= 0 && flat.max().item<double>() <= 1,
                "discrete_vae: the images must be in [0, 1]");
    return cfg.data.binarize == "threshold" ? data::binarize_threshold(flat, 0.5) : data::binarize_stochastic(flat, bin_gen);
  };
  train_x_ = binarize(train);
  valid_x_ = binarize(valid);
  test_x_ = binarize(test);
  check_batch_size(cfg.train.batch_size, train_x_.size(0), "training images");

  const uint64_t seed = static_cast<uint64_t>(cfg.run.seed);
  model_ = SigmoidBeliefVae(SigmoidBeliefVaeOptions(pixels, cfg.vae.latent)
                                .layers(cfg.vae.layers)
                                .nonlinear(cfg.vae.model == "nonlinear")
                                .hidden(cfg.vae.hidden));
  model_->reset_parameters(make_generator(derive_seed(seed, 1)));
  model_->set_data_mean(train_x_.mean(0));
  model_->to(device);

  Parts parts;
  parts.modules.add("model", model_.ptr());
  parts.data = std::make_shared<data::TensorDataset>(train_x_.to(device));

  surrogates_.clear();
  std::vector<std::unique_ptr<est::DiscreteGradientEstimator>> estimators;
  const std::string layers = cfg.vae.layers == 1 ? "" : ", " + std::to_string(cfg.vae.layers) + " stochastic layers";
  if (elbo) {
    // One estimator per layer; layer l's control variate sees x − mean and the layers below (the
    // reference's Q input), and all of them form the one group "surrogate", in layer order.
    std::vector<std::string> names;
    for (int64_t l = 0; l < cfg.vae.layers; ++l) {
      est::ControlVariate cv{nullptr};
      if (e.needs_control_variate()) {
        names.push_back(l == 0 ? "surrogate" : "surrogate_" + std::to_string(l + 1));
        cv = add_control_variate(parts, names.back(), e.control_variate_options(cfg.vae.latent, pixels + l * cfg.vae.latent),
                                 derive_seed(seed, l == 0 ? 2 : 100 + static_cast<uint64_t>(l)), device);
        surrogates_.push_back(cv);
      }
      estimators.push_back(std::make_unique<est::DiscreteGradientEstimator>(e.estimator_options(), cv));
    }
    if (!names.empty()) {
      parts.after.push_back(train::ParamGroup("surrogate", names, cfg.optim.surrogate.options().updates(1).every(1)));
    }
    notes_.push_back("discrete_vae: " + cfg.vae.model + " model" + layers + ", ELBO with " + e.kind +
                     (e.needs_control_variate() ? " (" + est::to_string(e.surrogate_kind()) + " control variate)" : ""));
  } else {
    notes_.push_back("discrete_vae: " + cfg.vae.model + " model" + layers + ", " + cfg.vae.training);
  }
  parts.objective = make_discrete_vae_objective(cfg.vae.training, cfg.vae.rws_samples, std::move(estimators));
  notes_.push_back("data: " + std::to_string(train_x_.size(0)) + " training, " + std::to_string(valid_x_.size(0)) +
                   " validation, " + std::to_string(test_x_.size(0)) + " test images, binarised (" +
                   cfg.data.binarize + ")");
  return parts;
}

double DiscreteVaeMethod::bound(const at::Tensor& x, int64_t k, uint64_t seed) {
  TORCH_CHECK(model_, "discrete_vae: build() first");
  at::NoGradGuard no_grad;
  auto gen = make_generator(seed);
  const auto device = module_device(*model_);
  const int64_t chunk = std::max<int64_t>(1, 20000 / k);
  double sum = 0;
  for (int64_t i = 0; i < x.size(0); i += chunk) {
    const auto xb = x.slice(0, i, std::min(x.size(0), i + chunk)).to(device);
    sum += model_->iwae_bound(xb, k, gen).sum().item<double>();
  }
  return sum / static_cast<double>(x.size(0));
}

void DiscreteVaeMethod::add_callbacks(const Monitor& monitor) {
  const int64_t n = std::min<int64_t>(valid_x_.size(0), config_.eval.n > 0 ? config_.eval.n : valid_x_.size(0));
  auto valid = valid_x_.slice(0, 0, n);
  const uint64_t seed = derive_seed(static_cast<uint64_t>(config_.run.seed), 7);
  add_periodic_evaluation(
      monitor, config_.train.eval_every,
      [this, valid, seed]() -> std::vector<std::pair<std::string, double>> {
        const double e = bound(valid, 1, seed);
        return {{"nll_valid", -e}, {"elbo_valid", e}};
      },
      "nll_valid", "-elbo valid");
}

eval::Report DiscreteVaeMethod::evaluate() {
  eval::Report r;
  r.method = name();
  r.step = trainer().step_count();
  const uint64_t seed = derive_seed(static_cast<uint64_t>(config_.run.seed), 8);
  auto first = [&](const at::Tensor& x) {
    return config_.eval.n > 0 ? x.slice(0, 0, std::min<int64_t>(x.size(0), config_.eval.n)) : x;
  };
  r.add("elbo_train", bound(first(train_x_), 1, seed), "ELBO on training images, nats per image (1 sample each)");
  r.add("elbo_valid", bound(first(valid_x_), 1, seed), "ELBO on validation images");
  r.add("elbo_test", bound(first(test_x_), 1, seed), "ELBO on test images");
  const int64_t k = config_.eval.iwae_samples;
  r.add("loglik_test", bound(first(test_x_), k, seed),
        "test log-likelihood bound by importance sampling, k = " + std::to_string(k) + " (Burda et al.)");
  return r;
}

std::vector<std::string> DiscreteVaeMethod::pictures(const std::string& prefix) {
  std::vector<std::string> files;
  std::vector<int64_t> shape{-1};
  shape.insert(shape.end(), image_shape_.begin(), image_shape_.end());
  files.push_back(prefix + "samples.png");
  io::save_image_grid(sample().cpu(), files.back(), 8, 2, std::make_pair(0.0, 1.0));
  {
    at::NoGradGuard no_grad;
    auto gen = make_generator(static_cast<uint64_t>(config_.sample.seed));
    const auto x = test_x_.slice(0, 0, std::min<int64_t>(16, test_x_.size(0))).to(module_device(*model_));
    const auto b = model_->sample_posterior(x, gen);
    const auto recon = at::sigmoid(model_->decode(model_->layer_of(b, 0)));
    files.push_back(prefix + "reconstructions.png");
    io::save_image_grid(at::cat({x, recon}, 0).cpu().reshape(shape), files.back(), x.size(0), 2,
                        std::make_pair(0.0, 1.0));
  }
  if (!run_dir().empty()) {
    const std::string curves = prefix + "curves.png";
    if (write_curves(run_dir() + "/metrics.jsonl", curves,
                     {{"ELBO (nats per image)", "nats", {{"elbo", "training batches"}, {"elbo_valid", "validation"}}, {}}})) {
      files.push_back(curves);
    }
  }
  return files;
}

torch::Tensor DiscreteVaeMethod::sample() {
  TORCH_CHECK(model_, "discrete_vae: build() first");
  at::NoGradGuard no_grad;
  auto gen = make_generator(static_cast<uint64_t>(config_.sample.seed), module_device(*model_));
  std::vector<int64_t> shape{config_.sample.n};
  shape.insert(shape.end(), image_shape_.begin(), image_shape_.end());
  return model_->sample_means(config_.sample.n, gen).reshape(shape);
}

}  // namespace joule::methods
