#include "joule/methods/data_config.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "joule/core/runtime.h"
#include "joule/data/cifar.h"
#include "joule/data/csv.h"
#include "joule/data/idx.h"
#include "joule/data/maf_tabular.h"
#include "joule/data/toy2d.h"
#include "joule/data/uci_tabular.h"

namespace joule::methods {

using config::ConfigError;
using config::Doc;

void PointDataConfig::visit(config::Fields& f) {
  auto datasets = data::toy_names();
  for (const char* d : {"csv", "fashion-mnist", "mnist"}) datasets.push_back(d);
  for (const auto& d : data::maf_table_names()) datasets.push_back(d);
  f("dataset", dataset,
    Doc("training data: a built-in 2-D toy set, csv (data.path), fashion-mnist / mnist as flattened 784-d "
        "vectors uniformly dequantised into [-1, 1] (for flows), or MAF's density-estimation tables power, gas, "
        "hepmass, miniboone, bsds300 (data.path: the file or its folder; docs/methods/ffjord.md)")
        .choices(datasets));
  f("path", path, "data file for data.dataset = csv (numeric columns, optional header) or a MAF table; the IDX folder "
    "for mnist");
  f("n_train", n_train, Doc("training points drawn once from the generator").min(1));
  f("n_test", n_test, Doc("held-out points (fresh seed) for test NLL and MMD; csv: at most a fifth of the rows; MAF "
    "tables: the first n_test rows of the test split").min(1));
  f("preprocess", preprocess,
    Doc("csv: none = a random split, raw values; maf = MAF's pre-processing (last 10% of the rows test, last 10% of "
        "the rest validation, z-scored with the training and validation mean and std)")
        .choices({"none", "maf"}));
}

PointData load_points(const PointDataConfig& cfg, uint64_t seed) {
  PointData d;
  auto gen_train = make_generator(derive_seed(seed, 1));
  auto gen_test = make_generator(derive_seed(seed, 2));
  if (cfg.dataset == "csv") {
    if (cfg.path.empty()) throw ConfigError("data.dataset = \"csv\" needs data.path = \"<file.csv>\"");
    if (cfg.preprocess == "maf") {
      auto t = data::maf_split_and_standardise(data::read_csv(cfg.path).features);
      d.train = t.train;
      d.valid = t.valid;
      d.test = t.test;
      d.extent = 1.2 * d.test.abs().max().item<double>();
      return d;
    }
    data::Rows all{data::read_csv(cfg.path).features, {}};
    const int64_t n_test = std::min<int64_t>(cfg.n_test, all.size() / 5);
    auto split = data::split_rows(all, /*n_valid=*/n_test, n_test, gen_test, /*min_train=*/2);
    d.train = split.train.x;
    d.valid = split.valid.x;
    d.test = split.test.x;
    d.extent = 1.2 * d.test.abs().max().item<double>();
    return d;
  }
  const auto& tables = data::maf_table_names();
  if (std::find(tables.begin(), tables.end(), cfg.dataset) != tables.end()) {
    if (cfg.path.empty())
      throw ConfigError("data.dataset = \"" + cfg.dataset + "\" needs data.path = <its file or folder> (docs/methods/ffjord.md)");
    auto t = data::load_maf_table(cfg.dataset, cfg.path);
    d.train = t.train;
    d.valid = t.valid;
    d.test = t.test.slice(0, 0, std::min<int64_t>(cfg.n_test, t.test.size(0)));
    d.notes = t.notes;
    if (d.test.size(0) < t.test.size(0))
      d.notes.push_back(cfg.dataset + ": test NLL on the first " + std::to_string(d.test.size(0)) + " of " +
                        std::to_string(t.test.size(0)) + " test rows (data.n_test)");
    d.extent = 1.2 * d.test.abs().max().item<double>();
    return d;
  }
  if (cfg.dataset == "fashion-mnist" || cfg.dataset == "mnist") {
    if (cfg.dataset == "mnist" && cfg.path.empty()) throw ConfigError("data.dataset = \"mnist\" needs data.path = <folder with the MNIST IDX files>");
    const std::string dir = cfg.path.empty() ? data::kFashionMnistDir : cfg.path;
    // Pixel k/255 -> (k + u)/256 with u ~ U[0, 1) drawn once per split, then [−1, 1]: a continuous
    // density for the discrete pixels (Dinh et al. arXiv:1410.8516 §5 dequantise the same way).
    auto dequantise = [](const at::Tensor& images, at::Generator& gen) {
      auto k = images.mul(255.0).round();
      auto u = torch::empty_like(k).uniform_(0.0, 1.0, gen);
      return k.add(u).div(256.0).mul(2.0).sub(1.0).reshape({images.size(0), -1});
    };
    auto train_all = data::load_mnist_split(dir, "train").images;
    auto test_all = data::load_mnist_split(dir, "t10k").images;
    auto perm = torch::randperm(train_all.size(0), gen_train, torch::kLong);
    const int64_t n_train = std::min<int64_t>(cfg.n_train, train_all.size(0) - 1);
    const int64_t n_valid = std::min<int64_t>(cfg.n_test, train_all.size(0) - n_train);
    d.train = dequantise(train_all.index_select(0, perm.slice(0, 0, n_train)), gen_train);
    auto gen_valid = make_generator(derive_seed(seed, 6));
    d.valid = dequantise(train_all.index_select(0, perm.slice(0, n_train, n_train + n_valid)), gen_valid);
    d.test = dequantise(test_all.slice(0, 0, std::min<int64_t>(cfg.n_test, test_all.size(0))), gen_test);
    d.extent = 1.0;
    return d;
  }
  d.train = data::sample_toy(cfg.dataset, cfg.n_train, gen_train);
  d.test = data::sample_toy(cfg.dataset, cfg.n_test, gen_test);
  d.valid = data::sample_toy(cfg.dataset, cfg.n_test, make_generator(derive_seed(seed, 6)));
  const auto& info = data::toy_info(cfg.dataset);
  d.entropy = info.entropy;
  d.entropy_exact = info.entropy_exact;
  d.extent = info.plot_extent;
  return d;
}

void LabelledDataConfig::visit(config::Fields& f) {
  f("dataset", dataset,
    Doc("fashion-mnist (Debian's copy, or data.path), mnist, cifar10, cifar100 (data.path: their files), "
        "synthetic-cifar10 (random images, for timing), csv (data.path), or VERA's tables hepmass, human, crop "
        "(data.path: the folder as distributed)")
        .choices({"fashion-mnist", "mnist", "cifar10", "cifar100", "synthetic-cifar10", "csv", "hepmass", "human",
                  "crop"}));
  f("path", path, "folder with the IDX, CIFAR or HEPMASS/HUMAN/CROP files, or the CSV file");
  f("n_train", n_train, Doc("training examples (0 = all; otherwise a seeded random subset)").min(0));
  f("n_test", n_test, Doc("test examples for accuracy and calibration (0 = all)").min(0));
  f("label_column", label_column, "csv: label column (name or 0-based index; -1 = last)");
  f("val_fraction", val_fraction, Doc("csv: fraction of rows held out for validation").min(0.0).max(0.9));
  f("test_fraction", test_fraction, Doc("csv: fraction of rows held out for testing").min(0.01).max(0.9));
  f("drop_repeated", drop_repeated,
    Doc("tables: drop features whose smallest training value occurs more than this many times (VERA's filter: 5; "
        "0 = keep all; -1 = the table's own: 5 for hepmass and human, 0 otherwise)")
        .min(-1));
  f("synthetic_n", synthetic_n, Doc("synthetic-cifar10: random CIFAR-shaped images (for timing only)").min(64));
}

LabelledData load_labelled(const LabelledDataConfig& cfg, at::Generator& gen) {
  LabelledData d;
  const std::string& name = cfg.dataset;
  const std::string& path = cfg.path;
  auto need_path = [&](const std::string& what) {
    if (path.empty()) throw ConfigError("data.dataset = \"" + name + "\" needs data.path = <" + what + ">");
  };
  // Pixel images in [0, 1] -> model space [−1, 1].
  auto model_space = [](const data::ImageSplit& s) { return data::Rows{s.images.mul(2.0).sub(1.0), s.labels}; };
  if (name == "fashion-mnist" || name == "mnist") {
    if (name == "mnist") need_path("folder with the MNIST IDX files");
    const std::string dir = path.empty() ? data::kFashionMnistDir : path;
    d.train = model_space(data::load_mnist_split(dir, "train"));
    d.test = model_space(data::load_mnist_split(dir, "t10k"));
  } else if (name == "cifar10" || name == "cifar100") {
    need_path("folder with the CIFAR binary files");
    const auto kind = name == "cifar10" ? data::CifarKind::kCifar10 : data::CifarKind::kCifar100;
    d.train = model_space(data::load_cifar_split(path, kind, "train"));
    d.test = model_space(data::load_cifar_split(path, kind, "test"));
  } else if (name == "synthetic-cifar10") {
    const int64_t n = cfg.synthetic_n;
    d.train = {torch::empty({n, 3, 32, 32}).uniform_(-1.0, 1.0, gen), torch::randint(10, {n}, gen, torch::kLong)};
    d.test = {torch::empty({256, 3, 32, 32}).uniform_(-1.0, 1.0, gen), torch::randint(10, {256}, gen, torch::kLong)};
  } else if (name == "hepmass" || name == "human" || name == "crop") {
    need_path("folder with the " + name + " files");
    auto table = data::load_uci_table(name, path, data::UciTableOptions().drop_repeated(
                                                      cfg.drop_repeated >= 0 ? cfg.drop_repeated : 5));
    d.train = table.train;
    d.valid = table.valid;
    d.test = table.test;
    d.dropped_features = table.dropped_features;
    d.notes.push_back("data: " + name + " with " + std::to_string(d.train.x.size(1)) + " of " +
                      std::to_string(table.raw_features) + " features, " + std::to_string(d.train.size()) + " / " +
                      std::to_string(d.valid.size()) + " / " + std::to_string(d.test.size()) +
                      " training / validation / test rows (VERA's split and standardisation; its code reports the "
                      "validation split)");
  } else {
    need_path("file.csv");
    auto table = data::read_csv(path, data::CsvOptions().label_column(cfg.label_column));
    if (!table.labels.defined()) throw ConfigError("CSV '" + path + "' needs a label column (data.label_column)");
    const int64_t n = table.features.size(0);
    const int64_t n_test = std::max<int64_t>(1, std::llround(n * cfg.test_fraction));
    const int64_t n_val = std::llround(n * cfg.val_fraction);
    auto split = data::split_rows(data::Rows{table.features, table.labels}, n_val, n_test, gen, /*min_train=*/2);
    d.train = split.train;
    d.test = split.test;
    if (n_val > 0) d.valid = split.valid;
    if (cfg.drop_repeated > 0) {  // −1 (the table's own) is 0 for a plain CSV
      // VERA's tabular filter (arXiv:2010.04230 §6.2), on the training rows.
      auto keep = data::columns_without_repeated_minimum(d.train.x, cfg.drop_repeated);
      if (keep.numel() == 0) {
        throw ConfigError("data.drop_repeated = " + std::to_string(cfg.drop_repeated) + " drops every feature of '" + path +
                          "'; raise it or set 0");
      }
      d.dropped_features = d.train.x.size(1) - keep.numel();
      d.notes.push_back("data: dropped " + std::to_string(d.dropped_features) + " feature(s) of " +
                        std::to_string(d.train.x.size(1)) + " whose smallest value occurs more than " +
                        std::to_string(cfg.drop_repeated) + " times (data.drop_repeated)");
      for (auto* part : {&d.train, &d.test, &d.valid}) {
        if (part->x.defined()) part->x = part->x.index_select(1, keep);
      }
    }
    // Standardise every split with the training statistics (constant columns keep scale 1), in
    // float64 so that values near float32's limit do not overflow the variance.
    auto x64 = d.train.x.to(torch::kFloat64);
    auto mean = x64.mean(0, true);
    auto std = x64.std(0, /*unbiased=*/true, /*keepdim=*/true);
    std = torch::where(std > 1e-12, std, torch::ones_like(std));
    for (auto* part : {&d.train, &d.test, &d.valid}) {
      if (part->x.defined()) part->x = ((part->x.to(torch::kFloat64) - mean) / std).to(torch::kFloat32);
    }
  }
  d.event_shape.assign(d.train.x.sizes().begin() + 1, d.train.x.sizes().end());
  {
    // Labels are class indices 0..C−1: a negative one, or ids far beyond the number of distinct
    // values, would otherwise train silently or allocate a classifier head of that size.
    std::vector<at::Tensor> parts{d.train.y, d.test.y};
    if (d.valid.y.defined()) parts.push_back(d.valid.y);
    auto all = torch::cat(parts);
    const int64_t lo = all.min().item<int64_t>(), hi = all.max().item<int64_t>();
    const int64_t distinct = std::get<0>(at::_unique(all)).numel();
    const std::string where = path.empty() ? name : "'" + path + "'";
    if (lo < 0) {
      throw std::runtime_error("labels of " + where + " must be class indices 0, 1, ...; found " + std::to_string(lo) +
                               " (remap the label column)");
    }
    if (hi + 1 > 4 * distinct + 16) {
      throw std::runtime_error("labels of " + where + " run up to " + std::to_string(hi) + " but take only " +
                               std::to_string(distinct) + " distinct values: they look like ids, not class indices "
                               "0..C-1 (remap them, or give text labels, which are mapped automatically)");
    }
  }
  d.classes = std::max(d.train.y.max().item<int64_t>(), d.test.y.max().item<int64_t>()) + 1;
  if (name == "cifar100") d.classes = 100;
  if (name == "hepmass") d.classes = 2;
  if (name == "human") d.classes = 6;
  if (name == "crop") d.classes = 7;
  const bool table = name == "csv" || name == "hepmass" || name == "human" || name == "crop";
  if (!table) d.classes = std::max<int64_t>(d.classes, 10);
  if (d.classes < 2) throw ConfigError("the data has a single class; a classifier needs labels of at least two classes");
  // A seeded subset of the training data, then the first n_test test examples.
  if (cfg.n_train > 0 && cfg.n_train < d.train.size()) {
    d.train = d.train.select(torch::randperm(d.train.size(), gen, torch::kLong).slice(0, 0, cfg.n_train));
  }
  if (cfg.n_test > 0 && cfg.n_test < d.test.size()) d.test = d.test.slice(0, cfg.n_test);
  return d;
}

data::Rows labelled_subset(const data::Rows& train, int64_t per_class, int64_t classes, at::Generator& gen,
                           const std::string& key) {
  auto perm = torch::randperm(train.size(), gen, torch::kLong);
  auto y = train.y.index_select(0, perm);
  std::vector<at::Tensor> chosen;
  for (int64_t c = 0; c < classes; ++c) {
    auto idx = perm.masked_select(y.eq(c));
    if (idx.size(0) < per_class) {
      throw ConfigError(key + " = " + std::to_string(per_class) + " but class " + std::to_string(c) + " has only " +
                        std::to_string(idx.size(0)) + " training examples");
    }
    chosen.push_back(idx.slice(0, 0, per_class));
  }
  return train.select(torch::cat(chosen, 0));
}

}  // namespace joule::methods
