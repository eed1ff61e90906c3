#include "joule/io/npy.h"

#include <c10/util/Exception.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

// The format: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html — the magic
// "\x93NUMPY", a version, a header length (2 bytes in 1.0, 4 in 2.0/3.0) and a Python dict literal
// {'descr': '<f8', 'fortran_order': False, 'shape': (N, D), } padded with spaces to a newline.

namespace joule::io {
namespace {

struct NpyType {
  const char* code;  // descr without the byte-order character
  at::ScalarType type;
};
constexpr NpyType kTypes[] = {{"b1", at::kBool},  {"i1", at::kChar}, {"u1", at::kByte},   {"i2", at::kShort},
                              {"i4", at::kInt},   {"i8", at::kLong}, {"f4", at::kFloat},  {"f8", at::kDouble}};

// The text after `'key':` (spaces skipped) in the header dict, or npos.
size_t value_of(const std::string& header, const std::string& key) {
  const size_t k = header.find("'" + key + "'");
  if (k == std::string::npos) return k;
  size_t i = header.find(':', k);
  if (i == std::string::npos) return i;
  for (++i; i < header.size() && header[i] == ' '; ++i) {
  }
  return i;
}

std::string descr_of(at::ScalarType t) {
  for (const auto& k : kTypes)
    if (k.type == t) return std::string(t == at::kBool || t == at::kChar || t == at::kByte ? "|" : "<") + k.code;
  TORCH_CHECK(false, "write_npy: tensors of type ", t, " have no .npy form here (use bool, int8..64, uint8, float32/64)");
}

}  // namespace

at::Tensor read_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  TORCH_CHECK(in, path, ": cannot open the .npy file (missing or unreadable)");
  char magic[8] = {};
  in.read(magic, 8);
  TORCH_CHECK(in && std::memcmp(magic, "\x93NUMPY", 6) == 0, path,
              ": not an .npy file (no \\x93NUMPY magic; save it with numpy.save)");
  const int major = static_cast<unsigned char>(magic[6]);
  TORCH_CHECK(major >= 1 && major <= 3, path, ": .npy format version ", major, " is not one this reader knows (1–3)");
  uint32_t header_len = 0;
  unsigned char len_bytes[4] = {};
  in.read(reinterpret_cast<char*>(len_bytes), major == 1 ? 2 : 4);
  TORCH_CHECK(in, path, ": truncated .npy header");
  header_len = len_bytes[0] | (len_bytes[1] << 8) | (major == 1 ? 0u : (uint32_t(len_bytes[2]) << 16) | (uint32_t(len_bytes[3]) << 24));
  TORCH_CHECK(header_len < (1u << 16), path, ": implausible .npy header length ", header_len);
  std::string header(header_len, '\0');
  in.read(header.data(), header_len);
  TORCH_CHECK(in, path, ": truncated .npy header");

  // The header is a Python dict literal; only three keys matter.
  size_t at = value_of(header, "descr");
  TORCH_CHECK(at != std::string::npos && at < header.size() && header[at] == '\'', path,
              ": the .npy header has no 'descr' (", header, ")");
  const size_t close = header.find('\'', at + 1);
  TORCH_CHECK(close != std::string::npos, path, ": unterminated 'descr' in the .npy header");
  const std::string descr = header.substr(at + 1, close - at - 1);
  TORCH_CHECK(descr.find('O') == std::string::npos && descr.size() >= 2, path, ": the array holds '", descr,
              "' values (Python objects need pickle); save a numeric array");
  const char order = descr[0];
  const std::string code = descr.substr(1);
  c10::optional<at::ScalarType> type;
  for (const auto& k : kTypes)
    if (code == k.code) type = k.type;
  TORCH_CHECK(type.has_value(), path, ": unsupported .npy dtype '", descr,
              "' (bool, int8/16/32/64, uint8, float32 or float64)");
  const bool byte_sized = code == "b1" || code == "i1" || code == "u1";
  TORCH_CHECK(byte_sized || order == '<' || order == '|' || order == '=', path, ": the array is big-endian ('", descr,
              "'); convert it with a.astype(a.dtype.newbyteorder('<'))");

