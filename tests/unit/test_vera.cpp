// VERA (arXiv:2010.04230): the generator's entropy-gradient estimators checked against the closed
// forms of a linear generator (q = N(b, WWᵀ + σ²I), probabilistic PCA: the harness of
// `VERA:estimator.py`), the proposal width against its ELBO optimum, the objective's loss against
// a recomputation, and training end to end against an analytic Gaussian.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "joule/core/runtime.h"
#include "joule/data/dataset.h"
#include "joule/methods/vera.h"
#include "joule/models/classifier_energy.h"
#include "joule/models/classifiers.h"
#include "joule/models/generator.h"
#include "joule/models/mlp_energy.h"
#include "joule/objectives/vera.h"
#include "joule/train/trainer.h"
#include "support/test_support.h"

namespace {

using joule::VeraGenerator;
using joule::VeraGeneratorOptions;

// A linear generator in double precision with the given W [d, nz], b [d] and σ.
VeraGenerator linear_generator(const at::Tensor& w, const at::Tensor& b, double sigma) {
  VeraGenerator g(VeraGeneratorOptions({w.size(0)}, w.size(1)).net("linear").init_sigma(sigma));
  g->to(at::kDouble);
  torch::NoGradGuard ng;
  auto& lin = *g->net->ptr<torch::nn::LinearImpl>(0);
  lin.weight.copy_(w);
  lin.bias.copy_(b);
  g->log_sigma.fill_(std::log(sigma));  // exactly, not the float it was created with
  return g;
}

at::Tensor weight_of(VeraGenerator& g) { return g->net->ptr<torch::nn::LinearImpl>(0)->weight; }
at::Tensor bias_of(VeraGenerator& g) { return g->net->ptr<torch::nn::LinearImpl>(0)->bias; }

struct Ppca {
  at::Tensor w, b, cov, cov_inv, precision;  // precision of h | x: I + WᵀW/σ²
  double sigma;
};

Ppca make_ppca(int64_t d, int64_t nz, double sigma, uint64_t seed) {
  auto gen = joule::make_generator(seed);
  Ppca p;
  p.w = at::randn({d, nz}, gen, at::kDouble) * 0.8;
  p.b = at::randn({d}, gen, at::kDouble);
  p.sigma = sigma;
  p.cov = at::matmul(p.w, p.w.t()) + sigma * sigma * at::eye(d, at::kDouble);
  p.cov_inv = at::linalg_inv(p.cov);
  p.precision = at::eye(nz, at::kDouble) + at::matmul(p.w.t(), p.w) / (sigma * sigma);
  return p;
}

TEST(VeraGeneratorTest, LogJointIsThePriorTimesTheGaussianLikelihood) {
  auto p = make_ppca(3, 2, 0.4, 1);
  auto g = linear_generator(p.w, p.b, p.sigma);
  auto gen = joule::make_generator(2);
  auto h = at::randn({5, 2}, gen, at::kDouble), x = at::randn({5, 3}, gen, at::kDouble);
  torch::NoGradGuard ng;
  auto mu = at::matmul(h, p.w.t()) + p.b;
  auto expected = -0.5 * h.pow(2).sum(1) - std::log(2 * M_PI) - 0.5 * (x - mu).pow(2).sum(1) / (p.sigma * p.sigma) -
                  3 * std::log(p.sigma) - 1.5 * std::log(2 * M_PI);
  EXPECT_TRUE(at::allclose(g->log_joint(x, h), expected, 1e-10, 1e-10)) << g->log_joint(x, h) << expected;
  // A sample has the generator's distribution: mean b, covariance WWᵀ + σ²I.
  auto s = g->sample(200000, gen).x.detach();
  EXPECT_LT((s.mean(0) - p.b).abs().max().item<double>(), 0.02);
  auto centred = s - s.mean(0);
  EXPECT_LT((at::matmul(centred.t(), centred) / s.size(0) - p.cov).abs().max().item<double>(), 0.03);
}

TEST(VeraGeneratorTest, ImportanceScoreConvergesToTheExactScoreAsSamplesGrow) {
  // VERA's moons harness: d = 2, noise_dim = 1, the proposal at the optimal width.
  auto p = make_ppca(2, 1, 0.3, 3);
  auto g = linear_generator(p.w, p.b, p.sigma);
  {
    torch::NoGradGuard ng;
    g->posterior_log_sigma.fill_(-0.5 * std::log(p.precision.item<double>()));
  }
  auto gen = joule::make_generator(4);
  auto d = g->sample(500, gen);
  auto exact = at::matmul(d.x.detach() - p.b, p.cov_inv);  // −∇ₓ log q(x) = C⁻¹(x − b)
  const double scale = exact.pow(2).sum(1).mean().item<double>();
  std::vector<double> mse;
  for (int64_t k : {1, 10, 100, 2000}) {
    auto e = g->entropy_surrogate(d.x, d.h, k, gen);
    mse.push_back((e.score - exact).pow(2).sum(1).mean().item<double>() / scale);
  }
  for (size_t i = 1; i < mse.size(); ++i) EXPECT_LT(mse[i], mse[i - 1]) << "K index " << i;
  EXPECT_LT(mse.back(), 0.01);  // relative mean squared error of the score at K = 2000
  EXPECT_GT(mse.front(), 0.1);  // K = 1 is far off: the test can tell estimators apart
}

// Relative error of the surrogate's φ-gradient against ∇_φ H(q) = (C⁻¹W, σ² tr C⁻¹, 0) for W, log σ
// and b, accumulated over `chunks` batches of `n` samples (the same samples for every estimator
// compared: `seed`).
double entropy_gradient_error(VeraGenerator& g, const Ppca& p,
                              const std::function<at::Tensor(const at::Tensor&, const at::Tensor&, at::Generator&)>& surrogate,
                              uint64_t seed, int chunks = 10, int64_t n = 2000) {
  auto gen = joule::make_generator(seed);
  g->zero_grad();
  for (int i = 0; i < chunks; ++i) {
    auto d = g->sample(n, gen);
    (surrogate(d.x, d.h, gen) / double(chunks)).backward();
  }
  auto expect_w = at::matmul(p.cov_inv, p.w);
  const double expect_ls = p.sigma * p.sigma * p.cov_inv.trace().item<double>();
  const double scale = expect_w.abs().max().item<double>();
  const double err_w = (weight_of(g).grad() - expect_w).abs().max().item<double>() / scale;
  const double err_ls = std::abs(g->log_sigma.grad().item<double>() - expect_ls) / expect_ls;
  const double err_b = bias_of(g).grad().abs().max().item<double>() / scale;
  return std::max({err_w, err_ls, err_b});
}

TEST(VeraGeneratorTest, ExactScoreSurrogateGradientIsTheEntropyGradient) {
  // The identity the estimators rest on: with the exact score the surrogate is unbiased.
  auto p = make_ppca(3, 2, 0.5, 5);
  auto g = linear_generator(p.w, p.b, p.sigma);
  auto exact = [&](const at::Tensor& x, const at::Tensor&, at::Generator&) {
    return (at::matmul(x.detach() - p.b, p.cov_inv) * x).sum() / x.size(0);
  };
  EXPECT_LT(entropy_gradient_error(g, p, exact, 6), 0.03);
}

TEST(VeraGeneratorTest, ImportanceSurrogateGradientConvergesToTheEntropyGradient) {
  // VERA's moons harness (d = 2, noise_dim = 1). With the proposal centred at the generating h₀,
  // the self-normalised estimate leans towards h₀ and so correlates with ∂x/∂φ: biased for small
  // K (relative errors 0.69, 0.20, 0.024 at K = 2, 20, 1000), consistent as K grows.
  auto p = make_ppca(2, 1, 0.5, 5);
  auto g = linear_generator(p.w, p.b, p.sigma);
  {
    torch::NoGradGuard ng;
    g->posterior_log_sigma.copy_(-0.5 * p.precision.diagonal().log());
  }
  std::vector<double> err;
  for (int64_t k : {2, 20, 1000}) {
    err.push_back(entropy_gradient_error(
        g, p, [&](const at::Tensor& x, const at::Tensor& h, at::Generator& gen) { return g->entropy_surrogate(x, h, k, gen).surrogate; },
        6));
  }
  EXPECT_GT(err[0], err[1]);
  EXPECT_GT(err[1], err[2]);
  EXPECT_GT(err[0], 0.1);
  EXPECT_LT(err[2], 0.05) << err[0] << " " << err[1] << " " << err[2];
}

TEST(VeraGeneratorTest, HmcSurrogateGradientConvergesToTheEntropyGradientAndAdaptsItsStep) {
  auto p = make_ppca(3, 2, 0.5, 7);
  auto g = linear_generator(p.w, p.b, p.sigma);
  const double step0 = g->hmc_step_size.item<double>();
  std::vector<double> err;
  for (auto o : {joule::HmcPosteriorOptions().burn_in(0).samples(1).leapfrog_steps(1),
                 joule::HmcPosteriorOptions().burn_in(40).samples(20)}) {
    err.push_back(entropy_gradient_error(
        g, p,
        [&](const at::Tensor& x, const at::Tensor& h, at::Generator& gen) { return g->entropy_surrogate_hmc(x, h, o, gen).surrogate; },
        8));
  }
  EXPECT_GT(err[0], 0.1);
  EXPECT_LT(err[1], 0.05) << err[0] << " " << err[1];
  EXPECT_NE(g->hmc_step_size.item<double>(), step0);
  EXPECT_GT(g->hmc_acceptance, 0.4);
}

TEST(VeraGeneratorTest, PosteriorWidthConvergesToTheElboOptimum) {
  // Centred at the generating h₀, the ELBO is maximised at σ_post,i = Λ_ii^{-1/2}.
  auto p = make_ppca(4, 3, 0.4, 9);
  auto g = linear_generator(p.w, p.b, p.sigma);
  auto gen = joule::make_generator(10);
  torch::optim::Adam opt(g->posterior_parameters(), torch::optim::AdamOptions(0.02));
  for (int i = 0; i < 1500; ++i) {
    joule::VeraGeneratorImpl::Draw d;
    {
      torch::NoGradGuard ng;
      d = g->sample(500, gen);
    }
    opt.zero_grad();
    g->posterior_loss(d.x, d.h, gen).backward();
    opt.step();
  }
  auto expected = p.precision.diagonal().rsqrt();
  auto got = g->posterior_log_sigma.exp().detach();
  EXPECT_TRUE(at::allclose(got, expected, 0.05, 0.0)) << got << "\n" << expected;
  // The proposal's parameters are its own: the generator's group excludes them.
  for (const auto& t : g->generator_parameters()) EXPECT_FALSE(t.is_same(g->posterior_log_sigma));
}

TEST(VeraGeneratorTest, RejectsBadOptionsClearly) {
  auto err = joule::testing::error_of([] { VeraGenerator(VeraGeneratorOptions({2}, 2).net("mpl")); });
  EXPECT_NE(err.find("net must be linear, mlp, large_mlp or conv"), std::string::npos) << err;
  err = joule::testing::error_of([] { VeraGenerator(VeraGeneratorOptions({1, 30, 30}, 8).net("conv")); });
  EXPECT_NE(err.find("multiples of 4"), std::string::npos) << err;
  VeraGenerator g(VeraGeneratorOptions({2}, 3));
  err = joule::testing::error_of([&] { g->mean(at::zeros({4, 2})); });
  EXPECT_NE(err.find("latents must be [n, 3]"), std::string::npos) << err;
  EXPECT_THROW(joule::parse_entropy_estimator("vra"), c10::Error);
  EXPECT_THROW(joule::Vera(joule::VeraOptions().min_sigma(0.5).max_sigma(0.1)), c10::Error);
}

TEST(VeraGeneratorTest, ConvGeneratorMakesImagesOfTheEventShape) {
  auto gen = joule::make_generator(11);
  VeraGenerator g(VeraGeneratorOptions({3, 8, 12}, 16).net("conv").width(4).output("tanh"));
  g->reset_parameters(gen);
  auto d = g->sample(5, gen);
  EXPECT_EQ(d.mean.sizes(), (std::vector<int64_t>{5, 3, 8, 12}));
  EXPECT_LE(d.mean.abs().max().item<double>(), 1.0);
  auto e = g->entropy_surrogate(d.x, d.h, 3, gen);
  EXPECT_EQ(e.score.sizes(), d.x.sizes());
  e.surrogate.backward();
  EXPECT_TRUE(g->log_sigma.grad().defined());
}

TEST(VeraGeneratorTest, ClassConditionalLinearGeneratorIsOneGaussianPerClass) {
  // g(h, y) = Wh + V one_hot(y) + b, so q(x|y) = N(b + V_y, WWᵀ + σ²I): log q(x, h | y), the
  // draws of each class and the importance score of H(q(·|y)) have closed forms.
  auto p = make_ppca(2, 1, 0.3, 21);
  const int64_t k = 3;
  VeraGenerator g(VeraGeneratorOptions({2}, 1).net("linear").num_classes(k).init_sigma(p.sigma));
  g->to(at::kDouble);
  auto v = at::tensor({3.0, 0.0, -3.0, 0.0, 0.0, 3.0}, at::kDouble).reshape({2, 3});  // class offsets V [d, K]
  {
    torch::NoGradGuard ng;
    auto& lin = *g->net->ptr<torch::nn::LinearImpl>(0);
    ASSERT_EQ(lin.weight.sizes(), (std::vector<int64_t>{2, 1 + k}));  // [h, one_hot(y)] in
    lin.weight.copy_(at::cat({p.w, v}, 1));
    lin.bias.copy_(p.b);
    g->log_sigma.fill_(std::log(p.sigma));
    g->posterior_log_sigma.fill_(-0.5 * std::log(p.precision.item<double>()));
  }
  auto gen = joule::make_generator(22);
  const auto y = at::arange(600, at::kLong).remainder(k);
  const auto centre = (p.b.unsqueeze(0) + v.t().index_select(0, y));  // [n, d]: b + V_y
  {
    torch::NoGradGuard ng;
    auto h = at::randn({600, 1}, gen, at::kDouble), x = at::randn({600, 2}, gen, at::kDouble);
    auto mu = at::matmul(h, p.w.t()) + centre;
    auto expected = -0.5 * h.pow(2).sum(1) - 0.5 * std::log(2 * M_PI) - 0.5 * (x - mu).pow(2).sum(1) / (p.sigma * p.sigma) -
                    2 * std::log(p.sigma) - std::log(2 * M_PI);
    EXPECT_TRUE(at::allclose(g->log_joint(x, h, y), expected, 1e-10, 1e-10));
  }
  // Each class's draws have that class's mean.
  for (int64_t c = 0; c < k; ++c) {
    auto s = g->sample_classes(at::full({20000}, c, at::kLong), gen).x.detach();
    EXPECT_LT((s.mean(0) - p.b - v.select(1, c)).abs().max().item<double>(), 0.03) << "class " << c;
  }
  // The importance score given y converges to −∇ₓ log q(x|y) = C⁻¹(x − b − V_y).
  auto d = g->sample_classes(y, gen);
  ASSERT_TRUE(d.y.defined());
  auto exact = at::matmul(d.x.detach() - centre, p.cov_inv);
  const double scale = exact.pow(2).sum(1).mean().item<double>();
  auto e = g->entropy_surrogate(d.x, d.h, 2000, gen, d.y);
  EXPECT_LT((e.score - exact).pow(2).sum(1).mean().item<double>() / scale, 0.01);
  // Without y the score would be another class's: the classes must reach the estimator.
  auto wrong = g->entropy_surrogate(d.x, d.h, 2000, gen, (d.y + 1).remainder(k));
  EXPECT_GT((wrong.score - exact).pow(2).sum(1).mean().item<double>() / scale, 1.0);
  // sample(n) draws y from the class prior.
  g->set_class_prior(at::tensor({1.0, 4.0, 0.0}, at::kDouble));
  auto m = g->sample(10000, gen);
  auto counts = at::bincount(m.y, {}, k).to(at::kDouble) / 10000.0;
  EXPECT_NEAR(counts[0].item<double>(), 0.2, 0.02);
  EXPECT_NEAR(counts[1].item<double>(), 0.8, 0.02);
  EXPECT_EQ(counts[2].item<double>(), 0.0);
  // Classes are required exactly when the generator is conditional, and in range.
  auto err = joule::testing::error_of([&] { g->mean(at::zeros({4, 1}, at::kDouble)); });
  EXPECT_NE(err.find("needs the classes y"), std::string::npos) << err;
  err = joule::testing::error_of([&] { g->sample_classes(at::full({4}, 3, at::kLong), gen); });
  EXPECT_NE(err.find("classes must be in [0, 3)"), std::string::npos) << err;
  err = joule::testing::error_of([&] { g->set_class_prior(at::ones({2})); });
  EXPECT_NE(err.find("need 3 probabilities"), std::string::npos) << err;
  VeraGenerator plain(VeraGeneratorOptions({2}, 1));
  err = joule::testing::error_of([&] { plain->mean(at::zeros({4, 1}), at::zeros({4}, at::kLong)); });
  EXPECT_NE(err.find("classes given to an unconditional generator"), std::string::npos) << err;
  EXPECT_FALSE(plain->sample(3, gen).y.defined());
}

// The model group's loss, recomputed from the step's negatives.
TEST(VeraObjectiveTest, ModelLossIsMaximumLikelihoodWithItsPenalties) {
  torch::manual_seed(0);
  auto gen = joule::make_generator(12);
  auto model = std::make_shared<joule::MlpEnergyImpl>(joule::MlpEnergyOptions(2).width(8).depth(2));
  VeraGenerator g(VeraGeneratorOptions({2}, 2).width(8));
  joule::ModuleSet modules;
  modules.add("model", model).add("generator", g.ptr());
  auto opts = joule::VeraOptions().gradient_penalty(0.3).l2_data(0.1).l2_generated(0.2);
  joule::Vera vera(opts);
  joule::Batch batch;
  batch.x = at::randn({16, 2}, gen);
  auto out = vera.compute(modules, batch, gen, joule::Update{"model", 0, 0});
  auto x = batch.x.clone().requires_grad_(true);
  auto ld = -model->energy(x), lg = -model->energy(out.negatives);
  auto gx = torch::autograd::grad({ld.sum()}, {x}, {}, true, true)[0];
  auto expected = -(ld.mean() - lg.mean()) + 0.1 * ld.pow(2).mean() + 0.2 * lg.pow(2).mean() + 0.3 * (gx.pow(2).sum(1) / 2).mean();
  EXPECT_NEAR(out.loss.item<double>(), expected.item<double>(), 1e-5);
  // The penalty is differentiable in the parameters (double backward).
  out.loss.backward();
  for (const auto& p : model->parameters()) EXPECT_TRUE(p.grad().defined());
}

// A quadratic energy E(x) = ½ (x − μ)ᵀ LLᵀ (x − μ), so p_θ is N(μ, (LLᵀ)⁻¹).
class QuadraticEnergyImpl : public joule::EnergyModel {
 public:
  explicit QuadraticEnergyImpl(int64_t d) {
    mu = register_parameter("mu", torch::zeros({d}));
    l = register_parameter("l", torch::eye(d));
  }
  torch::Tensor energy(const torch::Tensor& x) override {
    auto z = at::matmul(x - mu, l.tril());
    return 0.5 * z.pow(2).sum(1);
  }
  std::vector<int64_t> event_shape() const override { return {mu.size(0)}; }
  at::Tensor covariance() {
    auto lt = l.tril().detach();
    return at::linalg_inv(at::matmul(lt, lt.t()));
  }
  torch::Tensor mu, l;
};

// Trains only the generator (and its proposal width) of `modules` against the fixed "model":
// Adam at 1e-2, β = (0, 0.9), × 0.3 at half and three quarters of `steps`.
void train_generator_alone(joule::ModuleSet& modules, const joule::VeraOptions& options, int64_t steps, int64_t batch) {
  std::vector<joule::train::ParamGroup> groups{
      joule::train::ParamGroup("posterior", {"generator"}, joule::train::OptimizerOptions().lr(0.02))
          .only_parameters({"posterior_log_sigma"}),
      joule::train::ParamGroup("generator", {"generator"},
                               joule::train::OptimizerOptions().lr(1e-2).beta1(0.0).beta2(0.9)
                                   .lr_schedule(joule::train::LrSchedule::kStep)
                                   .milestones({steps / 2, 3 * steps / 4})
                                   .decay_rate(0.3))
          .except_parameters({"posterior_log_sigma"})};
  auto vera = std::make_shared<joule::Vera>(options);
  joule::train::Trainer trainer(modules, groups, vera, std::make_shared<joule::data::TensorDataset>(at::zeros({400, 2})),
                                joule::train::TrainerOptions().steps(steps).batch_size(batch).seed(2));
  trainer.train();
}

// The generator alone against a fixed Gaussian p: KL(q ‖ p) is minimised at q = p, which the
// linear generator can represent, so its covariance WWᵀ + σ²I must reach p's. Returns the largest
// covariance error.
double generator_fit_error(joule::EntropyEstimator estimator, int64_t k, int64_t steps, int64_t batch) {
  torch::manual_seed(3);
  auto gen = joule::make_generator(15);
  auto model = std::make_shared<QuadraticEnergyImpl>(2);
  {
    torch::NoGradGuard ng;
    model->mu.copy_(at::tensor({1.0, -0.5}, at::kFloat));
    model->l.copy_(at::tensor({1.2, 0.0, -0.9, 1.6}, at::kFloat).reshape({2, 2}));  // precision LLᵀ
  }
  VeraGenerator g(VeraGeneratorOptions({2}, 2).net("linear").init_sigma(0.1));
  g->reset_parameters(gen);
  joule::ModuleSet modules;
  modules.add("model", model).add("generator", g.ptr());
  train_generator_alone(modules, joule::VeraOptions().posterior_samples(k).estimator(estimator).max_sigma(0.3), steps, batch);
  EXPECT_NEAR(bias_of(g)[0].item<double>(), 1.0, 0.05);
  EXPECT_NEAR(bias_of(g)[1].item<double>(), -0.5, 0.05);
  auto w = weight_of(g).detach();
  auto q_cov = at::matmul(w, w.t()) + g->sigma() * g->sigma() * at::eye(2);
  return (q_cov - model->covariance()).abs().max().item<double>();
}

TEST(VeraTrainingTest, GeneratorReachesAFixedGaussianWithHmcAndApproachesItAsImportanceSamplesGrow) {
  // HMC posterior samples: unbiased for long chains, q reaches p.
  EXPECT_LT(generator_fit_error(joule::EntropyEstimator::kHmc, 1, 2000, 200), 0.05);
  // VERA's importance estimator underestimates the entropy gradient for small K (see
  // ImportanceSurrogateGradientConverges...), so q settles narrower than p: measured covariance
  // errors 0.16, 0.13, 0.063 at K = 20, 200, 2000 with batches of 200 (no better with 3x the steps).
  const double k20 = generator_fit_error(joule::EntropyEstimator::kImportance, 20, 2000, 50);
  const double k2000 = generator_fit_error(joule::EntropyEstimator::kImportance, 2000, 2000, 50);
  EXPECT_GT(k20, k2000);
  EXPECT_LT(k2000, 0.08);
}

TEST(VeraTrainingTest, LearnsAGaussianAndTheGeneratorMatchesIt) {
  // The full game against data from N(μ, Σ): the EBM step, then the generator step against the
  // updated EBM. With the HMC estimator both the EBM and q reach the truth.
  torch::manual_seed(1);
  auto gen = joule::make_generator(13);
  auto true_mu = at::tensor({1.0, -0.5}, at::kFloat);
  auto a = at::tensor({1.0, 0.0, 0.6, 0.5}, at::kFloat).reshape({2, 2});
  auto true_cov = at::matmul(a, a.t());
  auto data = at::randn({20000, 2}, gen).matmul(a.t()) + true_mu;
  auto model = std::make_shared<QuadraticEnergyImpl>(2);
  VeraGenerator g(VeraGeneratorOptions({2}, 2).net("linear").init_sigma(0.1));
  g->reset_parameters(gen);
  joule::ModuleSet modules;
  modules.add("model", model).add("generator", g.ptr());
  auto adam = [](double lr) { return joule::train::OptimizerOptions().lr(lr).beta1(0.0).beta2(0.9); };
  std::vector<joule::train::ParamGroup> groups{
      {"model", {"model"}, adam(3e-3)},
      joule::train::ParamGroup("posterior", {"generator"}, joule::train::OptimizerOptions().lr(0.02))
          .only_parameters({"posterior_log_sigma"}),
      joule::train::ParamGroup("generator", {"generator"}, adam(3e-3)).except_parameters({"posterior_log_sigma"})};
  auto vera = std::make_shared<joule::Vera>(
      joule::VeraOptions().min_sigma(0.01).max_sigma(0.3).estimator(joule::EntropyEstimator::kHmc));
  joule::train::Trainer trainer(modules, groups, vera, std::make_shared<joule::data::TensorDataset>(data),
                                joule::train::TrainerOptions().steps(3000).batch_size(200).seed(2));
  trainer.train();
  EXPECT_LT((model->mu.detach() - true_mu).abs().max().item<double>(), 0.1) << model->mu;
  EXPECT_LT((model->covariance() - true_cov).abs().max().item<double>(), 0.1) << model->covariance();
  auto w = weight_of(g).detach();
  auto q_cov = at::matmul(w, w.t()) + g->sigma() * g->sigma() * at::eye(2);
  EXPECT_LT((bias_of(g).detach() - true_mu).abs().max().item<double>(), 0.1);
  EXPECT_LT((q_cov - true_cov).abs().max().item<double>(), 0.1) << q_cov;
  EXPECT_LE(g->sigma(), 0.3 + 1e-6);
  EXPECT_GE(g->sigma(), 0.01 - 1e-8);
}

// Logits f(x)[y] = −‖x − μ_y‖²/(2s²) of fixed class centres μ [C, d] (a buffer: nothing trains), so
// p(x|y) ∝ exp f(x)[y] is N(μ_y, s²I).
class QuadraticLogitsImpl : public torch::nn::Module {
 public:
  QuadraticLogitsImpl(at::Tensor centres, double s) : s2(s * s) { mu = register_buffer("mu", std::move(centres)); }
  torch::Tensor forward(torch::Tensor x) { return -0.5 * (x.unsqueeze(1) - mu).pow(2).sum(2) / s2; }
  at::Tensor mu;
  double s2;
};
TORCH_MODULE(QuadraticLogits);

TEST(VeraTrainingTest, ClassConditionalGeneratorReachesEachClassOfAFixedClassifier) {
  // The generator alone against p(x|y) = N(μ_y, s²I) of a fixed classifier: KL(q(·|y) ‖ p(·|y))
  // is minimised at q(x|y) = p(x|y), which the conditional linear generator can represent (one
  // shared covariance, a mean per class), so each class's mean and the covariance must reach p's.
  torch::manual_seed(4);
  auto gen = joule::make_generator(23);
  const double s = 0.5;
  auto centres = at::tensor({2.0, 0.0, -1.0, 1.5, 0.0, -2.0}, at::kFloat).reshape({3, 2});
  auto clf = joule::ClassifierEnergy(QuadraticLogits(centres, s), std::vector<int64_t>{2}, 3);
  VeraGenerator g(VeraGeneratorOptions({2}, 2).net("linear").num_classes(3).init_sigma(0.1));
  g->reset_parameters(gen);
  joule::ModuleSet modules;
  modules.add("model", clf.ptr()).add("generator", g.ptr());
  train_generator_alone(modules, joule::VeraOptions().estimator(joule::EntropyEstimator::kHmc).max_sigma(0.3), 2000, 200);
  torch::NoGradGuard ng;
  auto w = weight_of(g).detach();
  auto wh = w.narrow(1, 0, 2);
  auto q_cov = at::matmul(wh, wh.t()) + g->sigma() * g->sigma() * at::eye(2);
  EXPECT_LT((q_cov - s * s * at::eye(2)).abs().max().item<double>(), 0.05) << q_cov;
  for (int64_t c = 0; c < 3; ++c) {
    auto mean = bias_of(g).detach() + w.select(1, 2 + c);
    EXPECT_LT((mean - centres[c]).abs().max().item<double>(), 0.05) << "class " << c << ": " << mean;
  }
}

TEST(VeraTrainingTest, VeraJemAddsCrossEntropyOnLabelledBatches) {
  torch::manual_seed(2);
  auto gen = joule::make_generator(14);
  auto net = joule::MlpClassifier(joule::MlpClassifierOptions(3, 3).hidden({16}));
  net->reset_parameters(gen);
  auto clf = joule::ClassifierEnergy(net, std::vector<int64_t>{3}, 3);
  VeraGenerator g(VeraGeneratorOptions({3}, 2).width(8));
  joule::ModuleSet modules;
  modules.add("model", clf.ptr()).add("generator", g.ptr());
  joule::Vera vera(joule::VeraOptions().classification_weight(2.0).unlabelled_entropy_weight(0.5));
  auto lx = at::randn({30, 3}, gen);
  auto ly = at::randint(0, 3, {30}, gen, at::kLong);
  vera.set_labelled(std::make_shared<joule::data::TensorDataset>(lx, ly));
  joule::Batch batch;
  batch.x = at::randn({10, 3}, gen);
  auto out = vera.compute(modules, batch, gen, joule::Update{"model", 0, 0});
  bool has_ce = false;
  for (const auto& m : out.metrics) has_ce = has_ce || m.first == "ce";
  EXPECT_TRUE(has_ce);
  // Without labels and without a labelled source: maximum likelihood alone, no CE.
  joule::Vera plain{joule::VeraOptions()};
  auto out2 = plain.compute(modules, batch, gen, joule::Update{"model", 0, 0});
  for (const auto& m : out2.metrics) EXPECT_NE(m.first, "ce");
}

// VERA-JEM on a 3-class table of n rows written to dir/t.csv: class k is N(3·e_k, I) in 3-D.
joule::methods::VeraConfig three_class_table(const std::filesystem::path& dir, int64_t n) {
  std::filesystem::create_directories(dir);
  {
    std::ofstream csv(dir / "t.csv");
    csv << "a,b,c,label\n";
    auto gen = joule::make_generator(3);
    auto x = at::randn({n, 3}, gen);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t k = i % 3;
      csv << x[i][0].item<double>() + 3.0 * (k == 0) << "," << x[i][1].item<double>() + 3.0 * (k == 1) << ","
          << x[i][2].item<double>() + 3.0 * (k == 2) << "," << k << "\n";
    }
  }
  joule::methods::VeraConfig c;
  c.data.dataset = "csv";
  c.data.path = (dir / "t.csv").string();
  c.vera.jem = true;
  c.model.kind = "mlp";
  c.model.hidden = {16};
  c.generator.width = 16;
  c.train.batch_size = 32;
  c.train.eval_every = 0;
  c.run.progress = "none";
  return c;
}

