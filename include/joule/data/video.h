#pragma once
// Video datasets for models that separate what is in a video (identity, constant over a
// sequence) from how it is shown (pose, changing every frame), as in Grathwohl & Wilson,
// "Disentangling Space and Time in Video with Hierarchical Variational Auto-encoders"
// (arXiv:1612.04440). Three generators whose factors are known exactly (moving sprites, rotating
// 3-D objects, moving Fashion-MNIST items), each able to draw from a chosen range of identities so
// that identities can be held out of training, and a loader for the user's own sequences.
//
// The generated frames are a deterministic function of (identity, pose row): render_sprite() and
// render_object() reproduce any frame bit for bit from its labels, which is what tests and
// evaluations that need "this identity at that pose" use.

#include <ATen/ATen.h>
#include <torch/arg.h>

#include <cstdint>
#include <string>
#include <vector>

namespace joule::data {

/// A set of equally long videos with their generating factors (labels for evaluation only).
struct VideoSet {
  at::Tensor frames;    ///< [N, T, C, H, W] float32 in [0, 1], CPU, contiguous
  at::Tensor identity;  ///< [N] int64: who/what is in the video (-1 = unknown, for user files)
  at::Tensor pose;      ///< [N, T, P] float32: per-frame pose factors (P = 0 for user files)
  std::vector<std::string> pose_names;  ///< the P names of the pose factors, in column order
  int64_t num_identities = 0;           ///< size of the identity pool the ids index (0 = unknown)
};

/// The videos `index` ([K] int64, values in [0, N)) of `set`, in that order; pose_names and
/// num_identities are kept. Handy for train/test splits of a loaded set.
VideoSet select_videos(const VideoSet& set, const at::Tensor& index);

// ---------------------------------------------------------------- moving sprites

/// The number of sprite identities (24): every combination of body shape (ellipse, box,
/// triangle, diamond), texture (solid, horizontal stripes, left/right two-tone) and accessory
/// (none, hat), each with its own main colour. Identity i has shape i % 4, texture i % 3 and a
/// hat when (i + i / 12) is odd, so any window of consecutive ids mixes all attributes and
/// held-out ids are new combinations of attributes seen in training.
int64_t sprite_identity_count();

/// The pose columns of make_moving_sprites(): {"x", "y", "scale", "phase_sin", "phase_cos"}.
/// x, y: the body centre divided by the frame size (so in (0, 1)); scale: the sprite's size
/// factor (1 ± scale_amplitude); phase: the walk cycle's angle φ as (sin φ, cos φ) (the legs
/// swing by ±0.5 sin φ rad, the forward leg lifts by cos φ).
std::vector<std::string> sprite_pose_names();

/// Options for make_moving_sprites().
struct MovingSpritesOptions {
  /// Options for `sequences` videos.
  MovingSpritesOptions(int64_t sequences) : sequences_(sequences) {}
  /// N, the number of videos (> 0).
  TORCH_ARG(int64_t, sequences);
  /// T, frames per video (> 0).
  TORCH_ARG(int64_t, frames) = 8;
  /// H = W, the frame size in pixels (>= 16); the sprite's body is about a third of it.
  TORCH_ARG(int64_t, size) = 32;
  /// The first identity drawn (ids are uniform on [identity_begin, identity_end)).
  TORCH_ARG(int64_t, identity_begin) = 0;
  /// One past the last identity drawn (<= sprite_identity_count()).
  TORCH_ARG(int64_t, identity_end) = sprite_identity_count();
  /// Smallest speed of the body centre, in pixels per frame (>= 0); the direction is uniform and
  /// the sprite bounces off the frame borders.
  TORCH_ARG(double, speed_min) = 1.0;
  /// Largest speed, in pixels per frame (>= speed_min).
  TORCH_ARG(double, speed_max) = 2.5;
  /// The scale oscillates as 1 + scale_amplitude · sin(ψ₀ + ω t), ω uniform on [0.15, 0.4]
  /// rad per frame per video; in [0, 0.5].
  TORCH_ARG(double, scale_amplitude) = 0.15;
  /// Smallest walk-cycle advance per frame, in radians (the start phase is uniform).
  TORCH_ARG(double, walk_rate_min) = 0.6;
  /// Largest walk-cycle advance per frame, in radians (>= walk_rate_min).
  TORCH_ARG(double, walk_rate_max) = 1.2;
  /// Anti-aliasing: each pixel averages supersample² point samples (1..8).
  TORCH_ARG(int64_t, supersample) = 2;
};

/// "Moving characters": one sprite per video, identity drawn uniformly from the options' range,
/// moving in a straight line at constant speed with bounces, slowly changing scale, walking.
/// Frames are RGB on a black background: [N, T, 3, size, size]; pose as in sprite_pose_names();
/// num_identities = sprite_identity_count(). All randomness comes from `gen`.
VideoSet make_moving_sprites(const MovingSpritesOptions& options, at::Generator gen);

/// Sprite `identity` at `pose_row` ([5] float32, columns as in sprite_pose_names()), [3, size,
/// size] float32: exactly the frame make_moving_sprites() draws for these labels when
/// `supersample` matches its option.
at::Tensor render_sprite(int64_t identity, const at::Tensor& pose_row, int64_t size, int64_t supersample = 2);

// ---------------------------------------------------------------- rotating objects

/// The number of rotating-object identities (21): seven shapes (cube, square pyramid,
/// octahedron, long bar, cylinder, cone, torus) × three colours (red, green, blue); identity i
/// has shape i % 7 and colour i % 3 (so consecutive ids mix both). The round shapes lie with
/// their axis horizontal, so turning about the vertical axis changes how they look.
int64_t rotating_object_identity_count();

/// The pose columns of make_rotating_objects(): {"angle_sin", "angle_cos", "elevation"}: the
/// rotation θ about the vertical axis as (sin θ, cos θ) and the tilt towards the viewer, in
/// radians (constant over a video).
std::vector<std::string> rotating_object_pose_names();

/// Options for make_rotating_objects().
struct RotatingObjectsOptions {
  /// Options for `sequences` videos.
  RotatingObjectsOptions(int64_t sequences) : sequences_(sequences) {}
  /// N, the number of videos (> 0).
  TORCH_ARG(int64_t, sequences);
  /// T, frames per video (> 0).
  TORCH_ARG(int64_t, frames) = 8;
  /// H = W, the frame size in pixels (>= 16).
  TORCH_ARG(int64_t, size) = 32;
  /// The first identity drawn (ids are uniform on [identity_begin, identity_end)).
  TORCH_ARG(int64_t, identity_begin) = 0;
  /// One past the last identity drawn (<= rotating_object_identity_count()).
  TORCH_ARG(int64_t, identity_end) = rotating_object_identity_count();
  /// Smallest |dθ/dt| in radians per frame (>= 0); the sign is random, the start angle uniform.
  TORCH_ARG(double, angular_speed_min) = 0.15;
  /// Largest |dθ/dt| in radians per frame (>= angular_speed_min).
  TORCH_ARG(double, angular_speed_max) = 0.45;
  /// Smallest tilt towards the viewer, in radians (the tilt is uniform per video, in [-π/2, π/2]).
  TORCH_ARG(double, elevation_min) = 0.15;
  /// Largest tilt, in radians (>= elevation_min).
  TORCH_ARG(double, elevation_max) = 0.6;
  /// Anti-aliasing: each pixel averages supersample² point samples (1..8).
  TORCH_ARG(int64_t, supersample) = 2;
};

/// Shaded 3-D objects turning about the vertical axis: triangle meshes rasterised through a
/// z-buffer, orthographic, Lambertian with ambient light from the upper left, on black. The
/// object stays centred (its bounding sphere spans 84% of the frame). [N, T, 3, size, size];
/// pose as in rotating_object_pose_names(); num_identities = rotating_object_identity_count().
VideoSet make_rotating_objects(const RotatingObjectsOptions& options, at::Generator gen);

/// Object `identity` at `pose_row` ([3] float32, columns as in rotating_object_pose_names()),
/// [3, size, size] float32: exactly the frame make_rotating_objects() draws for these labels when
/// `supersample` matches its option.
at::Tensor render_object(int64_t identity, const at::Tensor& pose_row, int64_t size, int64_t supersample = 2);

// ---------------------------------------------------------------- moving Fashion-MNIST

/// The pose columns of make_moving_fashion(): {"x", "y"}, the item's centre divided by the frame
/// size.
std::vector<std::string> moving_fashion_pose_names();

/// Options for make_moving_fashion().
struct MovingFashionOptions {
  /// Options for `sequences` videos.
  MovingFashionOptions(int64_t sequences) : sequences_(sequences) {}
  /// N, the number of videos (> 0).
  TORCH_ARG(int64_t, sequences);
  /// T, frames per video (> 0).
  TORCH_ARG(int64_t, frames) = 8;
  /// H = W, the frame size in pixels (>= item_size).
  TORCH_ARG(int64_t, size) = 32;
  /// The item is resized to item_size × item_size by area averaging (adaptive average pooling).
  TORCH_ARG(int64_t, item_size) = 16;
  /// The first class drawn: items come from the images whose label is in [class_begin, class_end).
  TORCH_ARG(int64_t, class_begin) = 0;
  /// One past the last class drawn (Fashion-MNIST has 10).
  TORCH_ARG(int64_t, class_end) = 10;
  /// Smallest speed in pixels per frame (>= 0); uniform direction, bounces off the borders.
  TORCH_ARG(double, speed_min) = 1.0;
  /// Largest speed in pixels per frame (>= speed_min).
  TORCH_ARG(double, speed_max) = 3.0;
};

/// Fashion-MNIST items bouncing in a black frame, like Moving MNIST (Srivastava et al.,
/// arXiv:1502.04681) with one item. `images` is [M, 1, h, w] or [M, h, w] in [0, 1] (e.g.
/// load_mnist_split(kFashionMnistDir, "train").images), `labels` [M]. Each video shows one image
/// drawn uniformly from those with a label in [class_begin, class_end); identity = its label.
/// The item moves at a constant speed and is drawn at whole-pixel positions (the pose records the
/// drawn position). [N, T, 1, size, size]; num_identities = max(class_end, max label + 1).
VideoSet make_moving_fashion(const at::Tensor& images, const at::Tensor& labels,
                             const MovingFashionOptions& options, at::Generator gen);

// ---------------------------------------------------------------- the user's sequences

/// Loads videos from `path`, with identity = -1, P = 0 and num_identities = 0:
///
/// - a folder: each subfolder (in natural order: "seq2" before "seq10"; zero-padded names sort
///   the same either way) is one video, its `*.png` files (natural order) its frames. Every video
///   needs the same number of frames and every frame the same size. The set is grey (C = 1) when
///   every PNG is greyscale, else RGB (C = 3; grey frames are repeated). Files other than PNGs,
///   hidden entries and deeper folders are ignored. PNGs are read with io::read_png (alpha
///   dropped, 16-bit rounded to 8).
/// - a `.npy` file (io::read_npy) of shape [N, T, H, W] (grey) or [N, T, C, H, W] with C = 1 or 3,
///   uint8 (divided by 255) or float32/float64 in [0, 1]. PyTorch `.pt` files are not read: save
///   the tensor with numpy.save (`np.save(path, t.numpy())`).
///
/// Errors name the path, the sequence or the file and say what is wrong (missing path, no
/// sequences, no PNGs, mismatched frame counts or sizes, corrupt PNG, wrong shape or dtype, NaN,
/// values outside [0, 1]).
VideoSet load_video_sequences(const std::string& path);

/// Writes `set` in the folder format load_video_sequences() reads: `dir/seq_00000/frame_000.png`,
/// … (wider numbers when there are more). Frames are rounded to 8 bits; C = 1 is written as
/// greyscale PNGs, C = 3 as RGB. `dir` is created; it must not hold anything yet, so no stale
/// sequence is read back with the new ones. Labels are not written.
void write_video_sequences(const std::string& dir, const VideoSet& set);

}  // namespace joule::data
