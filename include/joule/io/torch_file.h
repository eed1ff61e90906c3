#pragma once
// Files that Python's torch.load reads, including under its default weights_only=True (PyTorch
// 2.6 and later). torch::pickle_save tags dicts with torch.jit._pickle.restore_type_tag, a global
// the weights-only unpickler refuses; these files are written without such tags.

#include <string>

#include "joule/io/safetensors.h"  // NamedTensors

namespace joule::io {

/// Writes {name: tensor} (CPU copies, in the order given) as a PyTorch zip archive that
/// torch.load returns as a dict; torch::pickle_load reads it back too. Written atomically.
void write_torch_dict(const std::string& path, const NamedTensors& tensors);

}  // namespace joule::io
