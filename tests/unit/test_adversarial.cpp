// Adversarial attacks and the SGLD refinement defence (include/joule/eval/adversarial.h):
// PGD on a linear classifier against the closed-form worst case over the L∞ and L2 balls,
// the ball and range constraints, stronger attacks fooling supersets, FGSM against a hand
// gradient, targeted attacks, the objectives by hand, the defence's refinement and its two
// gradients (exact, against finite differences; BPDA, against a hand computation), distal
// adversarials, and option validation.
#include <gtest/gtest.h>

#include <torch/autograd.h>
#include <torch/nn/functional/loss.h>

#include <cmath>
#include <string>
#include <vector>

#include "joule/core/runtime.h"
#include "joule/eval/adversarial.h"
#include "joule/models/classifier_energy.h"
#include "joule/models/classifiers.h"

namespace {

namespace je = joule::eval;
using je::AttackLoss;
using je::AttackNorm;
using je::AttackOptions;

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

// Per-input norm of x [N, ...] over all but the first dimension.
at::Tensor per_input_norm(const at::Tensor& x, AttackNorm norm) {
  auto flat = x.to(at::kDouble).reshape({x.size(0), -1});
  return norm == AttackNorm::kLinf ? flat.abs().amax(1) : flat.norm(2, {1});
}

// ------------------------------------------------------------------------------------------------
// A linear classifier f(x) = W x + b in double, with inputs built to have chosen logits.

struct Linear {
  at::Tensor W;  // [C, d]
  at::Tensor b;  // [C]
  at::Tensor logits(const at::Tensor& x) const { return at::matmul(x, W.t()) + b; }
  je::LogitsFn fn() const {
    auto w = W, bb = b;
    // Inputs of another dtype are cast to the weights' (differentiably).
    return [w, bb](const at::Tensor& x) { return at::matmul(x.to(w.scalar_type()), w.t()) + bb; };
  }
  // Inputs whose logits are exactly `t` [N, C]: x = z + (t − b − zWᵀ)·pinv(W)ᵀ, since W has full
  // row rank (C < d) and so W·pinv(W) = I.
  at::Tensor inputs_with_logits(const at::Tensor& t, at::Generator& gen) const {
    auto z = at::randn({t.size(0), W.size(1)}, gen, at::kDouble);
    return z + at::matmul(t - b - at::matmul(z, W.t()), at::linalg_pinv(W).t());
  }
};

Linear random_linear(int64_t classes, int64_t dim, double scale, uint64_t seed) {
  auto gen = joule::make_generator(seed);
  return {at::randn({classes, dim}, gen, at::kDouble) * scale, at::randn({classes}, gen, at::kDouble)};
}

// A small deterministic MLP classifier in `dtype`.
joule::MlpClassifier small_mlp(int64_t in, int64_t classes, uint64_t seed, at::ScalarType dtype,
                               joule::Activation act = joule::Activation::kSiLU, std::vector<int64_t> hidden = {16}) {
  auto net = joule::MlpClassifier(joule::MlpClassifierOptions(in, classes).hidden(hidden).activation(act));
  net->reset_parameters(joule::make_generator(seed));
  net->to(dtype);
  net->eval();
  return net;
}

// ------------------------------------------------------------------------------------------------
// 1. Linear classifiers: the worst case over the ball has a closed form.

// Inputs of a linear classifier with margin M = f_y − f_y' against a chosen runner-up y' and
// every other class L below y' (so far that it stays out of play in the balls used here).
struct MarginProblem {
  Linear lin;
  at::Tensor x, y, y2;  // inputs [n, d], true classes, runner-up classes
  at::Tensor dw;        // [n, d]: w_y − w_y'
  double M, L;
};

MarginProblem margin_problem(int64_t classes, uint64_t seed, int64_t n = 24, int64_t d = 20) {
  MarginProblem p{random_linear(classes, d, 0.3, seed), {}, {}, {}, {}, 2.0, 30.0};
  auto gen = joule::make_generator(seed + 100);
  p.y = at::randint(classes, {n}, gen, at::kLong);
  p.y2 = (p.y + 1 + (classes > 2 ? at::randint(classes - 1, {n}, gen, at::kLong) : at::zeros({n}, at::kLong))) % classes;
  auto offset = at::randn({n}, gen, at::kDouble);
  auto t = (offset - p.L).unsqueeze(1).repeat({1, classes});  // every other class far below
  auto rows = at::arange(n, at::kLong);
  t.index_put_({rows, p.y}, offset + p.M);
  t.index_put_({rows, p.y2}, offset);
  p.x = p.lin.inputs_with_logits(t, gen);
  p.dw = p.lin.W.index_select(0, p.y) - p.lin.W.index_select(0, p.y2);
  EXPECT_LT(max_abs_diff(p.lin.logits(p.x), t), 1e-9);  // the construction (double rounding)
  return p;
}

// For a linear map the margin f_y − f_y' over the ball {‖δ‖ ≤ ε} is minimised at δ = −ε·sign(Δw)
// (L∞) or δ = −ε·Δw/‖Δw‖₂ (L2), Δw = w_y − w_y', with value margin(x) − ε‖Δw‖₁ (resp. ‖Δw‖₂).
// The inputs have margin M against y' and are far (L) above the third class, if any, so the
// margin loss's runner-up is y' everywhere in the ball and PGD ascends a linear function.
void check_linear_closed_form(int64_t classes, uint64_t seed) {
  auto p = margin_problem(classes, seed);
  const auto& lin = p.lin;
  const auto &x = p.x, &y = p.y, &y2 = p.y2;
  const double M = p.M, L = p.L;
  const auto& dw = p.dw;
  for (auto norm : {AttackNorm::kLinf, AttackNorm::kL2}) {
    SCOPED_TRACE(je::to_string(norm) + ", " + std::to_string(classes) + " classes");
    auto dual = norm == AttackNorm::kLinf ? dw.abs().sum(1) : dw.norm(2, {1});  // ‖Δw‖₁ or ‖Δw‖₂
    // Small ε: every worst-case margin is ≥ M/2 > 0, so no input can be fooled and all run every step.
    const double eps_small = 0.5 * M / dual.max().item<double>();
    // The third class stays out of reach: even moving its logit up and the others' down by
    // ε‖w_o − w_j‖₁ it is far below (this bounds the L2 change too since ‖·‖₂ ≤ ‖·‖₁).
    if (classes > 2) {
      auto spread = (lin.W.unsqueeze(0) - lin.W.unsqueeze(1)).abs().sum(2).max().item<double>();
      ASSERT_LT(eps_small * spread * 2 + M, L);
    }
    auto opts = AttackOptions::pgd(norm, eps_small, 50).loss(AttackLoss::kMargin).range(c10::nullopt);
    // L∞: the default step 2.5ε/50 crosses the ball's 2ε width in 40 steps and the sign step then
    // sits on the corner. L2: a step of ε/2 turns the offset towards −Δw by a factor ~1/1.5 in
    // angle per step once on the sphere, so 50 steps converge to rounding.
    if (norm == AttackNorm::kL2) opts.step_size(0.5 * eps_small);
    auto gen_attack = joule::make_generator(seed + 200);
    auto r = je::pgd_attack(lin.fn(), x, y, opts, gen_attack);
    ASSERT_EQ(r.x_adv.sizes(), x.sizes());
    ASSERT_EQ(r.fooled.sizes(), y.sizes());
    ASSERT_EQ(r.correct.sizes(), y.sizes());
    EXPECT_FALSE(r.fooled.any().item<bool>());
    EXPECT_TRUE(r.correct.all().item<bool>());

    auto f = lin.logits(r.x_adv);
    auto achieved = f.gather(1, y.unsqueeze(1)).squeeze(1) - f.gather(1, y2.unsqueeze(1)).squeeze(1);
    auto closed_form = M - eps_small * dual;
    if (norm == AttackNorm::kLinf) {
      // The corner itself, up to the rounding of x ± ε and of a 20-term dot product in double.
      EXPECT_LT(max_abs_diff(achieved, closed_form), 1e-9);
      EXPECT_LT(max_abs_diff(r.x_adv, x - eps_small * dw.sign()), 1e-12);
    } else {
      // Converged to ~1e-7 rad, a margin error ~ε‖Δw‖·θ²/2 ≪ 1e-9; 1e-6 relative leaves room for
      // an implementation that guards the gradient's norm with a tiny constant.
      EXPECT_LT(((achieved - closed_form).abs() / (eps_small * dual)).max().item<double>(), 1e-6);
    }
    // Everything is at most the closed form (it is the minimum over the ball), up to rounding.
    EXPECT_TRUE((achieved >= closed_form - 1e-9).all().item<bool>());
    // The margin loss is max_{j≠y} f_j − f_y, here f_y' − f_y: minus the achieved margin.
    EXPECT_LT(max_abs_diff(je::attack_objective(f, y, AttackLoss::kMargin), -achieved), 1e-12);
    EXPECT_LE(per_input_norm(r.x_adv - x, norm).max().item<double>(), eps_small * (1 + 1e-12));

    // Large ε: every worst-case margin is ≤ −M, so every input must be fooled.
    const double eps_large = 2.0 * M / dual.min().item<double>();
    auto big = AttackOptions::pgd(norm, eps_large, 50).loss(AttackLoss::kMargin).range(c10::nullopt);
    auto r2 = je::pgd_attack(lin.fn(), x, y, big, gen_attack);
    EXPECT_TRUE(r2.fooled.all().item<bool>());
    EXPECT_FALSE(r2.correct.any().item<bool>());
    EXPECT_FALSE(lin.logits(r2.x_adv).argmax(1).eq(y).any().item<bool>());
    EXPECT_LE(per_input_norm(r2.x_adv - x, norm).max().item<double>(), eps_large * (1 + 1e-12));
  }
}

TEST(AdversarialTest, LinearTwoClassPgdReachesClosedFormWorstCase) { check_linear_closed_form(2, 1); }

TEST(AdversarialTest, LinearThreeClassPgdReachesClosedFormWorstCase) { check_linear_closed_form(3, 2); }

TEST(AdversarialTest, FirstFoolingIterateIsKept) {
  // No random start and a fixed L∞ step α: iterate k is x − kα·sign(Δw), with margin M − kα‖Δw‖₁,
  // so the first fooling iterate is k* = ⌊M / (α‖Δw‖₁)⌋ + 1; the attack must stop there. With
  // ε = 2M / min‖Δw‖₁ and α = ε/47, M/(α‖Δw‖₁) ≤ 23.5 (no integer tie at the minimum), so
  // k* ≤ 24: inside the ball (47 steps to its corner) and before the last of 50 steps.
  auto p = margin_problem(3, 3);
  auto l1 = p.dw.abs().sum(1);
  const double eps = 2.0 * p.M / l1.min().item<double>();
  const double alpha = eps / 47;
  auto opts = AttackOptions(AttackNorm::kLinf, eps).steps(50).step_size(alpha).random_start(false).loss(AttackLoss::kMargin);
  opts.range(c10::nullopt);
  auto gen = joule::make_generator(4);
  auto r = je::pgd_attack(p.lin.fn(), p.x, p.y, opts, gen);
  EXPECT_TRUE(r.fooled.all().item<bool>());
  auto k_star = (p.M / (alpha * l1)).floor() + 1;
  ASSERT_LE(k_star.max().item<double>(), 24.0);
  ASSERT_GT(k_star.max().item<double>(), k_star.min().item<double>());  // inputs stop at different steps
  // Rounding of k* additions of α in double.
  EXPECT_LT(max_abs_diff(r.x_adv, p.x - (k_star * alpha).unsqueeze(1) * p.dw.sign()), 1e-12);
  auto f = p.lin.logits(r.x_adv);
  EXPECT_TRUE(at::equal(f.argmax(1), p.y2));  // the runner-up took over; the third class stayed out
  auto margin = f.gather(1, p.y.unsqueeze(1)).squeeze(1) - f.gather(1, p.y2.unsqueeze(1)).squeeze(1);
  EXPECT_TRUE((margin < 0).all().item<bool>());
  EXPECT_TRUE((margin > -alpha * l1 - 1e-12).all().item<bool>());  // within one step of the boundary
}

// ------------------------------------------------------------------------------------------------
// 2. Constraints: the ball and the range.

TEST(AdversarialTest, AdversarialsStayInsideBallAndRange) {
  auto cnn = joule::SmallCnn(joule::SmallCnnOptions(1, 3).channels(4).image_size({8, 8}));
  cnn->reset_parameters(joule::make_generator(3));
  cnn->eval();
  je::LogitsFn f = [&](const at::Tensor& x) { return cnn->forward(x); };
  auto gen = joule::make_generator(4);
  // Inputs in the range, many near its edges so the clamp matters.
  auto x = (at::rand({16, 1, 8, 8}, gen) * 2.2 - 1.1).clamp(-1, 1);
  auto y = at::randint(3, {16}, gen, at::kLong);
  for (auto norm : {AttackNorm::kLinf, AttackNorm::kL2}) {
    SCOPED_TRACE(je::to_string(norm));
    const double eps = norm == AttackNorm::kLinf ? 0.1 : 0.5;
    auto r = je::pgd_attack(f, x, y, AttackOptions::pgd(norm, eps, 10).restarts(2), gen);
    ASSERT_EQ(r.x_adv.sizes(), x.sizes());
    EXPECT_EQ(r.fooled.scalar_type(), at::kBool);
    EXPECT_EQ(r.correct.scalar_type(), at::kBool);
    EXPECT_GE(r.x_adv.min().item<double>(), -1.0);
    EXPECT_LE(r.x_adv.max().item<double>(), 1.0);
    if (norm == AttackNorm::kLinf) {
      // float32: x ± ε rounds by at most half an ulp at 1 (6e-8).
      EXPECT_LE(per_input_norm(r.x_adv - x, norm).max().item<double>(), eps + 1e-6);
    } else {
      // float32: the rescaling to the sphere and the stored coordinates round at ~1e-7 relative,
      // summed over 64 coordinates at most ~4e-6.
      EXPECT_LE(per_input_norm(r.x_adv.to(at::kDouble) - x.to(at::kDouble), norm).max().item<double>(), eps * (1 + 1e-5));
    }
    // `correct` is a fresh read of the classifier at x_adv.
    at::NoGradGuard no_grad;
    EXPECT_TRUE(at::equal(r.correct, f(r.x_adv).argmax(1).eq(y)));
    // A fooled input is never counted correct (the classifier is deterministic).
    EXPECT_FALSE((r.fooled & r.correct).any().item<bool>());
  }
}

TEST(AdversarialTest, ProjectToBallIsIdempotentAndKeepsInsidePoints) {
  auto gen = joule::make_generator(5);
  auto x0 = at::rand({8, 2, 3, 3}, gen, at::kDouble) * 1.6 - 0.8;
  const AttackOptions::Range range(-1.0, 1.0);
  for (auto norm : {AttackNorm::kLinf, AttackNorm::kL2}) {
    SCOPED_TRACE(je::to_string(norm));
    const double eps = norm == AttackNorm::kLinf ? 0.3 : 1.0;
    // Far outside both the ball and the range.
    auto x = x0 + at::randn(x0.sizes(), gen, at::kDouble) * 2.0;
    auto p = je::project_to_ball(x, x0, norm, eps, range);
    ASSERT_EQ(p.sizes(), x.sizes());
    EXPECT_LE(per_input_norm(p - x0, norm).max().item<double>(), eps * (1 + 1e-12));
    EXPECT_GE(p.min().item<double>(), -1.0);
    EXPECT_LE(p.max().item<double>(), 1.0);
    // Idempotent: a feasible point is its own projection (double rounding of a rescale by ~1).
    EXPECT_LT(max_abs_diff(je::project_to_ball(p, x0, norm, eps, range), p), 1e-12);
    // A point inside both is unchanged.
    auto dir = at::randn(x0.sizes(), gen, at::kDouble);
    auto inside = (x0 + 0.5 * eps * dir / per_input_norm(dir, norm).view({-1, 1, 1, 1})).clamp(-1, 1);
    EXPECT_LT(max_abs_diff(je::project_to_ball(inside, x0, norm, eps, range), inside), 1e-12);
    // No range: the ball alone. L∞ clamps each coordinate to x0 ± ε; L2 rescales the offset onto
    // the sphere along its own direction.
    auto q = je::project_to_ball(x, x0, norm, eps, c10::nullopt);
    if (norm == AttackNorm::kLinf) {
      EXPECT_LT(max_abs_diff(q, x0 + (x - x0).clamp(-eps, eps)), 1e-12);
    } else {
      auto off = x - x0;
      auto nrm = per_input_norm(off, norm).view({-1, 1, 1, 1});
      auto expected = x0 + at::where(nrm > eps, off * (eps / nrm), off);
      EXPECT_LT(max_abs_diff(q, expected), 1e-12);  // double rounding of the rescale
    }
  }
}

// ------------------------------------------------------------------------------------------------
// 3. Stronger attacks fool supersets; FGSM is one signed gradient step.

// `a` fools every input `b` fools.
void expect_superset(const at::Tensor& a, const at::Tensor& b) {
  EXPECT_FALSE((b & ~a).any().item<bool>()) << "fooled by the weaker attack only: " << (b & ~a).nonzero().view({-1});
}

TEST(AdversarialTest, MoreStepsOrRestartsFoolSupersets) {
  auto net = small_mlp(10, 3, 6, at::kDouble);
  je::LogitsFn f = [&](const at::Tensor& x) { return net->forward(x); };
  auto gen = joule::make_generator(7);
  auto x = at::rand({64, 10}, gen, at::kDouble) * 2 - 1;
  at::Tensor y;
  {
    at::NoGradGuard no_grad;
    y = f(x).argmax(1);  // every input starts correctly classified
  }
  for (auto norm : {AttackNorm::kLinf, AttackNorm::kL2}) {
    SCOPED_TRACE(je::to_string(norm));
    const double eps = norm == AttackNorm::kLinf ? 0.15 : 0.4;
    // A fixed step, so the first k iterates of the longer attack are those of the shorter one.
    auto base = AttackOptions::pgd(norm, eps, 3).step_size(eps / 4);
    auto run = [&](const AttackOptions& o) {
      auto g = joule::make_generator(8);
      return je::pgd_attack(f, x, y, o, g);
    };
    auto weak = run(base);
    auto longer = run(AttackOptions(base).steps(6));
    auto restarted = run(AttackOptions(base).restarts(3));
    expect_superset(longer.fooled, weak.fooled);
    expect_superset(restarted.fooled, weak.fooled);
    // Not vacuous: the weak attack fools some inputs and not all.
    const auto n_weak = weak.fooled.sum().item<int64_t>();
    EXPECT_GT(n_weak, 0);
    EXPECT_LT(n_weak, 64);
    // Same generator, same options: the same result.
    auto again = run(base);
    EXPECT_TRUE(at::equal(again.fooled, weak.fooled));
    EXPECT_TRUE(at::equal(again.x_adv, weak.x_adv));
  }
}

TEST(AdversarialTest, BatchSizeDoesNotChangeDeterministicAttack) {
  auto net = small_mlp(10, 3, 9, at::kDouble);
  je::LogitsFn f = [&](const at::Tensor& x) { return net->forward(x); };
  auto gen = joule::make_generator(10);
  auto x = at::rand({23, 10}, gen, at::kDouble) * 2 - 1;
  auto y = at::randint(3, {23}, gen, at::kLong);
  // No random start: the attack is a deterministic function of each input alone.
  auto opts = AttackOptions::pgd(AttackNorm::kLinf, 0.1, 5).random_start(false);
  auto g1 = joule::make_generator(11), g2 = joule::make_generator(11);
  auto whole = je::pgd_attack(f, x, y, opts, g1);
  auto batched = je::pgd_attack(f, x, y, AttackOptions(opts).batch_size(5), g2);
  EXPECT_TRUE(at::equal(whole.fooled, batched.fooled));
  EXPECT_TRUE(at::equal(whole.correct, batched.correct));
  // Double rounding of matrix products of different batch sizes; a sign flip would show as 0.02.
  EXPECT_LT(max_abs_diff(whole.x_adv, batched.x_adv), 1e-12);
}

TEST(AdversarialTest, FgsmIsOneGradientStepClampedToRange) {
  auto net = small_mlp(10, 3, 12, at::kDouble);
  je::LogitsFn f = [&](const at::Tensor& x) { return net->forward(x); };
  auto gen = joule::make_generator(13);
  auto x = at::rand({32, 10}, gen, at::kDouble) * 2 - 1;
  at::Tensor y;
  {
    at::NoGradGuard no_grad;
    y = f(x).argmax(1);  // correct at x, so the one step is always taken
  }
  // ∇ₓ of the summed cross-entropy: per input, the gradient of its own loss.
  auto xg = x.clone().requires_grad_(true);
  auto ce = torch::nn::functional::cross_entropy(
      f(xg), y, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
  auto g = torch::autograd::grad({ce}, {xg})[0];
  ASSERT_GT(g.abs().min().item<double>(), 0.0);  // no zero coordinates whose sign is ambiguous

  const double eps = 0.2;
  auto gen_attack = joule::make_generator(14);
  auto opts = AttackOptions::fgsm(AttackNorm::kLinf, eps);
  EXPECT_EQ(opts.steps(), 1);
  EXPECT_FALSE(opts.random_start());
  EXPECT_DOUBLE_EQ(opts.step(), eps);
  auto r = je::pgd_attack(f, x, y, opts, gen_attack);
  auto expected = (x + eps * g.sign()).clamp(-1, 1);
  EXPECT_LT(max_abs_diff(r.x_adv, expected), 1e-12);  // rounding of x + ε and its re-projection
  EXPECT_GT(max_abs_diff(expected, x + eps * g.sign()), 0.0);  // the range clamp was exercised

  // L2: a step of ε along the gradient's direction.
  auto r2 = je::pgd_attack(f, x, y, AttackOptions::fgsm(AttackNorm::kL2, 0.5), gen_attack);
  auto expected2 = (x + 0.5 * g / g.norm(2, {1}, true)).clamp(-1, 1);
  // 1e-9: an implementation may guard the norm with a tiny constant (‖g‖ here ≳ 1e-3).
  EXPECT_LT(max_abs_diff(r2.x_adv, expected2), 1e-9);
  {
    at::NoGradGuard no_grad;
    EXPECT_TRUE(at::equal(r.correct, f(r.x_adv).argmax(1).eq(y)));
    EXPECT_TRUE(at::equal(r.fooled, ~r.correct));  // one iterate: fooled there iff not correct
  }
}

// ------------------------------------------------------------------------------------------------
// 4. Targeted attacks.

TEST(AdversarialTest, TargetedAttackReachesTargetOnLinearModel) {
  auto lin = random_linear(3, 20, 0.3, 15);
  auto gen = joule::make_generator(16);
  auto x = at::randn({32, 20}, gen, at::kDouble);
  auto y = lin.logits(x).argmax(1);
  auto target = (y + 1 + at::randint(2, {32}, gen, at::kLong)) % 3;
  struct Case {
    AttackNorm norm;
    double eps;
    AttackLoss loss;
  };
  // Large balls: ε moves every logit difference by up to ε‖w_i − w_j‖ (~20 for L∞, ~5 for L2 at
  // this scale) against clean differences of ~2.
  for (const auto& c : {Case{AttackNorm::kLinf, 3.0, AttackLoss::kCrossEntropy}, Case{AttackNorm::kL2, 8.0, AttackLoss::kMargin},
                        Case{AttackNorm::kLinf, 3.0, AttackLoss::kMargin}}) {
    SCOPED_TRACE(je::to_string(c.norm) + (c.loss == AttackLoss::kMargin ? " margin" : " ce"));
    auto opts = AttackOptions::pgd(c.norm, c.eps, 30).loss(c.loss).range(c10::nullopt);
    auto r = je::pgd_attack(lin.fn(), x, y, opts, gen, target);
    EXPECT_TRUE(r.fooled.all().item<bool>());
    EXPECT_TRUE(at::equal(lin.logits(r.x_adv).argmax(1), target));
    EXPECT_FALSE(r.correct.any().item<bool>());
    EXPECT_LE(per_input_norm(r.x_adv - x, c.norm).max().item<double>(), c.eps * (1 + 1e-12));
  }
}

// ------------------------------------------------------------------------------------------------
// 5. The objectives by hand.

TEST(AdversarialTest, AttackObjectivesMatchHandComputation) {
  auto logits = at::tensor({1.0, 2.0, 0.5, -1.0, 3.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0}, at::kDouble).view({3, 4});
  auto y = at::tensor({1, 0, 2}, at::kLong);
  auto target = at::tensor({3, 3, 1}, at::kLong);
  // Cross-entropy logsumexp(f) − f_y: row 2 is uniform, log 4.
  auto ce = je::attack_objective(logits, y, AttackLoss::kCrossEntropy);
  ASSERT_EQ(ce.sizes(), at::IntArrayRef({3}));
  auto lse = logits.logsumexp(1);
  EXPECT_LT(max_abs_diff(ce, lse - at::tensor({2.0, 3.0, 0.0}, at::kDouble)), 1e-12);
  EXPECT_NEAR(ce[2].item<double>(), std::log(4.0), 1e-12);
  // Margin max_{j≠y} f_j − f_y: 1 − 2, 1 − 3, 0 − 0.
  auto margin = je::attack_objective(logits, y, AttackLoss::kMargin);
  EXPECT_LT(max_abs_diff(margin, at::tensor({-1.0, -2.0, 0.0}, at::kDouble)), 1e-12);
  // Targeted: minus the target's cross-entropy, log p_t = f_t − logsumexp(f) ...
  auto ce_t = je::attack_objective(logits, y, AttackLoss::kCrossEntropy, target);
  EXPECT_LT(max_abs_diff(ce_t, at::tensor({-1.0, 1.0, 0.0}, at::kDouble) - lse), 1e-12);
  // ... and f_t − max_{j≠t} f_j: −1 − 2, 1 − 3, 0 − 0.
  auto margin_t = je::attack_objective(logits, y, AttackLoss::kMargin, target);
  EXPECT_LT(max_abs_diff(margin_t, at::tensor({-3.0, -2.0, 0.0}, at::kDouble)), 1e-12);
  // Against the library's cross-entropy on random logits.
  auto gen = joule::make_generator(17);
  auto z = at::randn({50, 7}, gen, at::kDouble) * 3;
  auto labels = at::randint(7, {50}, gen, at::kLong);
  auto ref = torch::nn::functional::cross_entropy(z, labels, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
  EXPECT_LT(max_abs_diff(je::attack_objective(z, labels, AttackLoss::kCrossEntropy), ref), 1e-12);
  auto others = z.scatter(1, labels.unsqueeze(1), -INFINITY).amax(1);
  EXPECT_LT(max_abs_diff(je::attack_objective(z, labels, AttackLoss::kMargin), others - z.gather(1, labels.unsqueeze(1)).squeeze(1)),
            1e-12);
}

// ------------------------------------------------------------------------------------------------
// 6. The SGLD refinement defence.

// A smooth (SiLU) double MLP read as an energy model: E(x) = −logsumexp f(x).
// Weights ×2 over the default init, so the energy has enough curvature for the refinement's
// Jacobian to differ visibly from the identity.
joule::ClassifierEnergy smooth_model(uint64_t seed) {
  auto net = small_mlp(3, 4, seed, at::kDouble, joule::Activation::kSiLU, {8, 8});
  {
    at::NoGradGuard no_grad;
    for (auto& p : net->parameters()) p.mul_(2.0);
  }
  return joule::ClassifierEnergy(net, std::vector<int64_t>{3}, 4);
}

TEST(SgldDefenceTest, ZeroStepsIsThePlainClassifier) {
  auto model = smooth_model(20);
  auto gen = joule::make_generator(21);
  auto x = at::rand({6, 3}, gen, at::kDouble) * 2 - 1;
  auto plain = model->logits(x).detach();
  je::SgldDefence one(*model, je::SgldDefenceOptions().steps(0).chains(1), joule::make_generator(22));
  EXPECT_TRUE(at::equal(one.logits(x).detach(), plain));
  // The mean of identical chains: exact up to the rounding of the sum of 4 equal numbers.
  je::SgldDefence four(*model, je::SgldDefenceOptions().steps(0).chains(4), joule::make_generator(22));
  auto out = four.logits(x).detach();
  ASSERT_EQ(out.sizes(), plain.sizes());
  EXPECT_LT(max_abs_diff(out, plain), 1e-14);
  auto f = four.as_logits_fn();
  EXPECT_LT(max_abs_diff(f(x).detach(), plain), 1e-14);
}

// x ← x − a·∇ₓE(x), K times, without noise or range: the refinement by hand.
at::Tensor refine_by_hand(joule::ClassifierEnergyImpl& model, at::Tensor x, int64_t steps, double a) {
  for (int64_t k = 0; k < steps; ++k) x = x - a * model.energy_and_grad(x).grad;
  return x;
}

TEST(SgldDefenceTest, RefineIsLangevinByHandChainMajorAndSeeded) {
  auto model = smooth_model(23);
  auto gen = joule::make_generator(24);
  auto x = at::randn({4, 3}, gen, at::kDouble) * 0.5;
  const double a = 0.05;
  auto quiet = je::SgldDefenceOptions().steps(3).chains(3).step_size(a).noise(0.0).range(c10::nullopt);
  je::SgldDefence d0(*model, quiet, joule::make_generator(25));
  auto r = d0.refine(x).detach();
  ASSERT_EQ(r.sizes(), at::IntArrayRef({12, 3}));
  // Without noise every chain is the same deterministic refinement; chain-major rows c·B + b.
  auto expected = refine_by_hand(*model, x, 3, a);
  for (int64_t c = 0; c < 3; ++c) EXPECT_LT(max_abs_diff(r.narrow(0, c * 4, 4), expected), 1e-12) << "chain " << c;

  // With noise: a second call draws new noise; the same seed reproduces the first call.
  auto noisy = je::SgldDefenceOptions().steps(3).chains(3).step_size(a).noise(0.01);
  je::SgldDefence d1(*model, noisy, joule::make_generator(26));
  je::SgldDefence d2(*model, noisy, joule::make_generator(26));
  auto r1 = d1.refine(x).detach();
  auto r1b = d1.refine(x).detach();
  auto r2 = d2.refine(x).detach();
  ASSERT_EQ(r1.sizes(), at::IntArrayRef({12, 3}));
  EXPECT_TRUE(at::equal(r1, r2));
  EXPECT_GT(max_abs_diff(r1, r1b), 1e-4);  // independent N(0, 0.01²) noise on 36 coordinates
  // The chains of one call differ from each other too.
  EXPECT_GT(max_abs_diff(r1.narrow(0, 0, 4), r1.narrow(0, 4, 4)), 1e-4);
  // The range clamps the refined inputs.
  je::SgldDefence d3(*model, je::SgldDefenceOptions().steps(3).chains(2).step_size(1.0).range(AttackOptions::Range(-0.1, 0.1)),
                     joule::make_generator(27));
  auto r3 = d3.refine(x * 10).detach();
  EXPECT_LE(r3.abs().max().item<double>(), 0.1);
}

// F(x) = Σ_i logits(x)[i, 0] of the defence, as a double.
double summed_first_logit(je::SgldDefence& d, const at::Tensor& x) {
  return d.logits(x).select(1, 0).sum().item<double>();
}

TEST(SgldDefenceTest, ExactGradientThroughRefinementMatchesFiniteDifferences) {
  auto model = smooth_model(28);
  auto x = at::randn({4, 3}, joule::make_generator(29), at::kDouble) * 0.5;
  auto opts = je::SgldDefenceOptions()
                  .steps(3)
                  .chains(1)
                  .step_size(0.05)
                  .noise(0.0)
                  .range(c10::nullopt)
                  .gradient(je::RefinementGradient::kThrough);
  je::SgldDefence d(*model, opts, joule::make_generator(30));
  auto xg = x.clone().requires_grad_(true);
  auto g = torch::autograd::grad({d.logits(xg).select(1, 0).sum()}, {xg})[0];
  ASSERT_EQ(g.sizes(), x.sizes());
  const double h = 1e-6;
  double max_rel = 0;
  for (int64_t i = 0; i < x.size(0); ++i) {
    for (int64_t j = 0; j < x.size(1); ++j) {
      auto xp = x.clone(), xm = x.clone();
      xp[i][j] += h;
      xm[i][j] -= h;
      const double fd = (summed_first_logit(d, xp) - summed_first_logit(d, xm)) / (2 * h);
      const double ad = g[i][j].item<double>();
      max_rel = std::max(max_rel, std::abs(fd - ad) / std::max(1e-3, std::abs(fd)));
    }
  }
  // Central differences in double precision: truncation O(h²) and rounding O(1e-16/h) ≈ 1e-10.
  EXPECT_LT(max_rel, 1e-5);

  // The BPDA gradient of the same defence differs from it (the refinement's Jacobian is not I).
  je::SgldDefence bpda(*model, je::SgldDefenceOptions(opts).gradient(je::RefinementGradient::kIdentity), joule::make_generator(30));
  auto xg2 = x.clone().requires_grad_(true);
  auto g_bpda = torch::autograd::grad({bpda.logits(xg2).select(1, 0).sum()}, {xg2})[0];
  // Here ~0.03 against gradients of ~0.3 (a = 0.05, K = 3: the Jacobian is I − a·Σ∇²E to first order).
  EXPECT_GT(max_abs_diff(g, g_bpda), 3e-3);

  // Without grad mode the defence still refines (the values agree with the differentiable call).
  at::Tensor plain;
  {
    at::NoGradGuard no_grad;
    plain = d.logits(x);
  }
  EXPECT_LT(max_abs_diff(plain, d.logits(x).detach()), 1e-12);
}

TEST(SgldDefenceTest, IdentityGradientIsClassifierGradientAtRefinedInput) {
  auto model = smooth_model(31);
  auto x = at::randn({5, 3}, joule::make_generator(32), at::kDouble) * 0.5;
  const double a = 0.05;
  auto opts = je::SgldDefenceOptions()
                  .steps(3)
                  .chains(1)
                  .step_size(a)
                  .noise(0.0)
                  .range(c10::nullopt)
                  .gradient(je::RefinementGradient::kIdentity);
  je::SgldDefence d(*model, opts, joule::make_generator(33));
  auto xg = x.clone().requires_grad_(true);
  auto out = d.logits(xg);
  auto g = torch::autograd::grad({out.select(1, 0).sum()}, {xg})[0];
  // By hand: refine without a graph, then ∇ of the classifier's logit there (Jacobian taken as I).
  auto xr = refine_by_hand(*model, x, 3, a).detach().requires_grad_(true);
  auto fr = model->logits(xr);
  auto g_hand = torch::autograd::grad({fr.select(1, 0).sum()}, {xr})[0];
  EXPECT_LT(max_abs_diff(out.detach(), fr.detach()), 1e-12);  // the value is the refined logits
  EXPECT_LT(max_abs_diff(g, g_hand), 1e-12);                  // double rounding
}

TEST(SgldDefenceTest, AttackOnDefenceWithEotStaysInsideBall) {
  auto model = smooth_model(34);
  auto defence_opts = je::SgldDefenceOptions().steps(2).chains(2).step_size(0.1).noise(0.01);
  auto gen = joule::make_generator(36);
  auto x = at::rand({8, 3}, gen, at::kDouble) * 2 - 1;
  auto y = at::randint(4, {8}, gen, at::kLong);
  for (auto g : {je::RefinementGradient::kThrough, je::RefinementGradient::kIdentity}) {
    je::SgldDefence dg(*model, je::SgldDefenceOptions(defence_opts).gradient(g), joule::make_generator(35));
    auto r = je::pgd_attack(dg.as_logits_fn(), x, y, AttackOptions::pgd(AttackNorm::kLinf, 0.1, 3).eot_samples(2), gen);
    ASSERT_EQ(r.x_adv.sizes(), x.sizes());
    EXPECT_LE(per_input_norm(r.x_adv - x, AttackNorm::kLinf).max().item<double>(), 0.1 + 1e-12);
    EXPECT_GE(r.x_adv.min().item<double>(), -1.0);
    EXPECT_LE(r.x_adv.max().item<double>(), 1.0);
  }
  // The classifier's parameters collect no gradient from an attack.
  for (const auto& p : model->parameters())
    EXPECT_TRUE(!p.grad().defined() || p.grad().abs().max().item<double>() == 0.0);
}

// ------------------------------------------------------------------------------------------------
// 7. Distal adversarials.

TEST(AdversarialTest, DistalAdversarialsAreConfidentAndInRange) {
  // Large weights: every class has a corner of [-1, 1]^20 where it wins by a wide margin.
  auto lin = random_linear(3, 20, 3.0, 37);
  lin.b.zero_();
  auto gen = joule::make_generator(38);
  auto labels = at::randint(3, {30}, gen, at::kLong);
  const AttackOptions::Range range(-1.0, 1.0);
  auto x = je::distal_adversarials(lin.fn(), {20}, labels, 50, 0.2, range, gen);
  ASSERT_EQ(x.sizes(), at::IntArrayRef({30, 20}));
  EXPECT_GE(x.min().item<double>(), -1.0);
  EXPECT_LE(x.max().item<double>(), 1.0);
  auto p_of = [&](const at::Tensor& z) { return lin.logits(z.to(at::kDouble)).softmax(1).gather(1, labels.unsqueeze(1)).squeeze(1); };
  // Starting points: uniform noise in the range, as the function draws them.
  auto noise = at::rand({30, 20}, gen, at::kDouble) * 2 - 1;
  const double p_start = p_of(noise).mean().item<double>();
  const double p_end = p_of(x).mean().item<double>();
  EXPECT_GT(p_end, p_start);
  EXPECT_GT(p_end, 0.9);
  EXPECT_GT(p_of(x).min().item<double>(), 0.5);  // every one assigned to its class
}

// ------------------------------------------------------------------------------------------------
// 8. Options.

void expect_rejected(const AttackOptions& options, const std::string& option) {
  try {
    options.validate();
    ADD_FAILURE() << "validate() accepted a bad " << option;
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find(option), std::string::npos) << e.what();
  }
}

TEST(AdversarialOptionsTest, BadOptionsAreRejectedByName) {
  EXPECT_NO_THROW(AttackOptions::pgd(AttackNorm::kLinf, 0.03, 10).validate());
  EXPECT_NO_THROW(AttackOptions::fgsm(AttackNorm::kL2, 0.5).validate());
  expect_rejected(AttackOptions(AttackNorm::kLinf, -0.1), "attack eps must be >= 0");
  expect_rejected(AttackOptions::pgd(AttackNorm::kLinf, 0.1, 10).steps(0), "attack steps must be >= 1");
  expect_rejected(AttackOptions::pgd(AttackNorm::kLinf, 0.1, 10).restarts(0), "restarts");
  expect_rejected(AttackOptions::pgd(AttackNorm::kLinf, 0.1, 10).eot_samples(0), "eot_samples");
  // An invalid option is also refused by the attack itself.
  auto lin = random_linear(2, 4, 1.0, 39);
  auto x = at::zeros({2, 4}, at::kDouble);
  auto y = at::zeros({2}, at::kLong);
  EXPECT_THROW(je::pgd_attack(lin.fn(), x, y, AttackOptions::pgd(AttackNorm::kLinf, 0.1, 10).restarts(0), joule::make_generator(1)),
               c10::Error);

  EXPECT_THROW(je::SgldDefenceOptions().chains(0).validate(), c10::Error);
  EXPECT_THROW(je::SgldDefenceOptions().steps(-1).validate(), c10::Error);
  EXPECT_NO_THROW(je::SgldDefenceOptions().validate());
}

TEST(AdversarialOptionsTest, StepSizesOfPresets) {
  auto pgd = AttackOptions::pgd(AttackNorm::kL2, 0.5, 20);
  EXPECT_EQ(pgd.norm(), AttackNorm::kL2);
  EXPECT_DOUBLE_EQ(pgd.eps(), 0.5);
  EXPECT_EQ(pgd.steps(), 20);
  EXPECT_TRUE(pgd.random_start());
  EXPECT_DOUBLE_EQ(pgd.step(), 2.5 * 0.5 / 20);  // Madry et al.'s 2.5·ε/k
  EXPECT_DOUBLE_EQ(AttackOptions(pgd).step_size(0.01).step(), 0.01);
  auto fgsm = AttackOptions::fgsm(AttackNorm::kLinf, 0.03);
  EXPECT_EQ(fgsm.steps(), 1);
  EXPECT_FALSE(fgsm.random_start());
  EXPECT_DOUBLE_EQ(fgsm.step(), 0.03);
}

TEST(AdversarialOptionsTest, NamesRoundTripAndUnknownNamesListChoices) {
  for (auto n : {AttackNorm::kLinf, AttackNorm::kL2}) EXPECT_EQ(je::attack_norm_from_string(je::to_string(n)), n);
  EXPECT_EQ(je::to_string(AttackNorm::kLinf), "linf");
  EXPECT_EQ(je::to_string(AttackNorm::kL2), "l2");
  try {
    je::attack_norm_from_string("l3");
    ADD_FAILURE() << "accepted l3";
  } catch (const c10::Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("linf"), std::string::npos) << msg;
    EXPECT_NE(msg.find("l2"), std::string::npos) << msg;
  }
  EXPECT_EQ(je::attack_loss_from_string("ce"), AttackLoss::kCrossEntropy);
  EXPECT_EQ(je::attack_loss_from_string("margin"), AttackLoss::kMargin);
  EXPECT_THROW(je::attack_loss_from_string("hinge"), c10::Error);
  EXPECT_EQ(je::refinement_gradient_from_string("through"), je::RefinementGradient::kThrough);
  EXPECT_EQ(je::refinement_gradient_from_string("identity"), je::RefinementGradient::kIdentity);
  EXPECT_THROW(je::refinement_gradient_from_string("bpda2"), c10::Error);
}

}  // namespace
