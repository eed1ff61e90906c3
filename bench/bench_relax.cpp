// The gradient estimators for discrete choices (joule::estimators), two ways:
//
//   bench_relax --study OUT [--seeds S] [--steps N]
//     The RELAX toy (arXiv:1711.00123 §5.1) for t = 0.45 and 0.499 with REINFORCE, REBAR and
//     RELAX, S seeds each, through the library's RelaxToyMethod: θ and the running log-variance
//     of the gradient every 10 steps into OUT/relax_toy.json, one PNG per t
//     (OUT/relax_toy_t<t>.png), and each estimator's per-sample variance at θ = ½ (initial
//     surrogate, 200,000 draws) beside REINFORCE's closed form (0.01594 / 0.015625).
//
//   bench_relax --curves OUT.png NAME=RUN_DIR ...
//     The validation ELBO (elbo_valid) of several discrete_vae runs against the step, one curve
//     per run, into one picture (docs/methods/relax.md's comparison).
//
//   bench_relax --time [--task vae|toy] [--batch B] [--threads T] [--reps R] [--warmup W]
//     One estimator step. vae: a discrete-VAE-sized problem, logits [B, 200] (B rows of 200
//     Bernoullis), f(b) = ‖b W − x‖² per row with W [200, 784] fixed; toy: the RELAX toy, B rows
//     of one Bernoulli, f = (b − 0.45)², RELAX with toy.py's 10-unit Q. The estimate and, where
//     there is a surrogate, the variance loss's gradient for φ (REBAR: η, λ; RELAX: REBAR's term
//     plus a 200-200-200-1 tanh network, the paper's VAE surrogate). One JSON line per estimator,
//     as bench/relax_peer.py prints for the same step in Python PyTorch. vae-step: one training
//     step of the discrete_vae preset (Fashion-MNIST, linear, RELAX) through the trainer, against
//     bench/relax_vae_peer.py.
#include <torch/autograd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "joule/core/runtime.h"
#include "joule/estimators/discrete.h"
#include "joule/io/plot.h"
#include "joule/io/png.h"
#include "joule/methods/discrete_vae.h"
#include "joule/methods/relax_toy.h"
#include "joule/train/callbacks.h"

namespace est = joule::estimators;

