// The RBM pipeline: a Bernoulli or Gaussian–Bernoulli RBM trained with CD-k, PCD or parallel
// tempering on IDX images (Fashion-MNIST by default, the user's MNIST) or a CSV table.
// Evaluation: pseudo-log-likelihood (sklearn's definition), reconstruction error, exact log Z
// when the smaller layer is small, AIS log Z forward and reverse with error bars, and the
// test log-likelihood from each. Pictures: samples, filters, AIS convergence against exact.
#include <cmath>
#include <sstream>

#include "joule/core/runtime.h"
#include "joule/data/csv.h"
#include "joule/data/idx.h"
#include "joule/data/image_transforms.h"
#include "joule/eval/partition.h"
#include "joule/eval/pseudo_likelihood.h"
#include "joule/io/plot.h"
#include "joule/models/rbm.h"
#include "joule/objectives/rbm_gradient.h"
#include "tools/joule/pipeline.h"
#include "tools/joule/pipeline_common.h"

namespace joule::cli {
namespace {

std::string fmt(double v, int precision = 4) {
  std::ostringstream os;
  os.precision(precision);
  os << v;
  return os.str();
}

class RbmPipeline : public Pipeline {
 public:
  void build(const Config& cfg, torch::Device device) override {
    seed_ = static_cast<uint64_t>(cfg.get_int("run.seed"));
    auto gen_data = make_generator(derive_seed(seed_, 1));
    auto gen_split = make_generator(derive_seed(seed_, 2));
    auto gen_init = make_generator(derive_seed(seed_, 3));
    // Fashion-MNIST is the RBM's default dataset. The shared default of data.dataset is a 2-D
    // toy set no RBM here reads, so that value (also as saved in a run's config.toml) means
    // "not chosen".
    dataset_ = cfg.get_string("data.dataset");
    if (dataset_ == Registry::global().find("data.dataset")->default_value) dataset_ = "fashion-mnist";
    gaussian_ = cfg.get_string("rbm.visible") == "gaussian";
    load_data(cfg, gen_split);

    // Validation rows for the periodic pseudo-likelihood, held out of training.
    const int64_t n = train_x_.size(0);
    int64_t n_val = cfg.get_int("rbm.validation");
    if (dataset_ == "csv") n_val = std::min(n_val, n / 10);
    if (n_val >= n) {
      throw UsageError("rbm.validation = " + std::to_string(n_val) + " leaves no training rows (the data has " +
                       std::to_string(n) + ")");
    }
    auto split = data::train_validation_split(train_x_, {}, n_val, gen_split);
    train_x_ = split.train_x;
    valid_x_ = split.valid_x;
    preprocess(cfg, gen_data);

    const int64_t batch = cfg.get_int("train.batch_size");
    if (batch > train_x_.size(0)) {
      throw UsageError("train.batch_size = " + std::to_string(batch) + " exceeds the " +
                       std::to_string(train_x_.size(0)) + " training rows");
    }
    data_ = std::make_shared<data::TensorDataset>(train_x_.to(device));
    steps_per_epoch_ = train_x_.size(0) / batch;
    epochs_ = cfg.get_int("rbm.epochs");

    const int64_t nv = train_x_[0].numel();
    auto opts = RbmOptions(nv, cfg.get_int("rbm.hidden"))
                    .visible_type(gaussian_ ? RbmVisible::kGaussian : RbmVisible::kBernoulli)
                    .sigma(cfg.get_float("rbm.sigma"))
                    .learn_sigma(gaussian_ && cfg.get_bool("rbm.learn_sigma"))
                    .init_std(cfg.get_float("rbm.init_std"))
                    .event_shape(event_shape_);
    if (!gaussian_ && cfg.get_bool("rbm.learn_sigma")) throw UsageError("rbm.learn_sigma needs rbm.visible = \"gaussian\"");
    rbm_ = Rbm(opts);
    rbm_->reset_parameters(gen_init);
    if (cfg.get_bool("rbm.init_visible_bias")) rbm_->init_visible_from_data(train_x_);
    rbm_->to(device);
    model_ = rbm_.ptr();

    RbmGradientOptions g;
    g.kind(parse_rbm_gradient(cfg.get_string("rbm.gradient")))
        .k(cfg.get_int("rbm.k"))
        .chains(cfg.get_int("rbm.chains"))
        .persistent_hidden(cfg.get_bool("rbm.persistent_hidden"))
        .tempering(ParallelTemperingOptions(cfg.get_int("rbm.pt_temperatures")).min_beta(cfg.get_float("rbm.pt_min_beta")))
        .sparsity_target(cfg.get_float("rbm.sparsity_target"))
        .sparsity_cost(cfg.get_float("rbm.sparsity_cost"))
        .sparsity_decay(cfg.get_float("rbm.sparsity_decay"));
    if (g.sparsity_cost() > 0 && g.sparsity_target() <= 0) {
      throw UsageError("rbm.sparsity_cost > 0 needs rbm.sparsity_target in (0, 1)");
    }
    gradient_ = std::make_shared<RbmGradient>(g);
    objective_ = gradient_;
    if (cfg.command() == "train") eval_every_ = cfg.get_int("train.eval_every");
  }

