// read_npy on arbitrary bytes (MAF's POWER and MINIBOONE files, arrays handed over from Python).
#include <c10/util/Exception.h>

#include "fuzz_support.h"
#include "joule/io/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto& path = joule::fuzz::scratch_file("array.npy");
  joule::fuzz::write_file(path, data, size);
  try {
    auto x = joule::io::read_npy(path);
    // What a successful read promises: a defined CPU tensor whose bytes were all in the file.
    if (!x.defined() || x.numel() * static_cast<int64_t>(x.element_size()) > static_cast<int64_t>(size)) __builtin_trap();
  } catch (const c10::Error&) {
  }
  return 0;
}
