// RBM training speed, two measurements:
//
//  --mode sklearn   A Bernoulli RBM trained like scikit-learn's BernoulliRBM (PCD-1 / SML with
//                   one persistent chain per batch row whose hidden sample persists between
//                   updates (--persistent-hidden 1, the default; 0 = Joule's default PCD, a full
//                   sweep per update), plain SGD on the mean gradient, weights
//                   N(0, 0.01²), zero biases) on binarised Fashion-MNIST, through the library's
//                   real path (joule::train::Trainer + joule::RbmGradient). Prints seconds per
//                   epoch and the final test pseudo-log-likelihood (sklearn's one-flip estimate,
//                   and the exact all-flips value on the first --pll-exact-n test images).
//                   bench/rbm_sklearn_peer.py is the peer; bench/run_rbm.sh runs both.
//  --mode throughput CD-1 and PCD-1 updates (samples/s) of a V×H RBM (default 784×500) against
//                   the sgemm ceiling measured in the same run (best of OpenBLAS and oneDNN at
//                   the update's shapes and layouts): one update costs 5 matrix
//                   products of B×V×H multiply-adds (data logits, h→v, negative logits, and the
//                   two outer products of the weight gradient), so the ceiling is
//                   sgemm_flops / (10·V·H) samples/s.
//
// Usage: bench_rbm --mode sklearn [--hidden 256] [--batch 10] [--lr 0.1] [--epochs 5]
//                  [--threads N] [--n-train 60000] [--data DIR] [--seed S] [--pll-exact-n 2000]
//                  [--persistent-hidden 1]
//        bench_rbm --mode throughput [--visible 784] [--hidden 500] [--batch 100]
//                  [--threads N] [--reps R]
// Prints one JSON object per line.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "joule/core/gemm.h"
#include "joule/core/runtime.h"
#include "joule/data/idx.h"
#include "joule/data/image_transforms.h"
#include "joule/eval/pseudo_likelihood.h"
#include "joule/models/rbm.h"
#include "joule/objectives/rbm_gradient.h"
#include "joule/train/trainer.h"