  void add_callbacks(train::Trainer& trainer, RunContext& ctx) override {
    // rbm.epochs is the natural unit for RBMs; it overrides train.steps.
    if (epochs_ > 0) trainer.set_total_steps(epochs_ * steps_per_epoch_);
    if (valid_x_.size(0) == 0) return;
    auto valid = valid_x_.slice(0, 0, std::min<int64_t>(valid_x_.size(0), 2000)).to(ctx.device);
    add_periodic_evaluation(
        trainer, ctx, eval_every_,
        [this, valid](train::Trainer&) {
          Measurements values{{"recon_valid", eval::reconstruction_error(*rbm_, valid)}};
          if (binary_) {
            auto gen = make_generator(derive_seed(seed_, 6));
            values.emplace_back("pll_valid", eval::pseudo_log_likelihood(*rbm_, valid, gen).mean().item<double>());
          }
          return values;
        },
        "pll_valid", "pll");
  }

  std::vector<ReportLine> evaluate(train::Trainer& trainer, const Config& cfg, RunContext& ctx) override {
    run_evaluation(trainer, cfg, ctx);
    return report_;
  }

  std::vector<std::string> pictures(train::Trainer& trainer, const Config& cfg, RunContext& ctx,
                                    const std::string& prefix) override {
    run_evaluation(trainer, cfg, ctx);
    std::vector<std::string> files;
    auto gen = make_generator(derive_seed(seed_, 7), ctx.device);
    if (!event_shape_.empty() && event_shape_.size() == 3) {
      const int64_t n = 64;
      auto data_grid = io::image_grid(display(test_x_.slice(0, 0, n)), 8, 2, std::make_pair(0.0, 1.0));
      auto chains = fresh_chains(n, cfg.get_int("eval.chain_steps"), gen, /*mean_last=*/true);
      std::vector<io::Image> panels{data_grid, io::image_grid(display(chains), 8, 2, std::make_pair(0.0, 1.0))};
      if (gradient_->chains().defined()) {
        panels.push_back(io::image_grid(display(gradient_->chains().slice(0, 0, n).cpu()), 8, 2, std::make_pair(0.0, 1.0)));
      } else if (gradient_->tempering() && gradient_->tempering()->initialized()) {
        auto pt = gradient_->tempering()->visible()[0].slice(0, 0, n).cpu();
        panels.push_back(io::image_grid(display(pt), 8, 2, std::make_pair(0.0, 1.0)));
      }
      files.push_back(prefix + "samples.png");
      io::write_png(files.back(), io::hstack(panels));

      // Filters: each hidden unit's weights as an image, scaled to its own range.
      auto w = rbm_->weight.detach().cpu().slice(0, 0, std::min<int64_t>(100, rbm_->num_hidden()));
      auto lo = std::get<0>(w.min(1, true)), hi = std::get<0>(w.max(1, true));
      auto scaled = (w - lo) / (hi - lo).clamp_min(1e-12);
      std::vector<int64_t> shape{w.size(0)};
      shape.insert(shape.end(), event_shape_.begin(), event_shape_.end());
      files.push_back(prefix + "filters.png");
      io::save_image_grid(scaled.reshape(shape), files.back(), 10, 2, std::make_pair(0.0, 1.0));
    }
    if (!ais_curve_.empty()) {
      files.push_back(prefix + "logz.png");
      io::write_png(files.back(), logz_plot());
    }
    if (!ctx.run_dir.empty()) {
      const std::string curves = prefix + "curves.png";
      if (write_rbm_curves(ctx.run_dir + "/metrics.jsonl", curves)) files.push_back(curves);
    }
    return files;
  }

