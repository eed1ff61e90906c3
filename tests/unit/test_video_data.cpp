// Tests for joule/data/video.h: the three generators (shapes, ranges, determinism given the
// generator, identity ranges, labels that reproduce the frames, identities recoverable by template
// matching under pixel noise, distinct identity pools, motion) and the loader of the user's
// sequences (PNG folders and .npy tensors, round trips and every error it promises).

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "joule/core/runtime.h"
#include "joule/data/video.h"
#include "joule/io/npy.h"
#include "joule/io/png.h"
#include "support/test_support.h"

namespace {

namespace jd = joule::data;
namespace fs = std::filesystem;
using joule::make_generator;
using joule::testing::error_of;
using joule::testing::TempDir;

constexpr double kPi = 3.14159265358979323846;

void expect_valid(const jd::VideoSet& s, int64_t n, int64_t t, int64_t c, int64_t size, int64_t p) {
  ASSERT_EQ(s.frames.sizes(), (std::vector<int64_t>{n, t, c, size, size}));
  EXPECT_EQ(s.frames.scalar_type(), at::kFloat);
  EXPECT_TRUE(s.frames.is_contiguous());
  EXPECT_GE(s.frames.min().item<float>(), 0.0f);
  EXPECT_LE(s.frames.max().item<float>(), 1.0f);
  ASSERT_EQ(s.identity.sizes(), (std::vector<int64_t>{n}));
  EXPECT_EQ(s.identity.scalar_type(), at::kLong);
  ASSERT_EQ(s.pose.sizes(), (std::vector<int64_t>{n, t, p}));
  EXPECT_EQ(s.pose.scalar_type(), at::kFloat);
  EXPECT_EQ(int64_t(s.pose_names.size()), p);
}

void expect_same(const jd::VideoSet& a, const jd::VideoSet& b) {
  EXPECT_TRUE(at::equal(a.frames, b.frames));
  EXPECT_TRUE(at::equal(a.identity, b.identity));
  EXPECT_TRUE(at::equal(a.pose, b.pose));
}

bool differs(const jd::VideoSet& a, const jd::VideoSet& b) {
  return !at::equal(a.frames, b.frames) && !at::equal(a.pose, b.pose);
}

std::set<int64_t> ids_of(const jd::VideoSet& s) {
  std::set<int64_t> ids;
  for (int64_t i = 0; i < s.identity.size(0); ++i) ids.insert(s.identity[i].item<int64_t>());
  return ids;
}

using Renderer = at::Tensor (*)(int64_t, const at::Tensor&, int64_t, int64_t);

// Every frame equals the render of its identity at its pose row, bit for bit.
void expect_frames_are_renders(const jd::VideoSet& s, Renderer render, int64_t ss) {
  const int64_t size = s.frames.size(3);
  for (int64_t n = 0; n < s.frames.size(0); ++n)
    for (int64_t t = 0; t < s.frames.size(1); ++t)
      ASSERT_TRUE(at::equal(render(s.identity[n].item<int64_t>(), s.pose[n][t], size, ss), s.frames[n][t]))
          << "video " << n << ", frame " << t;
}

// The share of videos whose identity is the pool member whose render at frame 0's pose is
// nearest (squared error) to frame 0 plus N(0, noise²) pixel noise.
double template_match_accuracy(const jd::VideoSet& s, Renderer render, int64_t pool, double noise, uint64_t seed) {
  auto gen = make_generator(seed);
  const int64_t n = s.frames.size(0), size = s.frames.size(3);
  int64_t right = 0;
  for (int64_t i = 0; i < n; ++i) {
    const at::Tensor frame = s.frames[i][0] + noise * at::randn(s.frames[i][0].sizes(), gen);
    int64_t best = -1;
    double best_err = 1e300;
    for (int64_t id = 0; id < pool; ++id) {
      const double err = (render(id, s.pose[i][0], size, 2) - frame).square().sum().item<double>();
      if (err < best_err) best_err = err, best = id;
    }
    right += best == s.identity[i].item<int64_t>();
  }
  return double(right) / double(n);
}

// The smallest squared distance between renders of two different identities at one pose.
double min_pair_distance(Renderer render, int64_t pool, const at::Tensor& pose_row, int64_t size) {
  std::vector<at::Tensor> r;
  for (int64_t id = 0; id < pool; ++id) r.push_back(render(id, pose_row, size, 2));
  double best = 1e300;
  for (int64_t i = 0; i < pool; ++i)
    for (int64_t j = i + 1; j < pool; ++j) best = std::min(best, (r[i] - r[j]).square().sum().item<double>());
  return best;
}

}  // namespace

// ---------------------------------------------------------------- moving sprites

