#include "joule/distributed/communicator.h"

#include <c10/util/Exception.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <map>
#include <string>

#ifdef JOULE_WITH_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif
#ifdef JOULE_WITH_NCCL
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

namespace joule::distributed {
namespace {

int64_t env_int(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  const long long x = std::strtoll(v, &end, 10);
  TORCH_CHECK(end && *end == '\0', "environment variable ", name, "='", v, "' is not an integer");
  return x;
}

}  // namespace

DistributedOptions DistributedOptions::from_environment() {
  DistributedOptions o;
  o.world_size = env_int("WORLD_SIZE", 1);
  o.rank = env_int("RANK", 0);
  o.local_rank = env_int("LOCAL_RANK", o.rank);
  if (const char* a = std::getenv("MASTER_ADDR"); a && *a) o.master_addr = a;
  o.master_port = env_int("MASTER_PORT", o.master_port);
  if (const char* t = std::getenv("JOULE_DIST_TIMEOUT"); t && *t) {
    char* end = nullptr;
    o.timeout_s = std::strtod(t, &end);
    TORCH_CHECK(end && *end == '\0', "environment variable JOULE_DIST_TIMEOUT='", t, "' is not a number of seconds");
  }
  if (const char* b = std::getenv("JOULE_DIST_BACKEND"); b && *b) o.backend = b;
  o.validate();
  return o;
}

void DistributedOptions::validate() const {
  TORCH_CHECK(world_size >= 1, "WORLD_SIZE must be >= 1, got ", world_size);
  TORCH_CHECK(rank >= 0 && rank < world_size, "RANK must be in 0..WORLD_SIZE-1 = 0..", world_size - 1, ", got ", rank);
  TORCH_CHECK(master_port >= 1 && master_port <= 65535, "MASTER_PORT must be in 1..65535, got ", master_port);
  TORCH_CHECK(timeout_s > 0, "the distributed timeout must be > 0 seconds, got ", timeout_s);
  TORCH_CHECK(!master_addr.empty(), "MASTER_ADDR is empty");
  TORCH_CHECK(backend == "auto" || backend == "gloo" || backend == "nccl", "JOULE_DIST_BACKEND='", backend,
              "' is not a backend (allowed: auto, gloo, nccl)");
}

std::string choose_backend(const std::string& requested, const at::Device& device, bool nccl_built) {
  if (requested == "gloo") return "gloo";
  if (requested == "auto") return device.is_cuda() && nccl_built ? "nccl" : "gloo";
  TORCH_CHECK(requested == "nccl", "unknown distributed backend '", requested, "' (allowed: auto, gloo, nccl)");
  TORCH_CHECK(nccl_built, "JOULE_DIST_BACKEND=nccl, but this Joule was built without c10d's NCCL backend (it needs a CUDA "
                          "build of LibTorch 2.x with NCCL, e.g. scripts/torch_cuda.sh); use gloo or auto");
  TORCH_CHECK(device.is_cuda(), "JOULE_DIST_BACKEND=nccl reduces on GPUs, but this rank trains on ", device.str(),
              "; set run.device=cuda (or auto on a GPU machine), or use the gloo backend");
  return "nccl";
}

at::Device rank_device(const DistributedOptions& options, const at::Device& device, int64_t gpu_count) {
  if (!device.is_cuda() || device.has_index() || options.world_size == 1) return device;
  TORCH_CHECK(gpu_count > 0, "rank ", options.rank, " was asked to train on a GPU, but none is visible");
  return at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(options.local_rank % gpu_count));
}

#ifdef JOULE_WITH_GLOO
namespace {

c10::intrusive_ptr<c10d::Store> meet(const DistributedOptions& o) {
  c10d::TCPStoreOptions so;
  so.port = static_cast<uint16_t>(o.master_port);
  so.isServer = o.rank == 0;
  so.numWorkers = static_cast<size_t>(o.world_size);
  so.waitWorkers = true;
  so.timeout = std::chrono::milliseconds(static_cast<int64_t>(o.timeout_s * 1000));
  try {
    return c10::make_intrusive<c10d::TCPStore>(o.master_addr, so);
  } catch (const std::exception& e) {
    TORCH_CHECK(false, "rank ", o.rank, " of ", o.world_size, " could not meet the other workers at ", o.master_addr, ":",
                o.master_port, " within ", o.timeout_s, " s (", e.what(), "); check MASTER_ADDR/MASTER_PORT and that every "
                "rank started");
  }
}

// The collectives on one c10d process group (Gloo's or NCCL's: the same calls). Tensors that are
// not on the group's device (a CPU tensor under NCCL: the checkpoint's chains and generators) go
// there and back, so callers never need to know the backend.
template <class Group>
class ProcessGroupCommunicator : public Communicator {
 public:
  ProcessGroupCommunicator(const DistributedOptions& o, std::string backend, at::Device device,
                           c10::intrusive_ptr<c10d::Store> store, c10::intrusive_ptr<Group> group)
      : options_(o), backend_(std::move(backend)), device_(device), store_(std::move(store)), group_(std::move(group)) {}

