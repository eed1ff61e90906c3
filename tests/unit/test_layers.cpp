// joule::linear and joule::conv2d equal at::linear and at::conv2d — outputs, first-order
// gradients for every subset of inputs, and second-order gradients (create_graph) as used by
// score matching — on the shapes where they take their own paths and where they defer.
#include <gtest/gtest.h>

#include "joule/core/layers.h"
#include "joule/core/runtime.h"

#include <torch/autograd.h>

#include <functional>

namespace {

using Layer = std::function<torch::Tensor(const torch::Tensor&, const torch::Tensor&, const torch::Tensor&)>;

// A scalar of the layer's output with a non-linearity, so second derivatives are non-zero.
torch::Tensor scalar_of(const torch::Tensor& y) { return torch::tanh(y).pow(2).sum(); }

struct Grads {
  torch::Tensor out, gx, gw, gb;
};

Grads first_order(const Layer& layer, torch::Tensor x, torch::Tensor w, torch::Tensor b, bool x_grad, bool w_grad) {
  x = x.detach().requires_grad_(x_grad);
  w = w.detach().requires_grad_(w_grad);
  if (b.defined()) b = b.detach().requires_grad_(w_grad);
  auto out = layer(x, w, b);
  std::vector<torch::Tensor> inputs;
  if (x_grad) inputs.push_back(x);
  if (w_grad) inputs.push_back(w);
  if (w_grad && b.defined()) inputs.push_back(b);
  auto g = torch::autograd::grad({scalar_of(out)}, inputs);
  Grads r{out.detach()};
  size_t i = 0;
  if (x_grad) r.gx = g[i++];
  if (w_grad) r.gw = g[i++];
  if (w_grad && b.defined()) r.gb = g[i++];
  return r;
}

// Score-matching shape: s = ∂E/∂x with create_graph, then ∂(‖s‖² + Σ s·x)/∂(x, w, b).
Grads second_order(const Layer& layer, torch::Tensor x, torch::Tensor w, torch::Tensor b) {
  x = x.detach().requires_grad_(true);
  w = w.detach().requires_grad_(true);
  if (b.defined()) b = b.detach().requires_grad_(true);
  auto e = scalar_of(layer(x, w, b));
  auto s = torch::autograd::grad({e}, {x}, {}, /*retain_graph=*/true, /*create_graph=*/true)[0];
  auto loss = s.pow(2).sum() + (s * x).sum();
  std::vector<torch::Tensor> inputs{x, w};
  if (b.defined()) inputs.push_back(b);
  auto g = torch::autograd::grad({loss}, inputs);
  return {s.detach(), g[0], g[1], b.defined() ? g[2] : torch::Tensor()};
}

void expect_close(const Grads& a, const Grads& b, double tol, const std::string& what) {
  auto check = [&](const torch::Tensor& u, const torch::Tensor& v, const char* name) {
    ASSERT_EQ(u.defined(), v.defined()) << what << " " << name;
    if (!u.defined()) return;
    ASSERT_EQ(u.sizes(), v.sizes()) << what << " " << name;
    const double scale = std::max(1.0, v.abs().max().item<double>());
    const double err = (u - v).abs().max().item<double>() / scale;
    EXPECT_LT(err, tol) << what << " " << name;
  };
  check(a.out, b.out, "output");
  check(a.gx, b.gx, "grad x");
  check(a.gw, b.gw, "grad weight");
  check(a.gb, b.gb, "grad bias");
}

const Layer kJouleLinear = [](const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
  return joule::linear(x, w, b);
};
const Layer kTorchLinear = [](const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
  return at::linear(x, w, b);
};

Layer joule_conv(int64_t stride, int64_t padding) {
  return [=](const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
    return joule::conv2d(x, w, b, stride, padding);
  };
}
Layer torch_conv(int64_t stride, int64_t padding) {
  return [=](const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
    return at::conv2d(x, w, b, stride, padding);
  };
}

TEST(LayersTest, LinearEqualsTorchToFirstAndSecondOrder) {
  auto gen = joule::make_generator(3);
  for (bool bias : {true, false}) {
    for (auto [rows, in, out] : {std::tuple<int64_t, int64_t, int64_t>{1, 1, 1}, {10, 50, 256}, {64, 3136, 10}}) {
      auto x = torch::randn({rows, in}, gen), w = torch::randn({out, in}, gen) / std::sqrt(double(in));
      auto b = bias ? torch::randn({out}, gen) : torch::Tensor();
      const std::string what = std::to_string(rows) + "x" + std::to_string(in) + "->" + std::to_string(out) +
                               (bias ? " bias" : " no bias");
      // float32 sums in a different order: ~1e-6 relative; 1e-4 leaves room for k = 3136.
      for (auto [xg, wg] : {std::pair<bool, bool>{true, true}, {true, false}, {false, true}}) {
        expect_close(first_order(kJouleLinear, x, w, b, xg, wg), first_order(kTorchLinear, x, w, b, xg, wg), 1e-4,
                     what + " first order x" + std::to_string(xg) + " w" + std::to_string(wg));
      }
      expect_close(second_order(kJouleLinear, x, w, b), second_order(kTorchLinear, x, w, b), 1e-4,
                   what + " second order");
    }
  }
}

TEST(LayersTest, LinearWithoutGraphAndOtherDtypesMatchesTorch) {
  auto gen = joule::make_generator(4);
  auto x = torch::randn({7, 5}, gen), w = torch::randn({3, 5}, gen), b = torch::randn({3}, gen);
  {
    torch::NoGradGuard no_grad;
    EXPECT_TRUE(torch::allclose(joule::linear(x, w, b), at::linear(x, w, b), 1e-5, 1e-5));
  }
  auto xd = x.to(torch::kFloat64), wd = w.to(torch::kFloat64), bd = b.to(torch::kFloat64);
  EXPECT_TRUE(torch::allclose(joule::linear(xd, wd, bd), at::linear(xd, wd, bd)));
  auto x3 = torch::randn({2, 7, 5}, gen);  // batched leading dimensions defer to at::linear
  EXPECT_TRUE(torch::allclose(joule::linear(x3, w, b), at::linear(x3, w, b), 1e-5, 1e-5));
  EXPECT_THROW(joule::linear(torch::randn({7, 4}), w, b), c10::Error);
}

TEST(LayersTest, Conv2dEqualsTorchToFirstAndSecondOrder) {
  auto gen = joule::make_generator(5);
  struct Case {
    int64_t cin, cout, k, stride, padding, hw;
  };
  // 1 and 3 input channels take the im2col input gradient (stride 1 and 2); 8 defers to LibTorch.
  for (const Case& c : {Case{1, 16, 3, 1, 1, 12}, Case{3, 8, 4, 2, 1, 10}, Case{8, 6, 3, 1, 1, 9}, Case{3, 5, 1, 2, 0, 7}}) {
    for (bool bias : {true, false}) {
      auto x = torch::rand({5, c.cin, c.hw, c.hw}, gen) * 2 - 1;
      auto w = torch::randn({c.cout, c.cin, c.k, c.k}, gen) / std::sqrt(double(c.cin * c.k * c.k));
      auto b = bias ? torch::randn({c.cout}, gen) : torch::Tensor();
      const std::string what = std::to_string(c.cin) + "->" + std::to_string(c.cout) + " k" + std::to_string(c.k) +
                               " s" + std::to_string(c.stride) + (bias ? " bias" : " no bias");
      const auto mine = joule_conv(c.stride, c.padding), ref = torch_conv(c.stride, c.padding);
      for (auto [xg, wg] : {std::pair<bool, bool>{true, true}, {true, false}, {false, true}}) {
        expect_close(first_order(mine, x, w, b, xg, wg), first_order(ref, x, w, b, xg, wg), 1e-5,
                     what + " first order x" + std::to_string(xg) + " w" + std::to_string(wg));
      }
      expect_close(second_order(mine, x, w, b), second_order(ref, x, w, b), 1e-4, what + " second order");
      // Double precision runs the same custom backward: agreement to rounding.
      auto xd = x.to(torch::kFloat64), wd = w.to(torch::kFloat64);
      auto bd = bias ? b.to(torch::kFloat64) : torch::Tensor();
      expect_close(second_order(mine, xd, wd, bd), second_order(ref, xd, wd, bd), 1e-12, what + " float64");
    }
  }
}

TEST(LayersTest, Conv2dSecondOrderMatchesFiniteDifferences) {
  // An independent reference for the double-backward path: the x-gradient of
  // L(x) = ‖∂E/∂x‖², by central differences in float64.
  auto gen = joule::make_generator(6);
  auto x = torch::rand({2, 1, 6, 6}, gen).to(torch::kFloat64) * 2 - 1;
  auto w = torch::randn({4, 1, 3, 3}, gen).to(torch::kFloat64) / 3;
  auto b = torch::randn({4}, gen).to(torch::kFloat64);
  auto loss = [&](const torch::Tensor& xv, bool create) {
    auto xr = xv.detach().requires_grad_(true);
    auto e = scalar_of(joule::conv2d(xr, w, b, 1, 1));
    auto s = torch::autograd::grad({e}, {xr}, {}, true, create)[0];
    return std::make_pair(s.pow(2).sum(), xr);
  };
  auto [l, xr] = loss(x, true);
  auto g = torch::autograd::grad({l}, {xr})[0];
  const double h = 1e-6;
  auto flat = x.flatten();
  for (int64_t i : {0, 7, 20, 35, 41, 71}) {
    auto xp = flat.clone(), xm = flat.clone();
    xp[i] += h;
    xm[i] -= h;
    const double fd = (loss(xp.view_as(x), false).first.item<double>() - loss(xm.view_as(x), false).first.item<double>()) /
                      (2 * h);
    EXPECT_NEAR(g.flatten()[i].item<double>(), fd, 1e-6 * std::max(1.0, std::abs(fd))) << "element " << i;
  }
}

TEST(LayersTest, EmptyBatchesGiveEmptyOutputsAndZeroParameterGradients) {
  auto w = torch::randn({4, 6}).requires_grad_(true), b = torch::randn({4}).requires_grad_(true);
  auto x = torch::randn({0, 6}).requires_grad_(true);
  auto y = joule::linear(x, w, b);
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{0, 4}));
  auto g = torch::autograd::grad({y.sum()}, {x, w, b}, {}, {}, false, /*allow_unused=*/true);
  EXPECT_EQ(g[0].sizes(), x.sizes());
  EXPECT_EQ(g[1].abs().sum().item<double>(), 0.0);
  EXPECT_EQ(g[2].abs().sum().item<double>(), 0.0);
  auto cw = torch::randn({3, 1, 3, 3}).requires_grad_(true);
  auto cx = torch::randn({0, 1, 8, 8}).requires_grad_(true);
  auto cy = joule::conv2d(cx, cw, {}, 1, 1);
  EXPECT_EQ(cy.sizes(), (std::vector<int64_t>{0, 3, 8, 8}));
  auto cg = torch::autograd::grad({cy.sum()}, {cx, cw});
  EXPECT_EQ(cg[0].sizes(), cx.sizes());
  EXPECT_EQ(cg[1].abs().sum().item<double>(), 0.0);
}