TEST(VideoSpritesTest, ShapesRangesAndIdentityRange) {
  const auto s = jd::make_moving_sprites(jd::MovingSpritesOptions(50).frames(6).identity_begin(3).identity_end(9),
                                         make_generator(1));
  expect_valid(s, 50, 6, 3, 32, 5);
  EXPECT_EQ(s.pose_names, jd::sprite_pose_names());
  EXPECT_EQ(s.num_identities, jd::sprite_identity_count());
  EXPECT_GE(jd::sprite_identity_count(), 16);
  for (int64_t id : ids_of(s)) {
    EXPECT_GE(id, 3);
    EXPECT_LT(id, 9);
  }
  const at::Tensor x = s.pose.select(2, 0), y = s.pose.select(2, 1), scale = s.pose.select(2, 2);
  EXPECT_GT(x.min().item<float>(), 0.0f);
  EXPECT_LT(x.max().item<float>(), 1.0f);
  EXPECT_GT(y.min().item<float>(), 0.0f);
  EXPECT_LT(y.max().item<float>(), 1.0f);
  EXPECT_GE(scale.min().item<float>(), 0.85f - 1e-6f);
  EXPECT_LE(scale.max().item<float>(), 1.15f + 1e-6f);
  const at::Tensor unit = s.pose.select(2, 3).square() + s.pose.select(2, 4).square();
  EXPECT_LT((unit - 1).abs().max().item<float>(), 1e-5f);
  // The background is black and the sprite stays inside the frame: the border rows and columns
  // are empty in every frame.
  EXPECT_EQ(s.frames.select(3, 0).abs().max().item<float>(), 0.0f);
  EXPECT_EQ(s.frames.select(3, 31).abs().max().item<float>(), 0.0f);
  EXPECT_EQ(s.frames.select(4, 0).abs().max().item<float>(), 0.0f);
  EXPECT_EQ(s.frames.select(4, 31).abs().max().item<float>(), 0.0f);
}

TEST(VideoSpritesTest, DeterministicGivenTheGenerator) {
  const auto o = jd::MovingSpritesOptions(20);
  expect_same(jd::make_moving_sprites(o, make_generator(7)), jd::make_moving_sprites(o, make_generator(7)));
  EXPECT_TRUE(differs(jd::make_moving_sprites(o, make_generator(7)), jd::make_moving_sprites(o, make_generator(8))));
  // The thread count does not change the frames (rendering is per frame, draws come first).
  const auto a = jd::make_moving_sprites(o, make_generator(9));
  jd::VideoSet b;
  {
    joule::testing::OneThread one;
    b = jd::make_moving_sprites(o, make_generator(9));
  }
  expect_same(a, b);
}

TEST(VideoSpritesTest, EveryIdentityAppearsForLargeN) {
  const auto s = jd::make_moving_sprites(jd::MovingSpritesOptions(600).frames(1).size(16), make_generator(2));
  EXPECT_EQ(int64_t(ids_of(s).size()), jd::sprite_identity_count());
}

TEST(VideoSpritesTest, FramesAreTheRendersOfTheirLabels) {
  const auto s = jd::make_moving_sprites(jd::MovingSpritesOptions(12).frames(5), make_generator(3));
  expect_frames_are_renders(s, jd::render_sprite, 2);
  // With another frame size and supersampling too.
  const auto big = jd::make_moving_sprites(jd::MovingSpritesOptions(3).frames(3).size(48).supersample(3),
                                           make_generator(3));
  expect_frames_are_renders(big, jd::render_sprite, 3);
}

TEST(VideoSpritesTest, IdentityIsRecoveredFromFrameZeroByTemplateMatching) {
  // Rendering is deterministic, so without noise the true identity has error 0 and every other
  // one a positive error (see the distinctness test): 100%. With N(0, 0.1²) noise per pixel the
  // margin still decides every case (the expected noise contribution cancels between
  // candidates; the smallest pair distance is many times the noise's cross term).
  const auto s = jd::make_moving_sprites(jd::MovingSpritesOptions(60).frames(2), make_generator(4));
  EXPECT_EQ(template_match_accuracy(s, jd::render_sprite, jd::sprite_identity_count(), 0.0, 1), 1.0);
  EXPECT_EQ(template_match_accuracy(s, jd::render_sprite, jd::sprite_identity_count(), 0.1, 1), 1.0);
}

