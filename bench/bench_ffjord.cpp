// One FFJORD training iteration on a 2-D toy (FFJORD's train_toy.py model: three 64-unit
// ConcatSquash layers, tanh, learnable T₀ = 0.5, exact divergence, dopri5 at 1e-5, batch 100,
// Adam lr 1e-3 with weight decay 1e-5): the loss, its gradients and the Adam step.
//
// The initial weights and the batch are written to --share (raw float32, in the order
// bench/ffjord_peer.py reads them) so that the peer starts from the same flow on the same batch
// and takes the same solver steps: the comparison is at equal NFE, which both sides report.
// Prints one JSON line per gradient mode; bench/run_ffjord.sh runs both sides.
// --trained RUN: evaluation with and without per-sample step control; --grad-variance RUN: the
// training gradient's variance under Rademacher and Gaussian Hutchinson probes.
#include <torch/torch.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include "bench/bench_util.h"
#include "joule/core/runtime.h"
#include "joule/data/toy2d.h"
#include "joule/methods/ffjord.h"
#include "joule/methods/run.h"
#include "joule/models/cnf.h"

namespace {

void write_floats(std::ofstream& out, const torch::Tensor& t) {
  auto c = t.detach().to(torch::kFloat32).contiguous();
  out.write(reinterpret_cast<const char*>(c.data_ptr<float>()), static_cast<std::streamsize>(c.numel() * sizeof(float)));
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 1, iters = 20;
  std::string dataset = "checkerboard", share, trained, from, grad_variance;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--threads") == 0) threads = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--iters") == 0) iters = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--dataset") == 0) dataset = argv[i + 1];
    if (std::strcmp(argv[i], "--share") == 0) share = argv[i + 1];
    if (std::strcmp(argv[i], "--trained") == 0) trained = argv[i + 1];
    if (std::strcmp(argv[i], "--from") == 0) from = argv[i + 1];  // start from a trained run's flow
    if (std::strcmp(argv[i], "--grad-variance") == 0) grad_variance = argv[i + 1];
  }
  if (!grad_variance.empty()) {
    // The reference's V7: the variance of the training gradient under Hutchinson's estimator with
    // Rademacher and Gaussian probes, at a trained flow on a fixed batch of 100 test points,
    // against the exact trace's gradient (which has none). --iters draws per estimator.
    joule::set_num_threads(threads);
    auto method = joule::methods::load(grad_variance);
    auto& ffjord = dynamic_cast<joule::methods::FfjordMethod&>(*method);
    auto& flow = ffjord.flow();
    const auto x = ffjord.data().test.slice(0, 0, 100);
    auto gradient = [&](joule::Divergence divergence, joule::ProbeKind probe, at::Generator& gen) {
      flow.options.divergence(divergence).probe(probe).kinetic(0).jacobian(0);
      flow.zero_grad();
      (-flow.training_terms(x, gen).log_prob.mean()).backward();
      std::vector<torch::Tensor> g;
      for (auto& p : flow.parameters()) g.push_back(p.grad().detach().flatten().clone());
      return torch::cat(g);
    };
    auto gen = joule::make_generator(11);
    const auto exact = gradient(joule::Divergence::kExact, joule::ProbeKind::kRademacher, gen);
    for (auto probe : {joule::ProbeKind::kRademacher, joule::ProbeKind::kGaussian}) {
      std::vector<torch::Tensor> draws;
      for (int i = 0; i < iters; ++i) draws.push_back(gradient(joule::Divergence::kHutchinson, probe, gen));
      auto g = torch::stack(draws);
      const double total_variance = g.var(0).sum().item<double>();
      const double bias = (g.mean(0) - exact).norm().item<double>();
      std::printf(
          "{\"run\": \"%s\", \"probe\": \"%s\", \"draws\": %d, \"total_gradient_variance\": %.6g, "
          "\"exact_gradient_norm_sq\": %.6g, \"mean_minus_exact_norm\": %.4g, \"its_standard_error\": %.4g}\n",
          grad_variance.c_str(), probe == joule::ProbeKind::kRademacher ? "rademacher" : "gaussian", iters,
          total_variance, exact.pow(2).sum().item<double>(), bias, std::sqrt(total_variance / iters));
    }
    return 0;
  }
  if (!trained.empty()) {
    // Evaluation of a trained flow: the exact test NLL and 2 000 samples, with one step size for
    // the batch (torchdiffeq's way) and with every point its own (per-sample step control).
    joule::set_num_threads(threads);
    auto method = joule::methods::load(trained);
    auto& ffjord = dynamic_cast<joule::methods::FfjordMethod&>(*method);
    auto& flow = ffjord.flow();
    const auto test = ffjord.data().test;
    torch::NoGradGuard no_grad;
    for (const bool per_sample : {false, true}) {
      flow.options.per_sample(per_sample);
      double nll = 0;
      const double s_lp = joule::bench::seconds_per_call([&] { nll = -flow.log_prob(test).mean().item<double>(); }, 2.0);
      const int64_t nfe_lp = flow.last_nfe(), rows_lp = flow.last_row_evaluations();
      auto z = torch::randn({2000, test.size(1)}, joule::make_generator(3));
      const double s_smp = joule::bench::seconds_per_call([&] { flow.inverse(z); }, 2.0);
      std::printf(
          "{\"run\": \"%s\", \"per_sample\": %s, \"threads\": %d, \"test_points\": %ld, \"nll_test\": %.5f, "
          "\"log_prob_ms\": %.1f, \"log_prob_nfe\": %ld, \"log_prob_evals_per_point\": %.2f, \"sample_ms\": %.1f, "
          "\"sample_nfe\": %ld, \"sample_evals_per_point\": %.2f}\n",
          trained.c_str(), per_sample ? "true" : "false", threads, static_cast<long>(test.size(0)), nll, 1e3 * s_lp,
          static_cast<long>(nfe_lp), static_cast<double>(rows_lp) / static_cast<double>(test.size(0)), 1e3 * s_smp,
          static_cast<long>(flow.last_nfe()), static_cast<double>(flow.last_row_evaluations()) / 2000.0);
    }
    return 0;
  }
  if (iters < 2) iters = 2;
  joule::set_num_threads(threads);
  auto batch = joule::data::sample_toy(dataset, 100, joule::make_generator(0)).to(torch::kFloat32);
  std::unique_ptr<joule::methods::Method> run;
  if (!from.empty()) {
    run = joule::methods::load(from);
    auto& f = dynamic_cast<joule::methods::FfjordMethod&>(*run);
    batch = f.data().test.slice(0, 0, 100).to(torch::kFloat32);
  }
  auto make_flow = [&] {
    joule::ContinuousFlow flow(joule::ContinuousFlowOptions(2));  // FFJORD's toy defaults
    flow->reset_parameters(joule::make_generator(1));
    if (run) {
      torch::NoGradGuard no_grad;
      auto& trained_flow = dynamic_cast<joule::methods::FfjordMethod&>(*run).flow();
      auto src = trained_flow.parameters(), dst = flow->parameters();
      for (size_t i = 0; i < src.size(); ++i) dst[i].copy_(src[i]);
    }
    return flow;
  };
  if (!share.empty()) {
    // Batch, then per layer: weight, bias, gate weight, gate bias, time bias; then s (T = s²).
    std::ofstream out(share, std::ios::binary);
    auto flow = make_flow();
    write_floats(out, batch);
    for (auto& p : flow->nets[0]->parameters()) write_floats(out, p);
    write_floats(out, flow->sqrt_end_times[0]);
  }
  for (const bool adjoint : {false, true}) {
    auto flow = make_flow();
    flow->options.adjoint(adjoint);
    torch::optim::Adam opt(flow->parameters(), torch::optim::AdamOptions(1e-3).weight_decay(1e-5));
    auto gen = joule::make_generator(2);
    int64_t nfe_f = 0, nfe_b = 0;
    auto iteration = [&] {
      opt.zero_grad();
      auto terms = flow->training_terms(batch, gen);
      auto loss = -terms.log_prob.mean();
      loss.backward();
      opt.step();
      nfe_f += flow->last_nfe();
      nfe_b += flow->last_backward_nfe();
      return loss.item<double>();
    };
    // The timed iterations follow the same trajectory as the peer's (same start, same batch).
    std::vector<double> times;
    double first_loss = 0, last_loss = 0;
    for (int i = 0; i < iters; ++i) {
      const auto t0 = joule::bench::Clock::now();
      const double l = iteration();
      times.push_back(joule::bench::since(t0));
      if (i == 0) first_loss = l;
      last_loss = l;
    }
    double total = 0;  // the first iteration is a warm-up on both sides
    for (size_t i = 1; i < times.size(); ++i) total += times[i];
    std::printf(
        "{\"impl\": \"joule\", \"gradient\": \"%s\", \"threads\": %d, \"iters\": %d, \"ms_per_iter\": %.3f, "
        "\"nfe_forward\": %ld, \"nfe_backward\": %ld, \"first_loss\": %.6f, \"last_loss\": %.6f}\n",
        adjoint ? "adjoint" : "backprop", threads, iters, 1e3 * total / (iters - 1), static_cast<long>(nfe_f),
        static_cast<long>(nfe_b), first_loss, last_loss);
  }
  return 0;
}
