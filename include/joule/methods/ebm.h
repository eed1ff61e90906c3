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

struct EbmConfig : MethodConfig {
  PointDataConfig data;
  struct Model {
    std::string kind = "mlp";
    int64_t width = 128;
    int64_t depth = 3;
    std::string activation = "silu";
    double negative_slope = 0.2;
    bool spectral_norm = false;
    double temperature = 1.0;
    int64_t couplings = 4;
    std::string base = "gaussian";
    void visit(config::Fields& f);
  } model;
  // The defaults are the built-in default job's (configs/pcd_8gaussians.toml): MALA with step
  // 0.03 and an energy penalty of 0.1 train every built-in 2-D dataset without divergence or
  // collapse, and with chains that sample the trained model (ULA at the same step fits the
  // density but its chains escape the thin wells of rings, 2spirals and pinwheel;
  // docs/methods/contrastive_divergence.md#one-preset-for-every-2-d-dataset).
  SamplerConfig sampler = [] {
    SamplerConfig s;
    s.kind = "mala";
    s.step_size = 0.03;
    return s;
  }();
  BufferConfig buffer;
  struct Objective {
    std::string kind = "pcd";
    double l2_energy = 0.1;
    double init_noise = 0.0;
    double gap_watch = 0.0;  ///< sampler-health threshold (data-energy spreads); 0 = off
    double tv_watch = 0.5;   ///< 2-D pcd: threshold on chain_tv (chains vs exact model); 0 = off
    void visit(config::Fields& f);
  } objective;
  /// [icd]: improved contrastive divergence's extra terms (objective.kind = "icd").
  struct Icd {
    double kl_weight = 1.0;
    int64_t kl_steps = 1;
    double entropy_weight = 0.3;
    int64_t entropy_reference = 100;
    int64_t entropy_min_buffer = 1000;
    void visit(config::Fields& f);
  } icd;
  LsdConfig lsd;
  ScoreMatchingConfig sm;
  OptimGroups optim;
  struct Eval {
    int64_t grid_resolution = 256;
    double extent = 0.0;
    double temperature = 0.0;
    int64_t n_samples = 2000;
    int64_t chain_steps = 500;
    std::vector<int64_t> steps_curve;  ///< 2-D: chain quality after each of these step counts
    void visit(config::Fields& f);
  } eval;
  SampleConfig sample;
  void visit(config::Fields& f) override;
};

class EbmMethod : public Method {
 public:
  explicit EbmMethod(EbmConfig config = {});
  std::string name() const override { return "ebm"; }
  EbmConfig& config() override { return config_; }

  eval::Report evaluate() override;
  std::vector<std::string> pictures(const std::string& prefix) override;
  torch::Tensor sample() override;
  void add_callbacks(const Monitor& monitor) override;

  /// The density read-outs use T_model × T_sampler unless eval.temperature is set.
  double readout_temperature();
  const at::Tensor& test_data() const { return data_.test; }
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
