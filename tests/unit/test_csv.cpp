// The CSV reader (include/joule/data/csv.h): header detection, label columns by name or index,
// text labels, round trip through write_csv, and bad rows reported as file:line plus column.
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <string>

#include "joule/data/csv.h"
#include "support/test_support.h"

namespace {

using joule::data::CsvOptions;
using joule::data::read_csv;
using joule::testing::TempDir;

std::string write(const TempDir& dir, const std::string& name, const std::string& text) {
  const std::string path = dir / name;
  std::ofstream(path) << text;
  return path;
}

using joule::testing::error_of;

TEST(CsvTest, DetectsHeaderAndReadsLabelColumnByName) {
  TempDir dir;
  auto path = write(dir, "a.csv", "x,y,label\n1.5,-2,0\n3,4e-1,1\n\n5, 6 ,1\n");
  auto t = read_csv(path, CsvOptions().label_column("label"));
  EXPECT_EQ(t.columns, (std::vector<std::string>{"x", "y"}));
  ASSERT_EQ(t.features.sizes(), (std::vector<int64_t>{3, 2}));
  EXPECT_TRUE(torch::allclose(t.features, torch::tensor({{1.5f, -2.f}, {3.f, 0.4f}, {5.f, 6.f}})));
  EXPECT_TRUE(torch::equal(t.labels, torch::tensor({0, 1, 1}, torch::kLong)));
  EXPECT_TRUE(t.label_names.empty());
}

TEST(CsvTest, NoHeaderGeneratesNamesAndNegativeIndexPicksLastColumn) {
  TempDir dir;
  auto path = write(dir, "b.csv", "1,2,3\n4,5,6\n");
  auto t = read_csv(path, CsvOptions().label_column("-1"));
  EXPECT_EQ(t.columns, (std::vector<std::string>{"c0", "c1"}));
  EXPECT_TRUE(torch::equal(t.labels, torch::tensor({3, 6}, torch::kLong)));
  auto all = read_csv(path);  // no label column: every column is a feature
  EXPECT_EQ(all.features.size(1), 3);
  EXPECT_FALSE(all.labels.defined());
}

TEST(CsvTest, NumbersBelowDoubleRangeReadAsZeroInFeaturesAndLabels) {
  // A label "1e-999" underflows to 0; it used to reach std::stod, which throws out_of_range
  // (an uncaught std::exception, not a c10::Error with the file named). Found by fuzz_csv.
  TempDir dir;
  auto path = write(dir, "u.csv", "2.5e-999 1 1e-999\n-1 3 2\n");
  auto t = read_csv(path, CsvOptions().whitespace(true).label_column("-1"));
  EXPECT_TRUE(torch::equal(t.labels, torch::tensor({0, 2}, torch::kLong)));
  EXPECT_EQ(t.features[0][0].item<float>(), 0.0f);
}

TEST(CsvTest, TextLabelsMapToSortedClassIndices) {
  TempDir dir;
  auto path = write(dir, "c.csv", "species;a;b\nvirginica;1;2\nsetosa;3;4\nvirginica;5;6\n");
  auto t = read_csv(path, CsvOptions().delimiter(';').label_column("0"));
  EXPECT_EQ(t.label_names, (std::vector<std::string>{"setosa", "virginica"}));
  EXPECT_TRUE(torch::equal(t.labels, torch::tensor({1, 0, 1}, torch::kLong)));
}

TEST(CsvTest, WriteCsvRoundTrips) {
  TempDir dir;
  auto x = torch::tensor({{0.125, -3.5}, {1e-7, 42.0}}, torch::kFloat64);
  joule::data::write_csv(dir / "w.csv", x, {"p", "q"});
  auto t = read_csv(dir / "w.csv");
  EXPECT_EQ(t.columns, (std::vector<std::string>{"p", "q"}));
  EXPECT_TRUE(torch::allclose(t.features.to(torch::kFloat64), x, 1e-6, 1e-12));
}

TEST(CsvTest, BadRowsNameFileLineAndColumn) {
  TempDir dir;
  struct Case {
    std::string text;
    std::string expect;
  };
  std::vector<Case> cases{
      {"a,b\n1,2\n3\n", ":3: expected 2 columns (as in the first row), got 1"},
      {"a,b\n1,2\n3,4,5\n", ":3: expected 2 columns"},
      {"a,b\n1,2\n3,abc\n", ":3: column 'b': 'abc' is not a number"},
      {"a,b\n1,\n", ":2: empty field in column 'b'"},
      {"a,b\n1,2\nnan,4\n", ":3: column 'a' is nan (NaN/inf in data"},
      {"a,b\n1,inf\n", ":2: column 'b' is inf"},
      {"a,b\n", "has a header but no data rows"},
      {"\n\n", "is empty"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    auto path = write(dir, "bad" + std::to_string(i) + ".csv", cases[i].text);
    auto msg = error_of([&] { read_csv(path); });
    EXPECT_NE(msg.find(cases[i].expect), std::string::npos) << "case " << i << ": " << msg;
    EXPECT_NE(msg.find(path), std::string::npos) << "case " << i << " names the file: " << msg;
  }
  auto path = write(dir, "ok.csv", "a,b\n1,2\n");
  auto msg = error_of([&] { read_csv(path, CsvOptions().label_column("class")); });
  EXPECT_NE(msg.find("no column named 'class'"), std::string::npos) << msg;
  msg = error_of([&] { read_csv(path, CsvOptions().label_column("5")); });
  EXPECT_NE(msg.find("out of range"), std::string::npos) << msg;
  msg = error_of([&] { read_csv(dir / "missing.csv"); });
  EXPECT_NE(msg.find("cannot open CSV file"), std::string::npos) << msg;
  // NaN is accepted when explicitly allowed.
  auto nan_path = write(dir, "nan.csv", "a\nnan\n1\n");
  EXPECT_TRUE(std::isnan(read_csv(nan_path, CsvOptions().allow_nan(true)).features[0][0].item<float>()));
}

TEST(CsvTest, WhitespaceModeSplitsOnRunsOfSpacesAndTabs) {
  // UCI's .txt tables (HAR's X_train.txt): leading spaces, several spaces between fields, C exponents.
  TempDir dir;
  auto path = write(dir, "w.txt", "  2.8858451e-001 -2.0294171e-002\t 1\n -1.0e+000   3   2 \r\n");
  auto t = read_csv(path, CsvOptions().whitespace(true).label_column("-1"));
  ASSERT_EQ(t.features.sizes(), (std::vector<int64_t>{2, 2}));
  EXPECT_TRUE(torch::allclose(t.features, torch::tensor({{0.28858451f, -0.020294171f}, {-1.f, 3.f}})));
  EXPECT_TRUE(torch::equal(t.labels, torch::tensor({1, 2}, torch::kLong)));
  auto ragged = write(dir, "r.txt", "1 2 3\n4 5\n");
  auto msg = error_of([&] { read_csv(ragged, CsvOptions().whitespace(true)); });
  EXPECT_NE(msg.find(":2: expected 3 columns"), std::string::npos) << msg;
}

}  // namespace

namespace {
// The unquoted fast path and the quoted path agree; numbers std::from_chars refuses ("+1", hex
// floats, overflow) still go through strtod as before; CRLF endings and padding are trimmed.
TEST(CsvTest, QuotedAndUnquotedRowsParseAlikeWithStrtodsFallbacks) {
  TempDir dir;
  auto path = write(dir, "q.csv", "a,b,c\r\n 1 ,\t+2,0x1p3\r\n\"4\",\"-5e-1\" , 6\r\n7,1e-310,8 \r\n");
  auto t = read_csv(path);
  EXPECT_EQ(t.columns, (std::vector<std::string>{"a", "b", "c"}));
  ASSERT_EQ(t.features.sizes(), (std::vector<int64_t>{3, 3}));
  EXPECT_TRUE(torch::equal(t.features, torch::tensor({{1.f, 2.f, 8.f}, {4.f, -0.5f, 6.f}, {7.f, float(1e-310), 8.f}})));
  auto big = write(dir, "big.csv", "a\n1e999\n");
  EXPECT_NE(error_of([&] { read_csv(big); }).find("big.csv:2: column 'a' is 1e999"), std::string::npos)
      << error_of([&] { read_csv(big); });
}
}  // namespace
