#pragma once
// method = "ebm": a neural energy (MLP) trained by CD-k / PCD with Langevin, MALA or HMC
// negatives, or without sampling by score matching or LSD, on 2-D toy data or a CSV table.
// Evaluation: exact test NLL by grid quadrature (2-D), its gap to the data entropy, the
// temperature fit, MMD of exact and MCMC samples to held-out data.

#include <c10/util/Optional.h>

#include <array>

#include "joule/core/density.h"
#include "joule/eval/protocols/density2d.h"
#include "joule/methods/data_config.h"
#include "joule/methods/method.h"
#include "joule/methods/score_based.h"
#include "joule/samplers/replay_buffer.h"
#include "joule/samplers/sampler.h"

namespace joule::methods {

/// The options of method = "ebm".
struct EbmConfig : MethodConfig {
  PointDataConfig data;  ///< [data]: the points (default 8gaussians)
  /// [model]: the energy network.
  struct Model {
    std::string kind = "mlp";         ///< mlp, or nice (a NICE flow, E = −log p with an exact likelihood)
    int64_t width = 128;              ///< hidden units per layer (nice: of each coupling function)
    int64_t depth = 3;                ///< hidden layers (nice: of each coupling function), 1 to 64
    std::string activation = "silu";  ///< hidden activation (silu = swish)
    double negative_slope = 0.2;      ///< leaky_relu slope for x < 0, in [0, 1]
    bool spectral_norm = false;       ///< spectral normalisation of every weight matrix
    double temperature = 1.0;         ///< T in p(x) ∝ exp(−E(x)/T)
    int64_t couplings = 4;            ///< nice: additive coupling layers, 1 to 64
    std::string base = "gaussian";    ///< nice: base distribution: gaussian | logistic
    /// Declares the [model] fields.
    void visit(config::Fields& f);
  } model;  ///< [model]
  /// [sampler]: the MCMC of the negatives (MALA, step 0.03 by default).
  /// The defaults are the built-in default job's (configs/pcd_8gaussians.toml): MALA with step
  /// 0.03 and an energy penalty of 0.1 train every built-in 2-D dataset without divergence or
  /// collapse, and with chains that sample the trained model (ULA at the same step fits the
  /// density but its chains escape the thin wells of rings, 2spirals and pinwheel;
  /// `docs/methods/contrastive_divergence.md#one-preset-for-every-2-d-dataset`).
  SamplerConfig sampler = [] {
    SamplerConfig s;
    s.kind = "mala";
    s.step_size = 0.03;
    return s;
  }();
  BufferConfig buffer;  ///< [buffer]: the persistent chains (pcd, icd)
  /// [objective]: the training objective and its guards.
  struct Objective {
    /// pcd: chains from the replay buffer; cd: CD-k from the data; icd: improved CD (pcd + the
    /// terms of [icd]); lsd, sm, ssm, dsm: no sampling; mle: exact maximum likelihood (model.kind = nice).
    std::string kind = "pcd";
    double l2_energy = 0.1;   ///< energy penalty α(E⁺² + E⁻²) (IGEBM uses 1)
    double init_noise = 0.0;  ///< CD-k: noise std added to the data before sampling
    double gap_watch = 0.0;  ///< sampler-health threshold (data-energy spreads); 0 = off
    double tv_watch = 0.5;   ///< 2-D pcd: threshold on chain_tv (chains vs exact model); 0 = off
    /// Declares the [objective] fields.
    void visit(config::Fields& f);
  } objective;  ///< [objective]
  /// [icd]: improved contrastive divergence's extra terms (objective.kind = "icd").
  struct Icd {
    /// Weight of the KL term E_θ̄(x_kl) back-propagated through the last sampler steps
    /// (arXiv:2012.01316 §3.1); 0 = off.
    double kl_weight = 1.0;
    int64_t kl_steps = 1;               ///< sampler steps the KL term differentiates through; −1 = all
    double entropy_weight = 0.3;        ///< weight of the nearest-neighbour entropy term (§3.2); 0 = off
    int64_t entropy_reference = 100;    ///< buffer states the nearest neighbours are searched in
    int64_t entropy_min_buffer = 1000;  ///< the entropy term starts once the buffer holds this many states
    /// Declares the [icd] fields.
    void visit(config::Fields& f);
  } icd;  ///< [icd]
  LsdConfig lsd;           ///< [lsd]: the Stein discrepancy and its critic (objective.kind = "lsd")
  ScoreMatchingConfig sm;  ///< [sm]: score matching (objective.kind = sm, ssm, dsm)
  OptimGroups optim;       ///< [optim.critic]: the LSD critic's optimizer
  /// [eval]: the density read-outs and sample checks.
  struct Eval {
    int64_t grid_resolution = 256;  ///< 2-D grid points per axis for log Z by quadrature (16 to 4096)
    double extent = 0.0;            ///< half-width of the square grid; 0 = the dataset's default
    double temperature = 0.0;       ///< temperature of the density read-outs; 0 = model T × sampler T
    int64_t n_samples = 2000;       ///< model samples for MMD and pictures
    int64_t chain_steps = 500;      ///< sampler steps of the fresh chains used in evaluation
    std::vector<int64_t> steps_curve;  ///< 2-D: chain quality after each of these step counts
    /// Declares the [eval] fields.
    void visit(config::Fields& f);
  } eval;  ///< [eval]
  SampleConfig sample;  ///< [sample]
  void visit(config::Fields& f) override;
};

/// A neural energy on points (method = "ebm"), trained by CD-k / PCD / improved CD with MCMC
/// negatives, or without sampling by score matching or LSD; evaluate() reports the exact test NLL by
/// grid quadrature (2-D), its gap to the data entropy, and MMD of samples to held-out data.
class EbmMethod : public Method {
 public:
  /// A method with these options; nothing is loaded until build().
  explicit EbmMethod(EbmConfig config = {});
  std::string name() const override { return "ebm"; }
  EbmConfig& config() override { return config_; }

