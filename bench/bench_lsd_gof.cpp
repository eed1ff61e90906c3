// The LSD goodness-of-fit test on the Gaussian–Bernoulli RBM benchmark (arXiv:2002.05616 §6.1),
// end to end: Gibbs sampling of the data, critic training, exact-trace statistics.
//
//   bench_lsd_gof [--threads N] [--sigma S] [--seed K] [--repeats R]
//       times whole tests with the paper's README settings (same as bench/lsd_gof_peer.py);
//       one JSON object per test.
//   bench_lsd_gof --power [--sigmas 0,0.01,0.02,0.04] [--seeds 100] [--first-seed 0] [--tests lsd,ksd]
//                 [--out DIR] [--threads N]
//       the power study: for every σ and seed, a new RBM, 1000 samples, the LSD test
//       (800/100/100 split) and the KSD test (all 1000 samples, 1000 bootstrap draws) on the
//       same sample; writes DIR/power.csv (one row per test) and DIR/power.png. Seeds
//       first-seed .. first-seed + seeds − 1, so that parts of a study can run in parallel;
//   bench_lsd_gof --merge DIR1,DIR2,... [--out DIR]
//       pools their power.csv files into DIR/power.csv and DIR/power.png.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <set>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "joule/core/runtime.h"
#include "joule/eval/gof.h"
#include "joule/eval/gof_benchmarks.h"
#include "joule/io/plot.h"
#include "joule/io/png.h"

namespace {

using joule::bench::Clock;
using joule::bench::since;

struct Args {
  int threads = 1;
  double sigma = 0.02;
  int64_t seed = 1, repeats = 1;
  bool power = false;
  std::vector<double> sigmas{0.0, 0.01, 0.02, 0.04};
  int64_t seeds = 100, first_seed = 0;
  std::string merge;  // --merge: comma-separated study folders
  std::string tests = "lsd,ksd", out = "lsd-power";
  int64_t burn_in = 2000, n = 1000;
};

std::vector<double> parse_list(const std::string& s) {
  std::vector<double> v;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) v.push_back(std::stod(item));
  return v;
}

struct One {
  joule::eval::GofResult lsd, ksd;
  double sample_s = 0, lsd_s = 0, ksd_s = 0;
};

One run_one(const Args& a, double sigma, uint64_t seed, bool do_lsd, bool do_ksd) {
  auto gen = joule::make_generator(seed);
  One r;
  auto t0 = Clock::now();
  auto bench = joule::eval::make_rbm_benchmark(joule::eval::RbmBenchmarkOptions().sigma(sigma), gen);
  auto x = joule::eval::sample_rbm_benchmark(bench, a.n, a.burn_in, gen);
  r.sample_s = since(t0);
  auto score = joule::eval::model_score(*bench.q);
  if (do_lsd) {
    t0 = Clock::now();
    r.lsd = joule::eval::lsd_test(score, x, joule::eval::LsdTestOptions(), gen);
    r.lsd_s = since(t0);
  }
  if (do_ksd) {
    t0 = Clock::now();
    r.ksd = joule::eval::ksd_test(score, x, joule::eval::KsdTestOptions().bootstrap(1000), gen);
    r.ksd_s = since(t0);
  }
  return r;
}

int timing(const Args& a) {
  for (int64_t r = 0; r < a.repeats; ++r) {
    const auto t0 = Clock::now();
    auto one = run_one(a, a.sigma, static_cast<uint64_t>(a.seed + r), true, false);
    double train_s = 0, eval_s = 0;
    for (const auto& kv : one.lsd.details) {
      if (kv.first == "train_seconds") train_s = kv.second;
      if (kv.first == "eval_seconds") eval_s = kv.second;
    }
    std::printf(
        "{\"impl\": \"joule\", \"seed\": %lld, \"sigma\": %g, \"z\": %.6f, \"p\": %.6g, \"reject\": %s, "
        "\"sample_s\": %.3f, \"train_s\": %.3f, \"eval_s\": %.3f, \"total_s\": %.3f, \"threads\": %d}\n",
        static_cast<long long>(a.seed + r), a.sigma, one.lsd.statistic, one.lsd.p_value, one.lsd.reject ? "true" : "false",
        one.sample_s, train_s, eval_s, since(t0), a.threads);
    std::fflush(stdout);
  }
  return 0;
}

