#include "joule/models/critic.h"

#include <c10/util/Exception.h>

#include <ostream>

namespace joule {

SteinCriticImpl::SteinCriticImpl(const SteinCriticOptions& options_) : options(options_) { reset(); }

void SteinCriticImpl::reset() {
  TORCH_CHECK(options.dim() > 0, "SteinCritic: dim must be > 0, got ", options.dim());
  TORCH_CHECK(options.width() > 0, "SteinCritic: width must be > 0, got ", options.width());
  TORCH_CHECK(options.depth() >= 1, "SteinCritic: depth must be >= 1, got ", options.depth());
  TORCH_CHECK(options.dropout() >= 0 && options.dropout() < 1, "SteinCritic: dropout must be in [0, 1), got ",
              options.dropout());
  TORCH_CHECK(!options.learn_beta() || options.activation() == Activation::kSiLU,
              "SteinCritic: learn_beta needs the silu (swish) activation, got ", to_string(options.activation()));
  weights.clear();
  biases.clear();
  betas.clear();
  int64_t fan_in = options.dim();
  for (int64_t i = 0; i <= options.depth(); ++i) {
    const int64_t out = i < options.depth() ? options.width() : options.dim();
    weights.push_back(register_parameter("weight" + std::to_string(i), at::empty({out, fan_in})));
    biases.push_back(register_parameter("bias" + std::to_string(i), at::empty({out})));
    if (i < options.depth() && options.learn_beta()) {
      betas.push_back(register_parameter("beta" + std::to_string(i), at::ones({out})));
    }
    fan_in = out;
  }
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < weights.size(); ++i) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(weights[i].size(1)));
    weights[i].uniform_(-bound, bound);
    biases[i].uniform_(-bound, bound);
  }
}

void SteinCriticImpl::reset_parameters(at::Generator gen) {
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < weights.size(); ++i) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(weights[i].size(1)));
    weights[i].uniform_(-bound, bound, gen);
    biases[i].uniform_(-bound, bound, gen);
  }
  for (auto& b : betas) b.fill_(1.0);
}

at::Tensor SteinCriticImpl::forward(const at::Tensor& x, c10::optional<at::Generator> gen) {
  TORCH_CHECK(x.dim() >= 2, "SteinCritic: expected a batch [B, ...], got shape ", x.sizes());
  auto h = x.reshape({x.size(0), -1});
  TORCH_CHECK(h.size(1) == options.dim(), "SteinCritic: input has ", h.size(1), " features per sample (shape ",
              x.sizes(), ") but the critic expects ", options.dim());
  const bool drop = is_training() && options.dropout() > 0;
  TORCH_CHECK(!drop || gen.has_value(), "SteinCritic: dropout in training mode needs a generator");
  const double keep = 1.0 - options.dropout();
  const int64_t n = options.depth();
  for (int64_t i = 0; i < n; ++i) {
    auto z = at::linear(h, weights[i], biases[i]);
    h = options.learn_beta() ? z * at::sigmoid(z * betas[i]) : apply_activation(options.activation(), z);
    if (drop) {
      // Inverted dropout: E[mask] = 1, so eval mode (no mask) needs no rescaling.
      auto mask = at::empty_like(h, h.options().requires_grad(false)).bernoulli_(keep, *gen).div_(keep);
      h = h * mask;
    }
  }
  return at::linear(h, weights[n], biases[n]).view(x.sizes());
}

void SteinCriticImpl::pretty_print(std::ostream& stream) const {
  stream << "joule::SteinCritic(dim=" << options.dim() << ", width=" << options.width() << ", depth=" << options.depth()
         << ", activation=" << (options.learn_beta() ? std::string("swish(learned beta)") : to_string(options.activation()))
         << ", dropout=" << options.dropout() << ")";
}

}  // namespace joule
