#include "joule/train/trainer.h"

#include <c10/util/Exception.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adam.h>
#include <torch/optim/sgd.h>
#include <torch/serialize/archive.h>

#include <cmath>
#include <sstream>

#include "joule/core/runtime.h"
#include "joule/io/checkpoint.h"

namespace joule::train {
namespace {

constexpr int64_t kFormatVersion = 1;

std::string join(const std::vector<std::string>& v, char sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? std::string(1, sep) : "") + v[i];
  return out;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, sep)) if (!item.empty()) out.push_back(item);
  return out;
}

void write_metadata(torch::serialize::OutputArchive& archive, const std::map<std::string, std::string>& meta) {
  std::vector<std::string> keys;
  for (const auto& kv : meta) keys.push_back(kv.first);
  archive.write("meta_keys", c10::IValue(join(keys, '\n')));
  for (const auto& kv : meta) archive.write("meta_" + kv.first, c10::IValue(kv.second));
}

std::map<std::string, std::string> read_metadata(torch::serialize::InputArchive& archive) {
  std::map<std::string, std::string> meta;
  c10::IValue keys;
  if (!archive.try_read("meta_keys", keys)) return meta;
  for (const auto& k : split(keys.toStringRef(), '\n')) {
    c10::IValue v;
    archive.read("meta_" + k, v);
    meta[k] = v.toStringRef();
  }
  return meta;
}

}  // namespace

OptimizerKind parse_optimizer(const std::string& name) {
  if (name == "adam") return OptimizerKind::kAdam;
  if (name == "sgd") return OptimizerKind::kSGD;
  TORCH_CHECK(false, "unknown optimizer '", name, "' (allowed: adam, sgd)");
}

LrSchedule parse_lr_schedule(const std::string& name) {
  if (name == "constant") return LrSchedule::kConstant;
  if (name == "linear") return LrSchedule::kLinear;
  if (name == "cosine") return LrSchedule::kCosine;
  TORCH_CHECK(false, "unknown learning-rate schedule '", name, "' (allowed: constant, linear, cosine)");
}

void TrainerOptions::validate() const {
  TORCH_CHECK(steps_ >= 0, "train.steps must be >= 0, got ", steps_);
  TORCH_CHECK(batch_size_ > 0, "train.batch_size must be > 0, got ", batch_size_);
  TORCH_CHECK(std::isfinite(lr_) && lr_ > 0, "train.lr must be > 0, got ", lr_);
  TORCH_CHECK(warmup_steps_ >= 0, "train.warmup_steps must be >= 0, got ", warmup_steps_);
  TORCH_CHECK(beta1_ >= 0 && beta1_ < 1, "train.beta1 must be in [0, 1), got ", beta1_);
  TORCH_CHECK(beta2_ >= 0 && beta2_ < 1, "train.beta2 must be in [0, 1), got ", beta2_);
  TORCH_CHECK(momentum_ >= 0, "train.momentum must be >= 0, got ", momentum_);
  TORCH_CHECK(weight_decay_ >= 0, "train.weight_decay must be >= 0, got ", weight_decay_);
  TORCH_CHECK(grad_clip_norm_ >= 0, "train.grad_clip_norm must be >= 0 (0 = off), got ", grad_clip_norm_);
  TORCH_CHECK(energy_bound_ > 0 && loss_bound_ > 0, "divergence bounds must be > 0");
  TORCH_CHECK(max_restarts_ >= 0, "train.max_restarts must be >= 0, got ", max_restarts_);
  TORCH_CHECK(restart_lr_factor_ > 0 && restart_lr_factor_ <= 1, "train.restart_lr_factor must be in (0, 1], got ",
              restart_lr_factor_);
}

DivergenceError::DivergenceError(int64_t step_, const std::string& reason_)
    : std::runtime_error("training diverged at step " + std::to_string(step_) + ": " + reason_),
      step(step_),
      reason(reason_) {}

Trainer::Trainer(std::shared_ptr<EnergyModel> model, std::shared_ptr<Objective> objective,
                 std::shared_ptr<data::DataSource> data, TrainerOptions options)
    : model_(std::move(model)),
      objective_(std::move(objective)),
      data_(std::move(data)),
      options_(std::move(options)),
      gen_(make_generator(options_.seed(), module_device(*model_))) {
  TORCH_CHECK(model_ && objective_ && data_, "Trainer needs a model, an objective and data");
  options_.validate();
  auto params = model_->parameters();
  TORCH_CHECK(!params.empty(), "Trainer: the model has no parameters to train");
  if (options_.optimizer() == OptimizerKind::kAdam) {
    optimizer_ = std::make_unique<torch::optim::Adam>(
        params, torch::optim::AdamOptions(options_.lr())
                    .betas(std::make_tuple(options_.beta1(), options_.beta2()))
                    .weight_decay(options_.weight_decay()));
  } else {
    optimizer_ = std::make_unique<torch::optim::SGD>(
        params, torch::optim::SGDOptions(options_.lr()).momentum(options_.momentum()).weight_decay(options_.weight_decay()));
  }
}

