#pragma once
// A data source split over the ranks of a data-parallel job.

#include <memory>

#include "joule/data/dataset.h"

namespace joule::distributed {

/// Every rank draws the same global batch of batch_size × world rows from the wrapped source,
/// with a generator of the run seed (identical on every rank, independent of the sampling
/// generator), and keeps rows [rank·batch_size, (rank+1)·batch_size). The ranks therefore see
/// disjoint slices of one epoch-shuffled order, and a one-process run of batch batch_size × world
/// sees exactly the same rows. Its position (the wrapped source's and the generator) is
/// checkpointed; resuming on another world size continues the same order with the new global batch.
class ShardedSource : public data::DataSource {
 public:
  /// Shards `inner` for `rank` of `world` ranks; `seed` seeds the shared data generator.
  ShardedSource(std::shared_ptr<data::DataSource> inner, int64_t rank, int64_t world, uint64_t seed);
  /// This rank's slice of the next global batch; `gen` (the rank's own generator) is not used.
  Batch next(int64_t batch_size, at::Generator& gen) override;
  /// The wrapped source's size N.
  int64_t size() const override { return inner_->size(); }
  /// Writes the wrapped source's position and the data generator.
  void save(torch::serialize::OutputArchive& archive) const override;
  /// Restores what save() wrote.
  void load(torch::serialize::InputArchive& archive) override;
  /// The wrapped source.
  data::DataSource& inner() { return *inner_; }

 private:
  std::shared_ptr<data::DataSource> inner_;
  int64_t rank_, world_;
  at::Generator gen_;
};

}  // namespace joule::distributed
