// method = "actor_critic": A2C or RELAX policy gradients on cart-pole, one episode per step.
#include "joule/methods/actor_critic.h"

#include <torch/autograd.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/serialize/archive.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "joule/core/runtime.h"
#include "joule/data/cartpole.h"
#include "joule/data/dataset.h"
#include "joule/io/plot.h"
#include "joule/io/png.h"
#include "joule/methods/discrete_estimator.h"
#include "joule/objectives/deferred_gradients.h"

namespace joule::methods {

using config::ConfigError;
using config::Doc;
namespace est = joule::estimators;

namespace {

constexpr int64_t kStateDim = 4, kActions = 2;

// The policy (4 → h → h → 2 logits, ReLU) and, for A2C, the value network of the same shape.
class Agent : public torch::nn::Module {
 public:
  Agent(int64_t hidden, bool with_value) : torch::nn::Module("CartPoleAgent") {
    auto mlp = [&](const std::string& name, int64_t out) {
      std::vector<torch::nn::Linear> layers{
          register_module(name + "0", torch::nn::Linear(kStateDim, hidden)),
          register_module(name + "1", torch::nn::Linear(hidden, hidden)),
          register_module(name + "2", torch::nn::Linear(hidden, out))};
      return layers;
    };
    policy_ = mlp("policy", kActions);
    if (with_value) value_ = mlp("value", 1);
  }
  void reset_parameters(at::Generator gen) {
    at::NoGradGuard no_grad;
    for (auto* net : {&policy_, &value_}) {
      for (auto& layer : *net) {
        const double bound = 1.0 / std::sqrt(static_cast<double>(layer->weight.size(1)));
        layer->weight.uniform_(-bound, bound, gen);
        layer->bias.uniform_(-bound, bound, gen);
      }
    }
  }
  at::Tensor policy(const at::Tensor& s) { return run(policy_, s); }
  at::Tensor value(const at::Tensor& s) { return run(value_, s).squeeze(-1); }

 private:
  static at::Tensor run(std::vector<torch::nn::Linear>& layers, at::Tensor h) {
    for (size_t i = 0; i < layers.size(); ++i) {
      h = layers[i]->forward(h);
      if (i + 1 < layers.size()) h = at::relu(h);
    }
    return h;
  }
  std::vector<torch::nn::Linear> policy_, value_;
};

at::Tensor state_tensor(const std::array<double, 4>& s) {
  return at::tensor({float(s[0]), float(s[1]), float(s[2]), float(s[3])}).unsqueeze(0);
}

class ActorCriticObjective : public Objective {
 public:
  ActorCriticObjective(const ActorCriticConfig& cfg, std::unique_ptr<est::DiscreteGradientEstimator> estimator)
      : env_(cfg.env.max_steps), agent_cfg_(cfg.agent), window_(cfg.env.solved_window),
        estimator_(std::move(estimator)) {}

  std::string name() const override { return "actor_critic"; }

  ObjectiveOutput compute(ModuleSet& modules, const Batch&, at::Generator& gen, const Update& update) override {
    ObjectiveOutput out;
    if (update.group == "surrogate") return deferred_.release("actor_critic");
    auto& agent = modules.get<Agent>("model");
    // The rollout, recording each step's noise: the action is argmax(log π + Gumbel(u)), a draw
    // from π, and RELAX later rebuilds the same z from u.
    std::vector<at::Tensor> states, us, vs;
    std::vector<int64_t> actions;
    auto s = env_.reset(gen);
    {
      at::NoGradGuard no_grad;
      while (!env_.done()) {
        const auto st = state_tensor(s);
        const auto logits = agent.policy(st);
        const auto noise = est::draw_relaxation_noise(logits, gen);
        const int64_t a = est::relaxed_sample(est::DiscreteFamily::kCategorical, logits, noise.u).argmax(1).item<int64_t>();
        states.push_back(st);
        us.push_back(noise.u);
        vs.push_back(noise.v);
        actions.push_back(a);
        env_.step(a);
        s = env_.state();
      }
    }
    const int64_t steps = static_cast<int64_t>(actions.size());
    const double gamma = agent_cfg_.gamma;
    std::vector<float> ret(steps);
    double acc = 0;
    for (int64_t t = steps - 1; t >= 0; --t) {
      acc = 1.0 + gamma * acc;  // reward 1 per step
      ret[t] = static_cast<float>(acc);
    }
    const auto S = at::cat(states, 0);
    const auto R = at::tensor(ret);
    const auto logits = agent.policy(S);
    const auto log_pi = at::log_softmax(logits, 1);
    const auto entropy = -(log_pi.exp() * log_pi).sum(1).mean();
    const auto taken = at::one_hot(at::tensor(actions), kActions).to(at::kFloat);
    if (!estimator_) {
      // A2C without bootstrapping: the value network is the baseline.
      const auto v = agent.value(S);
      const auto advantage = (R - v).detach();
      out.loss = -((taken * log_pi).sum(1) * advantage).mean() - agent_cfg_.entropy * entropy +
                 agent_cfg_.value_weight * (R - v).pow(2).mean();
    } else {
      // RELAX: the cost is −R_t for the action at t; c_φ sees the relaxed action and the state.
      const auto cost = -R;
      est::BatchFunction f = [&](const at::Tensor&) { return cost; };
      auto estimate = estimator_->estimate(logits, f, est::RelaxationNoise{at::cat(us, 0), at::cat(vs, 0)}, S);
      mismatches_ += (estimate.b - taken).abs().sum().item<double>() > 0 ? 1 : 0;
      const auto through = (logits * estimate.grad_logits.detach()).sum() / static_cast<double>(steps);
      out.loss = through - agent_cfg_.entropy * entropy;
      auto cv = estimator_->control_variate();
      deferred_.hold(estimate.variance_loss, cv->parameters());
      out.metrics.push_back({"variance_loss", deferred_.loss()});
      out.metrics.push_back({"temperature", cv->temperature().item<double>()});
      out.metrics.push_back({"action_mismatches", mismatches_});
    }
    returns_.push_back(static_cast<double>(steps));
    out.metrics.push_back({"return", static_cast<double>(steps)});
    out.metrics.push_back({"mean_return", mean_return()});
    out.metrics.push_back({"entropy", entropy.item<double>()});
    return out;
  }

