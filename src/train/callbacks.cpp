#include "joule/train/callbacks.h"

#include "joule/io/checkpoint.h"
#include "joule/io/tensorboard.h"

#include <c10/util/Exception.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>

namespace joule::train {
namespace {

// One metrics.jsonl line: non-finite values become null (strict JSON has no NaN or inf).
std::string json_line(int64_t step, const std::vector<std::pair<std::string, double>>& values) {
  nlohmann::ordered_json j;
  j["step"] = step;
  for (const auto& kv : values) {
    if (std::isfinite(kv.second)) {
      j[kv.first] = kv.second;
    } else {
      j[kv.first] = nullptr;
    }
  }
  return j.dump();
}

std::string compact(double v) {
  std::ostringstream os;
  if (std::abs(v) >= 1e5 || (std::abs(v) < 1e-3 && v != 0)) {
    os << std::scientific << std::setprecision(2) << v;
  } else {
    os << std::fixed << std::setprecision(std::abs(v) >= 100 ? 1 : 4) << v;
  }
  return os.str();
}

}  // namespace

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  std::ostringstream os;
  if (seconds < 60) {
    os << std::fixed << std::setprecision(1) << seconds << "s";
  } else if (seconds < 3600) {
    os << int(seconds) / 60 << "m" << std::setw(2) << std::setfill('0') << int(seconds) % 60 << "s";
  } else {
    os << int(seconds) / 3600 << "h" << std::setw(2) << std::setfill('0') << (int(seconds) % 3600) / 60 << "m";
  }
  return os.str();
}

// ------------------------------------------------------------------ MetricsLogger

MetricsLogger::MetricsLogger(std::string path, int64_t every)
    : path_(std::move(path)), every_(every), start_(std::chrono::steady_clock::now()), last_(start_) {
  TORCH_CHECK(every_ > 0, "log interval must be > 0, got ", every_);
}

void MetricsLogger::on_train_begin(Trainer& trainer) {
  const int64_t at = trainer.step_count();
  if (at == 0 || !io::file_exists(path_)) return;
  std::ifstream f(path_);
  std::string line, kept;
  int64_t dropped = 0;
  while (std::getline(f, line)) {
    auto j = nlohmann::ordered_json::parse(line, nullptr, /*allow_exceptions=*/false);
    const bool later = !j.is_discarded() && j.contains("step") && j["step"].is_number_integer() &&
                       j["step"].get<int64_t>() > at;
    if (j.is_discarded() || later) {
      ++dropped;
      continue;
    }
    kept += line + "\n";
  }
  f.close();
  if (dropped == 0) return;
  nlohmann::ordered_json event;
  event["step"] = at;
  event["event"] = "resumed";
  event["dropped_lines"] = dropped;  // logged after the checkpoint by the stopped run
  io::write_text_file(path_, kept + event.dump() + "\n");
}

void MetricsLogger::append_line(const std::string& line) {
  std::ofstream f(path_, std::ios::app);
  TORCH_CHECK(f.good(), "cannot append to metrics file '", path_, "'");
  f << line << "\n";
}

void MetricsLogger::log(int64_t step, const std::vector<std::pair<std::string, double>>& values) {
  append_line(json_line(step, values));
  history_.push_back({step, values});
  if (tensorboard_) {
    tensorboard_->add_scalars(values, step);
    tensorboard_->flush();
  }
}

void MetricsLogger::on_step_end(Trainer& trainer, const StepResult& r) {
  if (r.step % every_ != 0) return;
  const auto now = std::chrono::steady_clock::now();
  const double dt = std::chrono::duration<double>(now - last_).count();
  const int64_t steps = last_step_ < 0 ? every_ : r.step - last_step_;
  std::vector<std::pair<std::string, double>> values{{"loss", r.loss}};
  values.insert(values.end(), r.metrics.begin(), r.metrics.end());
  values.emplace_back("grad_norm", r.grad_norm);
  values.emplace_back("lr", trainer.lr());
  if (trainer.groups().size() > 1) {
    for (const auto& g : r.groups) {
      values.emplace_back("loss." + g.group, g.loss);
      values.emplace_back("grad_norm." + g.group, g.grad_norm);
    }
  }
  values.emplace_back("it_per_s", dt > 0 ? steps / dt : 0.0);
  values.emplace_back("time_s", std::chrono::duration<double>(now - start_).count());
  log(r.step, values);
  last_ = now;
  last_step_ = r.step;
}

