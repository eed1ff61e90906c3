// Checkpoint files (include/joule/io/checkpoint.h): atomic, synced writes; and on load every
// record's CRC-32 is checked, so a flipped byte inside a tensor, a truncated copy or a foreign
// file is an error naming the file instead of a model with garbage weights.
#include <gtest/gtest.h>

#include <torch/serialize/archive.h>

#include <filesystem>
#include <fstream>

#include "joule/io/checkpoint.h"
#include "support/test_support.h"

namespace {

using joule::testing::error_of;
using joule::testing::TempDir;

std::string save_weights(const TempDir& dir) {
  torch::serialize::OutputArchive out;
  out.write("weights", torch::arange(4096, torch::kFloat));
  out.write("step", torch::tensor(int64_t(17)));
  const std::string path = dir / "checkpoint.pt";
  joule::io::save_archive(out, path);
  return path;
}

TEST(CheckpointIoTest, IntactArchiveRoundTripsAndLeavesNoTemporaryFile) {
  TempDir dir;
  const auto path = save_weights(dir);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  EXPECT_EQ(joule::io::verify_archive_bytes(joule::io::read_text_file(path)), "");
  torch::serialize::InputArchive in;
  joule::io::load_archive(in, path);
  torch::Tensor w;
  in.read("weights", w);
  EXPECT_TRUE(torch::equal(w, torch::arange(4096, torch::kFloat)));
}

TEST(CheckpointIoTest, FlippedByteInsideATensorIsDetected) {
  TempDir dir;
  const auto path = save_weights(dir);
  std::string bytes = joule::io::read_text_file(path);
  // Find the tensor's bytes (float 1000.0 at index 1000) and change one of them.
  const float marker = 1000.0f;
  const auto at = bytes.find(std::string(reinterpret_cast<const char*>(&marker), sizeof marker));
  ASSERT_NE(at, std::string::npos);
  bytes[at + 2] ^= 0x10;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  torch::serialize::InputArchive in;
  const auto msg = error_of([&] { joule::io::load_archive(in, path); });
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("fails its CRC-32 check"), std::string::npos) << msg;
}

TEST(CheckpointIoTest, TruncatedEmptyAndForeignFilesAreErrors) {
  TempDir dir;
  const auto path = save_weights(dir);
  const std::string bytes = joule::io::read_text_file(path);
  const std::vector<std::pair<std::string, std::string>> cases{
      {bytes.substr(0, bytes.size() / 2), "is corrupt"},
      {bytes.substr(0, bytes.size() - 30), "is corrupt"},
      {"", "is empty"},
      {"# not an archive\nhello", "is corrupt"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string p = dir / ("bad" + std::to_string(i) + ".pt");
    std::ofstream(p, std::ios::binary) << cases[i].first;
    torch::serialize::InputArchive in;
    const auto msg = error_of([&] { joule::io::load_archive(in, p); });
    EXPECT_NE(msg.find(cases[i].second), std::string::npos) << "case " << i << ": " << msg;
    EXPECT_NE(msg.find(p), std::string::npos) << "case " << i << ": " << msg;
  }
  torch::serialize::InputArchive in;
  EXPECT_NE(error_of([&] { joule::io::load_archive(in, dir / "missing.pt"); }).find("does not exist"), std::string::npos);
}

TEST(CheckpointIoTest, HostileZipOffsetsAreRejectedWithoutReadingOutOfBounds) {
  // Found by fuzz_checkpoint (UBSan): a zip64 locator whose directory offset is near 2^64 made
  // `offset + 56 > size` wrap around; fuzz/corpus/checkpoint keeps the input.
  const unsigned char input[] = {
      0x50, 0x4b, 0xed, 0xef, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x50, 0x4b, 0x06, 0x07, 0x02, 0x00, 0x00, 0x38, 0xf8, 0xff,
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfa, 0x00, 0x50, 0x4b, 0x05, 0x06, 0x00, 0xf6, 0xff, 0xff, 0x06, 0x00,
      0x07, 0x00, 0xc0, 0x01, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x12, 0x05, 0x00, 0x00, 0x00, 0x00};
  const std::string bytes(reinterpret_cast<const char*>(input), sizeof input);
  EXPECT_EQ(joule::io::verify_archive_bytes(bytes), "zip64 directory missing");
  // A directory entry pointing far past the end, and one whose local header offset wraps.
  std::string eocd("PK\x05\x06\0\0\0\0\x01\0\x01\0\0\0\0\0\xf0\xff\xff\xff\0\0", 22);
  EXPECT_NE(joule::io::verify_archive_bytes(eocd), "");
}

}  // namespace
