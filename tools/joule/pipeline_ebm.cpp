// The neural-EBM pipeline: an MLP energy trained with CD-k or PCD on 2-D toy data or a CSV
// table; evaluated by grid quadrature (2-D), test NLL against the true entropy, and MMD.
#include <cmath>
#include <fstream>

#include "joule/core/runtime.h"
#include "joule/data/csv.h"
#include "joule/data/toy2d.h"
#include "joule/eval/grid.h"
#include "joule/eval/sample_stats.h"
#include "joule/io/plot.h"
#include "joule/models/mlp_energy.h"
#include "joule/objectives/contrastive_divergence.h"
#include "joule/samplers/langevin.h"
#include "joule/samplers/mala.h"
#include "tools/joule/pipeline.h"
#include "tools/joule/pipeline_common.h"

namespace joule::cli {
namespace {

class EbmPipeline : public Pipeline {
 public:
  void build(const Config& cfg, torch::Device device) override {
    const uint64_t seed = static_cast<uint64_t>(cfg.get_int("run.seed"));
    dataset_ = cfg.get_string("data.dataset");
    // Independent streams for training data, test data and the initial weights.
    auto gen_train = make_generator(derive_seed(seed, 1));
    auto gen_test = make_generator(derive_seed(seed, 2));
    auto gen_init = make_generator(derive_seed(seed, 3));
    torch::Tensor train_x;
    if (dataset_ == "csv") {
      const std::string path = cfg.get_string("data.path");
      if (path.empty()) throw UsageError("data.dataset = \"csv\" needs data.path = \"<file.csv>\"");
      auto table = data::read_csv(path);
      // Hold out the last n_test rows (after a seeded shuffle) as the test split.
      auto x = table.features;
      auto perm = torch::randperm(x.size(0), gen_test, torch::kLong);
      x = x.index_select(0, perm);
      const int64_t n_test = std::min<int64_t>(cfg.get_int("data.n_test"), x.size(0) / 5);
      if (x.size(0) - n_test < 2) throw UsageError("CSV '" + path + "' has too few rows to train on");
      test_x_ = x.slice(0, x.size(0) - n_test);
      train_x = x.slice(0, 0, x.size(0) - n_test);
    } else {
      train_x = data::sample_toy(dataset_, cfg.get_int("data.n_train"), gen_train);
      test_x_ = data::sample_toy(dataset_, cfg.get_int("data.n_test"), gen_test);
    }
    dim_ = train_x.size(1);
    const int64_t batch = cfg.get_int("train.batch_size");
    if (batch > train_x.size(0)) {
      throw UsageError("train.batch_size = " + std::to_string(batch) + " exceeds the " + std::to_string(train_x.size(0)) +
                       " training points");
    }
    data_ = std::make_shared<data::TensorDataset>(train_x.to(device));

    auto mlp = MlpEnergy(MlpEnergyOptions(dim_)
                             .width(cfg.get_int("model.width"))
                             .depth(cfg.get_int("model.depth"))
                             .activation(parse_activation(cfg.get_string("model.activation")))
                             .negative_slope(cfg.get_float("model.negative_slope"))
                             .spectral_norm(cfg.get_bool("model.spectral_norm")));
    mlp->reset_parameters(gen_init);
    mlp->set_temperature(cfg.get_float("model.temperature"));
    mlp->to(device);
    model_ = mlp.ptr();

    sampler_ = make_sampler(cfg);
    ContrastiveDivergenceOptions cd;
    cd.l2_energy(cfg.get_float("objective.l2_energy")).init_noise(cfg.get_float("objective.init_noise"));
    if (cfg.get_string("objective.kind") == "pcd") {
      buffer_ = make_buffer(cfg, {dim_}, device);
      if (batch > buffer_->capacity()) {
        throw UsageError("train.batch_size = " + std::to_string(batch) + " exceeds buffer.capacity = " +
                         std::to_string(buffer_->capacity()));
      }
      buffer_->set_data(train_x.to(device));
      objective_ = std::make_shared<ContrastiveDivergence>(cd, sampler_, buffer_);
    } else {
      objective_ = std::make_shared<ContrastiveDivergence>(cd, sampler_);
    }
    const auto* info = dataset_ == "csv" ? nullptr : &data::toy_info(dataset_);
    if (info && info->entropy) entropy_ = *info->entropy;
    entropy_exact_ = info && info->entropy_exact;
    extent_ = info ? info->plot_extent : 1.2 * test_x_.abs().max().item<double>();
    configure_eval(cfg);
  }

