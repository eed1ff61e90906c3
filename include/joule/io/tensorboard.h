#pragma once
// TensorBoard event files ("events.out.tfevents.*"), the format TensorBoard and its Python readers
// load: scalars, PNG images, histograms and markdown text.
//
// A file is a sequence of records, each
//   uint64 length (little-endian) | uint32 masked CRC-32C of the length | data | uint32 masked CRC-32C of the data,
// and every record's data is one serialized `Event` message (tensorboard/compat/proto/event.proto):
// the first carries file_version "brain.Event:2", the others a `Summary` (summary.proto) with one
// or more tagged values. The few messages and fields needed are encoded by hand below (protobuf's
// wire format: varints, 64/32-bit little-endian numbers, length-delimited bytes), because the
// library would otherwise depend on libprotobuf and generated code for six small messages; the
// output is checked by the real `tensorboard` package (tests/interop/test_tensorboard.py).
//
//   joule::io::EventWriter tb("runs/x");               // runs/x/events.out.tfevents.<time>.<host>.<pid>
//   tb.add_scalar("loss", 0.25, step);
//   tb.add_image("samples", joule::io::image_grid(x), step);
//   tb.add_histogram("energy/data", energies, step);
//   tb.add_text("config", "    " + toml_text, 0);

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "joule/io/png.h"

namespace joule::io {

/// CRC-32C (Castagnoli polynomial, reflected 0x82F63B78), as TFRecord framing uses it.
uint32_t crc32c(const void* data, size_t n);
/// TFRecord's masked CRC: ((crc >> 15) | (crc << 17)) + 0xa282ead8.
uint32_t masked_crc32c(const void* data, size_t n);

/// Appends TensorBoard events to a new event file in a folder. Writes are buffered; flush() (or
/// the destructor) makes them visible to TensorBoard. Not thread-safe.
class EventWriter {
 public:
  /// Creates `dir` if needed and a new file DIR/events.out.tfevents.\<unix seconds\>.\<host\>.\<pid\>
  /// (never an existing one), starting with the file-version event.
  explicit EventWriter(const std::string& dir);
  ~EventWriter();
  EventWriter(const EventWriter&) = delete;
  EventWriter& operator=(const EventWriter&) = delete;

  /// A scalar (TensorBoard's "simple_value", float32). Non-finite values are written as they are.
  void add_scalar(const std::string& tag, double value, int64_t step);
  /// Several scalars at one step, in one event.
  void add_scalars(const std::vector<std::pair<std::string, double>>& values, int64_t step);
  /// An RGB image, PNG-encoded.
  void add_image(const std::string& tag, const Image& image, int64_t step);
  /// An already encoded PNG file's bytes; its size is read from the IHDR chunk (the PNG must be
  /// valid: a clear error otherwise).
  void add_png(const std::string& tag, const std::vector<uint8_t>& png, int64_t step);
  /// A histogram of the finite values (NaN and inf are left out and counted nowhere) in `bins`
  /// equal-width buckets between their min and max.
  void add_histogram(const std::string& tag, const std::vector<double>& values, int64_t step, int64_t bins = 30);
  /// The same for the elements of a tensor of any floating type, shape and device.
  void add_histogram(const std::string& tag, const at::Tensor& values, int64_t step, int64_t bins = 30);
  /// Markdown text (TensorBoard's text plugin: a string tensor with plugin name "text").
  void add_text(const std::string& tag, const std::string& markdown, int64_t step);

  /// Writes the buffered events to the file.
  void flush();
  /// The event file's path.
  const std::string& path() const { return path_; }

 private:
  void write_event(const std::string& summary, int64_t step);
  void write_record(const std::string& data);
  std::string path_;
  std::ofstream out_;
};

}  // namespace joule::io
