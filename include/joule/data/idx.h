#pragma once
// Readers for the IDX format of MNIST and Fashion-MNIST (gzip-compressed or plain).

#include <ATen/ATen.h>

#include <string>

namespace joule::data {

/// Reads an IDX file (magic 0x00000803 images [N, H, W] or 0x00000801 labels [N]) as uint8,
/// from a plain or .gz file. A missing, truncated or corrupt file is an error naming the path,
/// the expected and the found size or magic number.
at::Tensor read_idx(const std::string& path);

/// An image classification split: images [N, 1, H, W] float32 scaled to [0, 1], labels [N] int64.
struct ImageSplit {
  at::Tensor images;  ///< [N, 1, H, W] float32 in [0, 1]
  at::Tensor labels;  ///< [N] int64 class labels
};

/// Loads `<dir>/<split>-images-idx3-ubyte[.gz]` and the matching labels (split = "train" or
/// "t10k"), checks that their counts agree.
ImageSplit load_mnist_split(const std::string& dir, const std::string& split);

/// Where Debian's dataset-fashion-mnist package installs the data.
inline const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

}  // namespace joule::data
