#pragma once
// A replay buffer of persistent chains (PCD / JEM / IGEBM / improved CD style).

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
  /// A Gaussian per class, with that class's mean and covariance, the class drawn uniformly and
  /// the state clamped to [init_low, init_high]: the informative initialisation of JEM++ (Yang &
  /// Ji, arXiv:2109.09032; upstream `JEMPP:train_jempp.py` init_random); needs fit_class_gaussians().
  kClassGaussian,
};
/// "uniform", "gaussian", "data", "class_gaussian"; fails otherwise.
BufferInit parse_buffer_init(const std::string& name);
std::string to_string(BufferInit init);  ///< the name parse_buffer_init() accepts

/// How states enter and leave the buffer.
enum class BufferPolicy {
  /// Fixed capacity, filled from the init distribution on first use; update() writes each chain
  /// back into the slot it was drawn from (PCD; JEM, Grathwohl et al. arXiv:1912.03263).
  kInPlace,
  /// Starts empty and grows; update() appends, overwriting the oldest state once full (IGEBM,
  /// arXiv:1903.08689; improved CD, arXiv:2012.01316; upstream ICD utils.py ReplayBuffer).
  kFifo,
  /// Starts empty and grows; once full, the i-th state ever offered replaces a uniformly random
  /// slot with probability capacity/i (Vitter's algorithm R, ACM TOMS 11(1) 1985), so the buffer
  /// is a uniform sample of all states offered so far (upstream ICD utils.py ReservoirBuffer).
  kReservoir,
};
BufferPolicy parse_buffer_policy(const std::string& name);  ///< "in_place", "fifo", "reservoir"
std::string to_string(BufferPolicy policy);  ///< the name parse_buffer_policy() accepts

/// Options for ReplayBuffer.
///
/// Example (JEM defaults):
///   joule::ReplayBuffer buffer(joule::ReplayBufferOptions(10000).reinit_prob(0.05)
///                                  .init(joule::BufferInit::kUniform), {3, 32, 32});
/// Example (improved CD: a growing FIFO of 8-bit images in [0, 1]):
///   joule::ReplayBuffer buffer(joule::ReplayBufferOptions(10000).policy(joule::BufferPolicy::kFifo)
///                                  .storage_bits(8).init_low(0).init_high(1), {3, 32, 32});
struct ReplayBufferOptions {
  /// A buffer of at most `capacity` chains; the other options keep their defaults.
  explicit ReplayBufferOptions(int64_t capacity = 10000) : capacity_(capacity) {}
  /// Fails unless capacity > 0, reinit_prob in [0, 1], init_low < init_high, init_std > 0,
  /// data_noise >= 0, storage_bits is 8 or 32 and quantize_low < quantize_high (finite).
  void validate() const;
  /// Number of chain slots (> 0).
  TORCH_ARG(int64_t, capacity);
  /// Probability that a drawn chain is replaced by a fresh one from the init distribution.
  TORCH_ARG(double, reinit_prob) = 0.05;
  /// Distribution of fresh chains.
  TORCH_ARG(BufferInit, init) = BufferInit::kUniform;
  /// Lower bound of the uniform init (< init_high).
  TORCH_ARG(double, init_low) = -1.0;
  /// Upper bound of the uniform init.
  TORCH_ARG(double, init_high) = 1.0;
  /// Mean of the Gaussian init.
  TORCH_ARG(double, init_mean) = 0.0;
  /// Standard deviation of the Gaussian init (> 0).
  TORCH_ARG(double, init_std) = 1.0;
  /// Standard deviation of the Gaussian noise added to data points by the data init (>= 0).
  TORCH_ARG(double, data_noise) = 0.0;
  /// How states enter and leave the buffer.
  TORCH_ARG(BufferPolicy, policy) = BufferPolicy::kInPlace;
  /// 32: float32 states. 8: one byte per element, a quarter of the memory: a state x is stored as
  /// the bin q = min(255, ⌊(clamp(x, lo, hi) − lo) / (hi − lo) · 256⌋) and read back as
  /// lo + (hi − lo)(q + u)/256 with u ~ U(0, 1) drawn from the caller's generator (dequantisation),
  /// so a read value lies in the bin of the written one: |x − read| < (hi − lo)/256 for x in
  /// [lo, hi] (values outside are clamped first). lo, hi = quantize_low, quantize_high.
  TORCH_ARG(int64_t, storage_bits) = 32;
  /// Lower end lo of the 8-bit storage range.
  TORCH_ARG(double, quantize_low) = 0.0;
  /// Upper end hi of the 8-bit storage range (> quantize_low).
  TORCH_ARG(double, quantize_high) = 1.0;
};

