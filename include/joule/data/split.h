#pragma once
// The one way Joule splits a table or an image set into training, validation and test rows.

#include <ATen/ATen.h>

#include <cstdint>

namespace joule::data {

/// Rows x [N, ...] with optional labels y [N].
struct Rows {
  ///@{
  /// The rows x [N, ...] and labels y [N] (y undefined without labels).
  at::Tensor x, y;
  ///@}
  /// Number of rows N (0 when x is undefined).
  int64_t size() const { return x.defined() ? x.size(0) : 0; }
  /// The rows at `indices` (int64 [n]).
  Rows select(const at::Tensor& indices) const;
  /// Rows [begin, end).
  Rows slice(int64_t begin, int64_t end) const;
};

/// A seeded three-way split.
struct RowSplit {
  ///@{
  /// The training, validation and test rows.
  Rows train, valid, test;
  ///@}
};

/// One permutation of the N rows drawn from `gen`: the test rows are its first n_test entries,
/// the validation rows the next n_valid, the training rows the rest (so a split with
/// n_test = 0 keeps the same validation rows, and growing n_valid only moves training rows).
/// Errors if fewer than `min_train` training rows remain.
RowSplit split_rows(const Rows& all, int64_t n_valid, int64_t n_test, at::Generator& gen, int64_t min_train = 1);

}  // namespace joule::data
