// Checkpoint archives: the zip/CRC verification Joule runs before LibTorch's reader, then the
// reader itself on whatever passes it.
#include <c10/util/Exception.h>
#include <torch/serialize/archive.h>

#include "fuzz_support.h"
#include "joule/io/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  (void)joule::io::verify_archive_bytes(bytes);
  const auto& path = joule::fuzz::scratch_file("checkpoint.pt");
  joule::fuzz::write_file(path, data, size);
  try {
    torch::serialize::InputArchive archive;
    joule::io::load_archive(archive, path);
    torch::Tensor t;
    (void)archive.try_read("step", t);
  } catch (const c10::Error&) {
  } catch (const std::exception&) {
  }
  return 0;
}
