#include "joule/train/trainer.h"

#include <atomic>

#include <c10/util/Exception.h>
#include <c10/util/StringUtil.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adam.h>
#include <torch/optim/sgd.h>
#include <torch/serialize/archive.h>

#include <algorithm>
#include <cmath>
#include <sstream>
#include <tuple>

#include "joule/core/runtime.h"
#include "joule/distributed/sharded_source.h"
#include "joule/io/checkpoint.h"
#include "joule/ode/solvers.h"

namespace joule::train {
namespace {

// 2: one archive per module (module_<name>) and per group's optimizer (optimizer_<group>).
constexpr int64_t kFormatVersion = 2;
// Rank r of a data-parallel job samples with seed + kRankSeedStride·r.
constexpr uint64_t kRankSeedStride = 7919;
// The shared data order's generator: the run seed, offset so it is not the sampling stream of rank 0.
constexpr uint64_t kDataSeedOffset = 0x9E3779B97F4A7C15ULL;

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
  if (name == "step") return LrSchedule::kStep;
  TORCH_CHECK(false, "unknown learning-rate schedule '", name, "' (allowed: constant, linear, cosine, step)");
}

void OptimizerOptions::validate(const std::string& group) const {
  const std::string g = group == "model" ? "train" : "optim." + group;
  TORCH_CHECK(std::isfinite(lr_) && lr_ > 0, g, ".lr must be > 0, got ", lr_);
  TORCH_CHECK(warmup_steps_ >= 0, g, ".warmup_steps must be >= 0, got ", warmup_steps_);
  TORCH_CHECK(beta1_ >= 0 && beta1_ < 1, g, ".beta1 must be in [0, 1), got ", beta1_);
  TORCH_CHECK(beta2_ >= 0 && beta2_ < 1, g, ".beta2 must be in [0, 1), got ", beta2_);
  TORCH_CHECK(momentum_ >= 0, g, ".momentum must be >= 0, got ", momentum_);
  TORCH_CHECK(weight_decay_ >= 0, g, ".weight_decay must be >= 0, got ", weight_decay_);
  TORCH_CHECK(grad_clip_norm_ >= 0, g, ".grad_clip_norm must be >= 0 (0 = off), got ", grad_clip_norm_);
  TORCH_CHECK(updates_ >= 1, g, ".updates must be >= 1, got ", updates_);
  TORCH_CHECK(every_ >= 1, g, ".every must be >= 1, got ", every_);
  TORCH_CHECK(decay_rate_ > 0, g, ".decay_rate must be > 0, got ", decay_rate_);
  for (size_t i = 0; i < milestones_.size(); ++i) {
    TORCH_CHECK(milestones_[i] > 0 && (i == 0 || milestones_[i] > milestones_[i - 1]), g,
                ".milestones must be increasing positive steps");
  }
}

void TrainerOptions::validate() const {
  TORCH_CHECK(steps_ >= 0, "train.steps must be >= 0, got ", steps_);
  TORCH_CHECK(batch_size_ > 0, "train.batch_size must be > 0, got ", batch_size_);
  TORCH_CHECK(energy_bound_ > 0 && loss_bound_ > 0, "divergence bounds must be > 0");
  TORCH_CHECK(max_restarts_ >= 0, "train.max_restarts must be >= 0, got ", max_restarts_);
  TORCH_CHECK(restart_lr_factor_ > 0 && restart_lr_factor_ <= 1, "train.restart_lr_factor must be in (0, 1], got ",
              restart_lr_factor_);
}

DivergenceError::DivergenceError(int64_t step_, const std::string& reason_)
    : std::runtime_error("training diverged at step " + std::to_string(step_) + ": " + reason_),
      step(step_),
      reason(reason_) {}

Trainer::Trainer(ModuleSet modules, std::vector<ParamGroup> groups, std::shared_ptr<Objective> objective,
                 std::shared_ptr<data::DataSource> data, TrainerOptions options)
    : modules_(std::move(modules)),
      groups_(std::move(groups)),
      objective_(std::move(objective)),
      data_(std::move(data)),
      options_(std::move(options)),
      gen_(make_generator(options_.seed(), modules_.device())) {
  setup();
}

Trainer::Trainer(std::shared_ptr<torch::nn::Module> model, std::shared_ptr<Objective> objective,
                 std::shared_ptr<data::DataSource> data, TrainerOptions options, OptimizerOptions optimizer)
    : groups_{ParamGroup("model", {"model"}, std::move(optimizer))},
      objective_(std::move(objective)),
      data_(std::move(data)),
      options_(std::move(options)),
      gen_(make_generator(options_.seed(), model ? module_device(*model) : torch::Device(torch::kCPU))) {
  TORCH_CHECK(model, "Trainer needs a model");
  modules_.add("model", std::move(model));
  setup();
}

void Trainer::setup() {
  TORCH_CHECK(objective_ && data_, "Trainer needs an objective and data");
  TORCH_CHECK(modules_.size() > 0, "Trainer needs at least one module");
  TORCH_CHECK(!groups_.empty(), "Trainer needs at least one parameter group");
  options_.validate();
  std::vector<const at::TensorImpl*> seen;
  main_ = 0;
  for (size_t g = 0; g < groups_.size(); ++g) {
    const auto& group = groups_[g];
    TORCH_CHECK(!group.name.empty(), "Trainer: a parameter group has no name");
    for (size_t h = 0; h < g; ++h) TORCH_CHECK(groups_[h].name != group.name, "Trainer: two parameter groups are called '", group.name, "'");
    group.optimizer.validate(group.name);
    if (group.name == "model") main_ = g;
    Group st;
    for (const auto& module : group.modules) {
      for (const auto& item : modules_.at(module).named_parameters(/*recurse=*/true)) {
        const auto& key = item.key();
        const bool listed = std::find(group.only.begin(), group.only.end(), key) != group.only.end();
        const bool excluded = std::find(group.except.begin(), group.except.end(), key) != group.except.end();
        if ((group.only.empty() || listed) && !excluded) st.params.push_back(item.value());
      }
    }
    for (const auto& name : group.only) {
      bool found = false;
      for (const auto& module : group.modules) found = found || modules_.at(module).named_parameters().contains(name);
      TORCH_CHECK(found, "Trainer: parameter group '", group.name, "' lists parameter '", name, "', which its modules do not have");
    }
    TORCH_CHECK(!st.params.empty(), "Trainer: parameter group '", group.name, "' has no parameters to train");
    for (const auto& p : st.params) {
      TORCH_CHECK(std::find(seen.begin(), seen.end(), p.unsafeGetTensorImpl()) == seen.end(),
                  "Trainer: a parameter of group '", group.name, "' is also in another group");
      seen.push_back(p.unsafeGetTensorImpl());
    }
    const auto& o = group.optimizer;
    if (o.kind() == OptimizerKind::kAdam) {
      st.optimizer = std::make_unique<torch::optim::Adam>(
          st.params, torch::optim::AdamOptions(o.lr()).betas(std::make_tuple(o.beta1(), o.beta2())).weight_decay(o.weight_decay()));
    } else {
      st.optimizer = std::make_unique<torch::optim::SGD>(
          st.params, torch::optim::SGDOptions(o.lr()).momentum(o.momentum()).weight_decay(o.weight_decay()));
    }
    state_.push_back(std::move(st));
  }
}

size_t Trainer::group_index(const std::string& name) const {
  if (name.empty()) return main_;
  for (size_t g = 0; g < groups_.size(); ++g) {
    if (groups_[g].name == name) return g;
  }
  TORCH_CHECK(false, "no parameter group called '", name, "'");
}

EnergyModel& Trainer::model() { return modules_.get<EnergyModel>("model"); }

torch::optim::Optimizer& Trainer::optimizer(const std::string& group) { return *state_[group_index(group)].optimizer; }

double Trainer::lr(const std::string& group) const {
  const size_t g = group_index(group);
  const auto& pg = state_[g].optimizer->param_groups().at(0);
  if (groups_[g].optimizer.kind() == OptimizerKind::kAdam) {
    return static_cast<const torch::optim::AdamOptions&>(pg.options()).lr();
  }
  return static_cast<const torch::optim::SGDOptions&>(pg.options()).lr();
}

void Trainer::set_lr(size_t g, double lr) {
  for (auto& pg : state_[g].optimizer->param_groups()) {
    if (groups_[g].optimizer.kind() == OptimizerKind::kAdam) {
      static_cast<torch::optim::AdamOptions&>(pg.options()).lr(lr);
    } else {
      static_cast<torch::optim::SGDOptions&>(pg.options()).lr(lr);
    }
  }
}

double Trainer::scheduled_lr(const std::string& group, int64_t step) const {
  const auto& o = groups_[group_index(group)].optimizer;
  double f = 1.0;
  const int64_t total = options_.steps();
  if (o.warmup_steps() > 0 && step < o.warmup_steps()) {
    f = double(step + 1) / double(o.warmup_steps());
  } else if (o.lr_schedule() == LrSchedule::kStep) {
    // Without milestones: at 80% and 90% of the run, whatever its length (VERA:train.py's
    // decay epochs 160 and 180 of 200).
    const std::vector<int64_t> fractions{int64_t(0.8 * total), int64_t(0.9 * total)};
    for (int64_t m : o.milestones().empty() ? fractions : o.milestones()) {
      if (step >= m) f *= o.decay_rate();
    }
  } else if (o.lr_schedule() != LrSchedule::kConstant && total > o.warmup_steps()) {
    const double t = double(step - o.warmup_steps()) / double(total - o.warmup_steps());
    const double u = std::min(1.0, std::max(0.0, t));
    f = o.lr_schedule() == LrSchedule::kLinear ? 1.0 - u : 0.5 * (1.0 + std::cos(M_PI * u));
  }
  return o.lr() * lr_scale_ * f;
}

void Trainer::set_total_steps(int64_t steps) {
  TORCH_CHECK(steps >= 0, "train.steps must be >= 0, got ", steps);
  options_.steps(steps);
}

std::string Trainer::metadata(const std::string& key) const {
  auto it = metadata_.find(key);
  return it == metadata_.end() ? std::string() : it->second;
}

void Trainer::check_update(const torch::Tensor& loss, const std::vector<std::pair<std::string, double>>& metrics) {
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

Batch Trainer::next_batch() {
  Batch batch = data_->next(options_.batch_size(), gen_);
  const auto device = modules_.device();
  // The built-in methods keep their data on the device. A host batch for a GPU goes through
  // page-locked memory, so the copy is asynchronous and the host queues the step meanwhile.
  auto to_device = [&](const torch::Tensor& t) {
    if (t.device() == device) return t;
    if (device.is_cuda() && t.is_cpu()) return t.pin_memory().to(device, /*non_blocking=*/true);
    return t.to(device);
  };
  batch.x = to_device(batch.x);
  if (batch.y.defined()) batch.y = to_device(batch.y);
  return batch;
}

GroupStep Trainer::update(size_t g, int64_t index, const Batch& batch, std::vector<std::pair<std::string, double>>& metrics) {
  const auto& group = groups_[g];
  auto& st = state_[g];
  Update upd;
  upd.group = group.name;
  upd.index = index;
  upd.step = step_;
  ObjectiveOutput out;
  auto& params = st.params;
  // The local update: compute, guard, gradients. In a data-parallel job a rank whose update
  // diverged still joins the reduction below (with zero gradients), so no rank waits forever and
  // all of them take the same decision.
  std::string diverged;
  try {
    try {
      out = objective_->compute(modules_, batch, gen_, upd);
    } catch (const ode::SolverError& e) {
      // An ODE model's dynamics became too stiff or blew up: divergence, not a bad call.
      throw DivergenceError(step_ + 1, "the ODE solver failed in group '" + group.name + "': " + e.what_without_backtrace());
    }
    check_update(out.loss, out.metrics);

    set_lr(g, scheduled_lr(group.name, step_));
    if (!out.gradients.empty()) {
      TORCH_CHECK(out.gradients.size() == params.size(), "objective '", objective_->name(), "' returned ",
                  out.gradients.size(), " gradients for the ", params.size(), " parameters of group '", group.name, "'");
      for (size_t i = 0; i < params.size(); ++i) params[i].mutable_grad() = out.gradients[i];
    } else {
      st.optimizer->zero_grad();
      try {
        out.loss.backward();
      } catch (const ode::SolverError& e) {  // an adjoint's backward solve
        throw DivergenceError(step_ + 1, "the ODE solver failed in the backward pass of group '" + group.name +
                                             "': " + e.what_without_backtrace());
      }
    }
  } catch (const DivergenceError& e) {
    if (!reducer_) throw;
    diverged = e.reason;
    st.optimizer->zero_grad();
    for (auto& p : params) {
      if (p.grad().defined()) p.mutable_grad().zero_();
    }
  }
  double loss_value = diverged.empty() ? out.loss.item<double>() : 0.0;
  if (reducer_) {
    // One set of collectives: the mean gradient, the number of ranks whose update diverged and
    // the summed loss.
    std::vector<double> extra{diverged.empty() ? 0.0 : 1.0, loss_value};
    reducer_->reduce(params, extra);
    if (extra[0] > 0) {
      st.optimizer->zero_grad();
      throw DivergenceError(step_ + 1, diverged.empty() ? "the update diverged on " + std::to_string(int64_t(extra[0])) + " of " +
                                                              std::to_string(comm_->world_size()) + " processes"
                                                        : diverged + " (on rank " + std::to_string(comm_->rank()) + ")");
    }
    loss_value = extra[1] / double(comm_->world_size());
  }
  double grad_norm = 0;
  if (group.optimizer.grad_clip_norm() > 0) {
    grad_norm = torch::nn::utils::clip_grad_norm_(params, group.optimizer.grad_clip_norm());
  } else {
    // Σ ‖g‖² by dot products (a third of the cost of norm() on large parameters); on the CPU
    // each read is free, elsewhere one device sync for all parameters.
    std::vector<torch::Tensor> squares;
    double sum = 0;
    for (const auto& p : params) {
      if (!p.grad().defined()) continue;
      auto gr = p.grad().reshape(-1);
      if (gr.device().is_cpu()) {
        sum += torch::dot(gr, gr).item<double>();
      } else {
        squares.push_back(torch::dot(gr, gr));
      }
    }
    if (!squares.empty()) sum += torch::stack(squares).sum().item<double>();
    grad_norm = std::sqrt(sum);
  }
  if (!std::isfinite(grad_norm)) {
    st.optimizer->zero_grad();
    throw DivergenceError(step_ + 1, "gradient norm of group '" + group.name + "' is " + std::to_string(grad_norm));
  }
  st.optimizer->step();
  objective_->after_update(modules_, upd);

  for (auto& kv : out.metrics) {
    auto it = std::find_if(metrics.begin(), metrics.end(), [&](const auto& m) { return m.first == kv.first; });
    if (it == metrics.end()) {
      metrics.push_back(std::move(kv));
    } else {
      it->second = kv.second;
    }
  }
  GroupStep r;
  r.group = group.name;
  r.loss = loss_value;  // in a data-parallel job, the mean over the ranks
  r.grad_norm = grad_norm;
  r.updates = index + 1;
  r.distributions = std::move(out.distributions);
  return r;
}

StepResult Trainer::step() {
  const auto t0 = std::chrono::steady_clock::now();
  modules_.train(true);
  const Batch batch = next_batch();
  StepResult r;
  for (size_t g = 0; g < groups_.size(); ++g) {
    const auto& o = groups_[g].optimizer;
    if (step_ % o.every() != 0) continue;
    GroupStep last;
    for (int64_t u = 0; u < o.updates(); ++u) {
      last = update(g, u, o.fresh_batches() ? next_batch() : batch, r.metrics);
    }
    if (g == main_) {
      r.loss = last.loss;
      r.grad_norm = last.grad_norm;
    }
    r.groups.push_back(last);
  }
  ++step_;
  r.step = step_;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

namespace {
std::atomic<bool> g_interrupt{false};
static_assert(std::atomic<bool>::is_always_lock_free, "request_interrupt() must be async-signal-safe");

// The shapes a checkpoint's module archive holds against the module built from the config:
// LibTorch's reader would silently replace a parameter by the saved tensor of another shape.
void check_saved_shapes(torch::nn::Module& module, torch::serialize::InputArchive& archive, const std::string& prefix) {
  auto check = [&](const std::string& key, const torch::Tensor& built, bool is_buffer) {
    torch::Tensor saved;
    if (!archive.try_read(key, saved, is_buffer) || !saved.defined() || !built.defined()) return;
    TORCH_CHECK(saved.sizes() == built.sizes(), "the saved ", prefix, key, " has shape ", saved.sizes(),
                " but this configuration builds ", built.sizes(),
                "; a resumed or reloaded run keeps its saved model options (drop the overrides that change the model)");
  };
  for (const auto& p : module.named_parameters(/*recurse=*/false)) check(p.key(), p.value(), false);
  for (const auto& b : module.named_buffers(/*recurse=*/false)) check(b.key(), b.value(), true);
  for (const auto& c : module.named_children()) {
    torch::serialize::InputArchive sub;
    if (archive.try_read(c.key(), sub)) check_saved_shapes(*c.value(), sub, prefix + c.key() + ".");
  }
}

// The archive of module `name` in a checkpoint of format `version`: format 1 kept the one model
// as "model" and an objective's own networks (LSD's critic) inside the objective's archive.
bool find_module_archive(torch::serialize::InputArchive& archive, torch::serialize::InputArchive& objective_archive,
                         int64_t version, const std::string& name, torch::serialize::InputArchive& out) {
  if (version != 1) return archive.try_read("module_" + name, out);
  return name == "model" ? archive.try_read("model", out) : objective_archive.try_read(name, out);
}
}  // namespace

void request_interrupt() { g_interrupt.store(true, std::memory_order_relaxed); }
bool interrupt_requested() { return g_interrupt.load(std::memory_order_relaxed); }
void clear_interrupt() { g_interrupt.store(false, std::memory_order_relaxed); }

InterruptedError::InterruptedError(int64_t step, const std::string& checkpoint)
    : std::runtime_error("interrupted at step " + std::to_string(step) + "; the training state is saved in " + checkpoint),
      step(step),
      checkpoint(checkpoint) {}

void Trainer::train() {
  if (comm_ && comm_->world_size() > 1) {
    // Every rank starts from rank 0's modules (built from the same seed, or loaded from the same
    // checkpoint: this makes it so whatever happened before).
    std::vector<torch::Tensor> tensors;
    for (const auto& [name, module] : modules_.items()) {
      for (auto& p : module->parameters()) tensors.push_back(p.data());
      for (auto& b : module->buffers()) tensors.push_back(b);
    }
    torch::NoGradGuard no_grad;
    comm_->broadcast(tensors, 0);
    // A worker's last good state was taken before the broadcast: rank 0's modules may differ
    // from its own (a warm start), and a restart must return every rank to the same weights.
    last_good_ = snapshot();
  }
  if (last_good_.empty()) last_good_ = snapshot();
  for (auto& cb : callbacks_) cb->on_train_begin(*this);
  while (step_ < options_.steps()) {
    bool interrupt = interrupt_requested(), stop = stop_requested_;
    if (comm_ && comm_->world_size() > 1) {
      // Any rank interrupted, or a callback (rank 0's watches) ending the run, stops every rank
      // at this same step.
      std::tie(interrupt, stop) = agreed_stop(interrupt, stop);
      if (interrupt) request_interrupt();
      if (stop) stop_requested_ = true;
    }
    if (interrupt) return;  // the caller saves and reports (train_run)
    if (stop) break;        // a callback ended the run: finish it normally
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
      reseed(static_cast<uint64_t>(restarts_));
    }
  }
  for (auto& cb : callbacks_) cb->on_train_end(*this);
}

std::pair<bool, bool> Trainer::agreed_stop(bool interrupt, bool stop) {
  std::vector<torch::Tensor> flags{torch::tensor({interrupt ? 1.0 : 0.0, stop ? 1.0 : 0.0}, torch::kDouble)};
  comm_->all_reduce_sum(flags);
  return {flags[0][0].item<double>() > 0, flags[0][1].item<double>() > 0};
}

void Trainer::reseed(uint64_t restarts) {
  const uint64_t rank = comm_ ? static_cast<uint64_t>(comm_->rank()) : 0;
  std::lock_guard<std::mutex> lock(gen_.mutex());
  gen_.set_current_seed(options_.seed() + kRankSeedStride * rank + 1000003ULL * restarts);
}

void Trainer::set_communicator(std::shared_ptr<distributed::Communicator> comm) {
  TORCH_CHECK(comm, "set_communicator needs a communicator");
  TORCH_CHECK(!comm_, "this trainer already has a communicator");
  TORCH_CHECK(step_ == 0, "set_communicator must come before load() and training");
  comm_ = std::move(comm);
  reducer_ = std::make_unique<distributed::GradientReducer>(comm_);
  data_ = std::make_shared<distributed::ShardedSource>(data_, comm_->rank(), comm_->world_size(),
                                                       options_.seed() + kDataSeedOffset);
  reseed(static_cast<uint64_t>(restarts_));
  last_good_.clear();
}

std::string Trainer::rank_state_bytes() {
  torch::serialize::OutputArchive archive, objective_archive;
  objective_->save(objective_archive);
  archive.write("objective", objective_archive);
  {
    std::lock_guard<std::mutex> lock(gen_.mutex());
    archive.write("rng", gen_.get_state());
  }
  return io::archive_to_bytes(archive);
}

void Trainer::read_rank_state(torch::serialize::InputArchive& archive) {
  // The plain entries hold rank 0's chains and generator (what a one-process run reads).
  if (!comm_ || comm_->rank() == 0) return;
  torch::Tensor saved_world;
  const int64_t world = archive.try_read("world_size", saved_world) ? saved_world.item<int64_t>() : 1;
  const int64_t source = comm_->rank() % world;
  if (source > 0) {
    torch::Tensor bytes;
    archive.read("rank_state_" + std::to_string(source), bytes);
    torch::serialize::InputArchive sub, objective_archive;
    io::load_archive_from_bytes(sub, std::string(reinterpret_cast<const char*>(bytes.data_ptr<uint8_t>()),
                                                 static_cast<size_t>(bytes.numel())));
    sub.read("objective", objective_archive);
    objective_->load(objective_archive);
    torch::Tensor rng;
    sub.read("rng", rng);
    std::lock_guard<std::mutex> lock(gen_.mutex());
    gen_.set_state(rng);
  }
  // A rank the checkpoint has no state for shares another's chains: its own generator makes them
  // part ways.
  if (comm_->rank() >= world) reseed(static_cast<uint64_t>(restarts_));
}

void Trainer::write_state(torch::serialize::OutputArchive& archive) {
  archive.write("format_version", torch::tensor(kFormatVersion));
  archive.write("step", torch::tensor(step_));
  archive.write("restarts", torch::tensor(restarts_));
  archive.write("lr_scale", torch::tensor(lr_scale_, torch::kFloat64));
  for (const auto& [name, module] : modules_.items()) {
    torch::serialize::OutputArchive a;
    module->save(a);
    archive.write("module_" + name, a);
  }
  for (size_t g = 0; g < groups_.size(); ++g) {
    torch::serialize::OutputArchive a;
    state_[g].optimizer->save(a);
    archive.write("optimizer_" + groups_[g].name, a);
  }
  torch::serialize::OutputArchive objective_archive, data_archive;
  objective_->save(objective_archive);
  data_->save(data_archive);
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
  const int64_t v = version.item<int64_t>();
  TORCH_CHECK(v == 1 || v == kFormatVersion, "checkpoint format version ", v, " is not supported (expected ", kFormatVersion,
              " or 1)");
  archive.read("step", step);
  archive.read("restarts", restarts);
  archive.read("lr_scale", lr_scale);
  // Format 1 (one model, one optimizer) stored them as "model" and "optimizer".
  torch::serialize::InputArchive objective_archive, data_archive;
  archive.read("objective", objective_archive);
  // Format 1 stored the one model as "model", its optimizer as "optimizer", and an objective's
  // own networks (LSD's critic) and their optimizers inside the objective's archive.
  for (const auto& [name, module] : modules_.items()) {
    torch::serialize::InputArchive a;
    TORCH_CHECK(find_module_archive(archive, objective_archive, v, name, a), "checkpoint has no module '", name,
                "' (it was written by another method or setup; modules here: ", c10::Join(", ", modules_.names()), ")");
    check_saved_shapes(*module, a, name + ".");
    module->load(a);
  }
  for (size_t g = 0; g < groups_.size(); ++g) {
    torch::serialize::InputArchive a;
    const std::string& name = groups_[g].name;
    const bool found = v == 1 ? (name == "model" ? archive.try_read("optimizer", a)
                                                 : objective_archive.try_read(name + "_optimizer", a))
                              : archive.try_read("optimizer_" + name, a);
    TORCH_CHECK(found, "checkpoint has no optimizer state for parameter group '", name, "'");
    state_[g].optimizer->load(a);
  }
  archive.read("data", data_archive);
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
  read_rank_state(archive);
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
  if (!comm_ || comm_->world_size() == 1) {
    if (is_main_rank()) io::write_text_file(path, last_good_);
    return;
  }
  // Collective: rank 0's file holds every rank's chains and generator.
  const auto states = distributed::all_gather_bytes(*comm_, rank_state_bytes());
  if (!comm_->is_main()) return;
  torch::serialize::OutputArchive archive;
  write_state(archive);
  archive.write("world_size", torch::tensor(comm_->world_size()));
  for (size_t r = 1; r < states.size(); ++r) {
    auto bytes = torch::empty({static_cast<int64_t>(states[r].size())}, torch::kByte);
    std::copy(states[r].begin(), states[r].end(), bytes.data_ptr<uint8_t>());
    archive.write("rank_state_" + std::to_string(r), bytes);
  }
  io::write_text_file(path, io::archive_to_bytes(archive));
}

void Trainer::save_copy(const std::string& path) { io::write_text_file(path, snapshot()); }

void Trainer::load(const std::string& path) {
  torch::serialize::InputArchive archive;
  io::load_archive(archive, path);
  try {
    read_state(archive);
  } catch (const c10::Error& e) {
    TORCH_CHECK(false, "'", path, "' does not hold this configuration's training state: ", e.what_without_backtrace());
  }
  last_good_ = snapshot();
}

std::vector<std::string> Trainer::load_modules(const std::string& path, const std::vector<std::string>& names) {
  torch::serialize::InputArchive archive;
  io::load_archive(archive, path);
  torch::Tensor version;
  TORCH_CHECK(archive.try_read("format_version", version), "'", path,
              "' is not a Joule training checkpoint (no format_version entry)");
  const int64_t v = version.item<int64_t>();
  torch::serialize::InputArchive objective_archive;
  if (v == 1) archive.read("objective", objective_archive);
  const std::vector<std::string> wanted = names.empty() ? modules_.names() : names;
  for (const auto& name : wanted) {
    TORCH_CHECK(modules_.has(name), "load_modules: this setup has no module '", name,
                "' (modules here: ", c10::Join(", ", modules_.names()), ")");
    torch::serialize::InputArchive a;
    TORCH_CHECK(find_module_archive(archive, objective_archive, v, name, a), "'", path, "' has no module '", name,
                "' to start from (list the modules to take, or start the others from scratch)");
    auto module = modules_.ptr(name);
    try {
      check_saved_shapes(*module, a, name + ".");
      module->load(a);
    } catch (const c10::Error& e) {
      TORCH_CHECK(false, "cannot start module '", name, "' from '", path, "': ", e.what_without_backtrace(),
                  " (the network options must match the run that wrote it)");
    }
  }
  last_good_ = snapshot();  // a divergence restart returns to the warm start, not to the random init
  return wanted;
}

std::map<std::string, std::string> read_checkpoint_metadata(const std::string& path) {
  torch::serialize::InputArchive archive;
  io::load_archive(archive, path);
  torch::Tensor version;
  TORCH_CHECK(archive.try_read("format_version", version), "'", path,
              "' is not a Joule training checkpoint (no format_version entry)");
  auto meta = read_metadata(archive);
  meta["format_version"] = std::to_string(version.item<int64_t>());
  return meta;
}

}  // namespace joule::train
