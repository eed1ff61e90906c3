// method = "rbm": RBMs trained with CD-k, PCD or parallel tempering; evaluated by
// pseudo-likelihood, reconstruction error and exact / AIS log Z.
#include "joule/methods/rbm.h"

#include <cmath>
#include <iostream>

#include "joule/core/runtime.h"
#include "joule/data/csv.h"
#include "joule/data/idx.h"
#include "joule/data/split.h"
#include "joule/eval/pseudo_likelihood.h"
#include "joule/io/plot.h"

namespace joule::methods {

using config::ConfigError;
using config::Doc;

void RbmConfig::Data::visit(config::Fields& f) {
  f("dataset", dataset,
    Doc("fashion-mnist (Debian's copy, or data.path), mnist (data.path: the IDX files) or csv (data.path)")
        .choices({"fashion-mnist", "mnist", "csv"}));
  f("path", path, "folder with the IDX files, or the CSV file");
}

void RbmConfig::Rbm::visit(config::Fields& f) {
  f("hidden", hidden, Doc("hidden units H").min(1));
  f("visible", visible,
    Doc("visible units (gaussian: Gaussian–Bernoulli RBM, E = Σ(v−b)²/2σ² − cᵀh − hᵀW(v/σ²))").choices({"bernoulli", "gaussian"}));
  f("sigma", sigma, Doc("visible std σ of a Gaussian RBM (initial value if learned)").min(1e-6));
  f("learn_sigma", learn_sigma, "learn log σ² of Gaussian visibles (Cho et al. 2011)");
  f("init_std", init_std, Doc("initial weights N(0, init_std²) (Hinton's guide: 0.01)").min(0.0));
  f("init_visible_bias", init_visible_bias, "start the visible biases at the data's base rates (log p/(1−p); the mean for Gaussian)");
  f("gradient", gradient,
    Doc("cd = CD-k from the data, pcd = persistent chains, pt = parallel tempering").choices({"cd", "pcd", "pt"}));
  f("k", k, Doc("Gibbs sweeps per update (PT: sweep+swap rounds)").min(1));
  f("chains", chains, Doc("persistent chains / PT replica sets (0 = train.batch_size)").min(0));
  f("persistent_hidden", persistent_hidden, "pcd keeps the chains' hidden samples between updates (sklearn's SML; one product fewer)");
  f("pt_temperatures", pt_temperatures, Doc("parallel tempering temperatures K").min(2).max(1000));
  f("pt_min_beta", pt_min_beta, Doc("smallest inverse temperature (β evenly spaced from 1)").min(0.0).max(0.999999));
  f("sparsity_target", sparsity_target, Doc("target mean hidden activation (0 = no sparsity term)").min(0.0).max(0.999999));
  f("sparsity_cost", sparsity_cost, Doc("weight of the sparsity term (Hinton's guide §11)").min(0.0));
  f("sparsity_decay", sparsity_decay, Doc("decay of the moving average of hidden activations").min(0.0).max(0.999999));
  f("epochs", epochs, Doc("passes over the training set; sets train.steps (0 = use train.steps)").min(0));
  f("binarize", binarize,
    Doc("Bernoulli: pixels > rbm.threshold -> 1, or one Bernoulli(pixel) draw, or keep [0,1]").choices({"threshold", "stochastic", "none"}));
  f("threshold", threshold, Doc("binarisation threshold on [0, 1] pixels").min(0.0).max(1.0));
  f("scaling", scaling, Doc("Gaussian: per-feature standardisation fitted on the training split").choices({"standardize", "none"}));
  f("n_train", n_train, Doc("training images used, the first n of the train split (0 = all)").min(0));
  f("n_test", n_test, Doc("test images used (0 = all); csv: held-out rows (0 = 20%)").min(0));
  f("validation", validation, Doc("training rows held out for validation (csv: at most 10%)").min(0));
  f("label_column", label_column, "csv: a label column to drop (name or 0-based index; \"\" = none)");
}

void RbmConfig::Eval::visit(config::Fields& f) {
  f("ais_runs", ais_runs, Doc("AIS runs (importance weights) for log Z").min(2));
  f("ais_steps", ais_steps, Doc("AIS intermediate distributions (Salakhutdinov & Murray use 14500)").min(1));
  f("ais_schedule", ais_schedule,
    Doc("AIS β spacing (sm: denser near β = 1, as Salakhutdinov & Murray 2008)").choices({"sm", "linear"}));
  f("ais_reverse", ais_reverse, "also run reverse AIS from model samples (an upper estimate; a gap = unreliable AIS)");
  f("ais_reverse_from", ais_reverse_from,
    Doc("reverse AIS starts from the forward runs' final states resampled by weight, or from the training chains (PCD/PT; "
        "else test rows), either followed by eval.chain_steps Gibbs sweeps")
        .choices({"forward", "chains"}));
  f("exact_max_units", exact_max_units,
    Doc("compute exact log Z when the smaller layer has at most this many units (2^units states)").min(0).max(30));
  f("chain_steps", chain_steps, Doc("Gibbs sweeps before reverse AIS, for the sample picture and the quality scores").min(0));
  QualityConfig::visit(f);
}

RbmConfig::RbmConfig() {
  // Hinton's guide and sklearn's BernoulliRBM: SGD with momentum, small batches; 5 epochs of the
  // 55 000 Fashion-MNIST training rows at batch 20.
  rbm.epochs = 0;
  train.steps = 13750;
  train.batch_size = 20;
  train.eval_every = 1000;
  train.log_every = 250;
  train.checkpoint_every = 5000;
  train.optimizer.optimizer = "sgd";
  train.optimizer.lr = 0.05;
  train.optimizer.lr_schedule = "linear";
  train.optimizer.momentum = 0.5;
  train.optimizer.weight_decay = 1e-4;
}

void RbmConfig::visit(config::Fields& f) {
  f.section("run", run);
  f.section("data", data);
  f.section("rbm", rbm);
  f.section("train", train);
  f.section("eval", eval);
  f.section("sample", sample);
}

RbmMethod::RbmMethod(RbmConfig config) : config_(std::move(config)) {}

Parts RbmMethod::build_parts(torch::Device device) {
  auto& cfg = config_;
  const uint64_t seed = static_cast<uint64_t>(cfg.run.seed);
  auto gen_data = make_generator(derive_seed(seed, 1));
  auto gen_split = make_generator(derive_seed(seed, 2));
  auto gen_init = make_generator(derive_seed(seed, 3));
  gaussian_ = cfg.rbm.visible == "gaussian";
  load_data(gen_split);

  // Validation rows for the periodic pseudo-likelihood, held out of training.
  const int64_t n = train_x_.size(0);
  int64_t n_val = cfg.rbm.validation;
  if (cfg.data.dataset == "csv") n_val = std::min(n_val, n / 10);
  if (n_val >= n) {
    throw ConfigError("rbm.validation = " + std::to_string(n_val) + " leaves no training rows (the data has " +
                      std::to_string(n) + ")");
  }
  auto split = data::split_rows(data::Rows{train_x_, {}}, n_val, 0, gen_split);
  train_x_ = split.train.x;
  valid_x_ = split.valid.x;
  preprocess(gen_data);

  check_batch_size(cfg.train.batch_size, train_x_.size(0), "training rows");
  Parts parts;
  parts.data = std::make_shared<data::TensorDataset>(train_x_.to(device));
  // rbm.epochs is the natural unit for RBMs; it sets train.steps.
  if (cfg.rbm.epochs > 0) cfg.train.steps = cfg.rbm.epochs * (train_x_.size(0) / cfg.train.batch_size);

  if (!gaussian_ && cfg.rbm.learn_sigma) throw ConfigError("rbm.learn_sigma needs rbm.visible = \"gaussian\"");
  const int64_t nv = train_x_[0].numel();
  auto opts = RbmOptions(nv, cfg.rbm.hidden)
                  .visible_type(gaussian_ ? RbmVisible::kGaussian : RbmVisible::kBernoulli)
                  .sigma(cfg.rbm.sigma)
                  .learn_sigma(gaussian_ && cfg.rbm.learn_sigma)
                  .init_std(cfg.rbm.init_std)
                  .event_shape(event_shape_);
  rbm_ = Rbm(opts);
  rbm_->reset_parameters(gen_init);
  if (cfg.rbm.init_visible_bias) rbm_->init_visible_from_data(train_x_);
  rbm_->to(device);
  parts.modules.add("model", rbm_.ptr());

  if (cfg.rbm.sparsity_cost > 0 && cfg.rbm.sparsity_target <= 0) {
    throw ConfigError("rbm.sparsity_cost > 0 needs rbm.sparsity_target in (0, 1)");
  }
  RbmGradientOptions g;
  g.kind(parse_rbm_gradient(cfg.rbm.gradient))
      .k(cfg.rbm.k)
      .chains(cfg.rbm.chains)
      .persistent_hidden(cfg.rbm.persistent_hidden)
      .tempering(ParallelTemperingOptions(cfg.rbm.pt_temperatures).min_beta(cfg.rbm.pt_min_beta))
      .sparsity_target(cfg.rbm.sparsity_target)
      .sparsity_cost(cfg.rbm.sparsity_cost)
      .sparsity_decay(cfg.rbm.sparsity_decay);
  gradient_ = std::make_shared<RbmGradient>(g);
  parts.objective = gradient_;
  return parts;
}

void RbmMethod::load_data(at::Generator& gen) {
  const auto& cfg = config_;
  const std::string& dataset = cfg.data.dataset;
  const std::string& path = cfg.data.path;
  if (dataset == "fashion-mnist" || dataset == "mnist") {
    if (dataset == "mnist" && path.empty()) {
      throw ConfigError("data.dataset = \"mnist\" needs data.path = <folder with the MNIST IDX files "
                        "(train-images-idx3-ubyte[.gz], ...)>");
    }
    const std::string dir = path.empty() ? data::kFashionMnistDir : path;
    train_x_ = data::load_mnist_split(dir, "train").images;
    test_x_ = data::load_mnist_split(dir, "t10k").images;
    event_shape_ = {1, train_x_.size(2), train_x_.size(3)};
    if (cfg.rbm.n_train > 0) train_x_ = train_x_.slice(0, 0, std::min(train_x_.size(0), cfg.rbm.n_train));
    if (cfg.rbm.n_test > 0) test_x_ = test_x_.slice(0, 0, std::min(test_x_.size(0), cfg.rbm.n_test));
  } else {
    if (path.empty()) throw ConfigError("data.dataset = \"csv\" needs data.path = \"<file.csv>\"");
    data::Rows all{data::read_csv(path, data::CsvOptions().label_column(cfg.rbm.label_column)).features, {}};
    const int64_t n_test = cfg.rbm.n_test > 0 ? std::min<int64_t>(cfg.rbm.n_test, all.size() / 2) : all.size() / 5;
    auto split = data::split_rows(all, 0, n_test, gen, /*min_train=*/2);
    test_x_ = split.test.x;
    train_x_ = split.train.x;
    event_shape_ = {};
  }
  data::check_finite(train_x_, "training data");
  data::check_finite(test_x_, "test data");
}

void RbmMethod::preprocess(at::Generator& gen) {
  const auto& cfg = config_;
  if (gaussian_) {
    if (cfg.rbm.scaling == "standardize") {
      scaler_ = data::Standardizer::fit(train_x_);
      for (auto* x : {&train_x_, &valid_x_, &test_x_}) *x = scaler_->apply(*x);
    }
    binary_ = false;
    return;
  }
  const auto lo = std::min(train_x_.min().item<double>(), test_x_.min().item<double>());
  const auto hi = std::max(train_x_.max().item<double>(), test_x_.max().item<double>());
  if (lo < 0 || hi > 1) {
    throw ConfigError("a Bernoulli RBM needs data in [0, 1] (binary, or probabilities to binarise); the data spans [" +
                      io::format_number(lo, 4) + ", " + io::format_number(hi, 4) +
                      "]. Rescale it, or use rbm.visible = \"gaussian\"");
  }
  const auto b = data::parse_binarize(cfg.rbm.binarize);
  for (auto* x : {&train_x_, &valid_x_, &test_x_}) {
    if (b == data::Binarize::kThreshold) *x = data::binarize_threshold(*x, cfg.rbm.threshold);
    if (b == data::Binarize::kStochastic) *x = data::binarize_stochastic(*x, gen);
  }
  binary_ = train_x_.eq(0).logical_or(train_x_.eq(1)).all().item<bool>() &&
            test_x_.eq(0).logical_or(test_x_.eq(1)).all().item<bool>();
}

void RbmMethod::add_callbacks(const Monitor& monitor) {
  if (valid_x_.size(0) == 0) return;
  auto valid = valid_x_.slice(0, 0, std::min<int64_t>(valid_x_.size(0), 2000)).to(device());
  const uint64_t seed = static_cast<uint64_t>(config_.run.seed);
  add_periodic_evaluation(
      monitor, config_.train.eval_every,
      [this, valid, seed]() {
        std::vector<std::pair<std::string, double>> values{{"recon_valid", eval::reconstruction_error(*rbm_, valid)}};
        if (binary_) {
          auto gen = make_generator(derive_seed(seed, 6));
          values.emplace_back("pll_valid", eval::pseudo_log_likelihood(*rbm_, valid, gen).mean().item<double>());
        }
        return values;
      },
      "pll_valid", "pll");
}

// Undoes the standardisation (Gaussian visibles); returns [N, V] on the CPU.
at::Tensor RbmMethod::to_data_space(const at::Tensor& v) const {
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
at::Tensor RbmMethod::display(const at::Tensor& v) const {
  std::vector<int64_t> shape{v.size(0)};
  shape.insert(shape.end(), event_shape_.begin(), event_shape_.end());
  return to_data_space(v).clamp(0.0, 1.0).reshape(shape);
}

void RbmMethod::add_sample_quality(eval::Report& r) {
  const auto& cfg = config_;
  if (event_shape_.size() != 3) throw ConfigError("eval.feature_run scores image samples, but this RBM's data are not images");
  // The feature classifier sees images in [−1, 1]; binary samples and binarised data map alike.
  const auto image = [this](const at::Tensor& v) { return display(v.cpu()) * 2.0 - 1.0; };
  const uint64_t seed = derive_seed(static_cast<uint64_t>(cfg.run.seed), 12);
  const int64_t n = cfg.eval.quality_n;
  LabelledDataConfig images;  // the feature classifier of eval.feature_run = "auto" learns the same files
  images.dataset = cfg.data.dataset;
  images.path = cfg.data.path;
  SampleQuality quality(resolve_feature_run(cfg.eval.feature_run, images, {}, &std::cerr), image(test_x_.slice(0, 0, n)),
                        image(train_x_.slice(0, 0, n)), device(), seed, n);
  quality.add_floor_lines(r);
  auto gen = make_generator(derive_seed(seed, 1), device());
  SampleQuality::add_lines(r, "quality.fresh.", quality.score(image(fresh_chains(n, cfg.eval.chain_steps, gen, false))),
                           std::to_string(cfg.eval.chain_steps) + " Gibbs sweeps from the base-rate model");
  at::Tensor chains;
  if (gradient_->chains().defined()) {
    chains = gradient_->chains();
  } else if (gradient_->tempering() && gradient_->tempering()->initialized()) {
    chains = gradient_->tempering()->visible()[0];
  }
  if (chains.defined() && chains.size(0) > 3) {
    SampleQuality::add_lines(r, "quality.chains.", quality.score(image(chains.slice(0, 0, n))),
                             "the persistent training chains (PCD, or PT at temperature 1)");
  }
}

at::Tensor RbmMethod::fresh_chains(int64_t n, int64_t steps, at::Generator& gen, bool mean_last) {
  auto x0 = TemperedRbm(*rbm_, RbmBase::from_data(*rbm_, train_x_)).sample_base(n, gen);
  return rbm_->gibbs(x0, std::max<int64_t>(steps, 1), gen, mean_last).cpu();
}

void RbmMethod::run_evaluation() {
  auto& t = trainer();
  if (evaluated_step_ == t.step_count()) return;  // evaluate() and pictures() share one run
  evaluated_step_ = t.step_count();
  const auto& cfg = config_;
  eval::Report& r = report_;
  r = eval::Report();
  r.method = name();
  r.step = t.step_count();
  auto& rbm = *rbm_;
  auto test = test_x_.to(device());
  auto gen = make_generator(derive_seed(static_cast<uint64_t>(cfg.run.seed), 4), device());
  const std::string scale = gaussian_ && scaler_ ? " (standardised data)" : "";

  if (binary_) {
    r.add("pll_test", eval::pseudo_log_likelihood(rbm, test, gen).mean().item<double>(),
          "pseudo-log-likelihood, sklearn's score_samples definition (nats)");
  }
  r.add("recon_test", eval::reconstruction_error(rbm, test), "mean squared reconstruction error per unit");
  const double mean_f = -eval::log_likelihood(rbm, test, 0.0).mean().item<double>();  // mean F(test)
  // A log-likelihood needs data the model is a density for: binary (Bernoulli) or real (Gaussian).
  const bool has_ll = binary_ || gaussian_;

  // Reverse AIS from the forward runs' final states (the default) or from model samples the
  // training kept (PCD chains, PT's β = 1 chains), else test rows.
  std::string reverse_from = "the forward runs' final states (resampled by weight)";
  at::Tensor pool;
  if (cfg.eval.ais_reverse && cfg.eval.ais_reverse_from == "chains") {
    pool = test, reverse_from = "test rows";
    if (gradient_->chains().defined()) {
      pool = gradient_->chains(), reverse_from = "the PCD chains";
    } else if (gradient_->tempering() && gradient_->tempering()->initialized()) {
      pool = gradient_->tempering()->visible()[0], reverse_from = "the PT chains";
    }
  }
  auto opts = eval::RbmLogZOptions()
                  .runs(cfg.eval.ais_runs)
                  .steps(cfg.eval.ais_steps)
                  .schedule(eval::parse_ais_schedule(cfg.eval.ais_schedule))
                  .reverse(cfg.eval.ais_reverse)
                  .reverse_burn_in(cfg.eval.chain_steps)
                  .exact_max_units(cfg.eval.exact_max_units);
  log_z_ = eval::rbm_log_z_protocol(rbm, RbmBase::from_data(rbm, train_x_), opts, pool, gen);
  const auto& lz = *log_z_;
  if (lz.exact) {
    r.add("log_z_exact", *lz.exact, "exact, by enumerating 2^" + std::to_string(lz.exact_units) + " states");
    if (has_ll) r.add("ll_test_exact", -mean_f - *lz.exact, "exact test log-likelihood (nats)" + scale);
  }
  const auto& a = lz.ais;
  const std::string runs = std::to_string(cfg.eval.ais_runs), steps = std::to_string(cfg.eval.ais_steps);
  r.add("log_z_ais", a.log_z, "AIS, " + runs + " runs x " + steps + " distributions (an estimate from below)");
  r.add("log_z_ais_se", a.log_z_se, "standard error of log_z_ais (delta method)");
  r.add("log_z_ais_lower", a.log_z_lower, "log(Z - 3 sd), Salakhutdinov & Murray's interval");
  r.add("log_z_ais_upper", a.log_z_upper, "log(Z + 3 sd)");
  r.add("ais_ess", a.ess, "effective sample size of the AIS weights (of " + runs + ")");
  if (cfg.eval.ais_reverse) {
    const std::string how = "reverse AIS from " + reverse_from + " + " + std::to_string(cfg.eval.chain_steps) + " Gibbs sweeps";
    r.add("log_z_ais_reverse", a.reverse_log_z, how + " (from above if they are model samples)");
    r.add("log_z_ais_reverse_se", a.reverse_log_z_se, "standard error of log_z_ais_reverse");
    r.add("ais_gap", a.gap(),
          "reverse - forward: ~0 (within a few se) when AIS is reliable; >> 0: too few distributions; < 0: the reverse start "
          "states are not model samples");
  }
  if (has_ll) {
    r.add("ll_test_ais", -mean_f - a.log_z, "test log-likelihood with log_z_ais (nats)" + scale);
    if (cfg.eval.ais_reverse) {
      r.add("ll_test_ais_reverse", -mean_f - a.reverse_log_z,
            "test log-likelihood with log_z_ais_reverse (conservative only if the reverse start states are model samples)");
    }
  }
  if (lz.exact) r.add("ais_error", a.log_z - *lz.exact, "log_z_ais - log_z_exact");
  if (!cfg.eval.feature_run.empty()) add_sample_quality(r);
  if (auto* pt = gradient_->tempering()) {
    double lo = 1.0;
    for (double v : pt->swap_acceptance()) {
      if (std::isfinite(v)) lo = std::min(lo, v);
    }
    r.add("pt_swap_accept", pt->mean_swap_acceptance(), "mean swap acceptance over neighbouring pairs");
    r.add("pt_swap_accept_min", lo, "lowest pair (near 0: add temperatures)");
  }
}

eval::Report RbmMethod::evaluate() {
  run_evaluation();
  return report_;
}

std::vector<std::string> RbmMethod::pictures(const std::string& prefix) {
  run_evaluation();
  std::vector<std::string> files;
  auto gen = make_generator(derive_seed(static_cast<uint64_t>(config_.run.seed), 7), device());
  if (event_shape_.size() == 3) {
    const int64_t n = 64;
    const auto range = std::make_pair(0.0, 1.0);
    auto chains = fresh_chains(n, config_.eval.chain_steps, gen, /*mean_last=*/true);
    std::vector<io::Image> panels{io::image_grid(display(test_x_.slice(0, 0, n)), 8, 2, range),
                                  io::image_grid(display(chains), 8, 2, range)};
    if (gradient_->chains().defined()) {
      panels.push_back(io::image_grid(display(gradient_->chains().slice(0, 0, n).cpu()), 8, 2, range));
    } else if (gradient_->tempering() && gradient_->tempering()->initialized()) {
      panels.push_back(io::image_grid(display(gradient_->tempering()->visible()[0].slice(0, 0, n).cpu()), 8, 2, range));
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
    io::save_image_grid(scaled.reshape(shape), files.back(), 10, 2, range);
  }
  if (log_z_ && !log_z_->curve.empty()) {
    io::Series fwd{"forward AIS", {}, {}, io::palette(0)}, rev{"reverse AIS", {}, {}, io::palette(1)};
    io::Series fwd_lo{"forward - 3 se", {}, {}, io::palette(0), true}, fwd_hi{"forward + 3 se", {}, {}, io::palette(0), true};
    for (const auto& p : log_z_->curve) {
      const double x = std::log10(double(p.first));
      fwd.x.push_back(x), fwd.y.push_back(p.second.log_z);
      fwd_lo.x.push_back(x), fwd_lo.y.push_back(p.second.log_z - 3 * p.second.log_z_se);
      fwd_hi.x.push_back(x), fwd_hi.y.push_back(p.second.log_z + 3 * p.second.log_z_se);
      if (std::isfinite(p.second.reverse_log_z)) rev.x.push_back(x), rev.y.push_back(p.second.reverse_log_z);
    }
    std::vector<io::Series> s{fwd, fwd_lo, fwd_hi};
    if (!rev.x.empty()) s.push_back(rev);
    std::vector<io::RefLine> ref;
    if (log_z_->exact) ref.push_back({"exact log Z", *log_z_->exact, io::colors::black});
    files.push_back(prefix + "logz.png");
    io::write_png(files.back(), io::line_plot(s, "log Z: AIS vs number of distributions", "log10(intermediate distributions)",
                                              "log Z", 640, 420, false, ref));
  }
  if (!run_dir().empty()) {
    const std::string curves = prefix + "curves.png";
    if (write_curves(run_dir() + "/metrics.jsonl", curves,
                     {{"mean F(data) - mean F(negatives)", "nats", {{"cd_gap", "cd gap"}}, {}},
                      {"validation pseudo-log-likelihood", "nats", {{"pll_valid", "pll (validation)"}}, {}},
                      {"validation reconstruction error", "mse", {{"recon_valid", "reconstruction error (validation)"}}, {}}})) {
      files.push_back(curves);
    }
  }
  return files;
}

torch::Tensor RbmMethod::sample() {
  auto gen = make_generator(static_cast<uint64_t>(config_.sample.seed), device());
  const int64_t n = config_.sample.n;
  at::Tensor x0;
  const auto& chains = gradient_->chains();
  if (config_.sample.init == "buffer" && chains.defined()) {
    auto idx = torch::randint(chains.size(0), {n}, gen, torch::TensorOptions().dtype(torch::kLong).device(chains.device()));
    x0 = chains.index_select(0, idx);
  } else {
    x0 = TemperedRbm(*rbm_, RbmBase::from_data(*rbm_, train_x_)).sample_base(n, gen);
  }
  auto v = rbm_->gibbs(x0, config_.sample.steps, gen).cpu();
  std::vector<int64_t> shape{n};
  const auto event = rbm_->event_shape();
  shape.insert(shape.end(), event.begin(), event.end());
  return to_data_space(v).reshape(shape);
}

}  // namespace joule::methods
