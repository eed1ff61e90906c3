#pragma once
// The data the methods read, as option families with their loaders: points for the density
// methods (2-D toy sets or a CSV table: EBM, VERA) and labelled examples for the classifier
// methods (images or a CSV table with a label column: JEM, VERA-JEM).

#include <ATen/ATen.h>
#include <c10/util/Optional.h>

#include <string>
#include <vector>

#include "joule/config/options.h"
#include "joule/data/split.h"

namespace joule::methods {

/// [data] of the point-density methods.
struct PointDataConfig {
  /// Training data: a built-in 2-D toy set, csv (path), fashion-mnist / mnist as flattened 784-d
  /// vectors dequantised into [−1, 1] (for flows), or MAF's tables power, gas, hepmass, miniboone,
  /// bsds300 (path: the file or its folder).
  std::string dataset = "8gaussians";
  std::string path;         ///< the CSV file, the MAF table (file or folder), or the MNIST IDX folder
  int64_t n_train = 50000;  ///< training points drawn once from the generator (toy sets, MNIST)
  /// Held-out points for test NLL and MMD; csv: at most a fifth of the rows; MAF tables: the first
  /// n_test rows of the test split.
  int64_t n_test = 5000;
  std::string preprocess = "none";  ///< csv: "none" (random split, raw values) or "maf"
  /// Declares the [data] fields.
  void visit(config::Fields& f);
};

/// The points load_points() returns.
struct PointData {
  /// @{
  at::Tensor train, valid, test;  ///< [N, D] on the CPU
  /// @}
  c10::optional<double> entropy;  ///< the data's differential entropy, when known
  bool entropy_exact = false;     ///< whether `entropy` is exact (else an estimate)
  double extent = 4.0;  ///< half-width of a square holding the data (grids, plots)
  std::vector<std::string> notes;  ///< what loading decided (Method::notes)
};

/// A toy set drawn from the streams derive_seed(seed, 1) (train), 2 (test) and 6 (validation);
/// a CSV table split by data::split_rows with stream 2 (n_test = min(data.n_test, N/5) test rows
/// and as many validation rows) or, with preprocess = "maf", by MAF's tails and standardised; or
/// one of MAF's tables (data::load_maf_table) with its own splits, the test split cut to the
/// first n_test rows.
PointData load_points(const PointDataConfig& config, uint64_t seed);

/// [data] of the classifier methods.
struct LabelledDataConfig {
  /// fashion-mnist (Debian's copy, or path), mnist, cifar10, cifar100 (path: their files),
  /// synthetic-cifar10 (random images, for timing), csv (path), or VERA's tables hepmass, human, crop
  /// (path: the folder as distributed).
  std::string dataset = "fashion-mnist";
  std::string path;                 ///< folder with the IDX, CIFAR or HEPMASS/HUMAN/CROP files, or the CSV file
  int64_t n_train = 0;              ///< training examples (0 = all; otherwise a seeded random subset)
  int64_t n_test = 0;               ///< test examples for accuracy and calibration (0 = all)
  std::string label_column = "-1";  ///< csv: label column (name or 0-based index; −1 = last)
  double val_fraction = 0.1;        ///< csv: fraction of rows held out for validation (at most 0.9)
  double test_fraction = 0.2;       ///< csv: fraction of rows held out for testing (0.01 to 0.9)
  int64_t drop_repeated = -1;  ///< tables: drop features whose smallest training value occurs more often (0 = keep all, −1 = the table's own)
  int64_t synthetic_n = 2048;  ///< synthetic-cifar10: random CIFAR-shaped training images (at least 64)
  /// Declares the [data] fields.
  void visit(config::Fields& f);
};

/// The labelled examples load_labelled() returns.
struct LabelledData {
  /// @{
  data::Rows train, valid, test;  ///< model space: images in [−1, 1], tables standardised; `valid` empty when none
  /// @}
  std::vector<int64_t> event_shape;  ///< the shape of one example: [C, H, W] for images, [D] for tables
  int64_t classes = 0;               ///< number of classes: the largest label + 1 (at least 10 for images)
  int64_t dropped_features = 0;  ///< csv: features removed by drop_repeated
  std::vector<std::string> notes;  ///< what loading decided (Method::notes)
  /// Whether the examples are images (one or three channels).
  bool images() const { return event_shape.size() == 3 && (event_shape[0] == 1 || event_shape[0] == 3); }
};

/// Loads the dataset (Fashion-MNIST / MNIST IDX, CIFAR binaries, synthetic CIFAR-shaped images,
/// or a CSV table split by data::split_rows and standardised with the training statistics), then
/// keeps a seeded subset of n_train training rows and the first n_test test rows. All draws from `gen`.
LabelledData load_labelled(const LabelledDataConfig& config, at::Generator& gen);

/// The first `per_class` examples of each class in a seeded order (JEM's and VERA's labels_per_class);
/// `key` names the setting in the error when a class has fewer examples.
data::Rows labelled_subset(const data::Rows& train, int64_t per_class, int64_t classes, at::Generator& gen,
                           const std::string& key = "labels_per_class");

}  // namespace joule::methods