TEST(VideoSpritesTest, IdentitiesAreDistinctAtEveryPose) {
  // At 10 poses drawn by the generator (walk phases, scales, positions), every pair of the 24
  // identities differs by a squared distance of more than 8 (eight pixel channels going fully
  // from 0 to 1). Measured minimum 9.99, at scale 0.85: identities i and i + 4 share shape and
  // colours and differ in texture (solid / stripes / two-tone with the colours swapped).
  const auto s = jd::make_moving_sprites(jd::MovingSpritesOptions(5).frames(2), make_generator(5));
  for (int64_t i = 0; i < 5; ++i)
    for (int64_t t = 0; t < 2; ++t) {
      const double d = min_pair_distance(jd::render_sprite, jd::sprite_identity_count(), s.pose[i][t], 32);
      EXPECT_GT(d, 8.0) << "pose of video " << i << ", frame " << t;
    }
}

TEST(VideoSpritesTest, SpritesMoveScaleAndWalk) {
  const auto o = jd::MovingSpritesOptions(40).frames(8);
  const auto s = jd::make_moving_sprites(o, make_generator(6));
  for (int64_t i = 0; i < 40; ++i) {
    for (int64_t t = 0; t + 1 < 8; ++t) {
      // Motion happens: consecutive frames differ.
      EXPECT_GT((s.frames[i][t + 1] - s.frames[i][t]).abs().sum().item<double>(), 1.0) << i << "," << t;
      // The centre moves at the video's constant speed: |Δ| per coordinate is the same every
      // frame except where a bounce folds the path (then it is smaller); the speed is within
      // [speed_min, speed_max] pixels per frame.
      const double dx = 32 * (s.pose[i][t + 1][0] - s.pose[i][t][0]).item<double>();
      const double dy = 32 * (s.pose[i][t + 1][1] - s.pose[i][t][1]).item<double>();
      EXPECT_LE(std::hypot(dx, dy), o.speed_max() + 1e-3);
      // The walk phase advances by the video's walk rate, within [walk_rate_min, walk_rate_max].
      const double a0 = std::atan2(s.pose[i][t][3].item<double>(), s.pose[i][t][4].item<double>());
      const double a1 = std::atan2(s.pose[i][t + 1][3].item<double>(), s.pose[i][t + 1][4].item<double>());
      const double da = std::remainder(a1 - a0, 2 * kPi);
      EXPECT_GE(da, o.walk_rate_min() - 1e-4);
      EXPECT_LE(da, o.walk_rate_max() + 1e-4);
    }
    // Between two frames without a bounce the step is the full speed.
    double longest = 0;
    for (int64_t t = 0; t + 1 < 8; ++t) {
      const double dx = 32 * (s.pose[i][t + 1][0] - s.pose[i][t][0]).item<double>();
      const double dy = 32 * (s.pose[i][t + 1][1] - s.pose[i][t][1]).item<double>();
      longest = std::max(longest, std::hypot(dx, dy));
    }
    EXPECT_GE(longest, o.speed_min() - 1e-3) << "video " << i;
  }
}

TEST(VideoSpritesTest, BadOptionsAreActionableErrors) {
  auto gen = make_generator(1);
  using O = jd::MovingSpritesOptions;
  EXPECT_NE(error_of([&] { jd::make_moving_sprites(O(4).size(12), gen); }).find("size must be >= 16"),
            std::string::npos);
  EXPECT_NE(error_of([&] { jd::make_moving_sprites(O(4).identity_end(99), gen); }).find("identity_end"),
            std::string::npos);
  EXPECT_NE(error_of([&] { jd::make_moving_sprites(O(4).identity_begin(5).identity_end(5), gen); })
                .find("identity_begin < identity_end"),
            std::string::npos);
  EXPECT_NE(error_of([&] { jd::make_moving_sprites(O(0), gen); }).find("sequences"), std::string::npos);
  EXPECT_NE(error_of([&] { jd::make_moving_sprites(O(4).speed_min(3).speed_max(1), gen); }).find("speed_min"),
            std::string::npos);
  EXPECT_NE(error_of([&] { jd::make_moving_sprites(O(4).scale_amplitude(0.9), gen); }).find("scale_amplitude"),
            std::string::npos);
  EXPECT_THROW(jd::render_sprite(24, at::zeros({5}), 32), c10::Error);
  EXPECT_THROW(jd::render_sprite(0, at::zeros({4}), 32), c10::Error);
}

// ---------------------------------------------------------------- rotating objects

