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
  virtual Batch next(int64_t batch_size, at::Generator& gen) = 0;
  virtual int64_t size() const = 0;
  virtual void save(torch::serialize::OutputArchive& archive) const {}
  virtual void load(torch::serialize::InputArchive& archive) {}
};

/// Epoch-shuffled minibatches over in-memory tensors x [N, ...] (and optional labels y [N]).
/// Each epoch is a fresh permutation drawn from the trainer's generator; a partial last batch is
/// dropped. The permutation and position are checkpointed, so a resumed run sees the same batches.
class TensorDataset : public DataSource {
 public:
  /// Rejects empty data and non-finite values (naming the first bad row).
  explicit TensorDataset(torch::Tensor x, torch::Tensor y = {});

  Batch next(int64_t batch_size, at::Generator& gen) override;
  int64_t size() const override { return x_.size(0); }
  int64_t epoch() const { return epoch_; }
  const torch::Tensor& x() const { return x_; }
  const torch::Tensor& y() const { return y_; }

  void save(torch::serialize::OutputArchive& archive) const override;
  void load(torch::serialize::InputArchive& archive) override;

 private:
  torch::Tensor x_, y_, perm_;
  int64_t pos_ = 0;
  int64_t epoch_ = 0;
};

/// Throws a clear error if `x` holds NaN or ±inf (naming `what` and the first bad row).
void check_finite(const torch::Tensor& x, const std::string& what);

}  // namespace joule::data
