#pragma once
// One minibatch, as data sources hand it to objectives.

#include <ATen/ATen.h>

namespace joule {

/// One minibatch. `y` is undefined for unlabelled data.
struct Batch {
  at::Tensor x;  ///< inputs [B, ...]
  at::Tensor y;  ///< labels, one per sample; undefined for unlabelled data
};

}  // namespace joule
