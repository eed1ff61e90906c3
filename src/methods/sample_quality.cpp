#include "joule/methods/sample_quality.h"

#include <torch/version.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <vector>

#include "joule/config/options.h"
#include "joule/core/energy.h"
#include "joule/core/runtime.h"
#include "joule/eval/sample_quality.h"
#include "joule/methods/run.h"

namespace joule::methods {

using config::ConfigError;
using config::Doc;
namespace fs = std::filesystem;

namespace {

uint64_t fnv1a(const std::string& text) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) h = (h ^ c) * 1099511628211ull;
  return h;
}

}  // namespace

std::string cache_folder() {
  if (const char* dir = std::getenv("JOULE_CACHE_DIR"); dir && *dir) return dir;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) return std::string(xdg) + "/joule";
  const char* home = std::getenv("HOME");
  if (!home || !*home) throw ConfigError("no cache folder: HOME is not set; set JOULE_CACHE_DIR to a folder Joule may write");
  return std::string(home) + "/.cache/joule";
}

std::string resolve_feature_run(const std::string& feature_run, const LabelledDataConfig& data,
                                const config::Document& overrides, std::ostream* log) {
  if (feature_run != "auto") return feature_run;
  // The measure must not depend on one run's subset, so the classifier sees whole splits; a
  // relative path is made absolute so the same files give the same key from any folder.
  LabelledDataConfig d = data;
  d.n_train = 0;
  d.n_test = 0;
  if (!d.path.empty()) d.path = fs::absolute(d.path).lexically_normal().string();
  const std::string data_toml = config::to_toml([&](config::Fields& f) { f.section("data", d); });
  config::Document doc = config::preset(kFeatureClassifierPreset);
  doc.merge(config::Document::from_string(data_toml, "eval.feature_run = auto"));
  doc.merge(overrides);
  // The key covers everything that changes the classifier; the LibTorch major version because a
  // checkpoint of one is not promised to open in another.
  char key[17];
  std::snprintf(key, sizeof key, "%016llx",
                static_cast<unsigned long long>(fnv1a(doc.to_toml() + "\ntorch " + std::to_string(TORCH_VERSION_MAJOR))));
  const fs::path dir = fs::path(cache_folder()) / "feature-classifiers" / (std::string(kFeatureClassifierPreset) + "-" + key);
  if (fs::exists(dir / "eval.json") && fs::exists(dir / "checkpoint.pt")) return dir.string();

  std::error_code ec;
  fs::create_directories(dir.parent_path(), ec);
  if (ec) throw ConfigError("eval.feature_run = auto: cannot create the cache folder " + dir.parent_path().string() + ": " +
                            ec.message() + " (set JOULE_CACHE_DIR to a folder Joule may write)");
  const fs::path scratch = dir.string() + ".partial-" + std::to_string(::getpid());
  fs::remove_all(scratch);
  if (log) {
    *log << "eval.feature_run = auto: training the feature classifier (" << kFeatureClassifierPreset << " on "
         << d.dataset << ") into " << dir.string() << "; later evaluations on these data reuse it" << std::endl;
  }
  auto method = create(doc);
  method->build(torch::kCPU);
  train_run(*method, scratch.string());
  if (fs::exists(dir) && !fs::exists(dir / "eval.json")) fs::remove_all(dir);  // unfinished or foreign: replaced
  fs::rename(scratch, dir, ec);
  if (ec) {  // another process finished the same classifier first: keep theirs
    fs::remove_all(scratch);
    if (!fs::exists(dir / "eval.json")) {
      throw ConfigError("eval.feature_run = auto: could not move the trained classifier into " + dir.string() + ": " + ec.message());
    }
  }
  return dir.string();
}

void QualityConfig::visit(config::Fields& f) {
  f("feature_run", feature_run,
    Doc("a classifier run (e.g. of ce_fashion_cnn) whose features score sample quality: Fréchet and kernel distances, "
        "precision/recall, class agreement; \"auto\" = a ce_fashion_cnn classifier of this [data], trained once into "
        "the cache folder (JOULE_CACHE_DIR, else ~/.cache/joule); empty = off"));
  f("quality_n", quality_n, Doc("samples scored per set, and test/training images they are compared with").min(10).max(100000));
}

SampleQuality::SampleQuality(const std::string& feature_run, const at::Tensor& test, const at::Tensor& train,
                             torch::Device device, uint64_t seed, int64_t n, int64_t k, const at::Tensor& train_classes)
    : device_(device), gen_(make_generator(seed)), k_(k) {
  if (n < k + 1) throw ConfigError("sample quality needs at least " + std::to_string(k + 1) + " images, got n = " + std::to_string(n));
  run_ = load(feature_run, device);
  classifier_ = run_->classifier();
  std::vector<int64_t> shape(test.sizes().begin() + 1, test.sizes().end());
  if (!classifier_ || classifier_->event_shape() != shape) {
    throw ConfigError("the feature run '" + feature_run + "' is not a classifier of images of shape " +
                      c10::str(c10::IntArrayRef(shape)) + " (train one with: joule train ce_fashion_cnn, or a JEM run)");
  }
  test_features_ = features(test.slice(0, 0, std::min(n, test.size(0))));
  const int64_t m = std::min(n, train.size(0));
  floor_ = score(train.slice(0, 0, m), train_classes.defined() ? train_classes.slice(0, 0, m) : at::Tensor());
}