  eval::Report evaluate() override;
  std::vector<std::string> pictures(const std::string& prefix) override;
  torch::Tensor sample() override;
  void add_callbacks(const Monitor& monitor) override;

  /// The density read-outs use T_model × T_sampler unless eval.temperature is set.
  double readout_temperature();
  /// The held-out test points, [N, D] on the CPU.
  const at::Tensor& test_data() const { return data_.test; }
  /// The sampler of the negatives and of sample() (valid after build()).
  Sampler& sampler() { return *sampler_; }
  /// The persistent chains' buffer (null for CD-k and sampling-free objectives).
  ReplayBuffer* buffer() { return buffer_.get(); }

 protected:
  Parts build_parts(torch::Device device) override;

 private:
  struct EvalState {
    int64_t step = -1;
    at::Tensor chains;  // CPU [n, D]
    c10::optional<eval::Density2dResult> grid;
    /// eval.steps_curve: steps, −mean log p_model(chains) (grid-normalised), MMD² to test data.
    std::vector<std::array<double, 3>> curve;
  };
  const EvalState& eval_state();
  eval::Box box() const { return eval::Box::square(extent_); }
  /// Total variation between the persistent chains and the exact 2-D model (PCD only).
  c10::optional<double> chain_tv(const eval::GridDensity& density) const;
  at::Tensor init_states(int64_t n, at::Generator& gen);

  EbmConfig config_;
  int64_t dim_ = 2;
  PointData data_;
  std::shared_ptr<Sampler> sampler_;
  std::shared_ptr<ReplayBuffer> buffer_;
  DensityModel* density_ = nullptr;  // model.kind = nice: the exact likelihood
  double extent_ = 4.0;
  EvalState state_;
};

}  // namespace joule::methods