void MetricsLogger::on_divergence(Trainer& trainer, const DivergenceError& error, bool restarting) {
  log_divergence(error, restarting);
}

void MetricsLogger::log_divergence(const DivergenceError& error, bool restarting) {
  nlohmann::ordered_json j;
  j["step"] = error.step;
  j["event"] = "divergence";
  j["restarting"] = restarting;
  j["reason"] = error.reason;
  append_line(j.dump());
  if (tensorboard_) {
    tensorboard_->add_text("events", std::string("divergence") + (restarting ? " (restarting)" : "") + ": " + error.reason,
                           error.step);
    tensorboard_->flush();
  }
}

// ------------------------------------------------------------------ TensorBoardHistograms

TensorBoardHistograms::TensorBoardHistograms(std::shared_ptr<io::EventWriter> writer, int64_t every)
    : writer_(std::move(writer)), every_(every) {
  TORCH_CHECK(writer_, "TensorBoardHistograms needs an event writer");
  TORCH_CHECK(every_ > 0, "histogram interval must be > 0, got ", every_);
}

void TensorBoardHistograms::on_step_end(Trainer& trainer, const StepResult& r) {
  // Kept every step (tensor handles only), so the histograms at the end show the last step's.
  distributions_.clear();
  for (const auto& g : r.groups) distributions_.insert(distributions_.end(), g.distributions.begin(), g.distributions.end());
  if (r.step % every_ == 0) write(trainer, r.step);
}

void TensorBoardHistograms::on_train_end(Trainer& trainer) { write(trainer, trainer.step_count()); }

void TensorBoardHistograms::write(Trainer& trainer, int64_t step) {
  if (step == last_) return;
  last_ = step;
  for (const auto& [name, module] : trainer.modules().items()) {
    for (const auto& p : module->named_parameters()) {
      writer_->add_histogram("weights/" + name + "/" + p.key(), p.value(), step);
      if (p.value().grad().defined()) writer_->add_histogram("grads/" + name + "/" + p.key(), p.value().grad(), step);
    }
  }
  for (const auto& [tag, values] : distributions_) {
    if (values.defined() && values.numel() > 0) writer_->add_histogram(tag, values, step);
  }
  writer_->flush();
}

