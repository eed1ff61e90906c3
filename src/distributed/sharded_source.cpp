#include "joule/distributed/sharded_source.h"

#include <c10/util/Exception.h>

#include <mutex>

#include "joule/core/runtime.h"

namespace joule::distributed {

ShardedSource::ShardedSource(std::shared_ptr<data::DataSource> inner, int64_t rank, int64_t world, uint64_t seed)
    : inner_(std::move(inner)), rank_(rank), world_(world), gen_(make_generator(seed, torch::kCPU)) {
  TORCH_CHECK(inner_, "ShardedSource needs a data source");
  TORCH_CHECK(world_ >= 1 && rank_ >= 0 && rank_ < world_, "ShardedSource: rank ", rank_, " is not in 0..", world_ - 1);
}

Batch ShardedSource::next(int64_t batch_size, at::Generator&) {
  TORCH_CHECK(batch_size * world_ <= inner_->size(), "the global batch train.batch_size × processes = ", batch_size, " × ",
              world_, " = ", batch_size * world_, " is larger than the ", inner_->size(),
              " training examples; lower train.batch_size (it is per process) or use fewer processes");
  Batch global = inner_->next(batch_size * world_, gen_);
  if (world_ == 1) return global;
  Batch mine;
  mine.x = global.x.narrow(0, rank_ * batch_size, batch_size);
  if (global.y.defined()) mine.y = global.y.narrow(0, rank_ * batch_size, batch_size);
  return mine;
}

void ShardedSource::save(torch::serialize::OutputArchive& archive) const {
  // The wrapped source's entries stay where a one-process run reads them (joule eval, sample, or
  // resuming without --nproc), beside the shared data generator.
  inner_->save(archive);
  auto& gen = const_cast<at::Generator&>(gen_);
  std::lock_guard<std::mutex> lock(gen.mutex());
  archive.write("sharded_rng", gen.get_state());
}

void ShardedSource::load(torch::serialize::InputArchive& archive) {
  inner_->load(archive);
  torch::Tensor rng;
  // A checkpoint of a one-process run has no shared data generator: keep the seeded one.
  if (!archive.try_read("sharded_rng", rng)) return;
  std::lock_guard<std::mutex> lock(gen_.mutex());
  gen_.set_state(rng);
}

}  // namespace joule::distributed