  torch::Tensor sample(train::Trainer& trainer, const Config& cfg, RunContext& ctx) override {
    auto gen = make_generator(static_cast<uint64_t>(cfg.get_int("run.seed")), ctx.device);
    const int64_t n = cfg.get_int("sample.n");
    torch::Tensor x0;
    const auto& chains = gradient_->chains();
    if (cfg.get_string("sample.init") == "buffer" && chains.defined()) {
      auto idx = torch::randint(chains.size(0), {n}, gen, torch::TensorOptions().dtype(torch::kLong).device(chains.device()));
      x0 = chains.index_select(0, idx);
    } else {
      x0 = TemperedRbm(*rbm_, RbmBase::from_data(*rbm_, train_x_)).sample_base(n, gen);
    }
    auto v = rbm_->gibbs(x0, cfg.get_int("sample.steps"), gen).cpu();
    std::vector<int64_t> shape{n};
    const auto event = rbm_->event_shape();  // by value: one copy, not two temporaries
    shape.insert(shape.end(), event.begin(), event.end());
    return to_data_space(v).reshape(shape);
  }

 private:
  void load_data(const Config& cfg, at::Generator& gen) {
    const std::string path = cfg.get_string("data.path");
    if (dataset_ == "fashion-mnist" || dataset_ == "mnist") {
      if (dataset_ == "mnist" && path.empty()) {
        throw UsageError("data.dataset = \"mnist\" needs data.path = <folder with the MNIST IDX files "
                         "(train-images-idx3-ubyte[.gz], ...)>");
      }
      const std::string dir = path.empty() ? data::kFashionMnistDir : path;
      auto tr = data::load_mnist_split(dir, "train");
      auto te = data::load_mnist_split(dir, "t10k");
      train_x_ = tr.images;
      test_x_ = te.images;
      event_shape_ = {1, train_x_.size(2), train_x_.size(3)};
      const int64_t n_train = cfg.get_int("rbm.n_train"), n_test = cfg.get_int("rbm.n_test");
      if (n_train > 0) train_x_ = train_x_.slice(0, 0, std::min(train_x_.size(0), n_train));
      if (n_test > 0) test_x_ = test_x_.slice(0, 0, std::min(test_x_.size(0), n_test));
    } else if (dataset_ == "csv") {
      if (path.empty()) throw UsageError("data.dataset = \"csv\" needs data.path = \"<file.csv>\"");
      auto table = data::read_csv(path, data::CsvOptions().label_column(cfg.get_string("rbm.label_column")));
      auto x = table.features.index_select(0, torch::randperm(table.features.size(0), gen, torch::kLong));
      const int64_t n_test = cfg.get_int("rbm.n_test") > 0 ? std::min<int64_t>(cfg.get_int("rbm.n_test"), x.size(0) / 2)
                                                            : x.size(0) / 5;
      if (x.size(0) - n_test < 2) throw UsageError("CSV '" + path + "' has too few rows to train on");
      test_x_ = x.slice(0, x.size(0) - n_test);
      train_x_ = x.slice(0, 0, x.size(0) - n_test);
      event_shape_ = {};
    } else {
      throw UsageError("method = \"rbm\" reads images or tables: data.dataset = \"fashion-mnist\" (default), "
                       "\"mnist\" (with data.path) or \"csv\" (with data.path); got \"" + dataset_ + "\"");
    }
    data::check_finite(train_x_, "training data");
    data::check_finite(test_x_, "test data");
  }

