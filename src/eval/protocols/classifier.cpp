#include "joule/eval/protocols/classifier.h"

#include <c10/util/Exception.h>

#include <cmath>
#include <iomanip>
#include <sstream>

#include "joule/data/idx.h"
#include "joule/eval/ood.h"
#include "joule/io/plot.h"

namespace joule::eval {
namespace {

std::string pct(double v) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(2) << 100.0 * v << "%";
  return os.str();
}

std::string num(double v, int digits = 4) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(digits) << v;
  return os.str();
}

const char* score_label(const std::string& key) {
  if (key == "logpx") return "log p(x)";
  if (key == "maxprob") return "max p(y|x)";
  return "-|grad log p(x)|";
}

}  // namespace

std::vector<std::string> ood_set_names() { return {"uniform", "gaussian", "vflip", "hflip", "invert", "constant", "mnist"}; }

ClassifierEvalInputs make_classifier_eval_inputs(const at::Tensor& test_x, const at::Tensor& test_y,
                                                 const ClassifierEvalOptions& options, at::Generator gen) {
  ClassifierEvalInputs in;
  const double data_noise = options.data_noise();
  auto noisy = [&](const at::Tensor& x) {
    return data_noise > 0 ? x + at::empty_like(x).normal_(0.0, data_noise, gen) : x;
  };
  in.x = noisy(test_x);
  in.y = test_y;
  const int64_t n = std::min<int64_t>(options.ood_n(), test_x.size(0));
  in.in_dist = in.x.narrow(0, 0, n);
  if (!options.images()) return in;  // OOD sets are defined for images only
  auto pixels = test_x.narrow(0, 0, n).add(1.0).mul(0.5);  // model space [−1, 1] -> [0, 1]
  for (const auto& name : options.ood_sets()) {
    at::Tensor p;
    if (name == "uniform") {
      p = at::empty_like(pixels).uniform_(0.0, 1.0, gen);
    } else if (name == "gaussian") {
      p = at::empty_like(pixels).normal_(0.5, 0.25, gen).clamp_(0.0, 1.0);
    } else if (name == "vflip") {
      p = pixels.flip({2});
    } else if (name == "hflip") {
      p = pixels.flip({3});
    } else if (name == "invert") {
      p = 1.0 - pixels;
    } else if (name == "constant") {
      std::vector<int64_t> shape{n, 1, 1, 1};
      p = at::empty(shape, pixels.options()).uniform_(0.0, 1.0, gen).expand_as(pixels).contiguous();
    } else if (name == "mnist") {
      const std::string& dir = options.ood_mnist_dir();
      TORCH_CHECK(!dir.empty(), "eval.ood_sets lists mnist, which needs eval.ood_mnist_dir = <folder with t10k-*-idx*-ubyte>");
      auto m = data::load_mnist_split(dir, "t10k").images;
      TORCH_CHECK(m.sizes().slice(1) == pixels.sizes().slice(1), "MNIST images in '", dir,
                  "' have shape [1, 28, 28], which does not match this model's inputs");
      p = m.narrow(0, 0, std::min<int64_t>(n, m.size(0)));
    } else {
      std::string known;
      for (const auto& k : ood_set_names()) known += (known.empty() ? "" : ", ") + k;
      TORCH_CHECK(false, "unknown OOD set '", name, "' in eval.ood_sets (known: ", known, ")");
    }
    in.ood.emplace_back(name, noisy(p.mul(2.0).sub(1.0)));
  }
  return in;
}

