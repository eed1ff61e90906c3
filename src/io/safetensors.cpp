#include "joule/io/safetensors.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <set>

#include "joule/io/checkpoint.h"

namespace joule::io {
namespace {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors stores little-endian bytes");

const std::vector<std::pair<at::ScalarType, const char*>>& dtype_names() {
  static const std::vector<std::pair<at::ScalarType, const char*>> names{
      {at::kDouble, "F64"}, {at::kFloat, "F32"}, {at::kHalf, "F16"}, {at::kBFloat16, "BF16"}, {at::kLong, "I64"},
      {at::kInt, "I32"},    {at::kShort, "I16"}, {at::kChar, "I8"},  {at::kByte, "U8"},       {at::kBool, "BOOL"}};
  return names;
}

const char* dtype_name(at::ScalarType t) {
  for (const auto& [type, name] : dtype_names())
    if (type == t) return name;
  TORCH_CHECK(false, "safetensors: cannot store dtype ", t);
  return "";
}

}  // namespace

void write_safetensors(const std::string& path, const NamedTensors& tensors,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::set<std::string> seen;
  std::vector<at::Tensor> data;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    TORCH_CHECK(!name.empty() && name != "__metadata__", "safetensors: invalid tensor name '", name, "'");
    TORCH_CHECK(seen.insert(name).second, "safetensors: the name '", name, "' is used twice");
    TORCH_CHECK(t.defined(), "safetensors: tensor '", name, "' is undefined");
    auto c = t.detach().to(at::kCPU).contiguous();
    const uint64_t bytes = static_cast<uint64_t>(c.numel()) * c.element_size();
    header[name] = {{"dtype", dtype_name(c.scalar_type())}, {"shape", c.sizes().vec()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    data.push_back(c);
  }
  std::string json = header.dump();
  json.append((8 - json.size() % 8) % 8, ' ');  // the format allows trailing spaces; aligns the data
  std::string out(8, '\0');
  const uint64_t n = json.size();
  std::memcpy(out.data(), &n, 8);
  out += json;
  out.reserve(out.size() + offset);
  for (const auto& c : data) out.append(static_cast<const char*>(c.data_ptr()), c.numel() * c.element_size());
  write_text_file(path, out);  // atomic: PATH.tmp, fsync, rename
}

SafetensorsFile read_safetensors(const std::string& path) {
  const std::string bytes = read_text_file(path);
  auto fail = [&](const std::string& why) { TORCH_CHECK(false, "'", path, "' is not a valid safetensors file: ", why); };
  if (bytes.size() < 8) fail("shorter than its 8-byte header length");
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  if (n < 2 || n > bytes.size() - 8) {
    fail("the header length " + std::to_string(n) + " does not fit the file's " + std::to_string(bytes.size()) + " bytes");
  }
  auto header = nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<std::ptrdiff_t>(n), nullptr, false);
  if (header.is_discarded() || !header.is_object()) fail("the header is not a JSON object");
  const uint64_t data_size = bytes.size() - 8 - n;
  const char* base = bytes.data() + 8 + n;
  SafetensorsFile file;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  std::vector<std::pair<uint64_t, std::string>> order;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) fail("__metadata__ is not an object");
      for (const auto& [k, v] : entry.items()) {
        if (!v.is_string()) fail("__metadata__ value '" + k + "' is not a string");
        file.metadata[k] = v.get<std::string>();
      }
      continue;
    }
    const std::string where = "tensor '" + name + "': ";
    if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") || !entry.contains("data_offsets") ||
        !entry["dtype"].is_string() || !entry["shape"].is_array() || !entry["data_offsets"].is_array() ||
        entry["data_offsets"].size() != 2)
      fail(where + "needs dtype, shape and data_offsets [begin, end]");
    at::ScalarType type = at::kFloat;
    bool known = false;
    for (const auto& [t, label] : dtype_names())
      if (entry["dtype"] == label) type = t, known = true;
    if (!known) fail(where + "unsupported dtype " + entry["dtype"].get<std::string>());
    std::vector<int64_t> shape;
    uint64_t numel = 1;
    for (const auto& d : entry["shape"]) {
      if (!d.is_number_unsigned() && !(d.is_number_integer() && d.get<int64_t>() >= 0)) fail(where + "bad shape");
      shape.push_back(d.get<int64_t>());
      numel *= d.get<uint64_t>();
      if (numel > data_size) fail(where + "shape larger than the data");
    }
    const auto& o = entry["data_offsets"];
    if (!o[0].is_number_unsigned() || !o[1].is_number_unsigned()) fail(where + "bad data_offsets");
    const uint64_t begin = o[0].get<uint64_t>(), end = o[1].get<uint64_t>();
    if (begin > end || end > data_size) fail(where + "data_offsets outside the file (truncated?)");
    const uint64_t item = c10::elementSize(type);
    if (end - begin != numel * item)
      fail(where + "shape and dtype need " + std::to_string(numel * item) + " bytes, the offsets give " +
           std::to_string(end - begin));
    ranges.emplace_back(begin, end);
    order.emplace_back(begin, name);
    auto t = at::empty(shape, at::TensorOptions().dtype(type));
    if (numel) std::memcpy(t.data_ptr(), base + begin, numel * item);
    file.tensors.emplace_back(name, t);
  }
  // The tensors must tile the data exactly (the format's rule: no gaps, no overlaps).
  std::sort(ranges.begin(), ranges.end());
  uint64_t at_byte = 0;
  for (const auto& [b, e] : ranges) {
    if (b != at_byte) fail("the tensors' byte ranges overlap or leave a gap at byte " + std::to_string(at_byte));
    at_byte = e;
  }
  if (at_byte != data_size) fail("the file has " + std::to_string(data_size - at_byte) + " bytes after the last tensor");
  std::vector<size_t> idx(file.tensors.size());
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return order[a].first < order[b].first; });
  NamedTensors sorted;
  for (auto i : idx) sorted.push_back(file.tensors[i]);
  file.tensors = std::move(sorted);
  return file;
}

}  // namespace joule::io
