// read_idx (MNIST-format files, plain or gzip) on arbitrary bytes.
#include <c10/util/Exception.h>

#include "fuzz_support.h"
#include "joule/data/idx.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto& path = joule::fuzz::scratch_file("images-idx3-ubyte");
  joule::fuzz::write_file(path, data, size);
  try {
    auto t = joule::data::read_idx(path);
    if (static_cast<size_t>(t.numel()) > size) __builtin_trap();  // never more values than bytes
  } catch (const c10::Error&) {
  }
  return 0;
}