std::vector<MetricsLogger::Row> MetricsLogger::read(const std::string& path) {
  std::vector<Row> rows;
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line)) {
    auto j = nlohmann::ordered_json::parse(line, nullptr, /*allow_exceptions=*/false);
    // Skips a torn last line (a crash mid-write) and event lines (divergences).
    if (!j.is_object() || j.contains("event") || !j.contains("step") || !j["step"].is_number()) continue;
    Row row{j["step"].get<int64_t>(), {}};
    for (const auto& [key, value] : j.items()) {
      if (key == "step") continue;
      row.values.emplace_back(key, value.is_number() ? value.get<double>() : std::nan(""));
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

// ------------------------------------------------------------------ Checkpointer

Checkpointer::Checkpointer(std::string path, int64_t every) : path_(std::move(path)), every_(every) {
  TORCH_CHECK(every_ >= 0, "checkpoint interval must be >= 0 (0 = only at the end), got ", every_);
}

void Checkpointer::on_step_end(Trainer& trainer, const StepResult& r) {
  if (every_ > 0 && r.step % every_ == 0) trainer.save(path_);
}

void Checkpointer::on_train_end(Trainer& trainer) { trainer.save(path_); }

// ------------------------------------------------------------------ Snapshotter

Snapshotter::Snapshotter(std::string dir, int64_t every) : dir_(std::move(dir)), every_(every) {
  TORCH_CHECK(every_ > 0, "snapshot interval must be > 0, got ", every_);
}

std::string Snapshotter::path(int64_t step) const {
  char name[32];
  std::snprintf(name, sizeof(name), "step-%07lld.pt", static_cast<long long>(step));
  return dir_ + "/" + name;
}

void Snapshotter::on_step_end(Trainer& trainer, const StepResult& r) {
  if (r.step % every_ != 0) return;
  if (trainer.is_main_rank()) std::filesystem::create_directories(dir_);
  trainer.save(path(r.step));  // collective in a data-parallel job: every rank's chains, resumable
}

// ------------------------------------------------------------------ ProgressBar

ProgressBar::ProgressBar(std::ostream& os, bool interactive, int64_t line_every)
    : os_(os), interactive_(interactive), line_every_(std::max<int64_t>(1, line_every)) {}

void ProgressBar::on_train_begin(Trainer& trainer) {
  first_step_ = trainer.step_count();
  start_ = last_draw_ = std::chrono::steady_clock::now();
}

void ProgressBar::set_extra(const std::string& name, double value) {
  for (auto& kv : extra_) {
    if (kv.first == name) {
      kv.second = value;
      return;
    }
  }
  extra_.emplace_back(name, value);
}

void ProgressBar::on_step_end(Trainer& trainer, const StepResult& r) {
  if (std::isfinite(r.loss)) {  // a step that skipped the main group has no loss
    ema_loss_ = has_ema_ ? 0.95 * ema_loss_ + 0.05 * r.loss : r.loss;
    has_ema_ = true;
  }
  const auto now = std::chrono::steady_clock::now();
  const int64_t total = trainer.options().steps();
  const bool last = r.step >= total;
  if (interactive_) {
    // Redraw at most ~10 times a second: drawing is not free on a 2-core machine.
    if (!last && std::chrono::duration<double>(now - last_draw_).count() < 0.1) return;
  } else if (!last && r.step % line_every_ != 0) {
    return;
  }
  last_draw_ = now;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double rate = elapsed > 0 ? (r.step - first_step_) / elapsed : 0.0;
  const double eta = rate > 0 ? (total - r.step) / rate : NAN;
  std::ostringstream line;
  if (interactive_) {
    const int width = 28;
    const int filled = total > 0 ? int(width * double(r.step) / double(total)) : width;
    line << "\r[" << std::string(filled, '=') << (filled < width ? ">" : "") << std::string(std::max(0, width - filled - 1), ' ')
         << "] ";
  }
  line << r.step << "/" << total << " loss " << compact(ema_loss_);
  for (const auto& kv : extra_) line << " " << kv.first << " " << compact(kv.second);
  line << " | " << std::fixed << std::setprecision(1) << rate << " it/s | " << format_duration(elapsed) << " elapsed, ETA "
       << format_duration(eta);
  if (interactive_) {
    os_ << line.str() << "\x1b[K" << std::flush;
  } else {
    os_ << line.str() << std::endl;
  }
}

void ProgressBar::on_divergence(Trainer& trainer, const DivergenceError& error, bool restarting) {
  if (interactive_) os_ << "\n";
  os_ << "divergence guard: " << error.what()
      << (restarting ? "; restarting from the last good checkpoint with a smaller learning rate" : "") << std::endl;
}

void ProgressBar::on_train_end(Trainer& trainer) {
  if (interactive_) os_ << "\n" << std::flush;
}

// ------------------------------------------------------------------ PeriodicCallback

PeriodicCallback::PeriodicCallback(int64_t every, std::function<void(Trainer&, int64_t)> fn, bool at_end)
    : every_(every), fn_(std::move(fn)), at_end_(at_end) {}

void PeriodicCallback::on_step_end(Trainer& trainer, const StepResult& r) {
  if (every_ > 0 && r.step % every_ == 0) {
    fn_(trainer, r.step);
    last_called_ = r.step;
  }
}

void PeriodicCallback::on_train_end(Trainer& trainer) {
  if (at_end_ && last_called_ != trainer.step_count()) fn_(trainer, trainer.step_count());
}

}  // namespace joule::train
