#include "joule/samplers/replay_buffer.h"

#include <c10/util/Exception.h>

namespace joule {

BufferInit parse_buffer_init(const std::string& name) {
  if (name == "uniform") return BufferInit::kUniform;
  if (name == "gaussian") return BufferInit::kGaussian;
  if (name == "data") return BufferInit::kData;
  TORCH_CHECK(false, "unknown buffer init '", name, "' (allowed: uniform, gaussian, data)");
}

std::string to_string(BufferInit init) {
  switch (init) {
    case BufferInit::kUniform: return "uniform";
    case BufferInit::kGaussian: return "gaussian";
    case BufferInit::kData: return "data";
  }
  return "?";
}

void ReplayBufferOptions::validate() const {
  TORCH_CHECK(capacity_ > 0, "ReplayBuffer: capacity must be > 0, got ", capacity_);
  TORCH_CHECK(reinit_prob_ >= 0 && reinit_prob_ <= 1, "ReplayBuffer: reinit_prob must be in [0, 1], got ",
              reinit_prob_);
  TORCH_CHECK(init_low_ < init_high_, "ReplayBuffer: init_low must be < init_high, got ", init_low_, " and ",
              init_high_);
  TORCH_CHECK(init_std_ > 0, "ReplayBuffer: init_std must be > 0, got ", init_std_);
  TORCH_CHECK(data_noise_ >= 0, "ReplayBuffer: data_noise must be >= 0, got ", data_noise_);
}

ReplayBuffer::ReplayBuffer(ReplayBufferOptions options, std::vector<int64_t> event_shape, torch::Device device)
    : options_(options), event_shape_(std::move(event_shape)), device_(device) {
  options_.validate();
  TORCH_CHECK(!event_shape_.empty(), "ReplayBuffer: event_shape must not be empty");
}

void ReplayBuffer::set_data(torch::Tensor data) {
  TORCH_CHECK(data.dim() == static_cast<int64_t>(event_shape_.size()) + 1 &&
                  data.sizes().slice(1) == c10::IntArrayRef(event_shape_),
              "ReplayBuffer::set_data: expected data [N, ", c10::IntArrayRef(event_shape_), "], got ", data.sizes());
  TORCH_CHECK(data.size(0) > 0, "ReplayBuffer::set_data: data is empty");
  data_ = data;
}

torch::Tensor ReplayBuffer::init_samples(int64_t n, c10::optional<at::Generator> gen) const {
  std::vector<int64_t> shape{n};
  shape.insert(shape.end(), event_shape_.begin(), event_shape_.end());
  auto opts = torch::TensorOptions().dtype(torch::kFloat32).device(device_);
  switch (options_.init()) {
    case BufferInit::kUniform:
      return torch::empty(shape, opts).uniform_(options_.init_low(), options_.init_high(), gen);
    case BufferInit::kGaussian:
      return torch::empty(shape, opts).normal_(options_.init_mean(), options_.init_std(), gen);
    case BufferInit::kData: {
      TORCH_CHECK(data_.defined(), "ReplayBuffer: init=data needs set_data() before sampling");
      auto idx = torch::randint(data_.size(0), {n}, gen, torch::TensorOptions().dtype(torch::kLong).device(data_.device()));
      auto x = data_.index_select(0, idx).to(opts);
      if (options_.data_noise() > 0) x.add_(torch::empty_like(x).normal_(0.0, options_.data_noise(), gen));
      return x;
    }
  }
  TORCH_CHECK(false, "unreachable buffer init");
}

void ReplayBuffer::ensure_filled(c10::optional<at::Generator> gen) {
  if (!storage_.defined()) storage_ = init_samples(options_.capacity(), gen);
}

ReplayBuffer::Draw ReplayBuffer::sample(int64_t n, c10::optional<at::Generator> gen) {
  TORCH_CHECK(n > 0 && n <= options_.capacity(), "ReplayBuffer::sample: n must be in [1, capacity=",
              options_.capacity(), "], got ", n);
  ensure_filled(gen);
  // Distinct slots, so that write-back never has two chains racing for one slot.
  auto idx_opts = torch::TensorOptions().dtype(torch::kLong).device(device_);
  auto indices = torch::randperm(options_.capacity(), gen, idx_opts).slice(0, 0, n);
  auto x = storage_.index_select(0, indices);
  auto reinit = torch::empty({n}, torch::TensorOptions().dtype(torch::kFloat32).device(device_))
                    .uniform_(0.0, 1.0, gen)
                    .lt(options_.reinit_prob());
  if (options_.reinit_prob() > 0) {
    auto fresh = init_samples(n, gen);
    std::vector<int64_t> shape(x.dim(), 1);
    shape[0] = n;
    x = torch::where(reinit.view(shape), fresh, x);
  }
  return {x, indices, reinit};
}

ReplayBuffer::Draw ReplayBuffer::sample_at(const torch::Tensor& indices, c10::optional<at::Generator> gen) {
  TORCH_CHECK(indices.dim() == 1 && indices.size(0) > 0, "ReplayBuffer::sample_at: expected a non-empty 1-D index tensor, got ",
              indices.sizes());
  ensure_filled(gen);
  auto idx = indices.to(torch::TensorOptions().dtype(torch::kLong).device(device_));
  TORCH_CHECK(idx.min().item<int64_t>() >= 0 && idx.max().item<int64_t>() < options_.capacity(),
              "ReplayBuffer::sample_at: slots must be in [0, ", options_.capacity(), ")");
  const int64_t n = idx.size(0);
  auto x = storage_.index_select(0, idx);
  auto reinit = torch::empty({n}, torch::TensorOptions().dtype(torch::kFloat32).device(device_))
                    .uniform_(0.0, 1.0, gen)
                    .lt(options_.reinit_prob());
  if (options_.reinit_prob() > 0) {
    std::vector<int64_t> shape(x.dim(), 1);
    shape[0] = n;
    x = torch::where(reinit.view(shape), init_samples(n, gen), x);
  }
  return {x, idx, reinit};
}

void ReplayBuffer::update(const torch::Tensor& indices, const torch::Tensor& x) {
  TORCH_CHECK(storage_.defined(), "ReplayBuffer::update called before sample()");
  TORCH_CHECK(indices.dim() == 1 && x.size(0) == indices.size(0), "ReplayBuffer::update: ", indices.size(0),
              " indices for ", x.size(0), " states");
  storage_.index_copy_(0, indices.to(device_), x.detach().to(storage_.options()));
}

void ReplayBuffer::set_storage(const torch::Tensor& states) {
  TORCH_CHECK(states.dim() == static_cast<int64_t>(event_shape_.size()) + 1 && states.size(0) == options_.capacity() &&
                  states.sizes().slice(1) == c10::IntArrayRef(event_shape_),
              "ReplayBuffer::set_storage: expected states [", options_.capacity(), ", ", c10::IntArrayRef(event_shape_),
              "], got ", states.sizes());
  storage_ = states.device() == device_ ? states : states.to(device_);
}

void ReplayBuffer::save(torch::serialize::OutputArchive& archive) const {
  archive.write("capacity", torch::tensor(options_.capacity()));
  archive.write("filled", torch::tensor(storage_.defined() ? 1 : 0));
  if (storage_.defined()) archive.write("storage", storage_.cpu());
}

void ReplayBuffer::load(torch::serialize::InputArchive& archive) {
  torch::Tensor capacity, filled;
  archive.read("capacity", capacity);
  TORCH_CHECK(capacity.item<int64_t>() == options_.capacity(), "ReplayBuffer::load: checkpoint has capacity ",
              capacity.item<int64_t>(), " but this buffer has ", options_.capacity());
  archive.read("filled", filled);
  if (filled.item<int64_t>()) {
    torch::Tensor s;
    archive.read("storage", s);
    TORCH_CHECK(s.dim() == static_cast<int64_t>(event_shape_.size()) + 1 && s.sizes().slice(1) == c10::IntArrayRef(event_shape_),
                "ReplayBuffer::load: stored chains have shape ", s.sizes(), ", expected [", options_.capacity(), ", ",
                c10::IntArrayRef(event_shape_), "]");
    storage_ = s.to(device_);
  } else {
    storage_ = torch::Tensor();
  }
}

}  // namespace joule
