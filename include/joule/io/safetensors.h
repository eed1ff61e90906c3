#pragma once
// safetensors files (huggingface/safetensors): an 8-byte little-endian header length N, N bytes
// of JSON {"name": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, ...,
// "__metadata__": {"key": "text"}}, then the tensors' raw little-endian bytes back to back.
//
//   joule::io::write_safetensors("model.safetensors", {{"model.weight0", w}, ...}, {{"format", "pt"}});
//   auto tensors = joule::io::read_safetensors("model.safetensors");
//
// The reader checks everything a corrupt or foreign file could get wrong (header size, JSON,
// dtype, shape against the byte range, ranges inside the file, no overlaps or gaps) and names
// the file and the tensor in its error.

#include <ATen/core/Tensor.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace joule::io {

/// Tensors with their names, in order.
using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

/// Writes the tensors (any device; stored contiguous, on the CPU) in the order given, with
/// optional string metadata. Names must be unique and non-empty. Written to PATH.tmp and renamed.
/// dtypes: float64/32/16, bfloat16, int64/32/16/8, uint8, bool.
void write_safetensors(const std::string& path, const NamedTensors& tensors,
                       const std::map<std::string, std::string>& metadata = {});

/// The contents of a safetensors file, as read_safetensors() returns them.
struct SafetensorsFile {
  NamedTensors tensors;                         ///< in the file's byte order
  std::map<std::string, std::string> metadata;  ///< "__metadata__"
};

/// Reads a whole file (CPU tensors).
SafetensorsFile read_safetensors(const std::string& path);

}  // namespace joule::io
