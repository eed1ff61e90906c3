// One VERA iteration (arXiv:2010.04230 §3; `VERA:train.py`): an EBM step against generator
// samples (with the γ = 0.1 gradient penalty, a double backward), the proposal width's ELBO step
// and the generator step with K = 20 importance samples — timed through the library's real path
// (joule::methods::VeraMethod, its Trainer::step). bench/vera_peer.py is the same iteration in
// Python PyTorch; bench/run_vera.sh runs both and prints the ratio.
//
//   toy:     8gaussians, EBM 2-100-100-1, generator 2-100-100-2 (BatchNorm), batch 200
//   fashion: VERA-JEM on Fashion-MNIST: SmallCnn(16) classifier as the EBM (+ cross-entropy),
//            the DCGAN-style generator (c = 32, noise 64, tanh), batch 64
//   fashion-mlp: the same with VERA's large_mlp_generator (noise 128 → 500 → 500 → 500 → 784, tanh)
//
// Usage: bench_vera [--task toy|fashion|fashion-mlp] [--threads N] [--reps R] [--warmup W]
// Prints one JSON object: per-step median and min seconds.
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "joule/core/runtime.h"
#include "joule/methods/vera.h"

int main(int argc, char** argv) {
  std::string task = "toy";
  int threads = 1, reps = 100, warmup = 10;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--task") task = argv[i + 1];
    else if (a == "--threads") threads = std::atoi(argv[i + 1]);
    else if (a == "--reps") reps = std::atoi(argv[i + 1]);
    else if (a == "--warmup") warmup = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "unknown argument %s\n", argv[i]);
      return 2;
    }
  }
  joule::keep_freed_memory();
  joule::set_num_threads(threads);
  std::string toml = "method = \"vera\"\n[train]\nsteps = 1000000\n";
  int64_t batch = 200;
  if (task == "toy") {
    toml += "[data]\ndataset = \"8gaussians\"\nn_train = 4000\nn_test = 500\n";
  } else if (task == "fashion") {
    batch = 64;
    toml +=
        "batch_size = 64\n[data]\ndataset = \"fashion-mnist\"\nn_train = 2048\nn_test = 256\n"
        "[model]\nkind = \"cnn\"\nchannels = 16\n[vera]\njem = true\n"
        "[generator]\nnet = \"conv\"\nwidth = 32\nnoise_dim = 64\noutput = \"tanh\"\n";
  } else if (task == "fashion-mlp") {
    batch = 64;
    toml +=
        "batch_size = 64\n[data]\ndataset = \"fashion-mnist\"\nn_train = 2048\nn_test = 256\n"
        "[model]\nkind = \"cnn\"\nchannels = 16\n[vera]\njem = true\n"
        "[generator]\nnet = \"large_mlp\"\nwidth = 500\ndepth = 3\nnoise_dim = 128\noutput = \"tanh\"\n";
  } else {
    std::fprintf(stderr, "unknown --task %s (toy, fashion, fashion-mlp)\n", task.c_str());
    return 2;
  }
  auto method = joule::methods::create(joule::config::Document::from_string(toml, "bench_vera"));
  method->build(torch::kCPU);
  auto& trainer = method->trainer();
  std::vector<double> step_s;
  for (int i = 0; i < warmup + reps; ++i) {
    const auto t0 = joule::bench::Clock::now();
    trainer.step();
    const double dt = joule::bench::since(t0);
    if (i >= warmup) step_s.push_back(dt);
  }
  std::printf(
      "{\"impl\": \"joule\", \"task\": \"%s\", \"threads\": %d, \"batch\": %lld, \"reps\": %d, \"step_s_median\": %.6f, "
      "\"step_s_min\": %.6f}\n",
      task.c_str(), threads, static_cast<long long>(batch), reps, joule::bench::median(step_s),
      *std::min_element(step_s.begin(), step_s.end()));
  return 0;
}
