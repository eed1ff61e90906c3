#pragma once
// A reader for numeric CSV tables (UCI-style tabular data, 2-D point files).

#include <ATen/ATen.h>
#include <torch/arg.h>
#include <torch/types.h>

#include <string>
#include <vector>

namespace joule::data {

/// Whether a CSV file's first row (after CsvOptions::skip_lines) is a header.
enum class CsvHeader {
  kAuto,  ///< a header if any of its fields is not a number
  kYes,   ///< always a header
  kNo     ///< never a header: column names are generated
};

/// Options for read_csv().
///
/// Example:
///   auto t = joule::data::read_csv("HAR.csv", joule::data::CsvOptions().label_column("activity"));
struct CsvOptions {
  /// Field separator (ignored with `whitespace`).
  TORCH_ARG(char, delimiter) = ',';
  /// Fields separated by runs of spaces or tabs (UCI's .txt tables, e.g. HAR's X_train.txt);
  /// overrides `delimiter`.
  TORCH_ARG(bool, whitespace) = false;
  /// kAuto: the first row is a header if any of its fields is not a number.
  TORCH_ARG(CsvHeader, header) = CsvHeader::kAuto;
  /// Column holding class labels: a header name or a 0-based index ("" = no labels, and
  /// "-1" = the last column). Numeric labels must be integers; text labels are mapped to
  /// 0..C−1 in sorted order.
  TORCH_ARG(std::string, label_column) = "";
  /// Lines skipped before the header or the first row (a free-text title line, as UCI's
  /// ethylene_CO.txt has).
  TORCH_ARG(int64_t, skip_lines) = 0;
  /// NaN/inf in a feature is an error unless allowed.
  TORCH_ARG(bool, allow_nan) = false;
};

/// What read_csv() returns.
struct CsvTable {
  torch::Tensor features;                  ///< [N, D] float32
  torch::Tensor labels;                    ///< [N] int64, undefined without a label column
  std::vector<std::string> columns;        ///< feature names (generated "c0", "c1", ... without a header)
  std::vector<std::string> label_names;    ///< text labels in class order (empty for numeric labels)
};

/// Reads a CSV file. Any malformed row is an error naming file:line and the column: a ragged
/// row, an empty field, a field that is not a number, NaN/inf (unless allowed).
CsvTable read_csv(const std::string& path, const CsvOptions& options = {});

/// Writes a [N, D] tensor (plus optional header) as CSV, e.g. samples for other tools.
void write_csv(const std::string& path, const torch::Tensor& x, const std::vector<std::string>& header = {});

}  // namespace joule::data