void write_power_plot(const std::vector<double>& sigmas, const std::vector<int64_t>& rej_lsd,
                      const std::vector<int64_t>& rej_ksd, bool do_lsd, bool do_ksd, int64_t seeds,
                      const std::string& out) {
  const double n = static_cast<double>(seeds);
  auto rates = [&](const std::vector<int64_t>& r) {
    std::vector<double> v;
    for (auto c : r) v.push_back(c / n);
    return v;
  };
  std::vector<joule::io::Series> series;
  if (do_lsd) series.push_back({"LSD test", sigmas, rates(rej_lsd), joule::io::palette(0)});
  if (do_ksd) series.push_back({"KSD test", sigmas, rates(rej_ksd), joule::io::palette(1)});
  std::vector<joule::io::RefLine> level{{"alpha = 0.05", 0.05, joule::io::colors::gray}};
  auto img = joule::io::line_plot(series, "GB-RBM 50x40: power vs perturbation (" + std::to_string(seeds) + " seeds)",
                                  "sigma of the perturbation of B", "rejection rate", 640, 420, false, level);
  joule::io::write_png(out + "/power.png", img);
}

// Pools the power.csv files of several study folders (disjoint seed ranges).
int merge(const Args& a) {
  std::map<double, std::map<std::string, std::pair<int64_t, int64_t>>> counts;  // σ → test → (rejects, n)
  std::map<std::string, std::set<int64_t>> seeds;
  std::string rows;
  std::stringstream dirs(a.merge);
  for (std::string dir; std::getline(dirs, dir, ',');) {
    std::ifstream in(dir + "/power.csv");
    if (!in) {
      std::fprintf(stderr, "cannot read %s/power.csv\n", dir.c_str());
      return 1;
    }
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::stringstream f(line);
      std::string sigma, seed, test, stat, p, reject;
      std::getline(f, sigma, ',');
      std::getline(f, seed, ',');
      std::getline(f, test, ',');
      std::getline(f, stat, ',');
      std::getline(f, p, ',');
      std::getline(f, reject, ',');
      if (!seeds[test + sigma].insert(std::stoll(seed)).second) {
        std::fprintf(stderr, "seed %s appears twice for %s at sigma %s\n", seed.c_str(), test.c_str(), sigma.c_str());
        return 1;
      }
      auto& c = counts[std::stod(sigma)][test];
      c.first += std::stoll(reject);
      c.second += 1;
      rows += line + "\n";
    }
  }
  if (std::system(("mkdir -p '" + a.out + "'").c_str()) != 0) return 1;
  std::ofstream(a.out + "/power.csv") << "sigma,seed,test,statistic,p_value,reject,seconds\n" << rows;
  std::vector<double> sigmas;
  std::vector<int64_t> rl, rk;
  int64_t n = -1;
  for (const auto& [sigma, tests] : counts) {
    sigmas.push_back(sigma);
    auto get = [&](const std::string& t) { return tests.count(t) ? tests.at(t) : std::pair<int64_t, int64_t>{0, 0}; };
    rl.push_back(get("lsd").first);
    rk.push_back(get("ksd").first);
    const int64_t m = std::max(get("lsd").second, get("ksd").second);
    if (n >= 0 && m != n) {
      std::fprintf(stderr, "unequal seed counts across sigmas (%lld vs %lld)\n", (long long)n, (long long)m);
      return 1;
    }
    n = m;
    std::printf("  sigma %.3f:  LSD %lld/%lld  KSD %lld/%lld\n", sigma, (long long)get("lsd").first,
                (long long)get("lsd").second, (long long)get("ksd").first, (long long)get("ksd").second);
  }
  write_power_plot(sigmas, rl, rk, true, true, n, a.out);
  std::printf("wrote %s/power.csv and %s/power.png (%lld seeds per sigma)\n", a.out.c_str(), a.out.c_str(), (long long)n);
  return 0;
}