  at = value_of(header, "fortran_order");
  TORCH_CHECK(at != std::string::npos && (header.compare(at, 4, "True") == 0 || header.compare(at, 5, "False") == 0),
              path, ": the .npy header has no 'fortran_order'");
  const bool fortran = header.compare(at, 4, "True") == 0;
  at = value_of(header, "shape");
  TORCH_CHECK(at != std::string::npos && at < header.size() && header[at] == '(', path, ": the .npy header has no 'shape'");
  const size_t shape_end = header.find(')', at);
  TORCH_CHECK(shape_end != std::string::npos, path, ": unterminated 'shape' in the .npy header");
  std::vector<int64_t> shape;
  {
    std::string dims = header.substr(at + 1, shape_end - at - 1);
    for (char& c : dims)
      if (c == ',') c = ' ';
    std::istringstream ss(dims);
    std::string tok;
    while (ss >> tok) {
      char* end = nullptr;
      errno = 0;
      const long long v = std::strtoll(tok.c_str(), &end, 10);
      TORCH_CHECK(*end == '\0' && v >= 0 && errno == 0, path, ": bad dimension '", tok, "' in the .npy shape");
      TORCH_CHECK(shape.size() < 16, path, ": more than 16 dimensions in the .npy shape");
      shape.push_back(v);
    }
  }
  int64_t numel = 1;
  for (auto d : shape) {
    TORCH_CHECK(d == 0 || numel <= (int64_t(1) << 40) / d, path, ": the .npy shape is too large");
    numel *= d;
  }
  const auto element = static_cast<int64_t>(c10::elementSize(*type));
  const auto data_start = in.tellg();
  in.seekg(0, std::ios::end);
  const int64_t available = static_cast<int64_t>(in.tellg() - data_start);
  TORCH_CHECK(available >= numel * element, path, ": truncated .npy data: the header promises ", numel * element,
              " bytes, the file has ", available);
  in.seekg(data_start);

  std::vector<int64_t> stored = shape;
  if (fortran) std::reverse(stored.begin(), stored.end());
  auto out = at::empty(stored, at::TensorOptions().dtype(*type));
  in.read(static_cast<char*>(out.data_ptr()), numel * element);
  TORCH_CHECK(in || numel == 0, path, ": read error in the .npy data");
  if (fortran && shape.size() > 1) {
    std::vector<int64_t> reverse_dims;
    for (int64_t i = int64_t(shape.size()) - 1; i >= 0; --i) reverse_dims.push_back(i);
    out = out.permute(reverse_dims).contiguous();
  }
  return out;
}

void write_npy(const std::string& path, const at::Tensor& x) {
  TORCH_CHECK(x.device().is_cpu(), "write_npy: the tensor must be on the CPU");
  auto c = x.contiguous();
  std::ostringstream h;
  h << "{'descr': '" << descr_of(c.scalar_type()) << "', 'fortran_order': False, 'shape': (";
  for (int64_t i = 0; i < c.dim(); ++i) h << c.size(i) << (c.dim() == 1 || i + 1 < c.dim() ? ", " : "");
  h << "), }";
  std::string header = h.str();
  // Pad so that the data starts on a 64-byte boundary, with a newline last (numpy's own layout).
  const size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header.push_back('\n');
  TORCH_CHECK(header.size() < 65536, "write_npy: the header is too long for format 1.0");
  std::ofstream out(path, std::ios::binary);
  TORCH_CHECK(out, "write_npy: cannot create ", path);
  out.write("\x93NUMPY\x01\x00", 8);
  const unsigned char len[2] = {static_cast<unsigned char>(header.size() & 0xff), static_cast<unsigned char>(header.size() >> 8)};
  out.write(reinterpret_cast<const char*>(len), 2);
  out << header;
  out.write(static_cast<const char*>(c.data_ptr()), c.numel() * c.element_size());
  TORCH_CHECK(out, "write_npy: write error on ", path);
}

}  // namespace joule::io
