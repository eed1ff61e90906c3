#pragma once
// Adversarial attacks on any classifier, and the SGLD refinement defence of energy-based
// classifiers.
//
// - FGSM (Goodfellow et al., arXiv:1412.6572 §3) and PGD (Madry et al., arXiv:1706.06083 §2)
//   under L∞ and L2, untargeted or targeted, with random starts and restarts, inside the data
//   range; every random number from an explicit generator.
// - JEM's defence (Grathwohl et al., arXiv:1912.03263 §5.3; JEM:attack_model.py): refine the input
//   by K Langevin steps on the model's energy E(x) = −logsumexp f(x), starting at the input, and
//   classify the refined input, averaging the logits of several refinement chains.
// - Attacks that see the defence (Athalye et al., arXiv:1802.00420): the gradient through the K
//   refinement steps (second order, exact) or straight through them (BPDA, §4.1), and the
//   expectation of the gradient over the refinement noise (EOT, §4.3).
//
// Example:
//   auto f = [&](const at::Tensor& x) { return model->logits(x); };
//   auto r = joule::eval::pgd_attack(f, x, y, joule::eval::AttackOptions::pgd(joule::eval::AttackNorm::kLinf, 0.1, 20), gen);
//   double robust_acc = r.correct.to(at::kDouble).mean().item<double>();
//
//   joule::eval::SgldDefence defence(*model, joule::eval::SgldDefenceOptions().steps(10).chains(4), gen2);
//   auto r2 = joule::eval::pgd_attack(defence.as_logits_fn(), x, y, opts.eot_samples(2), gen);

#include <ATen/ATen.h>
#include <c10/util/Optional.h>
#include <torch/arg.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "joule/models/classifier_energy.h"
#include "joule/samplers/sampler.h"

namespace joule::eval {

/// A classifier as a function: x [B, ...] -> logits [B, C], differentiable in x when grad mode
/// is on and x requires grad. May be stochastic (a defence with its own generator).
using LogitsFn = std::function<at::Tensor(const at::Tensor&)>;

/// The norm of the attack's ε-ball.
enum class AttackNorm {
  kLinf,  ///< L∞: every element moves by at most ε
  kL2     ///< L2: the perturbation's Euclidean norm is at most ε
};
/// "linf" | "l2" (an error naming both otherwise).
AttackNorm attack_norm_from_string(const std::string& name);
std::string to_string(AttackNorm norm);  ///< "linf" or "l2"

/// What the attack maximises: the cross-entropy of the true class (untargeted; minus that of the
/// target when targeted), or the logit margin max_{j≠y} f_j − f_y (Carlini–Wagner, arXiv:1608.04644
/// §V; f_t − max_{j≠t} f_j when targeted), which does not saturate on confident classifiers.
enum class AttackLoss {
  kCrossEntropy,  ///< cross-entropy of the true (or target) class
  kMargin         ///< Carlini–Wagner logit margin
};
AttackLoss attack_loss_from_string(const std::string& name);  ///< "ce" | "margin"

/// Options for pgd_attack(): the threat model (norm, ε, range) and the attack's strength.
struct AttackOptions {
  /// A closed value range [first, second].
  using Range = std::pair<double, double>;
  /// An attack in the `norm` ball of radius `eps`, with the defaults below (PGD-20).
  explicit AttackOptions(AttackNorm norm = AttackNorm::kLinf, double eps = 0.0) : norm_(norm), eps_(eps) {}

  /// FGSM: one step of size ε from x (the sign of the gradient under L∞, its direction under L2),
  /// no random start.
  static AttackOptions fgsm(AttackNorm norm, double eps);
  /// PGD-k: k steps of 2.5·ε/k from a uniform random start in the ball (Madry et al.).
  static AttackOptions pgd(AttackNorm norm, double eps, int64_t steps);

  /// Fails unless eps >= 0, steps, restarts, eot_samples and batch_size >= 1, step_size >= 0
  /// (all finite) and range has low < high.
  void validate() const;
  /// The step size in use: step_size, or 2.5·ε/steps when it is 0.
  double step() const;

