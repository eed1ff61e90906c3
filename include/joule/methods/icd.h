#pragma once
// method = "icd": an image energy trained by improved contrastive divergence (Du, Li, Tenenbaum,
// Mordatch, arXiv:2012.01316): PCD with the KL term through the last Langevin step, the
// nearest-neighbour entropy term, augmentation transitions of the chains, a FIFO or reservoir
// buffer in 8 bits, optional multi-scale energies, and an EMA of the parameters for sampling.
// Data: Fashion-MNIST / MNIST (IDX), CIFAR-10/100 (binary). Evaluation: OOD AUROCs of −E, and,
// given a classifier run (eval.feature_run), Fréchet and kernel distances of samples to test
// images in that classifier's feature space, with their dependence on the number of sampler
// steps. 2-D and tabular data train with method = "ebm", objective.kind = "icd".

#include <cmath>

#include "joule/data/augment.h"
#include "joule/methods/data_config.h"
#include "joule/methods/ebm.h"
#include "joule/methods/method.h"
#include "joule/methods/network_config.h"
#include "joule/objectives/improved_cd.h"

namespace joule::methods {

/// [augment]: the transition applied to drawn chains before Langevin (and every
/// sample.augment_every steps at sampling time). Defaults: SimCLR's colour distortion as improved
/// CD uses on CIFAR-10 (`ICD:utils.py`); on one-channel images saturation, hue and grey-scale are no-ops.
struct AugmentConfig {
  double flip_prob = 0.5;
  double crop_prob = 1.0;
  double crop_scale_min = 0.08;
  double crop_scale_max = 1.0;
  double jitter_prob = 0.8;
  double brightness = 0.8;
  double contrast = 0.8;
  double saturation = 0.8;
  double hue = 0.4;
  double grayscale_prob = 0.2;
  double blur_prob = 0.0;
  int64_t blur_kernel = 5;
  void visit(config::Fields& f);
  /// The options for images in [low, high].
  data::AugmentOptions options(double low, double high) const;
  bool active() const;
};

struct IcdConfig : MethodConfig {
  LabelledDataConfig data;
  struct Model {
    int64_t channels = 16;
    int64_t blocks = 3;
    std::string activation = "silu";
    std::string norm = "none";
    int64_t norm_groups = 8;
    int64_t scales = 1;          ///< energies at full, half, quarter, ... resolution, summed
    bool share_scales = false;   ///< one network for every scale
    double ema = 0.99;           ///< decay of the parameter average used for sampling; 0 = off
    double temperature = 1.0;
    void visit(config::Fields& f);
  } model;
  SamplerConfig sampler;
  BufferConfig buffer;
  struct Objective {
    double l2_energy = 1.0;
    void visit(config::Fields& f);
  } objective;
  EbmConfig::Icd icd;
  AugmentConfig augment;
  struct Eval {
    int64_t ood_n = 1000;
    std::vector<std::string> ood_sets{"uniform", "gaussian", "vflip", "invert", "constant"};
    std::string ood_mnist_dir;
    std::string feature_run;         ///< a classifier run whose features score sample quality
    int64_t quality_n = 1000;        ///< samples (and test images) for the distances
    int64_t chain_steps = 100;       ///< sampler steps of the evaluated chains
    std::string chain_init = "noise";  ///< where evaluated chains start: noise | buffer
    std::vector<int64_t> steps_curve;  ///< step counts of the quality-vs-steps curve ([] = none)
    int64_t grid_n = 100;
    void visit(config::Fields& f);
  } eval;
  struct Sample : SampleConfig {
    int64_t augment_every = 0;  ///< augment the chains every this many steps (0 = never)
    void visit(config::Fields& f);
  } sample;
  IcdConfig();
  void visit(config::Fields& f) override;
};

class IcdMethod : public Method {
 public:
  explicit IcdMethod(IcdConfig config = {});
  std::string name() const override { return "icd"; }
  IcdConfig& config() override { return config_; }

  eval::Report evaluate() override;
  std::vector<std::string> pictures(const std::string& prefix) override;
  torch::Tensor sample() override;
  void add_callbacks(const Monitor& monitor) override;

  /// The energy samples are drawn from: the parameter average when model.ema > 0, else the model.
  EnergyModel& sampling_energy();
  /// Chains of `steps` sampler steps from `x0` on the sampling energy, augmented every
  /// `augment_every` steps (0 = never), as the reference's compositional sampling does.
  torch::Tensor run_chains(const torch::Tensor& x0, int64_t steps, int64_t augment_every, at::Generator& gen);
  const LabelledData& data() const { return data_; }
  ReplayBuffer* buffer() { return buffer_.get(); }

 protected:
  Parts build_parts(torch::Device device) override;

 private:
  std::shared_ptr<EnergyModel> build_energy(at::Generator& gen) const;
  at::Tensor noise_states(int64_t n, at::Generator& gen) const;
  at::Tensor chain_starts(int64_t n, at::Generator& gen, const std::string& init);

  struct CurvePoint {
    int64_t steps = 0;
    double energy = 0, fd = std::nan(""), kd = std::nan("");
  };

  IcdConfig config_;
  std::vector<CurvePoint> curve_;  // the last evaluate()'s quality-vs-steps curve
  LabelledData data_;
  std::shared_ptr<Sampler> sampler_;
  std::shared_ptr<ReplayBuffer> buffer_;
  std::shared_ptr<PersistentChains> chains_;
  std::shared_ptr<EnergyModel> ema_;
  data::AugmentOptions augment_;
};

}  // namespace joule::methods
