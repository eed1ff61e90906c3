// method = "video_vae" through the joule binary: a factored-prior run on generated sprites writes the
// run folder (ELBOs, factorisation read-outs, few-shot transfer, reconstructions, swaps,
// traversals), resuming equals running straight through, the user's own sequences (a folder of
// PNG frames, a .npy tensor) train, moving Fashion-MNIST's prior samples get the sample-quality
// scores, and bad input is a clear error that writes nothing.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include "joule/core/runtime.h"
#include "joule/data/video.h"
#include "joule/io/checkpoint.h"
#include "joule/io/npy.h"
#include "joule/train/callbacks.h"
#include "support/metrics_table.h"
#include "support/preset_runs.h"
#include "support/test_support.h"

namespace {

namespace fs = std::filesystem;

bool contains(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }

using joule::testing::read_metrics;

class VideoVaeCliTest : public joule::testing::CliTestBase {
 protected:
  VideoVaeCliTest() : CliTestBase("joule-video-vae-cli") {
    tiny_ = " method=video_vae data.sequences=48 data.test_sequences=16 data.frames=4 data.size=16"
            " data.identities=4 data.held_out=2 data.held_out_sequences=24 vae.identity_dim=3 vae.pose_dim=3"
            " vae.filters=4 vae.hidden=32 train.steps=30 train.batch_size=8 train.log_every=5 train.eval_every=15"
            " train.checkpoint_every=15 train.lr_schedule=constant eval.shots=[1,5] eval.repeats=3 eval.iwae_samples=4 sample.n=2"
            " run.progress=none";
  }
  std::string tiny_;
};

TEST_F(VideoVaeCliTest, FactoredRunOnSpritesAndResumeEqualsStraight) {
  auto r = joule("train out=run" + tiny_);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "48 training, 16 test, 24 held-out sequences of 4 frames 3x16x16")) << r.output;
  for (const char* f : {"config.toml", "metrics.jsonl", "checkpoint.pt", "eval.json", "samples.png",
                        "reconstructions.png", "swap.png", "traversal.png", "curves.png"}) {
    EXPECT_TRUE(fs::exists(path(std::string("run/") + f))) << f;
  }
  const std::string json = joule::io::read_text_file(path("run/eval.json"));
  for (const char* k : {"\"elbo_train\"", "\"elbo_test\"", "\"loglik_test\"", "\"kl_identity\"", "\"kl_pose\"",
                        "\"identity_acc_identity_latents\"", "\"identity_acc_pose_latents\"",
                        "\"pose_r2_pose_latents\"", "\"pose_r2_identity_latents\"", "\"fewshot1_identity_latents\"",
                        "\"fewshot5_all_latents\"", "\"identity_temporal_variance\""}) {
    EXPECT_TRUE(contains(json, k)) << k << " in " << json;
  }
  auto m = read_metrics(path("run/metrics.jsonl"));
  ASSERT_TRUE(m.count(5) && m.count(30));
  EXPECT_GT(m[30]["elbo"], m[5]["elbo"]);
  ASSERT_TRUE(m[15].count("elbo_test"));
  // 15 steps resumed to 30 against 30 straight.
  ASSERT_EQ(joule("train out=first" + tiny_ + " train.steps=15").exit_code, 0);
  r = joule("train train.resume=first train.steps=30");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto resumed = read_metrics(path("first/metrics.jsonl"));
  for (int64_t step : {20, 30}) {
    for (const char* k : {"elbo", "kl", "reconstruction"}) {
      ASSERT_TRUE(resumed[step].count(k)) << k;
      EXPECT_EQ(resumed[step][k], m[step][k]) << k << " at step " << step;
    }
  }
}

TEST_F(VideoVaeCliTest, PlainBaselineAndOtherGeneratorsRun) {
  auto r = joule("train out=plain" + tiny_ + " vae.prior=plain");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "plain prior")) << r.output;
  r = joule("train out=objects" + tiny_ + " data.source=objects vae.pose_prior=markov vae.likelihood=gaussian");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(joule::io::read_text_file(path("objects/eval.json")), "pose_r2_pose_latents"));
}