TEST(VideoObjectsTest, ShapesRangesAndIdentityRange) {
  const auto s = jd::make_rotating_objects(
      jd::RotatingObjectsOptions(40).frames(5).identity_begin(12).identity_end(16), make_generator(1));
  expect_valid(s, 40, 5, 3, 32, 3);
  EXPECT_EQ(s.pose_names, jd::rotating_object_pose_names());
  EXPECT_EQ(s.num_identities, jd::rotating_object_identity_count());
  EXPECT_GE(jd::rotating_object_identity_count(), 12);
  EXPECT_EQ(ids_of(s), (std::set<int64_t>{12, 13, 14, 15}));
  const at::Tensor elevation = s.pose.select(2, 2);
  EXPECT_GE(elevation.min().item<float>(), 0.15f - 1e-6f);
  EXPECT_LE(elevation.max().item<float>(), 0.6f + 1e-6f);
  // Something is drawn in every frame, centred: the border stays black.
  EXPECT_GT(s.frames.flatten(2).amax(2).min().item<float>(), 0.2f);
  EXPECT_EQ(s.frames.select(3, 0).abs().max().item<float>(), 0.0f);
  EXPECT_EQ(s.frames.select(4, 31).abs().max().item<float>(), 0.0f);
}

TEST(VideoObjectsTest, DeterministicGivenTheGenerator) {
  const auto o = jd::RotatingObjectsOptions(20);
  expect_same(jd::make_rotating_objects(o, make_generator(7)), jd::make_rotating_objects(o, make_generator(7)));
  EXPECT_TRUE(
      differs(jd::make_rotating_objects(o, make_generator(7)), jd::make_rotating_objects(o, make_generator(8))));
}

TEST(VideoObjectsTest, EveryIdentityAppearsForLargeN) {
  const auto s = jd::make_rotating_objects(jd::RotatingObjectsOptions(600).frames(1).size(16), make_generator(2));
  EXPECT_EQ(int64_t(ids_of(s).size()), jd::rotating_object_identity_count());
}

TEST(VideoObjectsTest, FramesAreTheRendersOfTheirLabels) {
  expect_frames_are_renders(jd::make_rotating_objects(jd::RotatingObjectsOptions(12).frames(4), make_generator(3)),
                            jd::render_object, 2);
}

TEST(VideoObjectsTest, IdentityIsRecoveredFromFrameZeroByTemplateMatching) {
  // As for the sprites: exact renders, so 100% without noise and with N(0, 0.1²) pixel noise.
  const auto s = jd::make_rotating_objects(jd::RotatingObjectsOptions(60).frames(2), make_generator(4));
  const int64_t pool = jd::rotating_object_identity_count();
  EXPECT_EQ(template_match_accuracy(s, jd::render_object, pool, 0.0, 1), 1.0);
  EXPECT_EQ(template_match_accuracy(s, jd::render_object, pool, 0.1, 1), 1.0);
}

TEST(VideoObjectsTest, IdentitiesAreDistinctAtEveryPose) {
  // Every pair of the 21 objects differs by a squared distance of at least 8 at 8 generated poses.
  const auto s = jd::make_rotating_objects(jd::RotatingObjectsOptions(4).frames(2), make_generator(5));
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t t = 0; t < 2; ++t)
      EXPECT_GT(min_pair_distance(jd::render_object, jd::rotating_object_identity_count(), s.pose[i][t], 32), 8.0)
          << "pose of video " << i << ", frame " << t;
}

TEST(VideoObjectsTest, RotationIsVisibleAndPeriodic) {
  auto pose = [](double theta, double elevation) {
    return at::tensor({float(std::sin(theta)), float(std::cos(theta)), float(elevation)});
  };
  for (int64_t id = 0; id < jd::rotating_object_identity_count(); ++id) {
    const double theta = 0.3 + 0.2 * double(id);
    const at::Tensor a = jd::render_object(id, pose(theta, 0.4), 32);
    // A full turn gives the same picture (up to the last bit of sin and cos in float32: at most
    // a sample flipping at a silhouette edge).
    const at::Tensor full = jd::render_object(id, pose(theta + 2 * kPi, 0.4), 32);
    EXPECT_LT((a - full).abs().max().item<float>(), 0.3f) << "identity " << id;
    EXPECT_LT((a - full).abs().sum().item<float>(), 0.5f) << "identity " << id;
    // A quarter-radian turn changes it clearly: no shape looks the same from every angle about
    // the vertical axis (the round ones lie on their side).
    const at::Tensor turned = jd::render_object(id, pose(theta + 0.25, 0.4), 32);
    EXPECT_GT((a - turned).square().sum().item<float>(), 1.0f) << "identity " << id;
    // The tilt is visible too (at θ = 0.8: near θ = π/2 the torus is seen edge-on and tilting
    // turns it about its own axis, which changes nothing).
    EXPECT_GT((jd::render_object(id, pose(0.8, 0.4), 32) - jd::render_object(id, pose(0.8, 0.1), 32))
                  .square()
                  .sum()
                  .item<float>(),
              1.0f)
        << "identity " << id;
  }
  // The cone (shape 5) has no half-turn symmetry: θ and θ + π differ.
  const at::Tensor cone = jd::render_object(5, pose(0.4, 0.3), 32);
  EXPECT_GT((cone - jd::render_object(5, pose(0.4 + kPi, 0.3), 32)).square().sum().item<float>(), 5.0f);
}

