#include "joule/data/csv.h"

#include <c10/util/Exception.h>

#include <algorithm>
#include <charconv>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <map>
#include <set>
#include <sstream>
#include <string_view>

#include "joule/io/checkpoint.h"

namespace joule::data {
namespace {

// Splits one line into trimmed fields: at `delim` outside double quotes, or (whitespace mode) at
// every run of spaces and tabs, ignoring leading and trailing ones. The strings of `out` are
// reused from row to row, so a long table is split without an allocation per field.
void split_row(const std::string& line, char delim, bool whitespace, std::vector<std::string>& out) {
  size_t k = 0;
  auto next_field = [&]() -> std::string& {
    if (k == out.size()) out.emplace_back();
    std::string& f = out[k++];
    f.clear();
    return f;
  };
  if (whitespace) {
    size_t i = 0;
    while (true) {
      while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
      if (i >= line.size()) break;
      size_t j = i;
      while (j < line.size() && line[j] != ' ' && line[j] != '\t' && line[j] != '\r') ++j;
      next_field().assign(line, i, j - i);
      i = j;
    }
    out.resize(k);
    return;
  }
  if (line.find('"') == std::string::npos) {  // the common case: whole fields at once
    size_t i = 0;
    while (true) {
      size_t j = line.find(delim, i);
      const size_t stop = j == std::string::npos ? line.size() : j;
      size_t b = i, e = stop;
      while (b < e && (line[b] == ' ' || line[b] == '\t')) ++b;
      while (e > b && (line[e - 1] == ' ' || line[e - 1] == '\t' || line[e - 1] == '\r')) --e;
      next_field().assign(line, b, e - b);
      if (j == std::string::npos) break;
      i = j + 1;
    }
    out.resize(k);
    return;
  }
  std::string* field = &next_field();
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (c == '"') {
      if (quoted && i + 1 < line.size() && line[i + 1] == '"') {
        *field += '"';
        ++i;
      } else {
        quoted = !quoted;
      }
    } else if (c == delim && !quoted) {
      field = &next_field();
    } else if (c != '\r') {
      *field += c;
    }
  }
  out.resize(k);
  for (auto& f : out) {
    const auto b = f.find_first_not_of(" \t");
    if (b == std::string::npos) {
      f.clear();
      continue;
    }
    f.erase(f.find_last_not_of(" \t") + 1);
    f.erase(0, b);
  }
}

bool parse_number(std::string_view s, double& v) {
  if (s.empty()) return false;
  // std::from_chars is locale-free and allocation-free (several times faster than strtod on
  // big tables); strtod stays the fallback for what it alone accepts ("+1", hex floats) and for
  // overflow, which it reports as ±inf (the caller rejects that with the field named).
  const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (r.ec == std::errc() && r.ptr == s.data() + s.size()) return true;
  const std::string copy(s);
  char* end = nullptr;
  errno = 0;
  v = std::strtod(copy.c_str(), &end);
  return end == copy.c_str() + copy.size();
}

bool blank(const std::string& line) { return line.find_first_not_of(" \t\r") == std::string::npos; }

}  // namespace