  int64_t rank() const override { return options_.rank; }
  int64_t world_size() const override { return options_.world_size; }
  at::Device device() const override { return device_; }
  std::string backend() const override { return backend_; }

  void all_reduce_sum(std::vector<at::Tensor>& tensors) override {
    for (auto& t : tensors) {
      std::vector<at::Tensor> one{on_group(t)};
      wait(group_->allreduce(one), "an all-reduce");
      if (!one[0].is_same(t)) t.copy_(one[0]);
    }
  }

  void broadcast(std::vector<at::Tensor>& tensors, int64_t root) override {
    c10d::BroadcastOptions bo;
    bo.rootRank = root;
    for (auto& t : tensors) {
      std::vector<at::Tensor> one{on_group(t)};
      wait(group_->broadcast(one, bo), "a broadcast");
      if (!one[0].is_same(t)) t.copy_(one[0]);
    }
  }

  std::vector<at::Tensor> all_gather(const at::Tensor& tensor) override {
    std::vector<at::Tensor> in{on_group(tensor.contiguous())};
    std::vector<std::vector<at::Tensor>> out(1);
    for (int64_t r = 0; r < world_size(); ++r) out[0].push_back(at::empty_like(in[0]));
    wait(group_->allgather(out, in), "an all-gather");
    if (in[0].device() != tensor.device()) {
      for (auto& t : out[0]) t = t.to(tensor.device());
    }
    return out[0];
  }

  void barrier() override { wait(group_->barrier(), "a barrier"); }

 private:
  at::Tensor on_group(const at::Tensor& t) const {
    return device_.is_cuda() && !t.is_cuda() ? t.to(device_) : t;
  }

  void wait(const c10::intrusive_ptr<c10d::Work>& work, const char* what) {
    try {
      work->wait();
    } catch (const std::exception& e) {
      TORCH_CHECK(false, "rank ", options_.rank, " of ", options_.world_size, ": ", what,
                  " with the other workers failed (a worker died, or hung past the ", options_.timeout_s,
                  " s timeout, JOULE_DIST_TIMEOUT): ", e.what());
    }
  }

  DistributedOptions options_;
  std::string backend_;
  at::Device device_;
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<Group> group_;
};

std::shared_ptr<Communicator> connect_gloo(const DistributedOptions& o, const at::Device& device) {
  auto store = meet(o);
  auto go = c10d::ProcessGroupGloo::Options::create(std::chrono::milliseconds(static_cast<int64_t>(o.timeout_s * 1000)));
  const bool loopback = o.master_addr == "127.0.0.1" || o.master_addr == "localhost";
  go->devices.push_back(loopback ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                                 : c10d::ProcessGroupGloo::createDefaultDevice());
  go->threads = 1;  // one collective at a time; the trainer issues them in order
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
  try {
    group = c10::make_intrusive<c10d::ProcessGroupGloo>(store, static_cast<int>(o.rank), static_cast<int>(o.world_size), go);
  } catch (const std::exception& e) {
    TORCH_CHECK(false, "rank ", o.rank, " of ", o.world_size, " could not form the Gloo process group: ", e.what());
  }
  // Gloo reduces CUDA tensors too (through host memory) in a CUDA build; the rank keeps its device.
  return std::make_shared<ProcessGroupCommunicator<c10d::ProcessGroupGloo>>(o, "gloo", device, store, group);
}

#ifdef JOULE_WITH_NCCL
std::shared_ptr<Communicator> connect_nccl(const DistributedOptions& o, const at::Device& device) {
  // NCCL picks each collective's GPU from its tensors and a rank's default from the current
  // device: make that this rank's GPU before the group forms.
  c10::cuda::set_device(device.index());
  auto store = meet(o);
  auto options = c10d::ProcessGroupNCCL::Options::create();
  // NCCL's wait() only orders streams; the watchdog thread aborts a collective that a dead or hung
  // rank never joins after this timeout, and the error surfaces at the next wait or host copy.
  options->timeout = std::chrono::milliseconds(static_cast<int64_t>(o.timeout_s * 1000));
  c10::intrusive_ptr<c10d::ProcessGroupNCCL> group;
  try {
    group = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, static_cast<int>(o.rank), static_cast<int>(o.world_size), options);
  } catch (const std::exception& e) {
    TORCH_CHECK(false, "rank ", o.rank, " of ", o.world_size, " could not form the NCCL process group on ", device.str(), ": ",
                e.what());
  }
  return std::make_shared<ProcessGroupCommunicator<c10d::ProcessGroupNCCL>>(o, "nccl", device, store, group);
}
#endif

}  // namespace

bool gloo_available() { return true; }
#else
bool gloo_available() { return false; }
#endif

#ifdef JOULE_WITH_NCCL
bool nccl_available() { return true; }
#else
bool nccl_available() { return false; }
#endif

