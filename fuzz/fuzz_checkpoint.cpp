// Checkpoint archives: Joule's check of the zip structure and every record's CRC-32, which runs on
// every checkpoint before LibTorch's reader sees it. LibTorch's TorchScript reader itself is not
// fuzzed here: each load registers its types in a process-wide compilation unit, so memory grows
// with every execution (a LibTorch property, unrelated to the input) until the RSS limit stops
// any long run.
#include <cstdint>
#include <string>

#include "joule/io/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  const std::string verdict = joule::io::verify_archive_bytes(bytes);
  // What "intact" promises: a zip end-of-directory record is present.
  if (verdict.empty() && bytes.find("PK\x05\x06") == std::string::npos) __builtin_trap();
  return 0;
}
