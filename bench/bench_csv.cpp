// read_csv on a numeric table (HEPMASS-like: a label and 27 features per row), best of 3 reads.
// Usage: bench_csv FILE.csv   (bench/run_csv.sh writes the file and times pandas on it)
#include <chrono>
#include <cstdio>
#include <string>

#include "joule/data/csv.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: bench_csv FILE.csv\n");
    return 2;
  }
  double best = 1e30;
  int64_t rows = 0;
  for (int rep = 0; rep < 3; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    auto t = joule::data::read_csv(argv[1], joule::data::CsvOptions().label_column("0"));
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    rows = t.features.size(0);
  }
  std::printf("joule read_csv: %lld rows in %.3f s\n", static_cast<long long>(rows), best);
  return 0;
}