  void add_callbacks(train::Trainer& trainer, RunContext& ctx) override {
    const int64_t every = eval_every_;
    if (every <= 0 || dim_ != 2) return;
    auto metrics = ctx.metrics;
    auto progress = ctx.progress;
    trainer.add_callback(std::make_shared<train::PeriodicCallback>(
        every,
        [this, metrics, progress](train::Trainer& t, int64_t step) {
          auto density = eval::grid_density(t.model(), box(), resolution_);
          const double nll = eval::negative_log_likelihood(t.model(), test_x_, density.log_z);
          if (metrics) metrics->log(step, {{"nll_test", nll}, {"log_z", density.log_z}});
          if (progress) progress->set_extra("nll", nll);
        },
        /*at_end=*/false));
  }

  void configure_eval(const Config& cfg) {
    resolution_ = cfg.get_int("eval.grid_resolution");
    if (cfg.get_float("eval.extent") > 0) extent_ = cfg.get_float("eval.extent");
    if (cfg.command() == "train") eval_every_ = cfg.get_int("train.eval_every");
  }

  std::vector<ReportLine> evaluate(train::Trainer& trainer, const Config& cfg, RunContext& ctx) override {
    configure_eval(cfg);
    std::vector<ReportLine> lines;
    auto& model = trainer.model();
    auto gen = make_generator(derive_seed(trainer.options().seed(), 4), ctx.device);
    auto test = test_x_.to(ctx.device);
    const int64_t n = std::min<int64_t>(cfg.get_int("eval.n_samples"), test.size(0));
    auto chains = fresh_chains(model, n, cfg.get_int("eval.chain_steps"), gen).cpu();
    auto ref = test.slice(0, 0, n).cpu();
    const double h = eval::median_bandwidth(ref, chains);
    if (dim_ == 2) {
      auto density = eval::grid_density(model, box(), resolution_);
      const double nll = eval::negative_log_likelihood(model, test, density.log_z);
      lines.push_back({"nll_test", nll, "nats, exact by grid quadrature"});
      lines.push_back({"log_z", density.log_z, "grid " + std::to_string(resolution_) + "^2 on [-" + fmt(extent_) + ", " + fmt(extent_) + "]^2"});
      if (entropy_) {
        lines.push_back({"entropy", *entropy_, entropy_exact_ ? "true differential entropy of the data (exact)"
                                                             : "data entropy (k-NN estimate)"});
        lines.push_back({"nll_gap", nll - *entropy_, "nll_test - entropy (0 is perfect)"});
      }
      auto exact = eval::sample_from_grid(density, n, make_generator(derive_seed(trainer.options().seed(), 5)));
      lines.push_back({"mmd2_model", eval::mmd2_gaussian(exact, ref, h), "MMD^2, exact model samples vs test data"});
    }
    lines.push_back({"mmd2_chains", eval::mmd2_gaussian(chains, ref, h),
                     "MMD^2, " + std::to_string(cfg.get_int("eval.chain_steps")) + "-step " + sampler_->name() +
                         " chains vs test data"});
    lines.push_back({"mmd_bandwidth", h, "Gaussian kernel bandwidth (median heuristic)"});
    lines.push_back({"sampler_temperature", sampler_->temperature(), "b^2/(2a); 1 = samples the model itself"});
    return lines;
  }

