#include "joule/samplers/chains.h"

#include <c10/util/Exception.h>

#include <algorithm>
#include <vector>

namespace joule {

torch::Tensor class_bucket_slots(const torch::Tensor& y, int64_t capacity, int64_t num_classes, at::Generator& gen) {
  TORCH_CHECK(num_classes >= 1 && capacity % num_classes == 0, "class-conditional buffer: capacity ", capacity,
              " must be a multiple of the ", num_classes, " classes");
  TORCH_CHECK(y.dim() == 1, "class_bucket_slots: labels must be 1-D, got ", y.sizes());
  const int64_t bucket = capacity / num_classes;
  auto labels = y.to(torch::kCPU, torch::kLong).contiguous();
  auto slots = torch::empty_like(labels);
  const int64_t* yl = labels.data_ptr<int64_t>();
  int64_t* out = slots.data_ptr<int64_t>();
  std::vector<std::vector<int64_t>> members(num_classes);
  for (int64_t i = 0; i < labels.numel(); ++i) {
    TORCH_CHECK(yl[i] >= 0 && yl[i] < num_classes, "class_bucket_slots: label ", yl[i], " is outside [0, ", num_classes, ")");
    members[yl[i]].push_back(i);
  }
  // The permutation is drawn on the generator's device, so CPU and CUDA runs both stay seeded.
  auto idx_opts = torch::TensorOptions().dtype(torch::kLong).device(gen.device());
  for (int64_t c = 0; c < num_classes; ++c) {
    const auto& m = members[c];
    if (m.empty()) continue;
    TORCH_CHECK(static_cast<int64_t>(m.size()) <= bucket, "class-conditional buffer: ", m.size(), " chains of class ", c,
                " in one batch but each class bucket holds ", bucket, " slots; use a larger buffer");
    auto perm = torch::randperm(bucket, gen, idx_opts).slice(0, 0, static_cast<int64_t>(m.size())).cpu();
    const int64_t* p = perm.data_ptr<int64_t>();
    for (size_t j = 0; j < m.size(); ++j) out[m[j]] = c * bucket + p[j];
  }
  return slots.to(y.device());
}

PersistentChains::PersistentChains(std::shared_ptr<Sampler> sampler, std::shared_ptr<ReplayBuffer> buffer,
                                   PersistentChainsOptions options)
    : sampler_(std::move(sampler)), buffer_(std::move(buffer)), options_(options) {
  TORCH_CHECK(sampler_, "PersistentChains needs a sampler");
  TORCH_CHECK(buffer_, "PersistentChains needs a replay buffer");
  TORCH_CHECK(options_.num_classes() >= 0, "PersistentChains: num_classes must be >= 0, got ", options_.num_classes());
  if (options_.num_classes() > 0) {
    TORCH_CHECK(buffer_->options().policy() == BufferPolicy::kInPlace,
                "PersistentChains: class buckets need an in-place buffer (buffer.policy = \"in_place\"): a FIFO or "
                "reservoir buffer moves states between slots");
    TORCH_CHECK(buffer_->capacity() % options_.num_classes() == 0, "PersistentChains: class buckets need a buffer capacity (",
                buffer_->capacity(), ") that is a multiple of the ", options_.num_classes(), " classes");
    // Bucket c is slots [c·b, (c+1)·b): its fresh chains start from class c's initial
    // distribution (class_gaussian), not a random class's.
    const int64_t bucket = buffer_->capacity() / options_.num_classes();
    buffer_->set_slot_classes(torch::arange(buffer_->capacity(), torch::kLong).div(bucket, "floor"));
  }
}

torch::Tensor PersistentChains::transformed(torch::Tensor x, at::Generator& gen) const {
  if (!transition_) return x;
  auto out = transition_(x, gen);
  TORCH_CHECK(out.sizes() == x.sizes(), "PersistentChains: the transition changed the states' shape from ", x.sizes(), " to ",
              out.sizes());
  return out;
}

torch::Tensor PersistentChains::advance(EnergyModel& model, int64_t n, at::Generator& gen) {
  auto draw = buffer_->sample(n, gen);
  auto x = sampler_->sample(model, transformed(draw.x, gen), gen);
  buffer_->update(draw.indices, x, gen);
  return x;
}

PersistentChains::Step PersistentChains::advance(EnergyModel& model, int64_t n, at::Generator& gen,
                                                 const ChainRunOptions& run) {
  auto draw = buffer_->sample(n, gen);
  auto result = sampler_->run(model, transformed(draw.x, gen), gen, run);
  Step out;
  out.x = result.x.detach();
  out.indices = draw.indices;
  if (run.keep_graph_last() > 0) out.x_graph = result.x;
  buffer_->update(draw.indices, out.x, gen);
  return out;
}

torch::Tensor PersistentChains::advance_conditional(EnergyModel& conditional, const torch::Tensor& y, at::Generator& gen) {
  TORCH_CHECK(options_.num_classes() > 0, "PersistentChains::advance_conditional needs class buckets (num_classes > 0)");
  auto slots = class_bucket_slots(y, buffer_->capacity(), options_.num_classes(), gen);
  auto draw = buffer_->sample_at(slots, gen);
  auto x = sampler_->sample(conditional, transformed(draw.x, gen), gen);
  buffer_->update(slots, x, gen);
  return x;
}

torch::Tensor PersistentChains::advance_all(EnergyModel& model, at::Generator& gen) {
  TORCH_CHECK(initialized(), "PersistentChains::advance_all: no chains yet (call initialize() first)");
  auto x = sampler_->sample(model, transformed(buffer_->states(), gen), gen);
  buffer_->set_storage(x, /*advanced=*/true);
  return x;
}

void PersistentChains::initialize(const torch::Tensor& states) { buffer_->set_storage(states.detach()); }

void PersistentChains::set_states(const torch::Tensor& states) { buffer_->set_storage(states.detach(), /*advanced=*/true); }

void PersistentChains::save(torch::serialize::OutputArchive& archive) const {
  torch::serialize::OutputArchive buf, sampler;
  buffer_->save(buf);
  archive.write("buffer", buf);
  sampler_->save(sampler);
  archive.write("sampler", sampler);
}

void PersistentChains::load(torch::serialize::InputArchive& archive) {
  torch::serialize::InputArchive buf, sampler;
  TORCH_CHECK(archive.try_read("buffer", buf), "checkpoint has no persistent chains but this objective keeps them");
  buffer_->load(buf);
  if (archive.try_read("sampler", sampler)) sampler_->load(sampler);
}

torch::Tensor sample_with_transitions(Sampler& sampler, EnergyModel& model, const torch::Tensor& x0, int64_t steps, int64_t every,
                                      const PersistentChains::Transition& transition, at::Generator& gen) {
  TORCH_CHECK(steps >= 0, "sample_with_transitions: steps must be >= 0, got ", steps);
  if (every <= 0 || !transition) return sampler.with_steps(steps)->sample(model, x0, gen);
  auto x = x0;
  for (int64_t done = 0; done < steps; done += every) {
    x = sampler.with_steps(std::min(every, steps - done))->sample(model, x, gen);
    if (done + every < steps) x = transition(x, gen);
  }
  return x;
}

}  // namespace joule
