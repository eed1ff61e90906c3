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
//   bench_lsd_gof --data DIR [--sigmas ...] [--seeds 100] [--first-seed 0] [--critic-seed K] [--out DIR2]
//       Joule's tests on the samples and models that the paper's own lsd_test.py drew
//       (written by bench/lsd_reference_power.py into DIR/data/seed_S/): the same sample
//       against the same q, so that the two LSD implementations are compared seed by seed;
//       --critic-seed K (default 0) draws another critic initialisation, dropout and probes
//       (generator 1000 + S + 100000·K) on the same data;
//   bench_lsd_gof --problem NAME --dims 10,50,200 [--sigmas S1,S2] [--seeds N] [--out DIR]
//       power against dimension on the script's other problems: gaussian-laplace (data
//       N(0, I), model Laplace(0, 1)), laplace-gaussian (data Laplace with unit variance,
//       model N(0, I)), gaussian-pert (model N(μ, I), μ ~ N(0, σ²I)) and rbm (D visible,
//       0.8·D hidden, B perturbed by σ);
//   bench_lsd_gof --merge DIR1,DIR2,FILE.csv,... [--out DIR]
//       pools the studies' CSV files (DIR/power.csv and DIR/reference.csv, or named files)
//       into DIR/power.csv; prints and writes DIR/summary.md (rejection rates with Wilson 95%
//       intervals; tests run on the same seeds compared pairwise: discordant counts, exact
//       McNemar p-value, correlation of the statistics) and plots DIR/power_<problem>.png.
//
// Every mode takes --preset default|reference for the LSD options (reference: exactly
// lsd_test.py's README settings, LsdTestOptions::reference()) and --threads N.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <set>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "bench/bench_util.h"
#include "joule/core/runtime.h"
#include "joule/data/csv.h"
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
  std::vector<double> dims{10, 50, 200};
  int64_t seeds = 100, first_seed = 0;
  int64_t critic_seed = 0;  ///< --data: another critic draw on the same data
  std::string merge;  // --merge: comma-separated study folders or CSV files
  std::string data;   // --data: folder written by bench/lsd_reference_power.py
  std::string problem;
  std::string preset = "default";
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

joule::eval::LsdTestOptions lsd_options(const Args& a) {
  return a.preset == "reference" ? joule::eval::LsdTestOptions::reference() : joule::eval::LsdTestOptions();
}

// One test's outcome, as a row of power.csv.
struct Row {
  std::string problem;
  int64_t dim = 0;
  double sigma = 0;
  int64_t seed = 0;
  std::string test;
  double statistic = 0, p_value = 1;
  int reject = 0;
  double seconds = 0;
};
const char* kCsvHeader = "problem,dim,sigma,seed,test,statistic,p_value,reject,seconds\n";

std::string to_csv(const Row& r) {
  char buf[512];
  std::snprintf(buf, sizeof buf, "%s,%lld,%g,%lld,%s,%.6f,%.6g,%d,%.3f\n", r.problem.c_str(), (long long)r.dim, r.sigma,
                (long long)r.seed, r.test.c_str(), r.statistic, r.p_value, r.reject, r.seconds);
  return buf;
}

// Runs the chosen tests on x against `score`; appends their rows to `csv`.
void run_tests(const Args& a, const joule::eval::ScoreFunction& score, const at::Tensor& x, Row base, double sample_s,
               at::Generator& gen, std::ofstream& csv, std::map<std::string, int64_t>* rejects = nullptr) {
  const bool do_lsd = a.tests.find("lsd") != std::string::npos;
  const bool do_ksd = a.tests.find("ksd") != std::string::npos;
  if (do_lsd) {
    const auto t0 = Clock::now();
    auto r = joule::eval::lsd_test(score, x, lsd_options(a), gen);
    Row row = base;
    row.test = "lsd";
    row.statistic = r.statistic;
    row.p_value = r.p_value;
    row.reject = r.reject;
    row.seconds = sample_s + since(t0);
    csv << to_csv(row);
    if (rejects) (*rejects)["lsd"] += r.reject;
  }
  if (do_ksd) {
    const auto t0 = Clock::now();
    auto r = joule::eval::ksd_test(score, x, joule::eval::KsdTestOptions().bootstrap(1000), gen);
    Row row = base;
    row.test = "ksd";
    row.statistic = r.statistic;
    row.p_value = r.p_value;
    row.reject = r.reject;
    row.seconds = since(t0);
    csv << to_csv(row);
    if (rejects) (*rejects)["ksd"] += r.reject;
  }
  csv.flush();
}

