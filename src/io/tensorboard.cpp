#include "joule/io/tensorboard.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>

namespace joule::io {
namespace {

// ---------------------------------------------------------------- CRC-32C

std::array<uint32_t, 256> make_crc_table() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0x82F63B78u ^ (c >> 1) : c >> 1;
    t[i] = c;
  }
  return t;
}

// ---------------------------------------------------------------- protobuf wire format
// Field keys are (field_number << 3) | wire_type: 0 varint, 1 64-bit, 2 length-delimited, 5 32-bit.

void put_varint(std::string& s, uint64_t v) {
  while (v >= 0x80) {
    s.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  s.push_back(static_cast<char>(v));
}

void put_key(std::string& s, int field, int wire) { put_varint(s, (static_cast<uint64_t>(field) << 3) | wire); }

template <class T>
void put_le(std::string& s, T v) {  // little-endian bytes of a 4- or 8-byte value
  unsigned char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  std::reverse(b, b + sizeof(T));
#endif
  s.append(reinterpret_cast<const char*>(b), sizeof(T));
}

void put_int(std::string& s, int field, int64_t v) {
  put_key(s, field, 0);
  put_varint(s, static_cast<uint64_t>(v));  // negative int64: ten-byte two's complement, as protobuf does
}
void put_double(std::string& s, int field, double v) {
  put_key(s, field, 1);
  put_le(s, v);
}
void put_float(std::string& s, int field, float v) {
  put_key(s, field, 5);
  put_le(s, v);
}
void put_bytes(std::string& s, int field, const std::string& bytes) {
  put_key(s, field, 2);
  put_varint(s, bytes.size());
  s += bytes;
}
void put_packed_doubles(std::string& s, int field, const std::vector<double>& v) {
  std::string body;
  for (double x : v) put_le(body, x);
  put_bytes(s, field, body);
}

// summary.proto: Summary { repeated Value value = 1; }
//   Value { string tag = 1; float simple_value = 2; Image image = 4; HistogramProto histo = 5;
//           TensorProto tensor = 8; SummaryMetadata metadata = 9; }
std::string value_message(const std::string& tag, const std::string& payload_key_and_body) {
  std::string v;
  put_bytes(v, 1, tag);
  v += payload_key_and_body;
  return v;
}

std::string summary_of(const std::vector<std::string>& values) {
  std::string s;
  for (const auto& v : values) put_bytes(s, 1, v);
  return s;
}

double wall_time() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

uint32_t crc32c(const void* data, size_t n) {
  static const auto table = make_crc_table();
  const auto* p = static_cast<const uint8_t*>(data);
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) c = table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

uint32_t masked_crc32c(const void* data, size_t n) {
  const uint32_t c = crc32c(data, n);
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

EventWriter::EventWriter(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  TORCH_CHECK(!ec, "TensorBoard: cannot create the folder ", dir, ": ", ec.message());
  char host[256] = "localhost";
  gethostname(host, sizeof host - 1);
  const auto seconds = static_cast<int64_t>(wall_time());
  // A name that is not there yet: several writers in one second (tests, resumed runs) get a suffix.
  for (int k = 0;; ++k) {
    path_ = dir + "/events.out.tfevents." + std::to_string(seconds) + "." + host + "." + std::to_string(getpid()) +
            (k ? "." + std::to_string(k) : "");
    if (!std::filesystem::exists(path_)) break;
  }
  out_.open(path_, std::ios::binary);
  TORCH_CHECK(out_, "TensorBoard: cannot write the event file ", path_);
  std::string event;
  put_double(event, 1, wall_time());
  put_int(event, 2, 0);
  put_bytes(event, 3, "brain.Event:2");  // Event.file_version
  write_record(event);
  flush();
}

EventWriter::~EventWriter() {
  if (out_.is_open()) out_.flush();
}

void EventWriter::write_record(const std::string& data) {
  std::string header;
  put_le(header, static_cast<uint64_t>(data.size()));
  std::string frame = header;
  put_le(frame, masked_crc32c(header.data(), header.size()));
  frame += data;
  put_le(frame, masked_crc32c(data.data(), data.size()));
  out_.write(frame.data(), static_cast<std::streamsize>(frame.size()));
  TORCH_CHECK(out_, "TensorBoard: writing ", path_, " failed (disk full?)");
}

void EventWriter::write_event(const std::string& summary, int64_t step) {
  // event.proto: Event { double wall_time = 1; int64 step = 2; Summary summary = 5; }
  std::string event;
  put_double(event, 1, wall_time());
  put_int(event, 2, step);
  put_bytes(event, 5, summary);
  write_record(event);
}

void EventWriter::add_scalar(const std::string& tag, double value, int64_t step) { add_scalars({{tag, value}}, step); }

void EventWriter::add_scalars(const std::vector<std::pair<std::string, double>>& values, int64_t step) {
  if (values.empty()) return;
  std::vector<std::string> vs;
  for (const auto& [tag, x] : values) {
    std::string payload;
    put_float(payload, 2, static_cast<float>(x));
    vs.push_back(value_message(tag, payload));
  }
  write_event(summary_of(vs), step);
}

void EventWriter::add_png(const std::string& tag, const std::vector<uint8_t>& png, int64_t step) {
  static const uint8_t signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  TORCH_CHECK(png.size() >= 24 && std::memcmp(png.data(), signature, 8) == 0 && std::memcmp(png.data() + 12, "IHDR", 4) == 0,
              "TensorBoard image '", tag, "': the bytes are not a PNG file (", png.size(), " bytes)");
  auto be32 = [&](size_t at) {
    return (uint32_t(png[at]) << 24) | (uint32_t(png[at + 1]) << 16) | (uint32_t(png[at + 2]) << 8) | uint32_t(png[at + 3]);
  };
  const uint32_t width = be32(16), height = be32(20);
  const int colour_type = png.size() > 25 ? png[25] : 2;
  // Summary.Image { int32 height = 1; int32 width = 2; int32 colorspace = 3; bytes encoded_image_string = 4; }
  // colorspace: 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA (PNG colour types 0, 4, 2, 6).
  const int colorspace = colour_type == 0 ? 1 : colour_type == 4 ? 2 : colour_type == 6 ? 4 : 3;
  std::string image;
  put_int(image, 1, height);
  put_int(image, 2, width);
  put_int(image, 3, colorspace);
  put_bytes(image, 4, std::string(png.begin(), png.end()));
  std::string payload;
  put_bytes(payload, 4, image);
  write_event(summary_of({value_message(tag, payload)}), step);
}

void EventWriter::add_image(const std::string& tag, const Image& image, int64_t step) {
  TORCH_CHECK(!image.empty(), "TensorBoard image '", tag, "' is empty");
  add_png(tag, encode_png(image), step);
}

void EventWriter::add_histogram(const std::string& tag, const std::vector<double>& values, int64_t step, int64_t bins) {
  TORCH_CHECK(bins >= 1, "TensorBoard histogram '", tag, "': bins must be >= 1, got ", bins);
  double lo = std::numeric_limits<double>::infinity(), hi = -lo, sum = 0, sum2 = 0, num = 0;
  for (double v : values) {
    if (!std::isfinite(v)) continue;
    lo = std::min(lo, v), hi = std::max(hi, v);
    sum += v, sum2 += v * v, num += 1;
  }
  // HistogramProto { double min = 1; max = 2; num = 3; sum = 4; sum_squares = 5;
  //                  repeated double bucket_limit = 6 [packed]; repeated double bucket = 7 [packed]; }
  // Bucket i counts the values in (bucket_limit[i-1], bucket_limit[i]].
  std::vector<double> limits, counts;
  if (num == 0) {
    lo = hi = 0;
  } else if (hi == lo) {
    limits = {hi};
    counts = {num};
  } else {
    const double width = (hi - lo) / static_cast<double>(bins);
    counts.assign(static_cast<size_t>(bins), 0.0);
    for (int64_t i = 1; i <= bins; ++i) limits.push_back(i == bins ? hi : lo + width * static_cast<double>(i));
    for (double v : values) {
      if (!std::isfinite(v)) continue;
      auto i = static_cast<int64_t>(std::ceil((v - lo) / width)) - 1;
      counts[static_cast<size_t>(std::clamp<int64_t>(i, 0, bins - 1))] += 1;
    }
  }
  std::string histo;
  put_double(histo, 1, lo);
  put_double(histo, 2, hi);
  put_double(histo, 3, num);
  put_double(histo, 4, sum);
  put_double(histo, 5, sum2);
  put_packed_doubles(histo, 6, limits);
  put_packed_doubles(histo, 7, counts);
  std::string payload;
  put_bytes(payload, 5, histo);
  write_event(summary_of({value_message(tag, payload)}), step);
}

void EventWriter::add_histogram(const std::string& tag, const at::Tensor& values, int64_t step, int64_t bins) {
  TORCH_CHECK(values.defined(), "TensorBoard histogram '", tag, "': undefined tensor");
  auto v = values.detach().to(at::kCPU, at::kDouble).contiguous().reshape({-1});
  const double* p = v.data_ptr<double>();
  add_histogram(tag, std::vector<double>(p, p + v.numel()), step, bins);
}

void EventWriter::add_text(const std::string& tag, const std::string& markdown, int64_t step) {
  // TensorProto { DataType dtype = 1 (DT_STRING = 7); TensorShapeProto tensor_shape = 2 (a scalar:
  // no dims); repeated bytes string_val = 8; }, with SummaryMetadata { PluginData plugin_data = 1
  // { string plugin_name = 1; } } naming the text plugin.
  std::string tensor;
  put_int(tensor, 1, 7);
  put_bytes(tensor, 2, "");
  put_bytes(tensor, 8, markdown);
  std::string plugin, metadata, payload;
  put_bytes(plugin, 1, "text");
  put_bytes(metadata, 1, plugin);
  put_bytes(payload, 8, tensor);
  put_bytes(payload, 9, metadata);
  write_event(summary_of({value_message(tag, payload)}), step);
}

void EventWriter::flush() { out_.flush(); }

}  // namespace joule::io