TEST(VideoObjectsTest, AngleAdvancesAtAConstantRatePerVideo) {
  const auto o = jd::RotatingObjectsOptions(30).frames(6);
  const auto s = jd::make_rotating_objects(o, make_generator(6));
  for (int64_t i = 0; i < 30; ++i) {
    double first = 0;
    for (int64_t t = 0; t + 1 < 6; ++t) {
      const double a0 = std::atan2(s.pose[i][t][0].item<double>(), s.pose[i][t][1].item<double>());
      const double a1 = std::atan2(s.pose[i][t + 1][0].item<double>(), s.pose[i][t + 1][1].item<double>());
      const double da = std::remainder(a1 - a0, 2 * kPi);
      if (t == 0) first = da;
      EXPECT_NEAR(da, first, 1e-5);
      EXPECT_GE(std::abs(da), o.angular_speed_min() - 1e-5);
      EXPECT_LE(std::abs(da), o.angular_speed_max() + 1e-5);
      EXPECT_EQ(s.pose[i][t][2].item<float>(), s.pose[i][0][2].item<float>());  // elevation per video
      EXPECT_GT((s.frames[i][t + 1] - s.frames[i][t]).abs().sum().item<double>(), 1.0);
    }
  }
}

TEST(VideoObjectsTest, BadOptionsAreActionableErrors) {
  auto gen = make_generator(1);
  using O = jd::RotatingObjectsOptions;
  EXPECT_NE(error_of([&] { jd::make_rotating_objects(O(4).identity_end(22), gen); }).find("identity_end <= 21"),
            std::string::npos);
  EXPECT_NE(error_of([&] { jd::make_rotating_objects(O(4).elevation_max(2.0), gen); }).find("elevation_max"),
            std::string::npos);
  EXPECT_NE(error_of([&] { jd::make_rotating_objects(O(4).supersample(0), gen); }).find("supersample"),
            std::string::npos);
  EXPECT_NE(error_of([&] { jd::make_rotating_objects(O(4).frames(0), gen); }).find("frames"), std::string::npos);
}

// ---------------------------------------------------------------- moving Fashion-MNIST

namespace {

constexpr int64_t kClasses = 6, kPerClass = 5;

// Class c's prototype on a 32x32 canvas: a ring of radius 3 + 2c around the centre (symmetric,
// so an item's centre of mass is its centre); images are prototypes plus a little noise.
at::Tensor prototype(int64_t c) {
  const at::Tensor r = at::arange(32, at::kFloat).sub(15.5);
  const at::Tensor d = (r.view({32, 1}).square() + r.view({1, 32}).square()).sqrt();
  return at::exp(-(d - (3.0 + 2.0 * double(c))).square() / 2.0).view({1, 32, 32});
}

struct Items {
  at::Tensor images, labels;
};

Items synthetic_items() {
  auto gen = make_generator(11);
  std::vector<at::Tensor> images;
  std::vector<int64_t> labels;
  for (int64_t c = 0; c < kClasses; ++c)
    for (int64_t k = 0; k < kPerClass; ++k) {
      images.push_back((prototype(c) + 0.03 * at::rand({1, 32, 32}, gen)).clamp(0, 1));
      labels.push_back(c);
    }
  return {at::stack(images), at::tensor(labels, at::kLong)};
}

}  // namespace

TEST(VideoFashionTest, ShapesClassRangeAndDeterminism) {
  const Items it = synthetic_items();
  const auto o = jd::MovingFashionOptions(40).frames(6).class_begin(2).class_end(5);
  const auto s = jd::make_moving_fashion(it.images, it.labels, o, make_generator(1));
  expect_valid(s, 40, 6, 1, 32, 2);
  EXPECT_EQ(s.pose_names, jd::moving_fashion_pose_names());
  EXPECT_EQ(s.num_identities, kClasses);  // the labels go up to 5
  EXPECT_EQ(ids_of(s), (std::set<int64_t>{2, 3, 4}));
  expect_same(s, jd::make_moving_fashion(it.images, it.labels, o, make_generator(1)));
  EXPECT_TRUE(differs(s, jd::make_moving_fashion(it.images, it.labels, o, make_generator(2))));
  // [M, h, w] images are accepted too and give the same videos.
  expect_same(s, jd::make_moving_fashion(it.images.squeeze(1), it.labels, o, make_generator(1)));
  // The item stays whole inside the frame: its centre is at least item_size / 2 from the border.
  EXPECT_GE(s.pose.min().item<float>(), 8.0f / 32 - 1e-6f);
  EXPECT_LE(s.pose.max().item<float>(), 24.0f / 32 + 1e-6f);
}