/// Store of chain states (Du & Mordatch, arXiv:1903.08689 §3.1), with one of three policies
/// (BufferPolicy) and float32 or 8-bit storage. Saved with the trainer's checkpoints so that
/// resuming continues the same chains.
///
/// Random draws: every call that reads stored 8-bit states draws the dequantisation noise from
/// its generator right after choosing the slots; 32-bit reads draw nothing, so the default
/// (in-place, 32-bit) buffer draws exactly what it always did.
class ReplayBuffer {
 public:
  /// A buffer of states of shape `event_shape` (non-empty) on `device`; validates `options`.
  /// Nothing is allocated until the first draw or write.
  ReplayBuffer(ReplayBufferOptions options, std::vector<int64_t> event_shape,
               torch::Device device = torch::kCPU);

  /// Data used by BufferInit::kData (kept by reference, not copied; not checkpointed).
  void set_data(torch::Tensor data);
  /// Fits BufferInit::kClassGaussian to labelled data: for each class c of `labels` [N] (int64 in
  /// [0, K)), the mean μ_c and covariance Σ_c of its rows of `data` [N, event_shape...], in float64
  /// (one class at a time; the factors are kept in float32).
  /// A fresh chain then draws c uniformly (of the classes present) and starts at μ_c + L_c z, z ~ N(0, I),
  /// L_c L_cᵀ = Σ_c + εI (ε = 10⁻⁴ of Σ_c's mean variance, raised until the factorisation succeeds:
  /// constant pixels make Σ_c singular), clamped to [init_low, init_high]. Keeps K·D² floats
  /// (D = the event size; refused above 1 GiB). Not checkpointed: fit again before resuming.
  void fit_class_gaussians(const torch::Tensor& data, const torch::Tensor& labels);

  /// In-place buffers: the class each slot's chain is meant to show, `classes` [capacity] int64
  /// (e.g. JEM's p(x|y) class buckets, PersistentChains with num_classes). Fresh chains in a slot,
  /// at the first fill and at every restart of sample() and sample_at(), then start from
  /// init_samples(classes of their slots): with init = class_gaussian, at their own class's
  /// Gaussian; every other init draws exactly what it draws without slot classes.
  void set_slot_classes(const torch::Tensor& classes);
  /// The slot classes (undefined unless set_slot_classes() was called).
  const torch::Tensor& slot_classes() const { return slot_classes_; }

  /// What sample() and sample_at() return.
  struct Draw {
    torch::Tensor x;        ///< [n, ...] float starting states (a fresh tensor, safe to modify)
    torch::Tensor indices;  ///< [n] int64 slots they came from; −1 for a state not read from the buffer
    torch::Tensor reinit;   ///< [n] bool, true where a fresh chain replaced the stored one
  };
  /// Draws n ≤ capacity starting states.
  /// In-place: n distinct slots (the buffer is filled from the init distribution on first use),
  /// each replaced by a fresh chain with probability reinit_prob.
  /// FIFO / reservoir: while fewer than n states are stored, all n are fresh from the init
  /// distribution (reinit all true, indices −1; only init_samples draws); otherwise as in-place,
  /// over the size() stored states.
  Draw sample(int64_t n, c10::optional<at::Generator> gen = c10::nullopt);
  /// Draws the given slots [n] (e.g. one class's bucket for JEM's p(x|y) chains) and applies
  /// reinitialisation as sample() does. Slots should be distinct, or write-back keeps one chain.
  /// FIFO / reservoir: slots must be < size().
  Draw sample_at(const torch::Tensor& indices, c10::optional<at::Generator> gen = c10::nullopt);
  /// Stores chain states x [B, ...].
  /// In-place: writes them back into `indices` [B] (the slots they were drawn from); needs a
  /// sample() first. gen is unused.
  /// FIFO / reservoir: `indices` is ignored (pass a Draw's indices or anything) and x is offered
  /// row by row: FIFO appends, overwriting the oldest once full (of B > capacity rows only the
  /// last capacity are kept); reservoir appends while not full, then applies algorithm R, drawing
  /// one uniform per row offered to a full buffer from gen (the default generator if none).
  void update(const torch::Tensor& indices, const torch::Tensor& x, c10::optional<at::Generator> gen = c10::nullopt);
  /// Replaces the stored states (PersistentChains::initialize / set_states / advance_all).
  /// In-place: `states` [capacity, ...]; a 32-bit buffer keeps the tensor itself (no copy).
  /// `advanced`: the states are the stored chains moved on by one run, so each slot's update
  /// count grows by one; otherwise they are new chains and the counts restart at 0.
  /// FIFO / reservoir: `states` [m, ...], 1 ≤ m ≤ capacity, copied in; with m == size() the
  /// ring position and seen count are kept (a rewrite of the current chains), otherwise the buffer
  /// restarts holding just these m states (ring position m mod capacity, seen = m).
  void set_storage(const torch::Tensor& states, bool advanced = false);
  /// n fresh states from the init distribution.
  torch::Tensor init_samples(int64_t n, c10::optional<at::Generator> gen = c10::nullopt) const;
  /// Fresh states for chains meant to show `classes` [n] (int64), e.g. class-conditional
  /// samples: with BufferInit::kClassGaussian row i starts at a draw of class classes[i]'s
  /// Gaussian (a class absent from the fitted data is an error), so a chain for class c does not
  /// start at another class's images; every other init ignores the classes and draws exactly
  /// what init_samples(n, gen) draws.
  torch::Tensor init_samples(const torch::Tensor& classes, c10::optional<at::Generator> gen = c10::nullopt) const;
  /// n distinct stored states, read without reinitialisation (8-bit: dequantised with noise from
  /// gen), e.g. the reference set of a nearest-neighbour entropy term. Needs 1 ≤ n ≤ size().
  torch::Tensor stored(int64_t n, at::Generator& gen) const;

