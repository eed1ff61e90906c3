#include "joule/models/sigmoid_belief_vae.h"

#include <c10/util/Exception.h>

#include <cmath>

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
  encoder.clear();
  decoder.clear();
  auto build = [&](const std::string& name, int64_t in, int64_t out, std::vector<torch::nn::Linear>& layers) {
    std::vector<int64_t> sizes{in};
    if (options.nonlinear()) sizes.insert(sizes.end(), {options.hidden(), options.hidden()});
    sizes.push_back(out);
    for (size_t i = 0; i + 1 < sizes.size(); ++i) {
      layers.push_back(register_module(name + std::to_string(i), torch::nn::Linear(sizes[i], sizes[i + 1])));
    }
  };
  build("encoder", options.pixels(), options.latent(), encoder);
  build("decoder", options.latent(), options.pixels(), decoder);
  prior_logits = register_parameter("prior_logits", at::zeros({options.latent()}));
  data_mean = register_buffer("data_mean", at::full({options.pixels()}, 0.5));
}

void SigmoidBeliefVaeImpl::reset_parameters(at::Generator gen) {
  at::NoGradGuard no_grad;
  for (auto* layers : {&encoder, &decoder}) {
    for (auto& layer : *layers) {
      const double bound = 1.0 / std::sqrt(static_cast<double>(layer->weight.size(1)));
      layer->weight.uniform_(-bound, bound, gen);
      layer->bias.uniform_(-bound, bound, gen);
    }
  }
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

at::Tensor SigmoidBeliefVaeImpl::decode(const at::Tensor& b) {
  TORCH_CHECK(b.dim() == 2 && b.size(1) == options.latent(), "SigmoidBeliefVae: b must be [B, ", options.latent(),
              "], got ", b.sizes());
  return run(decoder, 2 * b - 1);
}

at::Tensor SigmoidBeliefVaeImpl::log_joint(const at::Tensor& x, const at::Tensor& b) {
  return bernoulli_log_prob(decode(b), x) + bernoulli_log_prob(prior_logits.expand_as(b), b);
}

at::Tensor SigmoidBeliefVaeImpl::log_q(const at::Tensor& logits, const at::Tensor& b) {
  return bernoulli_log_prob(logits, b);
}

at::Tensor SigmoidBeliefVaeImpl::iwae_bound(const at::Tensor& x, int64_t k, at::Generator& gen) {
  TORCH_CHECK(k >= 1, "SigmoidBeliefVae: iwae_bound needs k >= 1, got ", k);
  const int64_t n = x.size(0);
  const auto logits = encode(x);
  const auto theta = at::sigmoid(logits).unsqueeze(0).expand({k, n, options.latent()});
  const auto b = at::bernoulli(theta, gen).reshape({k * n, options.latent()});
  const auto xk = x.unsqueeze(0).expand({k, n, options.pixels()}).reshape({k * n, options.pixels()});
  const auto lk = logits.unsqueeze(0).expand({k, n, options.latent()}).reshape({k * n, options.latent()});
  const auto log_w = (log_joint(xk, b) - log_q(lk, b)).reshape({k, n});
  return at::logsumexp(log_w, 0) - std::log(static_cast<double>(k));
}

at::Tensor SigmoidBeliefVaeImpl::sample_means(int64_t n, at::Generator& gen) {
  const auto b = at::bernoulli(at::sigmoid(prior_logits).unsqueeze(0).expand({n, options.latent()}), gen);
  return at::sigmoid(decode(b));
}

}  // namespace joule