  std::vector<std::string> pictures(train::Trainer& trainer, const Config& cfg, RunContext& ctx,
                                    const std::string& prefix) override {
    configure_eval(cfg);
    std::vector<std::string> files;
    auto& model = trainer.model();
    auto gen = make_generator(derive_seed(trainer.options().seed(), 4), ctx.device);
    const int64_t n = std::min<int64_t>(cfg.get_int("eval.n_samples"), test_x_.size(0));
    auto data_pts = test_x_.slice(0, 0, n);
    if (dim_ == 2) {
      const io::PlotBox pb{-extent_, extent_, -extent_, extent_};
      auto chains = fresh_chains(model, n, cfg.get_int("eval.chain_steps"), gen).cpu();
      auto density = eval::grid_density(model, box(), resolution_);
      auto exact = eval::sample_from_grid(density, n, make_generator(derive_seed(trainer.options().seed(), 5)));
      std::vector<io::Image> panels{io::scatter_plot(data_pts, pb, "data (" + dataset_ + ")"),
                                    io::scatter_plot(exact, pb, "model (exact, from grid)")};
      panels.push_back(io::scatter_plot(chains, pb, sampler_->name() + " chains, " +
                                                        std::to_string(cfg.get_int("eval.chain_steps")) + " steps"));
      if (buffer_ && buffer_->storage().defined()) {
        panels.push_back(io::scatter_plot(buffer_->storage().slice(0, 0, n).cpu(), pb, "replay buffer"));
      }
      files.push_back(prefix + "samples.png");
      io::write_png(files.back(), io::hstack(panels));

      const int64_t hr = std::min<int64_t>(resolution_, 128);
      auto hist = eval::histogram_density(test_x_, box(), hr);
      files.push_back(prefix + "density.png");
      io::write_png(files.back(), io::hstack({io::heatmap(hist, pb, "data histogram"),
                                              io::heatmap(density.log_density.exp(), pb, "model density"),
                                              io::heatmap(density.log_density, pb, "model log-density")}));
    }
    if (!ctx.run_dir.empty()) {
      const std::string curves = prefix + "curves.png";
      if (write_curves(ctx.run_dir + "/metrics.jsonl", curves, entropy_)) files.push_back(curves);
    }
    return files;
  }

  torch::Tensor sample(train::Trainer& trainer, const Config& cfg, RunContext& ctx) override {
    auto gen = make_generator(static_cast<uint64_t>(cfg.get_int("run.seed")), ctx.device);
    const int64_t n = cfg.get_int("sample.n");
    torch::Tensor x0;
    if (cfg.get_string("sample.init") == "buffer" && buffer_ && buffer_->storage().defined()) {
      auto idx = torch::randint(buffer_->capacity(), {n}, gen, torch::TensorOptions().dtype(torch::kLong).device(ctx.device));
      x0 = buffer_->storage().index_select(0, idx);
    } else {
      x0 = init_states(n, gen);
    }
    return run_sampler(trainer.model(), x0, cfg.get_int("sample.steps"), gen);
  }

 private:
  eval::Box box() const { return eval::Box::square(extent_); }

  torch::Tensor init_states(int64_t n, at::Generator& gen) {
    if (buffer_) return buffer_->init_samples(n, gen);
    // CD-k has no buffer: start from a box around the data.
    return torch::empty({n, dim_}, torch::TensorOptions().device(module_device(*model_))).uniform_(-extent_, extent_, gen);
  }

  torch::Tensor run_sampler(EnergyModel& model, torch::Tensor x0, int64_t steps, at::Generator& gen) {
    return sampler_->with_steps(steps)->sample(model, x0, gen);
  }

  torch::Tensor fresh_chains(EnergyModel& model, int64_t n, int64_t steps, at::Generator& gen) {
    return run_sampler(model, init_states(n, gen), steps, gen);
  }

  static std::string fmt(double v) {
    std::ostringstream os;
    os << v;
    return os.str();
  }

  std::string dataset_;
  int64_t dim_ = 2;
  torch::Tensor test_x_;
  std::shared_ptr<Sampler> sampler_;
  std::shared_ptr<ReplayBuffer> buffer_;
  c10::optional<double> entropy_;
  bool entropy_exact_ = false;
  double extent_ = 4.0;
  int64_t resolution_ = 256;
  int64_t eval_every_ = 0;
};

}  // namespace

std::unique_ptr<Pipeline> make_ebm_pipeline() { return std::make_unique<EbmPipeline>(); }

}  // namespace joule::cli
