#pragma once
// Parallel tempering for RBMs: K persistent chains at inverse temperatures 1 = β_1 > ... > β_K,
// block Gibbs at each temperature and Metropolis swaps between neighbours.
//
// The tempered distributions are p_β(v, h) ∝ exp(−(1 − β) E_A(v) − β E(v, h)) (TemperedRbm)
// with a visible-only base p_A; by default the RBM's own visible layer, so that tempering
// scales the interaction cᵀh + hᵀWṽ only and β = 0 samples independent visibles exactly.
// A swap of the joint states x_a, x_b of neighbours β_a, β_b is accepted with probability
//   min(1, exp((β_a − β_b)(E_I(x_a) − E_I(x_b)))),   E_I = E − E_A
// (Swendsen & Wang 1986; Desjardins et al. 2010, "Tempered Markov chain Monte Carlo for
// training of RBMs", eq. 4). Even and odd pairs alternate from round to round.

#include <ATen/ATen.h>
#include <c10/util/Optional.h>
#include <torch/arg.h>
#include <torch/serialize/archive.h>

#include <vector>

#include "joule/models/rbm.h"
#include "joule/samplers/sampler.h"

namespace joule {

/// Options for ParallelTempering.
///
/// Example:
///   joule::ParallelTempering pt(joule::ParallelTemperingOptions(10).min_beta(0.0));
///   pt.init(data.slice(0, 0, 64));
///   auto v = pt.step(*rbm, gen);        // [64, V] states at β = 1
///   pt.swap_acceptance();              // per neighbouring pair
struct ParallelTemperingOptions {
  /// `temperatures` evenly spaced inverse temperatures (unless `betas` is set).
  explicit ParallelTemperingOptions(int64_t temperatures = 10) : temperatures_(temperatures) {}
  /// Fails unless rounds >= 1 and either `betas` has >= 2 values starting at 1, strictly
  /// decreasing and >= 0, or temperatures >= 2 and min_beta in [0, 1).
  void validate() const;
  /// Inverse temperatures used: `betas` if given, else `temperatures` values evenly spaced
  /// from 1 down to `min_beta` (Desjardins et al. 2010 space β linearly).
  std::vector<double> resolved_betas() const;
  /// Number of temperatures K (>= 2).
  TORCH_ARG(int64_t, temperatures);
  /// Smallest inverse temperature β_K in [0, 1).
  TORCH_ARG(double, min_beta) = 0.0;
  /// Explicit inverse temperatures, starting at 1 and strictly decreasing (overrides the above).
  TORCH_ARG(std::vector<double>, betas) = {};
  /// Rounds (a Gibbs sweep at every temperature, then one swap pass) per step().
  TORCH_ARG(int64_t, rounds) = 1;
};

/// A set of tempered persistent chains with swap statistics; its state saves and loads with
/// the objective that owns it (RbmGradient), so resuming continues the same chains.
class ParallelTempering {
 public:
  /// Resolves (and so validates) the inverse temperatures; the chains start with init().
  explicit ParallelTempering(ParallelTemperingOptions options);

  /// Starts n independent replica sets, every temperature from `v0` [n, ...].
  void init(const RbmImpl& rbm, const torch::Tensor& v0);
  /// True once the chains have states (after init(), or load() of a checkpoint with states).
  bool initialized() const { return v_.defined(); }

  /// options.rounds rounds under `rbm` (with base RbmBase::of_model(rbm) unless given);
  /// returns the β = 1 states [n, V].
  torch::Tensor step(RbmImpl& rbm, at::Generator& gen, const c10::optional<RbmBase>& base = c10::nullopt);
  /// One Gibbs sweep at every temperature (also samples the hidden states kept for swaps).
  void sweep(const TemperedRbm& model, at::Generator& gen);
  /// One swap pass over the even (parity 0) or odd (parity 1) neighbouring pairs, using the
  /// current joint states (v, h).
  void swap(const TemperedRbm& model, int64_t parity, at::Generator& gen);

  /// The inverse temperatures β_1 = 1 > ... > β_K.
  const std::vector<double>& betas() const { return betas_; }
  /// Chains n per temperature.
  int64_t chains() const { return n_; }
  /// Visible states [K, n, V] (row block k is temperature β_k).
  torch::Tensor visible() const;
  /// Hidden states [K, n, H] of the last sweep (undefined before the first).
  torch::Tensor hidden() const;
  /// Sets the joint states ([K, n, V] and [K, n, H]), e.g. to test swaps.
  void set_state(const torch::Tensor& v, const torch::Tensor& h);
  /// Replaces the β = 1 visible states [n, ...] (the hotter replicas are kept).
  void set_cold_visible(const torch::Tensor& v);

  /// Accepted / attempted swaps of each neighbouring pair (k, k + 1) since reset_stats().
  std::vector<double> swap_acceptance() const;
  /// Over all pairs.
  double mean_swap_acceptance() const;
  /// Attempted swaps of each neighbouring pair (k, k + 1) since reset_stats() [K − 1].
  std::vector<int64_t> swap_attempts() const { return attempts_; }
  /// Accepted swaps of each neighbouring pair since reset_stats() [K − 1].
  std::vector<int64_t> swap_accepts() const;
  /// Zeroes the swap counters (init() does it too).
  void reset_stats();

  /// Writes the inverse temperatures, round counter, swap counters and joint states.
  void save(torch::serialize::OutputArchive& archive) const;
  /// Restores what save() wrote; fails if the archive has no tempering state or its inverse
  /// temperatures differ from this one's.
  void load(torch::serialize::InputArchive& archive);

  ParallelTemperingOptions options;  ///< temperatures and rounds per step()

 private:
  std::vector<double> betas_;
  torch::Tensor beta_rows_;  // [K·n] β of each stored row
  torch::Tensor v_, h_;      // [K·n, V], [K·n, H]
  int64_t n_ = 0;
  int64_t round_ = 0;
  std::vector<int64_t> attempts_;
  torch::Tensor accepts_;  // [K − 1] int64, on the chains' device
};

/// Parallel tempering as a Sampler: each call runs `rounds` rounds (a Gibbs sweep at every
/// temperature, then a swap pass) from x0 at β = 1 and returns the β = 1 states. The hotter
/// replicas persist between calls (they are initialised from x0 at the first call, or when the
/// number of chains changes) and are saved with save()/load(), so a PersistentChains of this
/// sampler is persistent-chain PT exactly as Desjardins et al. (2010) train RBMs with it.
class ParallelTemperingSampler : public Sampler {
 public:
  /// Validates `options`; the replicas are created at the first sample().
  explicit ParallelTemperingSampler(ParallelTemperingOptions options);
  torch::Tensor sample(EnergyModel& model, const torch::Tensor& x0,
                       c10::optional<at::Generator> gen = c10::nullopt) override;
  /// "pt".
  std::string name() const override { return "pt"; }
  std::unique_ptr<Sampler> with_steps(int64_t steps) const override;
  int64_t steps() const override { return tempering_.options.rounds(); }
  /// Saves the replicas and swap statistics (ParallelTempering::save()).
  void save(torch::serialize::OutputArchive& archive) const override { tempering_.save(archive); }
  /// Restores the replicas and swap statistics (ParallelTempering::load()).
  void load(torch::serialize::InputArchive& archive) override { tempering_.load(archive); }

  /// The replicas and their swap statistics.
  ParallelTempering& tempering() { return tempering_; }
  /// The replicas and their swap statistics (read-only).
  const ParallelTempering& tempering() const { return tempering_; }

 private:
  ParallelTempering tempering_;
};

}  // namespace joule

