// method = "jem": classifiers as joint energy models (and the cross-entropy baseline).
#include "joule/methods/jem.h"

#include <cmath>
#include <filesystem>
#include <iostream>

#include "joule/core/runtime.h"
#include "joule/io/plot.h"
#include "joule/methods/run.h"

namespace joule::methods {

using config::ConfigError;
using config::Doc;

void JemConfig::Jem::visit(config::Fields& f) {
  f("px_weight", px_weight, Doc("weight of the generative term log p(x) (0 = cross-entropy-only baseline)").min(0.0));
  f("py_weight", py_weight, Doc("weight of the cross-entropy term log p(y|x)").min(0.0));
  f("pxy_weight", pxy_weight, Doc("weight of log p(x|y) with class-conditional chains (class buckets of the buffer)").min(0.0));
  f("data_noise", data_noise, Doc("std of Gaussian noise added to training and test inputs (JEM: 0.03)").min(0.0));
  f("labels_per_class", labels_per_class,
    Doc("semi-supervised: labelled examples per class (-1 = all labelled); the generative term uses all data").min(-1));
}

void JemConfig::Objective::visit(config::Fields& f) {
  f("l2_energy", l2_energy, Doc("α of the L2 penalty on the energies of data and samples (the JEM author suggests 0.1)").min(0.0));
}

void JemConfig::Eval::visit(config::Fields& f) {
  ClassifierEvalConfig::visit(f);
  f("grid_n", grid_n, Doc("images in each sample grid").min(1).max(1024));
  f("temperature", temperature,
    Doc("temperature of log p~(x) read-outs; 0 = model T x sampler T (what training matched)").min(0.0));
  f("chain_steps", chain_steps, Doc("SGLD steps of the fresh chains in the sample grids and the quality scores").min(0));
  f("buffer_min_updates", buffer_min_updates,
    Doc("buffer pictures and quality use chains with at least this many SGLD runs since their last restart (0 = all)").min(0));
  QualityConfig::visit(f);
  f("quality_every", quality_every,
    Doc("steps between sample-quality scores (FD, recall, class agreement and entropy) of the mature buffer chains "
        "during training, logged to metrics.jsonl; needs eval.feature_run (0 = off)")
        .min(0));
}

JemConfig::JemConfig() {
  // JEM:train_wrn_ebm.py's optimisation (Adam, lr 1e-4, 1000 warm-up steps, batch 64) for 10
  // epochs of Fashion-MNIST, with the divergence guard tuned to JEM's energies.
  train.steps = 9370;
  train.batch_size = 64;
  train.eval_every = 500;
  train.energy_bound = 100.0;
  train.max_restarts = 3;
  train.optimizer.lr = 1e-4;
  train.optimizer.beta1 = 0.9;
  train.optimizer.lr_schedule = "constant";
  train.optimizer.warmup_steps = 1000;
}

void JemConfig::visit(config::Fields& f) {
  f.section("run", run);
  f.section("data", data);
  f.section("model", model);
  f.section("jem", jem);
  f.section("sampler", sampler);
  f.section("buffer", buffer);
  f.section("objective", objective);
  f.section("train", train);
  f.section("eval", eval);
  f.section("sample", sample);
}

JemMethod::JemMethod(JemConfig config) : config_(std::move(config)) {}

Parts JemMethod::build_parts(torch::Device device) {
  auto& cfg = config_;
  const uint64_t seed = static_cast<uint64_t>(cfg.run.seed);
  auto gen_data = make_generator(derive_seed(seed, 1));
  auto gen_init = make_generator(derive_seed(seed, 3));
  data_ = load_labelled(cfg.data, gen_data);
  cfg.eval.check_before_training(data_.event_shape, data_.images());
  notes_ = data_.notes;
  classes_ = data_.classes;
  const int64_t batch = cfg.train.batch_size;
  check_batch_size(batch, data_.train.size(), "training examples");
  const int64_t per_class = cfg.jem.labels_per_class;
  data::Rows labelled;
  if (per_class > 0) {
    labelled = labelled_subset(data_.train, per_class, classes_, gen_data, "jem.labels_per_class");
  }

  Parts parts;
  auto model = cfg.model.build(data_.event_shape, classes_, gen_init);
  model->to(device);
  classifier_ = model.get();
  parts.modules.add("model", model);

  sampler_ = cfg.sampler.build();
  auto opts = JemOptions(classes_)
                  .px_weight(cfg.jem.px_weight)
                  .py_weight(cfg.jem.py_weight)
                  .pxy_weight(cfg.jem.pxy_weight)
                  .l2_energy(cfg.objective.l2_energy)
                  .data_noise(cfg.jem.data_noise);
  if (opts.px_weight() + opts.py_weight() + opts.pxy_weight() <= 0) {
    throw ConfigError("at least one of jem.px_weight, jem.py_weight, jem.pxy_weight must be > 0");
  }
  if (opts.generative()) {
    buffer_ = cfg.buffer.build(data_.event_shape, device, /*labelled=*/true);
    check_batch_size(batch, buffer_->capacity(), "persistent chains (buffer.capacity)");
    if (opts.pxy_weight() > 0 && buffer_->capacity() % classes_ != 0) {
      throw ConfigError("jem.pxy_weight > 0 keeps one bucket per class, so buffer.capacity (" +
                        std::to_string(buffer_->capacity()) + ") must be a multiple of the " + std::to_string(classes_) +
                        " classes");
    }
    if (cfg.buffer.init == "data") buffer_->set_data(data_.train.x.to(device));
    // Semi-supervised: only the labelled examples have a class to fit.
    if (cfg.buffer.init == "class_gaussian") {
      per_class > 0 ? buffer_->fit_class_gaussians(labelled.x, labelled.y)
                    : buffer_->fit_class_gaussians(data_.train.x, data_.train.y);
    }
  }
  jem_ = std::make_shared<Jem>(opts, opts.generative() ? sampler_ : nullptr, buffer_);
  if (per_class > 0) {
    jem_->set_labelled(std::make_shared<data::TensorDataset>(labelled.x.to(device), labelled.y.to(device)));
    parts.data = std::make_shared<data::TensorDataset>(data_.train.x.to(device));  // generative term: every example
  } else {
    parts.data = std::make_shared<data::TensorDataset>(data_.train.x.to(device), data_.train.y.to(device));
  }
  parts.objective = jem_;
  if (cfg.eval.quality_every > 0) {
    const std::string why = "eval.quality_every = " + std::to_string(cfg.eval.quality_every) + " scores the replay buffer's images";
    if (cfg.eval.feature_run.empty()) throw ConfigError(why + " in a classifier's features: set eval.feature_run (e.g. auto)");
    if (!buffer_) throw ConfigError(why + ", but this run has none (jem.px_weight and jem.pxy_weight are 0)");
    if (!data_.images()) throw ConfigError(why + ", but this JEM's data are not images");
    if (cfg.eval.feature_run != "auto") resolve_checkpoint(cfg.eval.feature_run);  // a missing run fails here, not mid-run
  }
  // A fixed noisy slice of the test set for the accuracy logged during training.
  auto gen_monitor = make_generator(derive_seed(seed, 6));
  const int64_t m = std::min<int64_t>(1000, data_.test.size());
  monitor_ = data_.test.slice(0, m);
  if (cfg.jem.data_noise > 0) {
    monitor_.x = monitor_.x + torch::empty_like(monitor_.x).normal_(0.0, cfg.jem.data_noise, gen_monitor);
  }
  return parts;
}

void JemMethod::add_callbacks(const Monitor& monitor) {
  add_periodic_evaluation(
      monitor, config_.train.eval_every,
      [this]() -> std::vector<std::pair<std::string, double>> {
        auto s = eval::classifier_scores(*classifier_, monitor_.x, 256, /*with_grad=*/false);
        return {{"test_acc", eval::accuracy(s.probs, monitor_.y)}, {"test_logpx", s.log_px.mean().item<double>()}};
      },
      "test_acc", "test_acc");
  if (config_.eval.quality_every <= 0 || !buffer_) return;
  auto metrics = monitor.metrics;
  trainer().add_callback(std::make_shared<train::PeriodicCallback>(
      config_.eval.quality_every,
      [this, metrics](train::Trainer& trainer, int64_t step) {
        if (!trainer.is_main_rank()) return;  // rank 0's chains; one process trains the cached classifier
        const auto& cfg = config_;
        const uint64_t seed = derive_seed(static_cast<uint64_t>(cfg.run.seed), 13);
        if (!quality_watch_) {
          quality_watch_ = std::make_shared<SampleQuality>(resolve_feature_run(cfg.eval.feature_run, cfg.data, {}, &std::cerr),
                                                           data_.test.x, data_.train.x, device(), seed, cfg.eval.quality_n);
        }
        // Its own generator per step: scoring draws nothing from training's, so a watched run
        // trains exactly as an unwatched one.
        auto gen = make_generator(derive_seed(seed, static_cast<uint64_t>(step)), device());
        const auto s = score_mature_buffer(*quality_watch_, cfg.eval.quality_n, gen);
        if (metrics) {
          metrics->log(step, {{"quality.buffer_mature.fd", s.fd},
                              {"quality.buffer_mature.precision", s.precision},
                              {"quality.buffer_mature.recall", s.recall},
                              {"quality.buffer_mature.class_agreement", s.class_agreement},
                              {"quality.buffer_mature.class_entropy", s.class_entropy},
                              {"quality.buffer_mature.class_precision_min", s.class_precision_min},
                              {"quality.buffer_mature.class_agreement_min", s.class_agreement_min}});
        }
      },
      /*at_end=*/false));
}

double JemMethod::readout_temperature() {
  return config_.eval.temperature > 0 ? config_.eval.temperature : classifier_->temperature() * jem_->sampler_temperature();
}

const JemMethod::EvalState& JemMethod::eval_state() {
  auto& t = trainer();
  const auto& cfg = config_;
  // The evaluation options that change the result (they may change between calls).
  std::string key = std::to_string(cfg.eval.ood_n) + "|" + cfg.eval.ood_mnist_dir + "|" + cfg.eval.baseline + "|" +
                    std::to_string(readout_temperature());
  for (const auto& s : cfg.eval.ood_sets) key += "|" + s;
  if (state_.step == t.step_count() && state_.key == key) return state_;
  EvalState st;
  st.step = t.step_count();
  st.key = key;
  st.readout_t = readout_temperature();
  const std::string run = run_dir().empty() ? std::string("this run") : std::filesystem::path(run_dir()).filename().string();
  st.name = jem_->name() + " (" + run + ")";
  auto inputs = eval::make_classifier_eval_inputs(data_.test.x, data_.test.y, cfg.eval.options(cfg.jem.data_noise, data_.images()),
                                                  make_generator(derive_seed(static_cast<uint64_t>(cfg.run.seed), 5)));
  st.result = eval::evaluate_classifier(*classifier_, inputs, st.readout_t, 256);
  if (!cfg.eval.baseline.empty()) {
    auto b = evaluate_baseline(cfg.eval.baseline, inputs, device(), data_.event_shape, classes_);
    st.baseline = std::move(b.result);
    st.baseline_t = b.temperature;
    st.baseline_name = b.name;
    st.has_baseline = true;
  }
  state_ = std::move(st);
  return state_;
}

eval::Report JemMethod::evaluate() {
  const auto& st = eval_state();
  eval::Report r;
  r.method = name();
  r.step = trainer().step_count();
  eval::add_classifier_lines(r, st.result, "", st.readout_t);
  if (data_.valid.x.defined()) {
    auto s = eval::classifier_scores(*classifier_, data_.valid.x, 256, false);
    r.add("val_acc", eval::accuracy(s.probs, data_.valid.y), "validation accuracy");
  }
  r.add("sampler_temperature", sampler_->temperature(), "b^2/(2a) of the SGLD sampler (JEM: 5e-5, training matched exp(-E/T))");
  r.add("readout_temperature", st.readout_t, "T used for log p~(x) values above");
  if (st.has_baseline) eval::add_classifier_lines(r, st.baseline, "baseline.", st.baseline_t);
  r.table = eval::classifier_table(st.result, st.name, st.has_baseline ? &st.baseline : nullptr, st.baseline_name);
  if (config_.eval.attack.enabled()) {
    const auto& rob = robustness();
    add_robustness_lines(r, rob);
    r.table += "\n" + eval::robustness_table(rob.results);
  }
  if (!config_.eval.feature_run.empty()) add_sample_quality(r);
  return r;
}

void JemMethod::add_sample_quality(eval::Report& r) {
  const auto& cfg = config_;
  if (!data_.images()) throw ConfigError("eval.feature_run scores image samples, but this JEM's data are not images");
  const uint64_t seed = derive_seed(static_cast<uint64_t>(cfg.run.seed), 12);
  const int64_t n = cfg.eval.quality_n;
  SampleQuality quality(resolve_feature_run(cfg.eval.feature_run, cfg.data, {}, &std::cerr), data_.test.x, data_.train.x,
                        device(), seed, n);
  quality.add_floor_lines(r);
  auto gen = make_generator(derive_seed(seed, 1), device());
  const auto idx_opts = torch::TensorOptions().dtype(torch::kLong).device(device());
  if (buffer_ && buffer_->size() > 0) {
    auto idx = torch::randperm(buffer_->size(), gen, idx_opts).slice(0, 0, std::min(n, buffer_->size()));
    SampleQuality::add_lines(r, "quality.buffer.", quality.score(buffer_->states().index_select(0, idx)),
                             "persistent chains (replay buffer), all");
    auto mature = mature_buffer_slots();
    r.add("buffer.mature_fraction", static_cast<double>(mature.size(0)) / static_cast<double>(buffer_->size()),
          "fraction of buffer chains with >= eval.buffer_min_updates runs since their last restart");
    SampleQuality::add_lines(r, "quality.buffer_mature.", score_mature_buffer(quality, n, gen),
                             "buffer chains with >= " + std::to_string(cfg.eval.buffer_min_updates) +
                                 " runs since restart (intended class: " +
                                 (jem_->options.pxy_weight() > 0 ? "the chain's class bucket)" : "the model's argmax)"));
  }
  const int64_t steps = cfg.eval.chain_steps;
  if (steps == 0) return;
  auto chain = sampler_->with_steps(steps);
  EvalModeGuard eval_mode(*classifier_);
  const std::string what = std::to_string(steps) + " SGLD steps from the buffer's initial distribution";
  SampleQuality::add_lines(r, "quality.fresh.", quality.score(chain->sample(*classifier_, init_states(n, gen), gen)),
                           "fresh chains, " + what);
  // Class-conditional chains on E(x, y) = −f(x)[y], classes in turn; the feature classifier
  // (another network) judges whether each shows its class.
  auto y = torch::arange(n, idx_opts).remainder(classes_);
  ClassConditionalEnergy conditional(*classifier_, y);
  auto cond = chain->sample(conditional, init_states(y, gen), gen);
  SampleQuality::add_lines(r, "quality.fresh_class.", quality.score(cond, y), "class-conditional fresh chains, " + what);
}

QualityScores JemMethod::score_mature_buffer(SampleQuality& quality, int64_t n, at::Generator& gen) {
  const auto idx_opts = torch::TensorOptions().dtype(torch::kLong).device(device());
  auto mature = mature_buffer_slots();
  auto pick = mature.index_select(0, torch::randperm(mature.size(0), gen, idx_opts).slice(0, 0, std::min(n, mature.size(0))));
  auto x = buffer_->states().index_select(0, pick);
  // Their intended class: with p(x|y) trained, the class bucket each chain samples; otherwise
  // the model's own (argmax f(x)), as JEM's class-conditional samples are buffer states grouped
  // that way (JEM:eval_wrn_ebm.py cond_samples). The feature classifier judges whether each
  // shows that class.
  return quality.score(x, intended_classes(pick, x));
}

const RobustnessEvaluation& JemMethod::robustness() {
  return robust_.get(trainer().step_count(), config_.eval.attack.key(), [this] {
    return evaluate_robustness_runs(*classifier_, eval_state().name, data_.test.x, data_.test.y, config_.eval, data_.images(),
                                    derive_seed(static_cast<uint64_t>(config_.run.seed), 11), device());
  });
}

at::Tensor JemMethod::mature_buffer_slots() {
  auto mature = buffer_->mature_slots(config_.eval.buffer_min_updates);
  // Too few mature chains to show or score (e.g. early in training): use every chain.
  if (mature.size(0) < std::min<int64_t>(100, buffer_->size())) return buffer_->mature_slots(0);
  return mature;
}

at::Tensor JemMethod::model_labels(const at::Tensor& x) { return eval::predicted_labels(*classifier_, x); }

at::Tensor JemMethod::intended_classes(const at::Tensor& slots, const at::Tensor& x) {
  if (jem_->options.pxy_weight() > 0) return slots.div(buffer_->capacity() / classes_, "floor");
  return model_labels(x);
}

at::Tensor JemMethod::init_states(int64_t n, at::Generator& gen) {
  if (buffer_) return buffer_->init_samples(n, gen);
  std::vector<int64_t> shape{n};
  shape.insert(shape.end(), data_.event_shape.begin(), data_.event_shape.end());
  return torch::empty(shape, torch::TensorOptions().device(device())).uniform_(-1.0, 1.0, gen);
}

at::Tensor JemMethod::init_states(const at::Tensor& y, at::Generator& gen) {
  if (buffer_) return buffer_->init_samples(y, gen);
  return init_states(y.size(0), gen);
}

std::vector<std::string> JemMethod::pictures(const std::string& prefix) {
  const auto& st = eval_state();
  const auto& cfg = config_;
  std::vector<std::string> files;
  {
    std::vector<io::Image> panels{eval::reliability_diagram(st.result.bins, st.result.ece, st.name)};
    if (st.has_baseline) panels.push_back(eval::reliability_diagram(st.baseline.bins, st.baseline.ece, st.baseline_name));
    files.push_back(prefix + "reliability.png");
    io::write_png(files.back(), io::hstack(panels));
  }
  if (!st.result.ood_scores.empty()) {
    files.push_back(prefix + "roc.png");
    io::write_png(files.back(), eval::roc_panels(st.result, st.has_baseline ? &st.baseline : nullptr));
  }
  if (cfg.eval.attack.enabled()) {
    for (auto& f : write_robustness(robustness(), prefix, data_.images())) files.push_back(f);
  }
  if (data_.images()) {
    auto gen = make_generator(derive_seed(static_cast<uint64_t>(cfg.run.seed), 7), device());
    const int64_t n = cfg.eval.grid_n;
    const int64_t steps = cfg.eval.chain_steps;
    const int64_t per_class = std::max<int64_t>(1, std::min<int64_t>(10, n / std::min<int64_t>(classes_, 10)));
    const int64_t shown = std::min<int64_t>(classes_, 10);
    const auto range = std::make_pair(-1.0, 1.0);
    const auto idx_opts = torch::TensorOptions().dtype(torch::kLong).device(device());
    if (buffer_ && buffer_->size() > 0) {
      auto mature = mature_buffer_slots();
      mature = mature.index_select(0, torch::randperm(mature.size(0), gen, idx_opts));
      files.push_back(prefix + "samples-buffer.png");
      io::save_image_grid(buffer_->states().index_select(0, mature.slice(0, 0, std::min(n, mature.size(0)))).cpu(),
                          files.back(), 10, 2, range);
      // One row per class: JEM's class-conditional samples (JEM:eval_wrn_ebm.py cond_samples)
      // are buffer chains grouped by the model's own class; p(x|y) chains by their bucket.
      auto x = buffer_->states().index_select(0, mature);
      files.push_back(prefix + "samples-buffer-class.png");
      io::save_image_grid(io::rows_by_class(x, intended_classes(mature, x), shown, per_class, range.first).cpu(), files.back(),
                          per_class, 2, range);
    }
    if (steps > 0) {
      auto long_chain = sampler_->with_steps(steps);
      auto fresh = long_chain->sample(*classifier_, init_states(n, gen), gen);
      files.push_back(prefix + "samples-fresh.png");
      io::save_image_grid(fresh.cpu(), files.back(), 10, 2, range);
      auto y = torch::arange(shown, idx_opts).repeat_interleave(per_class);
      ClassConditionalEnergy conditional(*classifier_, y);
      EvalModeGuard eval_mode(*classifier_);
      auto cond = long_chain->sample(conditional, init_states(y, gen), gen);
      files.push_back(prefix + "samples-fresh-class.png");
      io::save_image_grid(cond.cpu(), files.back(), per_class, 2, range);
    }
  }
  if (!run_dir().empty()) {
    const std::string curves = prefix + "curves.png";
    if (write_curves(run_dir() + "/metrics.jsonl", curves,
                     {{"training loss", "loss", {{"loss", "loss"}}, {}},
                      {"accuracy", "accuracy", {{"acc", "train batch acc"}, {"test_acc", "test acc"}}, {}},
                      {"mean energy", "E", {{"e_pos", "E(data)"}, {"e_neg", "E(samples)"}}, {}}})) {
      files.push_back(curves);
    }
  }
  return files;
}

torch::Tensor JemMethod::sample() {
  const auto& cfg = config_;
  auto gen = make_generator(static_cast<uint64_t>(cfg.sample.seed), device());
  const int64_t n = cfg.sample.n;
  const int64_t label = cfg.sample.label;
  if (label >= classes_) {
    throw ConfigError("sample.class = " + std::to_string(label) + " but the model has " + std::to_string(classes_) + " classes");
  }
  const auto idx_opts = torch::TensorOptions().dtype(torch::kLong).device(device());
  at::Tensor x0;
  if (cfg.sample.init == "buffer" && buffer_ && buffer_->size() > 0) {
    at::Tensor slots;
    if (label >= 0 && jem_->options.pxy_weight() > 0) {
      const int64_t bucket = buffer_->capacity() / classes_;
      slots = torch::randint(bucket, {n}, gen, idx_opts) + label * bucket;  // class bucket of p(x|y) chains
    } else {
      slots = mature_buffer_slots();
      if (label >= 0) {
        // Start from mature chains the model already assigns to the class (JEM's cond_samples
        // reads them from the buffer); from any mature chain if it assigns none.
        auto of_class = slots.index_select(0, model_labels(buffer_->states().index_select(0, slots)).eq(label).nonzero().view({-1}));
        if (of_class.size(0) > 0) slots = of_class;
      }
      slots = slots.index_select(0, torch::randint(slots.size(0), {n}, gen, idx_opts));
    }
    x0 = buffer_->states().index_select(0, slots);
  } else {
    x0 = label >= 0 ? init_states(torch::full({n}, label, idx_opts), gen) : init_states(n, gen);
  }
  auto chain = sampler_->with_steps(cfg.sample.steps);
  if (label >= 0) {
    ClassConditionalEnergy conditional(*classifier_, torch::full({n}, label, idx_opts));
    EvalModeGuard eval_mode(*classifier_);
    return chain->sample(conditional, x0, gen);
  }
  return chain->sample(*classifier_, x0, gen);
}

}  // namespace joule::methods