int power(const Args& a) {
  const bool do_lsd = a.tests.find("lsd") != std::string::npos;
  const bool do_ksd = a.tests.find("ksd") != std::string::npos;
  std::string cmd = "mkdir -p '" + a.out + "'";
  if (std::system(cmd.c_str()) != 0) return 1;
  const std::string csv_path = a.out + "/power.csv";
  std::ofstream csv(csv_path);
  csv << "sigma,seed,test,statistic,p_value,reject,seconds\n";
  const size_t ns = a.sigmas.size();
  std::vector<int64_t> rej_lsd(ns, 0), rej_ksd(ns, 0);
  const auto t0 = Clock::now();
  auto summary = [&](int64_t done) {
    // Binomial standard error of a rejection rate r over n seeds: √(r(1 − r)/n).
    const double n = static_cast<double>(done);
    for (size_t i = 0; i < ns; ++i) {
      std::printf("  sigma %.3f:", a.sigmas[i]);
      if (do_lsd) {
        const double r = rej_lsd[i] / n;
        std::printf("  LSD %.3f ± %.3f", r, std::sqrt(r * (1 - r) / n));
      }
      if (do_ksd) {
        const double r = rej_ksd[i] / n;
        std::printf("  KSD %.3f ± %.3f", r, std::sqrt(r * (1 - r) / n));
      }
      std::printf("\n");
    }
    std::printf("  (%lld seeds per sigma, %.0f s)\n", static_cast<long long>(done), since(t0));
    std::fflush(stdout);
  };
  // Seeds outermost, so an interrupted study still covers every σ; the same seed at every σ
  // gives the same RBM and perturbation direction (only its scale changes).
  for (int64_t k = 0; k < a.seeds; ++k) {
    const int64_t s = a.first_seed + k;
    for (size_t i = 0; i < ns; ++i) {
      const double sigma = a.sigmas[i];
      auto one = run_one(a, sigma, static_cast<uint64_t>(1000 + s), do_lsd, do_ksd);
      if (do_lsd) {
        rej_lsd[i] += one.lsd.reject;
        csv << sigma << "," << s << ",lsd," << one.lsd.statistic << "," << one.lsd.p_value << "," << one.lsd.reject << ","
            << one.sample_s + one.lsd_s << "\n";
      }
      if (do_ksd) {
        rej_ksd[i] += one.ksd.reject;
        csv << sigma << "," << s << ",ksd," << one.ksd.statistic << "," << one.ksd.p_value << "," << one.ksd.reject << ","
            << one.ksd_s << "\n";
      }
      csv.flush();
    }
    if ((k + 1) % 10 == 0 || k + 1 == a.seeds) {
      std::printf("after %lld seeds:\n", static_cast<long long>(k + 1));
      summary(k + 1);
    }
  }
  write_power_plot(a.sigmas, rej_lsd, rej_ksd, do_lsd, do_ksd, a.seeds, a.out);
  std::printf("wrote %s and %s/power.png\n", csv_path.c_str(), a.out.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (k == "--threads") a.threads = std::stoi(next());
    else if (k == "--sigma") a.sigma = std::stod(next());
    else if (k == "--seed") a.seed = std::stoll(next());
    else if (k == "--repeats") a.repeats = std::stoll(next());
    else if (k == "--power") a.power = true;
    else if (k == "--sigmas") a.sigmas = parse_list(next());
    else if (k == "--seeds") a.seeds = std::stoll(next());
    else if (k == "--first-seed") a.first_seed = std::stoll(next());
    else if (k == "--merge") a.merge = next();
    else if (k == "--tests") a.tests = next();
    else if (k == "--out") a.out = next();
    else {
      std::fprintf(stderr, "unknown argument %s\n", k.c_str());
      return 2;
    }
  }
  joule::keep_freed_memory();
  joule::set_num_threads(a.threads);
  if (!a.merge.empty()) return merge(a);
  return a.power ? power(a) : timing(a);
}
