#pragma once
// NumPy's .npy array files (format versions 1.0–3.0), the format many published datasets ship in
// (MAF's POWER and MINIBOONE files, for one) and the simplest way to hand arrays to Python.

#include <ATen/ATen.h>

#include <string>

namespace joule::io {

/// Reads an .npy file into a CPU tensor of the stored type: bool, int8/16/32/64, uint8, float32,
/// float64, little-endian (or byte-sized), C or Fortran order. Errors name the file and the
/// problem: not an .npy file, a truncated file, a big-endian or object (pickled) array.
at::Tensor read_npy(const std::string& path);

/// Writes a CPU tensor (any of the types above) as a version 1.0 .npy file in C order, which
/// numpy.load reads.
void write_npy(const std::string& path, const at::Tensor& x);

}  // namespace joule::io
