#include "joule/objectives/improved_cd.h"

#include <c10/util/Exception.h>

#include "joule/eval/entropy.h"

namespace joule {

void ImprovedCdOptions::validate() const {
  TORCH_CHECK(std::isfinite(kl_weight_) && kl_weight_ >= 0, "improved CD: kl_weight must be >= 0, got ", kl_weight_);
  TORCH_CHECK(kl_steps_ == -1 || kl_steps_ >= 1, "improved CD: kl_steps must be >= 1 or -1 (all), got ", kl_steps_);
  TORCH_CHECK(std::isfinite(entropy_weight_) && entropy_weight_ >= 0, "improved CD: entropy_weight must be >= 0, got ",
              entropy_weight_);
  TORCH_CHECK(entropy_reference_ >= 1, "improved CD: entropy_reference must be >= 1, got ", entropy_reference_);
  TORCH_CHECK(entropy_min_buffer_ >= 0, "improved CD: entropy_min_buffer must be >= 0, got ", entropy_min_buffer_);
}

ImprovedContrastiveDivergence::ImprovedContrastiveDivergence(ImprovedCdOptions options, std::shared_ptr<Sampler> sampler,
                                                             std::shared_ptr<ReplayBuffer> buffer)
    : ContrastiveDivergence(options.cd(), std::move(sampler), std::move(buffer)), icd_(options) {
  icd_.validate();
}

ImprovedContrastiveDivergence::ImprovedContrastiveDivergence(ImprovedCdOptions options,
                                                             std::shared_ptr<PersistentChains> chains)
    : ContrastiveDivergence(options.cd(), std::move(chains)), icd_(options) {
  TORCH_CHECK(chains_, "ImprovedContrastiveDivergence needs persistent chains");
  icd_.validate();
}

ObjectiveOutput ImprovedContrastiveDivergence::compute(EnergyModel& model, const Batch& batch, at::Generator& gen) {
  const bool kl = icd_.kl_weight() > 0;
  const bool entropy = icd_.entropy_weight() > 0;
  // Neither term: plain (P)CD, the same random draws and arithmetic.
  if (!kl && !entropy) return ContrastiveDivergence::compute(model, batch, gen);

  TORCH_CHECK(sampler_->differentiable(), "improved CD differentiates through the last sampler transitions, which the ",
              sampler_->name(), " sampler cannot do; use sampler.kind = \"langevin\"");
  const auto& x_pos = batch.x;
  const int64_t n = x_pos.size(0);
  const int64_t keep = icd_.kl_steps() < 0 ? sampler_->steps() : icd_.kl_steps();
  auto run = ChainRunOptions().keep_graph_last(keep);
  torch::Tensor x_neg, x_kl;
  if (chains_) {
    auto step = chains_->advance(model, n, gen, run);
    x_neg = step.x;
    x_kl = step.x_graph;
  } else {
    auto result = sampler_->run(model, data_start(x_pos, gen), gen, run);
    x_kl = result.x;
    x_neg = result.x.detach();
  }

  auto out = contrastive_loss(model, x_pos, x_neg);
  if (kl) {
    torch::Tensor e_kl;
    {
      // θ̄: the parameters are constants in this forward pass; x_kl still carries θ.
      FrozenParameters frozen(model);
      EvalModeGuard eval_mode(model);
      e_kl = model.energy(x_kl);
    }
    auto kl_loss = e_kl.mean();
    out.loss = out.loss + icd_.kl_weight() * kl_loss;
    out.metrics.emplace_back("e_kl", kl_loss.item<double>());
  }
  if (entropy) {
    torch::Tensor ref;
    bool self_reference = false;
    if (chains_ && chains_->buffer().size() >= std::max(icd_.entropy_min_buffer(), icd_.entropy_reference())) {
      ref = chains_->buffer().stored(icd_.entropy_reference(), gen);
      if (icd_.augment_reference()) ref = chains_->transform(ref, gen);
    } else if (!chains_ && n > 1) {
      ref = x_neg;
      self_reference = true;
    }
    if (ref.defined()) {
      auto d = eval::nearest_neighbour_distances(x_kl, ref.to(x_kl.dtype()), /*k=*/1, /*exclude_self=*/self_reference);
      auto log_d = d.log().mean();
      out.loss = out.loss - icd_.entropy_weight() * log_d;
      out.metrics.emplace_back("nn_log_dist", log_d.item<double>());
    }
  }
  return out;
}

}  // namespace joule