struct One {
  joule::eval::GofResult lsd;
  double sample_s = 0;
};

int timing(const Args& a) {
  for (int64_t r = 0; r < a.repeats; ++r) {
    const auto t0 = Clock::now();
    auto gen = joule::make_generator(static_cast<uint64_t>(a.seed + r));
    auto bench = joule::eval::make_rbm_benchmark(joule::eval::RbmBenchmarkOptions().sigma(a.sigma), gen);
    auto x = joule::eval::sample_rbm_benchmark(bench, a.n, a.burn_in, gen);
    const double sample_s = since(t0);
    auto lsd = joule::eval::lsd_test(joule::eval::model_score(*bench.q), x, lsd_options(a), gen);
    double train_s = 0, eval_s = 0;
    for (const auto& kv : lsd.details) {
      if (kv.first == "train_seconds") train_s = kv.second;
      if (kv.first == "eval_seconds") eval_s = kv.second;
    }
    std::printf(
        "{\"impl\": \"joule\", \"seed\": %lld, \"sigma\": %g, \"z\": %.6f, \"p\": %.6g, \"reject\": %s, "
        "\"sample_s\": %.3f, \"train_s\": %.3f, \"eval_s\": %.3f, \"total_s\": %.3f, \"threads\": %d}\n",
        static_cast<long long>(a.seed + r), a.sigma, lsd.statistic, lsd.p_value, lsd.reject ? "true" : "false", sample_s,
        train_s, eval_s, since(t0), a.threads);
    std::fflush(stdout);
  }
  return 0;
}

bool open_csv(const std::string& out, std::ofstream& csv) {
  if (std::system(("mkdir -p '" + out + "'").c_str()) != 0) return false;
  csv.open(out + "/power.csv");
  csv << kCsvHeader;
  return bool(csv);
}

void progress(const std::string& what, const std::map<std::string, int64_t>& rejects, int64_t done,
              Clock::time_point t0) {
  std::printf("%s:", what.c_str());
  for (const auto& [test, r] : rejects) std::printf("  %s %lld/%lld", test.c_str(), (long long)r, (long long)done);
  std::printf("  (%.0f s)\n", since(t0));
  std::fflush(stdout);
}

// The RBM power study on Joule's own draws (generator seed 1000 + seed).
int power(const Args& a) {
  std::ofstream csv;
  if (!open_csv(a.out, csv)) return 1;
  std::map<double, std::map<std::string, int64_t>> rejects;
  const auto t0 = Clock::now();
  // Seeds outermost, so an interrupted study still covers every σ; the same seed at every σ
  // gives the same RBM and perturbation direction (only its scale changes).
  for (int64_t k = 0; k < a.seeds; ++k) {
    const int64_t s = a.first_seed + k;
    for (double sigma : a.sigmas) {
      auto gen = joule::make_generator(static_cast<uint64_t>(1000 + s));
      const auto ts = Clock::now();
      auto bench = joule::eval::make_rbm_benchmark(joule::eval::RbmBenchmarkOptions().sigma(sigma), gen);
      auto x = joule::eval::sample_rbm_benchmark(bench, a.n, a.burn_in, gen);
      Row base{"rbm", 50, sigma, s};
      run_tests(a, joule::eval::model_score(*bench.q), x, base, since(ts), gen, csv, &rejects[sigma]);
    }
    if ((k + 1) % 10 == 0 || k + 1 == a.seeds)
      for (const auto& [sigma, r] : rejects) progress("sigma " + std::to_string(sigma), r, k + 1, t0);
  }
  std::printf("wrote %s/power.csv (bench_lsd_gof --merge %s for the summary and plot)\n", a.out.c_str(), a.out.c_str());
  return 0;
}

std::string sigma_name(double sigma) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g", sigma);
  return buf;
}

