#include "joule/eval/protocols/robustness.h"

#include <c10/util/Exception.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

#include "joule/core/energy.h"
#include "joule/core/runtime.h"
#include "joule/io/plot.h"

namespace joule::eval {

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::string curve_key(const RobustnessCurve& c) { return c.norm + ".k" + std::to_string(c.defence_steps); }

std::string eps_label(double e) { return io::format_number(e, 3); }

std::string losses_name(const std::vector<AttackLoss>& losses) {
  std::string s;
  for (auto l : losses) s += (s.empty() ? "" : "+") + std::string(l == AttackLoss::kCrossEntropy ? "ce" : "margin");
  return s;
}

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double a : v) s += a;
  return v.empty() ? 0.0 : s / static_cast<double>(v.size());
}

double sd(const std::vector<double>& v) {
  if (v.size() < 2) return 0.0;
  const double m = mean(v);
  double s = 0;
  for (double a : v) s += (a - m) * (a - m);
  return std::sqrt(s / static_cast<double>(v.size() - 1));
}

}  // namespace

RobustnessResult evaluate_robustness(ClassifierEnergyImpl& model, const std::string& name, const at::Tensor& x,
                                     const at::Tensor& y, const RobustnessOptions& o) {
  TORCH_CHECK(x.dim() >= 2 && y.dim() == 1 && x.size(0) == y.size(0), "evaluate_robustness: inputs [N, ...] and labels [N] needed");
  TORCH_CHECK(o.n() >= 1 && o.defence_n() >= 1 && o.seeds() >= 1, "evaluate_robustness: n, defence_n and seeds must be >= 1");
  TORCH_CHECK(o.attack() == "pgd" || o.attack() == "fgsm", "unknown attack '", o.attack(), "'; expected pgd or fgsm");
  TORCH_CHECK(o.input_scale() > 0, "evaluate_robustness: input_scale must be > 0");
  TORCH_CHECK(!o.losses().empty(), "evaluate_robustness: no attack loss given");
  for (const auto& nrm : o.norms()) attack_norm_from_string(nrm);
  EvalModeGuard eval_mode(model);
  FrozenParameters frozen(model);  // the attacks need gradients for inputs only

  RobustnessResult result;
  result.model = name;
  result.classes = model.num_classes();
  result.losses = o.losses();
  const int64_t n = std::min<int64_t>(o.n(), x.size(0));
  const auto xs = x.slice(0, 0, n);
  const auto ys = y.slice(0, 0, n);
  {
    at::NoGradGuard no_grad;
    int64_t right = 0;
    for (int64_t b = 0; b < n; b += 256) {
      const int64_t e = std::min(n, b + 256);
      right += model.logits(xs.slice(0, b, e)).argmax(1).eq(ys.slice(0, b, e)).sum().item<int64_t>();
    }
    result.clean_acc = static_cast<double>(right) / static_cast<double>(n);
  }

  for (int64_t k : o.defence_steps()) {
    TORCH_CHECK(k >= 0, "defence steps must be >= 0, got ", k);
    const bool defended = k > 0;
    const int64_t m = defended ? std::min<int64_t>(o.defence_n(), x.size(0)) : n;
    const auto xm = x.slice(0, 0, m);
    const auto ym = y.slice(0, 0, m);
    auto defence_opts = SgldDefenceOptions()
                            .steps(k)
                            .chains(defended ? o.defence_chains() : 1)
                            .step_size(o.defence_step_size())
                            .noise(o.defence_noise())
                            .range(o.range())
                            .gradient(o.defence_gradient());
    SgldDefence defence(model, defence_opts, make_generator(derive_seed(o.seed(), 900 + static_cast<uint64_t>(k)), x.device()));
    LogitsFn f = defended ? defence.as_logits_fn() : LogitsFn([&model](const at::Tensor& in) { return model.logits(in); });
    {
      at::NoGradGuard no_grad;
      const int64_t timed = std::min<int64_t>(m, 64);
      const auto t0 = std::chrono::steady_clock::now();
      f(xm.slice(0, 0, timed));
      result.seconds_per_image.emplace_back(k, seconds_since(t0) / static_cast<double>(timed));
    }
    // Inputs attacked at once: the defended graph holds chains × K copies of the network's.
    const int64_t batch = defended ? std::max<int64_t>(8, 512 / (o.defence_chains() * std::max<int64_t>(1, k / 2))) : 500;
    const int64_t steps = o.attack() == "fgsm" ? 1 : (defended ? o.defence_attack_steps() : o.steps());

    auto attack_options = [&](AttackNorm norm, double eps_model, int64_t attack_steps) {
      auto a = o.attack() == "fgsm" ? AttackOptions::fgsm(norm, eps_model) : AttackOptions::pgd(norm, eps_model, attack_steps);
      return a.restarts(o.restarts()).range(o.range()).batch_size(batch).eot_samples(defended ? o.eot_samples() : 1);
    };
    // Robust = correct under the attack of every loss (per input, the worst case).
    auto robust_acc = [&](AttackOptions a, uint64_t stream) {
      at::Tensor robust;
      for (size_t li = 0; li < o.losses().size(); ++li) {
        auto r = pgd_attack(f, xm, ym, a.loss(o.losses()[li]), make_generator(derive_seed(o.seed(), stream + 100000 * li), x.device()));
        robust = robust.defined() ? robust.logical_and(r.correct) : r.correct;
      }
      return robust.to(at::kDouble).mean().item<double>();
    };

    for (const auto& nrm : o.norms()) {
      const auto norm = attack_norm_from_string(nrm);
      RobustnessCurve c;
      c.norm = nrm;
      c.defence_steps = k;
      c.n = m;
      c.attack_steps = steps;
      c.eps = norm == AttackNorm::kLinf ? o.eps_linf() : o.eps_l2();
      TORCH_CHECK(!c.eps.empty(), "evaluate_robustness: no radii for norm ", nrm);
      const auto t0 = std::chrono::steady_clock::now();
      for (size_t i = 0; i < c.eps.size(); ++i) {
        std::vector<double> accs;
        for (int64_t s = 0; s < o.seeds(); ++s) {
          accs.push_back(robust_acc(attack_options(norm, c.eps[i] * o.input_scale(), steps), 100 * (i + 1) + static_cast<uint64_t>(s)));
        }
        c.acc_mean.push_back(mean(accs));
        c.acc_sd.push_back(sd(accs));
        c.acc_seed.push_back(accs);
      }
      c.acc_at_max_eps = c.acc_mean.back();
      if (o.checks() && o.attack() == "pgd") {
        // The middle radius with the first seed's generator, at twice the steps.
        const size_t mid = c.eps.size() / 2;
        c.check_eps = c.eps[mid];
        c.acc_check = c.acc_seed[mid][0];
        c.acc_check_2x = robust_acc(attack_options(norm, c.check_eps * o.input_scale(), 2 * steps), 100 * (mid + 1));
      }
      c.attack_seconds = seconds_since(t0);
      if (o.on_curve()) {
        std::ostringstream msg;
        msg << name << ", " << nrm << ", defence K=" << k << ": accuracy " << io::format_number(c.acc_mean.front(), 3) << " -> "
            << io::format_number(c.acc_mean.back(), 3) << " over " << c.eps.size() << " radii x " << o.seeds() << " seeds, " << m
            << " inputs, " << io::format_number(c.attack_seconds, 3) << " s";
        o.on_curve()(msg.str());
      }
      result.curves.push_back(std::move(c));
    }
  }
  return result;
}

