// method = "ica": exact-likelihood ICA trained by MLE, LSD, score matching or CD/PCD.
#include "joule/methods/ica.h"

#include "joule/core/runtime.h"
#include "joule/eval/grid.h"
#include "joule/io/plot.h"
#include "joule/objectives/contrastive_divergence.h"
#include "joule/objectives/maximum_likelihood.h"

namespace joule::methods {

using config::ConfigError;
using config::Doc;

void IcaConfig::Ica::visit(config::Fields& f) {
  f("dim", dim, Doc("ICA dimension (data: a random well-conditioned unmixing matrix, logistic sources)").min(1).max(4096));
}

void IcaConfig::Data::visit(config::Fields& f) {
  f("n_train", n_train, Doc("training points drawn from the true model").min(1));
  f("n_test", n_test, Doc("held-out points (another stream) for the test NLL").min(1));
}

void IcaConfig::Objective::visit(config::Fields& f) {
  f("kind", kind,
    Doc("mle: exact maximum likelihood; lsd, sm, ssm, dsm: score-based; pcd, cd: contrastive divergence")
        .choices({"mle", "lsd", "sm", "ssm", "dsm", "pcd", "cd"}));
  f("l2_energy", l2_energy, Doc("energy penalty (score-based and CD objectives)").min(0.0));
  f("init_noise", init_noise, Doc("CD-k: noise std added to the data before sampling").min(0.0));
}

IcaConfig::IcaConfig() {
  // LSD's ICA experiment (lsd_ica.py): Adam (0.5, 0.9), lr 1e-3, batch 1000.
  train.steps = 2000;
  train.batch_size = 1000;
  train.eval_every = 250;
  train.optimizer.lr = 1e-3;
  train.optimizer.beta1 = 0.5;
  train.optimizer.beta2 = 0.9;
  train.optimizer.lr_schedule = "constant";
}

void IcaConfig::visit(config::Fields& f) {
  f.section("run", run);
  f.section("ica", ica);
  f.section("data", data);
  f.section("objective", objective);
  f.section("sampler", sampler);
  f.section("buffer", buffer);
  f.section("lsd", lsd);
  f.section("sm", sm);
  f.section("train", train);
  f.section("optim", optim);
  f.section("sample", sample);
}

IcaMethod::IcaMethod(IcaConfig config) : config_(std::move(config)) {}

Parts IcaMethod::build_parts(torch::Device device) {
  auto& cfg = config_;
  const uint64_t seed = static_cast<uint64_t>(cfg.run.seed);
  const int64_t dim = cfg.ica.dim;
  // The true model and its data from one stream, the model's initial weights from another.
  auto gen_truth = make_generator(derive_seed(seed, 1));
  truth_ = Ica(dim);
  truth_->reset_parameters(gen_truth);
  auto train_x = truth_->sample(cfg.data.n_train, gen_truth);
  test_x_ = truth_->sample(cfg.data.n_test, make_generator(derive_seed(seed, 2)));
  check_batch_size(cfg.train.batch_size, train_x.size(0), "training points (data.n_train)");

  Parts parts;
  parts.data = std::make_shared<data::TensorDataset>(train_x.to(device));
  model_ = Ica(dim);
  model_->reset_parameters(make_generator(derive_seed(seed, 3)));
  model_->to(device);
  parts.modules.add("model", model_.ptr());

  const std::string& kind = cfg.objective.kind;
  if (kind == "mle") {
    parts.objective = std::make_shared<MaximumLikelihood>();
  } else if (is_score_objective(kind)) {
    add_score_objective(parts, kind, cfg.lsd, cfg.sm, cfg.optim.critic, cfg.objective.l2_energy, dim, device, derive_seed(seed, 6));
  } else {
    auto sampler = cfg.sampler.build();
    ContrastiveDivergenceOptions cd;
    cd.l2_energy(cfg.objective.l2_energy).init_noise(cfg.objective.init_noise);
    if (kind == "pcd") {
      auto buffer = cfg.buffer.build({dim}, device);
      buffer->set_data(train_x.to(device));
      parts.objective = std::make_shared<ContrastiveDivergence>(cd, sampler, buffer);
    } else {
      parts.objective = std::make_shared<ContrastiveDivergence>(cd, sampler);
    }
  }
  true_nll_ = -truth_->log_prob(test_x_).mean().item<double>();
  return parts;
}

double IcaMethod::test_nll() {
  torch::NoGradGuard no_grad;
  return -model_->log_prob(test_x_.to(module_device(*model_))).mean().item<double>();
}

void IcaMethod::add_callbacks(const Monitor& monitor) {
  add_periodic_evaluation(
      monitor, config_.train.eval_every,
      [this]() -> std::vector<std::pair<std::string, double>> {
        return {{"nll_test", test_nll()}, {"amari", amari_index(truth_->unmixing, model_->unmixing.cpu())}};
      },
      "nll_test", "nll");
}

eval::Report IcaMethod::evaluate() {
  eval::Report r;
  r.method = name();
  r.step = trainer().step_count();
  const double nll = test_nll();
  r.add("nll_test", nll, "nats, exact (log|det B| in closed form)");
  r.add("nll_true", true_nll_, "nats, the true model on the same test points");
  r.add("nll_gap", nll - true_nll_, "nll_test - nll_true (0 is perfect)");
  r.add("amari", amari_index(truth_->unmixing, model_->unmixing.cpu()),
        "Amari index of the unmixing matrix (0 = recovered up to permutation/sign)");
  r.add("dim", static_cast<double>(config_.ica.dim), "ICA dimension");
  return r;
}

std::vector<std::string> IcaMethod::pictures(const std::string& prefix) {
  std::vector<std::string> files;
  if (config_.ica.dim == 2) {
    const double e = 1.1 * test_x_.abs().max().item<double>();
    const io::PlotBox pb{-e, e, -e, e};
    const auto box = eval::Box::square(e);
    auto model_density = eval::grid_density(*model_, box, 128);
    auto true_density = eval::grid_density(*truth_, box, 128);
    const int64_t n = std::min<int64_t>(2000, test_x_.size(0));
    auto gen = make_generator(derive_seed(trainer().options().seed(), 5));
    files.push_back(prefix + "density.png");
    io::write_png(files.back(), io::hstack({io::scatter_plot(test_x_.slice(0, 0, n), pb, "data (test)"),
                                            io::heatmap(true_density.log_density.exp(), pb, "true density"),
                                            io::heatmap(model_density.log_density.exp(), pb, "model density"),
                                            io::scatter_plot(model_->sample(n, gen).cpu(), pb, "model samples")}));
  }
  if (!run_dir().empty()) {
    const std::string curves = prefix + "curves.png";
    if (write_curves(run_dir() + "/metrics.jsonl", curves,
                     {{"training loss", "loss", {{"loss", "loss"}}, {}},
                      {"test NLL (nats)", "nats", {{"nll_test", "test NLL"}}, std::make_pair(std::string("true model"), true_nll_)}})) {
      files.push_back(curves);
    }
  }
  return files;
}

torch::Tensor IcaMethod::sample() {
  return model_->sample(config_.sample.n, make_generator(static_cast<uint64_t>(config_.sample.seed)));
}

}  // namespace joule::methods
