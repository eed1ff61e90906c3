#include "joule/samplers/parallel_tempering.h"

#include <ATen/Context.h>

#include "joule/samplers/gibbs.h"

#include <c10/util/Exception.h>

#include <cmath>
#include <numeric>

namespace joule {

void ParallelTemperingOptions::validate() const {
  TORCH_CHECK(rounds_ >= 1, "ParallelTempering: rounds must be >= 1, got ", rounds_);
  if (!betas_.empty()) {
    TORCH_CHECK(betas_.size() >= 2, "ParallelTempering: needs at least 2 inverse temperatures, got ", betas_.size());
    TORCH_CHECK(betas_[0] == 1.0, "ParallelTempering: the first inverse temperature must be 1, got ", betas_[0]);
    for (size_t k = 1; k < betas_.size(); ++k) {
      TORCH_CHECK(betas_[k] < betas_[k - 1] && betas_[k] >= 0, "ParallelTempering: inverse temperatures must decrease "
                  "strictly from 1 and stay >= 0, got ", betas_[k], " after ", betas_[k - 1]);
    }
    return;
  }
  TORCH_CHECK(temperatures_ >= 2, "ParallelTempering: temperatures must be >= 2, got ", temperatures_);
  TORCH_CHECK(min_beta_ >= 0 && min_beta_ < 1, "ParallelTempering: min_beta must be in [0, 1), got ", min_beta_);
}

std::vector<double> ParallelTemperingOptions::resolved_betas() const {
  validate();
  if (!betas_.empty()) return betas_;
  std::vector<double> b(static_cast<size_t>(temperatures_));
  for (int64_t k = 0; k < temperatures_; ++k) b[k] = 1.0 - (1.0 - min_beta_) * double(k) / double(temperatures_ - 1);
  return b;
}

ParallelTempering::ParallelTempering(ParallelTemperingOptions options_)
    : options(std::move(options_)), betas_(options.resolved_betas()) {
  reset_stats();  // defined statistics before init(): a checkpoint may be written first
}

void ParallelTempering::init(const RbmImpl& rbm, const torch::Tensor& v0) {
  auto x = rbm.flat(v0.detach());
  n_ = x.size(0);
  TORCH_CHECK(n_ > 0, "ParallelTempering::init: no initial states");
  const int64_t k = int64_t(betas_.size());
  v_ = x.repeat({k, 1}).contiguous();
  h_ = torch::Tensor();
  beta_rows_ = torch::tensor(betas_, x.options()).repeat_interleave(n_);
  round_ = 0;
  reset_stats();
}

void ParallelTempering::reset_stats() {
  attempts_.assign(betas_.size() - 1, 0);
  auto dev = v_.defined() ? v_.device() : torch::Device(torch::kCPU);
  accepts_ = torch::zeros({int64_t(betas_.size()) - 1}, torch::TensorOptions().dtype(torch::kLong).device(dev));
}

torch::Tensor ParallelTempering::visible() const {
  TORCH_CHECK(initialized(), "ParallelTempering: not initialised (call init() or step())");
  return v_.view({int64_t(betas_.size()), n_, -1});
}

torch::Tensor ParallelTempering::hidden() const {
  return h_.defined() ? h_.view({int64_t(betas_.size()), n_, -1}) : h_;
}

void ParallelTempering::set_state(const torch::Tensor& v, const torch::Tensor& h) {
  const int64_t k = int64_t(betas_.size());
  TORCH_CHECK(v.dim() == 3 && v.size(0) == k && h.dim() == 3 && h.size(0) == k && h.size(1) == v.size(1),
              "ParallelTempering::set_state: expected v [", k, ", n, V] and h [", k, ", n, H], got ", v.sizes(), " and ",
              h.sizes());
  n_ = v.size(1);
  v_ = v.reshape({k * n_, v.size(2)}).clone();
  h_ = h.reshape({k * n_, h.size(2)}).to(v.scalar_type()).clone();
  beta_rows_ = torch::tensor(betas_, v.options()).repeat_interleave(n_);
  reset_stats();
}

void ParallelTempering::set_cold_visible(const torch::Tensor& v) {
  TORCH_CHECK(initialized(), "ParallelTempering::set_cold_visible: not initialised");
  auto x = v.reshape({v.size(0), -1});
  TORCH_CHECK(x.size(0) == n_ && x.size(1) == v_.size(1), "ParallelTempering::set_cold_visible: expected [", n_, ", ",
              v_.size(1), "] states, got ", v.sizes());
  v_.slice(0, 0, n_).copy_(x);
}

void ParallelTempering::sweep(const TemperedRbm& model, at::Generator& gen) {
  auto beta = beta_rows_.to(model.rbm().weight.scalar_type());
  h_ = model.sample_hidden(v_, beta, gen);
  v_ = model.sample_visible(h_, beta, gen);
}

void ParallelTempering::swap(const TemperedRbm& model, int64_t parity, at::Generator& gen) {
  TORCH_CHECK(h_.defined(), "ParallelTempering::swap needs joint states: run sweep() first");
  torch::NoGradGuard no_grad;
  const int64_t k = int64_t(betas_.size());
  std::vector<int64_t> lower;
  for (int64_t a = parity; a + 1 < k; a += 2) lower.push_back(a);
  if (lower.empty()) return;
  const auto dev = v_.device();
  auto ia = torch::tensor(lower, torch::TensorOptions().dtype(torch::kLong).device(dev));
  auto ib = ia + 1;
  std::vector<double> dbeta;
  for (auto a : lower) dbeta.push_back(betas_[a] - betas_[a + 1]);
  auto db = torch::tensor(dbeta, torch::TensorOptions().dtype(torch::kFloat64).device(dev)).unsqueeze(1);

  auto e = model.interaction_energy(v_, h_).view({k, n_});  // float64
  auto log_r = db * (e.index_select(0, ia) - e.index_select(0, ib));  // [P, n]
  auto u = torch::rand(log_r.sizes(), gen, log_r.options());
  auto accept = u.log() < log_r;  // u < min(1, r)

  auto v3 = v_.view({k, n_, -1}), h3 = h_.view({k, n_, -1});
  auto acc = accept.unsqueeze(2);
  auto va = v3.index_select(0, ia), vb = v3.index_select(0, ib);
  auto ha = h3.index_select(0, ia), hb = h3.index_select(0, ib);
  v3.index_copy_(0, ia, torch::where(acc, vb, va));
  v3.index_copy_(0, ib, torch::where(acc, va, vb));
  h3.index_copy_(0, ia, torch::where(acc, hb, ha));
  h3.index_copy_(0, ib, torch::where(acc, ha, hb));

  for (auto a : lower) attempts_[a] += n_;
  accepts_.index_add_(0, ia, accept.sum(1));
}

torch::Tensor ParallelTempering::step(RbmImpl& rbm, at::Generator& gen, const c10::optional<RbmBase>& base) {
  TORCH_CHECK(initialized(), "ParallelTempering::step: call init() with starting states first");
  TORCH_CHECK(v_.size(1) == rbm.num_visible(), "ParallelTempering: chains have ", v_.size(1),
              " visible units, the RBM has ", rbm.num_visible());
  torch::NoGradGuard no_grad;
  if (v_.scalar_type() != rbm.weight.scalar_type() || v_.device() != rbm.weight.device()) {
    v_ = v_.to(rbm.weight.device(), rbm.weight.scalar_type());
    beta_rows_ = beta_rows_.to(rbm.weight.device(), rbm.weight.scalar_type());
    if (h_.defined()) h_ = h_.to(rbm.weight.device(), rbm.weight.scalar_type());
    accepts_ = accepts_.to(rbm.weight.device());
  }
  TemperedRbm model(rbm, base ? *base : RbmBase::of_model(rbm));
  for (int64_t r = 0; r < options.rounds(); ++r) {
    sweep(model, gen);
    swap(model, round_ % 2, gen);
    ++round_;
  }
  return v_.slice(0, 0, n_);
}

std::vector<int64_t> ParallelTempering::swap_accepts() const {
  auto a = accepts_.cpu();
  return std::vector<int64_t>(a.data_ptr<int64_t>(), a.data_ptr<int64_t>() + a.numel());
}

std::vector<double> ParallelTempering::swap_acceptance() const {
  auto acc = swap_accepts();
  std::vector<double> out(acc.size(), std::nan(""));
  for (size_t i = 0; i < acc.size(); ++i) if (attempts_[i] > 0) out[i] = double(acc[i]) / double(attempts_[i]);
  return out;
}

double ParallelTempering::mean_swap_acceptance() const {
  auto acc = swap_accepts();
  const int64_t att = std::accumulate(attempts_.begin(), attempts_.end(), int64_t{0});
  const int64_t a = std::accumulate(acc.begin(), acc.end(), int64_t{0});
  return att > 0 ? double(a) / double(att) : std::nan("");
}

void ParallelTempering::save(torch::serialize::OutputArchive& archive) const {
  archive.write("pt_betas", torch::tensor(betas_, torch::kFloat64));
  archive.write("pt_round", torch::tensor(round_));
  archive.write("pt_attempts", torch::tensor(attempts_, torch::kLong));
  archive.write("pt_accepts", accepts_.cpu());
  if (v_.defined()) archive.write("pt_visible", visible());
  if (h_.defined()) archive.write("pt_hidden", hidden());
}

void ParallelTempering::load(torch::serialize::InputArchive& archive) {
  torch::Tensor betas, round, attempts, accepts, v, h;
  TORCH_CHECK(archive.try_read("pt_betas", betas), "checkpoint has no parallel-tempering state");
  TORCH_CHECK(betas.numel() == int64_t(betas_.size()) &&
                  torch::allclose(betas, torch::tensor(betas_, torch::kFloat64)),
              "checkpoint's parallel tempering uses inverse temperatures ", betas, ", this run ", c10::ArrayRef<double>(betas_));
  archive.read("pt_round", round);
  archive.read("pt_attempts", attempts);
  archive.read("pt_accepts", accepts);
  round_ = round.item<int64_t>();
  attempts_.assign(attempts.data_ptr<int64_t>(), attempts.data_ptr<int64_t>() + attempts.numel());
  accepts_ = accepts.clone();
  v_ = torch::Tensor();
  h_ = torch::Tensor();
  if (archive.try_read("pt_visible", v)) {
    const int64_t k = v.size(0);
    n_ = v.size(1);
    v_ = v.reshape({k * n_, v.size(2)}).clone();
    beta_rows_ = torch::tensor(betas_, v.options()).repeat_interleave(n_);
    accepts_ = accepts_.to(v.device());
    if (archive.try_read("pt_hidden", h)) h_ = h.reshape({k * n_, h.size(2)}).clone();
  }
}

ParallelTemperingSampler::ParallelTemperingSampler(ParallelTemperingOptions options) : tempering_(std::move(options)) {
  tempering_.options.validate();
}

std::unique_ptr<Sampler> ParallelTemperingSampler::with_steps(int64_t steps) const {
  auto copy = std::make_unique<ParallelTemperingSampler>(*this);
  copy->tempering_.options.rounds(steps);
  return copy;
}

torch::Tensor ParallelTemperingSampler::sample(EnergyModel& model, const torch::Tensor& x0, c10::optional<at::Generator> gen) {
  auto& rbm = as_rbm(model, "ParallelTemperingSampler");
  TORCH_CHECK(model.temperature() == 1.0, "ParallelTemperingSampler samples an RBM at temperature 1; this model has temperature ",
              model.temperature());
  at::Generator g = gen ? *gen : at::globalContext().defaultGenerator(rbm.weight.device());
  if (!tempering_.initialized() || tempering_.chains() != x0.size(0)) {
    tempering_.init(rbm, x0);
  } else {
    tempering_.set_cold_visible(x0.to(tempering_.visible().options()));
  }
  auto v = tempering_.step(rbm, g);
  stats_ = SamplerStats{};
  stats_.steps = tempering_.options.rounds();
  std::vector<int64_t> shape = x0.sizes().vec();
  return v.reshape(shape).to(x0.scalar_type());
}

}  // namespace joule