void add_robustness_lines(Report& report, const RobustnessResult& r, const std::string& prefix) {
  const std::string p = prefix + "robust.";
  report.add(p + "clean_acc", r.clean_acc, "accuracy on the attacked inputs without attack or defence");
  for (const auto& [k, s] : r.seconds_per_image) {
    report.add(p + "k" + std::to_string(k) + ".ms_per_image", 1e3 * s,
               k == 0 ? "classifying one input" : "classifying one input through the SGLD refinement");
  }
  for (const auto& c : r.curves) {
    const std::string key = p + curve_key(c);
    for (size_t i = 0; i < c.eps.size(); ++i) {
      report.add(key + ".eps" + eps_label(c.eps[i]), c.acc_mean[i],
                 "robust accuracy (" + losses_name(r.losses) + "), " + std::to_string(c.acc_seed[i].size()) + " attack seeds (sd " +
                     io::format_number(c.acc_sd[i], 2) + "), " + std::to_string(c.n) + " inputs");
    }
    report.add(key + ".acc_at_max_eps", c.acc_at_max_eps,
               c.acc_at_max_eps <= 0.05 ? "falls to ~0 at the largest radius" : "ABOVE 0.05 at the largest radius: gradient masking or too weak an attack");
    if (c.check_eps > 0) {
      const double d = c.acc_check_2x - c.acc_check;
      // Binomial noise of one accuracy estimate on n inputs, as a tolerance for the stochastic case.
      const double se = std::sqrt(std::max(c.acc_check * (1 - c.acc_check), 1.0 / static_cast<double>(c.n)) / static_cast<double>(c.n));
      report.add(key + ".steps2x_change", d,
                 "robust accuracy at eps " + eps_label(c.check_eps) + " with twice the steps minus with the steps; " +
                     (d <= 2 * se ? "not higher: ok" : "HIGHER with more steps: the attack is not converging"));
    }
  }
}

