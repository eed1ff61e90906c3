#include "joule/data/cartpole.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <cmath>

namespace joule::data {
namespace {

// gym/envs/classic_control/cartpole.py's constants.
constexpr double kGravity = 9.8, kMassCart = 1.0, kMassPole = 0.1, kTotalMass = kMassCart + kMassPole;
constexpr double kHalfLength = 0.5, kPoleMassLength = kMassPole * kHalfLength, kForce = 10.0, kTau = 0.02;
constexpr double kXLimit = 2.4;
const double kThetaLimit = 12 * 2 * M_PI / 360;

}  // namespace

CartPole::CartPole(int64_t max_steps) : max_steps_(max_steps) {
  TORCH_CHECK(max_steps >= 1, "CartPole: max_steps must be >= 1, got ", max_steps);
}

std::array<double, 4> CartPole::reset(at::Generator& gen) {
  const auto u = at::empty({4}, at::kDouble).uniform_(-0.05, 0.05, gen);
  for (int i = 0; i < 4; ++i) state_[i] = u[i].item<double>();
  done_ = false;
  steps_ = 0;
  return state_;
}

double CartPole::step(int64_t action) {
  TORCH_CHECK(!done_, "CartPole: step() after the episode ended; call reset()");
  TORCH_CHECK(action == 0 || action == 1, "CartPole: action must be 0 (left) or 1 (right), got ", action);
  auto& [x, x_dot, theta, theta_dot] = state_;
  const double force = action == 1 ? kForce : -kForce;
  const double c = std::cos(theta), s = std::sin(theta);
  const double temp = (force + kPoleMassLength * theta_dot * theta_dot * s) / kTotalMass;
  const double theta_acc = (kGravity * s - c * temp) / (kHalfLength * (4.0 / 3.0 - kMassPole * c * c / kTotalMass));
  const double x_acc = temp - kPoleMassLength * theta_acc * c / kTotalMass;
  x += kTau * x_dot;
  x_dot += kTau * x_acc;
  theta += kTau * theta_dot;
  theta_dot += kTau * theta_acc;
  ++steps_;
  done_ = std::abs(x) > kXLimit || std::abs(theta) > kThetaLimit || steps_ >= max_steps_;
  return 1.0;
}

}  // namespace joule::data
