// The JEM pipeline (method = "jem"): a classifier (small CNN, Wide-ResNet or MLP) trained as a
// joint energy model with SGLD negatives from a replay buffer, or with cross-entropy only
// (jem.px_weight = 0) as the baseline in the same harness; supervised or semi-supervised
// (jem.labels_per_class). Data: Fashion-MNIST / MNIST (IDX), CIFAR-10/100 (binary), synthetic
// CIFAR-shaped images (timing), CSV tables. Evaluation in pipeline_jem_eval.cpp.
#include <cmath>
#include <filesystem>
#include <iostream>

#include "joule/core/runtime.h"
#include "joule/data/cifar.h"
#include "joule/data/csv.h"
#include "joule/data/idx.h"
#include "joule/io/checkpoint.h"
#include "joule/io/plot.h"
#include "joule/models/classifiers.h"
#include "joule/objectives/jem.h"
#include "tools/joule/command_common.h"
#include "tools/joule/pipeline_common.h"
#include "tools/joule/pipeline_jem.h"

namespace joule::cli {
namespace {

using jem::Split;

Split take(const Split& s, const at::Tensor& idx) { return {s.x.index_select(0, idx), s.y.index_select(0, idx)}; }

// Pixel images in [0, 1] -> JEM's model space [−1, 1].
Split to_model_space(const data::ImageSplit& s) { return {s.images.mul(2.0).sub(1.0), s.labels}; }

class JemPipeline : public Pipeline {
 public:
  void build(const Config& cfg, torch::Device device) override {
    const uint64_t seed = static_cast<uint64_t>(cfg.get_int("run.seed"));
    auto gen_data = make_generator(derive_seed(seed, 1));
    auto gen_init = make_generator(derive_seed(seed, 3));
    seed_ = seed;
    device_ = device;
    load_data(cfg, gen_data);
    data_noise_ = cfg.get_float("jem.data_noise");

    // Subset of the training data (seeded), then the labelled subset for semi-supervised runs.
    if (cfg.get_int("jem.n_train") > 0 && cfg.get_int("jem.n_train") < train_.x.size(0)) {
      train_ = take(train_, torch::randperm(train_.x.size(0), gen_data, torch::kLong).slice(0, 0, cfg.get_int("jem.n_train")));
    }
    if (cfg.get_int("jem.n_test") > 0 && cfg.get_int("jem.n_test") < test_.x.size(0)) {
      test_ = {test_.x.slice(0, 0, cfg.get_int("jem.n_test")), test_.y.slice(0, 0, cfg.get_int("jem.n_test"))};
    }
    const int64_t batch = cfg.get_int("train.batch_size");
    if (batch > train_.x.size(0)) {
      throw UsageError("train.batch_size = " + std::to_string(batch) + " exceeds the " + std::to_string(train_.x.size(0)) +
                       " training examples");
    }
    const int64_t per_class = cfg.get_int("jem.labels_per_class");
    Split labelled;
    if (per_class > 0) {
      labelled = pick_labelled(per_class, gen_data);
      if (batch > labelled.x.size(0)) {
        throw UsageError("train.batch_size = " + std::to_string(batch) + " exceeds the " +
                         std::to_string(labelled.x.size(0)) + " labelled examples (jem.labels_per_class = " +
                         std::to_string(per_class) + ")");
      }
    }

    auto model = make_model(cfg, gen_init);
    model->to(device);
    model_ = model;
    classifier_ = model.get();

    sampler_ = make_sampler(cfg);
    auto opts = JemOptions(classes_)
                    .px_weight(cfg.get_float("jem.px_weight"))
                    .py_weight(cfg.get_float("jem.py_weight"))
                    .pxy_weight(cfg.get_float("jem.pxy_weight"))
                    .l2_energy(cfg.get_float("objective.l2_energy"))
                    .data_noise(data_noise_);
    if (opts.generative()) {
      buffer_ = make_buffer(cfg, event_shape_, device);
      if (batch > buffer_->capacity()) {
        throw UsageError("train.batch_size = " + std::to_string(batch) + " exceeds buffer.capacity = " +
                         std::to_string(buffer_->capacity()));
      }
      if (opts.pxy_weight() > 0 && buffer_->capacity() % classes_ != 0) {
        throw UsageError("jem.pxy_weight > 0 keeps one bucket per class, so buffer.capacity (" +
                         std::to_string(buffer_->capacity()) + ") must be a multiple of the " + std::to_string(classes_) +
                         " classes");
      }
      if (cfg.get_string("buffer.init") == "data") buffer_->set_data(train_.x.to(device));
    }
    try {
      jem_ = std::make_shared<Jem>(opts, opts.generative() ? sampler_ : nullptr, buffer_);
    } catch (const c10::Error& e) {
      throw UsageError(e.what_without_backtrace());
    }
    if (per_class > 0) {
      jem_->set_labelled(std::make_shared<data::TensorDataset>(labelled.x.to(device), labelled.y.to(device)));
      data_ = std::make_shared<data::TensorDataset>(train_.x.to(device));  // generative term: every example
    } else {
      data_ = std::make_shared<data::TensorDataset>(train_.x.to(device), train_.y.to(device));
    }
    objective_ = jem_;
    // A fixed noisy slice of the test set for the accuracy logged during training.
    auto gen_monitor = make_generator(derive_seed(seed, 6));
    const int64_t m = std::min<int64_t>(1000, test_.x.size(0));
    monitor_ = {test_.x.slice(0, 0, m), test_.y.slice(0, 0, m)};
    if (data_noise_ > 0) monitor_.x = monitor_.x + torch::empty_like(monitor_.x).normal_(0.0, data_noise_, gen_monitor);
    if (cfg.command() == "train") eval_every_ = cfg.get_int("train.eval_every");
  }