TEST(LayersTest, Conv2dRejectsMismatchedChannels) {
  auto x = torch::randn({2, 3, 8, 8}).requires_grad_(true);
  auto w = torch::randn({4, 2, 3, 3});
  try {
    joule::conv2d(x, w, {}, 1, 1);
    FAIL() << "expected an error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("3 channels"), std::string::npos) << e.what();
  }
}

TEST(LayersTest, ConvTransposeEqualsTorchInValuesAndGradients) {
  // The stride-2, kernel-4, padding-1 path (a 3x3 convolution and a pixel shuffle) and the
  // fallback, against at::conv_transpose2d in double precision: outputs and the gradients of a
  // random projection with respect to x, weight and bias.
  auto gen = joule::make_generator(21);
  struct Case { int64_t ci, co, h, w, k, stride, padding; bool bias; };
  for (const Case c : {Case{5, 3, 4, 6, 4, 2, 1, true}, Case{1, 7, 3, 3, 4, 2, 1, false}, Case{4, 2, 5, 5, 3, 2, 1, true},
                       Case{3, 3, 4, 4, 4, 1, 0, true}}) {
    auto x = at::randn({2, c.ci, c.h, c.w}, gen, at::kDouble).requires_grad_();
    auto w = at::randn({c.ci, c.co, c.k, c.k}, gen, at::kDouble).requires_grad_();
    auto b = c.bias ? at::randn({c.co}, gen, at::kDouble).requires_grad_() : at::Tensor();
    const auto ours = joule::conv_transpose2d(x, w, b, c.stride, c.padding);
    const auto ref = at::conv_transpose2d(x, w, b, {c.stride, c.stride}, {c.padding, c.padding});
    ASSERT_EQ(ours.sizes(), ref.sizes());
    EXPECT_TRUE(at::allclose(ours, ref, 1e-10, 1e-10)) << "ci=" << c.ci << " k=" << c.k;
    const auto proj = at::randn(ref.sizes(), gen, at::kDouble);
    std::vector<at::Tensor> inputs{x, w};
    if (c.bias) inputs.push_back(b);
    const auto g1 = torch::autograd::grad({(ours * proj).sum()}, inputs);
    const auto g2 = torch::autograd::grad({(ref * proj).sum()}, inputs);
    for (size_t i = 0; i < inputs.size(); ++i) EXPECT_TRUE(at::allclose(g1[i], g2[i], 1e-10, 1e-10)) << "input " << i;
  }
  EXPECT_THROW(joule::conv_transpose2d(at::zeros({1, 3, 4, 4}), at::zeros({2, 3, 4, 4}), {}, 2, 1), c10::Error);
}

}  // namespace
