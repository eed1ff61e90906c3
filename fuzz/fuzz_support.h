#pragma once
// Shared by the fuzz targets: the readers take paths, so each input goes through a file; an
// error the reader reports (c10::Error, ConfigError, ...) is the expected outcome for bad
// bytes — only crashes, hangs, leaks and undefined behaviour are findings.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>

namespace joule::fuzz {

inline const std::string& scratch_file(const char* name) {
  // tmpfs when there is one: every execution writes its input to a file.
  static const std::string path = std::string(::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp") + "/joule-fuzz-" + std::to_string(::getpid()) + "-" + name;
  return path;
}

inline void write_file(const std::string& path, const uint8_t* data, size_t size) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
}

}  // namespace joule::fuzz