  void add_callbacks(train::Trainer& trainer, RunContext& ctx) override {
    add_periodic_evaluation(
        trainer, ctx, eval_every_,
        [this](train::Trainer&) -> Measurements {
          auto s = eval::classifier_scores(*classifier_, monitor_.x, 256, /*with_grad=*/false);
          return {{"test_acc", eval::accuracy(s.probs, monitor_.y)}, {"test_logpx", s.log_px.mean().item<double>()}};
        },
        "test_acc", "test_acc");
  }

  std::vector<ReportLine> evaluate(train::Trainer& trainer, const Config& cfg, RunContext& ctx) override {
    const auto& st = eval_state(trainer, cfg, ctx);
    auto lines = jem::report_lines(st.result, "", st.readout_t);
    if (val_.x.defined()) {
      auto s = eval::classifier_scores(*classifier_, val_.x, 256, false);
      lines.push_back({"val_acc", eval::accuracy(s.probs, val_.y), "validation accuracy"});
    }
    lines.push_back({"sampler_temperature", sampler_->temperature(),
                     "b^2/(2a) of the SGLD sampler (JEM: 5e-5, training matched exp(-E/T))"});
    lines.push_back({"readout_temperature", st.readout_t, "T used for log p~(x) values above"});
    if (st.has_baseline) {
      auto b = jem::report_lines(st.baseline, "baseline.", st.baseline_t);
      lines.insert(lines.end(), b.begin(), b.end());
    }
    const std::string table = jem::markdown_table(st.result, st.name, st.has_baseline ? &st.baseline : nullptr, st.baseline_name);
    if (ctx.out) *ctx.out << table << "\n";
    if (!ctx.run_dir.empty()) {
      const std::string path = ctx.run_dir + "/eval-table-step" + std::to_string(trainer.step_count()) + ".md";
      io::write_text_file(path, "# JEM evaluation, step " + std::to_string(trainer.step_count()) + "\n\n" + table);
      if (ctx.out) *ctx.out << "table written to " << path << "\n\n";
    }
    return lines;
  }

