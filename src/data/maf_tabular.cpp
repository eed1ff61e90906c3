#include "joule/data/maf_tabular.h"

#include <c10/util/Exception.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "joule/data/csv.h"
#include "joule/data/numpy_random.h"
#include "joule/data/uci_tabular.h"
#include "joule/io/hdf5.h"
#include "joule/io/npy.h"

namespace joule::data {
namespace {

namespace fs = std::filesystem;

// `path` itself when it is a file, else `path/file`.
std::string resolve(const std::string& path, const std::string& file, const std::string& table) {
  if (fs::is_regular_file(path)) return path;
  TORCH_CHECK(fs::is_directory(path), table, ": data.path '", path, "' is neither the ", file,
              " file nor a folder holding it");
  const auto p = (fs::path(path) / file).string();
  TORCH_CHECK(fs::is_regular_file(p), table, ": no ", file, " in ", path, " (MAF's data release has it under ",
              table == "POWER" ? "power/" : table == "MINIBOONE" ? "miniboone/" : table == "GAS" ? "gas/" : "",
              file, ")");
  return p;
}

at::Tensor finite_2d(at::Tensor x, const std::string& path, int64_t columns = -1) {
  TORCH_CHECK(x.dim() == 2 && x.size(0) > 0, path, ": expected a table [N, D], got an array of shape ", x.sizes());
  TORCH_CHECK(columns < 0 || x.size(1) == columns, path, ": expected ", columns, " columns, got ", x.size(1));
  x = x.to(at::kDouble);
  if (!x.isfinite().all().item<bool>()) {
    auto bad = (~x.isfinite()).nonzero()[0];
    TORCH_CHECK(false, path, ": row ", bad[0].item<int64_t>(), ", column ", bad[1].item<int64_t>(), " is ",
                x[bad[0]][bad[1]].item<double>(), " (NaN/inf in data; clean the file)");
  }
  return x;
}

// z-scores every part with the mean and std of `stats` (ddof 0: numpy's std; 1: pandas').
void standardise(std::vector<at::Tensor*> parts, const at::Tensor& stats, bool sample_std) {
  auto mean = stats.mean(0, true);
  auto sd = stats.std(0, /*unbiased=*/sample_std, /*keepdim=*/true);
  sd = at::where(sd > 0, sd, at::ones_like(sd));  // a constant column stays put instead of becoming NaN
  for (auto* p : parts) *p = (*p - mean) / sd;
}

MafTable finish(at::Tensor train, at::Tensor valid, at::Tensor test, int64_t raw_columns) {
  MafTable t;
  t.train = train.to(at::kFloat).contiguous();
  t.valid = valid.to(at::kFloat).contiguous();
  t.test = test.to(at::kFloat).contiguous();
  t.raw_columns = raw_columns;
  return t;
}

std::string names_of(const std::vector<std::string>& columns, const std::vector<int64_t>& idx) {
  std::ostringstream s;
  for (size_t i = 0; i < idx.size(); ++i) s << (i ? ", " : "") << columns[static_cast<size_t>(idx[i])];
  return s.str();
}

MafTable load_gas(const std::string& path) {
  {
    std::ifstream in(path, std::ios::binary);
    const int first = in.get();
    TORCH_CHECK(first != 0x80, path, ": this is MAF's pandas pickle, which only Python can read; convert it once with\n"
                "  python3 scripts/gas_pickle_to_csv.py ", path, " ethylene_CO.csv\nand point data.path at the CSV");
  }
  const bool uci_text = fs::path(path).extension() == ".txt";
  auto table = uci_text ? read_csv(path, CsvOptions().whitespace(true).skip_lines(1).header(CsvHeader::kNo))
                        : read_csv(path);
  auto x = finite_2d(table.features, path);
  std::vector<std::string> columns = table.columns;
  // UCI's column order is Time, Methane, Ethylene, then the 16 sensors; MAF's pickle names them.
  std::vector<int64_t> keep;
  const bool named = std::count(columns.begin(), columns.end(), "Meth") && std::count(columns.begin(), columns.end(), "Eth") &&
                     std::count(columns.begin(), columns.end(), "Time");
  for (int64_t j = 0; j < x.size(1); ++j) {
    const auto& c = columns[static_cast<size_t>(j)];
    const bool drop = named ? (c == "Meth" || c == "Eth" || c == "Time") : j < 3;
    if (!drop) keep.push_back(j);
  }
  TORCH_CHECK(keep.size() >= 2, path, ": GAS needs Time, Meth, Eth and at least two sensor columns, got ", x.size(1),
              " columns");
  x = x.index_select(1, at::tensor(keep, at::kLong));
  std::vector<std::string> sensors;
  for (auto j : keep) sensors.push_back(columns[static_cast<size_t>(j)]);
  auto kept = columns_without_correlated(x);
  std::vector<int64_t> dropped;
  for (int64_t j = 0; j < x.size(1); ++j)
    if (!std::count(kept.begin(), kept.end(), j)) dropped.push_back(j);
  x = x.index_select(1, at::tensor(kept, at::kLong));
  standardise({&x}, x, /*sample_std=*/true);
  auto parts = maf_tail_split(x);
  auto t = finish(parts[0], parts[1], parts[2], table.features.size(1));
  t.notes.push_back("GAS: dropped Time, Meth, Eth and the correlated sensors " + (dropped.empty() ? std::string("(none)") : names_of(sensors, dropped)));
  return t;
}

MafTable load_hepmass(const std::string& dir) {
  TORCH_CHECK(fs::is_directory(dir), "HEPMASS: data.path must be the folder holding 1000_train.csv and 1000_test.csv, got '",
              dir, "'");
  const auto train_path = (fs::path(dir) / "1000_train.csv").string();
  const auto test_path = (fs::path(dir) / "1000_test.csv").string();
  for (const auto& p : {train_path, test_path})
    TORCH_CHECK(fs::is_regular_file(p), "HEPMASS: missing ", p, " (UCI's HEPMASS release has it)");
  auto tr = read_csv(train_path, CsvOptions().header(CsvHeader::kYes).label_column("0"));
  auto te = read_csv(test_path, CsvOptions().header(CsvHeader::kYes).label_column("0"));
  const int64_t d = tr.features.size(1), dt = te.features.size(1);
  TORCH_CHECK(dt == d + 1 || dt == d, test_path, ": ", dt, " feature columns, expected ", d + 1,
              " (the training file's ", d, " plus the mass column) or ", d);
  // Signal events only (label 1), as MAF's loader keeps; the test file's last column is dropped.
  auto signal = [](const CsvTable& t) { return t.labels.eq(1).nonzero().squeeze(1); };
  auto train = finite_2d(tr.features.index_select(0, signal(tr)), train_path);
  auto test = finite_2d(te.features.index_select(0, signal(te)).slice(1, 0, d), test_path);
  // The repeated-minimum filter, on the raw values (the reference applies it after an affine
  // standardisation, which keeps equal values equal).
  auto keep = columns_without_repeated_minimum(train, 5);
  TORCH_CHECK(keep.numel() > 0, train_path, ": every feature has a repeated smallest value");
  const int64_t dropped = d - keep.numel();
  train = train.index_select(1, keep);
  test = test.index_select(1, keep);
  standardise({&train, &test}, train.clone(), /*sample_std=*/true);
  const int64_t n_valid = static_cast<int64_t>(0.1 * double(train.size(0)));
  auto t = finish(train.slice(0, 0, train.size(0) - n_valid), train.slice(0, train.size(0) - n_valid), test, d);
  t.notes.push_back("HEPMASS: signal rows only; " + std::to_string(dropped) + " features with a repeated minimum dropped");
  return t;
}

}  // namespace

const std::vector<std::string>& maf_table_names() {
  static const std::vector<std::string> names{"power", "gas", "hepmass", "miniboone", "bsds300"};
  return names;
}

std::vector<at::Tensor> maf_tail_split(const at::Tensor& x) {
  const int64_t n = x.size(0);
  const int64_t n_test = static_cast<int64_t>(0.1 * double(n));
  const int64_t rest = n - n_test;
  const int64_t n_valid = static_cast<int64_t>(0.1 * double(rest));
  TORCH_CHECK(rest - n_valid > 0, "a table of ", n, " rows leaves no training rows after MAF's 10%/10% split");
  return {x.slice(0, 0, rest - n_valid), x.slice(0, rest - n_valid, rest), x.slice(0, rest, n)};
}

std::vector<int64_t> columns_without_correlated(const at::Tensor& x_in, double threshold) {
  auto x = x_in.to(at::kDouble);
  std::vector<int64_t> kept(static_cast<size_t>(x.size(1)));
  for (size_t j = 0; j < kept.size(); ++j) kept[j] = int64_t(j);
  while (kept.size() > 1) {
    auto cols = x.index_select(1, at::tensor(kept, at::kLong));
    auto centred = cols - cols.mean(0, true);
    auto cov = centred.t().mm(centred);
    auto sd = cov.diagonal().sqrt();
    auto corr = cov / sd.unsqueeze(1) / sd.unsqueeze(0);  // a constant column gives NaN, which is never > threshold
    auto counts = corr.gt(threshold).sum(1);               // the diagonal counts once
    auto over = counts.gt(1).nonzero();
    if (over.numel() == 0) break;
    kept.erase(kept.begin() + over[0][0].item<int64_t>());
  }
  return kept;
}

MafTable maf_split_and_standardise(const at::Tensor& x_in) {
  auto parts = maf_tail_split(x_in.to(at::kDouble));
  TORCH_CHECK(parts[1].size(0) > 0 && parts[2].size(0) > 0, x_in.size(0),
              " rows are too few for MAF's 10%/10% test and validation splits (at least 20)");
  auto stats = at::cat({parts[0], parts[1]});
  standardise({&parts[0], &parts[1], &parts[2]}, stats, /*sample_std=*/false);
  return finish(parts[0], parts[1], parts[2], x_in.size(1));
}

MafTable maf_power(const at::Tensor& raw_in) {
  auto raw = finite_2d(raw_in, "POWER", 8);
  NumpyLegacyRandom rng(42);
  auto x = raw.index_select(0, rng.shuffle_permutation(raw.size(0)));
  const int64_t n = x.size(0);
  x = x.index_select(1, at::tensor({0, 2, 4, 5, 6, 7}, at::kLong));  // np.delete column 3, then column 1
  // Uniform noise, drawn in the reference's order (voltage, gap, sub-meters) and laid out as
  // (gap, voltage, sub-meters ×3, time = 0).
  auto voltage = rng.rand(n, 1).mul(0.01);
  auto gap = rng.rand(n, 1).mul(0.001);
  auto meters = rng.rand(n, 3);
  x = x + at::cat({gap, voltage, meters, at::zeros({n, 1}, at::kDouble)}, 1);
  auto parts = maf_tail_split(x);
  auto stats = at::cat({parts[0], parts[1]});
  standardise({&parts[0], &parts[1], &parts[2]}, stats, /*sample_std=*/false);
  return finish(parts[0], parts[1], parts[2], 8);
}

MafTable load_maf_table(const std::string& name, const std::string& path) {
  TORCH_CHECK(!path.empty(), name, ": data.path must name the file (or its folder)");
  if (name == "power") {
    const auto file = resolve(path, "data.npy", "POWER");
    auto t = maf_power(finite_2d(io::read_npy(file), file, 8));
    return t;
  }
  if (name == "gas") return load_gas(resolve(path, "ethylene_CO.csv", "GAS"));
  if (name == "hepmass") return load_hepmass(path);
  if (name == "miniboone") {
    const auto file = resolve(path, "data.npy", "MINIBOONE");
    return maf_split_and_standardise(finite_2d(io::read_npy(file), file));
  }
  if (name == "bsds300") {
    const auto file = resolve(path, "BSDS300.hdf5", "BSDS300");
    auto train = finite_2d(io::read_hdf5(file, "train"), file);
    auto valid = finite_2d(io::read_hdf5(file, "validation"), file, train.size(1));
    auto test = finite_2d(io::read_hdf5(file, "test"), file, train.size(1));
    return finish(train, valid, test, train.size(1));
  }
  TORCH_CHECK(false, "unknown MAF table '", name, "' (known: power, gas, hepmass, miniboone, bsds300)");
}

}  // namespace joule::data