TEST(VeraMethodTest, ClassConditionalRefinementClimbsEachDrawsOwnClassLogitWithTheRefineSampler) {
  // VERA-JEM on a 3-class table: generate_for_classes moves the generator's draws by the [refine]
  // sampler on E(x, y) = -f(x)[y]. A noiseless Langevin chain (refine.noise = 0) is gradient descent
  // on that energy with a small step, so every draw's logit of its own class must rise, and by more
  // than the logit of the other classes on average.
  const auto dir = std::filesystem::temp_directory_path() / ("joule-vera-refine-" + std::to_string(::getpid()));
  auto c = three_class_table(dir, 150);
  c.train.steps = 20;
  c.refine.kind = "langevin";
  c.refine.step_size = 0.01;
  c.refine.noise = 0.0;
  joule::methods::VeraMethod vera(c);
  vera.build(torch::kCPU);
  vera.train();
  const auto y = at::arange(60, at::kLong).remainder(3);
  auto g1 = joule::make_generator(9);
  auto g2 = joule::make_generator(9);
  const auto x0 = vera.generate(60, 0, g1);
  const auto x1 = vera.generate_for_classes(y, 30, g2);
  ASSERT_EQ(x1.sizes(), x0.sizes());
  torch::NoGradGuard ng;
  auto& clf = *vera.classifier();
  clf.eval();
  const auto own = [&](const at::Tensor& x) { return clf.logits(x).gather(1, y.unsqueeze(1)).squeeze(1); };
  const auto rise = own(x1) - own(x0);
  EXPECT_TRUE((rise > 0).all().item<bool>()) << rise;
  const auto others = (clf.logits(x1) - clf.logits(x0)).sum(1) - rise;
  EXPECT_GT(rise.mean().item<double>(), (others / 2).mean().item<double>());
  // The same options with MALA, an exact sampler, refuse Langevin's noise and name the key.
  joule::methods::VeraConfig bad = c;
  bad.refine.kind = "mala";
  bad.refine.noise = 0.01;
  const auto msg = joule::testing::error_of([&] { joule::methods::VeraMethod(bad).build(torch::kCPU); });
  EXPECT_NE(msg.find("refine.noise only applies to refine.kind = \"langevin\""), std::string::npos) << msg;
  std::filesystem::remove_all(dir);
}