  /// The raw stored states [size(), ...]: float32 for 32-bit storage (the chains themselves; in
  /// place, writes to it change the buffer), uint8 bin codes for 8-bit storage (see states()).
  /// Undefined while nothing is stored (in-place: until the first sample()).
  const torch::Tensor& storage() const { return options_.policy() == BufferPolicy::kInPlace ? storage_ : view_; }
  /// The stored states as float [size(), ...]: storage() itself for 32-bit storage, a new tensor of
  /// bin centres lo + (hi − lo)(q + ½)/256 for 8-bit (deterministic, no noise). Undefined while
  /// nothing is stored.
  torch::Tensor states() const;
  /// In-place buffers: how many chain runs each slot's state has had since it started fresh,
  /// [capacity] int64 on the buffer's device. update() adds one to each slot written back, a draw
  /// that reinitialises a slot resets it to 0 (the fresh chain has had no run yet), set_storage()
  /// adds one (advanced) or resets all. Used to tell mature chains from just-restarted ones
  /// (ReplayBuffer::mature_slots). Undefined for FIFO / reservoir buffers (their states move
  /// between slots), before the first draw, and after loading a checkpoint saved without counts.
  const torch::Tensor& updates() const { return updates_; }
  /// Slots [k] (int64, ascending) whose chains have had at least `min_updates` runs. All slots
  /// when update counts are unknown (see updates()) or min_updates <= 0; FIFO / reservoir
  /// buffers: [0, size()).
  torch::Tensor mature_slots(int64_t min_updates) const;
  /// States stored: 0 until the first write, at most capacity (in-place: capacity once filled).
  int64_t size() const { return size_; }
  /// States ever offered to a FIFO / reservoir buffer (algorithm R's i); 0 for in-place.
  int64_t seen() const { return seen_; }
  int64_t capacity() const { return options_.capacity(); }  ///< options().capacity
  const std::vector<int64_t>& event_shape() const { return event_shape_; }  ///< shape of one state
  const ReplayBufferOptions& options() const { return options_; }  ///< the options given at construction

  /// Checkpoint keys: "capacity", "filled", "storage" (raw, [size(), ...]; the format before
  /// policies, which still loads into an in-place 32-bit buffer), "policy" (0 in_place, 1 fifo,
  /// 2 reservoir), "storage_bits", "quantize_range" ([lo, hi] float64), "size", "next", "seen",
  /// and "updates" (in-place, when known; older checkpoints load without it).
  void save(torch::serialize::OutputArchive& archive) const;
  /// Errors if the checkpoint's capacity, policy, storage bits or (8-bit) range differ from this
  /// buffer's.
  void load(torch::serialize::InputArchive& archive);

 private:
  void ensure_filled(c10::optional<at::Generator> gen);
  void ensure_allocated();
  void refresh_view();
  void count_draw(const Draw& draw);
  void check_states(const torch::Tensor& x, const char* fn) const;
  torch::Tensor encode(const torch::Tensor& x) const;
  torch::Tensor class_gaussian_draw(const torch::Tensor& classes, c10::optional<at::Generator> gen) const;
  torch::Tensor read(const torch::Tensor& indices, c10::optional<at::Generator> gen) const;
  Draw reinitialise(torch::Tensor x, torch::Tensor indices, c10::optional<at::Generator> gen) const;
  void append_fifo(const torch::Tensor& enc);
  void append_reservoir(const torch::Tensor& enc, c10::optional<at::Generator> gen);

  ReplayBufferOptions options_;
  std::vector<int64_t> event_shape_;
  torch::Device device_;
  torch::Tensor storage_;  ///< in-place: [capacity, ...]; FIFO / reservoir: [capacity, ...] allocated on first write
  torch::Tensor view_;     ///< FIFO / reservoir: storage_ rows [0, size_), undefined while empty
  torch::Tensor updates_;  ///< in-place: [capacity] int64 runs per slot since its chain started (see updates())
  torch::Tensor data_;
  torch::Tensor slot_classes_;   ///< in-place: [capacity] int64 class of each slot's chains (set_slot_classes), or undefined
  torch::Tensor class_weights_;  ///< kClassGaussian: [K] probability of each class (uniform over those present)
  torch::Tensor class_means_;    ///< kClassGaussian: [K, D] μ_c
  torch::Tensor class_factors_;  ///< kClassGaussian: [K, D, D] L_c
  int64_t size_ = 0;
  int64_t next_ = 0;  ///< FIFO ring position: the slot the next state goes to
  int64_t seen_ = 0;
};

}  // namespace joule
