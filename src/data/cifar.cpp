#include "joule/data/cifar.h"

#include <c10/util/Exception.h>

#include <sys/stat.h>

#include <cstring>
#include <fstream>
#include <iterator>

namespace joule::data {
namespace {

constexpr int64_t kPixels = 3 * 32 * 32;

bool is_file(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

int64_t label_bytes(CifarKind kind) { return kind == CifarKind::kCifar10 ? 1 : 2; }
const char* kind_name(CifarKind kind) { return kind == CifarKind::kCifar10 ? "CIFAR-10" : "CIFAR-100"; }

}  // namespace

std::vector<std::string> cifar_split_files(CifarKind kind, const std::string& split) {
  TORCH_CHECK(split == "train" || split == "test", "CIFAR split must be 'train' or 'test', got '", split, "'");
  if (kind == CifarKind::kCifar100) return {split + ".bin"};
  if (split == "test") return {"test_batch.bin"};
  std::vector<std::string> files;
  for (int i = 1; i <= 5; ++i) files.push_back("data_batch_" + std::to_string(i) + ".bin");
  return files;
}

ImageSplit read_cifar_file(const std::string& path, CifarKind kind, bool coarse) {
  TORCH_CHECK(is_file(path), kind_name(kind), " file '", path, "' does not exist");
  std::ifstream f(path, std::ios::binary);
  TORCH_CHECK(f.good(), "cannot open ", kind_name(kind), " file '", path, "'");
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const int64_t record = label_bytes(kind) + kPixels;
  const int64_t size = static_cast<int64_t>(bytes.size());
  TORCH_CHECK(size > 0, kind_name(kind), " file '", path, "' is empty");
  TORCH_CHECK(size % record == 0, kind_name(kind), " file '", path, "' is truncated or not in the binary format: ", size,
              " bytes is not a whole number of ", record, "-byte records (", size / record, " complete records and ",
              size % record, " bytes left over)");
  const int64_t n = size / record;
  auto images = at::empty({n, 3, 32, 32}, at::kByte);
  auto labels = at::empty({n}, at::kLong);
  uint8_t* img = images.data_ptr<uint8_t>();
  int64_t* lab = labels.data_ptr<int64_t>();
  const bool use_coarse = kind == CifarKind::kCifar100 && coarse;
  const int64_t classes = kind == CifarKind::kCifar10 ? 10 : (use_coarse ? 20 : 100);
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* r = bytes.data() + i * record;
    const int64_t y = kind == CifarKind::kCifar10 ? r[0] : (use_coarse ? r[0] : r[1]);
    TORCH_CHECK(y < classes, kind_name(kind), " file '", path, "': record ", i, " has label ", y, ", outside [0, ", classes,
                "); is this the right dataset (CIFAR-10 vs CIFAR-100)?");
    lab[i] = y;
    std::memcpy(img + i * kPixels, r + label_bytes(kind), kPixels);
  }
  return {images.to(at::kFloat).div_(255.0), labels};
}

ImageSplit load_cifar_split(const std::string& dir, CifarKind kind, const std::string& split, bool coarse) {
  const auto files = cifar_split_files(kind, split);
  // Accept the extracted folder itself or its parent.
  const std::string sub = kind == CifarKind::kCifar10 ? "cifar-10-batches-bin" : "cifar-100-binary";
  std::string base = dir;
  if (!is_file(base + "/" + files[0]) && is_file(base + "/" + sub + "/" + files[0])) base += "/" + sub;
  std::vector<at::Tensor> images, labels;
  for (const auto& name : files) {
    const std::string path = base + "/" + name;
    TORCH_CHECK(is_file(path), "cannot find ", kind_name(kind), " file '", name, "' in '", dir, "' (or '", dir, "/", sub,
                "'); download the binary version from https://www.cs.toronto.edu/~kriz/cifar.html");
    auto part = read_cifar_file(path, kind, coarse);
    images.push_back(part.images);
    labels.push_back(part.labels);
  }
  return {at::cat(images, 0), at::cat(labels, 0)};
}

void write_cifar_file(const std::string& path, CifarKind kind, const at::Tensor& images, const at::Tensor& labels,
                      const at::Tensor& coarse_labels) {
  TORCH_CHECK(images.dim() == 4 && images.size(1) == 3 && images.size(2) == 32 && images.size(3) == 32,
              "write_cifar_file: images must be [N, 3, 32, 32], got ", images.sizes());
  TORCH_CHECK(labels.dim() == 1 && labels.size(0) == images.size(0), "write_cifar_file: labels must be [", images.size(0),
              "], got ", labels.sizes());
  const int64_t n = images.size(0);
  auto px = images.detach().to(at::kCPU, at::kFloat).clamp(0, 1).mul(255).round().to(at::kByte).contiguous();
  auto lab = labels.to(at::kCPU, at::kLong).contiguous();
  auto coarse = coarse_labels.defined() ? coarse_labels.to(at::kCPU, at::kLong).contiguous() : at::zeros({n}, at::kLong);
  const int64_t record = label_bytes(kind) + kPixels;
  std::vector<uint8_t> bytes(static_cast<size_t>(n * record));
  for (int64_t i = 0; i < n; ++i) {
    uint8_t* r = bytes.data() + i * record;
    const int64_t y = lab.data_ptr<int64_t>()[i];
    TORCH_CHECK(y >= 0 && y < 256, "write_cifar_file: label ", y, " does not fit in a byte");
    if (kind == CifarKind::kCifar10) {
      r[0] = static_cast<uint8_t>(y);
    } else {
      r[0] = static_cast<uint8_t>(coarse.data_ptr<int64_t>()[i]);
      r[1] = static_cast<uint8_t>(y);
    }
    std::memcpy(r + label_bytes(kind), px.data_ptr<uint8_t>() + i * kPixels, kPixels);
  }
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  TORCH_CHECK(f.good(), "cannot write '", path, "'");
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  TORCH_CHECK(f.good(), "error writing '", path, "'");
}

}  // namespace joule::data