std::string robustness_table(const std::vector<RobustnessResult>& results) {
  std::ostringstream os;
  std::vector<std::string> norms;
  for (const auto& r : results) {
    for (const auto& c : r.curves) {
      if (std::find(norms.begin(), norms.end(), c.norm) == norms.end()) norms.push_back(c.norm);
    }
  }
  for (const auto& nrm : norms) {
    std::vector<double> header;
    for (const auto& r : results) {
      for (const auto& c : r.curves) {
        if (c.norm == nrm && c.eps.size() > header.size()) header = c.eps;
      }
    }
    os << "Robust accuracy, " << (nrm == "linf" ? "L∞" : "L2") << " (mean ± sd over attack seeds; ε in data units)\n\n| model | defence |";
    for (double e : header) os << " ε = " << eps_label(e) << " |";
    os << "\n|---|---|";
    for (size_t i = 0; i < header.size(); ++i) os << "---|";
    os << "\n";
    for (const auto& r : results) {
      for (const auto& c : r.curves) {
        if (c.norm != nrm) continue;
        os << "| " << r.model << " | " << (c.defence_steps == 0 ? std::string("none") : "SGLD K=" + std::to_string(c.defence_steps)) << " |";
        for (size_t i = 0; i < c.eps.size(); ++i) {
          char buf[64];
          std::snprintf(buf, sizeof buf, " %.3f ± %.3f |", c.acc_mean[i], c.acc_sd[i]);
          os << buf;
        }
        os << "\n";
      }
    }
    os << "\n";
  }
  return os.str();
}

std::string robustness_json(const std::vector<RobustnessResult>& results, const RobustnessOptions& o) {
  nlohmann::ordered_json j;
  j["attack"] = {{"kind", o.attack()},
                 {"loss", losses_name(o.losses())},
                 {"steps", o.steps()},
                 {"restarts", o.restarts()},
                 {"seeds", o.seeds()},
                 {"input_scale", o.input_scale()},
                 {"defence_chains", o.defence_chains()},
                 {"defence_step_size", o.defence_step_size()},
                 {"defence_noise", o.defence_noise()},
                 {"defence_gradient", o.defence_gradient() == RefinementGradient::kThrough ? "through" : "identity"},
                 {"defence_attack_steps", o.defence_attack_steps()},
                 {"eot_samples", o.eot_samples()}};
  auto models = nlohmann::ordered_json::array();
  for (const auto& r : results) {
    nlohmann::ordered_json m;
    m["model"] = r.model;
    m["clean_acc"] = r.clean_acc;
    auto cost = nlohmann::ordered_json::object();
    for (const auto& [k, s] : r.seconds_per_image) cost["k" + std::to_string(k)] = s;
    m["seconds_per_image"] = cost;
    auto curves = nlohmann::ordered_json::array();
    for (const auto& c : r.curves) {
      curves.push_back({{"norm", c.norm},
                        {"defence_steps", c.defence_steps},
                        {"n", c.n},
                        {"attack_steps", c.attack_steps},
                        {"eps", c.eps},
                        {"acc_mean", c.acc_mean},
                        {"acc_sd", c.acc_sd},
                        {"acc_seed", c.acc_seed},
                        {"acc_at_max_eps", c.acc_at_max_eps},
                        {"check_eps", c.check_eps},
                        {"acc_check", c.acc_check},
                        {"acc_check_2x_steps", c.acc_check_2x},
                        {"attack_seconds", c.attack_seconds}});
    }
    m["curves"] = curves;
    models.push_back(m);
  }
  j["models"] = models;
  return j.dump(2) + "\n";
}

io::Image robustness_plot(const std::vector<RobustnessResult>& results) {
  std::vector<std::string> norms;
  for (const auto& r : results) {
    for (const auto& c : r.curves) {
      if (std::find(norms.begin(), norms.end(), c.norm) == norms.end()) norms.push_back(c.norm);
    }
  }
  std::vector<io::Image> panels;
  for (const auto& nrm : norms) {
    std::vector<io::Series> series;
    for (size_t i = 0; i < results.size(); ++i) {
      for (const auto& c : results[i].curves) {
        if (c.norm != nrm) continue;
        io::Series s;
        s.name = results[i].model + (c.defence_steps == 0 ? std::string("") : " +SGLD K=" + std::to_string(c.defence_steps));
        s.x = c.eps;
        s.y = c.acc_mean;
        s.color = io::palette(static_cast<int64_t>(i));
        s.dashed = c.defence_steps > 0;
        series.push_back(std::move(s));
      }
    }
    panels.push_back(io::line_plot(series, std::string("PGD robust accuracy, ") + (nrm == "linf" ? "Linf" : "L2"),
                                   "eps (data units)", "accuracy", 560, 420, false, {{"chance", results.empty() || results[0].classes == 0 ? 0.0 : 1.0 / static_cast<double>(results[0].classes),
                                                                          io::colors::gray}}));
  }
  return io::hstack(panels);
}

}  // namespace joule::eval
