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
  double flip_prob = 0.5;       ///< probability of a horizontal flip, in [0, 1]
  double crop_prob = 1.0;       ///< probability of a random resized crop, in [0, 1]
  double crop_scale_min = 0.08; ///< smallest crop, as a fraction of the image area (<= crop_scale_max)
  double crop_scale_max = 1.0;  ///< largest crop, as a fraction of the image area, in [0.001, 1]
  double jitter_prob = 0.8;     ///< probability of a colour jitter, in [0, 1]
  double brightness = 0.8;      ///< jitter: brightness factor drawn from [1 − b, 1 + b]
  double contrast = 0.8;        ///< jitter: contrast factor drawn from [1 − c, 1 + c]
  double saturation = 0.8;      ///< jitter: saturation factor drawn from [1 − s, 1 + s] (colour images)
  double hue = 0.4;             ///< jitter: hue shift drawn from [−h, h], h <= 0.5 (colour images)
  double grayscale_prob = 0.2;  ///< probability of converting to grey (colour images)
  double blur_prob = 0.0;       ///< probability of a Gaussian blur with σ in [0.1, 2]
  int64_t blur_kernel = 5;      ///< Gaussian blur kernel size (odd, 1 to 31)
  /// Declares the [augment] fields.
  void visit(config::Fields& f);
  /// The options for images in [low, high]; a ConfigError when crop_scale_min > crop_scale_max or
  /// blur_kernel is even.
  data::AugmentOptions options(double low, double high) const;
  /// Whether any transform can change an image (false: the augmentation is skipped).
  bool active() const;
};

/// The options of method = "icd". Defaults follow the reference where a CPU allows: Fashion-MNIST,
/// Adam (lr 2e-4, β = (0, 0.9), gradient norm clipped at 0.5), batch 64, 2000 steps, Langevin of
/// 20 steps of size 100 with noise 0.005 clamped to [−1, 1], and a FIFO buffer of 10 000 chains in 8 bits.
struct IcdConfig : MethodConfig {
  LabelledDataConfig data;  ///< [data]: the images (default fashion-mnist)
  /// [model]: the convolutional energy.
  struct Model {
    int64_t channels = 16;             ///< width c of the convolutional energy; block b has c·2^b channels
    int64_t blocks = 3;                ///< residual blocks, each followed by a 2x downsampling (0 to 6)
    std::string activation = "silu";   ///< activation (silu = swish, as the reference)
    std::string norm = "none";         ///< normalisation in the blocks: none | group (per sample; never batch norm)
    int64_t norm_groups = 8;           ///< groups of each GroupNorm
    int64_t scales = 1;          ///< energies at full, half, quarter, ... resolution, summed (1 to 4; the reference: 3)
    bool share_scales = false;   ///< one network for every scale instead of one per scale
    double ema = 0.99;           ///< decay of the parameter average used for sampling and evaluation; 0 = off
    double temperature = 1.0;    ///< T in p(x) ∝ exp(−E(x)/T)
    /// Declares the [model] fields.
    void visit(config::Fields& f);
  } model;  ///< [model]
  SamplerConfig sampler;  ///< [sampler]: the Langevin chains
  BufferConfig buffer;    ///< [buffer]: the replay buffer of persistent chains
  /// [objective]: the terms beside improved CD's.
  struct Objective {
    double l2_energy = 1.0;  ///< energy penalty α(E⁺² + E⁻²) (the reference: 1)
    /// Declares the [objective] fields.
    void visit(config::Fields& f);
  } objective;  ///< [objective]
  EbmConfig::Icd icd;     ///< [icd]: the KL and entropy terms of improved CD
  AugmentConfig augment;  ///< [augment]: the transitions of the chains
  /// [eval]: OOD AUROCs of −E and, given eval.feature_run, the sample-quality distances.
  struct Eval {
    int64_t ood_n = 1000;  ///< test images and images per OOD set scored for the AUROCs
    /// OOD sets: uniform, gaussian, vflip, hflip, invert, constant, mnist.
    std::vector<std::string> ood_sets{"uniform", "gaussian", "vflip", "invert", "constant"};
    std::string ood_mnist_dir;  ///< folder with MNIST's t10k IDX files (the mnist OOD set)
    std::string feature_run;         ///< a classifier run whose features score sample quality
    int64_t quality_n = 1000;        ///< samples (and test images) for the distances
    int64_t chain_steps = 100;       ///< sampler steps of the evaluated chains
    std::string chain_init = "noise";  ///< where evaluated chains start: noise | buffer
    std::vector<int64_t> steps_curve;  ///< step counts of the quality-vs-steps curve ([] = none)
    int64_t grid_n = 100;              ///< images in each picture grid (1 to 1024)
    /// Declares the [eval] fields.
    void visit(config::Fields& f);
  } eval;  ///< [eval]
  /// [sample]: the common sampling options plus augmentation of the chains.
  struct Sample : SampleConfig {
    int64_t augment_every = 0;  ///< augment the chains every this many steps (0 = never; the reference: 20)
    /// Declares the [sample] fields, the common ones included.
    void visit(config::Fields& f);
  } sample;  ///< [sample]
  IcdConfig();
  void visit(config::Fields& f) override;
};

/// An image energy trained by improved contrastive divergence (method = "icd"): PCD with the KL term,
/// the entropy term and augmented chains, sampled from an EMA of the parameters (model.ema); evaluate() reports
/// OOD AUROCs of −E and, given eval.feature_run, Fréchet and kernel distances of samples.
class IcdMethod : public Method {
 public:
  /// A method with these options; nothing is loaded until build().
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
  /// The loaded data (empty before build()).
  const LabelledData& data() const { return data_; }
  /// The replay buffer of persistent chains (null before build()).
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
