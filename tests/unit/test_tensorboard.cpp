// TensorBoard event files: CRC-32C against its published check value, the record framing, and
// the protobuf fields of each summary kind decoded back by a small independent reader. The real
// `tensorboard` package reads a whole run in tests/integration/test_tensorboard_interop.cpp.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "joule/io/png.h"
#include "joule/io/tensorboard.h"

namespace {

using joule::io::EventWriter;

// A protobuf message as field number → values (varints and fixed numbers as uint64, bytes as strings).
struct Message {
  std::multimap<int, uint64_t> numbers;
  std::multimap<int, std::string> bytes;
  std::string one(int field) const {
    auto it = bytes.find(field);
    return it == bytes.end() ? std::string() : it->second;
  }
  uint64_t number(int field) const {
    auto it = numbers.find(field);
    return it == numbers.end() ? ~uint64_t{0} : it->second;
  }
};

uint64_t varint(const std::string& s, size_t& i) {
  uint64_t v = 0;
  for (int shift = 0;; shift += 7) {
    const auto b = static_cast<uint8_t>(s.at(i++));
    v |= uint64_t(b & 0x7F) << shift;
    if (!(b & 0x80)) return v;
  }
}

Message parse(const std::string& s) {
  Message m;
  for (size_t i = 0; i < s.size();) {
    const uint64_t key = varint(s, i);
    const int field = static_cast<int>(key >> 3), wire = static_cast<int>(key & 7);
    if (wire == 0) {
      m.numbers.emplace(field, varint(s, i));
    } else if (wire == 1 || wire == 5) {
      uint64_t v = 0;
      std::memcpy(&v, s.data() + i, wire == 1 ? 8 : 4);
      i += wire == 1 ? 8 : 4;
      m.numbers.emplace(field, v);
    } else if (wire == 2) {
      const auto n = varint(s, i);
      m.bytes.emplace(field, s.substr(i, n));
      i += n;
    } else {
      ADD_FAILURE() << "unexpected wire type " << wire;
      break;
    }
  }
  return m;
}

double as_double(uint64_t bits) {
  double d;
  std::memcpy(&d, &bits, 8);
  return d;
}
float as_float(uint64_t bits) {
  float f;
  const auto b = static_cast<uint32_t>(bits);
  std::memcpy(&f, &b, 4);
  return f;
}
std::vector<double> packed_doubles(const std::string& s) {
  std::vector<double> v(s.size() / 8);
  std::memcpy(v.data(), s.data(), v.size() * 8);
  return v;
}

// Reads every record of an event file, checking both masked CRCs of each.
std::vector<std::string> read_records(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> records;
  for (size_t i = 0; i < all.size();) {
    uint64_t n;
    uint32_t crc_len, crc_data;
    std::memcpy(&n, all.data() + i, 8);
    std::memcpy(&crc_len, all.data() + i + 8, 4);
    EXPECT_EQ(crc_len, joule::io::masked_crc32c(all.data() + i, 8));
    std::string data = all.substr(i + 12, n);
    std::memcpy(&crc_data, all.data() + i + 12 + n, 4);
    EXPECT_EQ(crc_data, joule::io::masked_crc32c(data.data(), data.size()));
    records.push_back(data);
    i += 12 + n + 4;
  }
  return records;
}

std::string fresh_dir(const std::string& name) {
  const std::string dir = ::testing::TempDir() + "joule_tb_" + name;
  std::filesystem::remove_all(dir);
  return dir;
}

// The single Summary.Value of an event record: (event, value).
std::pair<Message, Message> value_of(const std::string& record) {
  Message event = parse(record);
  Message summary = parse(event.one(5));
  EXPECT_EQ(summary.bytes.count(1), 1u);
  return {event, parse(summary.one(1))};
}

TEST(TensorBoard, Crc32cMatchesTheCheckValue) {
  // The CRC-32C check value of "123456789" (RFC 3720, iSCSI) and of the empty string.
  EXPECT_EQ(joule::io::crc32c("123456789", 9), 0xE3069283u);
  EXPECT_EQ(joule::io::crc32c("", 0), 0u);
  const uint32_t c = joule::io::crc32c("123456789", 9);
  EXPECT_EQ(joule::io::masked_crc32c("123456789", 9), ((c >> 15) | (c << 17)) + 0xa282ead8u);
}

TEST(TensorBoard, FileStartsWithTheVersionEventAndHoldsScalars) {
  const auto dir = fresh_dir("scalars");
  std::string path;
  {
    EventWriter tb(dir);
    path = tb.path();
    EXPECT_NE(path.find("/events.out.tfevents."), std::string::npos);
    tb.add_scalar("loss", 0.25, 7);
    tb.add_scalars({{"a", -1.5}, {"b", 3e10}}, -3);
  }
  auto records = read_records(path);
  ASSERT_EQ(records.size(), 3u);
  auto first = parse(records[0]);
  EXPECT_EQ(first.one(3), "brain.Event:2");
  EXPECT_GT(as_double(first.number(1)), 1.6e9);  // wall time in seconds since 1970

  auto [event, value] = value_of(records[1]);
  EXPECT_EQ(event.number(2), 7u);
  EXPECT_EQ(value.one(1), "loss");
  EXPECT_FLOAT_EQ(as_float(value.number(2)), 0.25f);

  Message e2 = parse(records[2]);
  EXPECT_EQ(static_cast<int64_t>(e2.number(2)), -3);  // a negative step survives the varint
  Message s2 = parse(e2.one(5));
  std::vector<std::string> tags;
  std::vector<float> values;
  for (auto [f, v] : s2.bytes) {
    Message m = parse(v);
    tags.push_back(m.one(1));
    values.push_back(as_float(m.number(2)));
  }
  EXPECT_EQ(tags, (std::vector<std::string>{"a", "b"}));
  EXPECT_FLOAT_EQ(values[0], -1.5f);
  EXPECT_FLOAT_EQ(values[1], 3e10f);
}

TEST(TensorBoard, ImagesCarryTheirSizeAndThePngBytes) {
  const auto dir = fresh_dir("images");
  joule::io::Image img(5, 9, {10, 200, 30});
  std::string path;
  {
    EventWriter tb(dir);
    path = tb.path();
    tb.add_image("samples/grid", img, 100);
    EXPECT_THROW(tb.add_png("bad", std::vector<uint8_t>(40, 1), 0), c10::Error);
    EXPECT_THROW(tb.add_image("empty", joule::io::Image(), 0), c10::Error);
  }
  auto records = read_records(path);
  ASSERT_EQ(records.size(), 2u);
  auto [event, value] = value_of(records[1]);
  EXPECT_EQ(value.one(1), "samples/grid");
  Message image = parse(value.one(4));
  EXPECT_EQ(image.number(1), 5u);  // height
  EXPECT_EQ(image.number(2), 9u);  // width
  EXPECT_EQ(image.number(3), 3u);  // RGB
  const auto png = joule::io::encode_png(img);
  EXPECT_EQ(image.one(4), std::string(png.begin(), png.end()));
}

TEST(TensorBoard, HistogramsCountEveryFiniteValueOnce) {
  const auto dir = fresh_dir("histograms");
  std::string path;
  auto t = at::arange(0, 100, at::kFloat);  // 0..99
  {
    EventWriter tb(dir);
    path = tb.path();
    tb.add_histogram("w", t, 1, 10);
    tb.add_histogram("with_nan", std::vector<double>{1.0, NAN, 2.0, INFINITY, 2.0}, 2, 4);
    tb.add_histogram("constant", std::vector<double>{4.0, 4.0, 4.0}, 3);
    tb.add_histogram("empty", std::vector<double>{}, 4);
  }
  auto records = read_records(path);
  ASSERT_EQ(records.size(), 5u);
  auto histo = [&](size_t r) { return parse(value_of(records[r]).second.one(5)); };
  Message h = histo(1);
  EXPECT_DOUBLE_EQ(as_double(h.number(1)), 0.0);
  EXPECT_DOUBLE_EQ(as_double(h.number(2)), 99.0);
  EXPECT_DOUBLE_EQ(as_double(h.number(3)), 100.0);
  EXPECT_DOUBLE_EQ(as_double(h.number(4)), 4950.0);
  EXPECT_DOUBLE_EQ(as_double(h.number(5)), 328350.0);  // Σ i², i < 100
  auto limits = packed_doubles(h.one(6)), counts = packed_doubles(h.one(7));
  ASSERT_EQ(limits.size(), 10u);
  ASSERT_EQ(counts.size(), 10u);
  EXPECT_DOUBLE_EQ(limits.back(), 99.0);
  // Buckets (l_{i-1}, l_i] with l_i = 9.9 i: 0 and 1..9 fall in the first (0 is the minimum).
  EXPECT_DOUBLE_EQ(counts[0], 10.0);
  double total = 0;
  for (double c : counts) total += c;
  EXPECT_DOUBLE_EQ(total, 100.0);

  Message n = histo(2);
  EXPECT_DOUBLE_EQ(as_double(n.number(3)), 3.0);  // NaN and inf left out
  double nan_total = 0;
  for (double c : packed_doubles(n.one(7))) nan_total += c;
  EXPECT_DOUBLE_EQ(nan_total, 3.0);

  Message c = histo(3);
  EXPECT_EQ(packed_doubles(c.one(7)), std::vector<double>{3.0});
  Message e = histo(4);
  EXPECT_DOUBLE_EQ(as_double(e.number(3)), 0.0);
}

TEST(TensorBoard, TextIsAStringTensorForTheTextPlugin) {
  const auto dir = fresh_dir("text");
  std::string path;
  const std::string md = "    [train]\n    steps = 10\n";
  {
    EventWriter tb(dir);
    path = tb.path();
    tb.add_text("config", md, 0);
  }
  auto records = read_records(path);
  ASSERT_EQ(records.size(), 2u);
  auto [event, value] = value_of(records[1]);
  Message tensor = parse(value.one(8));
  EXPECT_EQ(tensor.number(1), 7u);  // DT_STRING
  EXPECT_EQ(tensor.one(8), md);
  Message metadata = parse(value.one(9));
  EXPECT_EQ(parse(metadata.one(1)).one(1), "text");
}

TEST(TensorBoard, TwoWritersInOneFolderUseTwoFiles) {
  const auto dir = fresh_dir("two");
  EventWriter a(dir), b(dir);
  EXPECT_NE(a.path(), b.path());
  EXPECT_TRUE(std::filesystem::exists(a.path()));
  EXPECT_TRUE(std::filesystem::exists(b.path()));
}

}  // namespace
