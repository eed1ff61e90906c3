#pragma once
// method = "video_vae": identity versus pose in video (Grathwohl & Wilson, arXiv:1612.04440). A
// per-frame convolutional VAE (models/video_vae.h) whose identity channels have the slow-feature
// prior over the frames and whose pose channels are independent (or Gauss–Markov), trained on the
// exact ELBO by the shared Elbo objective; vae.prior = "plain" is the same networks with every
// channel independent, the baseline. Data: generated moving sprites, rotating 3-D objects, moving
// Fashion-MNIST, or the user's sequences (data/video.h). Evaluation: ELBO, how well identity and
// pose can be read from each group of latents (linear probes), few-shot identity classification
// on identities held out of training, and pictures (reconstructions, swaps, traversals).

#include <string>
#include <vector>

#include "joule/data/video.h"
#include "joule/methods/method.h"
#include "joule/methods/sample_quality.h"
#include "joule/models/video_vae.h"

namespace joule::methods {

/// The typed options of the video VAE.
struct VideoVaeConfig : MethodConfig {
  /// [data]: the videos.
  struct Data {
    /// sprites | objects | moving_fashion (Fashion-MNIST items; data.path = the IDX folder, default
    /// Debian's copy) | files (data.path: a folder of PNG frames per sequence, or a .npy tensor)
    std::string source = "sprites";
    std::string path;                ///< files: the sequences; moving_fashion: the IDX folder ("" = Debian's)
    int64_t sequences = 2000;        ///< generated training sequences
    int64_t test_sequences = 500;    ///< generated test sequences (of the training identities)
    int64_t frames = 8;              ///< T, frames per generated sequence
    int64_t size = 32;               ///< generated frame height and width
    int64_t identities = 12;         ///< identities (fashion: classes) in training
    int64_t held_out = 4;            ///< further identities never trained on (the transfer test)
    int64_t held_out_sequences = 400;  ///< generated sequences of the held-out identities
    double test_fraction = 0.2;      ///< files: the share of sequences kept for testing
    int64_t seed = 1;                ///< the generators' seed (the same videos for every run.seed)
    /// Declares the fields.
    void visit(config::Fields& f);
  } data;  ///< [data]
  /// [vae]: the model.
  struct Vae {
    std::string prior = "factored";     ///< factored (slow identity, pose as pose_prior) | plain (all independent)
    int64_t identity_dim = 8;           ///< identity channels per frame
    int64_t pose_dim = 4;               ///< pose channels per frame (4 keeps identity out of them better than 8; docs)
    double slow_eps = 0.01;             ///< ε of the slow prior Σ = 11ᵀ + ε·diag(0, 1, …, 1)
    std::string pose_prior = "independent";  ///< independent | markov
    double pose_rho = 0.9;              ///< markov: frame-to-frame correlation
    int64_t filters = 32;               ///< channels of the first convolution
    int64_t hidden = 256;               ///< units of the fully connected layers
    std::string activation = "leaky_relu";  ///< hidden activation
    std::string likelihood = "bernoulli";   ///< bernoulli | gaussian
    double pixel_std = 0.1;             ///< gaussian: pixel standard deviation
    double kl_weight = 1.0;             ///< β on the KL (1 = the ELBO)
    /// Declares the fields.
    void visit(config::Fields& f);
  } vae;  ///< [vae]
  /// [eval]: the read-outs; with eval.feature_run (moving_fashion only), the sample quality of
  /// the prior's videos, frame by frame, at the item.
  struct Eval : QualityConfig {
    int64_t sequences = 1000;            ///< training sequences the probes are fitted on (0 = all)
    std::vector<int64_t> shots{1, 5, 10};  ///< few-shot: labelled sequences per held-out identity
    int64_t repeats = 20;                ///< few-shot: random draws of the labelled sequences
    int64_t iwae_samples = 0;            ///< k of a test importance-weighted bound (0 = skip)
    /// Declares the fields.
    void visit(config::Fields& f);
  } eval;  ///< [eval]
  SampleConfig sample;  ///< [sample]: sample.n videos from the prior
  VideoVaeConfig();
  /// Declares every section.
  void visit(config::Fields& f) override;
};

/// The video VAE as a library object.
class VideoVaeMethod : public Method {
 public:
  /// A method with `config` (factored prior on generated moving sprites by default).
  explicit VideoVaeMethod(VideoVaeConfig config = {});
  std::string name() const override { return "video_vae"; }
  VideoVaeConfig& config() override { return config_; }

  /// ELBO per video on train and test; identity accuracy and pose R² from each latent group;
  /// few-shot identity accuracy on held-out identities (when the data has labels). With
  /// eval.feature_run on moving_fashion, also the sample quality of videos from the prior
  /// (quality.samples.*, floor quality.train_vs_test.*): every frame cropped at its item
  /// (data::crop_at_centroid) and scored by the feature classifier, plus identity_consistency,
  /// how steadily the classifier labels the frames of one video.
  eval::Report evaluate() override;
  /// reconstructions.png, swap.png (rows: identity, columns: pose), traversal.png, samples.png,
  /// curves.png.
  std::vector<std::string> pictures(const std::string& prefix) override;
  /// sample.n videos from the prior, [n, T, C, H, W] in [0, 1].
  torch::Tensor sample() override;
  /// Logs the test ELBO every train.eval_every steps.
  void add_callbacks(const Monitor& monitor) override;

  VideoVaeImpl& model() { return *model_; }   ///< the VAE
  const data::VideoSet& train_set() const { return train_; }      ///< training videos
  const data::VideoSet& test_set() const { return test_; }        ///< test videos (training identities)
  const data::VideoSet& held_out_set() const { return held_out_; }  ///< videos of held-out identities
  /// The mean ELBO (k = 1) or k-sample bound per video over `x` [N, T, C, H, W], in nats.
  double bound(const at::Tensor& x, int64_t k, uint64_t seed);
  /// The posterior means μ [N, T, K] of videos x, in batches, without gradients.
  at::Tensor encode_means(const at::Tensor& x);

 protected:
  Parts build_parts(torch::Device device) override;

 private:
  /// The quality.* lines of evaluate().
  void add_sample_quality(eval::Report& r);

  VideoVaeConfig config_;
  VideoVae model_{nullptr};
  data::VideoSet train_, test_, held_out_;
};

}  // namespace joule::methods