TEST(VideoFashionTest, ItemsAreDrawnWhereThePoseSaysAndMove) {
  const Items it = synthetic_items();
  const auto o = jd::MovingFashionOptions(30).frames(8).speed_min(1.5).speed_max(3);
  const auto s = jd::make_moving_fashion(it.images, it.labels, o, make_generator(3));
  const at::Tensor coord = at::arange(32, at::kDouble).add(0.5);  // pixel centres
  for (int64_t i = 0; i < 30; ++i) {
    for (int64_t t = 0; t < 8; ++t) {
      const at::Tensor f = s.frames[i][t][0].to(at::kDouble);
      const double mass = f.sum().item<double>();
      const double cx = (f.sum(0) * coord).sum().item<double>() / mass;
      const double cy = (f.sum(1) * coord).sum().item<double>() / mass;
      // Symmetric rings plus 3% noise: the centre of mass is within half a pixel of the centre.
      EXPECT_NEAR(cx, 32 * s.pose[i][t][0].item<double>(), 0.5) << i << "," << t;
      EXPECT_NEAR(cy, 32 * s.pose[i][t][1].item<double>(), 0.5) << i << "," << t;
    }
    EXPECT_GT((s.frames[i][7] - s.frames[i][0]).abs().sum().item<double>(), 1.0);
  }
}

TEST(VideoFashionTest, ClassIsRecoveredByTemplateMatching) {
  // Paste every class prototype (pooled to 16x16 as the generator does) at frame 0's pose and
  // take the nearest: 100%, since the rings differ far more than the 3% noise of the images.
  const Items it = synthetic_items();
  const auto s = jd::make_moving_fashion(it.images, it.labels, jd::MovingFashionOptions(60), make_generator(4));
  int64_t right = 0;
  for (int64_t i = 0; i < 60; ++i) {
    const int64_t left = std::lround(32 * s.pose[i][0][0].item<double>() - 8);
    const int64_t top = std::lround(32 * s.pose[i][0][1].item<double>() - 8);
    int64_t best = -1;
    double best_err = 1e300;
    for (int64_t c = 0; c < kClasses; ++c) {
      at::Tensor canvas = at::zeros({32, 32});
      canvas.narrow(0, top, 16).narrow(1, left, 16).copy_(at::adaptive_avg_pool2d(prototype(c), {16, 16})[0]);
      const double err = (canvas - s.frames[i][0][0]).square().sum().item<double>();
      if (err < best_err) best_err = err, best = c;
    }
    right += best == s.identity[i].item<int64_t>();
  }
  EXPECT_EQ(right, 60);
}

TEST(VideoFashionTest, BadInputsAreActionableErrors) {
  const Items it = synthetic_items();
  auto gen = make_generator(1);
  using O = jd::MovingFashionOptions;
  EXPECT_NE(error_of([&] { jd::make_moving_fashion(it.images, it.labels, O(4).class_begin(7).class_end(9), gen); })
                .find("no image has a label in [7, 9)"),
            std::string::npos);
  EXPECT_NE(error_of([&] { jd::make_moving_fashion(it.images * 255, it.labels, O(4), gen); }).find("divide by 255"),
            std::string::npos);
  EXPECT_NE(error_of([&] { jd::make_moving_fashion(it.images, it.labels.narrow(0, 0, 3), O(4), gen); })
                .find("labels must be [M]"),
            std::string::npos);
  EXPECT_NE(error_of([&] { jd::make_moving_fashion(it.images, it.labels, O(4).item_size(40), gen); })
                .find("item_size <= size"),
            std::string::npos);
}

// ---------------------------------------------------------------- the user's sequences

