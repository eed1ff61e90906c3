// PGD throughput (Madry et al., arXiv:1706.06083 §2) through the library's real path:
// joule::eval::pgd_attack on joule::ClassifierEnergy(joule::SmallCnn), and the same attack on
// the SGLD refinement defence (JEM, arXiv:1912.03263 §5.3) with the gradient taken through the
// refinement (Athalye et al., arXiv:1802.00420).
//   - network: SmallCnn as configs/jem_fashion_cnn.toml (1×28×28, 10 classes, channels 16,
//     leaky_relu 0.2, no norm, no dropout), PyTorch's default init drawn from a generator seeded
//     0, parameters frozen, eval mode;
//   - data: 256 inputs U(-1, 1) drawn from the same generator after the weights; the labels are
//     the network's own predictions, so every input starts correctly classified;
//   - attacks (cross-entropy, one restart, batch_size = the batch, random start from a generator
//     seeded 1 per repetition): L∞ PGD-20 at ε = 0.1, L2 PGD-20 at ε = 1.0, and with --defence 1
//     an L∞ PGD-5 at ε = 0.1 on SgldDefence(steps 5, chains 2, gradient through; its noise from
//     a generator seeded 2 per repetition).
// pgd_attack stops attacking an input once it is fooled, so the work depends on how fast the
// inputs fall; the JSON reports the rows sent through the classifier (all, and with a graph) and
// the fooled count, and bench/attack_peer.py (the same attacks in Python PyTorch, same weights,
// inputs and random starts) reports the same numbers: equal counts mean equal work.
// bench/run_attack.sh runs both.
//
// Usage: bench_attack [--threads N] [--reps R] [--warmup W] [--batch B] [--channels C]
//                     [--steps K] [--eps-linf E] [--eps-l2 E] [--defence 0|1]
//                     [--defence-steps K] [--defence-chains M] [--defence-attack-steps K]
// Prints one JSON object: per attack, images/s from the median of R timed calls (after W
// warm-up calls), median/min seconds, fooled count, robust accuracy and the row counts.
#include <ATen/core/grad_mode.h>
#include <torch/types.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bench/bench_util.h"
#include "joule/core/runtime.h"
#include "joule/eval/adversarial.h"
#include "joule/models/activation.h"
#include "joule/models/classifier_energy.h"
#include "joule/models/classifiers.h"

namespace {

using joule::bench::Clock;
using joule::bench::median;
using joule::bench::since;

/// Rows the attack sends through the classifier: all, and those with a graph to the input.
struct RowCount {
  int64_t rows = 0, grad_rows = 0;
};

joule::eval::LogitsFn counted(joule::eval::LogitsFn f, RowCount& count) {
  return [f = std::move(f), &count](const at::Tensor& x) {
    count.rows += x.size(0);
    if (x.requires_grad() && at::GradMode::is_enabled()) count.grad_rows += x.size(0);
    return f(x);
  };
}

struct AttackTiming {
  std::vector<double> seconds;
  int64_t fooled = 0;
  double robust_acc = 0.0;
  RowCount count;
};

std::string json_fields(const std::string& name, const AttackTiming& t, int64_t batch) {
  const double med = median(t.seconds);
  char buf[512];
  std::snprintf(buf, sizeof(buf),
                ", \"%s_ips\": %.2f, \"%s_s_median\": %.5f, \"%s_s_min\": %.5f, \"%s_fooled\": %lld, "
                "\"%s_robust_acc\": %.5f, \"%s_rows\": %lld, \"%s_grad_rows\": %lld",
                name.c_str(), double(batch) / med, name.c_str(), med, name.c_str(),
                *std::min_element(t.seconds.begin(), t.seconds.end()), name.c_str(), static_cast<long long>(t.fooled),
                name.c_str(), t.robust_acc, name.c_str(), static_cast<long long>(t.count.rows), name.c_str(),
                static_cast<long long>(t.count.grad_rows));
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 1, reps = 5, warmup = 1, defence = 0;
  int64_t batch = 256, channels = 16, steps = 20, def_steps = 5, def_chains = 2, def_attack_steps = 5;
  double eps_linf = 0.1, eps_l2 = 1.0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--threads") threads = std::atoi(argv[i + 1]);
    else if (a == "--reps") reps = std::atoi(argv[i + 1]);
    else if (a == "--warmup") warmup = std::atoi(argv[i + 1]);
    else if (a == "--batch") batch = std::atoll(argv[i + 1]);
    else if (a == "--channels") channels = std::atoll(argv[i + 1]);
    else if (a == "--steps") steps = std::atoll(argv[i + 1]);
    else if (a == "--eps-linf") eps_linf = std::atof(argv[i + 1]);
    else if (a == "--eps-l2") eps_l2 = std::atof(argv[i + 1]);
    else if (a == "--defence") defence = std::atoi(argv[i + 1]);
    else if (a == "--defence-steps") def_steps = std::atoll(argv[i + 1]);
    else if (a == "--defence-chains") def_chains = std::atoll(argv[i + 1]);
    else if (a == "--defence-attack-steps") def_attack_steps = std::atoll(argv[i + 1]);
    else {
      std::fprintf(stderr, "unknown argument %s\n", argv[i]);
      return 2;
    }
  }
  if (argc % 2 == 0) {
    std::fprintf(stderr, "argument %s needs a value\n", argv[argc - 1]);
    return 2;
  }
  if (reps < 1 || warmup < 0 || batch < 1 || channels < 1 || steps < 1 || def_steps < 0 || def_chains < 1 ||
      def_attack_steps < 1) {
    std::fprintf(stderr, "need --reps >= 1, --warmup >= 0, --batch, --channels, --steps, --defence-chains, "
                         "--defence-attack-steps >= 1 and --defence-steps >= 0\n");
    return 2;
  }
  joule::keep_freed_memory();
  joule::set_num_threads(threads);

