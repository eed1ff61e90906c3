#include "joule/io/checkpoint.h"

#include <c10/util/Exception.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <sys/stat.h>

namespace joule::io {
namespace {

void rename_or_throw(const std::string& tmp, const std::string& path) {
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    TORCH_CHECK(false, "cannot write '", path, "' (rename from temporary file failed)");
  }
}

}  // namespace

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

std::string archive_to_bytes(torch::serialize::OutputArchive& archive) {
  std::ostringstream os;
  archive.save_to(os);
  return os.str();
}

void save_archive(torch::serialize::OutputArchive& archive, const std::string& path) {
  write_text_file(path, archive_to_bytes(archive));
}

void load_archive_from_bytes(torch::serialize::InputArchive& archive, const std::string& bytes) {
  std::istringstream is(bytes);
  archive.load_from(is);
}

void load_archive(torch::serialize::InputArchive& archive, const std::string& path) {
  TORCH_CHECK(file_exists(path), "checkpoint '", path, "' does not exist");
  std::string bytes;
  try {
    bytes = read_text_file(path);
  } catch (const c10::Error&) {
    TORCH_CHECK(false, "cannot read checkpoint '", path, "'");
  }
  TORCH_CHECK(!bytes.empty(), "checkpoint '", path, "' is empty (an interrupted write?)");
  try {
    load_archive_from_bytes(archive, bytes);
  } catch (const c10::Error& e) {
    TORCH_CHECK(false, "checkpoint '", path,
                "' is corrupt or not a Joule/LibTorch archive (truncated copy?). LibTorch said: ",
                e.what_without_backtrace());
  }
}

void write_text_file(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    TORCH_CHECK(f.good(), "cannot open '", tmp, "' for writing (does the folder exist and is it writable?)");
    f.write(text.data(), static_cast<std::streamsize>(text.size()));
    f.flush();
    TORCH_CHECK(f.good(), "failed writing '", tmp, "' (disk full?)");
  }
  rename_or_throw(tmp, path);
}

std::string read_text_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  TORCH_CHECK(f.good(), "cannot open '", path, "' for reading");
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace joule::io