  void preprocess(const Config& cfg, at::Generator& gen) {
    if (gaussian_) {
      if (cfg.get_string("rbm.scaling") == "standardize") {
        scaler_ = data::Standardizer::fit(train_x_);
        for (auto* x : {&train_x_, &valid_x_, &test_x_}) *x = scaler_->apply(*x);
      }
      binary_ = false;
      return;
    }
    const auto lo = std::min(train_x_.min().item<double>(), test_x_.min().item<double>());
    const auto hi = std::max(train_x_.max().item<double>(), test_x_.max().item<double>());
    if (lo < 0 || hi > 1) {
      throw UsageError("a Bernoulli RBM needs data in [0, 1] (binary, or probabilities to binarise); the data spans [" +
                       fmt(lo) + ", " + fmt(hi) + "]. Rescale it, or use rbm.visible = \"gaussian\"");
    }
    const auto b = data::parse_binarize(cfg.get_string("rbm.binarize"));
    const double t = cfg.get_float("rbm.threshold");
    for (auto* x : {&train_x_, &valid_x_, &test_x_}) {
      if (b == data::Binarize::kThreshold) *x = data::binarize_threshold(*x, t);
      if (b == data::Binarize::kStochastic) *x = data::binarize_stochastic(*x, gen);
    }
    binary_ = train_x_.eq(0).logical_or(train_x_.eq(1)).all().item<bool>() &&
              test_x_.eq(0).logical_or(test_x_.eq(1)).all().item<bool>();
  }

  // Undoes the standardisation (Gaussian visibles); returns [N, V] on the CPU.
  torch::Tensor to_data_space(const torch::Tensor& v) const {
    auto x = v.cpu();
    if (scaler_) {
      std::vector<int64_t> shape{v.size(0)};
      auto one = scaler_->mean.sizes();
      shape.insert(shape.end(), one.begin(), one.end());
      x = scaler_->invert(x.reshape(shape));
    }
    return x.reshape({v.size(0), -1});
  }

  // Images for display in [0, 1].
  torch::Tensor display(const torch::Tensor& v) const {
    std::vector<int64_t> shape{v.size(0)};
    shape.insert(shape.end(), event_shape_.begin(), event_shape_.end());
    return to_data_space(v).clamp(0.0, 1.0).reshape(shape);
  }

  torch::Tensor fresh_chains(int64_t n, int64_t steps, at::Generator& gen, bool mean_last) {
    auto x0 = TemperedRbm(*rbm_, RbmBase::from_data(*rbm_, train_x_)).sample_base(n, gen);
    return rbm_->gibbs(x0, std::max<int64_t>(steps, 1), gen, mean_last).cpu();
  }