namespace {

std::string message_of(const std::function<void()>& f) { return error_of(f); }

void write_bytes(const std::string& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

void write_frame(const std::string& path, int64_t h, int64_t w, joule::io::Color c,
                 joule::io::PngColor type = joule::io::PngColor::kRgb) {
  joule::io::write_png(path, joule::io::Image(h, w, c), type);
}

}  // namespace

TEST(VideoLoadTest, RgbFolderRoundTripsWithinQuantisation) {
  TempDir dir;
  const auto s = jd::make_moving_sprites(jd::MovingSpritesOptions(3).frames(4).size(16), make_generator(1));
  jd::write_video_sequences(dir / "videos", s);
  EXPECT_TRUE(fs::exists(dir / "videos/seq_00002/frame_003.png"));
  const auto back = jd::load_video_sequences(dir / "videos");
  expect_valid(back, 3, 4, 3, 16, 0);
  EXPECT_LE((back.frames - s.frames).abs().max().item<float>(), 0.5f / 255 + 1e-6f);
  EXPECT_TRUE(at::equal(back.identity, at::full({3}, -1, at::kLong)));
  EXPECT_EQ(back.num_identities, 0);
  // Writing into a folder that already holds sequences would mix old and new: refused.
  EXPECT_NE(message_of([&] { jd::write_video_sequences(dir / "videos", s); }).find("not empty"), std::string::npos);
}

TEST(VideoLoadTest, GreyFolderStaysGreyAndMixedBecomesRgb) {
  TempDir dir;
  const auto items = synthetic_items();
  const auto s = jd::make_moving_fashion(items.images, items.labels, jd::MovingFashionOptions(2).frames(3).size(20),
                                         make_generator(2));
  jd::write_video_sequences(dir / "grey", s);
  const auto back = jd::load_video_sequences(dir / "grey");
  expect_valid(back, 2, 3, 1, 20, 0);
  EXPECT_LE((back.frames - s.frames).abs().max().item<float>(), 0.5f / 255 + 1e-6f);
  // One RGB frame makes the whole set RGB; grey frames are repeated into the three channels.
  write_frame(dir / "grey/seq_00001/frame_001.png", 20, 20, {255, 0, 0});
  const auto mixed = jd::load_video_sequences(dir / "grey");
  expect_valid(mixed, 2, 3, 3, 20, 0);
  EXPECT_TRUE(at::equal(mixed.frames[0].select(1, 0), mixed.frames[0].select(1, 2)));
  EXPECT_EQ(mixed.frames[1][1][0].min().item<float>(), 1.0f);
  EXPECT_EQ(mixed.frames[1][1][1].max().item<float>(), 0.0f);
}

TEST(VideoLoadTest, FramesAndSequencesAreInNaturalOrder) {
  TempDir dir;
  // seq2 before seq10, f2 before f10; other files and hidden entries are ignored.
  for (const char* seq : {"seq10", "seq2"}) {
    fs::create_directories(dir / seq);
    const uint8_t base = std::string(seq) == "seq2" ? 100 : 200;
    for (int k : {10, 1, 2}) {
      const uint8_t v = uint8_t(base + k);
      write_frame(dir / (std::string(seq) + "/f" + std::to_string(k) + ".png"), 2, 3, {v, v, v},
                  joule::io::PngColor::kGrey);
    }
    write_bytes(dir / (std::string(seq) + "/notes.txt"), "not a frame");
  }
  fs::create_directories(dir / ".cache");
  const auto s = jd::load_video_sequences(dir.path());
  ASSERT_EQ(s.frames.sizes(), (std::vector<int64_t>{2, 3, 1, 2, 3}));
  const int expected[2][3] = {{101, 102, 110}, {201, 202, 210}};
  for (int n = 0; n < 2; ++n)
    for (int t = 0; t < 3; ++t)
      EXPECT_EQ(std::lround(255 * s.frames[n][t][0][1][2].item<double>()), expected[n][t]) << n << "," << t;
}

TEST(VideoLoadTest, NpyTensorsInEveryAcceptedLayout) {
  TempDir dir;
  auto gen = make_generator(3);
  // uint8 [N, T, H, W] → grey, divided by 255.
  const at::Tensor u8 = at::randint(0, 256, {2, 3, 5, 6}, gen, at::kByte);
  joule::io::write_npy(dir / "u8.npy", u8);
  const auto a = jd::load_video_sequences(dir / "u8.npy");
  ASSERT_EQ(a.frames.sizes(), (std::vector<int64_t>{2, 3, 1, 5, 6}));
  EXPECT_EQ(a.identity.sizes(), (std::vector<int64_t>{2}));
  EXPECT_TRUE(at::allclose(a.frames, u8.unsqueeze(2).to(at::kFloat) / 255));
  // float32 [N, T, 3, H, W] and float64 [N, T, 1, H, W] in [0, 1].
  const at::Tensor f = at::rand({2, 2, 3, 4, 4}, gen);
  joule::io::write_npy(dir / "f.npy", f);
  EXPECT_TRUE(at::equal(jd::load_video_sequences(dir / "f.npy").frames, f));
  const at::Tensor d = at::rand({3, 2, 1, 4, 5}, gen, at::kDouble);
  joule::io::write_npy(dir / "d.npy", d);
  const auto c = jd::load_video_sequences(dir / "d.npy");
  EXPECT_EQ(c.frames.scalar_type(), at::kFloat);
  EXPECT_TRUE(at::allclose(c.frames, d.to(at::kFloat)));
  EXPECT_EQ(c.pose.sizes(), (std::vector<int64_t>{3, 2, 0}));
}

TEST(VideoLoadTest, NpyErrorsNameTheFileAndTheProblem) {
  TempDir dir;
  auto check = [&](const std::string& name, const at::Tensor& x, const std::string& what) {
    joule::io::write_npy(dir / name, x);
    const std::string m = message_of([&] { jd::load_video_sequences(dir / name); });
    EXPECT_NE(m.find(dir / name), std::string::npos) << m;
    EXPECT_NE(m.find(what), std::string::npos) << m;
  };
  at::Tensor nan = at::rand({2, 2, 4, 4});
  nan[1][1][2][3] = std::nanf("");
  check("nan.npy", nan, "contains NaN");
  check("inf.npy", at::full({1, 2, 3, 3}, INFINITY), "infinite");
  check("bytes.npy", at::rand({2, 2, 4, 4}) * 255, "divide by 255");
  check("neg.npy", at::rand({2, 2, 4, 4}) - 0.5, "must be in [0, 1]");
  check("shape.npy", at::rand({2, 4, 4}), "[N, T, H, W]");
  check("last.npy", at::rand({2, 2, 4, 4, 3}), "channels-last");
  check("int.npy", at::zeros({2, 2, 4, 4}, at::kLong), "uint8");
}

TEST(VideoLoadTest, FolderErrorsNameTheSequenceOrFile) {
  TempDir dir;
  auto expect_error = [&](const std::string& path, const std::vector<std::string>& parts) {
    const std::string m = message_of([&] { jd::load_video_sequences(path); });
    ASSERT_FALSE(m.empty()) << "no error for " << path;
    for (const auto& p : parts) EXPECT_NE(m.find(p), std::string::npos) << "'" << p << "' not in: " << m;
  };
  expect_error(dir / "missing", {dir / "missing", "does not exist"});
  expect_error(dir / "file.pt", {"does not exist"});
  write_bytes(dir / "file.pt", "x");
  expect_error(dir / "file.pt", {dir / "file.pt", "np.save"});
  fs::create_directories(dir / "empty");
  expect_error(dir / "empty", {dir / "empty", "no sequence subfolders"});
  fs::create_directories(dir / "loose");
  write_frame(dir / "loose/a.png", 4, 4, {1, 2, 3});
  expect_error(dir / "loose", {"own subfolder"});
  fs::create_directories(dir / "nopng/s1");
  write_bytes(dir / "nopng/s1/readme.txt", "x");
  expect_error(dir / "nopng", {dir / "nopng/s1", "no .png frames"});

  fs::create_directories(dir / "counts/a");
  fs::create_directories(dir / "counts/b");
  for (int k = 0; k < 3; ++k) write_frame(dir / ("counts/a/" + std::to_string(k) + ".png"), 4, 4, {1, 2, 3});
  for (int k = 0; k < 2; ++k) write_frame(dir / ("counts/b/" + std::to_string(k) + ".png"), 4, 4, {1, 2, 3});
  expect_error(dir / "counts", {dir / "counts/b", "has 2 frames", "has 3"});

  fs::create_directories(dir / "sizes/a");
  write_frame(dir / "sizes/a/0.png", 4, 4, {1, 2, 3});
  write_frame(dir / "sizes/a/1.png", 4, 5, {1, 2, 3});
  expect_error(dir / "sizes", {dir / "sizes/a/1.png", "5x4", "same size"});

  fs::create_directories(dir / "corrupt/a");
  write_frame(dir / "corrupt/a/0.png", 4, 4, {1, 2, 3});
  write_bytes(dir / "corrupt/a/1.png", "this is not a PNG file at all");
  expect_error(dir / "corrupt", {dir / "corrupt/a/1.png", "not a PNG"});
}

TEST(VideoLoadTest, SelectVideosKeepsLabelsAligned) {
  const auto s = jd::make_moving_sprites(jd::MovingSpritesOptions(6).frames(2), make_generator(1));
  const auto sub = jd::select_videos(s, at::tensor({4, 1}, at::kLong));
  EXPECT_TRUE(at::equal(sub.frames[0], s.frames[4]));
  EXPECT_TRUE(at::equal(sub.pose[1], s.pose[1]));
  EXPECT_EQ(sub.identity[0].item<int64_t>(), s.identity[4].item<int64_t>());
  EXPECT_EQ(sub.pose_names, s.pose_names);
  EXPECT_EQ(sub.num_identities, s.num_identities);
  EXPECT_THROW(jd::select_videos(s, at::tensor({6}, at::kLong)), c10::Error);
}
