#include "joule/data/idx.h"

#include <c10/util/Exception.h>
#include <zlib.h>

#include <sys/stat.h>

#include <cstring>
#include <vector>

namespace joule::data {
namespace {

bool exists(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0;
}

// Reads a whole file through zlib, which passes plain files through unchanged.
std::vector<uint8_t> read_maybe_gzip(const std::string& path) {
  TORCH_CHECK(exists(path), "IDX file '", path, "' does not exist");
  gzFile f = gzopen(path.c_str(), "rb");
  TORCH_CHECK(f, "cannot open IDX file '", path, "'");
  std::vector<uint8_t> out;
  uint8_t buf[1 << 16];
  int n;
  while ((n = gzread(f, buf, sizeof buf)) > 0) out.insert(out.end(), buf, buf + n);
  int err = 0;
  const char* msg = gzerror(f, &err);
  const bool failed = n < 0 || (err != Z_OK && err != Z_STREAM_END);
  const std::string what = msg ? msg : "";
  gzclose(f);
  TORCH_CHECK(!failed, "IDX file '", path, "' is corrupt (gzip error: ", what, ")");
  return out;
}

uint32_t be32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

std::string find_file(const std::string& dir, const std::string& stem) {
  for (const std::string& cand : {dir + "/" + stem + ".gz", dir + "/" + stem}) if (exists(cand)) return cand;
  TORCH_CHECK(false, "cannot find '", stem, "' or '", stem, ".gz' in '", dir,
              "' (MNIST-format IDX files; Fashion-MNIST comes with Debian's dataset-fashion-mnist package)");
}

}  // namespace

at::Tensor read_idx(const std::string& path) {
  auto bytes = read_maybe_gzip(path);
  TORCH_CHECK(bytes.size() >= 4, "IDX file '", path, "' is truncated (", bytes.size(), " bytes, no header)");
  TORCH_CHECK(bytes[0] == 0 && bytes[1] == 0, "'", path, "' is not an IDX file (bad magic number)");
  TORCH_CHECK(bytes[2] == 0x08, "IDX file '", path, "' holds type 0x", std::hex, int(bytes[2]),
              "; only unsigned bytes (0x08, as in MNIST) are supported");
  const int ndim = bytes[3];
  TORCH_CHECK(ndim >= 1 && ndim <= 4, "IDX file '", path, "' claims ", ndim, " dimensions");
  TORCH_CHECK(bytes.size() >= size_t(4 + 4 * ndim), "IDX file '", path, "' is truncated inside its header");
  std::vector<int64_t> shape;
  size_t count = 1;
  const size_t offset = 4 + 4 * size_t(ndim);
  for (int i = 0; i < ndim; ++i) {
    shape.push_back(be32(&bytes[4 + 4 * i]));
    // Stop before the product overflows: any count beyond the file's size is an error below.
    count = shape.back() == 0 || count <= (bytes.size() - offset) / size_t(shape.back()) ? count * size_t(shape.back())
                                                                                         : bytes.size() + 1;
  }
  TORCH_CHECK(count <= bytes.size() - offset, "IDX file '", path, "' is truncated or its header is corrupt: dimensions ",
              c10::IntArrayRef(shape), " need more bytes than the file's ", bytes.size() - offset);
  TORCH_CHECK(bytes.size() - offset == count, "IDX file '", path, "' is truncated or has trailing data: header says ",
              c10::IntArrayRef(shape), " = ", count, " bytes of data, the file has ", bytes.size() - offset);
  auto t = at::empty(shape, at::kByte);
  if (count > 0) std::memcpy(t.data_ptr<uint8_t>(), bytes.data() + offset, count);  // an empty tensor has no storage
  return t;
}

ImageSplit load_mnist_split(const std::string& dir, const std::string& split) {
  TORCH_CHECK(split == "train" || split == "t10k", "split must be 'train' or 't10k', got '", split, "'");
  auto images = read_idx(find_file(dir, split + "-images-idx3-ubyte"));
  auto labels = read_idx(find_file(dir, split + "-labels-idx1-ubyte"));
  TORCH_CHECK(images.dim() == 3, "MNIST images in '", dir, "' should be [N, H, W], got ", images.sizes());
  TORCH_CHECK(labels.dim() == 1, "MNIST labels in '", dir, "' should be [N], got ", labels.sizes());
  TORCH_CHECK(images.size(0) == labels.size(0), "'", dir, "': ", images.size(0), " images but ", labels.size(0),
              " labels in the ", split, " split");
  TORCH_CHECK(images.size(0) > 0 && images.size(1) > 0 && images.size(2) > 0, "MNIST images in '", dir, "' (", split,
              " split) are empty: shape ", images.sizes());
  return {images.unsqueeze(1).to(at::kFloat).div_(255.0), labels.to(at::kLong)};
}

}  // namespace joule::data