  void run_evaluation(train::Trainer& trainer, const Config& cfg, RunContext& ctx) {
    if (evaluated_step_ == trainer.step_count()) return;  // evaluate() and pictures() share one run
    evaluated_step_ = trainer.step_count();
    report_.clear();
    ais_curve_.clear();
    exact_log_z_.reset();
    auto& rbm = *rbm_;
    auto test = test_x_.to(ctx.device);
    auto gen = make_generator(derive_seed(seed_, 4), ctx.device);
    const std::string scale = gaussian_ && scaler_ ? " (standardised data)" : "";

    if (binary_) {
      report_.push_back({"pll_test", eval::pseudo_log_likelihood(rbm, test, gen).mean().item<double>(),
                         "pseudo-log-likelihood, sklearn's score_samples definition (nats)"});
    }
    report_.push_back({"recon_test", eval::reconstruction_error(rbm, test), "mean squared reconstruction error per unit"});
    const double mean_f = -eval::log_likelihood(rbm, test, 0.0).mean().item<double>();  // mean F(test)
    // A log-likelihood needs data the model is a density for: binary (Bernoulli) or real (Gaussian).
    const bool has_ll = binary_ || gaussian_;

    const int64_t units = eval::exact_enumeration_units(rbm);
    if (units <= cfg.get_int("eval.exact_max_units")) {
      exact_log_z_ = eval::log_partition_exact(rbm, units);
      report_.push_back({"log_z_exact", *exact_log_z_, "exact, by enumerating 2^" + std::to_string(units) + " states"});
      if (has_ll) report_.push_back({"ll_test_exact", -mean_f - *exact_log_z_, "exact test log-likelihood (nats)" + scale});
    }

    // AIS from the data's base-rate model. Reverse runs start from the forward runs' final states
    // resampled by weight (eval.ais_reverse_from = forward, the default) or from chains.
    const int64_t runs = cfg.get_int("eval.ais_runs"), steps = cfg.get_int("eval.ais_steps");
    auto base = RbmBase::from_data(rbm, train_x_);
    auto opts = eval::AisOptions()
                    .runs(runs)
                    .steps(steps)
                    .schedule(eval::parse_ais_schedule(cfg.get_string("eval.ais_schedule")))
                    .base(base)
                    .reverse(cfg.get_bool("eval.ais_reverse"));
    const int64_t chain_steps = cfg.get_int("eval.chain_steps");
    std::string reverse_from = "test rows";
    const bool from_forward = cfg.get_string("eval.ais_reverse_from") == "forward";
    opts.reverse_burn_in(std::max<int64_t>(chain_steps, 0));
    if (opts.reverse() && from_forward) reverse_from = "the forward runs' final states (resampled by weight)";
    if (opts.reverse() && !from_forward) {
      // Reverse AIS needs samples of the RBM: continue the persistent chains when training
      // kept some (PCD, PT at β = 1), otherwise start Gibbs chains at test rows.
      torch::Tensor pool = test;
      if (gradient_->chains().defined()) {
        pool = gradient_->chains(), reverse_from = "the PCD chains";
      } else if (gradient_->tempering() && gradient_->tempering()->initialized()) {
        pool = gradient_->tempering()->visible()[0], reverse_from = "the PT chains";
      }
      auto idx = torch::randint(pool.size(0), {runs}, gen, torch::TensorOptions().dtype(torch::kLong).device(pool.device()));
      opts.reverse_init(pool.index_select(0, idx));
    }
    // The convergence curve: the same estimate with 1/10 and 1/3 of the distributions.
    for (int64_t k : {steps / 10, steps / 3}) {
      if (k < 10) continue;
      auto r = eval::log_partition_ais(rbm, eval::AisOptions(opts).steps(k), gen);
      ais_curve_.push_back({k, r});
    }
    auto r = eval::log_partition_ais(rbm, opts, gen);
    ais_curve_.push_back({steps, r});
    report_.push_back({"log_z_ais", r.log_z, "AIS, " + std::to_string(runs) + " runs x " + std::to_string(steps) +
                                                 " distributions (an estimate from below)"});
    report_.push_back({"log_z_ais_se", r.log_z_se, "standard error of log_z_ais (delta method)"});
    report_.push_back({"log_z_ais_lower", r.log_z_lower, "log(Z - 3 sd), Salakhutdinov & Murray's interval"});
    report_.push_back({"log_z_ais_upper", r.log_z_upper, "log(Z + 3 sd)"});
    report_.push_back({"ais_ess", r.ess, "effective sample size of the AIS weights (of " + std::to_string(runs) + ")"});
    if (opts.reverse()) {
      const std::string how =
          "reverse AIS from " + reverse_from + " + " + std::to_string(chain_steps) + " Gibbs sweeps";
      report_.push_back({"log_z_ais_reverse", r.reverse_log_z, how + " (from above if they are model samples)"});
      report_.push_back({"log_z_ais_reverse_se", r.reverse_log_z_se, "standard error of log_z_ais_reverse"});
      report_.push_back({"ais_gap", r.gap(), "reverse - forward: ~0 (within a few se) when AIS is reliable; >> 0: too few "
                                             "distributions; < 0: the reverse start states are not model samples"});
    }
    if (has_ll) {
      report_.push_back({"ll_test_ais", -mean_f - r.log_z, "test log-likelihood with log_z_ais (nats)" + scale});
      if (opts.reverse()) {
        report_.push_back({"ll_test_ais_reverse", -mean_f - r.reverse_log_z,
                           "test log-likelihood with log_z_ais_reverse (conservative only if the reverse start states are model samples)"});
      }
    }
    if (exact_log_z_) report_.push_back({"ais_error", r.log_z - *exact_log_z_, "log_z_ais - log_z_exact"});
    if (auto* pt = gradient_->tempering()) {
      auto acc = pt->swap_acceptance();
      double lo = 1.0;
      for (double a : acc) if (std::isfinite(a)) lo = std::min(lo, a);
      report_.push_back({"pt_swap_accept", pt->mean_swap_acceptance(), "mean swap acceptance over neighbouring pairs"});
      report_.push_back({"pt_swap_accept_min", lo, "lowest pair (near 0: add temperatures)"});
    }
  }