// Joule's tests on the reference's own samples and models (bench/lsd_reference_power.py).
int on_reference_data(const Args& a) {
  std::ofstream csv;
  if (!open_csv(a.out, csv)) return 1;
  auto read = [](const std::string& path) {
    return joule::data::read_csv(path, joule::data::CsvOptions().header(joule::data::CsvHeader::kNo)).features;
  };
  std::map<double, std::map<std::string, int64_t>> rejects;
  const auto t0 = Clock::now();
  int64_t done = 0;
  for (int64_t k = 0; k < a.seeds; ++k) {
    const int64_t s = a.first_seed + k;
    const std::string dir = a.data + "/data/seed_" + std::to_string(s);
    if (!std::ifstream(dir + "/x.csv")) continue;
    auto x = read(dir + "/x.csv");
    auto b = read(dir + "/b.csv").reshape({-1});
    auto c = read(dir + "/c.csv").reshape({-1});
    bool any = false;
    for (double sigma : a.sigmas) {
      const std::string bq = dir + "/Bq_sigma" + sigma_name(sigma) + ".csv";
      if (!std::ifstream(bq)) {
        std::fprintf(stderr, "note: %s is missing; seed %lld is skipped at sigma %g\n", bq.c_str(), (long long)s, sigma);
        continue;
      }
      any = true;
      auto q = joule::gaussian_rbm_from_pm1_hidden(read(bq), b, c);
      // The critic's initialisation, dropout masks and probes come from Joule's generator; the
      // sample and the model are the reference's.
      auto gen = joule::make_generator(static_cast<uint64_t>(1000 + s + 100000 * a.critic_seed));
      Row base{"rbm-ref", x.size(1), sigma, s};
      run_tests(a, joule::eval::model_score(*q), x, base, 0.0, gen, csv, &rejects[sigma]);
    }
    done += any;
    if (any && (done % 10 == 0))
      for (const auto& [sigma, r] : rejects) progress("sigma " + sigma_name(sigma), r, done, t0);
  }
  for (const auto& [sigma, r] : rejects) progress("sigma " + sigma_name(sigma), r, done, t0);
  std::printf("wrote %s/power.csv (%lld seeds)\n", a.out.c_str(), (long long)done);
  return done > 0 ? 0 : 1;
}

// Data and model score of one of lsd_test.py's other problems at dimension d.
std::pair<at::Tensor, joule::eval::ScoreFunction> make_problem(const std::string& problem, int64_t d, double sigma,
                                                               int64_t n, int64_t burn_in, at::Generator& gen) {
  if (problem == "gaussian-laplace") {  // p = N(0, I), q = Laplace(0, 1): s_q = −sign(x)
    auto x = at::empty({n, d}).normal_(0.0, 1.0, gen);
    return {x, [](const at::Tensor& z) { return -at::sign(z); }};
  }
  if (problem == "laplace-gaussian") {  // p = Laplace(0, 1/√2) (unit variance), q = N(0, I): s_q = −x
    auto u = at::empty({n, d}).uniform_(-0.5, 0.5, gen);
    // uniform_ can return −0.5 itself (about once in 2²⁴ draws: every few seeds at D = 200), where
    // the inverse CDF is infinite; capping |u| just below ½ truncates the tails at |x| ≈ 11.
    auto x = -(1.0 / std::sqrt(2.0)) * at::sign(u) * at::log1p(-2.0 * u.abs().clamp_max(0.5 - 3e-8));
    return {x, [](const at::Tensor& z) { return -z; }};
  }
  if (problem == "gaussian-pert") {  // p = N(0, I), q = N(μ, I), μ ~ N(0, σ²I): s_q = μ − x
    auto mu = sigma * at::empty({d}).normal_(0.0, 1.0, gen);
    auto x = at::empty({n, d}).normal_(0.0, 1.0, gen);
    return {x, [mu](const at::Tensor& z) { return mu - z; }};
  }
  if (problem == "rbm") {  // the benchmark RBM at D visible and 0.8·D hidden units (50 × 40 in the paper)
    const int64_t h = std::max<int64_t>(1, static_cast<int64_t>(std::llround(0.8 * static_cast<double>(d))));
    auto bench = std::make_shared<joule::eval::RbmBenchmark>(joule::eval::make_rbm_benchmark(
        joule::eval::RbmBenchmarkOptions().visible(d).hidden(h).sigma(sigma), gen));
    auto x = joule::eval::sample_rbm_benchmark(*bench, n, burn_in, gen);
    auto score = joule::eval::model_score(*bench->q);
    return {x, [bench, score](const at::Tensor& z) { return score(z); }};
  }
  throw std::invalid_argument("unknown --problem " + problem +
                              " (gaussian-laplace, laplace-gaussian, gaussian-pert or rbm)");
}

