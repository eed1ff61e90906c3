// read_cifar_file (CIFAR-10 and CIFAR-100 binary batches) on arbitrary bytes.
#include <c10/util/Exception.h>

#include "fuzz_support.h"
#include "joule/data/cifar.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto& path = joule::fuzz::scratch_file("data_batch.bin");
  joule::fuzz::write_file(path, data, size);
  for (auto kind : {joule::data::CifarKind::kCifar10, joule::data::CifarKind::kCifar100}) {
    try {
      auto s = joule::data::read_cifar_file(path, kind);
      if (s.images.size(0) != s.labels.size(0)) __builtin_trap();
    } catch (const c10::Error&) {
    }
  }
  return 0;
}