  // The weights, then the inputs, from one generator: bench/attack_peer.py draws the same numbers.
  auto gen = joule::make_generator(0);
  auto net = joule::SmallCnn(joule::SmallCnnOptions(1, 10)
                                 .channels(channels)
                                 .image_size({28, 28})
                                 .activation(joule::Activation::kLeakyReLU)
                                 .negative_slope(0.2));
  net->reset_parameters(gen);
  auto model = joule::ClassifierEnergy(net, std::vector<int64_t>{1, 28, 28}, 10);
  model->eval();
  for (auto& p : model->parameters()) p.set_requires_grad(false);
  const auto x = torch::empty({batch, 1, 28, 28}).uniform_(-1.0, 1.0, gen);
  at::Tensor y;
  double logit_sum = 0.0;
  {
    torch::NoGradGuard no_grad;
    const auto clean = model->logits(x);
    y = clean.argmax(1);
    logit_sum = clean.to(at::kDouble).sum().item<double>();
  }

  using joule::eval::AttackNorm;
  using joule::eval::AttackOptions;
  // make_f is called once per repetition (a fresh defence, so every repetition draws the same noise).
  auto bench = [&](const std::function<joule::eval::LogitsFn()>& make_f, const AttackOptions& options) {
    AttackTiming t;
    for (int i = 0; i < warmup + reps; ++i) {
      RowCount count;
      const auto f = counted(make_f(), count);
      auto g = joule::make_generator(1);
      const auto t0 = Clock::now();
      const auto r = joule::eval::pgd_attack(f, x, y, options, g);
      const double dt = since(t0);
      if (i >= warmup) t.seconds.push_back(dt);
      t.fooled = r.fooled.sum().item<int64_t>();
      t.robust_acc = r.correct.to(at::kDouble).mean().item<double>();
      t.count = count;
    }
    return t;
  };
  auto plain = [&]() -> joule::eval::LogitsFn { return [&](const at::Tensor& xi) { return model->logits(xi); }; };
  const auto linf = bench(plain, AttackOptions::pgd(AttackNorm::kLinf, eps_linf, steps).batch_size(batch));
  const auto l2 = bench(plain, AttackOptions::pgd(AttackNorm::kL2, eps_l2, steps).batch_size(batch));
  std::string def_fields;
  if (defence) {
    std::unique_ptr<joule::eval::SgldDefence> sgld;
    auto defended = [&]() -> joule::eval::LogitsFn {
      sgld = std::make_unique<joule::eval::SgldDefence>(
          *model,
          joule::eval::SgldDefenceOptions().steps(def_steps).chains(def_chains).gradient(
              joule::eval::RefinementGradient::kThrough),
          joule::make_generator(2));
      return sgld->as_logits_fn();
    };
    const auto options = AttackOptions::pgd(AttackNorm::kLinf, eps_linf, def_attack_steps).batch_size(batch);
    def_fields = json_fields("def", bench(defended, options), batch);
  }
  std::printf(
      "{\"impl\": \"joule\", \"torch\": \"libtorch\", \"net\": \"small_cnn%lld\", \"threads\": %d, \"batch\": %lld, "
      "\"reps\": %d, \"logit_sum\": %.6f%s%s%s}\n",
      static_cast<long long>(channels), threads, static_cast<long long>(batch), reps, logit_sum,
      json_fields("linf", linf, batch).c_str(), json_fields("l2", l2, batch).c_str(), def_fields.c_str());
  return 0;
}