int dimension_study(const Args& a) {
  std::ofstream csv;
  if (!open_csv(a.out, csv)) return 1;
  std::map<std::string, std::map<std::string, int64_t>> rejects;
  const bool sigma_free = a.problem == "gaussian-laplace" || a.problem == "laplace-gaussian";
  const std::vector<double> sigmas = sigma_free ? std::vector<double>{0.0} : a.sigmas;
  const auto t0 = Clock::now();
  for (int64_t k = 0; k < a.seeds; ++k) {
    const int64_t s = a.first_seed + k;
    for (double dd : a.dims) {
      const auto d = static_cast<int64_t>(dd);
      for (double sigma : sigmas) {
        auto gen = joule::make_generator(joule::derive_seed(static_cast<uint64_t>(1000 + s), static_cast<uint64_t>(d)));
        const auto ts = Clock::now();
        auto [x, score] = make_problem(a.problem, d, sigma, a.n, a.burn_in, gen);
        Row base{a.problem, d, sigma, s};
        run_tests(a, score, x, base, since(ts), gen, csv, &rejects["D " + std::to_string(d) + " sigma " + sigma_name(sigma)]);
      }
    }
    if ((k + 1) % 5 == 0 || k + 1 == a.seeds)
      for (const auto& [what, r] : rejects) progress(what, r, k + 1, t0);
  }
  std::printf("wrote %s/power.csv\n", a.out.c_str());
  return 0;
}

// ---------------------------------------------------------------- merge and summary

std::vector<Row> read_rows(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::string line;
  std::getline(in, line);
  std::vector<std::string> cols;
  {
    std::stringstream h(line);
    for (std::string c; std::getline(h, c, ',');) cols.push_back(c);
  }
  auto col = [&](const std::string& name) {
    auto it = std::find(cols.begin(), cols.end(), name);
    return it == cols.end() ? -1 : static_cast<int>(it - cols.begin());
  };
  const int ip = col("problem"), id = col("dim"), is = col("sigma"), ie = col("seed"), it = col("test"),
            ist = col("statistic"), ipv = col("p_value"), ir = col("reject"), isec = col("seconds");
  if (is < 0 || ie < 0 || it < 0 || ir < 0) throw std::runtime_error(path + ": not a power.csv (no sigma/seed/test/reject)");
  std::vector<Row> rows;
  int64_t lineno = 1;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.empty()) continue;
    std::vector<std::string> f;
    std::stringstream ss(line);
    for (std::string v; std::getline(ss, v, ',');) f.push_back(v);
    if (f.size() != cols.size()) throw std::runtime_error(path + ":" + std::to_string(lineno) + ": wrong number of fields");
    Row r;
    r.problem = ip >= 0 ? f[ip] : "rbm";  // files of the first study had no problem/dim columns
    r.dim = id >= 0 ? std::stoll(f[id]) : 50;
    r.sigma = std::stod(f[is]);
    r.seed = std::stoll(f[ie]);
    r.test = f[it];
    r.statistic = ist >= 0 ? std::stod(f[ist]) : 0;
    r.p_value = ipv >= 0 ? std::stod(f[ipv]) : 1;
    r.reject = std::stoi(f[ir]);
    r.seconds = isec >= 0 ? std::stod(f[isec]) : 0;
    rows.push_back(r);
  }
  return rows;
}

// Wilson score interval for k successes in n at 95%.
std::pair<double, double> wilson(int64_t k, int64_t n) {
  const double z = 1.959963985, nn = static_cast<double>(n), p = k / nn;
  const double c = (p + z * z / (2 * nn)) / (1 + z * z / nn);
  const double h = z * std::sqrt(p * (1 - p) / nn + z * z / (4 * nn * nn)) / (1 + z * z / nn);
  return {std::max(0.0, c - h), std::min(1.0, c + h)};
}

// Two-sided exact McNemar p-value: b and c discordant pairs, Binomial(b + c, ½).
double mcnemar(int64_t b, int64_t c) {
  const int64_t m = b + c, k = std::min(b, c);
  if (m == 0) return 1.0;
  double tail = 0;
  for (int64_t i = 0; i <= k; ++i) tail += std::exp(std::lgamma(m + 1.0) - std::lgamma(i + 1.0) - std::lgamma(m - i + 1.0) - m * std::log(2.0));
  return std::min(1.0, 2 * tail);
}

