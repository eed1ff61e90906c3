// The video VAE with a factored sequence prior (arXiv:1612.04440) and its Gaussian sequence priors.
#include "joule/models/video_vae.h"

#include <c10/util/Exception.h>

#include <cmath>

#include "joule/core/layers.h"

namespace joule {

// ---------------------------------------------------------------- sequence priors

SequencePriorKind parse_sequence_prior(const std::string& name) {
  if (name == "independent") return SequencePriorKind::kIndependent;
  if (name == "slow") return SequencePriorKind::kSlow;
  if (name == "markov") return SequencePriorKind::kMarkov;
  TORCH_CHECK(false, "unknown sequence prior '", name, "': use independent, slow or markov");
}

std::string to_string(SequencePriorKind kind) {
  switch (kind) {
    case SequencePriorKind::kIndependent: return "independent";
    case SequencePriorKind::kSlow: return "slow";
    case SequencePriorKind::kMarkov: return "markov";
  }
  return "?";
}

namespace {

// The chain form z_t = a·z_{p(t)} + √v·n_t of a prior (t > 1; z_1 ~ N(0, 1)).
struct Chain {
  bool to_first;  // parent is frame 1 (slow) or frame t − 1 (markov, independent)
  double a, v;
};

Chain chain_of(const SequencePrior& p) {
  switch (p.kind) {
    case SequencePriorKind::kSlow: return {true, 1.0, p.eps};
    case SequencePriorKind::kMarkov: return {false, p.rho, 1.0 - p.rho * p.rho};
    case SequencePriorKind::kIndependent: break;
  }
  return {false, 0.0, 1.0};
}

}  // namespace

void SequencePrior::check() const {
  if (kind == SequencePriorKind::kSlow) {
    TORCH_CHECK(std::isfinite(eps) && eps > 0, "the slow prior's eps (innovation variance) must be > 0, got ", eps);
  }
  if (kind == SequencePriorKind::kMarkov) {
    TORCH_CHECK(std::isfinite(rho) && std::abs(rho) < 1, "the Markov prior's rho must be in (-1, 1), got ", rho);
  }
}

at::Tensor SequencePrior::covariance(int64_t frames, at::TensorOptions options) const {
  check();
  TORCH_CHECK(frames >= 1, "SequencePrior: frames must be >= 1, got ", frames);
  auto cov = at::zeros({frames, frames}, at::kDouble);
  auto c = cov.accessor<double, 2>();
  for (int64_t s = 0; s < frames; ++s) {
    for (int64_t t = 0; t < frames; ++t) {
      switch (kind) {
        case SequencePriorKind::kIndependent: c[s][t] = s == t ? 1.0 : 0.0; break;
        case SequencePriorKind::kSlow: c[s][t] = 1.0 + (s == t && s > 0 ? eps : 0.0); break;
        case SequencePriorKind::kMarkov: c[s][t] = std::pow(rho, static_cast<double>(std::abs(s - t))); break;
      }
    }
  }
  return cov.to(options);
}

double SequencePrior::log_det(int64_t frames) const {
  check();
  TORCH_CHECK(frames >= 1, "SequencePrior: frames must be >= 1, got ", frames);
  return static_cast<double>(frames - 1) * std::log(chain_of(*this).v);
}

at::Tensor SequencePrior::kl(const at::Tensor& mu, const at::Tensor& logvar) const {
  check();
  TORCH_CHECK(mu.dim() == 3 && mu.sizes() == logvar.sizes(), "SequencePrior::kl: mu and logvar must be [B, T, K] alike, got ",
              mu.sizes(), " and ", logvar.sizes());
  const int64_t frames = mu.size(1);
  const Chain ch = chain_of(*this);
  const auto var = logvar.exp();
  // E_q[zᵀΣ⁻¹z] = E[z_1²] + Σ_{t>1} E[(z_t − a·z_{p(t)})²]/v, each term from q's means and variances.
  auto quad = mu.select(1, 0).pow(2) + var.select(1, 0);  // [B, K]
  if (frames > 1) {
    const auto mu_t = mu.slice(1, 1), var_t = var.slice(1, 1);
    const auto mu_p = ch.to_first ? mu.slice(1, 0, 1) : mu.slice(1, 0, frames - 1);
    const auto var_p = ch.to_first ? var.slice(1, 0, 1) : var.slice(1, 0, frames - 1);
    const auto innov = (mu_t - ch.a * mu_p).pow(2) + var_t + (ch.a * ch.a) * var_p;  // [B, T−1, K]
    quad = quad + innov.sum(1) / ch.v;
  }
  const double log_det_sigma = static_cast<double>(frames - 1) * std::log(ch.v);
  // ½[tr(Σ⁻¹S) + μᵀΣ⁻¹μ − T + log|Σ| − log|S|] per channel, summed over channels.
  return 0.5 * (quad.sum(1) - logvar.sum({1, 2})) +
         0.5 * static_cast<double>(mu.size(2)) * (log_det_sigma - static_cast<double>(frames));
}

at::Tensor SequencePrior::log_prob(const at::Tensor& z) const {
  check();
  TORCH_CHECK(z.dim() == 3, "SequencePrior::log_prob: z must be [B, T, K], got ", z.sizes());
  const int64_t frames = z.size(1);
  const Chain ch = chain_of(*this);
  auto sq = z.select(1, 0).pow(2);  // [B, K]
  if (frames > 1) {
    const auto parent = ch.to_first ? z.slice(1, 0, 1) : z.slice(1, 0, frames - 1);
    sq = sq + (z.slice(1, 1) - ch.a * parent).pow(2).sum(1) / ch.v;
  }
  const double per_channel = -0.5 * (static_cast<double>(frames) * std::log(2 * M_PI) + log_det(frames));
  return -0.5 * sq.sum(1) + static_cast<double>(z.size(2)) * per_channel;
}

at::Tensor SequencePrior::sample(int64_t n, int64_t frames, int64_t channels, at::Generator& gen,
                                 at::TensorOptions options) const {
  check();
  const Chain ch = chain_of(*this);
  auto noise = at::empty({n, frames, channels}, options).normal_(0.0, 1.0, gen);
  std::vector<at::Tensor> z{noise.select(1, 0)};
  for (int64_t t = 1; t < frames; ++t) {
    const auto& parent = ch.to_first ? z.front() : z.back();
    z.push_back(ch.a * parent + std::sqrt(ch.v) * noise.select(1, t));
  }
  return at::stack(z, 1);
}

at::Tensor gaussian_kl_dense(const at::Tensor& mu, const at::Tensor& logvar, const at::Tensor& covariance) {
  TORCH_CHECK(mu.dim() == 2 && mu.sizes() == logvar.sizes(), "gaussian_kl_dense: mu and logvar must be [B, T] alike");
  const int64_t t = mu.size(1);
  TORCH_CHECK(covariance.sizes() == at::IntArrayRef({t, t}), "gaussian_kl_dense: covariance must be [", t, ", ", t, "]");
  const auto l = at::linalg_cholesky(covariance.to(mu.dtype()));
  const auto precision = at::cholesky_inverse(l);
  const auto log_det = 2.0 * l.diagonal().log().sum();
  const auto trace = (precision.diagonal().unsqueeze(0) * logvar.exp()).sum(1);
  const auto quad = (at::matmul(mu, precision) * mu).sum(1);
  return 0.5 * (trace + quad - static_cast<double>(t) + log_det - logvar.sum(1));
}

// ---------------------------------------------------------------- the model

VideoVaeImpl::VideoVaeImpl(VideoVaeOptions options_) : options(std::move(options_)) {
  const auto& o = options;
  TORCH_CHECK(o.channels() >= 1, "VideoVae: channels must be >= 1, got ", o.channels());
  TORCH_CHECK(o.height() >= 4 && o.width() >= 4 && o.height() % 4 == 0 && o.width() % 4 == 0,
              "VideoVae: frame height and width must be multiples of 4 (two stride-2 convolutions), got ", o.height(),
              "x", o.width());
  TORCH_CHECK(o.frames() >= 1, "VideoVae: frames must be >= 1, got ", o.frames());
  TORCH_CHECK(o.identity_dim() >= 0 && o.pose_dim() >= 0 && o.identity_dim() + o.pose_dim() >= 1,
              "VideoVae: identity_dim and pose_dim must be >= 0 with at least one latent channel");
  TORCH_CHECK(o.filters() >= 1 && o.hidden() >= 1, "VideoVae: filters and hidden must be >= 1");
  TORCH_CHECK(o.likelihood() == "bernoulli" || o.likelihood() == "gaussian",
              "VideoVae: likelihood must be bernoulli or gaussian, got '", o.likelihood(), "'");
  TORCH_CHECK(o.likelihood() != "gaussian" || (std::isfinite(o.pixel_std()) && o.pixel_std() > 0),
              "VideoVae: pixel_std must be > 0, got ", o.pixel_std());
  o.identity_prior().check();
  o.pose_prior().check();
  reset();
}

void VideoVaeImpl::reset() {
  namespace nn = torch::nn;
  const auto& o = options;
  const int64_t f = o.filters(), k = latent_dim();
  const int64_t flat = 2 * f * (o.height() / 4) * (o.width() / 4);
  enc_conv1 = register_module("enc_conv1", nn::Conv2d(nn::Conv2dOptions(o.channels(), f, 4).stride(2).padding(1)));
  enc_conv2 = register_module("enc_conv2", nn::Conv2d(nn::Conv2dOptions(f, 2 * f, 4).stride(2).padding(1)));
  enc_fc = register_module("enc_fc", nn::Linear(flat, o.hidden()));
  enc_out = register_module("enc_out", nn::Linear(o.hidden(), 2 * k));
  dec_fc = register_module("dec_fc", nn::Linear(k, o.hidden()));
  dec_in = register_module("dec_in", nn::Linear(o.hidden(), flat));
  dec_conv1 = register_module(
      "dec_conv1", nn::ConvTranspose2d(nn::ConvTranspose2dOptions(2 * f, f, 4).stride(2).padding(1)));
  dec_conv2 = register_module(
      "dec_conv2", nn::ConvTranspose2d(nn::ConvTranspose2dOptions(f, o.channels(), 4).stride(2).padding(1)));
}

void VideoVaeImpl::reset_parameters(at::Generator gen) {
  at::NoGradGuard no_grad;
  // PyTorch's default: U(±1/√fan_in) for weights (kaiming_uniform with a = √5) and biases, where
  // fan_in = weight.size(1)·kernel area for convolutions and transposed convolutions alike.
  auto params = named_parameters(/*recurse=*/true);
  for (auto& p : params) {
    const std::string& key = p.key();
    if (key.size() < 7 || key.compare(key.size() - 7, 7, ".weight") != 0) continue;
    auto& w = p.value();
    const double bound = 1.0 / std::sqrt(static_cast<double>(w[0].numel()));
    w.uniform_(-bound, bound, gen);
    if (auto* b = params.find(key.substr(0, key.size() - 6) + "bias")) b->uniform_(-bound, bound, gen);
  }
}

at::Tensor VideoVaeImpl::act(const at::Tensor& h) const { return apply_activation(options.activation(), h); }

std::pair<at::Tensor, at::Tensor> VideoVaeImpl::encode(const at::Tensor& x) {
  const auto& o = options;
  TORCH_CHECK(x.dim() == 5 && x.size(2) == o.channels() && x.size(3) == o.height() && x.size(4) == o.width(),
              "VideoVae: videos must be [B, T, ", o.channels(), ", ", o.height(), ", ", o.width(), "], got ", x.sizes());
  const int64_t b = x.size(0), t = x.size(1);
  // Joule's layer functions (core/layers.h): the fast CPU paths, same results as the modules'.
  auto h = act(conv2d(x.reshape({b * t, o.channels(), o.height(), o.width()}), enc_conv1->weight, enc_conv1->bias, 2, 1));
  h = act(conv2d(h, enc_conv2->weight, enc_conv2->bias, 2, 1));
  h = act(linear(h.flatten(1), enc_fc->weight, enc_fc->bias));
  const auto out = linear(h, enc_out->weight, enc_out->bias).reshape({b, t, 2, latent_dim()});
  return {out.select(2, 0), out.select(2, 1)};
}

at::Tensor VideoVaeImpl::decode(const at::Tensor& z) {
  const auto& o = options;
  TORCH_CHECK(z.dim() == 3 && z.size(2) == latent_dim(), "VideoVae: z must be [B, T, ", latent_dim(), "], got ", z.sizes());
  const int64_t b = z.size(0), t = z.size(1);
  auto h = act(linear(z.reshape({b * t, latent_dim()}), dec_fc->weight, dec_fc->bias));
  h = act(linear(h, dec_in->weight, dec_in->bias)).reshape({b * t, 2 * o.filters(), o.height() / 4, o.width() / 4});
  h = act(conv_transpose2d(h, dec_conv1->weight, dec_conv1->bias, 2, 1));
  return conv_transpose2d(h, dec_conv2->weight, dec_conv2->bias, 2, 1).reshape({b, t, o.channels(), o.height(), o.width()});
}

at::Tensor VideoVaeImpl::decode_mean(const at::Tensor& z) {
  const auto out = decode(z);
  return options.likelihood() == "bernoulli" ? at::sigmoid(out) : out.clamp(0.0, 1.0);
}

at::Tensor VideoVaeImpl::log_likelihood(const at::Tensor& x, const at::Tensor& z) {
  const auto out = decode(z);
  if (options.likelihood() == "bernoulli") {
    // x·log σ(l) + (1 − x)·log(1 − σ(l)) = x·l − softplus(l), for intensities x in [0, 1].
    return (x * out - at::softplus(out)).flatten(1).sum(1);
  }
  const double s = options.pixel_std();
  const double log_norm = -0.5 * std::log(2 * M_PI) - std::log(s);
  return (log_norm - 0.5 * (x - out).pow(2) / (s * s)).flatten(1).sum(1);
}

at::Tensor VideoVaeImpl::identity_part(const at::Tensor& z) const { return z.narrow(-1, 0, options.identity_dim()); }

at::Tensor VideoVaeImpl::pose_part(const at::Tensor& z) const {
  return z.narrow(-1, options.identity_dim(), options.pose_dim());
}

at::Tensor VideoVaeImpl::kl(const at::Tensor& mu, const at::Tensor& logvar) const {
  auto total = at::zeros({mu.size(0)}, mu.options());
  if (options.identity_dim() > 0) total = total + options.identity_prior().kl(identity_part(mu), identity_part(logvar));
  if (options.pose_dim() > 0) total = total + options.pose_prior().kl(pose_part(mu), pose_part(logvar));
  return total;
}

ElboTerms VideoVaeImpl::elbo_terms(const at::Tensor& x, at::Generator& gen) {
  auto [mu, logvar] = encode(x);
  const auto z = mu + (0.5 * logvar).exp() * at::empty_like(mu).normal_(0.0, 1.0, gen);
  ElboTerms terms;
  terms.reconstruction = log_likelihood(x, z);
  terms.kl = kl(mu, logvar);
  return terms;
}

at::Tensor VideoVaeImpl::iwae_bound(const at::Tensor& x, int64_t k, at::Generator& gen) {
  TORCH_CHECK(k >= 1, "VideoVae::iwae_bound: k must be >= 1, got ", k);
  auto [mu, logvar] = encode(x);
  const int64_t b = x.size(0);
  const auto std = (0.5 * logvar).exp();
  std::vector<at::Tensor> log_w;
  for (int64_t i = 0; i < k; ++i) {
    const auto eps = at::empty_like(mu).normal_(0.0, 1.0, gen);
    const auto z = mu + std * eps;
    // log q(z|x) and the prior's log density, both Gaussian; the prior through its chain form.
    const auto log_q = (-0.5 * (eps.pow(2) + logvar + std::log(2 * M_PI))).sum({1, 2});
    at::Tensor log_p = at::zeros({b}, mu.options());
    if (options.identity_dim() > 0) log_p = log_p + options.identity_prior().log_prob(identity_part(z));
    if (options.pose_dim() > 0) log_p = log_p + options.pose_prior().log_prob(pose_part(z));
    log_w.push_back(log_likelihood(x, z) + log_p - log_q);
  }
  return at::logsumexp(at::stack(log_w, 0), 0) - std::log(static_cast<double>(k));
}

at::Tensor VideoVaeImpl::sample(int64_t n, at::Generator gen) {
  at::NoGradGuard no_grad;
  const auto opts = enc_out->weight.options();
  std::vector<at::Tensor> parts;
  if (options.identity_dim() > 0) {
    parts.push_back(options.identity_prior().sample(n, options.frames(), options.identity_dim(), gen, opts));
  }
  if (options.pose_dim() > 0) {
    parts.push_back(options.pose_prior().sample(n, options.frames(), options.pose_dim(), gen, opts));
  }
  return decode_mean(at::cat(parts, 2));
}

std::vector<int64_t> VideoVaeImpl::event_shape() const {
  return {options.frames(), options.channels(), options.height(), options.width()};
}

at::Tensor VideoVaeImpl::swap(const at::Tensor& identity_from, const at::Tensor& pose_from) const {
  TORCH_CHECK(identity_from.sizes() == pose_from.sizes(), "VideoVae::swap: both latents must have the same shape, got ",
              identity_from.sizes(), " and ", pose_from.sizes());
  return at::cat({identity_part(identity_from), pose_part(pose_from)}, -1);
}

}  // namespace joule
