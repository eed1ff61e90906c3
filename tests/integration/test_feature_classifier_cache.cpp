// eval.feature_run = "auto": the feature classifier of sample quality is trained once per data
// and settings into the cache folder, then reused; what does not change the classifier (the
// run's own subset sizes) does not change the folder, what does (the data's files, the
// settings) does; an unfinished folder is never taken for a finished one.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "joule/config/options.h"
#include "joule/methods/sample_quality.h"
#include "support/test_support.h"

namespace {

namespace fs = std::filesystem;
using joule::config::Document;
using joule::methods::LabelledDataConfig;
using joule::methods::resolve_feature_run;
using joule::testing::TempDir;

// Sets an environment variable for one test and restores it afterwards.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old, had_ = true;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (had_) ::setenv(name_, old_.c_str(), 1);
    else ::unsetenv(name_);
  }

 private:
  const char* name_;
  std::string old_;
  bool had_ = false;
};

// A classifier of a few steps: the cache's logic, not the classifier's quality, is under test.
Document tiny() {
  return Document::from_string(
      "[model]\nchannels = 4\n[train]\nsteps = 4\nbatch_size = 32\nwarmup_steps = 0\nlog_every = 2\neval_every = 4\n"
      "checkpoint_every = 4\n[eval]\nood_n = 50\nchain_steps = 2\ngrid_n = 20\n[run]\nprogress = \"none\"\n",
      "test");
}

TEST(FeatureClassifierCacheTest, CacheFolderFollowsTheEnvironment) {
  ScopedEnv home("HOME", "/home/someone");
  {
    ScopedEnv xdg("XDG_CACHE_HOME", "");
    ScopedEnv dir("JOULE_CACHE_DIR", "");
    EXPECT_EQ(joule::methods::cache_folder(), "/home/someone/.cache/joule");
  }
  {
    ScopedEnv xdg("XDG_CACHE_HOME", "/xdg");
    ScopedEnv dir("JOULE_CACHE_DIR", "");
    EXPECT_EQ(joule::methods::cache_folder(), "/xdg/joule");
  }
  ScopedEnv xdg("XDG_CACHE_HOME", "/xdg");
  ScopedEnv dir("JOULE_CACHE_DIR", "/mine");
  EXPECT_EQ(joule::methods::cache_folder(), "/mine");
}

TEST(FeatureClassifierCacheTest, AutoTrainsOnceAndReusesTheRun) {
  TempDir tmp("joule-feature-cache");
  ScopedEnv dir("JOULE_CACHE_DIR", tmp.path());
  LabelledDataConfig data;  // Fashion-MNIST, Debian's copy
  data.n_train = 256;

  EXPECT_EQ(resolve_feature_run("runs/ce", data, tiny()), "runs/ce");  // a named run is taken as it is
  EXPECT_EQ(resolve_feature_run("", data, tiny()), "");

  const std::string run = resolve_feature_run("auto", data, tiny());
  EXPECT_EQ(fs::path(run).parent_path(), fs::path(tmp.path()) / "feature-classifiers");
  EXPECT_EQ(fs::path(run).filename().string().rfind("ce_fashion_cnn-", 0), 0u) << run;
  ASSERT_TRUE(fs::exists(fs::path(run) / "checkpoint.pt"));
  ASSERT_TRUE(fs::exists(fs::path(run) / "eval.json"));
  const auto trained_at = fs::last_write_time(fs::path(run) / "checkpoint.pt");
  // It is a classifier of the data's images: SampleQuality opens it and scores a floor.
  {
    auto images = torch::rand({40, 1, 28, 28}) * 2 - 1;
    joule::methods::SampleQuality quality(run, images, images, torch::kCPU, 1, 20);
    EXPECT_TRUE(std::isfinite(quality.floor().fd));
  }

  // Reused: the run's subset sizes do not change the classifier (it sees whole splits).
  data.n_train = 512;
  data.n_test = 100;
  EXPECT_EQ(resolve_feature_run("auto", data, tiny()), run);
  EXPECT_EQ(fs::last_write_time(fs::path(run) / "checkpoint.pt"), trained_at);  // not trained again

  // Other settings or other files are another classifier.
  Document longer = tiny();
  longer.set("train.steps", "6");
  const std::string other = resolve_feature_run("auto", data, longer);
  EXPECT_NE(other, run);
  EXPECT_TRUE(fs::exists(fs::path(other) / "eval.json"));

  // A folder without its final files (an interrupted or foreign one) is trained again.
  fs::remove(fs::path(other) / "eval.json");
  const std::string again = resolve_feature_run("auto", data, longer);
  EXPECT_EQ(again, other);
  EXPECT_TRUE(fs::exists(fs::path(again) / "eval.json"));
  for (const auto& entry : fs::directory_iterator(fs::path(tmp.path()) / "feature-classifiers")) {
    EXPECT_EQ(entry.path().filename().string().find(".partial-"), std::string::npos) << entry.path();
  }
}

TEST(FeatureClassifierCacheTest, ClearErrors) {
  TempDir tmp("joule-feature-cache");
  const std::string file = tmp / "not-a-folder";
  std::ofstream(file) << "x";
  ScopedEnv dir("JOULE_CACHE_DIR", file);
  LabelledDataConfig data;
  try {
    resolve_feature_run("auto", data, tiny());
    FAIL() << "a cache folder under a file must be refused";
  } catch (const joule::config::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("JOULE_CACHE_DIR"), std::string::npos) << e.what();
  }
}

}  // namespace
