// safetensors files: a round trip of every dtype with metadata, the byte layout of the format,
// and clear errors for every way a file can be corrupt. The safetensors Python package reads
// and writes files in tests/integration/test_export_interop.cpp.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "joule/io/checkpoint.h"
#include "joule/io/safetensors.h"

namespace {

using joule::io::read_safetensors;
using joule::io::write_safetensors;

std::string tmp(const std::string& name) { return ::testing::TempDir() + "joule_st_" + name; }

std::string raw_file(const std::string& header, const std::string& data) {
  std::string s(8, '\0');
  const uint64_t n = header.size();
  std::memcpy(s.data(), &n, 8);
  return s + header + data;
}

void expect_error(const std::string& bytes, const std::string& fragment) {
  const auto path = tmp("bad.safetensors");
  joule::io::write_text_file(path, bytes);
  try {
    read_safetensors(path);
    ADD_FAILURE() << "no error for a file that should fail with: " << fragment;
  } catch (const c10::Error& e) {
    const std::string what = e.what_without_backtrace();
    EXPECT_NE(what.find(path), std::string::npos) << what;
    EXPECT_NE(what.find(fragment), std::string::npos) << what;
  }
}

TEST(Safetensors, EveryDtypeRoundTripsWithMetadataInOrder) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  joule::io::NamedTensors in{
      {"f64", at::randn({2, 3}, gen, at::kDouble)},
      {"f32", at::randn({4}, gen)},
      {"f16", at::randn({3, 1}, gen).to(at::kHalf)},
      {"bf16", at::randn({5}, gen).to(at::kBFloat16)},
      {"i64", at::arange(-3, 3, at::kLong)},
      {"i32", at::arange(0, 4, at::kInt).reshape({2, 2})},
      {"i16", at::arange(0, 3, at::kShort)},
      {"i8", at::arange(-2, 2, at::kChar)},
      {"u8", at::arange(250, 256, at::kInt).to(at::kByte)},
      {"bool", at::tensor({1, 0, 1}, at::kInt).to(at::kBool)},
      {"scalar", at::tensor(2.5, at::kFloat).reshape({})},
      {"empty", at::empty({0, 7})},
      {"strided", at::arange(12, at::kFloat).reshape({3, 4}).t()},  // not contiguous
  };
  const auto path = tmp("all.safetensors");
  write_safetensors(path, in, {{"format", "pt"}, {"note", "x"}});
  auto out = read_safetensors(path);
  ASSERT_EQ(out.tensors.size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    EXPECT_EQ(out.tensors[i].first, in[i].first);
    EXPECT_EQ(out.tensors[i].second.scalar_type(), in[i].second.scalar_type()) << in[i].first;
    EXPECT_EQ(out.tensors[i].second.sizes(), in[i].second.sizes()) << in[i].first;
    EXPECT_TRUE(at::equal(out.tensors[i].second, in[i].second)) << in[i].first;
  }
  EXPECT_EQ(out.metadata.at("format"), "pt");
  EXPECT_EQ(out.metadata.at("note"), "x");

  // The layout: header length, JSON with dtype/shape/offsets, data 8-byte aligned and contiguous.
  const std::string bytes = joule::io::read_text_file(path);
  uint64_t n;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ(n % 8, 0u);
  auto header = nlohmann::json::parse(bytes.substr(8, n));
  EXPECT_EQ(header["f32"]["dtype"], "F32");
  EXPECT_EQ(header["f32"]["shape"], nlohmann::json::array({4}));
  EXPECT_EQ(header["f64"]["data_offsets"], nlohmann::json::array({0, 48}));
  EXPECT_EQ(header["f32"]["data_offsets"], nlohmann::json::array({48, 64}));
  float first;
  std::memcpy(&first, bytes.data() + 8 + n + 48, 4);
  EXPECT_EQ(first, in[1].second[0].item<float>());
}

TEST(Safetensors, BadNamesAndTypesAreRefusedWhenWriting) {
  EXPECT_THROW(write_safetensors(tmp("x"), {{"a", at::zeros({1})}, {"a", at::zeros({1})}}), c10::Error);
  EXPECT_THROW(write_safetensors(tmp("x"), {{"", at::zeros({1})}}), c10::Error);
  EXPECT_THROW(write_safetensors(tmp("x"), {{"c", at::zeros({1}, at::kComplexFloat)}}), c10::Error);
}

TEST(Safetensors, CorruptFilesGiveErrorsNamingTheFileAndTheProblem) {
  const std::string ok_header = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  const std::string data(8, '\0');
  expect_error("abc", "shorter than");
  expect_error(raw_file(ok_header, data).substr(0, 20), "does not fit");
  expect_error(raw_file("[1, 2]", ""), "not a JSON object");
  expect_error(raw_file("{not json", ""), "not a JSON object");
  expect_error(raw_file(R"({"a":{"dtype":"F32","shape":[2]}})", data), "needs dtype, shape and data_offsets");
  expect_error(raw_file(R"({"a":{"dtype":"Q7","shape":[2],"data_offsets":[0,8]}})", data), "unsupported dtype Q7");
  expect_error(raw_file(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", data + "    "),
               "shape and dtype need 12 bytes");
  expect_error(raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", data.substr(0, 4)), "outside the file");
  expect_error(raw_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", data),
               "overlap or leave a gap");
  expect_error(raw_file(ok_header, data + "xx"), "bytes after the last tensor");
  expect_error(raw_file(R"({"__metadata__":{"k":1},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", data), "not a string");
  EXPECT_THROW(read_safetensors(tmp("does_not_exist")), c10::Error);
}

}  // namespace
