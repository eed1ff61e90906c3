#include "joule/models/sigmoid_belief_vae.h"

#include <c10/util/Exception.h>

#include <cmath>
#include <string>

namespace joule {
namespace {

at::Tensor bernoulli_log_prob(const at::Tensor& logits, const at::Tensor& v) {
  return (v * at::log_sigmoid(logits) + (1 - v) * at::log_sigmoid(-logits)).sum(-1);
}

at::Tensor run(std::vector<torch::nn::Linear>& layers, at::Tensor h) {
  for (size_t i = 0; i < layers.size(); ++i) {
    h = layers[i]->forward(h);
    if (i + 1 < layers.size()) h = at::tanh(h);
  }
  return h;
}

}  // namespace

SigmoidBeliefVaeImpl::SigmoidBeliefVaeImpl(const SigmoidBeliefVaeOptions& options_) : options(options_) { reset(); }

void SigmoidBeliefVaeImpl::reset() {
  TORCH_CHECK(options.pixels() >= 1 && options.latent() >= 1 && options.hidden() >= 1,
              "SigmoidBeliefVae: pixels, latent and hidden must be >= 1, got ", options.pixels(), ", ",
              options.latent(), ", ", options.hidden());
  TORCH_CHECK(options.layers() >= 1 && options.layers() <= 16, "SigmoidBeliefVae: layers must be in [1, 16], got ",
              options.layers());
  encoder.clear();
  decoder.clear();
  upper_encoders.clear();
  upper_decoders.clear();
  auto build = [&](const std::string& name, int64_t in, int64_t out) {
    std::vector<torch::nn::Linear> layers;
    std::vector<int64_t> sizes{in};
    if (options.nonlinear()) sizes.insert(sizes.end(), {options.hidden(), options.hidden()});
    sizes.push_back(out);
    for (size_t i = 0; i + 1 < sizes.size(); ++i) {
      layers.push_back(register_module(name + std::to_string(i), torch::nn::Linear(sizes[i], sizes[i + 1])));
    }
    return layers;
  };
  // Layer 1's networks keep the names of the one-layer model, so its checkpoints still load.
  encoder = build("encoder", options.pixels(), options.latent());
  decoder = build("decoder", options.latent(), options.pixels());
  for (int64_t l = 1; l < options.layers(); ++l) {
    upper_encoders.push_back(build("encoder_layer" + std::to_string(l + 1) + "_", options.latent(), options.latent()));
    upper_decoders.push_back(build("decoder_layer" + std::to_string(l) + "_", options.latent(), options.latent()));
  }
  prior_logits = register_parameter("prior_logits", at::zeros({options.latent()}));
  data_mean = register_buffer("data_mean", at::full({options.pixels()}, 0.5));
}

void SigmoidBeliefVaeImpl::reset_parameters(at::Generator gen) {
  at::NoGradGuard no_grad;
  auto init = [&](std::vector<torch::nn::Linear>& layers) {
    for (auto& layer : layers) {
      const double bound = 1.0 / std::sqrt(static_cast<double>(layer->weight.size(1)));
      layer->weight.uniform_(-bound, bound, gen);
      layer->bias.uniform_(-bound, bound, gen);
    }
  };
  init(encoder);
  init(decoder);
  for (auto& layers : upper_encoders) init(layers);
  for (auto& layers : upper_decoders) init(layers);
  prior_logits.zero_();
}

void SigmoidBeliefVaeImpl::set_data_mean(const at::Tensor& mean) {
  TORCH_CHECK(mean.numel() == options.pixels(), "SigmoidBeliefVae: the data mean has ", mean.numel(),
              " values, the model ", options.pixels(), " pixels");
  at::NoGradGuard no_grad;
  data_mean.copy_(mean.reshape(-1));
  const auto p = data_mean.clamp(1e-3, 1 - 1e-3);
  decoder.back()->bias.copy_(at::log(p) - at::log1p(-p));
}

at::Tensor SigmoidBeliefVaeImpl::encode(const at::Tensor& x) {
  TORCH_CHECK(x.dim() == 2 && x.size(1) == options.pixels(), "SigmoidBeliefVae: x must be [B, ", options.pixels(),
              "], got ", x.sizes());
  return run(encoder, x - data_mean);
}

at::Tensor SigmoidBeliefVaeImpl::encode_layer(int64_t layer, const at::Tensor& below) {
  TORCH_CHECK(layer >= 0 && layer < options.layers(), "SigmoidBeliefVae: layer ", layer, " of ", options.layers());
  if (layer == 0) return encode(below);
  TORCH_CHECK(below.dim() == 2 && below.size(1) == options.latent(), "SigmoidBeliefVae: layer ", layer,
              "'s input must be [B, ", options.latent(), "], got ", below.sizes());
  return run(upper_encoders[static_cast<size_t>(layer - 1)], 2 * below - 1);
}

at::Tensor SigmoidBeliefVaeImpl::decode(const at::Tensor& b1) {
  TORCH_CHECK(b1.dim() == 2 && b1.size(1) == options.latent(), "SigmoidBeliefVae: b must be [B, ", options.latent(),
              "], got ", b1.sizes());
  return run(decoder, 2 * b1 - 1);
}

at::Tensor SigmoidBeliefVaeImpl::decode_layer(int64_t layer, const at::Tensor& above) {
  TORCH_CHECK(layer >= 0 && layer < options.layers(), "SigmoidBeliefVae: layer ", layer, " of ", options.layers());
  if (layer == options.layers() - 1) return prior_logits.expand({above.size(0), options.latent()});
  TORCH_CHECK(above.dim() == 2 && above.size(1) == options.latent(), "SigmoidBeliefVae: the layer above ", layer,
              " must be [B, ", options.latent(), "], got ", above.sizes());
  return run(upper_decoders[static_cast<size_t>(layer)], 2 * above - 1);
}

at::Tensor SigmoidBeliefVaeImpl::layer_of(const at::Tensor& b, int64_t layer) const {
  return b.narrow(1, layer * options.latent(), options.latent());
}

at::Tensor SigmoidBeliefVaeImpl::log_joint(const at::Tensor& x, const at::Tensor& b) {
  TORCH_CHECK(b.dim() == 2 && b.size(1) == total_latent(), "SigmoidBeliefVae: b must be [B, ", total_latent(),
              "] (every layer), got ", b.sizes());
  auto lp = bernoulli_log_prob(decode(layer_of(b, 0)), x);
  for (int64_t l = 0; l < options.layers(); ++l) {
    const auto above = l + 1 < options.layers() ? layer_of(b, l + 1) : b;
    lp = lp + bernoulli_log_prob(decode_layer(l, above), layer_of(b, l));
  }
  return lp;
}

at::Tensor SigmoidBeliefVaeImpl::log_posterior(const at::Tensor& x, const at::Tensor& b) {
  TORCH_CHECK(b.dim() == 2 && b.size(1) == total_latent(), "SigmoidBeliefVae: b must be [B, ", total_latent(),
              "] (every layer), got ", b.sizes());
  auto lq = log_q(encode(x), layer_of(b, 0));
  for (int64_t l = 1; l < options.layers(); ++l) lq = lq + log_q(encode_layer(l, layer_of(b, l - 1)), layer_of(b, l));
  return lq;
}

at::Tensor SigmoidBeliefVaeImpl::log_q(const at::Tensor& logits, const at::Tensor& b) {
  return bernoulli_log_prob(logits, b);
}

at::Tensor SigmoidBeliefVaeImpl::sample_posterior(const at::Tensor& x, at::Generator& gen) {
  std::vector<at::Tensor> bs;
  at::Tensor below = x;
  for (int64_t l = 0; l < options.layers(); ++l) {
    below = at::bernoulli(at::sigmoid(encode_layer(l, below)).detach(), gen);
    bs.push_back(below);
  }
  return at::cat(bs, 1);
}

at::Tensor SigmoidBeliefVaeImpl::sample_prior(int64_t n, at::Generator& gen) {
  std::vector<at::Tensor> bs(static_cast<size_t>(options.layers()));
  at::Tensor above = at::empty({n, options.latent()}, prior_logits.options());
  for (int64_t l = options.layers() - 1; l >= 0; --l) {
    above = at::bernoulli(at::sigmoid(decode_layer(l, above)).detach(), gen);
    bs[static_cast<size_t>(l)] = above;
  }
  return at::cat(bs, 1);
}

at::Tensor SigmoidBeliefVaeImpl::iwae_bound(const at::Tensor& x, int64_t k, at::Generator& gen) {
  TORCH_CHECK(k >= 1, "SigmoidBeliefVae: iwae_bound needs k >= 1, got ", k);
  const int64_t n = x.size(0);
  const auto xk = x.unsqueeze(0).expand({k, n, options.pixels()}).reshape({k * n, options.pixels()});
  at::Tensor log_w;
  if (options.layers() == 1) {
    // One encoder pass for all k draws.
    const auto logits = encode(x);
    const auto theta = at::sigmoid(logits).unsqueeze(0).expand({k, n, options.latent()});
    const auto b = at::bernoulli(theta, gen).reshape({k * n, options.latent()});
    const auto lk = logits.unsqueeze(0).expand({k, n, options.latent()}).reshape({k * n, options.latent()});
    log_w = log_joint(xk, b) - log_q(lk, b);
  } else {
    const auto b = sample_posterior(xk, gen);
    log_w = log_joint(xk, b) - log_posterior(xk, b);
  }
  return at::logsumexp(log_w.reshape({k, n}), 0) - std::log(static_cast<double>(k));
}

at::Tensor SigmoidBeliefVaeImpl::sample_means(int64_t n, at::Generator& gen) {
  return at::sigmoid(decode(layer_of(sample_prior(n, gen), 0)));
}

}  // namespace joule