double Trainer::lr() const {
  const auto& group = optimizer_->param_groups().at(0);
  if (options_.optimizer() == OptimizerKind::kAdam) return static_cast<const torch::optim::AdamOptions&>(group.options()).lr();
  return static_cast<const torch::optim::SGDOptions&>(group.options()).lr();
}

void Trainer::set_lr(double lr) {
  for (auto& group : optimizer_->param_groups()) {
    if (options_.optimizer() == OptimizerKind::kAdam) {
      static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);
    } else {
      static_cast<torch::optim::SGDOptions&>(group.options()).lr(lr);
    }
  }
}

double Trainer::scheduled_lr(int64_t step) const {
  double f = 1.0;
  const int64_t total = options_.steps();
  if (options_.warmup_steps() > 0 && step < options_.warmup_steps()) {
    f = double(step + 1) / double(options_.warmup_steps());
  } else if (options_.lr_schedule() != LrSchedule::kConstant && total > options_.warmup_steps()) {
    const double t = double(step - options_.warmup_steps()) / double(total - options_.warmup_steps());
    const double u = std::min(1.0, std::max(0.0, t));
    f = options_.lr_schedule() == LrSchedule::kLinear ? 1.0 - u : 0.5 * (1.0 + std::cos(M_PI * u));
  }
  return options_.lr() * lr_scale_ * f;
}

void Trainer::set_total_steps(int64_t steps) {
  TORCH_CHECK(steps >= 0, "train.steps must be >= 0, got ", steps);
  options_.steps(steps);
}

std::string Trainer::metadata(const std::string& key) const {
  auto it = metadata_.find(key);
  return it == metadata_.end() ? std::string() : it->second;
}

void Trainer::check_step(const torch::Tensor& loss, const std::vector<std::pair<std::string, double>>& metrics) {
  const double value = loss.item<double>();
  const int64_t at = step_ + 1;
  if (!std::isfinite(value)) throw DivergenceError(at, "loss is " + std::to_string(value));
  if (std::abs(value) > options_.loss_bound()) {
    throw DivergenceError(at, "|loss| = " + std::to_string(std::abs(value)) + " exceeds train.loss_bound = " +
                                  std::to_string(options_.loss_bound()));
  }
  for (const auto& kv : metrics) {
    if (kv.first != "e_pos" && kv.first != "e_neg") continue;
    if (!std::isfinite(kv.second) || std::abs(kv.second) > options_.energy_bound()) {
      throw DivergenceError(at, "mean energy " + kv.first + " = " + std::to_string(kv.second) +
                                    " is outside ±train.energy_bound = " + std::to_string(options_.energy_bound()));
    }
  }
}