  double mean_return() const {
    const size_t n = std::min<size_t>(returns_.size(), static_cast<size_t>(window_));
    if (n == 0) return 0;
    return std::accumulate(returns_.end() - n, returns_.end(), 0.0) / double(n);
  }

  void save(torch::serialize::OutputArchive& archive) const override {
    archive.write("actor_critic.returns", at::tensor(returns_.empty() ? std::vector<double>{} : returns_, at::kDouble));
    archive.write("actor_critic.mismatches", at::tensor({mismatches_}, at::kDouble));
  }
  void load(torch::serialize::InputArchive& archive) override {
    at::Tensor r, m;
    archive.read("actor_critic.returns", r);
    archive.read("actor_critic.mismatches", m);
    r = r.contiguous();
    returns_.assign(r.data_ptr<double>(), r.data_ptr<double>() + r.numel());
    mismatches_ = m[0].item<double>();
  }

  const std::vector<double>& returns() const { return returns_; }

 private:
  data::CartPole env_;
  ActorCriticConfig::Agent agent_cfg_;
  int64_t window_;
  std::unique_ptr<est::DiscreteGradientEstimator> estimator_;
  DeferredGradients deferred_;  // φ's gradients from this episode's estimate
  std::vector<double> returns_;
  double mismatches_ = 0;  // episodes where the rebuilt actions differed from the taken ones
};

}  // namespace

void ActorCriticConfig::Env::visit(config::Fields& f) {
  f("max_steps", max_steps, Doc("the episode's time limit (CartPole-v0: 200)").min(1).max(1000000));
  f("solved_return", solved_return, Doc("solved when the mean return over env.solved_window episodes reaches this").min(0.0));
  f("solved_window", solved_window, Doc("episodes in that mean (CartPole-v0: 100)").min(1));
}

void ActorCriticConfig::Agent::visit(config::Fields& f) {
  f("estimator", estimator,
    Doc("a2c: a learned value baseline; relax: the RELAX control variate on the relaxed actions and the state")
        .choices({"a2c", "relax"}));
  f("hidden", hidden, Doc("units of each of the two ReLU layers (the paper: 10)").min(1).max(1 << 16));
  f("gamma", gamma, Doc("discount").min(0.0).max(1.0));
  f("entropy", entropy, Doc("entropy bonus weight").min(0.0));
  f("value_weight", value_weight, Doc("a2c: weight of the value loss").min(0.0));
  f("temperature", temperature, Doc("relax: initial relaxation temperature").min(1e-6));
}

ActorCriticConfig::ActorCriticConfig() {
  // arXiv:1711.00123 App. D.2: one episode per update, γ = 0.99, entropy 0.01, 2×10 networks.
  // Adam at 0.01 stands in for the paper's RMSProp (the trainer's optimizers are Adam and SGD).
  train.steps = 1500;
  train.batch_size = 1;
  train.log_every = 10;
  train.eval_every = 0;
  train.checkpoint_every = 500;
  use_constant_adam(train.optimizer, 0.01, 0.999);
  use_constant_adam(optim.surrogate, 0.01, 0.999);
  sample.n = 10;
}

void ActorCriticConfig::visit(config::Fields& f) {
  f.section("run", run);
  f.section("env", env);
  f.section("agent", agent);
  f.section("train", train);
  f.section("optim", optim);
  f.section("sample", sample);
}

ActorCriticMethod::ActorCriticMethod(ActorCriticConfig config) : config_(std::move(config)) {}

Parts ActorCriticMethod::build_parts(torch::Device device) {
  TORCH_CHECK(device.is_cpu(), "actor_critic runs on the CPU (an episode is a sequence of tiny steps)");
  const auto& cfg = config_;
  const bool relax = cfg.agent.estimator == "relax";
  const uint64_t seed = static_cast<uint64_t>(cfg.run.seed);
  auto agent = std::make_shared<Agent>(cfg.agent.hidden, !relax);
  agent->reset_parameters(make_generator(derive_seed(seed, 1)));
  agent_ = agent;
  Parts parts;
  parts.modules.add("model", agent);
  parts.data = std::make_shared<data::TensorDataset>(at::zeros({1, 1}));
  if (cfg.train.batch_size != 1) throw ConfigError("actor_critic: train.batch_size must be 1 (one episode per step)");
  std::unique_ptr<est::DiscreteGradientEstimator> estimator;
  surrogate_ = nullptr;
  if (relax) {
    // c_φ(z, s): 2×hidden ReLU-like network on [softmax(z/λ), s] (the paper's 2×10 MLP).
    surrogate_ = add_control_variate(parts, "surrogate",
                                     est::ControlVariateOptions(kActions)
                                         .family(est::DiscreteFamily::kCategorical)
                                         .context_dim(kStateDim)
                                         .kind(est::SurrogateKind::kNeural)
                                         .width(cfg.agent.hidden)
                                         .depth(2)
                                         .activation(Activation::kLeakyReLU)
                                         .temperature(cfg.agent.temperature),
                                     derive_seed(seed, 2), device, "surrogate", cfg.optim.surrogate);
    estimator = std::make_unique<est::DiscreteGradientEstimator>(
        est::DiscreteEstimatorOptions().kind(est::EstimatorKind::kRelax).family(est::DiscreteFamily::kCategorical),
        surrogate_);
  }
  objective_ = std::make_shared<ActorCriticObjective>(cfg, std::move(estimator));
  parts.objective = objective_;
  notes_.push_back("actor_critic: cart-pole (CartPole-v0 dynamics, " + std::to_string(cfg.env.max_steps) +
                   " steps), " + (relax ? "RELAX control variate" : "A2C value baseline") + ", one episode per step");
  return parts;
}

std::vector<double> ActorCriticMethod::returns() const {
  auto* objective = dynamic_cast<ActorCriticObjective*>(objective_.get());
  TORCH_CHECK(objective, "actor_critic: build() first");
  return objective->returns();
}

int64_t ActorCriticMethod::episodes_to_solve() const {
  const auto r = returns();
  const int64_t w = config_.env.solved_window;
  double sum = 0;
  for (int64_t i = 0; i < static_cast<int64_t>(r.size()); ++i) {
    sum += r[i];
    if (i >= w) sum -= r[i - w];
    if (i + 1 >= w && sum / double(w) >= config_.env.solved_return) return i + 1;
  }
  return -1;
}

eval::Report ActorCriticMethod::evaluate() {
  eval::Report r;
  r.method = name();
  r.step = trainer().step_count();
  const auto rs = returns();
  const int64_t w = std::min<int64_t>(config_.env.solved_window, static_cast<int64_t>(rs.size()));
  const double last = w > 0 ? std::accumulate(rs.end() - w, rs.end(), 0.0) / double(w) : 0.0;
  r.add("episodes_to_solve", static_cast<double>(episodes_to_solve()),
        "first episode at which the mean return of the last env.solved_window reached env.solved_return (-1: not solved)");
  r.add("mean_return", last, "mean return of the last env.solved_window training episodes");
  r.add("greedy_return", sample().mean().item<double>(), "mean return of sample.n greedy episodes (argmax policy)");
  r.add("episodes", static_cast<double>(rs.size()), "training episodes");
  return r;
}

std::vector<std::string> ActorCriticMethod::pictures(const std::string& prefix) {
  const auto rs = returns();
  if (rs.empty()) return {};
  io::Series raw{"return", {}, {}, io::palette(0), false}, mean{"mean of the last window", {}, {}, io::palette(1), false};
  double sum = 0;
  const int64_t w = config_.env.solved_window;
  for (size_t i = 0; i < rs.size(); ++i) {
    sum += rs[i];
    if (static_cast<int64_t>(i) >= w) sum -= rs[i - w];
    raw.x.push_back(double(i + 1));
    raw.y.push_back(rs[i]);
    mean.x.push_back(double(i + 1));
    mean.y.push_back(sum / double(std::min<int64_t>(w, static_cast<int64_t>(i + 1))));
  }
  const std::string file = prefix + "curves.png";
  io::write_png(file, io::line_plot({raw, mean}, "cart-pole, " + config_.agent.estimator, "episode", "return", 700, 400,
                                    false, {io::RefLine{"solved", config_.env.solved_return}}));
  return {file};
}

torch::Tensor ActorCriticMethod::sample() {
  TORCH_CHECK(agent_, "actor_critic: build() first");
  auto& agent = static_cast<Agent&>(*agent_);
  at::NoGradGuard no_grad;
  auto gen = make_generator(static_cast<uint64_t>(config_.sample.seed));
  data::CartPole env(config_.env.max_steps);
  std::vector<double> out;
  for (int64_t e = 0; e < config_.sample.n; ++e) {
    auto s = env.reset(gen);
    while (!env.done()) {
      env.step(agent.policy(state_tensor(s)).argmax(1).item<int64_t>());
      s = env.state();
    }
    out.push_back(static_cast<double>(env.steps()));
  }
  return at::tensor(out, at::kDouble);
}

}  // namespace joule::methods
