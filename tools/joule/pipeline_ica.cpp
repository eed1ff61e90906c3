// The ICA pipeline (method = ica): a linear ICA model with logistic sources, whose likelihood is
// exact, trained by maximum likelihood (objective.kind = mle), LSD, score matching (sm, ssm,
// dsm) or CD/PCD, and evaluated by its exact test NLL against the true model's (LSD's §6.2
// experiment, reference ebm_training.md V9).
#include <cmath>

#include "joule/core/runtime.h"
#include "joule/eval/grid.h"
#include "joule/io/plot.h"
#include "joule/models/ica.h"
#include "joule/objectives/contrastive_divergence.h"
#include "joule/objectives/maximum_likelihood.h"
#include "tools/joule/pipeline.h"
#include "tools/joule/pipeline_common.h"
#include "tools/joule/score_objectives.h"

namespace joule::cli {
namespace {

class IcaPipeline : public Pipeline {
 public:
  void build(const Config& cfg, torch::Device device) override {
    const uint64_t seed = static_cast<uint64_t>(cfg.get_int("run.seed"));
    dim_ = cfg.get_int("ica.dim");
    // The true model and its data from one stream, the model's initial weights from another.
    auto gen_truth = make_generator(derive_seed(seed, 1));
    truth_ = Ica(dim_);
    truth_->reset_parameters(gen_truth);
    auto train_x = truth_->sample(cfg.get_int("data.n_train"), gen_truth);
    test_x_ = truth_->sample(cfg.get_int("data.n_test"), make_generator(derive_seed(seed, 2)));
    const int64_t batch = cfg.get_int("train.batch_size");
    if (batch > train_x.size(0)) {
      throw UsageError("train.batch_size = " + std::to_string(batch) + " exceeds data.n_train = " +
                       std::to_string(train_x.size(0)));
    }
    data_ = std::make_shared<data::TensorDataset>(train_x.to(device));

    model_ica_ = Ica(dim_);
    model_ica_->reset_parameters(make_generator(derive_seed(seed, 3)));
    model_ica_->to(device);
    model_ = model_ica_.ptr();

    const std::string kind = cfg.get_string("objective.kind");
    if (kind == "mle") {
      objective_ = std::make_shared<MaximumLikelihood>([](EnergyModel& m) { return static_cast<IcaImpl&>(m).log_partition(); });
    } else if (is_score_objective(kind)) {
      objective_ = make_score_objective(cfg, {dim_}, device, data_, derive_seed(seed, 6));
    } else {
      sampler_ = make_sampler(cfg);
      ContrastiveDivergenceOptions cd;
      cd.l2_energy(cfg.get_float("objective.l2_energy")).init_noise(cfg.get_float("objective.init_noise"));
      if (kind == "pcd") {
        auto buffer = make_buffer(cfg, {dim_}, device);
        buffer->set_data(train_x.to(device));
        objective_ = std::make_shared<ContrastiveDivergence>(cd, sampler_, buffer);
      } else {
        objective_ = std::make_shared<ContrastiveDivergence>(cd, sampler_);
      }
    }
    true_nll_ = -truth_->log_prob(test_x_).mean().item<double>();
    if (cfg.command() == "train") eval_every_ = cfg.get_int("train.eval_every");
  }

  void add_callbacks(train::Trainer& trainer, RunContext& ctx) override {
    add_periodic_evaluation(
        trainer, ctx, eval_every_,
        [this](train::Trainer&) -> Measurements { return {{"nll_test", test_nll()}, {"amari", amari()}}; }, "nll_test",
        "nll");
  }

  std::vector<ReportLine> evaluate(train::Trainer& trainer, const Config& cfg, RunContext& ctx) override {
    const double nll = test_nll();
    return {{"nll_test", nll, "nats, exact (log|det B| in closed form)"},
            {"nll_true", true_nll_, "nats, the true model on the same test points"},
            {"nll_gap", nll - true_nll_, "nll_test - nll_true (0 is perfect)"},
            {"amari", amari(), "Amari index of the unmixing matrix (0 = recovered up to permutation/sign)"},
            {"dim", static_cast<double>(dim_), "ICA dimension"}};
  }

  std::vector<std::string> pictures(train::Trainer& trainer, const Config& cfg, RunContext& ctx,
                                    const std::string& prefix) override {
    std::vector<std::string> files;
    if (dim_ == 2) {
      const double e = 1.1 * test_x_.abs().max().item<double>();
      const io::PlotBox pb{-e, e, -e, e};
      const auto box = eval::Box::square(e);
      auto model_density = eval::grid_density(*model_ica_, box, 128);
      auto true_density = eval::grid_density(*truth_, box, 128);
      const int64_t n = std::min<int64_t>(2000, test_x_.size(0));
      auto gen = make_generator(derive_seed(trainer.options().seed(), 5));
      files.push_back(prefix + "density.png");
      io::write_png(files.back(), io::hstack({io::scatter_plot(test_x_.slice(0, 0, n), pb, "data (test)"),
                                              io::heatmap(true_density.log_density.exp(), pb, "true density"),
                                              io::heatmap(model_density.log_density.exp(), pb, "model density"),
                                              io::scatter_plot(model_ica_->sample(n, gen).cpu(), pb, "model samples")}));
    }
    if (!ctx.run_dir.empty()) {
      const std::string curves = prefix + "curves.png";
      if (write_curves(ctx.run_dir + "/metrics.jsonl", curves, true_nll_)) files.push_back(curves);
    }
    return files;
  }

  torch::Tensor sample(train::Trainer& trainer, const Config& cfg, RunContext& ctx) override {
    return model_ica_->sample(cfg.get_int("sample.n"), make_generator(static_cast<uint64_t>(cfg.get_int("run.seed"))));
  }

 private:
  double test_nll() {
    torch::NoGradGuard no_grad;
    return -model_ica_->log_prob(test_x_.to(module_device(*model_ica_))).mean().item<double>();
  }
  double amari() { return amari_index(truth_->unmixing, model_ica_->unmixing.cpu()); }

  int64_t dim_ = 2;
  Ica truth_{nullptr}, model_ica_{nullptr};
  torch::Tensor test_x_;
  std::shared_ptr<Sampler> sampler_;
  double true_nll_ = 0;
  int64_t eval_every_ = 0;
};

}  // namespace

std::unique_ptr<Pipeline> make_ica_pipeline() { return std::make_unique<IcaPipeline>(); }

}  // namespace joule::cli