ClassifierEvalResult evaluate_classifier(ClassifierEnergyImpl& model, const ClassifierEvalInputs& inputs, double readout_t,
                                         int64_t batch_size) {
  ClassifierEvalResult r;
  auto test = classifier_scores(model, inputs.x, batch_size, /*with_grad=*/false);
  r.acc = accuracy(test.probs, inputs.y);
  r.nll = negative_log_likelihood(test.probs, inputs.y);
  r.bins = reliability_bins(test.probs, inputs.y, 10);
  r.ece = expected_calibration_error(r.bins);
  r.brier = brier_score(test.probs, inputs.y);
  r.logpx_mean = test.log_px.mean().item<double>() / readout_t;
  if (inputs.ood.empty()) return r;
  r.in_scores = classifier_scores(model, inputs.in_dist, batch_size, /*with_grad=*/true);
  for (const auto& set : inputs.ood) {
    auto s = classifier_scores(model, set.second, batch_size, /*with_grad=*/true);
    r.auroc.emplace_back(set.first + ".logpx", auroc(r.in_scores.log_px, s.log_px));
    r.auroc.emplace_back(set.first + ".maxprob", auroc(r.in_scores.max_prob, s.max_prob));
    r.auroc.emplace_back(set.first + ".gradnorm", auroc(r.in_scores.neg_grad_norm, s.neg_grad_norm));
    r.ood_scores.emplace_back(set.first, std::move(s));
  }
  return r;
}

void add_classifier_lines(Report& report, const ClassifierEvalResult& r, const std::string& prefix, double readout_t) {
  report.add(prefix + "test_acc", r.acc, "test accuracy (inputs with JEM's sigma noise)");
  report.add(prefix + "test_nll", r.nll, "mean -log p(y|x) on the test set");
  report.add(prefix + "ece", r.ece, "expected calibration error, 10 equal-width bins");
  report.add(prefix + "brier", r.brier, "multi-class Brier score");
  report.add(prefix + "logpx_test_mean", r.logpx_mean,
             "mean log p~(x) = logsumexp f / T on test inputs, T = " + num(readout_t, 6) + " (unnormalised)");
  for (const auto& a : r.auroc) {
    const auto dot = a.first.find('.');
    report.add(prefix + "auroc." + a.first, a.second,
               "OOD AUROC, in = test, out = " + a.first.substr(0, dot) + ", score " + score_label(a.first.substr(dot + 1)));
  }
}

std::string classifier_table(const ClassifierEvalResult& r, const std::string& name, const ClassifierEvalResult* b,
                             const std::string& bname) {
  std::ostringstream os;
  os << "| metric | " << name << (b ? " | " + bname : "") << " |\n|---|---" << (b ? "|---" : "") << "|\n";
  auto row = [&](const std::string& label, const std::string& v, const std::string& bv) {
    os << "| " << label << " | " << v << (b ? " | " + bv : "") << " |\n";
  };
  row("test accuracy", pct(r.acc), b ? pct(b->acc) : "");
  row("test NLL", num(r.nll), b ? num(b->nll) : "");
  row("ECE (10 bins)", pct(r.ece), b ? pct(b->ece) : "");
  row("Brier score", num(r.brier), b ? num(b->brier) : "");
  for (size_t i = 0; i < r.auroc.size(); ++i) {
    const auto& key = r.auroc[i].first;
    const auto dot = key.find('.');
    std::string bv;
    if (b) {
      for (const auto& x : b->auroc) if (x.first == key) bv = num(x.second, 3);
    }
    row("AUROC " + key.substr(0, dot) + ", " + score_label(key.substr(dot + 1)), num(r.auroc[i].second, 3), bv);
  }
  return os.str();
}

