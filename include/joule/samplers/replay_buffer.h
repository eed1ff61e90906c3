#pragma once
// A replay buffer of persistent chains (PCD / JEM / IGEBM style).

#include <ATen/ATen.h>
#include <c10/util/Optional.h>
#include <torch/arg.h>
#include <torch/serialize/archive.h>

#include <string>
#include <vector>

namespace joule {

/// Where fresh chains start.
enum class BufferInit {
  kUniform,   ///< U(init_low, init_high) per element (JEM: U(−1, 1))
  kGaussian,  ///< N(init_mean, init_std²)
  kData,      ///< a random data point plus N(0, data_noise²); needs set_data()
};
BufferInit parse_buffer_init(const std::string& name);
std::string to_string(BufferInit init);

/// Options for ReplayBuffer.
///
/// Example (JEM defaults):
///   joule::ReplayBuffer buffer(joule::ReplayBufferOptions(10000).reinit_prob(0.05)
///                                  .init(joule::BufferInit::kUniform), {3, 32, 32});
struct ReplayBufferOptions {
  explicit ReplayBufferOptions(int64_t capacity = 10000) : capacity_(capacity) {}
  void validate() const;
  TORCH_ARG(int64_t, capacity);
  /// Probability that a drawn chain is replaced by a fresh one from the init distribution.
  TORCH_ARG(double, reinit_prob) = 0.05;
  TORCH_ARG(BufferInit, init) = BufferInit::kUniform;
  TORCH_ARG(double, init_low) = -1.0;
  TORCH_ARG(double, init_high) = 1.0;
  TORCH_ARG(double, init_mean) = 0.0;
  TORCH_ARG(double, init_std) = 1.0;
  TORCH_ARG(double, data_noise) = 0.0;
};

/// Fixed-capacity store of chain states with in-place write-back at the drawn indices
/// (Du & Mordatch, arXiv:1903.08689 §3.1). It is filled from the init distribution on first use and
/// saved with the trainer's checkpoints so that resuming continues the same chains.
class ReplayBuffer {
 public:
  ReplayBuffer(ReplayBufferOptions options, std::vector<int64_t> event_shape,
               torch::Device device = torch::kCPU);

  /// Data used by BufferInit::kData (kept by reference, not copied; not checkpointed).
  void set_data(torch::Tensor data);

  struct Draw {
    torch::Tensor x;        ///< [n, ...] starting states (a fresh tensor, safe to modify)
    torch::Tensor indices;  ///< [n] int64 slots they came from
    torch::Tensor reinit;   ///< [n] bool, true where a fresh chain replaced the stored one
  };
  /// Draws n distinct slots (n ≤ capacity) and applies reinitialisation.
  Draw sample(int64_t n, c10::optional<at::Generator> gen = c10::nullopt);
  /// Draws the given slots [n] (e.g. one class's bucket for JEM's p(x|y) chains) and applies
  /// reinitialisation as sample() does. Slots should be distinct, or write-back keeps one chain.
  Draw sample_at(const torch::Tensor& indices, c10::optional<at::Generator> gen = c10::nullopt);
  /// Writes chain states back into their slots.
  void update(const torch::Tensor& indices, const torch::Tensor& x);
  /// Replaces every stored state: `states` [capacity, ...] (PersistentChains::initialize).
  void set_storage(const torch::Tensor& states);
  /// n fresh states from the init distribution.
  torch::Tensor init_samples(int64_t n, c10::optional<at::Generator> gen = c10::nullopt) const;

  /// The stored states [capacity, ...]; undefined until the first sample().
  const torch::Tensor& storage() const { return storage_; }
  int64_t capacity() const { return options_.capacity(); }
  const std::vector<int64_t>& event_shape() const { return event_shape_; }
  const ReplayBufferOptions& options() const { return options_; }

  void save(torch::serialize::OutputArchive& archive) const;
  void load(torch::serialize::InputArchive& archive);

 private:
  void ensure_filled(c10::optional<at::Generator> gen);

  ReplayBufferOptions options_;
  std::vector<int64_t> event_shape_;
  torch::Device device_;
  torch::Tensor storage_;
  torch::Tensor data_;
};

}  // namespace joule
