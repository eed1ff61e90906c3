#include "joule/samplers/replay_buffer.h"

#include <c10/util/Exception.h>

#include <algorithm>
#include <cmath>
#include <map>

namespace joule {
namespace {

// Checkpoint codes of the policies (part of the format: append, never renumber).
int64_t policy_code(BufferPolicy p) {
  switch (p) {
    case BufferPolicy::kInPlace: return 0;
    case BufferPolicy::kFifo: return 1;
    case BufferPolicy::kReservoir: return 2;
  }
  return -1;
}

BufferPolicy policy_from_code(int64_t code) {
  TORCH_CHECK(code >= 0 && code <= 2, "ReplayBuffer::load: unknown buffer policy code ", code, " in the checkpoint");
  return code == 0 ? BufferPolicy::kInPlace : code == 1 ? BufferPolicy::kFifo : BufferPolicy::kReservoir;
}

constexpr double kLevels = 256.0;  // 8-bit bins

}  // namespace

BufferInit parse_buffer_init(const std::string& name) {
  if (name == "uniform") return BufferInit::kUniform;
  if (name == "gaussian") return BufferInit::kGaussian;
  if (name == "data") return BufferInit::kData;
  if (name == "class_gaussian") return BufferInit::kClassGaussian;
  TORCH_CHECK(false, "unknown buffer init '", name, "' (allowed: uniform, gaussian, data, class_gaussian)");
}

std::string to_string(BufferInit init) {
  switch (init) {
    case BufferInit::kUniform: return "uniform";
    case BufferInit::kGaussian: return "gaussian";
    case BufferInit::kData: return "data";
    case BufferInit::kClassGaussian: return "class_gaussian";
  }
  return "?";
}

BufferPolicy parse_buffer_policy(const std::string& name) {
  if (name == "in_place") return BufferPolicy::kInPlace;
  if (name == "fifo") return BufferPolicy::kFifo;
  if (name == "reservoir") return BufferPolicy::kReservoir;
  TORCH_CHECK(false, "unknown buffer policy '", name, "' (allowed: in_place, fifo, reservoir)");
}

std::string to_string(BufferPolicy policy) {
  switch (policy) {
    case BufferPolicy::kInPlace: return "in_place";
    case BufferPolicy::kFifo: return "fifo";
    case BufferPolicy::kReservoir: return "reservoir";
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
  TORCH_CHECK(storage_bits_ == 8 || storage_bits_ == 32, "ReplayBuffer: storage_bits must be 8 or 32, got ",
              storage_bits_);
  TORCH_CHECK(std::isfinite(quantize_low_) && std::isfinite(quantize_high_) && quantize_low_ < quantize_high_,
              "ReplayBuffer: quantize_low must be < quantize_high (both finite), got ", quantize_low_, " and ",
              quantize_high_);
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

void ReplayBuffer::fit_class_gaussians(const torch::Tensor& data, const torch::Tensor& labels) {
  check_states(data, "fit_class_gaussians");
  TORCH_CHECK(data.size(0) > 0, "ReplayBuffer::fit_class_gaussians: data is empty");
  TORCH_CHECK(labels.defined() && labels.dim() == 1 && labels.size(0) == data.size(0),
              "ReplayBuffer::fit_class_gaussians: expected labels [", data.size(0), "], got ",
              labels.defined() ? labels.sizes() : c10::IntArrayRef{});
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  auto x = data.detach().reshape({data.size(0), -1}).to(torch::kCPU, torch::kFloat64);
  auto y = labels.to(torch::kCPU, torch::kLong);
  TORCH_CHECK(torch::isfinite(x).all().item<bool>(), "ReplayBuffer::fit_class_gaussians: the data hold NaN or inf");
  TORCH_CHECK(y.min().item<int64_t>() >= 0, "ReplayBuffer::fit_class_gaussians: labels must be >= 0");
  const int64_t k = y.max().item<int64_t>() + 1, d = x.size(1);
  const double bytes = 4.0 * static_cast<double>(k) * static_cast<double>(d) * static_cast<double>(d);
  TORCH_CHECK(bytes <= 1024.0 * 1024.0 * 1024.0, "ReplayBuffer::fit_class_gaussians: ", k, " covariance factors of ", d,
              "x", d, " need ", bytes / (1024.0 * 1024.0 * 1024.0), " GiB (limit 1 GiB); use init=gaussian or data");
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat32).device(device_);
  // Factors in float32 as each class is done: float64 for all K at once would double the peak.
  auto weights = torch::zeros({k}, f64), means = torch::zeros({k, d}, f64), factors = torch::zeros({k, d, d}, f32);
  auto eye = torch::eye(d, f64);
  for (int64_t c = 0; c < k; ++c) {
    auto rows = x.index_select(0, y.eq(c).nonzero().view({-1}));
    const int64_t m = rows.size(0);
    if (m == 0) continue;  // weight 0: never drawn
    weights[c] = 1.0;      // every class alike, however many examples it has (upstream JEMPP)
    auto mu = rows.mean(0);
    auto centred = rows - mu;
    auto cov = centred.t().matmul(centred).div_(static_cast<double>(std::max<int64_t>(m - 1, 1)));
    const double scale = std::max(cov.diagonal().mean().item<double>(), 1e-12);
    at::Tensor l;
    for (double eps = 1e-4 * scale;; eps *= 10) {
      auto [factor, info] = at::linalg_cholesky_ex(cov + eps * eye);
      if (info.item<int64_t>() == 0) {
        l = factor;
        break;
      }
      TORCH_CHECK(eps < scale, "ReplayBuffer::fit_class_gaussians: the covariance of class ", c,
                  " cannot be factorised (not finite?)");
    }
    means[c] = mu;
    factors[c].copy_(l);
  }
  class_weights_ = weights.div(weights.sum()).to(f32);
  class_means_ = means.to(f32);
  class_factors_ = factors;
}

torch::Tensor ReplayBuffer::class_gaussian_draw(const torch::Tensor& cls, c10::optional<at::Generator> gen) const {
  const int64_t n = cls.size(0), d = class_means_.size(1);
  auto z = torch::empty({n, d}, class_means_.options()).normal_(0.0, 1.0, gen);
  auto x = class_means_.index_select(0, cls);
  // One GEMM per class drawn rather than a batched [n, D, D] gather of the factors.
  for (int64_t c = 0; c < class_means_.size(0); ++c) {
    auto rows = cls.eq(c).nonzero().view({-1});
    if (rows.numel() > 0) x.index_add_(0, rows, z.index_select(0, rows).matmul(class_factors_[c].t()));
  }
  std::vector<int64_t> shape{n};
  shape.insert(shape.end(), event_shape_.begin(), event_shape_.end());
  return x.clamp_(options_.init_low(), options_.init_high()).view(shape);
}

torch::Tensor ReplayBuffer::init_samples(const torch::Tensor& classes, c10::optional<at::Generator> gen) const {
  TORCH_CHECK(classes.defined() && classes.dim() == 1 && classes.size(0) > 0,
              "ReplayBuffer::init_samples: expected classes [n], n > 0, got ", classes.defined() ? classes.sizes() : c10::IntArrayRef{});
  if (options_.init() != BufferInit::kClassGaussian) return init_samples(classes.size(0), gen);
  TORCH_CHECK(class_means_.defined(),
              "ReplayBuffer: init=class_gaussian needs fit_class_gaussians() with labelled data before sampling");
  auto cls = classes.to(torch::TensorOptions().dtype(torch::kLong).device(device_));
  const int64_t k = class_means_.size(0), lo = cls.min().item<int64_t>(), hi = cls.max().item<int64_t>();
  TORCH_CHECK(lo >= 0 && hi < k, "ReplayBuffer::init_samples: classes must be in [0, ", k, ") (the fitted classes), got ", lo,
              "..", hi);
  TORCH_CHECK(class_weights_.index_select(0, cls).gt(0).all().item<bool>(),
              "ReplayBuffer::init_samples: a requested class had no examples in the data given to fit_class_gaussians()");
  return class_gaussian_draw(cls, gen);
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
    case BufferInit::kClassGaussian: {
      TORCH_CHECK(class_means_.defined(),
                  "ReplayBuffer: init=class_gaussian needs fit_class_gaussians() with labelled data before sampling");
      return class_gaussian_draw(torch::multinomial(class_weights_, n, /*replacement=*/true, gen), gen);
    }
  }
  TORCH_CHECK(false, "unreachable buffer init");
}

void ReplayBuffer::check_states(const torch::Tensor& x, const char* fn) const {
  TORCH_CHECK(x.defined() && x.dim() == static_cast<int64_t>(event_shape_.size()) + 1 &&
                  x.sizes().slice(1) == c10::IntArrayRef(event_shape_),
              "ReplayBuffer::", fn, ": expected states [n, ", c10::IntArrayRef(event_shape_), "], got ",
              x.defined() ? x.sizes() : c10::IntArrayRef{});
}

torch::Tensor ReplayBuffer::encode(const torch::Tensor& x) const {
  if (options_.storage_bits() == 32) {
    auto opts = storage_.defined() ? storage_.options() : torch::TensorOptions().dtype(torch::kFloat32).device(device_);
    return x.detach().to(opts);
  }
  // Float64, so that the bin of every float32 input is decided without rounding across a bin edge.
  const double lo = options_.quantize_low(), hi = options_.quantize_high();
  auto xd = x.detach().to(device_, torch::kFloat64);
  return xd.clamp(lo, hi).sub_(lo).mul_(kLevels / (hi - lo)).floor_().clamp_max_(kLevels - 1).to(torch::kUInt8);
}

torch::Tensor ReplayBuffer::read(const torch::Tensor& indices, c10::optional<at::Generator> gen) const {
  auto raw = storage_.index_select(0, indices);
  if (options_.storage_bits() == 32) return raw;
  const double lo = options_.quantize_low(), width = (options_.quantize_high() - lo) / kLevels;
  auto u = torch::empty(raw.sizes(), torch::TensorOptions().dtype(torch::kFloat32).device(device_)).uniform_(0.0, 1.0, gen);
  return u.add_(raw.to(torch::kFloat32)).mul_(width).add_(lo);
}

torch::Tensor ReplayBuffer::states() const {
  const auto& raw = storage();
  if (!raw.defined() || options_.storage_bits() == 32) return raw;
  const double lo = options_.quantize_low(), width = (options_.quantize_high() - lo) / kLevels;
  return raw.to(torch::kFloat32).add_(0.5).mul_(width).add_(lo);
}

void ReplayBuffer::refresh_view() {
  view_ = (storage_.defined() && size_ > 0) ? storage_.slice(0, 0, size_) : torch::Tensor();
}

void ReplayBuffer::set_slot_classes(const torch::Tensor& classes) {
  TORCH_CHECK(options_.policy() == BufferPolicy::kInPlace,
              "ReplayBuffer::set_slot_classes: slot classes need an in-place buffer (a FIFO or reservoir buffer moves "
              "states between slots)");
  TORCH_CHECK(classes.defined() && classes.dim() == 1 && classes.size(0) == options_.capacity(),
              "ReplayBuffer::set_slot_classes: expected one class per slot [", options_.capacity(), "], got ",
              classes.defined() ? classes.sizes() : c10::IntArrayRef{});
  TORCH_CHECK(classes.min().item<int64_t>() >= 0, "ReplayBuffer::set_slot_classes: classes must be >= 0");
  slot_classes_ = classes.to(torch::TensorOptions().dtype(torch::kLong).device(device_)).clone();
}

void ReplayBuffer::ensure_filled(c10::optional<at::Generator> gen) {
  if (storage_.defined()) return;
  storage_ = slot_classes_.defined() ? init_samples(slot_classes_, gen) : init_samples(options_.capacity(), gen);
  if (options_.storage_bits() == 8) storage_ = encode(storage_);
  size_ = options_.capacity();
  updates_ = torch::zeros({options_.capacity()}, torch::TensorOptions().dtype(torch::kLong).device(device_));
}

void ReplayBuffer::count_draw(const Draw& draw) {
  // A reinitialised slot's chain is new: it has had no run yet (the write-back adds the first).
  if (options_.policy() != BufferPolicy::kInPlace || !updates_.defined()) return;
  updates_.index_copy_(0, draw.indices, updates_.index_select(0, draw.indices).masked_fill_(draw.reinit, 0));
}

torch::Tensor ReplayBuffer::mature_slots(int64_t min_updates) const {
  auto idx_opts = torch::TensorOptions().dtype(torch::kLong).device(device_);
  if (options_.policy() != BufferPolicy::kInPlace || !updates_.defined() || min_updates <= 0) {
    return torch::arange(size_, idx_opts);
  }
  return updates_.ge(min_updates).nonzero().view({-1});
}

void ReplayBuffer::ensure_allocated() {
  if (storage_.defined()) return;
  std::vector<int64_t> shape{options_.capacity()};
  shape.insert(shape.end(), event_shape_.begin(), event_shape_.end());
  auto dtype = options_.storage_bits() == 8 ? torch::kUInt8 : torch::kFloat32;
  storage_ = torch::zeros(shape, torch::TensorOptions().dtype(dtype).device(device_));
}

ReplayBuffer::Draw ReplayBuffer::reinitialise(torch::Tensor x, torch::Tensor indices,
                                              c10::optional<at::Generator> gen) const {
  const int64_t n = x.size(0);
  auto reinit = torch::empty({n}, torch::TensorOptions().dtype(torch::kFloat32).device(device_))
                    .uniform_(0.0, 1.0, gen)
                    .lt(options_.reinit_prob());
  if (options_.reinit_prob() > 0) {
    // A slot with a class restarts at that class (JEM's p(x|y) buckets with class Gaussians).
    auto fresh = slot_classes_.defined() ? init_samples(slot_classes_.index_select(0, indices.to(device_)), gen)
                                         : init_samples(n, gen);
    std::vector<int64_t> shape(x.dim(), 1);
    shape[0] = n;
    x = torch::where(reinit.view(shape), fresh, x);
  }
  return {x, indices, reinit};
}

ReplayBuffer::Draw ReplayBuffer::sample(int64_t n, c10::optional<at::Generator> gen) {
  TORCH_CHECK(n > 0 && n <= options_.capacity(), "ReplayBuffer::sample: n must be in [1, capacity=",
              options_.capacity(), "], got ", n);
  auto idx_opts = torch::TensorOptions().dtype(torch::kLong).device(device_);
  if (options_.policy() == BufferPolicy::kInPlace) {
    ensure_filled(gen);
  } else if (size_ < n) {
    // Not enough stored states yet (upstream ICD: the buffer is used once it holds a batch).
    return {init_samples(n, gen), torch::full({n}, -1, idx_opts),
            torch::ones({n}, torch::TensorOptions().dtype(torch::kBool).device(device_))};
  }
  // Distinct slots, so that write-back never has two chains racing for one slot.
  const int64_t pool = options_.policy() == BufferPolicy::kInPlace ? options_.capacity() : size_;
  auto indices = torch::randperm(pool, gen, idx_opts).slice(0, 0, n);
  auto draw = reinitialise(read(indices, gen), indices, gen);
  count_draw(draw);
  return draw;
}

ReplayBuffer::Draw ReplayBuffer::sample_at(const torch::Tensor& indices, c10::optional<at::Generator> gen) {
  TORCH_CHECK(indices.dim() == 1 && indices.size(0) > 0, "ReplayBuffer::sample_at: expected a non-empty 1-D index tensor, got ",
              indices.sizes());
  if (options_.policy() == BufferPolicy::kInPlace) ensure_filled(gen);
  TORCH_CHECK(size_ > 0, "ReplayBuffer::sample_at: the ", to_string(options_.policy()), " buffer holds no states yet");
  auto idx = indices.to(torch::TensorOptions().dtype(torch::kLong).device(device_));
  TORCH_CHECK(idx.min().item<int64_t>() >= 0 && idx.max().item<int64_t>() < size_,
              "ReplayBuffer::sample_at: slots must be in [0, ", size_, ")");
  auto draw = reinitialise(read(idx, gen), idx, gen);
  count_draw(draw);
  return draw;
}

torch::Tensor ReplayBuffer::stored(int64_t n, at::Generator& gen) const {
  TORCH_CHECK(n >= 1 && n <= size_, "ReplayBuffer::stored: n must be in [1, size()=", size_, "], got ", n);
  auto indices = torch::randperm(size_, gen, torch::TensorOptions().dtype(torch::kLong).device(device_)).slice(0, 0, n);
  return read(indices, gen);
}

void ReplayBuffer::update(const torch::Tensor& indices, const torch::Tensor& x, c10::optional<at::Generator> gen) {
  if (options_.policy() == BufferPolicy::kInPlace) {
    TORCH_CHECK(storage_.defined(), "ReplayBuffer::update called before sample()");
    TORCH_CHECK(indices.dim() == 1 && x.size(0) == indices.size(0), "ReplayBuffer::update: ", indices.size(0),
                " indices for ", x.size(0), " states");
    auto idx = indices.to(device_);
    storage_.index_copy_(0, idx, encode(x));
    if (updates_.defined()) updates_.index_copy_(0, idx, updates_.index_select(0, idx).add_(1));
    return;
  }
  check_states(x, "update");
  if (x.size(0) == 0) return;
  ensure_allocated();
  if (options_.policy() == BufferPolicy::kFifo) {
    append_fifo(encode(x));
  } else {
    append_reservoir(encode(x), gen);
  }
  refresh_view();
}

void ReplayBuffer::append_fifo(const torch::Tensor& enc) {
  const int64_t cap = options_.capacity(), b = enc.size(0);
  // Of more than capacity rows only the last capacity survive; skipping the others keeps the
  // target slots distinct (index_copy_ with repeated slots is unordered).
  const int64_t first = std::max<int64_t>(0, b - cap);
  auto slots = torch::arange(first, b, torch::TensorOptions().dtype(torch::kLong).device(device_)).add_(next_).remainder_(cap);
  storage_.index_copy_(0, slots, enc.slice(0, first));
  next_ = (next_ + b) % cap;
  size_ = std::min(cap, size_ + b);
  seen_ += b;
}

void ReplayBuffer::append_reservoir(const torch::Tensor& enc, c10::optional<at::Generator> gen) {
  const int64_t cap = options_.capacity(), b = enc.size(0);
  const int64_t fill = std::min(b, cap - size_);
  if (fill > 0) {
    storage_.slice(0, size_, size_ + fill).copy_(enc.slice(0, 0, fill));
    size_ += fill;
    seen_ += fill;
  }
  const int64_t rest = b - fill;
  if (rest == 0) return;
  // Algorithm R: the i-th state offered (i > capacity) draws j uniform on {0, …, i − 1} and
  // replaces slot j if j < capacity. One float64 uniform per state (53 random bits), drawn on the
  // buffer's device so a CUDA generator works too; later rows of the batch win a shared slot.
  auto u = torch::empty({rest}, torch::TensorOptions().dtype(torch::kFloat64).device(device_)).uniform_(0.0, 1.0, gen).cpu();
  const double* up = u.data_ptr<double>();
  std::map<int64_t, int64_t> row_of_slot;
  for (int64_t r = 0; r < rest; ++r) {
    const int64_t i = seen_ + r + 1;
    const int64_t j = std::min(i - 1, static_cast<int64_t>(std::floor(up[r] * static_cast<double>(i))));
    if (j < cap) row_of_slot[j] = fill + r;
  }
  seen_ += rest;
  if (row_of_slot.empty()) return;
  std::vector<int64_t> slots, rows;
  for (const auto& [slot, row] : row_of_slot) {
    slots.push_back(slot);
    rows.push_back(row);
  }
  auto long_opts = torch::TensorOptions().dtype(torch::kLong);
  auto slot_t = torch::tensor(slots, long_opts).to(device_), row_t = torch::tensor(rows, long_opts).to(device_);
  storage_.index_copy_(0, slot_t, enc.index_select(0, row_t));
}

void ReplayBuffer::set_storage(const torch::Tensor& states, bool advanced) {
  if (options_.policy() == BufferPolicy::kInPlace) {
    TORCH_CHECK(states.dim() == static_cast<int64_t>(event_shape_.size()) + 1 && states.size(0) == options_.capacity() &&
                    states.sizes().slice(1) == c10::IntArrayRef(event_shape_),
                "ReplayBuffer::set_storage: expected states [", options_.capacity(), ", ", c10::IntArrayRef(event_shape_),
                "], got ", states.sizes());
    if (options_.storage_bits() == 32) {
      storage_ = states.device() == device_ ? states : states.to(device_);
    } else {
      storage_ = encode(states);
    }
    size_ = options_.capacity();
    if (advanced && updates_.defined()) {
      updates_.add_(1);
    } else if (!advanced) {
      updates_ = torch::zeros({options_.capacity()}, torch::TensorOptions().dtype(torch::kLong).device(device_));
    }
    return;
  }
  check_states(states, "set_storage");
  const int64_t m = states.size(0), cap = options_.capacity();
  TORCH_CHECK(m >= 1 && m <= cap, "ReplayBuffer::set_storage: expected 1 to ", cap, " states, got ", m);
  ensure_allocated();
  storage_.slice(0, 0, m).copy_(encode(states));
  if (m != size_) {
    size_ = m;
    next_ = m % cap;
    seen_ = m;
  }
  refresh_view();
}

void ReplayBuffer::save(torch::serialize::OutputArchive& archive) const {
  archive.write("capacity", torch::tensor(options_.capacity()));
  const auto& raw = storage();
  archive.write("filled", torch::tensor(raw.defined() ? 1 : 0));
  if (raw.defined()) archive.write("storage", raw.cpu());
  archive.write("policy", torch::tensor(policy_code(options_.policy())));
  archive.write("storage_bits", torch::tensor(options_.storage_bits()));
  archive.write("quantize_range", torch::tensor({options_.quantize_low(), options_.quantize_high()}, torch::kFloat64));
  archive.write("size", torch::tensor(size_));
  archive.write("next", torch::tensor(next_));
  archive.write("seen", torch::tensor(seen_));
  if (updates_.defined()) archive.write("updates", updates_.cpu());
}

void ReplayBuffer::load(torch::serialize::InputArchive& archive) {
  torch::Tensor capacity, filled;
  archive.read("capacity", capacity);
  TORCH_CHECK(capacity.item<int64_t>() == options_.capacity(), "ReplayBuffer::load: checkpoint has capacity ",
              capacity.item<int64_t>(), " but this buffer has ", options_.capacity());
  // InputArchive::read into a defined tensor reuses it (set_, keeping its dtype), so every key
  // gets a fresh tensor.
  auto read_key = [&archive](const char* key) {
    torch::Tensor t;
    archive.read(key, t);
    return t;
  };
  // Checkpoints from before policies and 8-bit storage hold only capacity, filled and storage:
  // they are in-place 32-bit buffers.
  torch::Tensor policy_t;
  const bool old_format = !archive.try_read("policy", policy_t);
  const BufferPolicy policy = old_format ? BufferPolicy::kInPlace : policy_from_code(policy_t.item<int64_t>());
  const int64_t bits = old_format ? 32 : read_key("storage_bits").item<int64_t>();
  TORCH_CHECK(policy == options_.policy(), "ReplayBuffer::load: the checkpoint holds a '", to_string(policy), "' buffer",
              old_format ? " (saved before buffer policies existed)" : "", " but this buffer's policy is '",
              to_string(options_.policy()), "'");
  TORCH_CHECK(bits == options_.storage_bits(), "ReplayBuffer::load: the checkpoint stores ", bits,
              "-bit states but this buffer has storage_bits = ", options_.storage_bits());
  if (bits == 8) {
    auto r = read_key("quantize_range").to(torch::kCPU, torch::kFloat64).contiguous();
    TORCH_CHECK(r.numel() == 2, "ReplayBuffer::load: quantize_range must hold 2 values, got ", r.numel());
    const double lo = r[0].item<double>(), hi = r[1].item<double>();
    TORCH_CHECK(lo == options_.quantize_low() && hi == options_.quantize_high(),
                "ReplayBuffer::load: the checkpoint's 8-bit states cover [", lo, ", ", hi,
                "] but this buffer quantizes [", options_.quantize_low(), ", ", options_.quantize_high(), "]");
  }
  const int64_t cap = options_.capacity();
  int64_t size = 0, next = 0, seen = 0;
  if (policy != BufferPolicy::kInPlace) {
    size = read_key("size").item<int64_t>();
    next = read_key("next").item<int64_t>();
    seen = read_key("seen").item<int64_t>();
    TORCH_CHECK(size >= 0 && size <= cap && next >= 0 && next < cap && seen >= size,
                "ReplayBuffer::load: inconsistent buffer state in the checkpoint (size ", size, ", next ", next, ", seen ",
                seen, ", capacity ", cap, ")");
  }
  archive.read("filled", filled);
  torch::Tensor s;
  if (filled.item<int64_t>()) {
    archive.read("storage", s);
    const int64_t rows = policy == BufferPolicy::kInPlace ? cap : size;
    TORCH_CHECK(s.dim() == static_cast<int64_t>(event_shape_.size()) + 1 && s.size(0) == rows &&
                    s.sizes().slice(1) == c10::IntArrayRef(event_shape_),
                "ReplayBuffer::load: stored chains have shape ", s.sizes(), ", expected [", rows, ", ",
                c10::IntArrayRef(event_shape_), "]");
    TORCH_CHECK(bits == 8 ? s.scalar_type() == torch::kUInt8 : s.is_floating_point(), "ReplayBuffer::load: stored chains have dtype ",
                s.scalar_type(), ", expected ", bits == 8 ? "uint8" : "a floating type");
  } else {
    TORCH_CHECK(size == 0, "ReplayBuffer::load: the checkpoint has size ", size, " but no stored states");
  }
  if (policy == BufferPolicy::kInPlace) {
    storage_ = s.defined() ? s.to(device_) : torch::Tensor();
    size_ = s.defined() ? cap : 0;
    // Update counts are optional: checkpoints from before them load with counts unknown.
    torch::Tensor updates;
    updates_ = torch::Tensor();
    if (s.defined() && archive.try_read("updates", updates)) {
      TORCH_CHECK(updates.dim() == 1 && updates.size(0) == cap && updates.scalar_type() == torch::kLong,
                  "ReplayBuffer::load: 'updates' must be int64 [", cap, "], got ", updates.scalar_type(), " ", updates.sizes());
      updates_ = updates.to(device_);
    }
  } else {
    storage_ = torch::Tensor();
    if (size > 0) {
      ensure_allocated();
      storage_.slice(0, 0, size).copy_(s);
    }
    size_ = size;
  }
  next_ = next;
  seen_ = seen;
  refresh_view();
}

}  // namespace joule