  /// Norm of the ball.
  TORCH_ARG(AttackNorm, norm);
  /// Radius of the ball around each input, in the units of the classifier's inputs.
  TORCH_ARG(double, eps);
  /// Gradient steps per restart (>= 1).
  TORCH_ARG(int64_t, steps) = 20;
  /// 0: 2.5·ε/steps.
  TORCH_ARG(double, step_size) = 0.0;
  /// Independent runs from fresh random starts; an input fooled by any of them stays fooled.
  TORCH_ARG(int64_t, restarts) = 1;
  /// Start each restart at a uniform random point of the ball (false: at x).
  TORCH_ARG(bool, random_start) = true;
  /// The objective the attack ascends.
  TORCH_ARG(AttackLoss, loss) = AttackLoss::kCrossEntropy;
  /// Gradient samples averaged per step (expectation over a stochastic classifier's noise).
  TORCH_ARG(int64_t, eot_samples) = 1;
  /// Inputs are clamped into this range (the data's); none for unbounded inputs.
  TORCH_ARG(c10::optional<Range>, range) = Range(-1.0, 1.0);
  /// Inputs attacked at once.
  TORCH_ARG(int64_t, batch_size) = 256;
};

/// What an attack returns, per input.
struct AttackResult {
  at::Tensor x_adv;    ///< [N, ...]: inside the ε-ball around x and inside the range
  /// [N] bool: the goal was reached at some iterate, judged by the classifier's output there
  /// (untargeted: a class other than y; targeted: the target).
  at::Tensor fooled;
  /// [N] bool: a fresh call of the classifier on x_adv predicts y (robust accuracy = mean).
  at::Tensor correct;
};

/// PGD (or FGSM, with AttackOptions::fgsm) on x [N, ...] with labels y [N] (int64). With a
/// `target` [N] the attack is targeted. Inputs whose clean prediction already reaches the goal
/// count as fooled at x. Per input, the first iterate that reaches the goal is kept and that
/// input is not attacked further; restarts attack only the inputs not fooled yet; an input never
/// fooled gets the final iterate of the restart with the highest objective. Restart r draws
/// random starts for all N inputs (batch by batch) whatever earlier restarts achieved, so with
/// the same generator and step size, more steps or more restarts fool a superset of the inputs
/// a weaker attack fools (for a deterministic classifier). Keeps the dtype and device of x. The
/// caller decides the classifier's mode; freeze its parameters (FrozenParameters) for speed.
AttackResult pgd_attack(const LogitsFn& f, const at::Tensor& x, const at::Tensor& y, const AttackOptions& options,
                        at::Generator gen, const at::Tensor& target = {});

/// x moved into the ε-ball around x0 (per input) and then clamped into the range. Under L∞ this
/// is the exact projection onto the intersection; under L2 it is a point of the intersection
/// (the ball's projection followed by the clamp), not the Euclidean projection onto it.
at::Tensor project_to_ball(const at::Tensor& x, const at::Tensor& x0, AttackNorm norm, double eps,
                           const c10::optional<AttackOptions::Range>& range);

/// The attack's objective per input ([N]; the attack ascends it): see AttackLoss.
at::Tensor attack_objective(const at::Tensor& logits, const at::Tensor& y, AttackLoss loss, const at::Tensor& target = {});

/// How an attack differentiates through the refinement.
enum class RefinementGradient {
  kThrough,   ///< exact: the graph of every Langevin step is kept (second order)
  kIdentity,  ///< BPDA: the refinement's Jacobian taken as the identity (first order, cheap)
};
RefinementGradient refinement_gradient_from_string(const std::string& name);  ///< "through" | "identity"

/// Options for SgldDefence.
struct SgldDefenceOptions {
  /// Fails unless steps >= 0, chains >= 1, step_size > 0, noise >= 0 (finite) and range has
  /// low < high.
  void validate() const;
  /// Langevin steps K of each refinement (0: the plain classifier).
  TORCH_ARG(int64_t, steps) = 10;
  /// Refinement chains per input; the classifier's logits are averaged over them.
  TORCH_ARG(int64_t, chains) = 10;
  /// Gradient step a of JEM's SGLD x ← x − a·∇ₓE(x) + b·ε (JEM:attack_model.py's default a = 1).
  TORCH_ARG(double, step_size) = 1.0;
  /// Noise standard deviation b of the SGLD steps (JEM's default 0.01).
  TORCH_ARG(double, noise) = 0.01;
  /// Refined inputs are clamped into this range (none: unbounded).
  TORCH_ARG(c10::optional<AttackOptions::Range>, range) = AttackOptions::Range(-1.0, 1.0);
  /// How attacks differentiate through the refinement.
  TORCH_ARG(RefinementGradient, gradient) = RefinementGradient::kThrough;
};

/// The SGLD refinement defence around a classifier read as an energy model. The classifier is
/// borrowed (it must outlive the defence) and run in eval mode; its parameters are not updated.
/// The refinement's noise comes from the defence's own generator, so the defended classifier is
/// stochastic: attack it with AttackOptions::eot_samples > 1.
class SgldDefence {
 public:
  /// Defends `model` (borrowed) with refinement noise from `gen`; validates `options`.
  SgldDefence(ClassifierEnergyImpl& model, SgldDefenceOptions options, at::Generator gen);

  /// K steps from each input, `chains` times: [B, ...] -> [chains·B, ...] (chain-major). Keeps a
  /// graph to x when x requires grad and grad mode is on (as options.gradient says).
  at::Tensor refine(const at::Tensor& x);
  /// The mean over chains of the classifier's logits at the refined inputs: [B, C].
  at::Tensor logits(const at::Tensor& x);
  /// logits() as a LogitsFn for the attacks (this object must outlive it).
  LogitsFn as_logits_fn();

  const SgldDefenceOptions& options() const { return options_; }  ///< the options in use

 private:
  ClassifierEnergyImpl& model_;
  SgldDefenceOptions options_;
  std::unique_ptr<Sampler> sampler_;
  at::Generator gen_;
};

/// Distal adversarials (JEM §5.3, Fig. 7): inputs grown from uniform noise in the range that the
/// classifier assigns to class `labels[i]` with high confidence: `steps` steps of normalised
/// gradient ascent on log p(y|x) (L2 step `step_size` per input), clamped to the range.
at::Tensor distal_adversarials(const LogitsFn& f, const std::vector<int64_t>& event_shape, const at::Tensor& labels,
                               int64_t steps, double step_size, const c10::optional<AttackOptions::Range>& range,
                               at::Generator gen);

}  // namespace joule::eval
