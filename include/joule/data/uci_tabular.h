#pragma once
// The semi-supervised tabular benchmarks of VERA (arXiv:2010.04230 §6.2) — HEPMASS, HUMAN (UCI
// HAR) and CROP — read from the files their publishers distribute, with the pre-processing of
// the paper's code (VERA:tabular/{hepmass,human,crop,utils}.py): the repeated-value feature
// filter, the splits (including numpy's seeded shuffle, reproduced exactly) and the
// training-statistics standardisation.

#include <ATen/ATen.h>
#include <torch/arg.h>

#include <cstdint>
#include <string>
#include <vector>

#include "joule/data/numpy_random.h"  // numpy_legacy_shuffle
#include "joule/data/split.h"

namespace joule::data {

/// Options for load_uci_table().
struct UciTableOptions {
  /// Drop features whose smallest training value occurs more than this many times (the
  /// reference's filter for HEPMASS and HUMAN, where such a value is a fill code); 0 keeps all.
  /// CROP is never filtered (its reference filter, |covariance| > 1.01, cannot fire on the file).
  TORCH_ARG(int64_t, drop_repeated) = 5;
  /// Validation rows: the last ⌊ratio·N⌋ training rows (after the shuffle, where there is one).
  TORCH_ARG(double, val_ratio) = 0.1;
  /// CROP only (it ships one file): the last ⌊ratio·N⌋ rows after the shuffle are the test split.
  TORCH_ARG(double, test_ratio) = 0.1;
  /// Seed of numpy's legacy shuffle (np.random.seed(seed); np.random.shuffle) of HUMAN's
  /// training rows and of all CROP rows.
  TORCH_ARG(uint32_t, shuffle_seed) = 1234;
  /// Standardise every split with the training mean and (population) standard deviation.
  TORCH_ARG(bool, standardize) = true;
};

/// One benchmark as load_uci_table() returns it.
struct UciTable {
  ///@{
  /// The training, validation and test rows: float32 features [N, D], int64 labels 0..C−1.
  Rows train, valid, test;
  ///@}
  std::vector<std::string> label_names;  ///< class names in label order
  int64_t raw_features = 0;             ///< features in the files
  int64_t dropped_features = 0;         ///< removed by the repeated-value filter
};

/// The names load_uci_table() knows: "hepmass", "human", "crop".
const std::vector<std::string>& uci_table_names();

/// Reads one benchmark from `dir`:
///  - hepmass: `1000_train.csv` and `1000_test.csv` (header row, label in the first column; the
///    test file's extra last column — the mass the training file lacks — is dropped, as the
///    reference does). Validation: the last 10% of the training file, unshuffled.
///  - human: `train/X_train.txt`, `train/y_train.txt`, `test/X_test.txt`, `test/y_test.txt`
///    (whitespace-separated, 561 features, labels 1–6 stored as 0–5). Training rows shuffled.
///  - crop: `WinnipegDataset.txt` (CSV with a header, `label` 1–7 first). All rows shuffled;
///    the last 10% are test, the last 10% of the rest validation.
/// Errors name the missing or malformed file and what was expected.
UciTable load_uci_table(const std::string& name, const std::string& dir, const UciTableOptions& options = {});

/// VERA's repeated-value filter (VERA:tabular/hepmass.py): the indices of the columns of x [N, D]
/// whose smallest value occurs at most `max_count` times (a minimum that repeats is mostly a fill
/// value). max_count <= 0 keeps every column.
at::Tensor columns_without_repeated_minimum(const at::Tensor& x, int64_t max_count);

}  // namespace joule::data
