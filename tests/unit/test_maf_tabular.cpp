// MAF's density-estimation tables (include/joule/data/maf_tabular.h) and the file formats under
// them (.npy, HDF5), read from small files the test writes in those formats: numpy's legacy
// generator draw for draw, POWER's seeded noise against numpy (scripts/maf_tabular_reference.py),
// GAS's correlation filter, HEPMASS's signal rows and repeated-value filter, MINIBOONE's and
// BSDS300's splits, and errors that name the file and the problem.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include "joule/data/csv.h"
#include "joule/data/maf_tabular.h"
#include "joule/data/numpy_random.h"
#include "joule/io/hdf5.h"
#include "joule/io/npy.h"
#include "support/test_support.h"

namespace {

using joule::data::load_maf_table;
using joule::testing::error_of;
using joule::testing::TempDir;

void expect_row(const at::Tensor& row, const std::vector<double>& expected, double tol) {
  ASSERT_EQ(row.numel(), int64_t(expected.size()));
  auto r = row.reshape(-1).to(at::kDouble);
  for (size_t j = 0; j < expected.size(); ++j) EXPECT_NEAR(r[int64_t(j)].item<double>(), expected[j], tol) << "column " << j;
}

// The arrays scripts/maf_tabular_reference.py builds.
at::Tensor power_raw(int64_t n = 40) {
  auto i = at::arange(n, at::kDouble).unsqueeze(1);
  auto j = at::arange(8, at::kDouble).unsqueeze(0);
  return at::sin(0.37 * i + 1.3 * j + 0.1) * (j + 1) + 0.5 * j;
}

void write_text(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

TEST(NumpyRandomTest, MatchesNumpyLegacyGenerator) {
  // numpy: RandomState(42).rand(3); then a = arange(10); RandomState(42).shuffle(a); rand(2).
  joule::data::NumpyLegacyRandom r(42);
  expect_row(r.rand(1, 3), {0.3745401188473625, 0.9507143064099162, 0.7319939418114051}, 1e-15);
  joule::data::NumpyLegacyRandom s(42);
  auto perm = s.shuffle_permutation(10);
  EXPECT_TRUE(perm.equal(at::tensor({8, 1, 5, 0, 7, 2, 9, 4, 3, 6}, at::kLong))) << perm;
  expect_row(s.rand(2, 1), {0.15599452, 0.05808361}, 1e-8);
}

TEST(NpyTest, RoundTripsEveryTypeAndReadsFortranOrder) {
  TempDir dir;
  for (auto type : {at::kFloat, at::kDouble, at::kLong, at::kInt, at::kShort, at::kChar, at::kByte, at::kBool}) {
    auto x = at::arange(24, at::kDouble).reshape({2, 3, 4}).remainder(7).to(type);
    joule::io::write_npy(dir / "x.npy", x);
    auto y = joule::io::read_npy(dir / "x.npy");
    EXPECT_EQ(y.scalar_type(), type);
    EXPECT_TRUE(y.equal(x)) << type;
  }
  auto v = at::arange(5, at::kFloat);
  joule::io::write_npy(dir / "v.npy", v);
  EXPECT_TRUE(joule::io::read_npy(dir / "v.npy").equal(v));

  // A Fortran-ordered [2, 3] float64 array as numpy.save writes np.asfortranarray(a).
  std::string header = "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }";
  header.append(128 - 10 - header.size() - 1, ' ');  // data on a 64-byte boundary
  header.push_back('\n');
  std::ofstream out(dir / "f.npy", std::ios::binary);
  out.write("\x93NUMPY\x01\x00", 8);
  const char len[2] = {char(header.size()), 0};
  out.write(len, 2);
  out << header;
  const double column_major[6] = {0, 3, 1, 4, 2, 5};  // a = [[0, 1, 2], [3, 4, 5]]
  out.write(reinterpret_cast<const char*>(column_major), sizeof column_major);
  out.close();
  EXPECT_TRUE(joule::io::read_npy(dir / "f.npy").equal(at::arange(6, at::kDouble).reshape({2, 3})));
}

TEST(NpyTest, BadFilesGetClearErrors) {
  TempDir dir;
  EXPECT_NE(error_of([&] { joule::io::read_npy(dir / "missing.npy"); }).find("missing or unreadable"), std::string::npos);
  write_text(dir / "text.npy", "a,b\n1,2\n");
  EXPECT_NE(error_of([&] { joule::io::read_npy(dir / "text.npy"); }).find("not an .npy file"), std::string::npos);
  joule::io::write_npy(dir / "x.npy", at::ones({10, 10}, at::kDouble));
  std::filesystem::resize_file(dir / "x.npy", 300);
  EXPECT_NE(error_of([&] { joule::io::read_npy(dir / "x.npy"); }).find("truncated .npy data"), std::string::npos);
  auto with_descr = [&](const std::string& descr) {
    std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (1,), }\n";
    std::ofstream out(dir / "d.npy", std::ios::binary);
    out.write("\x93NUMPY\x01\x00", 8);
    const char len[2] = {char(header.size()), 0};
    out.write(len, 2);
    out << header << std::string(8, '\0');
    out.close();
    return error_of([&] { joule::io::read_npy(dir / "d.npy"); });
  };
  EXPECT_NE(with_descr(">f8").find("big-endian"), std::string::npos);
  EXPECT_NE(with_descr("|O").find("Python objects"), std::string::npos);
  EXPECT_NE(with_descr("<c16").find("unsupported .npy dtype"), std::string::npos);
}

TEST(Hdf5Test, RoundTripsAndNamesMissingDatasets) {
  TempDir dir;
  auto a = at::randn({5, 3}, at::kFloat), b = at::randn({4}, at::kDouble), c = at::arange(6, at::kLong).reshape({2, 3});
  joule::io::write_hdf5(dir / "f.h5", {{"a", a}, {"b", b}, {"c", c}});
  EXPECT_TRUE(joule::io::read_hdf5(dir / "f.h5", "a").equal(a));
  EXPECT_TRUE(joule::io::read_hdf5(dir / "f.h5", "b").equal(b));
  EXPECT_TRUE(joule::io::read_hdf5(dir / "f.h5", "c").equal(c));
  EXPECT_EQ(joule::io::hdf5_datasets(dir / "f.h5"), (std::vector<std::string>{"a", "b", "c"}));
  const auto missing = error_of([&] { joule::io::read_hdf5(dir / "f.h5", "train"); });
  EXPECT_NE(missing.find("no dataset 'train' (the file has: a, b, c)"), std::string::npos) << missing;
  write_text(dir / "g.h5", "not hdf5");
  EXPECT_NE(error_of([&] { joule::io::read_hdf5(dir / "g.h5", "a"); }).find("not an HDF5 file"), std::string::npos);
  EXPECT_NE(error_of([&] { joule::io::read_hdf5(dir / "none.h5", "a"); }).find("no such HDF5 file"), std::string::npos);
}

TEST(MafTabularTest, PowerMatchesMafPreprocessingInNumpy) {
  TempDir dir;
  joule::io::write_npy(dir / "data.npy", power_raw());
  auto t = load_maf_table("power", dir.path());  // the folder, as MAF's release lays it out
  EXPECT_EQ(t.train.sizes(), (at::IntArrayRef{33, 6}));
  EXPECT_EQ(t.valid.sizes(), (at::IntArrayRef{3, 6}));
  EXPECT_EQ(t.test.sizes(), (at::IntArrayRef{4, 6}));
  EXPECT_EQ(t.train.scalar_type(), at::kFloat);
  // scripts/maf_tabular_reference.py (numpy 2.x; the legacy generator is frozen across versions).
  expect_row(t.train[0], {0.901041874, -0.35835123, -0.200362533, 1.06152827, 0.804117788, -0.602476068}, 2e-6);
  expect_row(t.valid[0], {1.15631644, -1.37021602, 1.14901755, 0.949056069, -0.501835037, -1.33394783}, 2e-6);
  expect_row(t.test[-1], {1.26281497, -1.19524048, 0.865047689, 1.15414061, -0.128811096, -1.27044039}, 2e-6);

  joule::io::write_npy(dir / "seven.npy", power_raw().slice(1, 0, 7));
  const auto e = error_of([&] { load_maf_table("power", dir / "seven.npy"); });
  EXPECT_NE(e.find("expected 8 columns, got 7"), std::string::npos) << e;
}

TEST(MafTabularTest, MinibooneSplitsByTailsAndStandardisesWithTrainAndValidation) {
  TempDir dir;
  auto raw = at::cos(at::arange(250, at::kDouble).reshape({50, 5}) * 0.7) * at::arange(1, 6, at::kDouble);
  joule::io::write_npy(dir / "data.npy", raw);
  auto t = load_maf_table("miniboone", dir / "data.npy");
  EXPECT_EQ(t.train.size(0), 41);  // 50 → 5 test; 45 → 4 validation
  EXPECT_EQ(t.valid.size(0), 4);
  EXPECT_EQ(t.test.size(0), 5);
  auto seen = raw.slice(0, 0, 45);
  auto mean = seen.mean(0), sd = seen.std(0, /*unbiased=*/false);
  EXPECT_TRUE(at::allclose(t.test.to(at::kDouble), (raw.slice(0, 45) - mean) / sd, 1e-5, 1e-5));
  EXPECT_TRUE(at::allclose(t.train.to(at::kDouble), (raw.slice(0, 0, 41) - mean) / sd, 1e-5, 1e-5));

  raw[7][2] = std::nan("");
  joule::io::write_npy(dir / "nan.npy", raw);
  const auto e = error_of([&] { load_maf_table("miniboone", dir / "nan.npy"); });
  EXPECT_NE(e.find("row 7, column 2"), std::string::npos) << e;
}

// A GAS-like table: Time, Meth, Eth, then sensors of which s2 ≈ 3·s1 (correlation > 0.98).
std::string gas_rows(const std::string& sep) {
  std::string rows;
  for (int i = 0; i < 30; ++i) {
    const double s1 = std::sin(0.9 * i), s2 = 3 * s1 + 0.01 * std::cos(5.0 * i), s3 = std::cos(1.7 * i),
                 s4 = std::sin(0.3 * i * i);
    rows += std::to_string(0.01 * i) + sep + std::to_string(i % 4) + sep + std::to_string(i % 3) + sep +
            std::to_string(s1) + sep + std::to_string(s2) + sep + std::to_string(s3) + sep + std::to_string(s4) + "\n";
  }
  return rows;
}

TEST(MafTabularTest, GasDropsConcentrationsAndCorrelatedSensors) {
  TempDir dir;
  write_text(dir / "ethylene_CO.csv", "Time,Meth,Eth,s1,s2,s3,s4\n" + gas_rows(","));
  auto t = load_maf_table("gas", dir.path());
  ASSERT_EQ(t.train.size(1), 3);  // s1 goes (the first column correlated with another), s2..s4 stay
  EXPECT_EQ(t.train.size(0) + t.valid.size(0) + t.test.size(0), 30);
  EXPECT_EQ(t.test.size(0), 3);
  ASSERT_FALSE(t.notes.empty());
  EXPECT_NE(t.notes[0].find("sensors s1"), std::string::npos) << t.notes[0];
  // Standardised over all rows with pandas' sample standard deviation, before the split.
  auto all = at::cat({t.train, t.valid, t.test}).to(at::kDouble);
  EXPECT_LT(all.mean(0).abs().max().item<double>(), 1e-6);
  EXPECT_NEAR(all.std(0, /*unbiased=*/true).min().item<double>(), 1.0, 1e-5);
  EXPECT_NEAR(all.std(0, /*unbiased=*/true).max().item<double>(), 1.0, 1e-5);

  // UCI's own ethylene_CO.txt: a free-text title line, then whitespace-separated columns.
  write_text(dir / "ethylene_CO.txt",
             "Time (seconds), Methane conc (ppm), Ethylene conc (ppm), sensor readings (16 channels)\n" + gas_rows("  "));
  auto u = load_maf_table("gas", dir / "ethylene_CO.txt");
  EXPECT_TRUE(at::allclose(u.train, t.train, 1e-5, 1e-5));

  std::ofstream(dir / "ethylene_CO.pickle", std::ios::binary) << "\x80\x04\x95 pandas";
  const auto e = error_of([&] { load_maf_table("gas", dir / "ethylene_CO.pickle"); });
  EXPECT_NE(e.find("scripts/gas_pickle_to_csv.py"), std::string::npos) << e;
}

TEST(MafTabularTest, HepmassKeepsSignalRowsAndDropsRepeatedMinimumFeatures) {
  TempDir dir;
  std::string train = "# label,f0,f1,f2\n", test = "# label,f0,f1,f2,mass\n";
  for (int i = 0; i < 40; ++i) {
    const int label = i % 4 == 0 ? 0 : 1;  // 30 signal rows
    // f1's smallest value (-5) occurs 8 times among the signal rows: a fill code, dropped.
    const double f1 = i % 5 == 1 ? -5.0 : std::cos(0.5 * i);
    train += std::to_string(label) + "," + std::to_string(std::sin(0.7 * i) + 2) + "," + std::to_string(f1) + "," +
             std::to_string(0.1 * i) + "\n";
    if (i < 12) test += std::to_string(label) + "," + std::to_string(std::sin(1.1 * i)) + ",0.5," + std::to_string(0.2 * i) + ",125\n";
  }
  write_text(dir / "1000_train.csv", train);
  write_text(dir / "1000_test.csv", test);
  auto t = load_maf_table("hepmass", dir.path());
  EXPECT_EQ(t.train.size(1), 2);
  EXPECT_EQ(t.valid.size(0), 3);  // ⌊0.1 · 30⌋ of the signal rows
  EXPECT_EQ(t.train.size(0), 27);
  EXPECT_EQ(t.test.size(0), 9);   // the signal rows among the first 12
  auto seen = at::cat({t.train, t.valid}).to(at::kDouble);
  EXPECT_LT(seen.mean(0).abs().max().item<double>(), 1e-6);
  EXPECT_NEAR(seen.std(0, /*unbiased=*/true).max().item<double>(), 1.0, 1e-5);
  // f2 of the test rows, standardised with the training signal rows' statistics: 0.2·i for i = 1..11.
  std::vector<double> f2_train;
  for (int i = 0; i < 40; ++i)
    if (i % 4) f2_train.push_back(0.1 * i);
  auto f2 = at::tensor(f2_train, at::kDouble);
  EXPECT_NEAR(t.test[0][1].item<double>(), (0.2 - f2.mean().item<double>()) / f2.std().item<double>(), 1e-5);

  const auto e = error_of([&] { load_maf_table("hepmass", dir / "1000_train.csv"); });
  EXPECT_NE(e.find("must be the folder"), std::string::npos) << e;
}

TEST(MafTabularTest, Bsds300ReadsTheHdf5SplitsAsStored) {
  TempDir dir;
  auto train = at::rand({20, 63}), valid = at::rand({5, 63}), test = at::rand({6, 63});
  joule::io::write_hdf5(dir / "BSDS300.hdf5", {{"train", train}, {"validation", valid}, {"test", test}});
  auto t = load_maf_table("bsds300", dir.path());
  EXPECT_TRUE(t.train.equal(train));
  EXPECT_TRUE(t.valid.equal(valid));
  EXPECT_TRUE(t.test.equal(test));
  joule::io::write_hdf5(dir / "partial.hdf5", {{"train", train}, {"test", test}});
  const auto e = error_of([&] { load_maf_table("bsds300", dir / "partial.hdf5"); });
  EXPECT_NE(e.find("no dataset 'validation'"), std::string::npos) << e;
  EXPECT_NE(error_of([&] { load_maf_table("cifar", dir.path()); }).find("unknown MAF table"), std::string::npos);
}

}  // namespace