io::Image reliability_diagram(const std::vector<ReliabilityBin>& bins, double ece, const std::string& title,
                              int64_t size) {
  io::Canvas c(size, size);
  const int64_t left = 48, right = 12, top = 28, bottom = 40;
  const int64_t w = size - left - right, h = size - top - bottom;
  auto px = [&](double v) { return left + static_cast<int64_t>(std::lround(v * w)); };
  auto py = [&](double v) { return top + h - static_cast<int64_t>(std::lround(v * h)); };
  for (double t = 0; t <= 1.0001; t += 0.2) {
    c.draw_line(px(t), top, px(t), top + h, io::colors::light_gray);
    c.draw_line(left, py(t), left + w, py(t), io::colors::light_gray);
    const std::string label = io::format_number(t, 2);
    c.draw_text(px(t) - io::Canvas::text_width(label) / 2, top + h + 6, label, io::colors::black);
    c.draw_text(left - 6 - io::Canvas::text_width(label), py(t) - 3, label, io::colors::black);
  }
  for (const auto& b : bins) {
    if (b.count == 0) continue;
    const int64_t x0 = px(b.lower) + 1, x1 = px(b.upper) - 1;
    // Accuracy bar, and the gap to the bin's mean confidence in red.
    c.fill_rect(x0, py(b.accuracy), x1 - x0, py(0) - py(b.accuracy), io::colors::blue, 0.85);
    const double lo = std::min(b.accuracy, b.confidence), hi = std::max(b.accuracy, b.confidence);
    c.fill_rect(x0, py(hi), x1 - x0, std::max<int64_t>(1, py(lo) - py(hi)), io::colors::red, 0.35);
  }
  c.draw_line(px(0), py(0), px(1), py(1), io::colors::gray, 1, 4);
  // Legend, top left inside the frame.
  c.fill_rect(left + 8, top + 8, 10, 8, io::colors::blue, 0.85);
  c.draw_text(left + 22, top + 8, "accuracy", io::colors::black);
  c.fill_rect(left + 8, top + 22, 10, 8, io::colors::red, 0.35);
  c.draw_text(left + 22, top + 22, "gap to mean confidence", io::colors::black);
  c.draw_rect(left, top, w + 1, h + 1, io::colors::black);
  const std::string t = title + "  ECE " + num(100 * ece, 2) + "%";
  c.draw_text(left, 8, t, io::colors::black);
  c.draw_text(left + w / 2 - io::Canvas::text_width("confidence") / 2, size - 14, "confidence", io::colors::black);
  c.draw_text_vertical(4, top + h / 2 - io::Canvas::text_width("accuracy") / 2, "accuracy", io::colors::black);
  return c.release();
}

io::Image roc_panels(const ClassifierEvalResult& r, const ClassifierEvalResult* baseline) {
  std::vector<io::Image> panels;
  const std::vector<std::string> keys{"logpx", "maxprob", "gradnorm"};
  for (size_t s = 0; s < r.ood_scores.size(); ++s) {
    const auto& name = r.ood_scores[s].first;
    std::vector<io::Series> series;
    auto add = [&](const ClassifierScores& in, const ClassifierScores& out, const std::string& suffix, bool dashed) {
      const at::Tensor* pairs[3][2] = {{&in.log_px, &out.log_px}, {&in.max_prob, &out.max_prob},
                                       {&in.neg_grad_norm, &out.neg_grad_norm}};
      for (int k = 0; k < 3; ++k) {
        auto roc = roc_curve(*pairs[k][0], *pairs[k][1]);
        series.push_back({std::string(score_label(keys[k])) + suffix, roc.fpr, roc.tpr, io::palette(k), dashed});
      }
    };
    add(r.in_scores, r.ood_scores[s].second, "", false);
    if (baseline) {
      for (const auto& bs : baseline->ood_scores) {
        if (bs.first == name) add(baseline->in_scores, bs.second, " (baseline)", true);
      }
    }
    series.push_back({"chance", {0.0, 1.0}, {0.0, 1.0}, io::colors::gray, true});
    panels.push_back(io::line_plot(series, "ROC: test vs " + name, "false positive rate", "true positive rate", 420, 420));
  }
  // Three panels per row.
  std::vector<io::Image> rows;
  for (size_t i = 0; i < panels.size(); i += 3) {
    rows.push_back(io::hstack(std::vector<io::Image>(panels.begin() + i, panels.begin() + std::min(panels.size(), i + 3))));
  }
  return rows.empty() ? io::Image() : io::vstack(rows);
}

}  // namespace joule::eval
