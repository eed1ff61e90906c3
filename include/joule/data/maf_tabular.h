#pragma once
// The five density-estimation tables of MAF (Papamakarios et al., arXiv:1705.07057 §4.2 and App.
// D), used by FFJORD, NAF, TAN and most flow papers since — POWER, GAS, HEPMASS, MINIBOONE and
// BSDS300 — read from the files MAF's data release ships, with the pre-processing of its loaders
// (maf/datasets/*.py, copied unchanged into ffjord/datasets/): column removal, the seeded noise
// of POWER, GAS's correlated-column filter, HEPMASS's signal rows and repeated-value filter, the
// tail splits and the standardisations (each table's own statistics and degrees of freedom).

#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <vector>

namespace joule::data {

/// A table in model space: float32 rows [N, D], standardised as the reference does.
struct MafTable {
  ///@{
  /// The training, validation and test rows [N, D].
  at::Tensor train, valid, test;
  ///@}
  int64_t raw_columns = 0;        ///< columns in the file
  std::vector<std::string> notes;  ///< what loading decided (dropped columns, rows kept)
};

/// "power", "gas", "hepmass", "miniboone", "bsds300".
const std::vector<std::string>& maf_table_names();

/// Reads one table. `path` is the file, or the folder holding it under its usual name:
///  - power: `data.npy` (float [N, 8], UCI's household power columns as MAF saved them). Rows
///    shuffled by np.random.RandomState(42), columns 3 and 1 dropped, uniform noise added from the
///    same generator (gap 0.001·U, voltage 0.01·U, sub-meters U, time 0); split by tails, then
///    standardised with train+validation mean and population std. D = 6.
///  - gas: `ethylene_CO.csv` — MAF ships a pandas pickle, which C++ cannot read; convert it once
///    with `python3 scripts/gas_pickle_to_csv.py ethylene_CO.pickle ethylene_CO.csv`. UCI's
///    whitespace-separated `ethylene_CO.txt` (header line, then Time, Methane, Ethylene and 16
///    sensors) is read too. Time, Meth and Eth dropped; while a column has a Pearson correlation
///    above 0.98 with another, the first such column is dropped; standardised with the mean and
///    sample std of all rows; then split by tails. D = 8 on MAF's file.
///  - hepmass: `1000_train.csv` and `1000_test.csv` (label first; the test file's extra last column
///    dropped). Signal rows (label 1) only; standardised with the training file's mean and sample
///    std; features whose smallest training value occurs more than 5 times dropped; the last 10%
///    of the training rows are validation. D = 21.
///  - miniboone: `data.npy` (float [N, 43] as MAF saved it). Split by tails, standardised with
///    train+validation mean and population std. D = 43.
///  - bsds300: `BSDS300.hdf5` with datasets train, validation and test (8×8 patches less one
///    pixel, D = 63), used as stored.
/// "Split by tails": the last ⌊0.1·N⌋ rows are test, the last ⌊0.1·rest⌋ of the others validation.
/// Errors name the file and what was expected; NaN or inf in a table is an error.
MafTable load_maf_table(const std::string& name, const std::string& path);

/// MAF's POWER pre-processing on the raw float64 [N, 8] array (shuffle, drop, noise, split,
/// standardise), exposed for tests.
MafTable maf_power(const at::Tensor& raw);

/// GAS's filter: the columns kept by repeatedly dropping the first column whose Pearson
/// correlation exceeds `threshold` with any other column (x: float64 [N, D]).
std::vector<int64_t> columns_without_correlated(const at::Tensor& x, double threshold = 0.98);

/// MAF's tail split of rows [N, D]: {train, valid, test}.
std::vector<at::Tensor> maf_tail_split(const at::Tensor& x);

/// MINIBOONE's pre-processing, for any table x [N, D]: the tail split, then z-scores with the
/// training + validation mean and population std (data.preprocess = "maf" for a user's CSV).
MafTable maf_split_and_standardise(const at::Tensor& x);

}  // namespace joule::data