double correlation(const std::vector<double>& x, const std::vector<double>& y) {
  const size_t n = x.size();
  double mx = 0, my = 0;
  for (size_t i = 0; i < n; ++i) mx += x[i] / n, my += y[i] / n;
  double sxy = 0, sxx = 0, syy = 0;
  for (size_t i = 0; i < n; ++i) sxy += (x[i] - mx) * (y[i] - my), sxx += (x[i] - mx) * (x[i] - mx), syy += (y[i] - my) * (y[i] - my);
  return sxy / std::sqrt(sxx * syy);
}

int merge(const Args& a) {
  std::vector<Row> rows;
  std::stringstream parts(a.merge);
  for (std::string part; std::getline(parts, part, ',');) {
    std::vector<std::string> files;
    if (part.size() > 4 && part.substr(part.size() - 4) == ".csv") {
      files.push_back(part);
    } else {
      for (const char* name : {"/power.csv", "/reference.csv"})
        if (std::ifstream(part + name)) files.push_back(part + name);
      if (files.empty()) {
        std::fprintf(stderr, "no power.csv or reference.csv in %s\n", part.c_str());
        return 1;
      }
    }
    for (const auto& f : files) {
      auto r = read_rows(f);
      rows.insert(rows.end(), r.begin(), r.end());
    }
  }
  // (problem, dim, σ) → test → seed → row; a seed counted twice is an error.
  using Key = std::tuple<std::string, int64_t, double>;
  std::map<Key, std::map<std::string, std::map<int64_t, Row>>> groups;
  for (const auto& r : rows) {
    auto& slot = groups[Key{r.problem, r.dim, r.sigma}][r.test];
    if (!slot.emplace(r.seed, r).second) {
      std::fprintf(stderr, "seed %lld appears twice for %s at %s D=%lld sigma=%g\n", (long long)r.seed, r.test.c_str(),
                   r.problem.c_str(), (long long)r.dim, r.sigma);
      return 1;
    }
  }
  if (std::system(("mkdir -p '" + a.out + "'").c_str()) != 0) return 1;
  {
    std::ofstream csv(a.out + "/power.csv");
    csv << kCsvHeader;
    for (const auto& [key, tests] : groups)
      for (const auto& [test, seeds] : tests)
        for (const auto& [seed, r] : seeds) csv << to_csv(r);
  }
  std::ostringstream md;
  md << "| problem | D | sigma | test | rejected / seeds | rate | Wilson 95% | statistic mean (sd) | s per test |\n"
        "|---|---|---|---|---|---|---|---|---|\n";
  char buf[512];
  for (const auto& [key, tests] : groups) {
    for (const auto& [test, seeds] : tests) {
      int64_t k = 0;
      double stat = 0, stat2 = 0, secs = 0;
      for (const auto& [seed, r] : seeds) k += r.reject, stat += r.statistic, stat2 += r.statistic * r.statistic, secs += r.seconds;
      const int64_t n = static_cast<int64_t>(seeds.size());
      const auto ci = wilson(k, n);
      // Under H0 the LSD statistic should be ~N(0, 1): its mean and sd check the calibration.
      const double mean = stat / n, sd = n > 1 ? std::sqrt(std::max(0.0, (stat2 - n * mean * mean) / (n - 1))) : 0.0;
      std::snprintf(buf, sizeof buf, "| %s | %lld | %g | %s | %lld / %lld | %.2f | [%.2f, %.2f] | %.2f (%.2f) | %.2f |\n",
                    std::get<0>(key).c_str(), (long long)std::get<1>(key), std::get<2>(key), test.c_str(), (long long)k,
                    (long long)n, double(k) / n, ci.first, ci.second, mean, sd, secs / n);
      md << buf;
    }
  }
  md << "\nPairs of tests on the same seeds (A rejects and B not: b; B and not A: c; McNemar exact p "
        "on b vs c; r: correlation of the two statistics):\n\n"
        "| problem | D | sigma | A | B | seeds | both | b | c | neither | McNemar p | r |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& [key, tests] : groups) {
    for (auto i = tests.begin(); i != tests.end(); ++i) {
      for (auto j = std::next(i); j != tests.end(); ++j) {
        int64_t both = 0, only_a = 0, only_b = 0, neither = 0;
        std::vector<double> sa, sb;
        for (const auto& [seed, ra] : i->second) {
          auto it = j->second.find(seed);
          if (it == j->second.end()) continue;
          const auto& rb = it->second;
          both += ra.reject && rb.reject;
          only_a += ra.reject && !rb.reject;
          only_b += !ra.reject && rb.reject;
          neither += !ra.reject && !rb.reject;
          sa.push_back(ra.statistic);
          sb.push_back(rb.statistic);
        }
        if (sa.size() < 2) continue;
        std::snprintf(buf, sizeof buf, "| %s | %lld | %g | %s | %s | %zu | %lld | %lld | %lld | %lld | %.3g | %.2f |\n",
                      std::get<0>(key).c_str(), (long long)std::get<1>(key), std::get<2>(key), i->first.c_str(),
                      j->first.c_str(), sa.size(), (long long)both, (long long)only_a, (long long)only_b,
                      (long long)neither, mcnemar(only_a, only_b), correlation(sa, sb));
        md << buf;
      }
    }
  }
  std::ofstream(a.out + "/summary.md") << md.str();
  std::printf("%s", md.str().c_str());
  // One plot per problem: power against D where it has several dimensions, else against σ.
  std::map<std::string, std::set<int64_t>> dims_of;
  for (const auto& [key, tests] : groups) dims_of[std::get<0>(key)].insert(std::get<1>(key));
  for (const auto& [problem, dims] : dims_of) {
    const bool against_dim = dims.size() > 1;
    std::map<std::string, std::pair<std::vector<double>, std::vector<double>>> curves;
    int64_t min_n = -1;
    for (const auto& [key, tests] : groups) {
      if (std::get<0>(key) != problem) continue;
      for (const auto& [test, seeds] : tests) {
        int64_t k = 0;
        for (const auto& [seed, r] : seeds) k += r.reject;
        const int64_t n = static_cast<int64_t>(seeds.size());
        min_n = min_n < 0 ? n : std::min(min_n, n);
        const std::string name = against_dim ? test + " sigma " + sigma_name(std::get<2>(key)) : test;
        auto& c = curves[name];
        c.first.push_back(against_dim ? static_cast<double>(std::get<1>(key)) : std::get<2>(key));
        c.second.push_back(double(k) / n);
      }
    }
    std::vector<joule::io::Series> series;
    int color = 0;
    for (auto& [name, c] : curves) {
      // Sort by x (the map orders keys by D first, then σ).
      std::vector<size_t> order(c.first.size());
      for (size_t i = 0; i < order.size(); ++i) order[i] = i;
      std::sort(order.begin(), order.end(), [&](size_t l, size_t r) { return c.first[l] < c.first[r]; });
      joule::io::Series s{name, {}, {}, joule::io::palette(color++)};
      for (auto i : order) s.x.push_back(c.first[i]), s.y.push_back(c.second[i]);
      s.dashed = name.find("-ref") != std::string::npos;
      series.push_back(s);
    }
    std::vector<joule::io::RefLine> level{{"alpha = 0.05", 0.05, joule::io::colors::gray}};
    auto img = joule::io::line_plot(series, problem + ": rejection rate (>= " + std::to_string(min_n) + " seeds per point)",
                                    against_dim ? "dimension D" : "sigma of the perturbation", "rejection rate", 640, 420,
                                    false, level);
    joule::io::write_png(a.out + "/power_" + problem + ".png", img);
  }
  std::printf("wrote %s/power.csv, summary.md and power_<problem>.png\n", a.out.c_str());
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
    else if (k == "--critic-seed") a.critic_seed = std::stoll(next());
    else if (k == "--merge") a.merge = next();
    else if (k == "--tests") a.tests = next();
    else if (k == "--data") a.data = next();
    else if (k == "--problem") a.problem = next();
    else if (k == "--dims") a.dims = parse_list(next());
    else if (k == "--preset") a.preset = next();
    else if (k == "--out") a.out = next();
    else {
      std::fprintf(stderr, "unknown argument %s\n", k.c_str());
      return 2;
    }
  }
  joule::keep_freed_memory();
  joule::set_num_threads(a.threads);
  if (a.preset != "default" && a.preset != "reference") {
    std::fprintf(stderr, "--preset must be default or reference, got %s\n", a.preset.c_str());
    return 2;
  }
  try {
    if (!a.merge.empty()) return merge(a);
    if (!a.data.empty()) return on_reference_data(a);
    if (!a.problem.empty()) return dimension_study(a);
    return a.power ? power(a) : timing(a);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_lsd_gof: %s\n", e.what());
    return 1;
  }
}
