// A downstream program that knows Joule only through find_package(joule) and <joule/joule.h>:
// it trains a small JEM and a small RBM through the library in a few lines each, evaluates them
// with the library's protocols, reloads them from their run folders, and checks that every
// number equals what `joule train` prints for the same configuration and seed.
//
// usage: consumer JOULE_BIN WORK_DIR
#include <joule/joule.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

namespace {

int failures = 0;

void check(bool ok, const std::string& what) {
  std::cout << (ok ? "ok    " : "FAIL  ") << what << "\n";
  if (!ok) ++failures;
}

// The same report, number for number (NaN equals NaN).
bool same(const joule::eval::Report& a, const joule::eval::Report& b) {
  if (a.lines.size() != b.lines.size()) return false;
  for (size_t i = 0; i < a.lines.size(); ++i) {
    const double x = a.lines[i].value, y = b.lines[i].value;
    if (a.lines[i].name != b.lines[i].name || !(x == y || (std::isnan(x) && std::isnan(y)))) {
      std::cout << "  " << a.lines[i].name << ": " << x << " vs " << y << "\n";
      return false;
    }
  }
  return true;
}

// Trains preset + overrides through the library into `dir`, reloads it, and runs `joule train`
// with the same arguments into `dir`-cli.
void library_equals_cli(const std::string& joule_bin, const std::string& preset,
                        const std::vector<std::pair<std::string, std::string>>& overrides, const std::string& dir) {
  // Through the library: a preset, typed overrides, build, train into a run folder.
  auto doc = joule::config::preset(preset);
  for (const auto& [key, value] : overrides) doc.set(key, value);
  auto method = joule::methods::create(doc);
  method->build();
  const auto trained = joule::methods::train_run(*method, dir);
  check(trained.report.lines.size() > 5, preset + ": the library's evaluation has " + std::to_string(trained.report.lines.size()) + " numbers");

  // Reopened from its run folder: the same model, the same protocol, the same numbers.
  auto reloaded = joule::methods::load(dir);
  check(reloaded->trainer().step_count() == method->trainer().step_count(), preset + ": reloaded at the same step");
  // train_run's report ends with the held-out watch's best_<metric> and best_step: the training's
  // history, not a function of the saved model, so a reloaded evaluation has every line but those.
  auto model_lines = trained.report;
  model_lines.lines.erase(std::remove_if(model_lines.lines.begin(), model_lines.lines.end(),
                                         [](const auto& l) { return l.name.rfind("best_", 0) == 0; }),
                          model_lines.lines.end());
  check(same(reloaded->evaluate(), model_lines), preset + ": reloaded model evaluates to the same numbers");

  // The CLI on the same configuration and seed.
  std::string cmd = "OMP_NUM_THREADS=1 " + joule_bin + " train " + preset;
  for (const auto& [key, value] : overrides) cmd += " " + key + "=" + value;
  cmd += " run.out=" + dir + "-cli run.progress=none > " + dir + "-cli.log 2>&1";
  check(std::system(cmd.c_str()) == 0, preset + ": joule train ran");
  const auto cli = joule::eval::Report::from_json(joule::io::read_text_file(dir + "-cli/eval.json"));
  check(same(cli, trained.report), preset + ": joule train printed the same numbers as the library");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: consumer JOULE_BIN WORK_DIR\n";
    return 2;
  }
  const std::string joule_bin = argv[1], work = argv[2];
  std::filesystem::create_directories(work);
  joule::set_num_threads(1);  // as the CLI runs under OMP_NUM_THREADS=1 below

  // Samplers and exact read-outs through the umbrella header.
  auto gen = joule::make_generator(7);
  auto gauss = joule::GaussianEnergy(torch::tensor({1.0f, -2.0f}), torch::tensor({1.0f, 0.5f}));
  joule::Mala mala(joule::MalaOptions(200).step_size(0.1));
  auto mean = mala.sample(*gauss, torch::zeros({2000, 2}), gen).mean(0);
  check(std::abs(mean[0].item<double>() - 1.0) < 0.1 && std::abs(mean[1].item<double>() + 2.0) < 0.1, "MALA samples a Gaussian");

  library_equals_cli(joule_bin, "jem_fashion_cnn",
                     {{"train.steps", "12"}, {"train.warmup_steps", "4"}, {"train.eval_every", "6"}, {"data.n_train", "400"},
                      {"data.n_test", "200"}, {"buffer.capacity", "200"}, {"eval.ood_n", "40"}, {"eval.chain_steps", "2"},
                      {"eval.grid_n", "10"}, {"run.seed", "3"}},
                     work + "/jem");
  library_equals_cli(joule_bin, "rbm_exact_fashion",
                     {{"rbm.epochs", "0"}, {"train.steps", "60"}, {"rbm.n_train", "1000"}, {"rbm.n_test", "200"},
                      {"rbm.validation", "200"}, {"eval.ais_runs", "16"}, {"eval.ais_steps", "100"}, {"eval.chain_steps", "10"},
                      {"run.seed", "5"}},
                     work + "/rbm");

  std::cout << (failures == 0 ? "consumer ok" : "consumer FAILED") << "\n";
  return failures == 0 ? 0 : 1;
}