std::shared_ptr<Communicator> connect(const DistributedOptions& options, const at::Device& device) {
  options.validate();
  if (options.world_size == 1) return std::make_shared<SingleProcess>();
  const std::string backend = choose_backend(options.backend, device, nccl_available());
#ifdef JOULE_WITH_NCCL
  if (backend == "nccl") return connect_nccl(options, device);
#endif
#ifdef JOULE_WITH_GLOO
  return connect_gloo(options, device);
#else
  TORCH_CHECK(false, "this Joule was built without c10d's Gloo backend (gloo headers missing at build time); install "
                     "libgloo-dev and rebuild to train with WORLD_SIZE > 1");
#endif
}

std::vector<std::string> all_gather_bytes(Communicator& comm, const std::string& bytes) {
  if (comm.world_size() == 1) return {bytes};
  auto length = at::tensor({static_cast<int64_t>(bytes.size())}, at::kLong);
  const auto lengths = comm.all_gather(length);
  int64_t longest = 0;
  for (const auto& l : lengths) longest = std::max(longest, l.item<int64_t>());
  auto padded = at::zeros({std::max<int64_t>(longest, 1)}, at::kByte);
  std::copy(bytes.begin(), bytes.end(), padded.data_ptr<uint8_t>());
  const auto all = comm.all_gather(padded);
  std::vector<std::string> out;
  for (size_t r = 0; r < all.size(); ++r) {
    const auto* p = reinterpret_cast<const char*>(all[r].data_ptr<uint8_t>());
    out.emplace_back(p, p + lengths[r].item<int64_t>());
  }
  return out;
}

GradientReducer::GradientReducer(std::shared_ptr<Communicator> comm, int64_t bucket_bytes)
    : comm_(std::move(comm)), bucket_bytes_(bucket_bytes) {
  TORCH_CHECK(comm_, "GradientReducer needs a communicator");
  TORCH_CHECK(bucket_bytes_ > 0, "GradientReducer: bucket_bytes must be > 0, got ", bucket_bytes_);
}

void GradientReducer::reduce(const std::vector<at::Tensor>& params, std::vector<double>& extra) {
  const int64_t world = comm_->world_size();
  if (world == 1) return;
  // Buckets of consecutive parameters of one dtype and device, each flattened into one tensor.
  struct Bucket {
    std::vector<size_t> members;
    int64_t numel = 0;
  };
  std::vector<Bucket> buckets;
  for (size_t i = 0; i < params.size(); ++i) {
    const auto& p = params[i];
    const int64_t bytes = p.numel() * static_cast<int64_t>(p.element_size());
    bool fits = !buckets.empty();
    if (fits) {
      const auto& first = params[buckets.back().members.front()];
      fits = first.scalar_type() == p.scalar_type() && first.device() == p.device() &&
             (buckets.back().numel * static_cast<int64_t>(first.element_size()) + bytes <= bucket_bytes_);
    }
    if (!fits) buckets.emplace_back();
    buckets.back().members.push_back(i);
    buckets.back().numel += p.numel();
  }
  if (buckets.empty()) buckets.emplace_back();  // a group without parameters still agrees on `extra`
  const double scale = 1.0 / static_cast<double>(world);
  for (size_t b = 0; b < buckets.size(); ++b) {
    const bool last = b + 1 == buckets.size();
    const auto& bucket = buckets[b];
    const auto options = bucket.members.empty() ? at::TensorOptions().dtype(at::kDouble)
                                                : params[bucket.members.front()].options();
    auto flat = at::empty({bucket.numel + (last ? static_cast<int64_t>(extra.size()) : 0)}, options);
    int64_t at = 0;
    for (size_t i : bucket.members) {
      const auto& p = params[i];
      auto slot = flat.narrow(0, at, p.numel());
      if (p.grad().defined()) {
        slot.copy_(p.grad().reshape(-1));
      } else {
        slot.zero_();
      }
      at += p.numel();
    }
    if (last && !extra.empty()) {
      auto values = at::tensor(extra, at::TensorOptions().dtype(at::kDouble));
      flat.narrow(0, at, values.numel()).copy_(values);
    }
    std::vector<at::Tensor> one{flat};
    comm_->all_reduce_sum(one);
    ++collectives_;
    at = 0;
    for (size_t i : bucket.members) {
      auto& p = params[i];
      auto mean = flat.narrow(0, at, p.numel()).view(p.sizes()).mul_(scale);
      if (p.grad().defined()) {
        p.mutable_grad().copy_(mean);
      } else {
        const_cast<at::Tensor&>(p).mutable_grad() = mean.clone();
      }
      at += p.numel();
    }
    if (last && !extra.empty()) {
      auto summed = flat.narrow(0, at, static_cast<int64_t>(extra.size())).to(at::kDouble).cpu();
      for (size_t k = 0; k < extra.size(); ++k) extra[k] = summed[static_cast<int64_t>(k)].item<double>();
    }
  }
}

}  // namespace joule::distributed
