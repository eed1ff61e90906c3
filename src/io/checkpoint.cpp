#include "joule/io/checkpoint.h"

#include <c10/util/Exception.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace joule::io {
namespace {

void rename_or_throw(const std::string& tmp, const std::string& path) {
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string reason = std::strerror(errno);
    std::remove(tmp.c_str());
    TORCH_CHECK(false, "cannot write '", path, "' (rename from temporary file failed: ", reason, ")");
  }
}

// Flushes a folder's entry table, so that a rename inside it survives a power loss.
void fsync_parent(const std::string& path) {
  auto parent = std::filesystem::path(path).parent_path();
  if (parent.empty()) parent = ".";
  const int fd = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;  // not fatal: the data itself is synced
  ::fsync(fd);
  ::close(fd);
}

uint32_t le32(const std::string& b, size_t at) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(b[at + i]);
  return v;
}
uint16_t le16(const std::string& b, size_t at) {
  return static_cast<uint16_t>(static_cast<unsigned char>(b[at]) | (static_cast<unsigned char>(b[at + 1]) << 8));
}
uint64_t le64(const std::string& b, size_t at) { return le32(b, at) | (uint64_t(le32(b, at + 4)) << 32); }

}  // namespace

std::string verify_archive_bytes(const std::string& b) {
  // LibTorch archives are zip files whose records are stored uncompressed, each with the CRC-32
  // the writer computed; LibTorch's reader does not check them (its miniz is built without the
  // CRC checks), so a flipped byte inside a tensor would load silently.
  const size_t n = b.size();
  if (n < 22) return "too short for an archive";
  size_t eocd = std::string::npos;
  for (size_t i = n - 22 + 1; i-- > 0 && n - i <= 22 + 65535;) {
    if (le32(b, i) == 0x06054b50u) {
      eocd = i;
      break;
    }
  }
  if (eocd == std::string::npos) return "no zip directory at the end (truncated?)";
  // Offsets come from the file: compare without sums that could wrap around.
  auto fits = [n](uint64_t off, uint64_t len) { return off <= n && len <= n - off; };
  uint64_t entries = le16(b, eocd + 10);
  uint64_t dir_offset = le32(b, eocd + 16);
  if (entries == 0xFFFF || dir_offset == 0xFFFFFFFFu) {  // zip64: the locator sits just before the EOCD
    if (eocd < 20 || le32(b, eocd - 20) != 0x07064b50u) return "zip64 locator missing";
    const uint64_t z64 = le64(b, eocd - 20 + 8);
    if (!fits(z64, 56) || le32(b, z64) != 0x06064b50u) return "zip64 directory missing";
    entries = le64(b, z64 + 32);
    dir_offset = le64(b, z64 + 48);
  }
  uint64_t p = dir_offset;
  for (uint64_t e = 0; e < entries; ++e) {
    if (!fits(p, 46) || le32(b, p) != 0x02014b50u) return "damaged zip directory (entry " + std::to_string(e) + ")";
    const uint16_t method = le16(b, p + 10);
    const uint32_t crc = le32(b, p + 16);
    uint64_t size = le32(b, p + 20);
    const uint16_t name_len = le16(b, p + 28), extra_len = le16(b, p + 30), comment_len = le16(b, p + 32);
    uint64_t local = le32(b, p + 42);
    if (!fits(p + 46, uint64_t(name_len) + extra_len + comment_len)) return "damaged zip directory";
    const std::string name = b.substr(p + 46, name_len);
    // zip64 sizes and offsets live in the extra field (id 1), in this order, for the fields set to 0xFFFFFFFF.
    const uint64_t extra_end = p + 46 + name_len + extra_len;
    for (uint64_t x = p + 46 + name_len; x + 4 <= extra_end;) {
      const uint16_t id = le16(b, x), len = le16(b, x + 2);
      if (id == 1) {
        uint64_t q = x + 4;
        auto next64 = [&](uint64_t& field) {
          if (q + 8 <= extra_end) field = le64(b, q);
          q += 8;
        };
        uint64_t unused = 0;
        if (le32(b, p + 24) == 0xFFFFFFFFu) next64(unused);  // uncompressed size
        if (le32(b, p + 20) == 0xFFFFFFFFu) next64(size);
        if (le32(b, p + 42) == 0xFFFFFFFFu) next64(local);
      }
      x += 4 + uint64_t(len);
    }
    p += 46 + uint64_t(name_len) + extra_len + comment_len;
    if (method != 0) continue;  // a compressed record (not written by LibTorch): nothing cheap to check
    if (!fits(local, 30) || le32(b, local) != 0x04034b50u) return "damaged record '" + name + "'";
    const uint64_t data = local + 30 + le16(b, local + 26) + le16(b, local + 28);
    if (!fits(data, size)) return "record '" + name + "' runs past the end (truncated?)";
    uLong c = crc32(0L, Z_NULL, 0);
    for (uint64_t off = 0; off < size;) {  // crc32 takes 32-bit lengths
      const uInt chunk = static_cast<uInt>(std::min<uint64_t>(size - off, 1u << 30));
      c = crc32(c, reinterpret_cast<const Bytef*>(b.data() + data + off), chunk);
      off += chunk;
    }
    if (static_cast<uint32_t>(c) != crc) return "record '" + name + "' fails its CRC-32 check (the bytes changed after saving)";
  }
  return "";
}

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
  const std::string damage = verify_archive_bytes(bytes);
  TORCH_CHECK(damage.empty(), "checkpoint '", path, "' is corrupt: ", damage,
              ". It cannot be trusted; use an intact copy (or retrain).");
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
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  TORCH_CHECK(fd >= 0, "cannot open '", tmp, "' for writing (", std::strerror(errno),
              "; does the folder exist and is it writable?)");
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t w = ::write(fd, text.data() + done, text.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      const std::string reason = std::strerror(errno);
      ::close(fd);
      std::remove(tmp.c_str());
      TORCH_CHECK(false, "failed writing '", tmp, "' (", reason, ")");
    }
    done += static_cast<size_t>(w);
  }
  // The data reach the disk before the rename publishes them; then the folder entry.
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced) {
    const std::string reason = std::strerror(errno);
    std::remove(tmp.c_str());
    TORCH_CHECK(false, "failed writing '", tmp, "' (fsync: ", reason, ")");
  }
  rename_or_throw(tmp, path);
  fsync_parent(path);
}

std::string read_text_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  TORCH_CHECK(f.good(), "cannot open '", path, "' for reading");
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace joule::io
