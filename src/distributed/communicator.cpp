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
  o.validate();
  return o;
}

void DistributedOptions::validate() const {
  TORCH_CHECK(world_size >= 1, "WORLD_SIZE must be >= 1, got ", world_size);
  TORCH_CHECK(rank >= 0 && rank < world_size, "RANK must be in 0..WORLD_SIZE-1 = 0..", world_size - 1, ", got ", rank);
  TORCH_CHECK(master_port >= 1 && master_port <= 65535, "MASTER_PORT must be in 1..65535, got ", master_port);
  TORCH_CHECK(timeout_s > 0, "the distributed timeout must be > 0 seconds, got ", timeout_s);
  TORCH_CHECK(!master_addr.empty(), "MASTER_ADDR is empty");
}

#ifdef JOULE_WITH_GLOO
namespace {

class GlooCommunicator : public Communicator {
 public:
  explicit GlooCommunicator(const DistributedOptions& o) : options_(o) {
    const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(o.timeout_s * 1000));
    c10d::TCPStoreOptions so;
    so.port = static_cast<uint16_t>(o.master_port);
    so.isServer = o.rank == 0;
    so.numWorkers = static_cast<size_t>(o.world_size);
    so.waitWorkers = true;
    so.timeout = timeout;
    try {
      store_ = c10::make_intrusive<c10d::TCPStore>(o.master_addr, so);
    } catch (const std::exception& e) {
      TORCH_CHECK(false, "rank ", o.rank, " of ", o.world_size, " could not meet the other workers at ", o.master_addr, ":",
                  o.master_port, " within ", o.timeout_s, " s (", e.what(), "); check MASTER_ADDR/MASTER_PORT and that every "
                  "rank started");
    }
    auto go = c10d::ProcessGroupGloo::Options::create(timeout);
    const bool loopback = o.master_addr == "127.0.0.1" || o.master_addr == "localhost";
    go->devices.push_back(loopback ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                                   : c10d::ProcessGroupGloo::createDefaultDevice());
    go->threads = 1;  // one collective at a time; the trainer issues them in order
    try {
      group_ = c10::make_intrusive<c10d::ProcessGroupGloo>(store_, static_cast<int>(o.rank), static_cast<int>(o.world_size), go);
    } catch (const std::exception& e) {
      TORCH_CHECK(false, "rank ", o.rank, " of ", o.world_size, " could not form the Gloo process group: ", e.what());
    }
  }

  int64_t rank() const override { return options_.rank; }
  int64_t world_size() const override { return options_.world_size; }

  void all_reduce_sum(std::vector<at::Tensor>& tensors) override {
    for (auto& t : tensors) {
      std::vector<at::Tensor> one{t};
      wait(group_->allreduce(one), "an all-reduce");
    }
  }

  void broadcast(std::vector<at::Tensor>& tensors, int64_t root) override {
    c10d::BroadcastOptions bo;
    bo.rootRank = root;
    for (auto& t : tensors) {
      std::vector<at::Tensor> one{t};
      wait(group_->broadcast(one, bo), "a broadcast");
    }
  }

  std::vector<at::Tensor> all_gather(const at::Tensor& tensor) override {
    std::vector<at::Tensor> in{tensor.contiguous()};
    std::vector<std::vector<at::Tensor>> out(1);
    for (int64_t r = 0; r < world_size(); ++r) out[0].push_back(at::empty_like(in[0]));
    wait(group_->allgather(out, in), "an all-gather");
    return out[0];
  }

  void barrier() override { wait(group_->barrier(), "a barrier"); }

 private:
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
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group_;
};

}  // namespace

bool gloo_available() { return true; }
#else
bool gloo_available() { return false; }
#endif

std::shared_ptr<Communicator> connect(const DistributedOptions& options) {
  options.validate();
  if (options.world_size == 1) return std::make_shared<SingleProcess>();
#ifdef JOULE_WITH_GLOO
  return std::make_shared<GlooCommunicator>(options);
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
