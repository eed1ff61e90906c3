#pragma once
// Numeric datasets in HDF5 files (the HDF Group's C library), the format of MAF's BSDS300 patches
// and of many published arrays.

#include <ATen/ATen.h>

#include <string>
#include <utility>
#include <vector>

namespace joule::io {

/// Reads the dataset `name` (e.g. "train" or "group/x") of an HDF5 file into a CPU tensor:
/// floating-point data as float32 or float64, integer data as int64. Errors name the file and the
/// dataset, and list the datasets the file does have when `name` is missing.
at::Tensor read_hdf5(const std::string& path, const std::string& name);

/// Names of the datasets at the root of an HDF5 file.
std::vector<std::string> hdf5_datasets(const std::string& path);

/// Writes CPU tensors (float32, float64 or int64) as root datasets of a new HDF5 file, replacing
/// any file at `path`.
void write_hdf5(const std::string& path, const std::vector<std::pair<std::string, at::Tensor>>& datasets);

}  // namespace joule::io
