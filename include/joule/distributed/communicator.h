#pragma once
// Data-parallel training across processes on torch's c10d: a TCPStore where the workers meet and
// a process group behind one small interface — Gloo (torch.distributed's CPU backend) or, in a
// CUDA build of LibTorch 2.x, NCCL for training on GPUs — so the trainer, the data sharding and the
// checkpoints never see c10d's headers (whose paths and class names moved between LibTorch versions).
//
//   auto comm = joule::distributed::connect(joule::distributed::DistributedOptions::from_environment());
//   method.trainer().set_communicator(comm);   // gradients all-reduced once per update, rank 0 writes

#include <ATen/ATen.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace joule::distributed {

/// Where a worker process stands in a data-parallel job and how it meets the others. The fields
/// mirror torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT).
struct DistributedOptions {
  int64_t rank = 0;        ///< this process, 0 .. world_size−1 (rank 0 hosts the store and writes)
  int64_t world_size = 1;  ///< number of worker processes (1 = not distributed)
  int64_t local_rank = 0;  ///< rank on this machine (picks the GPU with a CUDA build)
  std::string master_addr = "127.0.0.1";  ///< host of rank 0's TCPStore
  int64_t master_port = 29500;            ///< port of rank 0's TCPStore
  /// Seconds a collective or the rendezvous waits for the other workers before the job stops with
  /// an error naming what it waited for (a dead or hung worker).
  double timeout_s = 300;
  /// Process-group backend: "gloo", "nccl" (a CUDA build with NCCL, training on a GPU) or "auto"
  /// (NCCL when the rank trains on a GPU and the build has it, else Gloo), as torch.distributed
  /// picks its default backend.
  std::string backend = "auto";
  /// Reads RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT, JOULE_DIST_TIMEOUT (seconds)
  /// and JOULE_DIST_BACKEND; without WORLD_SIZE the result is a single process (world_size 1).
  /// Malformed values are errors naming the variable.
  static DistributedOptions from_environment();
  /// Throws unless 0 ≤ rank < world_size, the port is in 1..65535, the timeout is positive and the
  /// backend is auto, gloo or nccl.
  void validate() const;
};

/// The collectives data-parallel training needs. Every call is collective: all ranks make the
/// same calls in the same order with tensors of the same shapes, or the job stops at the timeout.
class Communicator {
 public:
  virtual ~Communicator() = default;
  /// This process's rank.
  virtual int64_t rank() const = 0;
  /// The number of processes.
  virtual int64_t world_size() const = 0;
  /// Sums each tensor over the ranks, in place (contiguous CPU or CUDA tensors).
  virtual void all_reduce_sum(std::vector<at::Tensor>& tensors) = 0;
  /// Replaces each tensor by rank `root`'s, in place.
  virtual void broadcast(std::vector<at::Tensor>& tensors, int64_t root = 0) = 0;
  /// Every rank's `tensor` (same shape on every rank), in rank order.
  virtual std::vector<at::Tensor> all_gather(const at::Tensor& tensor) = 0;
  /// Waits until every rank arrives.
  virtual void barrier() = 0;
  /// The device this rank trains on: the CPU, or with a GPU job its own GPU (cuda:LOCAL_RANK).
  virtual at::Device device() const { return at::kCPU; }
  /// The process-group backend: "single", "gloo" or "nccl".
  virtual std::string backend() const = 0;
  /// Whether this is rank 0, the one that writes run folders and checkpoints.
  bool is_main() const { return rank() == 0; }
};

/// One process: every collective is the identity.
class SingleProcess : public Communicator {
 public:
  int64_t rank() const override { return 0; }
  int64_t world_size() const override { return 1; }
  void all_reduce_sum(std::vector<at::Tensor>&) override {}
  void broadcast(std::vector<at::Tensor>&, int64_t) override {}
  std::vector<at::Tensor> all_gather(const at::Tensor& tensor) override { return {tensor}; }
  void barrier() override {}
  std::string backend() const override { return "single"; }
};

/// Whether this build has c10d's Gloo backend (the Debian LibTorch and the pip wheels do).
bool gloo_available();

/// Whether this build has c10d's NCCL backend (a CUDA LibTorch 2.x with NCCL, e.g. pip's wheels).
bool nccl_available();

/// The backend a rank training on `device` uses: `requested` ("gloo", "nccl" or "auto", which is
/// NCCL on a GPU when `nccl_built`, else Gloo). Throws, saying what to change, for NCCL on the CPU
/// or in a build without it.
std::string choose_backend(const std::string& requested, const at::Device& device, bool nccl_built);

/// The device of a rank: `device` itself unless it is a GPU without an index in a job of several
/// processes, which becomes cuda:(local_rank mod gpu_count), one GPU per process on a machine as
/// torchrun's LOCAL_RANK means it.
at::Device rank_device(const DistributedOptions& options, const at::Device& device, int64_t gpu_count);

/// Joins the job `options` describes for a rank training on `device` (resolved by rank_device):
/// rank 0 starts a TCPStore at master_addr:master_port, every rank connects and a process group of
/// the chosen backend forms (one per job). A world of 1 gives SingleProcess. Throws, naming the
/// address, when the workers do not all arrive within the timeout.
std::shared_ptr<Communicator> connect(const DistributedOptions& options, const at::Device& device = at::kCPU);

/// Variable-length bytes of every rank, in rank order (lengths first, then the padded bytes):
/// how each rank's chains and generator reach rank 0's checkpoint.
std::vector<std::string> all_gather_bytes(Communicator& comm, const std::string& bytes);

/// Sums flattened gradients over the ranks and divides by the world size: the mean gradient of
/// the global batch. Gradients are packed into buckets of at most `bucket_bytes` (one all-reduce
/// each), with `extra` scalars (e.g. a divergence flag) appended to the last bucket, so a step costs
/// as few collectives as the gradients' size allows. Undefined gradients count as zeros.
class GradientReducer {
 public:
  /// Reduces over `comm` in buckets of `bucket_bytes` (> 0; 25 MiB as Python's DDP).
  explicit GradientReducer(std::shared_ptr<Communicator> comm, int64_t bucket_bytes = 25 << 20);
  /// Replaces every parameter's gradient by its mean over the ranks; `extra` (float64 values)
  /// are summed over the ranks in the same collectives.
  void reduce(const std::vector<at::Tensor>& params, std::vector<double>& extra);
  /// Collectives issued so far (for benchmarks).
  int64_t collectives() const { return collectives_; }

 private:
  std::shared_ptr<Communicator> comm_;
  int64_t bucket_bytes_;
  int64_t collectives_ = 0;
};

}  // namespace joule::distributed
