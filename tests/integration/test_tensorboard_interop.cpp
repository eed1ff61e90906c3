// A run's TensorBoard event files read by the real `tensorboard` Python package
// (tests/interop/read_tensorboard.py): every metrics.jsonl value as a scalar at its step, every
// picture as an image of its size, weight and energy histograms, the config as text. scripts/setup.sh test
// installs the package with pip into a cache folder (JOULE_PY_TOOLS); where it cannot be
// imported the test is skipped and says why.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include "joule/train/callbacks.h"
#include "support/python_tools.h"
#include "support/test_support.h"

namespace {

namespace fs = std::filesystem;
using joule::testing::python_tools;
using joule::testing::run_command;

const std::string kTiny =
    " data.n_train=2000 data.n_test=500 train.steps=30 train.log_every=10 train.eval_every=10"
    " train.checkpoint_every=10 eval.chain_steps=20 eval.n_samples=200 eval.grid_resolution=64 run.progress=none";

class TensorBoardInterop : public joule::testing::CliTestBase {
 protected:
  TensorBoardInterop() : CliTestBase("joule-tensorboard") {}
};


std::pair<int64_t, int64_t> png_size(const std::string& path) {  // (width, height) from IHDR
  std::ifstream in(path, std::ios::binary);
  unsigned char b[24] = {};
  in.read(reinterpret_cast<char*>(b), 24);
  auto be32 = [&](int at) { return (int64_t(b[at]) << 24) | (int64_t(b[at + 1]) << 16) | (int64_t(b[at + 2]) << 8) | b[at + 3]; };
  return {be32(16), be32(20)};
}

TEST_F(TensorBoardInterop, TheTensorBoardPackageReadsEveryMetricPictureHistogramAndTheConfig) {
  auto r = joule("train out=run" + kTiny);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  int event_files = 0;
  std::vector<std::string> pictures;
  for (const auto& e : fs::directory_iterator(path("run"))) {
    const auto name = e.path().filename().string();
    event_files += name.rfind("events.out.tfevents.", 0) == 0;
    if (e.path().extension() == ".png") pictures.push_back(e.path().string());
  }
  ASSERT_EQ(event_files, 1);
  ASSERT_FALSE(pictures.empty());

  auto read = run_command("PYTHONPATH='" + python_tools() + "' /usr/bin/python3 " + std::string(JOULE_SOURCE_DIR) +
                          "/tests/interop/read_tensorboard.py " + path("run"));
  if (read.exit_code == 77) GTEST_SKIP() << "tensorboard is not installed (scripts/setup.sh test installs it): " << read.output;
  ASSERT_EQ(read.exit_code, 0) << read.output;
  // The JSON is the last line (tensorboard may print notes before it, e.g. that TensorFlow is absent).
  const auto last = read.output.find_last_of('\n', read.output.size() - 2);
  const auto j = nlohmann::json::parse(read.output.substr(last == std::string::npos ? 0 : last + 1));

  // Every value of every metrics.jsonl line, at its step (float32, as TensorBoard stores it).
  const auto rows = joule::train::MetricsLogger::read(path("run/metrics.jsonl"));
  ASSERT_FALSE(rows.empty());
  int64_t checked = 0;
  for (const auto& row : rows) {
    for (const auto& [key, value] : row.values) {
      ASSERT_TRUE(j["scalars"].contains(key)) << "no scalar " << key;
      bool found = false;
      for (const auto& e : j["scalars"][key]) {
        if (e[0].get<int64_t>() != row.step) continue;
        found = true;
        if (std::isfinite(value) && e[1].is_number())
          EXPECT_FLOAT_EQ(e[1].get<float>(), static_cast<float>(value)) << key << " at step " << row.step;
        ++checked;
      }
      EXPECT_TRUE(found) << key << " at step " << row.step;
    }
  }
  EXPECT_GT(checked, 10);
  // The evaluation report at the last step.
  bool any_eval = false;
  for (const auto& [tag, events] : j["scalars"].items()) any_eval = any_eval || tag.rfind("eval/", 0) == 0;
  EXPECT_TRUE(any_eval);

  for (const auto& file : pictures) {
    const std::string tag = "pictures/" + fs::path(file).stem().string();
    ASSERT_TRUE(j["images"].contains(tag)) << "no image " << tag;
    const auto [w, h] = png_size(file);
    const auto& e = j["images"][tag].back();
    EXPECT_EQ(e[1].get<int64_t>(), w) << tag;
    EXPECT_EQ(e[2].get<int64_t>(), h) << tag;
    EXPECT_EQ(e[3].get<int64_t>(), static_cast<int64_t>(fs::file_size(file))) << tag;
  }

  int weights = 0;
  for (const auto& [tag, events] : j["histograms"].items()) {
    if (tag.rfind("weights/model/", 0) != 0) continue;
    ++weights;
    for (const auto& e : events) {
      EXPECT_GT(e[1].get<double>(), 0) << tag;
      EXPECT_DOUBLE_EQ(e[1].get<double>(), e[4].get<double>()) << tag << ": the buckets hold every value";
      EXPECT_LE(e[2].get<double>(), e[3].get<double>()) << tag;
    }
  }
  EXPECT_GT(weights, 0);
  // The energies of the data and of the negatives of a step (ObjectiveOutput::distributions): one
  // value per example of the batch.
  for (const char* tag : {"energy/data", "energy/samples"}) {
    ASSERT_TRUE(j["histograms"].contains(tag)) << "no histogram " << tag;
    for (const auto& e : j["histograms"][tag]) {
      EXPECT_GT(e[1].get<double>(), 0) << tag;
      EXPECT_DOUBLE_EQ(e[1].get<double>(), e[4].get<double>()) << tag;
    }
  }

  ASSERT_TRUE(j["texts"].contains("config"));
  const auto& config = j["texts"]["config"][0];
  EXPECT_EQ(config[1].get<std::string>(), "text");
  EXPECT_NE(config[2].get<std::string>().find("[train]"), std::string::npos);

  // run.tensorboard = false writes none.
  r = joule("train out=quiet run.tensorboard=false" + kTiny);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const auto& e : fs::directory_iterator(path("quiet")))
    EXPECT_NE(e.path().filename().string().rfind("events.out.tfevents.", 0), 0u) << e.path();
}

}  // namespace