  io::Image logz_plot() const {
    io::Series fwd{"forward AIS", {}, {}, io::palette(0)}, rev{"reverse AIS", {}, {}, io::palette(1)};
    io::Series fwd_lo{"forward - 3 se", {}, {}, io::palette(0), true}, fwd_hi{"", {}, {}, io::palette(0), true};
    for (const auto& p : ais_curve_) {
      const double x = std::log10(double(p.first));
      fwd.x.push_back(x), fwd.y.push_back(p.second.log_z);
      fwd_lo.x.push_back(x), fwd_lo.y.push_back(p.second.log_z - 3 * p.second.log_z_se);
      fwd_hi.x.push_back(x), fwd_hi.y.push_back(p.second.log_z + 3 * p.second.log_z_se);
      if (std::isfinite(p.second.reverse_log_z)) rev.x.push_back(x), rev.y.push_back(p.second.reverse_log_z);
    }
    fwd_hi.name = "forward + 3 se";
    std::vector<io::Series> s{fwd, fwd_lo, fwd_hi};
    if (!rev.x.empty()) s.push_back(rev);
    std::vector<io::RefLine> ref;
    if (exact_log_z_) ref.push_back({"exact log Z", *exact_log_z_, io::colors::black});
    return io::line_plot(s, "log Z: AIS vs number of distributions", "log10(intermediate distributions)", "log Z", 640,
                         420, false, ref);
  }

  static bool write_rbm_curves(const std::string& metrics_path, const std::string& png_path) {
    auto rows = train::MetricsLogger::read(metrics_path);
    io::Series gap{"cd gap", {}, {}, io::palette(0)}, pll{"pll (validation)", {}, {}, io::palette(1)};
    io::Series recon{"reconstruction error (validation)", {}, {}, io::palette(2)};
    for (const auto& row : rows) {
      for (const auto& kv : row.values) {
        if (kv.first == "cd_gap") gap.x.push_back(double(row.step)), gap.y.push_back(kv.second);
        if (kv.first == "pll_valid") pll.x.push_back(double(row.step)), pll.y.push_back(kv.second);
        if (kv.first == "recon_valid") recon.x.push_back(double(row.step)), recon.y.push_back(kv.second);
      }
    }
    std::vector<io::Image> panels;
    if (!gap.x.empty()) panels.push_back(io::line_plot({gap}, "mean F(data) - mean F(negatives)", "step", "nats", 480, 360));
    if (!pll.x.empty()) panels.push_back(io::line_plot({pll}, "validation pseudo-log-likelihood", "step", "nats", 480, 360));
    if (!recon.x.empty()) panels.push_back(io::line_plot({recon}, "validation reconstruction error", "step", "mse", 480, 360));
    if (panels.empty()) return false;
    io::write_png(png_path, io::hstack(panels));
    return true;
  }

  uint64_t seed_ = 0;
  std::string dataset_;
  bool gaussian_ = false, binary_ = false;
  std::vector<int64_t> event_shape_;
  torch::Tensor train_x_, valid_x_, test_x_;
  c10::optional<data::Standardizer> scaler_;
  Rbm rbm_{nullptr};
  std::shared_ptr<RbmGradient> gradient_;
  int64_t steps_per_epoch_ = 0, epochs_ = 0, eval_every_ = 0;
  int64_t evaluated_step_ = -1;
  std::vector<ReportLine> report_;
  std::vector<std::pair<int64_t, eval::AisResult>> ais_curve_;
  c10::optional<double> exact_log_z_;
};

}  // namespace

std::unique_ptr<Pipeline> make_rbm_pipeline() { return std::make_unique<RbmPipeline>(); }

}  // namespace joule::cli