namespace {

struct Curve {
  std::vector<double> step, theta, log_var;
};

int study(const std::string& out, int seeds, int steps) {
  std::ofstream json(out + "/relax_toy.json");
  if (!json) {
    std::fprintf(stderr, "cannot write %s/relax_toy.json (does the folder exist?)\n", out.c_str());
    return 1;
  }
  const std::vector<std::string> kinds{"reinforce", "rebar", "relax"};
  json << "{\"steps\": " << steps << ", \"seeds\": " << seeds << ", \"runs\": [";
  bool first = true;
  for (double t : {0.45, 0.499}) {
    std::vector<joule::io::Series> theta_series, var_series;
    for (size_t k = 0; k < kinds.size(); ++k) {
      for (int s = 0; s < seeds; ++s) {
        joule::methods::RelaxToyConfig cfg;
        cfg.toy.target = t;
        cfg.estimator.kind = kinds[k];
        cfg.run.seed = s;
        cfg.train.steps = steps;
        joule::methods::RelaxToyMethod method(cfg);
        method.build();
        Curve c;
        for (int i = 0; i < steps; ++i) {
          const auto r = method.trainer().step();
          if ((i + 1) % 10 != 0) continue;
          std::map<std::string, double> m(r.metrics.begin(), r.metrics.end());
          c.step.push_back(i + 1);
          c.theta.push_back(m["theta"]);
          c.log_var.push_back(m.count("log_var") ? m["log_var"] : NAN);
        }
        json << (first ? "" : ",") << "\n  {\"target\": " << t << ", \"estimator\": \"" << kinds[k]
             << "\", \"seed\": " << s << ", \"final_theta\": " << c.theta.back()
             << ", \"final_loss_exact\": " << method.exact_loss() << ", \"step\": [";
        first = false;
        for (size_t i = 0; i < c.step.size(); ++i) json << (i ? "," : "") << c.step[i];
        json << "], \"theta\": [";
        for (size_t i = 0; i < c.theta.size(); ++i) json << (i ? "," : "") << c.theta[i];
        json << "], \"log_var\": [";
        for (size_t i = 0; i < c.log_var.size(); ++i)
          json << (i ? "," : "") << (std::isfinite(c.log_var[i]) ? std::to_string(c.log_var[i]) : "null");
        json << "]}";
        std::printf("t=%.3f %-9s seed %d: theta %.4f -> loss %.6f (optimum %.6f), log-var at the end %.2f\n", t,
                    kinds[k].c_str(), s, c.theta.back(), method.exact_loss(), method.optimal_loss(), c.log_var.back());
        std::fflush(stdout);
        joule::io::Series th{kinds[k] + (s == 0 ? "" : " "), c.step, c.theta, joule::io::palette(k), s > 0};
        joule::io::Series lv{kinds[k] + (s == 0 ? "" : " "), c.step, c.log_var, joule::io::palette(k), s > 0};
        if (s > 0) th.name = lv.name = "";
        theta_series.push_back(th);
        var_series.push_back(lv);
      }
    }
    char name[64];
    std::snprintf(name, sizeof name, "%s/relax_toy_t%g.png", out.c_str(), t);
    char title[64];
    std::snprintf(title, sizeof title, "theta, t = %g", t);
    joule::io::write_png(name, joule::io::hstack({joule::io::line_plot(theta_series, title, "step", "theta"),
                                                  joule::io::line_plot(var_series, "gradient log-variance", "step",
                                                                       "log var")}));
  }
  json << "\n], \"variance_at_half\": [";
  // Per-sample variance of each estimator at θ = ½ (α = 0) with its initial surrogate.
  first = true;
  for (double t : {0.45, 0.499}) {
    auto f = [t](const at::Tensor& b) { return (b - t).pow(2).mean(1); };
    for (const auto& kind : kinds) {
      est::ControlVariate cv(nullptr);
      if (kind != "reinforce") {
        cv = est::ControlVariate(est::ControlVariateOptions(1).kind(kind == "rebar" ? est::SurrogateKind::kRebar
                                                                                    : est::SurrogateKind::kNeural));
        cv->reset_parameters(joule::make_generator(3));
        cv->to(at::kDouble);
      }
      est::DiscreteGradientEstimator e(est::DiscreteEstimatorOptions().kind(est::parse_estimator_kind(kind)), cv);
      auto gen = joule::make_generator(1);
      const auto g = e.estimate(at::zeros({200000, 1}, at::kDouble), f, gen).grad_logits.detach();
      const double var = g.var().item<double>();
      std::printf("t=%.3f %-9s per-sample variance at theta = 1/2: %.6g (mean %.6g; exact mean %.6g)\n", t,
                  kind.c_str(), var, g.mean().item<double>(), 0.25 * (1 - 2 * t));
      json << (first ? "" : ",") << "\n  {\"target\": " << t << ", \"estimator\": \"" << kind
           << "\", \"variance\": " << var << ", \"mean\": " << g.mean().item<double>() << "}";
      first = false;
    }
  }
  json << "\n]}\n";
  return 0;
}

int time_step(const std::string& task, int64_t batch, int threads, int reps, int warmup) {
  joule::set_num_threads(threads);
  const bool toy = task == "toy";
  const int64_t latent = toy ? 1 : 200, pixels = 784;
  auto gen = joule::make_generator(0);
  const auto w = at::randn({latent, pixels}, gen) / std::sqrt(double(latent));
  const auto x = at::rand({batch, pixels}, gen);
  const auto logits = at::randn({batch, latent}, gen);
  est::BatchFunction f = [&](const at::Tensor& b) { return (b.mm(w) - x).pow(2).sum(1); };
  if (toy) f = [](const at::Tensor& b) { return (b - 0.45).pow(2).mean(1); };
  for (const std::string kind : {"reinforce", "rebar", "relax"}) {
    est::ControlVariate cv(nullptr);
    if (kind == "rebar") cv = est::ControlVariate(est::ControlVariateOptions(latent).kind(est::SurrogateKind::kRebar));
    if (kind == "relax") {
      // The toy: toy.py's Q (10 tanh units); the VAE: REBAR's term plus a 200-200 tanh network.
      cv = toy ? est::ControlVariate(est::ControlVariateOptions(latent).kind(est::SurrogateKind::kNeural).width(10))
               : est::ControlVariate(
                     est::ControlVariateOptions(latent).kind(est::SurrogateKind::kRebarNeural).width(200).depth(2));
    }
    est::DiscreteGradientEstimator e(est::DiscreteEstimatorOptions().kind(est::parse_estimator_kind(kind)), cv);
    std::vector<at::Tensor> params;
    if (!cv.is_empty()) params = cv->parameters();
    std::vector<double> times;
    double checksum = 0;
    for (int i = 0; i < warmup + reps; ++i) {
      const auto t0 = joule::bench::Clock::now();
      auto g = e.estimate(logits, f, gen);
      if (g.variance_loss.defined()) {
        auto grads = torch::autograd::grad({g.variance_loss}, params);
        checksum += grads[0].sum().item<double>();
      }
      checksum += g.grad_logits.sum().item<double>();
      const double dt = joule::bench::since(t0);
      if (i >= warmup) times.push_back(dt);
    }
    std::printf(
        "{\"impl\": \"joule\", \"task\": \"%s/%s\", \"threads\": %d, \"batch\": %lld, \"reps\": %d, \"step_s_median\": "
        "%.6f, \"step_s_min\": %.6f, \"checksum_finite\": %s}\n",
        task.c_str(), kind.c_str(), threads, static_cast<long long>(batch), reps, joule::bench::median(times),
        *std::min_element(times.begin(), times.end()), std::isfinite(checksum) ? "true" : "false");
    std::fflush(stdout);
  }
  return 0;
}

// One training step of the discrete_vae preset (linear, RELAX with REBAR's term plus a network,
// common random numbers, batch 24, two Adams) through the library's trainer.
int time_vae_step(int threads, int reps, int warmup) {
  joule::set_num_threads(threads);
  joule::methods::DiscreteVaeConfig cfg;
  cfg.data.n_train = 2000;
  joule::methods::DiscreteVaeMethod method(cfg);
  method.build();
  auto& trainer = method.trainer();
  std::vector<double> times;
  for (int i = 0; i < warmup + reps; ++i) {
    const auto t0 = joule::bench::Clock::now();
    trainer.step();
    const double dt = joule::bench::since(t0);
    if (i >= warmup) times.push_back(dt);
  }
  std::printf(
      "{\"impl\": \"joule\", \"task\": \"vae-step/relax\", \"threads\": %d, \"batch\": 24, \"reps\": %d, "
      "\"step_s_median\": %.6f, \"step_s_min\": %.6f, \"checksum_finite\": true}\n",
      threads, reps, joule::bench::median(times), *std::min_element(times.begin(), times.end()));
  return 0;
}

int curves(const std::string& png, const std::vector<std::string>& runs) {
  std::vector<joule::io::Series> series;
  for (size_t i = 0; i < runs.size(); ++i) {
    const auto eq = runs[i].find('=');
    if (eq == std::string::npos) {
      std::fprintf(stderr, "expected NAME=RUN_DIR, got %s\n", runs[i].c_str());
      return 2;
    }
    joule::io::Series s{runs[i].substr(0, eq), {}, {}, joule::io::palette(static_cast<int64_t>(i)), false};
    for (const auto& row : joule::train::MetricsLogger::read(runs[i].substr(eq + 1) + "/metrics.jsonl")) {
      for (const auto& kv : row.values) {
        if (kv.first != "elbo_valid") continue;
        s.x.push_back(static_cast<double>(row.step));
        s.y.push_back(kv.second);
      }
    }
    series.push_back(s);
  }
  joule::io::write_png(png, joule::io::line_plot(series, "validation ELBO", "step", "nats per image", 700, 450));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 3 && std::string(argv[1]) == "--curves") {
    return curves(argv[2], std::vector<std::string>(argv + 3, argv + argc));
  }
  std::string out, task = "vae";
  bool time = false;
  int64_t batch = 64;
  int seeds = 3, steps = 5000, threads = 1, reps = 50, warmup = 5;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--study" && has_value) out = argv[++i];
    else if (a == "--time") time = true;
    else if (a == "--task" && has_value) task = argv[++i];
    else if (a == "--batch" && has_value) batch = std::atoll(argv[++i]);
    else if (a == "--seeds" && has_value) seeds = std::atoi(argv[++i]);
    else if (a == "--steps" && has_value) steps = std::atoi(argv[++i]);
    else if (a == "--threads" && has_value) threads = std::atoi(argv[++i]);
    else if (a == "--reps" && has_value) reps = std::atoi(argv[++i]);
    else if (a == "--warmup" && has_value) warmup = std::atoi(argv[++i]);
    else {
      std::fprintf(stderr, "unknown argument %s\nusage: bench_relax --study OUT [--seeds S] [--steps N] | --time "
                           "[--threads T] [--reps R] [--warmup W]\n", a.c_str());
      return 2;
    }
  }
  if (time) {
    if (task == "vae-step") return time_vae_step(threads, reps, warmup);
    if (task != "toy" && task != "vae") {
      std::fprintf(stderr, "unknown --task %s (toy, vae, vae-step)\n", task.c_str());
      return 2;
    }
    return time_step(task, batch, threads, reps, warmup);
  }
  if (!out.empty()) {
    joule::set_num_threads(1);
    return study(out, seeds, steps);
  }
  std::fprintf(stderr, "usage: bench_relax --study OUT [--seeds S] [--steps N] | --time [--threads T]\n");
  return 2;
}
