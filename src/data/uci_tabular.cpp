#include "joule/data/uci_tabular.h"

#include <c10/util/Exception.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <tuple>

#include "joule/data/csv.h"

namespace joule::data {
namespace {

namespace fs = std::filesystem;

std::string need_file(const std::string& dir, const std::string& rel, const std::string& table) {
  const fs::path p = fs::path(dir) / rel;
  TORCH_CHECK(fs::is_regular_file(p), table, ": expected the file '", p.string(), "' (", table,
              " is read from the folder its publisher distributes; see docs/methods/vera.md)");
  return p.string();
}

at::Tensor labels_from_column(const at::Tensor& column, int64_t first, int64_t classes, const std::string& path) {
  auto v = column.to(at::kDouble);
  TORCH_CHECK(v.eq(v.round()).all().item<bool>(), path, ": labels must be integers");
  auto y = v.to(at::kLong) - first;
  const int64_t lo = y.min().item<int64_t>(), hi = y.max().item<int64_t>();
  TORCH_CHECK(lo >= 0 && hi < classes, path, ": labels must lie in ", first, "..", first + classes - 1, ", found ",
              lo + first, "..", hi + first);
  return y;
}

// Tabular._split_data: the last ⌊ratio·N⌋ rows split off.
std::pair<Rows, Rows> split_tail(const Rows& r, double ratio, const std::string& what) {
  const int64_t n = r.size();
  const int64_t k = static_cast<int64_t>(n * ratio);
  TORCH_CHECK(k >= 1 && n - k >= 1, what, ": ", n, " rows are too few to split off ", ratio * 100, "%");
  return {r.slice(0, n - k), r.slice(n - k, n)};
}

}  // namespace

at::Tensor columns_without_repeated_minimum(const at::Tensor& x, int64_t max_count) {
  if (max_count <= 0) return at::arange(x.size(1), at::kLong);
  auto counts = x.eq(std::get<0>(x.min(0, true))).sum(0);
  return counts.le(max_count).nonzero().squeeze(1);
}

const std::vector<std::string>& uci_table_names() {
  static const std::vector<std::string> names{"hepmass", "human", "crop"};
  return names;
}

UciTable load_uci_table(const std::string& name, const std::string& dir, const UciTableOptions& o) {
  TORCH_CHECK(fs::is_directory(dir), name, ": data.path must be the folder holding its files, got '", dir, "'");
  UciTable t;
  Rows train_file, test_file;
  bool shuffle = false, has_test = true;
  int64_t classes = 0;
  if (name == "hepmass") {
    const auto train_path = need_file(dir, "1000_train.csv", "HEPMASS");
    const auto test_path = need_file(dir, "1000_test.csv", "HEPMASS");
    auto tr = read_csv(train_path, CsvOptions().header(CsvHeader::kYes).label_column("0"));
    auto te = read_csv(test_path, CsvOptions().header(CsvHeader::kYes).label_column("0"));
    const int64_t d = tr.features.size(1), dt = te.features.size(1);
    TORCH_CHECK(dt == d + 1 || dt == d, test_path, ": ", dt, " feature columns, expected ", d + 1,
                " (the training file's ", d, " plus the mass column) or ", d);
    classes = 2;
    t.label_names = {"background", "signal"};
    train_file = {tr.features, labels_from_column(tr.labels, 0, classes, train_path)};
    test_file = {te.features.slice(1, 0, d), labels_from_column(te.labels, 0, classes, test_path)};
  } else if (name == "human") {
    auto read_split = [&](const std::string& part) {
      const auto x_path = need_file(dir, part + "/X_" + part + ".txt", "HUMAN");
      const auto y_path = need_file(dir, part + "/y_" + part + ".txt", "HUMAN");
      auto x = read_csv(x_path, CsvOptions().whitespace(true).header(CsvHeader::kNo)).features;
      auto y = read_csv(y_path, CsvOptions().whitespace(true).header(CsvHeader::kNo)).features;
      TORCH_CHECK(y.size(1) == 1, y_path, ": expected one label per line, got ", y.size(1), " columns");
      TORCH_CHECK(y.size(0) == x.size(0), y_path, " has ", y.size(0), " labels for the ", x.size(0), " rows of ", x_path);
      return Rows{x, labels_from_column(y.squeeze(1), 1, 6, y_path)};
    };
    train_file = read_split("train");
    test_file = read_split("test");
    TORCH_CHECK(test_file.x.size(1) == train_file.x.size(1), "HUMAN: the test file has ", test_file.x.size(1),
                " features, the training file ", train_file.x.size(1));
    classes = 6;
    t.label_names = {"WALKING", "WALKING_UPSTAIRS", "WALKING_DOWNSTAIRS", "SITTING", "STANDING", "LAYING"};
    shuffle = true;
  } else if (name == "crop") {
    const auto path = need_file(dir, "WinnipegDataset.txt", "CROP");
    auto all = read_csv(path, CsvOptions().header(CsvHeader::kYes).label_column("label"));
    classes = 7;
    train_file = {all.features, labels_from_column(all.labels, 1, classes, path)};
    for (int64_t c = 0; c < classes; ++c) t.label_names.push_back("crop " + std::to_string(c + 1));
    shuffle = true;
    has_test = false;
  } else {
    TORCH_CHECK(false, "unknown UCI table '", name, "' (known: hepmass, human, crop)");
  }
  t.raw_features = train_file.x.size(1);

  // The filter reads the whole training file, before the validation split (as the reference).
  if (name != "crop") {
    auto keep = columns_without_repeated_minimum(train_file.x, o.drop_repeated());
    TORCH_CHECK(keep.numel() > 0, name, ": the repeated-value filter (", o.drop_repeated(),
                ") drops every feature; raise it or set 0");
    t.dropped_features = t.raw_features - keep.numel();
    train_file.x = train_file.x.index_select(1, keep);
    test_file.x = test_file.x.index_select(1, keep);
  }
  if (shuffle) train_file = train_file.select(numpy_legacy_shuffle(train_file.size(), o.shuffle_seed()));
  if (!has_test) std::tie(train_file, test_file) = split_tail(train_file, o.test_ratio(), name);
  std::tie(t.train, t.valid) = split_tail(train_file, o.val_ratio(), name);
  t.test = test_file;

  if (o.standardize()) {
    auto mean = t.train.x.mean(0, true);
    auto sd = t.train.x.std(0, /*unbiased=*/false, /*keepdim=*/true);
    sd = at::where(sd > 1e-12, sd, at::ones_like(sd));  // a constant column keeps scale 1 (numpy would divide by 0)
    for (auto* part : {&t.train, &t.valid, &t.test}) part->x = (part->x - mean) / sd;
  }
  return t;
}

}  // namespace joule::data