StepResult Trainer::step() {
  const auto t0 = std::chrono::steady_clock::now();
  model_->train();
  Batch batch = data_->next(options_.batch_size(), gen_);
  const auto device = module_device(*model_);
  if (batch.x.device() != device) batch.x = batch.x.to(device);
  if (batch.y.defined() && batch.y.device() != device) batch.y = batch.y.to(device);

  ObjectiveOutput out = objective_->compute(*model_, batch, gen_);
  check_step(out.loss, out.metrics);

  set_lr(scheduled_lr(step_));
  auto params = model_->parameters();
  if (!out.gradients.empty()) {
    TORCH_CHECK(out.gradients.size() == params.size(), "objective '", objective_->name(), "' returned ",
                out.gradients.size(), " gradients for ", params.size(), " parameters");
    for (size_t i = 0; i < params.size(); ++i) params[i].mutable_grad() = out.gradients[i];
  } else {
    optimizer_->zero_grad();
    out.loss.backward();
  }
  double grad_norm = 0;
  if (options_.grad_clip_norm() > 0) {
    grad_norm = torch::nn::utils::clip_grad_norm_(params, options_.grad_clip_norm());
  } else {
    // Σ ‖g‖² by dot products (a third of the cost of norm() on large parameters); on the CPU
    // each read is free, elsewhere one device sync for all parameters.
    std::vector<torch::Tensor> squares;
    double sum = 0;
    for (const auto& p : params) {
      if (!p.grad().defined()) continue;
      auto g = p.grad().reshape(-1);
      if (g.device().is_cpu()) {
        sum += torch::dot(g, g).item<double>();
      } else {
        squares.push_back(torch::dot(g, g));
      }
    }
    if (!squares.empty()) sum += torch::stack(squares).sum().item<double>();
    grad_norm = std::sqrt(sum);
  }
  if (!std::isfinite(grad_norm)) {
    optimizer_->zero_grad();
    throw DivergenceError(step_ + 1, "gradient norm is " + std::to_string(grad_norm));
  }
  optimizer_->step();
  ++step_;

  StepResult r;
  r.step = step_;
  r.loss = out.loss.item<double>();
  r.metrics = std::move(out.metrics);
  r.grad_norm = grad_norm;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

void Trainer::train() {
  if (last_good_.empty()) last_good_ = snapshot();
  for (auto& cb : callbacks_) cb->on_train_begin(*this);
  while (step_ < options_.steps()) {
    try {
      StepResult r = step();
      for (auto& cb : callbacks_) cb->on_step_end(*this, r);
    } catch (const DivergenceError& e) {
      const bool restarting = restarts_ < options_.max_restarts();
      for (auto& cb : callbacks_) cb->on_divergence(*this, e, restarting);
      if (!restarting) throw;
      // A smaller step size and a fresh random stream: the usual cure (JEM#4).
      const int64_t restarts = restarts_ + 1;
      const double scale = lr_scale_ * options_.restart_lr_factor();
      restore(last_good_);
      restarts_ = restarts;
      lr_scale_ = scale;
      std::lock_guard<std::mutex> lock(gen_.mutex());
      gen_.set_current_seed(options_.seed() + 1000003ULL * static_cast<uint64_t>(restarts_));
    }
  }
  for (auto& cb : callbacks_) cb->on_train_end(*this);
}

void Trainer::write_state(torch::serialize::OutputArchive& archive) {
  archive.write("format_version", torch::tensor(kFormatVersion));
  archive.write("step", torch::tensor(step_));
  archive.write("restarts", torch::tensor(restarts_));
  archive.write("lr_scale", torch::tensor(lr_scale_, torch::kFloat64));
  torch::serialize::OutputArchive model_archive, optim_archive, objective_archive, data_archive;
  model_->save(model_archive);
  optimizer_->save(optim_archive);
  objective_->save(objective_archive);
  data_->save(data_archive);
  archive.write("model", model_archive);
  archive.write("optimizer", optim_archive);
  archive.write("objective", objective_archive);
  archive.write("data", data_archive);
  {
    std::lock_guard<std::mutex> lock(gen_.mutex());
    archive.write("rng", gen_.get_state());
  }
  write_metadata(archive, metadata_);
}

void Trainer::read_state(torch::serialize::InputArchive& archive) {
  torch::Tensor version, step, restarts, lr_scale, rng;
  TORCH_CHECK(archive.try_read("format_version", version),
              "not a Joule training checkpoint (no format_version entry)");
  TORCH_CHECK(version.item<int64_t>() == kFormatVersion, "checkpoint format version ", version.item<int64_t>(),
              " is not supported (expected ", kFormatVersion, ")");
  archive.read("step", step);
  archive.read("restarts", restarts);
  archive.read("lr_scale", lr_scale);
  torch::serialize::InputArchive model_archive, optim_archive, objective_archive, data_archive;
  archive.read("model", model_archive);
  archive.read("optimizer", optim_archive);
  archive.read("objective", objective_archive);
  archive.read("data", data_archive);
  model_->load(model_archive);
  optimizer_->load(optim_archive);
  objective_->load(objective_archive);
  data_->load(data_archive);
  archive.read("rng", rng);
  {
    std::lock_guard<std::mutex> lock(gen_.mutex());
    gen_.set_state(rng);
  }
  step_ = step.item<int64_t>();
  restarts_ = restarts.item<int64_t>();
  lr_scale_ = lr_scale.item<double>();
  for (const auto& kv : read_metadata(archive)) metadata_[kv.first] = kv.second;
}

std::string Trainer::snapshot() {
  torch::serialize::OutputArchive archive;
  write_state(archive);
  return io::archive_to_bytes(archive);
}

void Trainer::restore(const std::string& bytes) {
  torch::serialize::InputArchive archive;
  io::load_archive_from_bytes(archive, bytes);
  read_state(archive);
}

void Trainer::save(const std::string& path) {
  last_good_ = snapshot();
  io::write_text_file(path, last_good_);
}

void Trainer::load(const std::string& path) {
  torch::serialize::InputArchive archive;
  io::load_archive(archive, path);
  try {
    read_state(archive);
  } catch (const c10::Error& e) {
    TORCH_CHECK(false, "cannot resume from '", path, "': ", e.what_without_backtrace());
  }
  last_good_ = snapshot();
}

std::map<std::string, std::string> read_checkpoint_metadata(const std::string& path) {
  torch::serialize::InputArchive archive;
  io::load_archive(archive, path);
  torch::Tensor version;
  TORCH_CHECK(archive.try_read("format_version", version), "'", path,
              "' is not a Joule training checkpoint (no format_version entry)");
  return read_metadata(archive);
}

}  // namespace joule::train