namespace {

using joule::bench::Clock;
using joule::bench::since;

using joule::bench::median;

struct Args {
  std::string mode = "sklearn", data = joule::data::kFashionMnistDir;
  int threads = 1, reps = 20;
  int64_t visible = 784, hidden = 256, batch = 10, epochs = 5, n_train = 60000, pll_exact_n = 2000;
  double lr = 0.1;
  uint64_t seed = 0;
  bool persistent_hidden = true;  // sklearn's SML; 0 = a full sweep from the chains per update
};

torch::Tensor load_binarised(const std::string& dir, const std::string& split, int64_t n) {
  auto s = joule::data::load_mnist_split(dir, split);
  auto x = joule::data::binarize_threshold(s.images.reshape({s.images.size(0), -1}), 0.5);
  return n > 0 && n < x.size(0) ? x.slice(0, 0, n).contiguous() : x;
}

int run_sklearn_mode(const Args& a) {
  auto train_x = load_binarised(a.data, "train", a.n_train);
  auto test_x = load_binarised(a.data, "t10k", 0);
  auto gen = joule::make_generator(a.seed);
  auto rbm = joule::Rbm(joule::RbmOptions(train_x.size(1), a.hidden).init_std(0.01));
  rbm->reset_parameters(gen);
  auto objective = std::make_shared<joule::RbmGradient>(
      joule::RbmGradientOptions().kind(joule::RbmGradientKind::kPCD).k(1).persistent_hidden(a.persistent_hidden));
  auto data = std::make_shared<joule::data::TensorDataset>(train_x);
  const int64_t steps_per_epoch = train_x.size(0) / a.batch;
  joule::train::Trainer trainer(rbm.ptr(), objective, data,
                                joule::train::TrainerOptions().steps(steps_per_epoch * a.epochs).batch_size(a.batch).seed(a.seed),
                                joule::train::OptimizerOptions().kind(joule::train::OptimizerKind::kSGD).lr(a.lr));
  auto pll_gen = joule::make_generator(a.seed + 1);
  const double pll0 = joule::eval::pseudo_log_likelihood(*rbm, test_x, pll_gen).mean().item<double>();
  std::vector<double> epoch_s;
  for (int64_t e = 0; e < a.epochs; ++e) {
    trainer.set_total_steps(steps_per_epoch * (e + 1));
    const auto t0 = Clock::now();
    trainer.train();
    epoch_s.push_back(since(t0));
  }
  const double pll = joule::eval::pseudo_log_likelihood(*rbm, test_x, pll_gen).mean().item<double>();
  const int64_t n_exact = std::min<int64_t>(a.pll_exact_n, test_x.size(0));
  const double pll_exact =
      joule::eval::pseudo_log_likelihood_exact(*rbm, test_x.slice(0, 0, n_exact)).mean().item<double>();
  const double recon = joule::eval::reconstruction_error(*rbm, test_x);
  std::printf(
      "{\"impl\": \"joule\", \"mode\": \"sklearn\", \"seed\": %llu, \"persistent_hidden\": %d, \"threads\": %d, \"hidden\": %lld, \"batch\": %lld, \"lr\": %g, "
      "\"epochs\": %lld, \"n_train\": %lld, \"sec_per_epoch_median\": %.4f, \"sec_per_epoch_min\": %.4f, "
      "\"test_pll_initial\": %.4f, \"test_pll\": %.4f, \"test_pll_exact\": %.4f, \"pll_exact_n\": %lld, "
      "\"test_recon_mse\": %.5f}\n",
      (unsigned long long)a.seed, int(a.persistent_hidden), a.threads, (long long)a.hidden, (long long)a.batch, a.lr,
      (long long)a.epochs, (long long)train_x.size(0),
      median(epoch_s), *std::min_element(epoch_s.begin(), epoch_s.end()), pll0, pll, pll_exact, (long long)n_exact,
      recon);
  return 0;
}

// Best sgemm GFLOP/s of OpenBLAS (LibTorch's mm) and oneDNN (joule::gemm) for op(a)·op(b) with
// op(a) [m, k], op(b) [k, n], stored the way the RBM update stores them.
double sgemm_gflops(int64_t m, int64_t k, int64_t n, bool trans_a, bool trans_b, int reps) {
  auto gen = joule::make_generator(1);
  auto a = trans_a ? torch::rand({k, m}, gen) : torch::rand({m, k}, gen);
  auto b = trans_b ? torch::rand({n, k}, gen) : torch::rand({k, n}, gen);
  auto c = torch::empty({m, n});
  auto opa = trans_a ? a.t() : a, opb = trans_b ? b.t() : b;
  double best = 1e30;
  for (int backend = 0; backend < 2; ++backend) {
    auto product = [&] {
      if (backend == 0) at::mm_out(c, opa, opb);
      else joule::gemm(a, trans_a, b, trans_b, c);
    };
    for (int i = 0; i < 3; ++i) product();
    for (int r = 0; r < reps; ++r) {
      const auto t0 = Clock::now();
      for (int i = 0; i < 10; ++i) product();
      best = std::min(best, since(t0) / 10);
    }
  }
  return 2.0 * double(m) * double(k) * double(n) / best / 1e9;
}

int run_throughput_mode(const Args& a) {
  auto gen = joule::make_generator(a.seed);
  // Binary data with realistic sparsity (Fashion-MNIST pixels are on ~50% after binarisation;
  // speed does not depend on the values).
  auto x = torch::bernoulli(torch::full({8192, a.visible}, 0.4), gen);
  // The sgemm ceiling for the shapes one update uses: B×V·V×H (logits) and B×H·H×V (h→v).
  // W is stored [H, V]: logits ṽ·Wᵀ, h→v h·W, gradient pᵀ·ṽ.
  const double g1 = sgemm_gflops(a.batch, a.visible, a.hidden, false, true, a.reps);
  const double g2 = sgemm_gflops(a.batch, a.hidden, a.visible, false, false, a.reps);
  const double g3 = sgemm_gflops(a.hidden, a.batch, a.visible, true, false, a.reps);  // gradient outer products
  const double gflops = 3.0 / (1.0 / g1 + 1.0 / g2 + 1.0 / g3);        // harmonic mean of the mix
  const double ceiling = gflops * 1e9 / (10.0 * double(a.visible) * double(a.hidden));
  for (auto kind : {joule::RbmGradientKind::kCD, joule::RbmGradientKind::kPCD}) {
    auto rbm = joule::Rbm(joule::RbmOptions(a.visible, a.hidden));
    rbm->reset_parameters(gen);
    auto objective = std::make_shared<joule::RbmGradient>(joule::RbmGradientOptions().kind(kind).k(1));
    auto data = std::make_shared<joule::data::TensorDataset>(x);
    const int64_t warm = 20, steps = std::max<int64_t>(50, 20000 / a.batch);
    joule::train::Trainer trainer(rbm.ptr(), objective, data,
                                  joule::train::TrainerOptions().steps(warm).batch_size(a.batch).seed(a.seed),
                                  joule::train::OptimizerOptions().kind(joule::train::OptimizerKind::kSGD).lr(0.01));
    trainer.train();
    std::vector<double> t;
    for (int r = 0; r < 3; ++r) {
      const auto t0 = Clock::now();
      for (int64_t s = 0; s < steps; ++s) trainer.step();
      t.push_back(since(t0) / double(steps));
    }
    const double sec = *std::min_element(t.begin(), t.end());
    const double sps = double(a.batch) / sec;
    std::printf(
        "{\"impl\": \"joule\", \"mode\": \"throughput\", \"method\": \"%s-1\", \"threads\": %d, \"visible\": %lld, "
        "\"hidden\": %lld, \"batch\": %lld, \"sec_per_update\": %.6f, \"samples_per_s\": %.0f, "
        "\"sgemm_gflops\": %.2f, \"ceiling_samples_per_s\": %.0f, \"fraction_of_ceiling\": %.3f}\n",
        joule::to_string(kind).c_str(), a.threads, (long long)a.visible, (long long)a.hidden, (long long)a.batch, sec,
        sps, gflops, ceiling, sps / ceiling);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--mode") a.mode = v;
    else if (k == "--threads") a.threads = std::atoi(v.c_str());
    else if (k == "--reps") a.reps = std::atoi(v.c_str());
    else if (k == "--visible") a.visible = std::atoll(v.c_str());
    else if (k == "--hidden") a.hidden = std::atoll(v.c_str());
    else if (k == "--batch") a.batch = std::atoll(v.c_str());
    else if (k == "--epochs") a.epochs = std::atoll(v.c_str());
    else if (k == "--n-train") a.n_train = std::atoll(v.c_str());
    else if (k == "--pll-exact-n") a.pll_exact_n = std::atoll(v.c_str());
    else if (k == "--persistent-hidden") a.persistent_hidden = std::atoi(v.c_str()) != 0;
    else if (k == "--lr") a.lr = std::atof(v.c_str());
    else if (k == "--data") a.data = v;
    else if (k == "--seed") a.seed = std::strtoull(v.c_str(), nullptr, 10);
    else {
      std::fprintf(stderr, "unknown argument %s\n", k.c_str());
      return 2;
    }
  }
  joule::keep_freed_memory();
  joule::set_num_threads(a.threads);
  if (a.mode == "sklearn") return run_sklearn_mode(a);
  if (a.mode == "throughput") return run_throughput_mode(a);
  std::fprintf(stderr, "unknown --mode %s (sklearn, throughput)\n", a.mode.c_str());
  return 2;
}
