// method = "vera": energies and VERA-JEM classifiers trained against a generator (no MCMC).
#include "joule/methods/vera.h"

#include <cmath>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "joule/config/options.h"
#include "joule/core/runtime.h"
#include "joule/data/toy2d.h"
#include "joule/eval/classifier_scores.h"
#include "joule/eval/sample_stats.h"
#include "joule/io/plot.h"
#include "joule/models/activation.h"
#include "joule/models/mlp_energy.h"
#include "joule/models/nice.h"
#include "joule/samplers/sampler.h"

namespace joule::methods {

using config::ConfigError;
using config::Doc;

namespace {

bool is_toy(const std::string& name) {
  const auto toys = data::toy_names();
  return std::find(toys.begin(), toys.end(), name) != toys.end();
}

}  // namespace

void VeraConfig::Data::visit(config::Fields& f) {
  auto datasets = data::toy_names();
  for (const char* d : {"csv", "fashion-mnist", "mnist", "cifar10", "cifar100", "hepmass", "human", "crop"}) {
    datasets.push_back(d);
  }
  f("dataset", dataset,
    Doc("a built-in 2-D toy set, csv (data.path; unlabelled points, or labelled rows with vera.jem), images "
        "(fashion-mnist, mnist, cifar10, cifar100) or the paper's tables hepmass, human, crop (data.path: their folder)")
        .choices(datasets));
  f("path", path, "the CSV file, or the folder with the IDX / CIFAR / HEPMASS / HUMAN / CROP files");
  f("n_train", n_train, Doc("training examples (0 = 50000 toy points, or every row / image)").min(0));
  f("n_test", n_test, Doc("test examples (0 = 5000 toy points, or all; csv points: at most a fifth of the rows)").min(0));
  f("label_column", label_column, "csv with vera.jem: label column (name or 0-based index; -1 = last)");
  f("val_fraction", val_fraction, Doc("csv with vera.jem: fraction of rows held out for validation").min(0.0).max(0.9));
  f("test_fraction", test_fraction, Doc("csv with vera.jem: fraction of rows held out for testing").min(0.01).max(0.9));
  f("drop_repeated", drop_repeated,
    Doc("tables: drop features whose smallest training value occurs more than this many times (VERA's filter: 5; "
        "0 = keep all; -1 = the table's own: 5 for hepmass and human, 0 otherwise)")
        .min(-1));
}

bool VeraConfig::Data::points() const { return is_toy(dataset) || dataset == "csv"; }

PointDataConfig VeraConfig::Data::point_config() const {
  PointDataConfig p;
  p.dataset = dataset;
  p.path = path;
  p.n_train = n_train > 0 ? n_train : 50000;
  p.n_test = n_test > 0 ? n_test : 5000;
  return p;
}

LabelledDataConfig VeraConfig::Data::labelled_config() const {
  LabelledDataConfig l;
  l.dataset = dataset;
  l.path = path;
  l.n_train = n_train;
  l.n_test = n_test;
  l.label_column = label_column;
  l.val_fraction = val_fraction;
  l.test_fraction = test_fraction;
  l.drop_repeated = drop_repeated;
  return l;
}

void VeraConfig::Model::visit(config::Fields& f) {
  ClassifierConfig::visit(f, {"nice"}, "; nice: a NICE flow as the energy (E = −log p, exact likelihood; not with vera.jem)");
  f("couplings", couplings, Doc("nice: additive coupling layers (width, depth: each coupling function)").min(1).max(64));
  f("base", base, Doc("nice: base distribution").choices({"gaussian", "logistic"}));
}

void VeraConfig::Generator::visit(config::Fields& f) {
  f("net", net,
    Doc("mlp: Linear+BatchNorm+ReLU (VERA's small generator); large_mlp: with Softplus; conv: DCGAN-style for images; "
        "linear: g(h) = Wh + b (a Gaussian q)")
        .choices({"mlp", "large_mlp", "conv", "linear"}));
  f("noise_dim", noise_dim, Doc("latent dimension of h").min(1));
  f("width", width, Doc("hidden units (mlp) or base channels (conv)").min(1));
  f("depth", depth, Doc("hidden layers (mlp)").min(1).max(64));
  f("output", output, Doc("activation of g(h): none, tanh (images in [-1, 1]) or sigmoid").choices({"none", "tanh", "sigmoid"}));
  f("init_sigma", init_sigma, Doc("initial σ of q(x|h)").min(1e-6));
  f("init_posterior_sigma", init_posterior_sigma, Doc("initial width of the posterior proposal").min(1e-6));
  f("conditional", conditional,
    "vera.jem: a class-conditional generator q(x|y) trained against p(x|y) ∝ exp(f(x)[y]); its draws with y from the "
    "training labels' frequencies are the negatives");
}

void VeraConfig::Vera::visit(config::Fields& f) {
  f("entropy_weight", entropy_weight, Doc("λ: weight of the generator's entropy (0 = a mode-seeking generator)").min(0.0));
  f("gradient_penalty", gradient_penalty, Doc("γ: weight of mean ‖∇ₓ log p̃(x_data)‖²/2 (0.1: the paper repository's toy setting)").min(0.0));
  f("l2_data", l2_data, Doc("weight of mean log p̃(x_data)²").min(0.0));
  f("l2_generated", l2_generated, Doc("weight of mean log p̃(x_generated)²").min(0.0));
  f("posterior_samples", posterior_samples, Doc("K: importance samples of the entropy estimator").min(1));
  f("estimator", estimator, Doc("entropy gradient: vera (importance sampling) or hmc (PresGAN's)").choices({"vera", "hmc"}));
  f("min_sigma", min_sigma, Doc("σ of q(x|h) is clamped to [min_sigma, max_sigma]").min(1e-6));
  f("max_sigma", max_sigma, Doc("upper clamp of σ").min(1e-6));
  f("learn_posterior", learn_posterior, "train the proposal width on the ELBO ([optim.posterior])");
  f("jem", jem, "VERA-JEM: the model is a classifier on labelled data, evaluated by the classifier protocol");
  f("clf_weight", clf_weight, Doc("α: weight of the cross-entropy (vera.jem)").min(0.0));
  f("unlabelled_entropy_weight", unlabelled_entropy_weight, Doc("β: weight of the entropy of p(y|x) on the data (semi-supervised)").min(0.0));
  f("labels_per_class", labels_per_class, Doc("semi-supervised (vera.jem): labelled examples per class (-1 = all)").min(-1));
}

void VeraConfig::Eval::visit(config::Fields& f) {
  f("grid_resolution", grid_resolution, Doc("2-D grid points per axis for log Z by quadrature").min(16).max(4096));
  f("extent", extent, Doc("half-width of the square grid; 0 = the dataset's default").min(0.0));
  f("n_samples", n_samples, Doc("generator samples for MMD and pictures").min(10));
  f("grid_n", grid_n, Doc("images in each sample grid").min(1).max(1024));
  ClassifierEvalConfig::visit(f);
  QualityConfig::visit(f);
}

VeraConfig::VeraConfig() {
  // VERA:train.py: Adam with β = (0, 0.9), lr 1e-3 for the EBM and the generator, 0.02 for the
  // proposal width (its own Adam with PyTorch's default β), batch 200, the rates × 0.3 at 80%
  // and 90% of the run; VERA's toy EBM: 2 → 100 → 100 → 1 with LeakyReLU(0.2). The gradient
  // penalty γ = 0.1 of the repository's toy commands (README.md, --pg_control 0.1): without it the
  // toy energies come out over-sharp (8gaussians: fitted temperature 7.6 instead of 0.8).
  model.kind = "mlp";
  model.width = 100;
  model.depth = 2;
  train.steps = 4000;
  train.batch_size = 200;
  train.eval_every = 1000;
  auto schedule = [this](OptimizerConfig& o, double lr) {
    o.lr = lr;
    o.beta1 = 0.0;
    o.beta2 = 0.9;
    o.lr_schedule = "step";  // milestones left empty: 80% and 90% of train.steps
    o.decay_rate = 0.3;
  };
  schedule(train.optimizer, 1e-3);
  schedule(optim.generator, 1e-3);
  optim.posterior.lr = 0.02;
  optim.posterior.beta1 = 0.9;
  optim.posterior.beta2 = 0.999;
  optim.posterior.lr_schedule = "constant";
  sample.n = 1000;
  sample.steps = 0;
}

void VeraConfig::visit(config::Fields& f) {
  f.section("run", run);
  f.section("data", data);
  f.section("model", model);
  f.section("generator", generator);
  f.section("vera", vera);
  f.section("train", train);
  f.section("optim", optim);
  f.section("eval", eval);
  f.section("refine", refine);
  f.section("sample", sample);
}

VeraMethod::VeraMethod(VeraConfig config) : config_(std::move(config)) {}

Parts VeraMethod::build_parts(torch::Device device) {
  auto& cfg = config_;
  const uint64_t seed = static_cast<uint64_t>(cfg.run.seed);
  auto gen_data = make_generator(derive_seed(seed, 1));
  auto gen_init = make_generator(derive_seed(seed, 3));
  auto gen_generator = make_generator(derive_seed(seed, 8));
  if (cfg.vera.max_sigma < cfg.vera.min_sigma) throw ConfigError("vera.max_sigma must be >= vera.min_sigma");
  cfg.refine.build("refine");  // a bad [refine] fails before training, not at the first evaluation
  const int64_t batch = cfg.train.batch_size;
  Parts parts;
  std::shared_ptr<joule::Vera> objective;
  auto vopts = joule::VeraOptions()
                   .entropy_weight(cfg.vera.entropy_weight)
                   .gradient_penalty(cfg.vera.gradient_penalty)
                   .l2_data(cfg.vera.l2_data)
                   .l2_generated(cfg.vera.l2_generated)
                   .posterior_samples(cfg.vera.posterior_samples)
                   .estimator(parse_entropy_estimator(cfg.vera.estimator))
                   .min_sigma(cfg.vera.min_sigma)
                   .max_sigma(cfg.vera.max_sigma)
                   .classification_weight(cfg.vera.clf_weight)
                   .unlabelled_entropy_weight(cfg.vera.unlabelled_entropy_weight);
  objective = std::make_shared<joule::Vera>(vopts);
  if (cfg.vera.jem) {
    if (cfg.data.points() && cfg.data.dataset != "csv") {
      throw ConfigError("vera.jem needs labelled data: a CSV table with a label column or an image set, not data.dataset = \"" +
                        cfg.data.dataset + "\"");
    }
    labelled_ = load_labelled(cfg.data.labelled_config(), gen_data);
    cfg.eval.check_before_training(labelled_.event_shape, labelled_.images());
    notes_ = labelled_.notes;
    classes_ = labelled_.classes;
    event_shape_ = labelled_.event_shape;
    check_batch_size(batch, labelled_.train.size(), "training examples");
    auto model = cfg.model.build(event_shape_, classes_, gen_init);
    model->to(device);
    classifier_ = model.get();
    model_ = model.get();
    parts.modules.add("model", model);
    if (cfg.vera.labels_per_class > 0) {
      auto labelled = labelled_subset(labelled_.train, cfg.vera.labels_per_class, classes_, gen_data, "vera.labels_per_class");
      objective->set_labelled(std::make_shared<data::TensorDataset>(labelled.x.to(device), labelled.y.to(device)));
      parts.data = std::make_shared<data::TensorDataset>(labelled_.train.x.to(device));
    } else {
      parts.data = std::make_shared<data::TensorDataset>(labelled_.train.x.to(device), labelled_.train.y.to(device));
    }
    const int64_t m = std::min<int64_t>(1000, labelled_.test.size());
    monitor_ = labelled_.test.slice(0, m);
  } else {
    if (cfg.model.kind != "mlp" && cfg.model.kind != "nice") {
      throw ConfigError("an energy (vera.jem = false) is an MLP or a NICE flow: model.kind = \"mlp\" or \"nice\"");
    }
    at::Tensor train_x;
    // A flow on Fashion-MNIST / MNIST reads the same flattened, dequantised vectors as method = ebm,
    // so exact likelihoods compare across trainings.
    const bool flow_on_pixels = cfg.model.kind == "nice" && (cfg.data.dataset == "fashion-mnist" || cfg.data.dataset == "mnist");
    if (cfg.data.points() || flow_on_pixels) {
      points_ = load_points(cfg.data.point_config(), seed);
      train_x = points_.train;
      extent_ = cfg.eval.extent > 0 ? cfg.eval.extent : points_.extent;
    } else {
      labelled_ = load_labelled(cfg.data.labelled_config(), gen_data);
      train_x = labelled_.train.x;
    }
    event_shape_.assign(train_x.sizes().begin() + 1, train_x.sizes().end());
    check_batch_size(batch, train_x.size(0), "training examples");
    int64_t dim = 1;
    for (int64_t d : event_shape_) dim *= d;
    if (cfg.model.kind == "nice") {
      if (event_shape_.size() != 1) {
        // A flow on flattened images: the data are read as vectors.
        train_x = train_x.reshape({train_x.size(0), -1});
        if (labelled_.test.x.defined()) labelled_.test.x = labelled_.test.x.reshape({labelled_.test.size(), -1});
        event_shape_ = {dim};
      }
      auto flow = Nice(NiceOptions(dim).hidden(cfg.model.width).depth(cfg.model.depth).couplings(cfg.model.couplings).base(cfg.model.base));
      flow->reset_parameters(gen_init);
      flow->to(device);
      model_ = flow.get();
      density_ = flow.get();
      parts.modules.add("model", flow.ptr());
    } else {
      auto mlp = MlpEnergy(MlpEnergyOptions(dim)
                               .width(cfg.model.width)
                               .depth(cfg.model.depth)
                               .activation(parse_activation(cfg.model.activation))
                               .negative_slope(cfg.model.negative_slope)
                               .event_shape(event_shape_));
      mlp->reset_parameters(gen_init);
      mlp->to(device);
      model_ = mlp.get();
      parts.modules.add("model", mlp.ptr());
    }
    parts.data = std::make_shared<data::TensorDataset>(train_x.to(device));
  }
  if (cfg.generator.conditional && !cfg.vera.jem) {
    throw ConfigError("generator.conditional needs vera.jem = true: q(x|y) is trained against the classifier's p(x|y)");
  }
  auto gopts = VeraGeneratorOptions(event_shape_, cfg.generator.noise_dim)
                   .net(cfg.generator.net)
                   .width(cfg.generator.width)
                   .depth(cfg.generator.depth)
                   .output(cfg.generator.output)
                   .init_sigma(cfg.generator.init_sigma)
                   .init_posterior_sigma(cfg.generator.init_posterior_sigma)
                   .num_classes(cfg.generator.conditional ? classes_ : 0);
  generator_ = VeraGenerator(gopts);
  generator_->reset_parameters(gen_generator);
  if (cfg.generator.conditional && cfg.vera.labels_per_class <= 0) {
    // q(x) = Σ_y π(y) q(x|y) stands in for p(x): π is the training labels' frequencies (uniform
    // when semi-supervised, where only the balanced labelled subset is known).
    generator_->set_class_prior(torch::bincount(labelled_.train.y.to(torch::kLong), {}, classes_).to(torch::kFloat64));
  }
  generator_->to(device);
  parts.modules.add("generator", generator_.ptr());
  if (cfg.vera.learn_posterior) {
    parts.after.push_back(train::ParamGroup("posterior", {"generator"}, cfg.optim.posterior.options().updates(1).every(1))
                              .only_parameters({"posterior_log_sigma"}));
  }
  parts.after.push_back(train::ParamGroup("generator", {"generator"}, cfg.optim.generator.options().updates(1).every(1))
                            .except_parameters({"posterior_log_sigma"}));
  parts.objective = objective;
  return parts;
}

std::string VeraMethod::refine_label() const {
  const auto& r = config_.refine;
  std::ostringstream s;
  s << r.steps << " " << r.kind << " steps (step " << r.step_size;
  if (r.kind == "langevin") s << ", noise " << (r.noise < 0 ? std::sqrt(2.0 * r.step_size) : r.noise);
  s << ")";
  return s.str();
}

at::Tensor VeraMethod::generate(int64_t n, int64_t refine_steps, at::Generator& gen) {
  at::Tensor x;
  {
    torch::NoGradGuard no_grad;
    EvalModeGuard eval_mode(*generator_);
    x = generator_->sample(n, gen).x.detach();
  }
  if (refine_steps > 0) x = config_.refine.build("refine")->with_steps(refine_steps)->sample(*model_, x, gen);
  return x;
}

at::Tensor VeraMethod::generate_for_classes(const at::Tensor& y, int64_t refine_steps, at::Generator& gen) {
  TORCH_CHECK(classifier_ != nullptr, "VeraMethod::generate_for_classes: this VERA has no classifier (VERA-JEM has one)");
  const bool conditional_generator = generator_->num_classes() > 0;
  TORCH_CHECK(conditional_generator || refine_steps > 0,
              "VeraMethod::generate_for_classes: an unconditional generator needs refine_steps > 0, got ", refine_steps);
  TORCH_CHECK(refine_steps >= 0, "VeraMethod::generate_for_classes: refine_steps must be >= 0, got ", refine_steps);
  at::Tensor x;
  if (conditional_generator) {
    torch::NoGradGuard no_grad;
    EvalModeGuard eval_mode(*generator_);
    x = generator_->sample_classes(y.to(device(), torch::kLong), gen).x.detach();
    if (refine_steps == 0) return x;
  } else {
    x = generate(y.size(0), 0, gen);
  }
  ClassConditionalEnergy conditional(*classifier_, y.to(device(), torch::kLong));
  EvalModeGuard eval_mode(*classifier_);
  return config_.refine.build("refine")->with_steps(refine_steps)->sample(conditional, x, gen);
}

void VeraMethod::add_callbacks(const Monitor& monitor) {
  if (classifier_) {
    add_periodic_evaluation(
        monitor, config_.train.eval_every,
        [this]() -> std::vector<std::pair<std::string, double>> {
          auto s = eval::classifier_scores(*classifier_, monitor_.x, 256, /*with_grad=*/false);
          return {{"test_acc", eval::accuracy(s.probs, monitor_.y)}};
        },
        "test_acc", "test_acc");
  } else if (points_.test.defined() && event_shape_ == std::vector<int64_t>{2}) {
    add_periodic_evaluation(
        monitor, config_.train.eval_every,
        [this]() -> std::vector<std::pair<std::string, double>> {
          auto opts = eval::Density2dOptions().box(eval::Box::square(extent_)).resolution(config_.eval.grid_resolution);
          auto r = eval::density2d_nll(*model_, points_.test, opts.temperature(model_->temperature()));
          return {{"nll_test", r.nll}, {"log_z", r.log_z}};
        },
        "nll_test", "nll");
  }
}

const VeraMethod::EvalState& VeraMethod::eval_state() {
  auto& t = trainer();
  const auto& cfg = config_;
  // Every [refine] field (clamp and clipping included) decides the refined samples.
  auto refine = cfg.refine;
  const std::string refine_key = config::to_toml([&refine](config::Fields& f) { f.section("refine", refine); });
  std::string key = std::to_string(cfg.eval.n_samples) + "|" + refine_key + "|" + cfg.eval.baseline;
  for (const auto& s : cfg.eval.ood_sets) key += "|" + s;
  if (state_.step == t.step_count() && state_.key == key) return state_;
  EvalState st;
  st.step = t.step_count();
  st.key = key;
  const uint64_t seed = static_cast<uint64_t>(cfg.run.seed);
  auto gen = make_generator(derive_seed(seed, 4), device());
  const int64_t n = cfg.eval.n_samples;
  st.generated = generate(n, 0, gen).cpu();
  if (classifier_ && generator_->num_classes() > 0) {
    st.intended = torch::arange(n, torch::kLong).remainder(classes_);
    auto g1 = make_generator(derive_seed(seed, 4), device());
    st.generated_class = generate_for_classes(st.intended, 0, g1).cpu();
  }
  if (cfg.refine.steps > 0) {
    auto g2 = make_generator(derive_seed(seed, 4), device());
    st.refined = generate(n, cfg.refine.steps, g2).cpu();
    if (classifier_) {
      // Classes in turn, from the same generator draws as the unconditional refinement.
      st.intended = torch::arange(n, torch::kLong).remainder(classes_);
      auto g3 = make_generator(derive_seed(seed, 4), device());
      st.refined_class = generate_for_classes(st.intended, cfg.refine.steps, g3).cpu();
    }
  }
  if (classifier_) {
    const std::string run = run_dir().empty() ? std::string("this run") : std::filesystem::path(run_dir()).filename().string();
    st.name = "vera-jem (" + run + ")";
    auto inputs = eval::make_classifier_eval_inputs(labelled_.test.x, labelled_.test.y, cfg.eval.options(0.0, labelled_.images()),
                                                    make_generator(derive_seed(seed, 5)));
    st.result = eval::evaluate_classifier(*classifier_, inputs, classifier_->temperature(), 256);
    if (!cfg.eval.baseline.empty()) {
      auto b = evaluate_baseline(cfg.eval.baseline, inputs, device(), event_shape_, classes_);
      st.baseline = std::move(b.result);
      st.baseline_t = b.temperature;
      st.baseline_name = b.name;
      st.has_baseline = true;
    }
  } else if (points_.test.defined() && event_shape_ == std::vector<int64_t>{2}) {
    auto opts = eval::Density2dOptions()
                    .box(eval::Box::square(extent_))
                    .resolution(cfg.eval.grid_resolution)
                    .temperature(model_->temperature())
                    .n_exact(std::min<int64_t>(n, points_.test.size(0)));
    st.grid = eval::density2d_protocol(*model_, points_.test, points_.valid, opts, make_generator(derive_seed(seed, 5)));
  }
  state_ = std::move(st);
  return state_;
}

const RobustnessEvaluation& VeraMethod::robustness() {
  return robust_.get(trainer().step_count(), config_.eval.attack.key(), [this] {
    return evaluate_robustness_runs(*classifier_, eval_state().name, labelled_.test.x, labelled_.test.y, config_.eval,
                                    labelled_.images(), derive_seed(static_cast<uint64_t>(config_.run.seed), 11), device());
  });
}

eval::Report VeraMethod::evaluate() {
  const auto& st = eval_state();
  const auto& cfg = config_;
  eval::Report r;
  r.method = name();
  r.step = trainer().step_count();
  if (classifier_) {
    eval::add_classifier_lines(r, st.result, "", classifier_->temperature());
    if (labelled_.valid.x.defined()) {
      auto s = eval::classifier_scores(*classifier_, labelled_.valid.x, 256, false);
      r.add("val_acc", eval::accuracy(s.probs, labelled_.valid.y), "validation accuracy");
    }
    if (st.has_baseline) eval::add_classifier_lines(r, st.baseline, "baseline.", st.baseline_t);
    r.table = eval::classifier_table(st.result, st.name, st.has_baseline ? &st.baseline : nullptr, st.baseline_name);
    if (cfg.eval.attack.enabled()) {
      const auto& rob = robustness();
      add_robustness_lines(r, rob);
      r.table += "\n" + eval::robustness_table(rob.results);
    }
    if (!cfg.eval.feature_run.empty()) {
      if (!labelled_.images()) throw ConfigError("eval.feature_run scores image samples, but this VERA's data are not images");
      const int64_t n = cfg.eval.quality_n;
      SampleQuality quality(resolve_feature_run(cfg.eval.feature_run, cfg.data.labelled_config(), {}, &std::cerr),
                            labelled_.test.x, labelled_.train.x, device(),
                            derive_seed(static_cast<uint64_t>(cfg.run.seed), 12), n);
      quality.add_floor_lines(r);
      const auto first = [n](const at::Tensor& x) { return x.slice(0, 0, std::min(n, x.size(0))); };
      // VERA-JEM's class-conditional samples: generator samples labelled by the model's own class
      // (as JEM:eval_wrn_ebm.py cond_samples labels buffer chains); class_agreement asks whether
      // the feature classifier, another network, sees the same class.
      const auto labelled = [&](const at::Tensor& x) { return eval::predicted_labels(*classifier_, x); };
      SampleQuality::add_lines(r, "quality.generator.", quality.score(first(st.generated), labelled(first(st.generated))),
                               "generator samples (intended class: the model's argmax)");
      if (st.generated_class.defined()) {
        SampleQuality::add_lines(r, "quality.generator_class.", quality.score(first(st.generated_class), first(st.intended)),
                                 "draws of the class-conditional generator q(x|y), classes in turn (intended class: y)");
      }
      if (st.refined.defined()) {
        SampleQuality::add_lines(r, "quality.refined.", quality.score(first(st.refined), labelled(first(st.refined))),
                                 "generator samples after " + refine_label() + " (intended class: the model's argmax)");
      }
      if (st.refined_class.defined()) {
        SampleQuality::add_lines(r, "quality.refined_class.", quality.score(first(st.refined_class), first(st.intended)),
                                 std::string(st.generated_class.defined() ? "q(x|y) draws" : "generator samples") + " after " +
                                     refine_label() + " on E(x, y) = -f(x)[y], classes in turn (intended class: y)");
      }
    }
  } else {
    const at::Tensor test = points_.test.defined() ? points_.test : labelled_.test.x.reshape({labelled_.test.size(), -1});
    auto ref = test.slice(0, 0, std::min<int64_t>(test.size(0), st.generated.size(0)));
    auto flat = [](const at::Tensor& x) { return x.reshape({x.size(0), -1}); };
    const double h = eval::median_bandwidth(ref, flat(st.generated));
    if (st.grid) {
      const auto& g = *st.grid;
      r.add("nll_test", g.nll, "nats, exact by grid quadrature");
      r.add("log_z", g.density.log_z,
            "grid " + std::to_string(cfg.eval.grid_resolution) + "^2 on [-" + io::format_number(extent_, 6) + ", " +
                io::format_number(extent_, 6) + "]^2");
      if (points_.entropy) {
        r.add("entropy", *points_.entropy,
              points_.entropy_exact ? "true differential entropy of the data (exact)" : "data entropy (k-NN estimate)");
        r.add("nll_gap", g.nll - *points_.entropy, "nll_test - entropy (0 is perfect)");
      }
      r.add("temperature_fit", g.fit.temperature, "T maximising the likelihood of a validation split (1 = calibrated)");
      r.add("mmd2_model", eval::mmd2_gaussian(g.exact, ref, h), "MMD^2, exact model samples vs test data");
    }
    if (density_) {
      torch::NoGradGuard no_grad;
      r.add("test_loglik", density_->log_prob(test.to(device())).mean().item<double>(), "exact mean log p(x_test) of the flow, nats");
    }
    r.add("mmd2_generator", eval::mmd2_gaussian(flat(st.generated), ref, h), "MMD^2, generator samples vs test data");
    if (st.refined.defined()) {
      r.add("mmd2_refined", eval::mmd2_gaussian(flat(st.refined), ref, h),
            "MMD^2, generator samples after " + refine_label() + " vs test data");
    }
    r.add("mmd_bandwidth", h, "Gaussian kernel bandwidth (median heuristic)");
  }
  r.add("generator_sigma", generator_->sigma(), "σ of q(x|h)");
  r.add("posterior_sigma", generator_->posterior_log_sigma.exp().mean().item<double>(), "mean width of the posterior proposal");
  return r;
}

std::vector<std::string> VeraMethod::pictures(const std::string& prefix) {
  const auto& st = eval_state();
  const auto& cfg = config_;
  std::vector<std::string> files;
  if (classifier_) {
    std::vector<io::Image> panels{eval::reliability_diagram(st.result.bins, st.result.ece, st.name)};
    if (st.has_baseline) panels.push_back(eval::reliability_diagram(st.baseline.bins, st.baseline.ece, st.baseline_name));
    files.push_back(prefix + "reliability.png");
    io::write_png(files.back(), io::hstack(panels));
    if (!st.result.ood_scores.empty()) {
      files.push_back(prefix + "roc.png");
      io::write_png(files.back(), eval::roc_panels(st.result, st.has_baseline ? &st.baseline : nullptr));
    }
    if (cfg.eval.attack.enabled()) {
      for (auto& f : write_robustness(robustness(), prefix, labelled_.images())) files.push_back(f);
    }
  }
  if (images()) {
    const int64_t n = std::min<int64_t>(cfg.eval.grid_n, st.generated.size(0));
    const auto range = std::make_pair(-1.0, 1.0);
    files.push_back(prefix + "samples-generator.png");
    io::save_image_grid(st.generated.slice(0, 0, n), files.back(), 10, 2, range);
    if (st.refined.defined()) {
      files.push_back(prefix + "samples-refined.png");
      io::save_image_grid(st.refined.slice(0, 0, n), files.back(), 10, 2, range);
    }
    files.push_back(prefix + "samples-data.png");
    io::save_image_grid(labelled_.test.x.slice(0, 0, std::min<int64_t>(n, labelled_.test.size())), files.back(), 10, 2, range);
    if (classifier_) {
      // One row per class of the model's own labels (VERA-JEM's class-conditional samples).
      const int64_t shown = std::min<int64_t>(classes_, 10);
      const int64_t per_class = std::max<int64_t>(1, std::min<int64_t>(10, n / shown));
      const auto by_class = [&](const at::Tensor& x, const std::string& file) {
        files.push_back(prefix + file);
        auto rows = io::rows_by_class(x, eval::predicted_labels(*classifier_, x), shown, per_class, range.first);
        io::save_image_grid(rows.cpu(), files.back(), per_class, 2, range);
      };
      by_class(st.generated, "samples-generator-class.png");
      if (st.refined.defined()) by_class(st.refined, "samples-refined-class.png");
      if (st.generated_class.defined()) {
        // One row per class y of the class-conditional generator.
        files.push_back(prefix + "samples-generator-class-conditional.png");
        auto rows = io::rows_by_class(st.generated_class, st.intended, shown, per_class, range.first);
        io::save_image_grid(rows.cpu(), files.back(), per_class, 2, range);
      }
      if (st.refined_class.defined()) {
        // One row per intended class y of the class-conditional refinement.
        files.push_back(prefix + "samples-refined-class-conditional.png");
        auto rows = io::rows_by_class(st.refined_class, st.intended, shown, per_class, range.first);
        io::save_image_grid(rows.cpu(), files.back(), per_class, 2, range);
      }
    }
  } else if (event_shape_ == std::vector<int64_t>{2}) {
    const io::PlotBox pb{-extent_, extent_, -extent_, extent_};
    const int64_t n = st.generated.size(0);
    const at::Tensor test = points_.test.defined() ? points_.test : labelled_.test.x;
    std::vector<io::Image> panels{io::scatter_plot(test.slice(0, 0, std::min<int64_t>(n, test.size(0))), pb, "data")};
    if (st.grid) panels.push_back(io::scatter_plot(st.grid->exact, pb, "model (exact, from grid)"));
    panels.push_back(io::scatter_plot(st.generated, pb, "generator"));
    if (st.refined.defined()) {
      panels.push_back(io::scatter_plot(st.refined, pb, "generator + " + refine_label()));
    }
    files.push_back(prefix + "samples.png");
    io::write_png(files.back(), io::hstack(panels));
    if (st.grid) {
      auto box = eval::Box::square(extent_);
      files.push_back(prefix + "density.png");
      io::write_png(files.back(), io::hstack({io::heatmap(eval::histogram_density(test, box, 128), pb, "data histogram"),
                                              io::heatmap(st.grid->density.log_density.exp(), pb, "model density"),
                                              io::heatmap(st.grid->density.log_density, pb, "model log-density")}));
    }
  }
  if (!run_dir().empty()) {
    CurvePanel nll{"test NLL (nats)", "nats", {{"nll_test", "test NLL"}}, {}};
    if (points_.entropy) nll.reference = std::make_pair(std::string("data entropy"), *points_.entropy);
    const std::string curves = prefix + "curves.png";
    if (write_curves(run_dir() + "/metrics.jsonl", curves,
                     {{"energy loss", "loss", {{"loss", "loss"}}, {}},
                      nll,
                      {"accuracy", "accuracy", {{"acc", "train batch acc"}, {"test_acc", "test acc"}}, {}},
                      {"mean energy", "E", {{"e_pos", "E(data)"}, {"e_neg", "E(generator)"}}, {}},
                      {"generator", "", {{"sigma", "sigma"}, {"posterior_sigma", "posterior sigma"}}, {}}})) {
      files.push_back(curves);
    }
  }
  return files;
}

torch::Tensor VeraMethod::sample() {
  const auto& s = config_.sample;
  auto gen = make_generator(static_cast<uint64_t>(s.seed), device());
  if (s.label < 0) return generate(s.n, s.steps, gen);
  if (!classifier_) throw ConfigError("sample.class needs a classifier: this VERA run has none (VERA-JEM: vera.jem = true)");
  if (s.label >= classifier_->num_classes()) {
    throw ConfigError("sample.class = " + std::to_string(s.label) + " but the model has " +
                      std::to_string(classifier_->num_classes()) + " classes");
  }
  if (generator_->num_classes() == 0 && s.steps == 0) {
    throw ConfigError("sample.class with an unconditional generator needs sample.steps > 0: transitions of [refine] on "
                      "E(x, y) pull the draws to the class (or train with generator.conditional = true)");
  }
  return generate_for_classes(at::full({s.n}, s.label, at::kLong), s.steps, gen);
}

}  // namespace joule::methods