at::Tensor SampleQuality::in_batches(const at::Tensor& x, at::Tensor (ClassifierEnergyImpl::*fn)(const at::Tensor&)) {
  torch::NoGradGuard no_grad;
  EvalModeGuard eval_mode(*classifier_);
  std::vector<at::Tensor> out;
  for (int64_t i = 0; i < x.size(0); i += 256) {
    out.push_back((classifier_->*fn)(x.slice(0, i, std::min(i + 256, x.size(0))).to(device_)).cpu());
  }
  return at::cat(out, 0);
}

at::Tensor SampleQuality::features(const at::Tensor& x) { return in_batches(x, &ClassifierEnergyImpl::features); }

at::Tensor SampleQuality::logits(const at::Tensor& x) { return in_batches(x, &ClassifierEnergyImpl::logits); }

QualityScores SampleQuality::score(const at::Tensor& samples, const at::Tensor& intended) {
  TORCH_CHECK(samples.dim() >= 2 && samples.size(0) > k_, "sample quality: needs more than ", k_, " samples, got shape ",
              samples.sizes());
  QualityScores s;
  s.n = samples.size(0);
  auto f = features(samples);
  if (!at::isfinite(f).all().item<bool>()) return s;  // diverged samples: every score stays NaN
  s.fd = eval::frechet_distance(f, test_features_);
  const auto kd = eval::kernel_distance(f, test_features_, gen_, 10, std::min<int64_t>({f.size(0), test_features_.size(0), 1000}));
  s.kd = kd.mean;
  s.kd_std = kd.std;
  const auto pr = eval::precision_recall(test_features_, f, k_);
  s.precision = pr.precision;
  s.recall = pr.recall;
  if (intended.defined()) {
    const auto worst = eval::worst_class(pr.generated_inside, intended, kMinClassSamples);
    s.class_precision_min = worst.value;
    s.class_precision_min_label = worst.label;
    s.classes_scored = worst.classes;
  }
  const auto logits = this->logits(samples);
  auto counts = at::bincount(logits.argmax(1), {}, classifier_->num_classes()).to(at::kDouble) / static_cast<double>(s.n);
  auto nz = counts.masked_select(counts > 0);
  s.class_entropy = -(nz * nz.log()).sum().item<double>();
  if (intended.defined()) {
    s.class_agreement = eval::class_agreement(logits, intended);
    const auto agrees = (logits.argmax(1) == intended.cpu().to(at::kLong)).to(at::kDouble);
    const auto worst = eval::worst_class(agrees, intended, kMinClassSamples);
    s.class_agreement_min = worst.value;
    s.class_agreement_min_label = worst.label;
  }
  return s;
}

void SampleQuality::add_lines(eval::Report& report, const std::string& prefix, const QualityScores& s, const std::string& what) {
  report.add(prefix + "fd", s.fd, "Fréchet distance to test images in the feature run's features: " + what);
  report.add(prefix + "kd", s.kd, "kernel (KID-style) distance to test images: " + what);
  report.add(prefix + "precision", s.precision, "improved precision (fidelity, k-NN manifold of test images): " + what);
  report.add(prefix + "recall", s.recall, "improved recall (diversity: test images inside the samples' manifold): " + what);
  report.add(prefix + "class_entropy", s.class_entropy, "entropy (nats) of the feature classifier's labels of the samples: " + what);
  if (!std::isnan(s.class_agreement)) {
    report.add(prefix + "class_agreement", s.class_agreement,
               "fraction the feature classifier assigns to the intended class: " + what);
    report.add(prefix + "classes_scored", static_cast<double>(s.classes_scored),
               "intended classes with at least " + std::to_string(kMinClassSamples) + " samples: " + what);
    report.add(prefix + "class_precision_min", s.class_precision_min,
               "lowest precision of one intended class's samples (class " + std::to_string(s.class_precision_min_label) +
                   "): " + what);
    report.add(prefix + "class_agreement_min", s.class_agreement_min,
               "lowest agreement of one intended class's samples (class " + std::to_string(s.class_agreement_min_label) +
                   "): " + what);
  }
}

void SampleQuality::add_floor_lines(eval::Report& report, const std::string& prefix) const {
  report.add(prefix + "fd", floor_.fd, "the same Fréchet distance between training and test images (its floor)");
  report.add(prefix + "kd", floor_.kd, "the same kernel distance between training and test images");
  report.add(prefix + "precision", floor_.precision, "improved precision of training images against test images");
  report.add(prefix + "recall", floor_.recall, "improved recall of training images against test images");
}

}  // namespace joule::methods
