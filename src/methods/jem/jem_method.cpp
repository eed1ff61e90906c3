// method = "jem": classifiers as joint energy models (and the cross-entropy baseline).
#include "joule/methods/jem.h"

#include <cmath>
#include <filesystem>

#include "joule/core/runtime.h"
#include "joule/data/cifar.h"
#include "joule/data/csv.h"
#include "joule/data/idx.h"
#include "joule/data/split.h"
#include "joule/io/plot.h"
#include "joule/methods/run.h"
#include "joule/models/activation.h"
#include "joule/models/classifiers.h"

namespace joule::methods {

using config::ConfigError;
using config::Doc;

void JemConfig::Data::visit(config::Fields& f) {
  f("dataset", dataset,
    Doc("fashion-mnist (Debian's copy, or data.path), mnist, cifar10, cifar100 (data.path: their files), "
        "synthetic-cifar10 (random images, for timing) or csv (data.path)")
        .choices({"fashion-mnist", "mnist", "cifar10", "cifar100", "synthetic-cifar10", "csv"}));
  f("path", path, "folder with the IDX or CIFAR binary files, or the CSV file");
}

void JemConfig::Model::visit(config::Fields& f) {
  f("kind", kind, Doc("classifier: small CNN, Wide-ResNet (images) or MLP").choices({"cnn", "wrn", "mlp"}));
  f("width", width, Doc("mlp: hidden units per layer").min(1));
  f("depth", depth, Doc("mlp: hidden layers").min(1).max(64));
  f("activation", activation, Doc("hidden activation").choices(activation_names()));
  f("negative_slope", negative_slope, Doc("leaky_relu slope for x < 0").min(0.0).max(1.0));
}

void JemConfig::Jem::visit(config::Fields& f) {
  f("px_weight", px_weight, Doc("weight of the generative term log p(x) (0 = cross-entropy-only baseline)").min(0.0));
  f("py_weight", py_weight, Doc("weight of the cross-entropy term log p(y|x)").min(0.0));
  f("pxy_weight", pxy_weight, Doc("weight of log p(x|y) with class-conditional chains (class buckets of the buffer)").min(0.0));
  f("data_noise", data_noise, Doc("std of Gaussian noise added to training and test inputs (JEM: 0.03)").min(0.0));
  f("labels_per_class", labels_per_class,
    Doc("semi-supervised: labelled examples per class (-1 = all labelled); the generative term uses all data").min(-1));
  f("n_train", n_train, Doc("training examples (0 = all; otherwise a seeded random subset)").min(0));
  f("n_test", n_test, Doc("test examples for accuracy and calibration (0 = all)").min(0));
  f("label_column", label_column, "csv: label column (name or 0-based index; -1 = last)");
  f("val_fraction", val_fraction, Doc("csv: fraction of rows held out for validation").min(0.0).max(0.9));
  f("test_fraction", test_fraction, Doc("csv: fraction of rows held out for testing").min(0.01).max(0.9));
  f("synthetic_n", synthetic_n, Doc("synthetic-cifar10: random CIFAR-shaped images (for timing only)").min(64));
  f("channels", channels, Doc("cnn: base width c (convolutions of c, 2c, 4c channels)").min(1));
  f("wrn_depth", wrn_depth, Doc("wrn: depth 6n+4").min(10));
  f("wrn_widen", wrn_widen, Doc("wrn: widening factor k").min(1));
  f("dropout", dropout, Doc("dropout rate (cnn: before the head; wrn: inside blocks; mlp: after each layer)").min(0.0).max(0.95));
  f("norm", norm, Doc("normalisation in cnn/wrn (no BatchNorm in energy models)").choices({"none", "group"}));
  f("norm_groups", norm_groups, Doc("GroupNorm groups (must divide every normalised channel count)").min(1));
}

void JemConfig::Objective::visit(config::Fields& f) {
  f("l2_energy", l2_energy, Doc("α of the L2 penalty on the energies of data and samples (the JEM author suggests 0.1)").min(0.0));
}

void JemConfig::Eval::visit(config::Fields& f) {
  f("ood_n", ood_n, Doc("in-distribution and per-OOD-set inputs scored for AUROC").min(10));
  f("ood_sets", ood_sets,
    Doc("OOD sets for AUROC (mnist needs eval.ood_mnist_dir)").choices(eval::ood_set_names()));
  f("ood_mnist_dir", ood_mnist_dir, "folder with MNIST IDX files (t10k-*) used as an OOD set when given");
  f("baseline", baseline, "run folder or checkpoint of a baseline (e.g. the cross-entropy-only run) evaluated beside this one");
  f("grid_n", grid_n, Doc("images in each sample grid").min(1).max(1024));
  f("temperature", temperature,
    Doc("temperature of log p~(x) read-outs; 0 = model T x sampler T (what training matched)").min(0.0));
  f("chain_steps", chain_steps, Doc("SGLD steps of the fresh chains in the sample grids").min(0));
}

void JemConfig::Sample::visit(config::Fields& f) {
  SampleConfig::visit(f);
  f("class", label, Doc("class of class-conditional samples (-1 = unconditional)").min(-1));
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
  load_data(gen_data);

  // Subset of the training data (seeded), then the labelled subset for semi-supervised runs.
  if (cfg.jem.n_train > 0 && cfg.jem.n_train < train_.x.size(0)) {
    auto idx = torch::randperm(train_.x.size(0), gen_data, torch::kLong).slice(0, 0, cfg.jem.n_train);
    train_ = {train_.x.index_select(0, idx), train_.y.index_select(0, idx)};
  }
  if (cfg.jem.n_test > 0 && cfg.jem.n_test < test_.x.size(0)) {
    test_ = {test_.x.slice(0, 0, cfg.jem.n_test), test_.y.slice(0, 0, cfg.jem.n_test)};
  }
  const int64_t batch = cfg.train.batch_size;
  check_batch_size(batch, train_.x.size(0), "training examples");
  const int64_t per_class = cfg.jem.labels_per_class;
  Split labelled;
  if (per_class > 0) {
    labelled = pick_labelled(per_class, gen_data);
    check_batch_size(batch, labelled.x.size(0),
                     "labelled examples (jem.labels_per_class = " + std::to_string(per_class) + ")");
  }

  Parts parts;
  auto model = make_model(gen_init);
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
    buffer_ = cfg.buffer.build(event_shape_, device);
    check_batch_size(batch, buffer_->capacity(), "persistent chains (buffer.capacity)");
    if (opts.pxy_weight() > 0 && buffer_->capacity() % classes_ != 0) {
      throw ConfigError("jem.pxy_weight > 0 keeps one bucket per class, so buffer.capacity (" +
                        std::to_string(buffer_->capacity()) + ") must be a multiple of the " + std::to_string(classes_) +
                        " classes");
    }
    if (cfg.buffer.init == "data") buffer_->set_data(train_.x.to(device));
  }
  jem_ = std::make_shared<Jem>(opts, opts.generative() ? sampler_ : nullptr, buffer_);
  if (per_class > 0) {
    jem_->set_labelled(std::make_shared<data::TensorDataset>(labelled.x.to(device), labelled.y.to(device)));
    parts.data = std::make_shared<data::TensorDataset>(train_.x.to(device));  // generative term: every example
  } else {
    parts.data = std::make_shared<data::TensorDataset>(train_.x.to(device), train_.y.to(device));
  }
  parts.objective = jem_;
  // A fixed noisy slice of the test set for the accuracy logged during training.
  auto gen_monitor = make_generator(derive_seed(seed, 6));
  const int64_t m = std::min<int64_t>(1000, test_.x.size(0));
  monitor_ = {test_.x.slice(0, 0, m), test_.y.slice(0, 0, m)};
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
  auto opts = eval::ClassifierEvalOptions()
                  .ood_n(cfg.eval.ood_n)
                  .ood_sets(cfg.eval.ood_sets)
                  .ood_mnist_dir(cfg.eval.ood_mnist_dir)
                  .data_noise(cfg.jem.data_noise)
                  .images(images());
  auto inputs = eval::make_classifier_eval_inputs(test_.x, test_.y, opts,
                                                  make_generator(derive_seed(static_cast<uint64_t>(cfg.run.seed), 5)));
  st.result = eval::evaluate_classifier(*classifier_, inputs, st.readout_t, 256);
  if (!cfg.eval.baseline.empty()) {
    auto loaded = load(cfg.eval.baseline, device());
    auto* other = dynamic_cast<JemMethod*>(loaded.get());
    if (!other) throw ConfigError("eval.baseline '" + cfg.eval.baseline + "' is not a JEM/classifier run");
    if (other->classifier().event_shape() != event_shape_ || other->num_classes() != classes_) {
      throw ConfigError("eval.baseline '" + cfg.eval.baseline + "' was trained on inputs or classes of another shape");
    }
    st.baseline_t = other->classifier().temperature() * other->objective().sampler_temperature();
    st.baseline = eval::evaluate_classifier(other->classifier(), inputs, st.baseline_t, 256);
    st.has_baseline = true;
    st.baseline_name = other->objective().name() + " (" + std::filesystem::path(other->run_dir()).filename().string() + ")";
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
  if (val_.x.defined()) {
    auto s = eval::classifier_scores(*classifier_, val_.x, 256, false);
    r.add("val_acc", eval::accuracy(s.probs, val_.y), "validation accuracy");
  }
  r.add("sampler_temperature", sampler_->temperature(), "b^2/(2a) of the SGLD sampler (JEM: 5e-5, training matched exp(-E/T))");
  r.add("readout_temperature", st.readout_t, "T used for log p~(x) values above");
  if (st.has_baseline) eval::add_classifier_lines(r, st.baseline, "baseline.", st.baseline_t);
  r.table = eval::classifier_table(st.result, st.name, st.has_baseline ? &st.baseline : nullptr, st.baseline_name);
  return r;
}

at::Tensor JemMethod::init_states(int64_t n, at::Generator& gen) {
  if (buffer_) return buffer_->init_samples(n, gen);
  std::vector<int64_t> shape{n};
  shape.insert(shape.end(), event_shape_.begin(), event_shape_.end());
  return torch::empty(shape, torch::TensorOptions().device(device())).uniform_(-1.0, 1.0, gen);
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
  if (images()) {
    auto gen = make_generator(derive_seed(static_cast<uint64_t>(cfg.run.seed), 7), device());
    const int64_t n = cfg.eval.grid_n;
    const int64_t steps = cfg.eval.chain_steps;
    const int64_t per_class = std::max<int64_t>(1, std::min<int64_t>(10, n / std::min<int64_t>(classes_, 10)));
    const int64_t shown = std::min<int64_t>(classes_, 10);
    const auto range = std::make_pair(-1.0, 1.0);
    const auto idx_opts = torch::TensorOptions().dtype(torch::kLong).device(device());
    if (buffer_ && buffer_->storage().defined()) {
      auto idx = torch::randperm(buffer_->capacity(), gen, idx_opts).slice(0, 0, std::min(n, buffer_->capacity()));
      files.push_back(prefix + "samples-buffer.png");
      io::save_image_grid(buffer_->storage().index_select(0, idx).cpu(), files.back(), 10, 2, range);
      at::Tensor by_class;
      if (jem_->options.pxy_weight() > 0) {
        // The class buckets of the p(x|y) chains, as they are.
        const int64_t bucket = buffer_->capacity() / classes_;
        std::vector<at::Tensor> rows;
        for (int64_t c = 0; c < shown; ++c) rows.push_back(buffer_->storage().slice(0, c * bucket, c * bucket + per_class));
        by_class = torch::cat(rows, 0);
      } else if (steps > 0) {
        // An unconditional buffer has no classes: refine random buffer states on E(x, y).
        auto y = torch::arange(shown, idx_opts).repeat_interleave(per_class);
        auto start = buffer_->storage().index_select(0, torch::randint(buffer_->capacity(), {y.size(0)}, gen, idx_opts));
        ClassConditionalEnergy conditional(*classifier_, y);
        EvalModeGuard eval_mode(*classifier_);
        by_class = sampler_->with_steps(steps)->sample(conditional, start, gen);
      }
      if (by_class.defined()) {
        files.push_back(prefix + "samples-buffer-class.png");
        io::save_image_grid(by_class.cpu(), files.back(), per_class, 2, range);
      }
    }
    if (steps > 0) {
      auto long_chain = sampler_->with_steps(steps);
      auto fresh = long_chain->sample(*classifier_, init_states(n, gen), gen);
      files.push_back(prefix + "samples-fresh.png");
      io::save_image_grid(fresh.cpu(), files.back(), 10, 2, range);
      auto y = torch::arange(shown, idx_opts).repeat_interleave(per_class);
      ClassConditionalEnergy conditional(*classifier_, y);
      EvalModeGuard eval_mode(*classifier_);
      auto cond = long_chain->sample(conditional, init_states(y.size(0), gen), gen);
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
  if (cfg.sample.init == "buffer" && buffer_ && buffer_->storage().defined()) {
    at::Tensor slots;
    if (label >= 0 && jem_->options.pxy_weight() > 0) {
      const int64_t bucket = buffer_->capacity() / classes_;
      slots = torch::randint(bucket, {n}, gen, idx_opts) + label * bucket;  // class bucket of p(x|y) chains
    } else {
      slots = torch::randint(buffer_->capacity(), {n}, gen, idx_opts);
    }
    x0 = buffer_->storage().index_select(0, slots);
  } else {
    x0 = init_states(n, gen);
  }
  auto chain = sampler_->with_steps(cfg.sample.steps);
  if (label >= 0) {
    ClassConditionalEnergy conditional(*classifier_, torch::full({n}, label, idx_opts));
    EvalModeGuard eval_mode(*classifier_);
    return chain->sample(conditional, x0, gen);
  }
  return chain->sample(*classifier_, x0, gen);
}

void JemMethod::load_data(at::Generator& gen) {
  const auto& cfg = config_;
  const std::string& name = cfg.data.dataset;
  const std::string& path = cfg.data.path;
  auto need_path = [&](const std::string& what) {
    if (path.empty()) throw ConfigError("data.dataset = \"" + name + "\" needs data.path = <" + what + ">");
  };
  // Pixel images in [0, 1] -> JEM's model space [−1, 1].
  auto model_space = [](const data::ImageSplit& s) { return Split{s.images.mul(2.0).sub(1.0), s.labels}; };
  if (name == "fashion-mnist" || name == "mnist") {
    if (name == "mnist") need_path("folder with the MNIST IDX files");
    const std::string dir = path.empty() ? data::kFashionMnistDir : path;
    train_ = model_space(data::load_mnist_split(dir, "train"));
    test_ = model_space(data::load_mnist_split(dir, "t10k"));
  } else if (name == "cifar10" || name == "cifar100") {
    need_path("folder with the CIFAR binary files");
    const auto kind = name == "cifar10" ? data::CifarKind::kCifar10 : data::CifarKind::kCifar100;
    train_ = model_space(data::load_cifar_split(path, kind, "train"));
    test_ = model_space(data::load_cifar_split(path, kind, "test"));
  } else if (name == "synthetic-cifar10") {
    // Random CIFAR-shaped images: for timing the CIFAR configuration without the data.
    const int64_t n = cfg.jem.synthetic_n;
    train_ = {torch::empty({n, 3, 32, 32}).uniform_(-1.0, 1.0, gen), torch::randint(10, {n}, gen, torch::kLong)};
    test_ = {torch::empty({256, 3, 32, 32}).uniform_(-1.0, 1.0, gen), torch::randint(10, {256}, gen, torch::kLong)};
  } else {
    need_path("file.csv");
    load_csv(gen);
  }
  event_shape_.assign(train_.x.sizes().begin() + 1, train_.x.sizes().end());
  classes_ = std::max(train_.y.max().item<int64_t>(), test_.y.max().item<int64_t>()) + 1;
  if (name == "cifar100") classes_ = 100;
  if (name != "csv") classes_ = std::max<int64_t>(classes_, 10);
  if (classes_ < 2) throw ConfigError("the data has a single class; JEM needs labels of at least two classes");
}

void JemMethod::load_csv(at::Generator& gen) {
  const auto& cfg = config_;
  auto table = data::read_csv(cfg.data.path, data::CsvOptions().label_column(cfg.jem.label_column));
  if (!table.labels.defined()) throw ConfigError("CSV '" + cfg.data.path + "' needs a label column (jem.label_column)");
  const int64_t n = table.features.size(0);
  const int64_t n_test = std::max<int64_t>(1, std::llround(n * cfg.jem.test_fraction));
  const int64_t n_val = std::llround(n * cfg.jem.val_fraction);
  auto split = data::split_rows(data::Rows{table.features, table.labels}, n_val, n_test, gen, /*min_train=*/2);
  train_ = {split.train.x, split.train.y};
  test_ = {split.test.x, split.test.y};
  if (n_val > 0) val_ = {split.valid.x, split.valid.y};
  // Standardise every split with the training statistics (constant columns keep scale 1).
  auto mean = train_.x.mean(0, true);
  auto std = train_.x.std(0, /*unbiased=*/true, /*keepdim=*/true);
  std = torch::where(std > 1e-12, std, torch::ones_like(std));
  train_.x = (train_.x - mean) / std;
  test_.x = (test_.x - mean) / std;
  if (val_.x.defined()) val_.x = (val_.x - mean) / std;
}

JemMethod::Split JemMethod::pick_labelled(int64_t per_class, at::Generator& gen) {
  // The first `per_class` examples of each class in a seeded order (JEM's labels_per_class).
  auto perm = torch::randperm(train_.x.size(0), gen, torch::kLong);
  auto y = train_.y.index_select(0, perm);
  std::vector<at::Tensor> chosen;
  for (int64_t c = 0; c < classes_; ++c) {
    auto idx = perm.masked_select(y.eq(c));
    if (idx.size(0) < per_class) {
      throw ConfigError("jem.labels_per_class = " + std::to_string(per_class) + " but class " + std::to_string(c) +
                        " has only " + std::to_string(idx.size(0)) + " training examples");
    }
    chosen.push_back(idx.slice(0, 0, per_class));
  }
  auto idx = torch::cat(chosen, 0);
  return {train_.x.index_select(0, idx), train_.y.index_select(0, idx)};
}

std::shared_ptr<ClassifierEnergyImpl> JemMethod::make_model(at::Generator& gen) {
  const auto& cfg = config_;
  const auto act = parse_activation(cfg.model.activation);
  const double slope = cfg.model.negative_slope;
  const double dropout = cfg.jem.dropout;
  const auto norm = parse_norm(cfg.jem.norm);
  const std::string& kind = cfg.model.kind;
  if (kind == "cnn" || kind == "wrn") {
    if (event_shape_.size() != 3) throw ConfigError("model.kind = \"" + kind + "\" needs image data; use model.kind = \"mlp\"");
    if (kind == "cnn") {
      auto net = SmallCnn(SmallCnnOptions(event_shape_[0], classes_)
                              .channels(cfg.jem.channels)
                              .image_size({event_shape_[1], event_shape_[2]})
                              .activation(act)
                              .negative_slope(slope)
                              .dropout(dropout)
                              .norm(norm)
                              .norm_groups(cfg.jem.norm_groups));
      net->reset_parameters(gen);
      return std::make_shared<ClassifierEnergyImpl>(net, event_shape_, classes_);
    }
    auto net = WideResNet(WideResNetOptions(event_shape_[0], classes_)
                              .depth(cfg.jem.wrn_depth)
                              .widen(cfg.jem.wrn_widen)
                              .dropout(dropout)
                              .norm(norm)
                              .norm_groups(cfg.jem.norm_groups)
                              .activation(act)
                              .negative_slope(slope));
    net->reset_parameters(gen);
    return std::make_shared<ClassifierEnergyImpl>(net, event_shape_, classes_);
  }
  int64_t dim = 1;
  for (int64_t d : event_shape_) dim *= d;
  auto net = MlpClassifier(MlpClassifierOptions(dim, classes_)
                               .hidden(std::vector<int64_t>(cfg.model.depth, cfg.model.width))
                               .activation(act)
                               .negative_slope(slope)
                               .dropout(dropout));
  net->reset_parameters(gen);
  return std::make_shared<ClassifierEnergyImpl>(net, event_shape_, classes_);
}

}  // namespace joule::methods