  std::vector<std::string> pictures(train::Trainer& trainer, const Config& cfg, RunContext& ctx,
                                    const std::string& prefix) override {
    const auto& st = eval_state(trainer, cfg, ctx);
    std::vector<std::string> files;
    {
      std::vector<io::Image> panels{jem::reliability_diagram(st.result.bins, st.result.ece, st.name)};
      if (st.has_baseline) panels.push_back(jem::reliability_diagram(st.baseline.bins, st.baseline.ece, st.baseline_name));
      files.push_back(prefix + "reliability.png");
      io::write_png(files.back(), io::hstack(panels));
    }
    if (!st.result.ood_scores.empty()) {
      files.push_back(prefix + "roc.png");
      io::write_png(files.back(), jem::roc_panels(st.result, st.has_baseline ? &st.baseline : nullptr));
    }
    if (images()) {
      auto gen = make_generator(derive_seed(seed_, 7), ctx.device);
      const int64_t n = cfg.get_int("eval.grid_n");
      const int64_t steps = cfg.get_int("eval.chain_steps");
      const int64_t per_class = std::max<int64_t>(1, std::min<int64_t>(10, n / std::min<int64_t>(classes_, 10)));
      const int64_t shown = std::min<int64_t>(classes_, 10);
      auto range = std::make_pair(-1.0, 1.0);
      if (buffer_ && buffer_->storage().defined()) {
        auto idx = torch::randperm(buffer_->capacity(), gen, torch::TensorOptions().dtype(torch::kLong).device(ctx.device))
                       .slice(0, 0, std::min(n, buffer_->capacity()));
        files.push_back(prefix + "samples-buffer.png");
        io::save_image_grid(buffer_->storage().index_select(0, idx).cpu(), files.back(), 10, 2, range);
        torch::Tensor by_class;
        if (jem_->options.pxy_weight() > 0) {
          // The class buckets of the p(x|y) chains, as they are.
          const int64_t bucket = buffer_->capacity() / classes_;
          std::vector<torch::Tensor> rows;
          for (int64_t c = 0; c < shown; ++c) rows.push_back(buffer_->storage().slice(0, c * bucket, c * bucket + per_class));
          by_class = torch::cat(rows, 0);
        } else if (steps > 0) {
          // An unconditional buffer has no classes: refine random buffer states on E(x, y).
          auto y = torch::arange(shown, torch::TensorOptions().dtype(torch::kLong).device(ctx.device)).repeat_interleave(per_class);
          auto start = buffer_->storage().index_select(
              0, torch::randint(buffer_->capacity(), {y.size(0)}, gen, torch::TensorOptions().dtype(torch::kLong).device(ctx.device)));
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
        auto fresh = long_chain->sample(*model_, init_states(n, gen), gen);
        files.push_back(prefix + "samples-fresh.png");
        io::save_image_grid(fresh.cpu(), files.back(), 10, 2, range);
        auto y = torch::arange(shown, torch::TensorOptions().dtype(torch::kLong).device(ctx.device))
                     .repeat_interleave(per_class);
        ClassConditionalEnergy conditional(*classifier_, y);
        EvalModeGuard eval_mode(*classifier_);
        auto cond = long_chain->sample(conditional, init_states(y.size(0), gen), gen);
        files.push_back(prefix + "samples-fresh-class.png");
        io::save_image_grid(cond.cpu(), files.back(), per_class, 2, range);
      }
    }
    if (!ctx.run_dir.empty()) {
      const std::string curves = prefix + "curves.png";
      if (write_jem_curves(ctx.run_dir + "/metrics.jsonl", curves)) files.push_back(curves);
    }
    return files;
  }

  torch::Tensor sample(train::Trainer& trainer, const Config& cfg, RunContext& ctx) override {
    auto gen = make_generator(static_cast<uint64_t>(cfg.get_int("run.seed")), ctx.device);
    const int64_t n = cfg.get_int("sample.n");
    const int64_t label = cfg.get_int("sample.class");
    if (label >= classes_) {
      throw UsageError("sample.class = " + std::to_string(label) + " but the model has " + std::to_string(classes_) + " classes");
    }
    const auto idx_opts = torch::TensorOptions().dtype(torch::kLong).device(ctx.device);
    torch::Tensor x0;
    if (cfg.get_string("sample.init") == "buffer" && buffer_ && buffer_->storage().defined()) {
      torch::Tensor slots;
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
    auto chain = sampler_->with_steps(cfg.get_int("sample.steps"));
    torch::Tensor x;
    if (label >= 0) {
      ClassConditionalEnergy conditional(*classifier_, torch::full({n}, label, idx_opts));
      EvalModeGuard eval_mode(*classifier_);
      x = chain->sample(conditional, x0, gen);
    } else {
      x = chain->sample(*model_, x0, gen);
    }
    if (images()) {
      std::string prefix = cfg.get_string("sample.out");
      if (prefix.empty()) prefix = ctx.run_dir + "/samples-step" + std::to_string(trainer.step_count());
      io::save_image_grid(x.cpu(), prefix + ".png", 10, 2, std::make_pair(-1.0, 1.0));
      if (ctx.out) *ctx.out << "wrote " << prefix << ".png (values in [-1, 1]; pixels = (x + 1) / 2)\n";
    }
    return x;
  }

 private:
  struct EvalState {
    int64_t step = -1;
    std::string key;
    double readout_t = 1, baseline_t = 1;
    jem::EvalResult result, baseline;
    bool has_baseline = false;
    std::string name, baseline_name;
  };

  bool images() const { return event_shape_.size() == 3 && (event_shape_[0] == 1 || event_shape_[0] == 3); }

  const EvalState& eval_state(train::Trainer& trainer, const Config& cfg, RunContext& ctx) {
    const std::string key = cfg.get_string("eval.ood_sets") + "|" + cfg.get_string("eval.ood_mnist_dir") + "|" +
                            cfg.get_string("eval.baseline") + "|" + std::to_string(cfg.get_int("eval.ood_n")) + "|" +
                            std::to_string(readout_temperature(cfg));
    if (state_.step == trainer.step_count() && state_.key == key) return state_;
    EvalState st;
    st.step = trainer.step_count();
    st.key = key;
    st.readout_t = readout_temperature(cfg);
    st.name = jem_->name() + " (" + (ctx.run_dir.empty() ? std::string("this run") : std::filesystem::path(ctx.run_dir).filename().string()) + ")";
    auto inputs = jem::make_eval_inputs(test_, images(), cfg, data_noise_, derive_seed(seed_, 5));
    st.result = jem::evaluate_model(*classifier_, inputs, st.readout_t, 256);
    const std::string baseline = cfg.get_string("eval.baseline");
    if (!baseline.empty()) {
      Restored r = restore_run(baseline, ctx.device);
      auto* other = dynamic_cast<ClassifierEnergyImpl*>(r.trainer->model_ptr().get());
      if (!other) throw UsageError("eval.baseline '" + baseline + "' is not a JEM/classifier run");
      if (other->event_shape() != event_shape_ || other->num_classes() != classes_) {
        throw UsageError("eval.baseline '" + baseline + "' was trained on inputs or classes of another shape");
      }
      st.baseline_t = r.trainer->model().temperature() * r.trainer->objective().sampler_temperature();
      st.baseline = jem::evaluate_model(*other, inputs, st.baseline_t, 256);
      st.has_baseline = true;
      st.baseline_name = r.trainer->objective().name() + " (" + std::filesystem::path(r.run_dir).filename().string() + ")";
    }
    state_ = std::move(st);
    return state_;
  }

  double readout_temperature(const Config& cfg) const {
    double t = 0;
    if (Registry::global().find("eval.temperature")) t = cfg.get_float("eval.temperature");
    return t > 0 ? t : model_->temperature() * jem_->sampler_temperature();
  }

  torch::Tensor init_states(int64_t n, at::Generator& gen) {
    if (buffer_) return buffer_->init_samples(n, gen);
    std::vector<int64_t> shape{n};
    shape.insert(shape.end(), event_shape_.begin(), event_shape_.end());
    return torch::empty(shape, torch::TensorOptions().device(device_)).uniform_(-1.0, 1.0, gen);
  }

  void load_data(const Config& cfg, at::Generator& gen) {
    const std::string name = cfg.get_string("data.dataset");
    const std::string path = cfg.get_string("data.path");
    auto need_path = [&](const std::string& what) {
      if (path.empty()) throw UsageError("data.dataset = \"" + name + "\" needs data.path = <" + what + ">");
    };
    try {
      if (name == "fashion-mnist" || name == "mnist") {
        if (name == "mnist") need_path("folder with the MNIST IDX files");
        const std::string dir = path.empty() ? data::kFashionMnistDir : path;
        train_ = to_model_space(data::load_mnist_split(dir, "train"));
        test_ = to_model_space(data::load_mnist_split(dir, "t10k"));
      } else if (name == "cifar10" || name == "cifar100") {
        need_path("folder with the CIFAR binary files");
        const auto kind = name == "cifar10" ? data::CifarKind::kCifar10 : data::CifarKind::kCifar100;
        train_ = to_model_space(data::load_cifar_split(path, kind, "train"));
        test_ = to_model_space(data::load_cifar_split(path, kind, "test"));
      } else if (name == "synthetic-cifar10") {
        // Random CIFAR-shaped images: for timing the CIFAR configuration without the data.
        const int64_t n = cfg.get_int("jem.synthetic_n");
        train_ = {torch::empty({n, 3, 32, 32}).uniform_(-1.0, 1.0, gen), torch::randint(10, {n}, gen, torch::kLong)};
        test_ = {torch::empty({256, 3, 32, 32}).uniform_(-1.0, 1.0, gen), torch::randint(10, {256}, gen, torch::kLong)};
      } else if (name == "csv") {
        need_path("file.csv");
        load_csv(cfg, path, gen);
      } else {
        throw UsageError("method = \"jem\" does not support data.dataset = \"" + name +
                         "\" (use fashion-mnist, mnist, cifar10, cifar100, synthetic-cifar10 or csv)");
      }
    } catch (const c10::Error& e) {
      throw UsageError(e.what_without_backtrace());
    }
    event_shape_.assign(train_.x.sizes().begin() + 1, train_.x.sizes().end());
    classes_ = std::max(train_.y.max().item<int64_t>(), test_.y.max().item<int64_t>()) + 1;
    if (name == "cifar100") classes_ = 100;
    if (name != "csv") classes_ = std::max<int64_t>(classes_, 10);
    if (classes_ < 2) throw UsageError("the data has a single class; JEM needs labels of at least two classes");
  }

  void load_csv(const Config& cfg, const std::string& path, at::Generator& gen) {
    auto table = data::read_csv(path, data::CsvOptions().label_column(cfg.get_string("jem.label_column")));
    if (!table.labels.defined()) throw UsageError("CSV '" + path + "' needs a label column (jem.label_column)");
    const int64_t n = table.features.size(0);
    auto perm = torch::randperm(n, gen, torch::kLong);
    const int64_t n_test = std::max<int64_t>(1, std::llround(n * cfg.get_float("jem.test_fraction")));
    const int64_t n_val = std::llround(n * cfg.get_float("jem.val_fraction"));
    if (n - n_test - n_val < 2) throw UsageError("CSV '" + path + "' has too few rows for the train/validation/test split");
    Split all{table.features, table.labels};
    test_ = take(all, perm.slice(0, 0, n_test));
    if (n_val > 0) val_ = take(all, perm.slice(0, n_test, n_test + n_val));
    train_ = take(all, perm.slice(0, n_test + n_val));
    // Standardise every split with the training statistics (constant columns keep scale 1).
    auto mean = train_.x.mean(0, true);
    auto std = train_.x.std(0, /*unbiased=*/true, /*keepdim=*/true);
    std = torch::where(std > 1e-12, std, torch::ones_like(std));
    train_.x = (train_.x - mean) / std;
    test_.x = (test_.x - mean) / std;
    if (val_.x.defined()) val_.x = (val_.x - mean) / std;
  }

  Split pick_labelled(int64_t per_class, at::Generator& gen) {
    // The first `per_class` examples of each class in a seeded order (JEM's labels_per_class).
    auto perm = torch::randperm(train_.x.size(0), gen, torch::kLong);
    auto y = train_.y.index_select(0, perm);
    std::vector<torch::Tensor> chosen;
    for (int64_t c = 0; c < classes_; ++c) {
      auto idx = perm.masked_select(y.eq(c));
      if (idx.size(0) < per_class) {
        throw UsageError("jem.labels_per_class = " + std::to_string(per_class) + " but class " + std::to_string(c) +
                         " has only " + std::to_string(idx.size(0)) + " training examples");
      }
      chosen.push_back(idx.slice(0, 0, per_class));
    }
    return take(train_, torch::cat(chosen, 0));
  }

  std::shared_ptr<ClassifierEnergyImpl> make_model(const Config& cfg, at::Generator& gen) {
    const std::string kind = cfg.get_string("model.kind");
    const auto act = parse_activation(cfg.get_string("model.activation"));
    const double slope = cfg.get_float("model.negative_slope");
    const double dropout = cfg.get_float("jem.dropout");
    try {
      const auto norm = parse_norm(cfg.get_string("jem.norm"));
      if (kind == "cnn" || kind == "wrn") {
        if (event_shape_.size() != 3) throw UsageError("model.kind = \"" + kind + "\" needs image data; use model.kind = \"mlp\"");
        if (kind == "cnn") {
          auto net = SmallCnn(SmallCnnOptions(event_shape_[0], classes_)
                                  .channels(cfg.get_int("jem.channels"))
                                  .image_size({event_shape_[1], event_shape_[2]})
                                  .activation(act)
                                  .negative_slope(slope)
                                  .dropout(dropout)
                                  .norm(norm)
                                  .norm_groups(cfg.get_int("jem.norm_groups")));
          net->reset_parameters(gen);
          return std::make_shared<ClassifierEnergyImpl>(net, event_shape_, classes_);
        }
        auto net = WideResNet(WideResNetOptions(event_shape_[0], classes_)
                                  .depth(cfg.get_int("jem.wrn_depth"))
                                  .widen(cfg.get_int("jem.wrn_widen"))
                                  .dropout(dropout)
                                  .norm(norm)
                                  .norm_groups(cfg.get_int("jem.norm_groups"))
                                  .activation(act)
                                  .negative_slope(slope));
        net->reset_parameters(gen);
        return std::make_shared<ClassifierEnergyImpl>(net, event_shape_, classes_);
      }
      int64_t dim = 1;
      for (int64_t d : event_shape_) dim *= d;
      auto net = MlpClassifier(MlpClassifierOptions(dim, classes_)
                                   .hidden(std::vector<int64_t>(cfg.get_int("model.depth"), cfg.get_int("model.width")))
                                   .activation(act)
                                   .negative_slope(slope)
                                   .dropout(dropout));
      net->reset_parameters(gen);
      return std::make_shared<ClassifierEnergyImpl>(net, event_shape_, classes_);
    } catch (const c10::Error& e) {
      throw UsageError(e.what_without_backtrace());
    }
  }

  static bool write_jem_curves(const std::string& metrics_path, const std::string& png_path) {
    auto rows = train::MetricsLogger::read(metrics_path);
    io::Series loss{"loss", {}, {}, io::palette(0)};
    io::Series acc{"train batch acc", {}, {}, io::palette(0)}, test_acc{"test acc", {}, {}, io::palette(1)};
    io::Series e_pos{"E(data)", {}, {}, io::palette(2)}, e_neg{"E(samples)", {}, {}, io::palette(3)};
    for (const auto& row : rows) {
      for (const auto& kv : row.values) {
        const double s = static_cast<double>(row.step);
        if (kv.first == "loss") loss.x.push_back(s), loss.y.push_back(kv.second);
        if (kv.first == "acc") acc.x.push_back(s), acc.y.push_back(kv.second);
        if (kv.first == "test_acc") test_acc.x.push_back(s), test_acc.y.push_back(kv.second);
        if (kv.first == "e_pos") e_pos.x.push_back(s), e_pos.y.push_back(kv.second);
        if (kv.first == "e_neg") e_neg.x.push_back(s), e_neg.y.push_back(kv.second);
      }
    }
    if (loss.x.empty()) return false;
    std::vector<io::Image> panels{io::line_plot({loss}, "training loss", "step", "loss")};
    if (!acc.x.empty() || !test_acc.x.empty()) panels.push_back(io::line_plot({acc, test_acc}, "accuracy", "step", "accuracy"));
    if (!e_neg.x.empty()) panels.push_back(io::line_plot({e_pos, e_neg}, "mean energy", "step", "E"));
    io::write_png(png_path, io::hstack(panels));
    return true;
  }

  uint64_t seed_ = 0;
  torch::Device device_ = torch::kCPU;
  Split train_, test_, val_, monitor_;
  std::vector<int64_t> event_shape_;
  int64_t classes_ = 0;
  double data_noise_ = 0;
  int64_t eval_every_ = 0;
  ClassifierEnergyImpl* classifier_ = nullptr;
  std::shared_ptr<Sampler> sampler_;
  std::shared_ptr<ReplayBuffer> buffer_;
  std::shared_ptr<Jem> jem_;
  EvalState state_;
};

}  // namespace

std::unique_ptr<Pipeline> make_jem_pipeline() { return std::make_unique<JemPipeline>(); }

}  // namespace joule::cli