TEST_F(VideoVaeCliTest, MovingFashionPriorSamplesAreScoredAtTheItem) {
  auto r = joule("train out=ce ce_fashion_cnn data.n_train=256 data.n_test=100 model.channels=4 train.steps=3 "
                 "train.batch_size=32 train.eval_every=0 run.progress=none");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = joule("train out=mf" + tiny_ + " data.source=moving_fashion data.size=32 eval.feature_run=ce eval.quality_n=30");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string json = joule::io::read_text_file(path("mf/eval.json"));
  for (const char* k : {"quality.samples.fd", "quality.samples.kd", "quality.train_vs_test.fd", "quality.samples.class_entropy",
                        "quality.train_vs_test.class_agreement"}) {
    EXPECT_TRUE(std::isfinite(joule::testing::eval_json_number(json, k))) << k << "\n" << json;
  }
  // A training video shows one item throughout: each frame's crop is the same picture, so the
  // classifier, trained or not, gives every frame the same label.
  EXPECT_GT(joule::testing::eval_json_number(json, "quality.train_vs_test.identity_consistency"), 0.99) << json;
  const double sampled = joule::testing::eval_json_number(json, "quality.samples.identity_consistency");
  EXPECT_TRUE(sampled >= 0.25 && sampled <= 1.0) << json;
  // Videos without a Fashion-MNIST classifier are refused before anything is written.
  r = joule("train out=sprites_q" + tiny_ + " eval.feature_run=ce");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "data.source = \"moving_fashion\"")) << r.output;
  EXPECT_FALSE(fs::exists(path("sprites_q")));
}

TEST_F(VideoVaeCliTest, TrainsOnTheUsersPngFoldersAndNpyFiles) {
  auto gen = joule::make_generator(11);
  const auto set = joule::data::make_moving_sprites(joule::data::MovingSpritesOptions(12).frames(3).size(16), gen);
  joule::data::write_video_sequences(path("mine"), set);
  const std::string common =
      " method=video_vae data.source=files data.test_fraction=0.25 vae.filters=4 vae.hidden=16 train.steps=6"
      " train.batch_size=3 train.log_every=3 train.eval_every=0 run.progress=none";
  auto r = joule("train out=png" + common + " data.path=" + path("mine"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "9 training, 3 test sequences of 3 frames 3x16x16")) << r.output;
  const std::string json = joule::io::read_text_file(path("png/eval.json"));
  EXPECT_TRUE(contains(json, "\"elbo_test\"")) << json;
  EXPECT_FALSE(contains(json, "identity_acc")) << "no labels, no identity read-outs: " << json;
  // The same videos as a [N, T, H, W, ...] uint8 tensor file.
  joule::io::write_npy(path("mine.npy"), (set.frames * 255).round().to(at::kByte));
  r = joule("train out=npy" + common + " data.path=" + path("mine.npy"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
}

TEST_F(VideoVaeCliTest, BadInputIsAClearErrorAndWritesNothing) {
  auto r = joule("train out=bad1" + tiny_ + " data.identities=20 data.held_out=8");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "identities")) << r.output;
  r = joule("train out=bad2 method=video_vae data.source=files run.progress=none");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "needs data.path")) << r.output;
  r = joule("train out=bad3" + tiny_ + " vae.slow_epss=0.1");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "did you mean 'vae.slow_eps'")) << r.output;
  // A corrupt frame in the user's folder names the file.
  fs::create_directories(path("broken/seq_a"));
  std::ofstream(path("broken/seq_a/frame_0.png")) << "not a png";
  r = joule("train out=bad4 method=video_vae data.source=files data.path=" + path("broken") + " run.progress=none");
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "frame_0.png")) << r.output;
  r = joule("train out=bad5" + tiny_ + " data.source=moving_fashion data.identities=9 data.held_out=3");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "10 classes")) << r.output;
  for (const char* d : {"bad1", "bad2", "bad3", "bad4", "bad5"}) EXPECT_FALSE(fs::exists(path(d))) << d;
}

}  // namespace
