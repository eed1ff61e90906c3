#pragma once
// Readers for the binary versions of CIFAR-10 and CIFAR-100 (Krizhevsky 2009,
// https://www.cs.toronto.edu/~kriz/cifar.html, "binary version").
//
// CIFAR-10: each record is 1 label byte (0–9) and 3072 pixel bytes: the 1024 red values of the
// 32×32 image in row-major order, then 1024 green, then 1024 blue. Files data_batch_1.bin …
// data_batch_5.bin (train) and test_batch.bin, in cifar-10-batches-bin/.
// CIFAR-100: each record is a coarse label byte (0–19), a fine label byte (0–99), then the
// same 3072 pixel bytes. Files train.bin and test.bin, in cifar-100-binary/.

#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "joule/data/idx.h"

namespace joule::data {

/// Which CIFAR dataset (they differ in record layout).
enum class CifarKind {
  kCifar10,  ///< 10 classes, one label byte per record
  kCifar100  ///< 100 fine / 20 coarse classes, two label bytes per record
};

/// Reads one CIFAR binary file: images [N, 3, 32, 32] float32 in [0, 1], labels [N] int64
/// (CIFAR-100: fine labels, or the 20 coarse ones with `coarse`). A missing file, a size that
/// is not a whole number of records, or a label out of range is an error naming the file and
/// the record.
ImageSplit read_cifar_file(const std::string& path, CifarKind kind, bool coarse = false);

/// Loads a split ("train" or "test") from the folder holding the .bin files (the extracted
/// archive's cifar-10-batches-bin/ or cifar-100-binary/ folder, or its parent).
ImageSplit load_cifar_split(const std::string& dir, CifarKind kind, const std::string& split, bool coarse = false);

/// Writes images [N, 3, 32, 32] in [0, 1] and labels [N] as one CIFAR binary file (CIFAR-100:
/// `coarse_labels` [N] may be given, zeros otherwise); used by tests and to export samples.
void write_cifar_file(const std::string& path, CifarKind kind, const at::Tensor& images, const at::Tensor& labels,
                      const at::Tensor& coarse_labels = {});

/// The file names of a split, e.g. {"data_batch_1.bin", ..., "data_batch_5.bin"}.
std::vector<std::string> cifar_split_files(CifarKind kind, const std::string& split);

}  // namespace joule::data
