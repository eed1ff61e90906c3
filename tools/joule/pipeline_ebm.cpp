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
#include "tools/joule/score_objectives.h"

namespace joule::cli {
namespace {

// Sets a model's temperature for the scope of a read-out and restores it.
class ReadoutTemperature {
 public:
  ReadoutTemperature(EnergyModel& model, double t) : model_(model), saved_(model.temperature()) {
    model_.set_temperature(t);
  }
  ~ReadoutTemperature() { model_.set_temperature(saved_); }

 private:
  EnergyModel& model_;
  double saved_;
};

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
      const int64_t n_val = n_test;
      if (x.size(0) - n_test - n_val < 2) throw UsageError("CSV '" + path + "' has too few rows to train on");
      test_x_ = x.slice(0, x.size(0) - n_test);
      val_x_ = x.slice(0, x.size(0) - n_test - n_val, x.size(0) - n_test);
      train_x = x.slice(0, 0, x.size(0) - n_test - n_val);
    } else {
      train_x = data::sample_toy(dataset_, cfg.get_int("data.n_train"), gen_train);
      test_x_ = data::sample_toy(dataset_, cfg.get_int("data.n_test"), gen_test);
      val_x_ = data::sample_toy(dataset_, cfg.get_int("data.n_test"), make_generator(derive_seed(seed, 6)));
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
    const std::string kind = cfg.get_string("objective.kind");
    if (kind == "mle") throw UsageError("objective.kind = mle needs a closed-form normaliser (method = ica)");
    if (is_score_objective(kind)) {
      // LSD / score matching: no negatives; the sampler above only serves evaluation.
      objective_ = make_score_objective(cfg, {dim_}, device, data_, derive_seed(seed, 7));
    } else if (kind == "pcd") {
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
    if (dim_ != 2) return;
    add_periodic_evaluation(
        trainer, ctx, eval_every_,
        [this](train::Trainer& t) -> Measurements {
          ReadoutTemperature at(t.model(), readout_temperature(t.model()));
          auto density = eval::grid_density(t.model(), box(), resolution_);
          return {{"nll_test", eval::negative_log_likelihood(t.model(), test_x_, density.log_z)},
                  {"log_z", density.log_z}};
        },
        "nll_test", "nll");
  }

  void configure_eval(const Config& cfg) {
    resolution_ = cfg.get_int("eval.grid_resolution");
    readout_t_ = cfg.get_float("eval.temperature");
    if (cfg.get_float("eval.extent") > 0) extent_ = cfg.get_float("eval.extent");
    if (cfg.command() == "train") eval_every_ = cfg.get_int("train.eval_every");
  }

  std::vector<ReportLine> evaluate(train::Trainer& trainer, const Config& cfg, RunContext& ctx) override {
    const EvalState& st = eval_state(trainer, cfg, ctx);
    std::vector<ReportLine> lines;
    auto ref = test_x_.slice(0, 0, st.chains.size(0));
    const double h = eval::median_bandwidth(ref, st.chains);
    if (dim_ == 2) {
      lines.push_back({"readout_temperature", st.readout_t,
                       "T of the density read-out: model T x sampler T (what training matched)"});
      lines.push_back({"nll_test", st.nll, "nats, exact by grid quadrature"});
      lines.push_back({"log_z", st.density.log_z,
                       "grid " + std::to_string(resolution_) + "^2 on [-" + fmt(extent_) + ", " + fmt(extent_) + "]^2"});
      if (entropy_) {
        lines.push_back({"entropy", *entropy_, entropy_exact_ ? "true differential entropy of the data (exact)"
                                                             : "data entropy (k-NN estimate)"});
        lines.push_back({"nll_gap", st.nll - *entropy_, "nll_test - entropy (0 is perfect)"});
      }
      lines.push_back({"temperature_fit", st.fit.temperature,
                       "T maximising the likelihood of a validation split (1 = trained at the right temperature)"});
      lines.push_back({"nll_test_at_fit", st.nll_at_fit, "test NLL at temperature_fit"});
      lines.push_back({"mmd2_model", eval::mmd2_gaussian(st.exact, ref, h), "MMD^2, exact model samples vs test data"});
    }
    lines.push_back({"mmd2_chains", eval::mmd2_gaussian(st.chains, ref, h),
                     "MMD^2, " + std::to_string(cfg.get_int("eval.chain_steps")) + "-step " + sampler_->name() +
                         " chains vs test data"});
    lines.push_back({"mmd_bandwidth", h, "Gaussian kernel bandwidth (median heuristic)"});
    lines.push_back({"sampler_temperature", sampler_->temperature(), "b^2/(2a); 1 = samples the model itself"});
    return lines;
  }

  std::vector<std::string> pictures(train::Trainer& trainer, const Config& cfg, RunContext& ctx,
                                    const std::string& prefix) override {
    std::vector<std::string> files;
    if (dim_ == 2) {
      const EvalState& st = eval_state(trainer, cfg, ctx);
      const io::PlotBox pb{-extent_, extent_, -extent_, extent_};
      std::vector<io::Image> panels{io::scatter_plot(test_x_.slice(0, 0, st.chains.size(0)), pb, "data (" + dataset_ + ")"),
                                    io::scatter_plot(st.exact, pb, "model (exact, from grid)"),
                                    io::scatter_plot(st.chains, pb, sampler_->name() + " chains, " +
                                                                        std::to_string(cfg.get_int("eval.chain_steps")) +
                                                                        " steps")};
      if (buffer_ && buffer_->storage().defined()) {
        panels.push_back(io::scatter_plot(buffer_->storage().slice(0, 0, st.chains.size(0)).cpu(), pb, "replay buffer"));
      }
      files.push_back(prefix + "samples.png");
      io::write_png(files.back(), io::hstack(panels));
      auto hist = eval::histogram_density(test_x_, box(), std::min<int64_t>(resolution_, 128));
      files.push_back(prefix + "density.png");
      io::write_png(files.back(), io::hstack({io::heatmap(hist, pb, "data histogram"),
                                              io::heatmap(st.density.log_density.exp(), pb, "model density"),
                                              io::heatmap(st.density.log_density, pb, "model log-density")}));
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
  // What evaluate() and pictures() share, computed once per trainer step.
  struct EvalState {
    int64_t step = -1;
    double readout_t = 1, nll = 0, nll_at_fit = 0;
    eval::TemperatureFit fit;
    torch::Tensor chains, exact;  // CPU [n, D]; exact (grid) samples only in 2-D
    eval::GridDensity density;
  };

  const EvalState& eval_state(train::Trainer& trainer, const Config& cfg, RunContext& ctx) {
    configure_eval(cfg);
    if (state_.step == trainer.step_count()) return state_;
    auto& model = trainer.model();
    EvalState st;
    st.step = trainer.step_count();
    auto gen = make_generator(derive_seed(trainer.options().seed(), 4), ctx.device);
    const int64_t n = std::min<int64_t>(cfg.get_int("eval.n_samples"), test_x_.size(0));
    // Chains run at the model's own temperature; the sampler applies its own.
    st.chains = fresh_chains(model, n, cfg.get_int("eval.chain_steps"), gen).cpu();
    if (dim_ == 2) {
      ReadoutTemperature at(model, readout_temperature(model));
      st.readout_t = model.temperature();
      st.density = eval::grid_density(model, box(), resolution_);
      st.nll = eval::negative_log_likelihood(model, test_x_.to(ctx.device), st.density.log_z);
      st.exact = eval::sample_from_grid(st.density, n, make_generator(derive_seed(trainer.options().seed(), 5)));
      st.fit = eval::fit_temperature(model, box(), resolution_, val_x_.to(ctx.device));
      st.nll_at_fit = eval::negative_log_likelihood_at(eval::grid_energy(model, box(), resolution_), box(),
                                                      eval::energies(model, test_x_), st.fit.temperature);
    }
    state_ = st;
    return state_;
  }

  eval::Box box() const { return eval::Box::square(extent_); }

  // A model trained with negatives at sampler temperature T_s learns E ≈ −T_s log p_data
  // (ebm_training.md lesson 1), so its density is read at T_model × T_s unless set explicitly.
  double readout_temperature(EnergyModel& model) const {
    return readout_t_ > 0 ? readout_t_ : model.temperature() * sampler_->temperature();
  }

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
  torch::Tensor test_x_, val_x_;
  std::shared_ptr<Sampler> sampler_;
  std::shared_ptr<ReplayBuffer> buffer_;
  c10::optional<double> entropy_;
  bool entropy_exact_ = false;
  double extent_ = 4.0;
  int64_t resolution_ = 256;
  int64_t eval_every_ = 0;
  double readout_t_ = 0;  // 0 = automatic
  EvalState state_;
};

}  // namespace

std::unique_ptr<Pipeline> make_ebm_pipeline() { return std::make_unique<EbmPipeline>(); }

}  // namespace joule::cli