CsvTable read_csv(const std::string& path, const CsvOptions& options) {
  std::ifstream f(path);
  TORCH_CHECK(f.good(), "cannot open CSV file '", path, "' (does it exist?)");
  // Streamed row by row: only the parsed numbers are kept, so multi-gigabyte tables (HEPMASS)
  // need about 4 bytes per value.
  std::string line;
  std::vector<std::string> fields;
  int64_t lineno = 0;
  auto next_row = [&]() {
    while (std::getline(f, line)) {
      ++lineno;
      if (blank(line)) continue;
      split_row(line, options.delimiter(), options.whitespace(), fields);
      return true;
    }
    return false;
  };
  for (int64_t i = 0; i < options.skip_lines() && std::getline(f, line); ++i) ++lineno;
  TORCH_CHECK(next_row(), "CSV file '", path, "' is empty");

  bool has_header = options.header() == CsvHeader::kYes;
  if (options.header() == CsvHeader::kAuto) {
    double v;
    for (const auto& field : fields) has_header = has_header || !parse_number(field, v);
  }
  const size_t ncols = fields.size();
  std::vector<std::string> names;
  if (has_header) {
    names = fields;
  } else {
    for (size_t j = 0; j < ncols; ++j) names.push_back("c" + std::to_string(j));
  }

  // Which column holds labels.
  int64_t label_col = -1;
  if (!options.label_column().empty()) {
    const std::string& lc = options.label_column();
    auto it = std::find(names.begin(), names.end(), lc);
    double idx;
    if (it != names.end()) {
      label_col = it - names.begin();
    } else if (parse_number(lc, idx) && idx == std::floor(idx)) {
      label_col = idx < 0 ? int64_t(ncols) + int64_t(idx) : int64_t(idx);
      TORCH_CHECK(label_col >= 0 && label_col < int64_t(ncols), "CSV '", path, "': label column ", lc,
                  " is out of range (the file has ", ncols, " columns)");
    } else {
      TORCH_CHECK(false, "CSV '", path, "': no column named '", lc, "' (columns: ", c10::Join(", ", names), ")");
    }
  }

  const int64_t d = int64_t(ncols) - (label_col >= 0 ? 1 : 0);
  TORCH_CHECK(d > 0, "CSV '", path, "' has no feature columns");
  std::vector<float> feats;
  std::vector<std::string> raw_labels;
  bool pending = !has_header;  // the first row is data
  while (pending || next_row()) {
    pending = false;
    const auto& r = fields;
    // Built only when a check fails (TORCH_CHECK formats its message lazily).
    const auto where = [&] { return path + ":" + std::to_string(lineno); };
    TORCH_CHECK(r.size() == ncols, where(), ": expected ", ncols, " columns (as in the first row), got ", r.size());
    for (size_t j = 0; j < ncols; ++j) {
      if (int64_t(j) == label_col) {
        TORCH_CHECK(!r[j].empty(), where(), ": empty label in column '", names[j], "'");
        raw_labels.push_back(r[j]);
        continue;
      }
      double v;
      TORCH_CHECK(!r[j].empty(), where(), ": empty field in column '", names[j], "' (missing values are not supported; "
                  "impute or drop the row)");
      TORCH_CHECK(parse_number(r[j], v), where(), ": column '", names[j], "': '", r[j], "' is not a number");
      TORCH_CHECK(options.allow_nan() || std::isfinite(v), where(), ": column '", names[j], "' is ", r[j],
                  " (NaN/inf in data; clean the file or drop the row)");
      TORCH_CHECK(!std::isfinite(v) || std::abs(v) <= 3.4028234663852886e38, where(), ": column '", names[j], "' is ", r[j],
                  ", beyond float32's range (±3.4e38); rescale the column");
      feats.push_back(float(v));
    }
  }
  TORCH_CHECK(!feats.empty(), "CSV file '", path, "' has a header but no data rows");
  const int64_t n = int64_t(feats.size()) / d;

  CsvTable t;
  t.features = torch::from_blob(feats.data(), {n, d}, torch::kFloat32).clone();
  for (size_t j = 0; j < ncols; ++j) if (int64_t(j) != label_col) t.columns.push_back(names[j]);
  if (label_col >= 0) {
    std::vector<int64_t> labels(static_cast<size_t>(n));
    // Parsed once, with the same parser as the features: std::stod would throw out_of_range on
    // a label such as "1e-999" that parse_number reads as 0 (found by fuzz_csv).
    bool numeric = true;
    for (size_t i = 0; i < raw_labels.size() && numeric; ++i) {
      double v;
      numeric = parse_number(raw_labels[i], v) && v == std::floor(v) && std::abs(v) < 9.0e15;
      if (numeric) labels[i] = int64_t(v);
    }
    if (!numeric) {
      std::set<std::string> uniq(raw_labels.begin(), raw_labels.end());
      t.label_names.assign(uniq.begin(), uniq.end());
      std::map<std::string, int64_t> index;
      for (size_t c = 0; c < t.label_names.size(); ++c) index[t.label_names[c]] = int64_t(c);
      for (size_t i = 0; i < raw_labels.size(); ++i) labels[i] = index[raw_labels[i]];
    }
    t.labels = torch::tensor(labels, torch::kLong);
  }
  return t;
}

void write_csv(const std::string& path, const torch::Tensor& x, const std::vector<std::string>& header) {
  TORCH_CHECK(x.dim() == 2, "write_csv: expected [N, D], got ", x.sizes());
  auto c = x.to(torch::kCPU, torch::kFloat64).contiguous();
  TORCH_CHECK(header.empty() || int64_t(header.size()) == c.size(1), "write_csv: ", header.size(), " names for ",
              c.size(1), " columns");
  std::ostringstream os;
  os << std::setprecision(9);
  for (size_t j = 0; j < header.size(); ++j) os << (j ? "," : "") << header[j];
  if (!header.empty()) os << "\n";
  const double* p = c.data_ptr<double>();
  for (int64_t i = 0; i < c.size(0); ++i) {
    for (int64_t j = 0; j < c.size(1); ++j) os << (j ? "," : "") << p[i * c.size(1) + j];
    os << "\n";
  }
  io::write_text_file(path, os.str());
}

}  // namespace joule::data
