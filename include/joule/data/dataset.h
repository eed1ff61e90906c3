#pragma once
// Minibatch sources for the trainer.

#include <ATen/ATen.h>
#include <torch/serialize/archive.h>

#include <cstdint>

#include "joule/core/batch.h"

namespace joule::data {

/// A source of training minibatches whose position is part of the checkpointed state.
class DataSource {
 public:
  virtual ~DataSource() = default;
  /// The next minibatch of `batch_size` examples; random choices come from `gen`.
  virtual Batch next(int64_t batch_size, at::Generator& gen) = 0;
  /// Number of examples N.
  virtual int64_t size() const = 0;
  /// Writes the source's position (for resuming). No-op by default.
  virtual void save(torch::serialize::OutputArchive& archive) const {}
  /// Restores the position written by save(). No-op by default.
  virtual void load(torch::serialize::InputArchive& archive) {}
};

/// Epoch-shuffled minibatches over in-memory tensors x [N, ...] (and optional labels y [N]).
/// Each epoch is a fresh permutation drawn from the trainer's generator; a partial last batch is
/// dropped. The permutation and position are checkpointed, so a resumed run sees the same batches.
class TensorDataset : public DataSource {
 public:
  /// Rejects empty data and non-finite values (naming the first bad row).
  explicit TensorDataset(torch::Tensor x, torch::Tensor y = {});

  /// The next batch_size (in [1, N]) rows of the current permutation; starts a new epoch (a fresh
  /// permutation from `gen`) when fewer rows than that are left.
  Batch next(int64_t batch_size, at::Generator& gen) override;
  /// Number of rows N.
  int64_t size() const override { return x_.size(0); }
  /// Index of the current epoch (0 during the first pass).
  int64_t epoch() const { return epoch_; }
  /// The data [N, ...].
  const torch::Tensor& x() const { return x_; }
  /// The labels [N]; undefined without labels.
  const torch::Tensor& y() const { return y_; }

  /// Writes the position, the epoch and the current permutation.
  void save(torch::serialize::OutputArchive& archive) const override;
  /// Restores the position, the epoch and the permutation written by save().
  void load(torch::serialize::InputArchive& archive) override;

 private:
  torch::Tensor x_, y_, perm_;
  int64_t pos_ = 0;
  int64_t epoch_ = 0;
};

/// Throws a clear error if `x` holds NaN or ±inf (naming `what` and the first bad row).
void check_finite(const torch::Tensor& x, const std::string& what);

}  // namespace joule::data
