#pragma once
// method = "actor_critic": a policy on the cart-pole task (joule/data/cartpole.h) trained one
// episode per step, without bootstrapping, either by advantage actor-critic (A2C: a learned value
// baseline) or with the RELAX control variate c_φ(z, s) for the discrete actions
// (arXiv:1711.00123 §3.4 and §5.3: the actions' noise is recorded during the rollout, so the
// estimator sees exactly the z that chose each action). Reports the episodes to solve the task
// (the mean return of 100 consecutive episodes reaching `env.solved_return`).

#include <memory>
#include <string>
#include <vector>

#include "joule/estimators/discrete.h"
#include "joule/methods/method.h"

namespace joule::methods {

/// The typed options of the actor-critic.
struct ActorCriticConfig : MethodConfig {
  /// [env]: the task.
  struct Env {
    int64_t max_steps = 200;       ///< the episode's time limit (CartPole-v0: 200)
    double solved_return = 195.0;  ///< solved when the mean return over env.solved_window episodes reaches this
    int64_t solved_window = 100;   ///< episodes in that mean
    /// Declares the fields.
    void visit(config::Fields& f);
  } env;  ///< [env]
  /// [agent]: the networks and the gradient.
  struct Agent {
    std::string estimator = "relax";  ///< a2c (value baseline) | relax (the RELAX control variate)
    int64_t hidden = 10;              ///< units of each of the two ReLU layers (the paper: 10)
    double gamma = 0.99;              ///< discount
    double entropy = 0.01;            ///< entropy bonus weight
    double value_weight = 0.5;        ///< a2c: weight of the value loss
    double temperature = 0.5;         ///< relax: initial relaxation temperature
    /// Declares the fields.
    void visit(config::Fields& f);
  } agent;  ///< [agent]
  /// [optim.surrogate]: relax's control variate's optimizer.
  struct Optim {
    OptimizerConfig surrogate;  ///< φ's group
    /// Declares [optim.surrogate].
    void visit(config::Fields& f) { f.section("surrogate", surrogate); }
  } optim;  ///< [optim]
  SampleConfig sample;  ///< [sample]: sample.n greedy evaluation episodes
  ActorCriticConfig();
  /// Declares every section.
  void visit(config::Fields& f) override;
};

/// The actor-critic as a library object; one training step is one episode.
class ActorCriticMethod : public Method {
 public:
  /// A method with `config` (RELAX on cart-pole by default).
  explicit ActorCriticMethod(ActorCriticConfig config = {});
  std::string name() const override { return "actor_critic"; }
  ActorCriticConfig& config() override { return config_; }

  /// Episodes to solve, the mean return of the last window, greedy returns.
  eval::Report evaluate() override;
  /// curves.png: the return per episode and its moving mean.
  std::vector<std::string> pictures(const std::string& prefix) override;
  /// sample.n greedy episodes' returns, [n].
  torch::Tensor sample() override;

  /// The return of every training episode so far.
  std::vector<double> returns() const;
  /// The first episode (1-based) at which the mean of the last env.solved_window returns reached
  /// env.solved_return, or −1 if it has not.
  int64_t episodes_to_solve() const;

 protected:
  Parts build_parts(torch::Device device) override;

 private:
  ActorCriticConfig config_;
  std::shared_ptr<torch::nn::Module> agent_;
  estimators::ControlVariate surrogate_{nullptr};
  std::shared_ptr<Objective> objective_;
};

}  // namespace joule::methods