TEST(VeraMethodTest, ConditionalGeneratorDrawsTheClassItIsAskedForAndItsMarginalCoversAllClasses) {
  // VERA-JEM with generator.conditional on a 3-class table: q(x|y) is trained against the
  // classifier's p(x|y), so the model must read nearly every draw for class y as y, and the
  // marginal draws (the model's negatives) must cover every class.
  const auto dir = std::filesystem::temp_directory_path() / ("joule-vera-cond-" + std::to_string(::getpid()));
  auto c = three_class_table(dir, 600);
  c.train.steps = 1500;  // 400 steps: agreement 0.66, q not yet settled
  c.generator.conditional = true;
  joule::methods::VeraMethod vera(c);
  vera.build(torch::kCPU);
  vera.train();
  ASSERT_EQ(vera.generator().num_classes(), 3);
  // The prior is the training labels' frequencies (a third each here).
  EXPECT_LT((vera.generator().class_prior - 1.0 / 3).abs().max().item<double>(), 0.05) << vera.generator().class_prior;
  const auto y = at::arange(300, at::kLong).remainder(3);
  auto gen = joule::make_generator(5);
  const auto x = vera.generate_for_classes(y, 0, gen);
  ASSERT_EQ(x.sizes(), (std::vector<int64_t>{300, 3}));
  auto& clf = *vera.classifier();
  clf.eval();
  torch::NoGradGuard ng;
  const double agreement = clf.logits(x).argmax(1).eq(y).to(at::kDouble).mean().item<double>();
  EXPECT_GT(agreement, 0.9);
  // Marginal draws (the negatives): every class present.
  auto gen2 = joule::make_generator(6);
  const auto labels = clf.logits(vera.generate(3000, 0, gen2)).argmax(1);
  const auto share = at::bincount(labels, {}, 3).to(at::kDouble) / 3000.0;
  EXPECT_GT(share.min().item<double>(), 0.15) << share;
  // A conditional generator without a classifier is refused before training, naming the key.
  joule::methods::VeraConfig bad;
  bad.generator.conditional = true;
  const auto msg = joule::testing::error_of([&] { joule::methods::VeraMethod(bad).build(torch::kCPU); });
  EXPECT_NE(msg.find("generator.conditional needs vera.jem = true"), std::string::npos) << msg;
  std::filesystem::remove_all(dir);
}

TEST(VeraMethodTest, EvaluationRefinesAgainWhenAnyRefineOptionChanges) {
  // The evaluation caches its samples per step; a changed [refine] field (here only the clamp)
  // must give new refined samples, not the cached ones.
  joule::methods::VeraConfig c;
  c.train.steps = 5;
  c.train.eval_every = 0;
  c.run.progress = "none";
  c.data.n_train = 500;
  c.data.n_test = 200;
  c.eval.n_samples = 200;
  c.eval.grid_resolution = 32;
  c.refine.kind = "langevin";
  c.refine.steps = 5;
  c.refine.step_size = 0.01;
  joule::methods::VeraMethod vera(c);
  vera.build(torch::kCPU);
  vera.train();
  const double free = vera.evaluate().value("mmd2_refined");
  EXPECT_DOUBLE_EQ(vera.evaluate().value("mmd2_refined"), free);  // same options: the same samples
  vera.config().refine.clamp_min = -0.1;
  vera.config().refine.clamp_max = 0.1;
  EXPECT_NE(vera.evaluate().value("mmd2_refined"), free);
}

}  // namespace
