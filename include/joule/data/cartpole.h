#pragma once
// The cart-pole balancing task (Barto, Sutton & Anderson 1983) with the standard dynamics and
// constants of OpenAI Gym's CartPole-v0: a 1 kg cart, a 0.1 kg pole of half-length 0.5 m, ±10 N
// pushes, Euler steps of 0.02 s; the episode ends when the cart leaves ±2.4 m, the pole tilts past
// 12°, or after max_steps steps; reward 1 per step. Deterministic given the generator.

#include <ATen/core/Generator.h>

#include <array>
#include <cstdint>

namespace joule::data {

/// One cart-pole episode at a time.
class CartPole {
 public:
  /// `max_steps`: the episode's time limit (CartPole-v0: 200).
  explicit CartPole(int64_t max_steps = 200);
  /// Starts an episode: every state variable uniform in [−0.05, 0.05]; returns the state
  /// (x, ẋ, θ, θ̇).
  std::array<double, 4> reset(at::Generator& gen);
  /// Pushes left (action 0) or right (1) for one step; returns the reward (1).
  double step(int64_t action);
  /// The current state (x, ẋ, θ, θ̇).
  const std::array<double, 4>& state() const { return state_; }
  /// True when the episode has ended (fell, left the track, or hit the time limit).
  bool done() const { return done_; }
  /// Steps taken in this episode.
  int64_t steps() const { return steps_; }

 private:
  int64_t max_steps_;
  std::array<double, 4> state_{};
  bool done_ = true;
  int64_t steps_ = 0;
};

}  // namespace joule::data
