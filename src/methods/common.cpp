#include "joule/methods/common.h"

#include <unistd.h>

#include <cmath>
#include <iomanip>
#include <sstream>

#include "joule/io/plot.h"
#include "joule/samplers/langevin.h"
#include "joule/samplers/mala.h"
#include "joule/train/callbacks.h"

namespace joule::methods {

using config::ConfigError;
using config::Doc;

void RunConfig::visit(config::Fields& f) {
  f("seed", seed, Doc("seed of every random stream (data, init, chains)").min(0).alias("seed"));
  f("device", device, Doc("cpu, cuda, cuda:N or auto (CUDA when available)").alias("device"));
  f("threads", threads,
    Doc("LibTorch CPU threads; 0 = OMP_NUM_THREADS if set, else one per available core. OpenBLAS always runs on one "
        "(docs/benchmarks.md)")
        .min(0)
        .max(1024)
        .alias("threads"));
  f("name", name, Doc("run name; default: the config file's name, or 'default'").alias("name"));
  f("out", out, Doc("run folder; default runs/<name>-<date>-<time>. An existing non-empty folder is never overwritten").alias("out"));
  f("tensorboard", tensorboard,
    "write TensorBoard event files in the run folder: metrics, weight histograms, config, evaluation, pictures");
  f("progress", progress,
    Doc("progress display: a bar on a terminal, plain lines otherwise").choices({"auto", "bar", "lines", "none"}).alias("progress"));
}

void OptimizerConfig::visit(config::Fields& f, bool cadence) {
  f("optimizer", optimizer, Doc("optimizer").choices({"adam", "sgd"}));
  f("lr", lr, Doc("learning rate").min(1e-12));
  f("lr_schedule", lr_schedule,
    Doc("learning rate over the run (linear/cosine decay to 0 at the last step; step: x decay_rate at each milestone)")
        .choices({"constant", "linear", "cosine", "step"}));
  f("warmup_steps", warmup_steps, Doc("linear learning-rate warm-up steps").min(0));
  f("beta1", beta1, Doc("Adam β₁ (0 is common for EBMs)").min(0.0).max(0.999999));
  f("beta2", beta2, Doc("Adam β₂").min(0.0).max(0.999999));
  f("momentum", momentum, Doc("SGD momentum").min(0.0));
  f("weight_decay", weight_decay, Doc("L2 weight decay").min(0.0));
  f("grad_clip_norm", grad_clip_norm, Doc("clip the gradient norm (0 = off)").min(0.0));
  f("milestones", milestones, Doc("lr_schedule = step: steps at which the rate is multiplied by decay_rate (empty: 80% and 90% of train.steps)").min(1));
  f("decay_rate", decay_rate, Doc("lr_schedule = step: the factor at each milestone").min(1e-12));
  if (cadence) {
    f("updates", updates, Doc("updates of this group per training step").min(1));
    f("every", every, Doc("update this group on every n-th training step").min(1));
    f("fresh_batches", fresh_batches, "each update draws its own batch (else the step's batch)");
  }
}

train::OptimizerOptions OptimizerConfig::options() const {
  return train::OptimizerOptions()
      .kind(train::parse_optimizer(optimizer))
      .lr(lr)
      .lr_schedule(train::parse_lr_schedule(lr_schedule))
      .warmup_steps(warmup_steps)
      .beta1(beta1)
      .beta2(beta2)
      .momentum(momentum)
      .weight_decay(weight_decay)
      .grad_clip_norm(grad_clip_norm)
      .milestones(milestones)
      .decay_rate(decay_rate)
      .updates(updates)
      .every(every)
      .fresh_batches(fresh_batches);
}

void TrainConfig::visit(config::Fields& f) {
  f("steps", steps, Doc("optimisation steps").min(0));
  f("batch_size", batch_size, Doc("minibatch size").min(1));
  optimizer.visit(f, /*cadence=*/false);
  f("energy_bound", energy_bound, Doc("divergence guard: stop if |mean energy| exceeds this").min(1e-12));
  f("loss_bound", loss_bound, Doc("divergence guard: stop if |loss| exceeds this").min(1e-12));
  f("max_restarts", max_restarts, Doc("on divergence, restart from the last good checkpoint this many times").min(0));
  f("restart_lr_factor", restart_lr_factor, Doc("learning-rate factor applied at each restart").min(1e-6).max(1.0));
  f("checkpoint_every", checkpoint_every, Doc("steps between checkpoints (the last good state)").min(1));
  f("snapshot_every", snapshot_every,
    Doc("steps between kept copies of the training state, snapshots/step-NNNNNNN.pt in the run folder, each "
        "evaluable with joule eval (0 = none; checkpoint.pt is overwritten)")
        .min(0));
  f("log_every", log_every, Doc("steps between metrics.jsonl lines").min(1));
  f("eval_every", eval_every, Doc("steps between evaluations (0 = only at the end)").min(0));
  f("on_degrade", on_degrade,
    Doc("when the periodic held-out metric (test NLL, accuracy, pseudo-likelihood) falls far below its best "
        "(checkpoint-best.pt keeps the best state): warn, or stop training there")
        .choices({"warn", "stop"}));
  f("resume", resume, "run folder or checkpoint to continue (its config is reused)");
  f("init_from", init_from,
    "warm start: a run folder or checkpoint whose module weights this new run starts from (optimizer, chains and "
    "step count start fresh; e.g. a trained classifier for JEM)");
  f("init_modules", init_modules, "the modules init_from loads, e.g. [\"model\"] (empty: all of this method's modules)");
}

train::TrainerOptions TrainConfig::options(uint64_t seed) const {
  return train::TrainerOptions()
      .steps(steps)
      .batch_size(batch_size)
      .energy_bound(energy_bound)
      .loss_bound(loss_bound)
      .max_restarts(max_restarts)
      .restart_lr_factor(restart_lr_factor)
      .seed(seed);
}

void SamplerConfig::visit(config::Fields& f) {
  f("kind", kind, Doc("the MCMC").choices({"langevin", "mala", "hmc"}));
  f("steps", steps, Doc("transitions per sampler call (per training step for negatives)").min(0));
  f("step_size", step_size, Doc("Langevin/MALA step a, HMC leapfrog step").min(1e-12));
  f("noise", noise,
    Doc("Langevin noise std b; -1 = sqrt(2a) (proper ULA, temperature 1). JEM uses a=1, b=0.01").min(-1.0));
  f("grad_clip", grad_clip, Doc("clip each score element to ±value (0 = off)").min(0.0));
  f("clamp_min", clamp_min, Doc("clamp states from below (-inf = off)").allow_inf());
  f("clamp_max", clamp_max, Doc("clamp states from above (inf = off)").allow_inf());
  f("leapfrog_steps", leapfrog_steps, Doc("HMC leapfrog steps per transition").min(1));
}

std::shared_ptr<Sampler> SamplerConfig::build(const std::string& section) const {
  const std::string at = section + ".";
  if (kind == "mala" || kind == "hmc") {
    // Langevin's knobs would be silently ignored: MALA and HMC are exact samplers whose noise is
    // fixed by the step, and clipping or clamping would break their Metropolis correction.
    std::string set;
    auto note = [&](bool on, const std::string& key) {
      if (on) set += std::string(set.empty() ? "" : ", ") + key;
    };
    note(noise != -1.0, at + "noise");
    note(grad_clip > 0, at + "grad_clip");
    note(std::isfinite(clamp_min), at + "clamp_min");
    note(std::isfinite(clamp_max), at + "clamp_max");
    if (!set.empty())
      throw ConfigError(set + " only appl" + (set.find(',') == std::string::npos ? "ies" : "y") +
                        " to " + at + "kind = \"langevin\": " + kind +
                        " is an exact sampler (its noise is set by the step; clipping or clamping would break its "
                        "Metropolis correction). Use " + at + "kind=langevin, or reset them (" + at + "noise=-1 " + at +
                        "grad_clip=0 " + at + "clamp_min=-inf " + at + "clamp_max=inf)");
  }
  if (kind == "mala") return std::make_shared<Mala>(MalaOptions(steps).step_size(step_size));
  if (kind == "hmc") return std::make_shared<Hmc>(HmcOptions(steps).step_size(step_size).leapfrog_steps(leapfrog_steps));
  auto opts = LangevinOptions(steps).step_size(step_size).noise(noise < 0 ? std::sqrt(2.0 * step_size) : noise);
  if (grad_clip > 0) opts.grad_clip(grad_clip);
  if (std::isfinite(clamp_min) || std::isfinite(clamp_max)) {
    if (!(clamp_min < clamp_max)) throw ConfigError(at + "clamp_min must be < " + at + "clamp_max");
    opts.clamp(std::make_pair(clamp_min, clamp_max));
  }
  return std::make_shared<Langevin>(opts);
}

SamplerConfig SamplerConfig::jem() {
  SamplerConfig s;
  s.steps = 20;
  s.step_size = 1.0;
  s.noise = 0.01;
  return s;
}

void BufferConfig::visit(config::Fields& f) {
  f("capacity", capacity, Doc("persistent chains kept (PCD)").min(1));
  f("reinit_prob", reinit_prob, Doc("probability a drawn chain restarts from the init distribution").min(0.0).max(1.0));
  f("init", init,
    Doc("where fresh chains start (class_gaussian: JEM++'s informative init, a Gaussian per class fitted to the "
        "labelled training data)")
        .choices({"uniform", "gaussian", "data", "class_gaussian"}));
  f("init_low", init_low, "uniform init lower bound");
  f("init_high", init_high, "uniform init upper bound");
  f("init_std", init_std, Doc("gaussian init std").min(1e-12));
  f("data_noise", data_noise, Doc("std of noise added to data-initialised chains").min(0.0));
  f("policy", policy,
    Doc("in_place: fixed chains written back where drawn (PCD, JEM); fifo / reservoir: a growing store of finished "
        "chains, the oldest or a uniform random one replaced when full (IGEBM, improved CD)")
        .choices({"in_place", "fifo", "reservoir"}));
  f("storage_bits", storage_bits,
    Doc("32: float states; 8: one byte per value in [quantize_low, quantize_high], dequantised with uniform noise on "
        "read (improved CD's uint8 buffer)")
        .min(8)
        .max(32));
  f("quantize_low", quantize_low, "8-bit storage: the lowest value stored (values are clamped into the range)");
  f("quantize_high", quantize_high, "8-bit storage: the highest value stored");
}

std::shared_ptr<ReplayBuffer> BufferConfig::build(std::vector<int64_t> event_shape, torch::Device device,
                                                  bool labelled) const {
  if (!(init_low < init_high)) throw ConfigError("buffer.init_low must be < buffer.init_high");
  if (init == "class_gaussian" && !labelled) {
    throw ConfigError("buffer.init = class_gaussian fits a Gaussian per class, but this method's data have no labels; "
                      "use uniform, gaussian or data");
  }
  // The buffer is allocated at once: refuse a size beyond the machine before allocating it.
  double bytes = (storage_bits == 8 ? 1.0 : 4.0) * static_cast<double>(capacity);
  for (int64_t d : event_shape) bytes *= static_cast<double>(d);
  const double physical = static_cast<double>(::sysconf(_SC_PHYS_PAGES)) * static_cast<double>(::sysconf(_SC_PAGESIZE));
  if (device.is_cpu() && physical > 0 && bytes > 0.8 * physical) {
    std::ostringstream os;
    os << "buffer.capacity = " << capacity << " needs " << std::setprecision(3) << bytes / (1ull << 30)
       << " GiB for its chains, more than this machine's " << physical / (1ull << 30) << " GiB of memory; lower it";
    throw ConfigError(os.str());
  }
  auto opts = ReplayBufferOptions(capacity)
                  .reinit_prob(reinit_prob)
                  .init(parse_buffer_init(init))
                  .init_low(init_low)
                  .init_high(init_high)
                  .init_std(init_std)
                  .data_noise(data_noise)
                  .policy(parse_buffer_policy(policy))
                  .storage_bits(storage_bits)
                  .quantize_low(quantize_low)
                  .quantize_high(quantize_high);
  if (storage_bits != 8 && storage_bits != 32) {
    throw ConfigError("buffer.storage_bits must be 8 or 32, got " + std::to_string(storage_bits));
  }
  if (storage_bits == 8 && !(quantize_low < quantize_high)) throw ConfigError("buffer.quantize_low must be < buffer.quantize_high");
  return std::make_shared<ReplayBuffer>(opts, std::move(event_shape), device);
}

BufferConfig BufferConfig::jem() {
  BufferConfig b;
  b.init_low = -1.0;
  b.init_high = 1.0;
  return b;
}

void SampleConfig::visit(config::Fields& f) {
  f("seed", seed, Doc("seed of the sampling chains").min(0));
  f("n", n, Doc("number of samples").min(1));
  f("steps", steps, Doc("sampler steps from the initial states").min(0));
  f("init", init, Doc("start from the persistent chains (if any) or from fresh noise").choices({"buffer", "noise"}));
  f("out", out, "output prefix; default <run>/samples-step<N>");
}

void ClassSampleConfig::visit(config::Fields& f) {
  SampleConfig::visit(f);
  f("class", label, Doc("class of class-conditional samples (-1 = unconditional)").min(-1));
}

void check_batch_size(int64_t batch_size, int64_t available, const std::string& what) {
  if (batch_size > available) {
    throw ConfigError("train.batch_size = " + std::to_string(batch_size) + " exceeds the " + std::to_string(available) + " " +
                      what);
  }
}

bool write_curves(const std::string& metrics_path, const std::string& png_path, const std::vector<CurvePanel>& panels) {
  const auto rows = train::MetricsLogger::read(metrics_path);
  std::vector<io::Image> images;
  for (const auto& panel : panels) {
    std::vector<io::Series> series;
    for (size_t i = 0; i < panel.series.size(); ++i) {
      io::Series s{panel.series[i].second, {}, {}, io::palette(int64_t(i))};
      for (const auto& row : rows) {
        for (const auto& kv : row.values) {
          if (kv.first == panel.series[i].first && std::isfinite(kv.second)) {
            s.x.push_back(double(row.step));
            s.y.push_back(kv.second);
          }
        }
      }
      if (!s.x.empty()) series.push_back(std::move(s));
    }
    if (series.empty()) continue;
    std::vector<io::RefLine> refs;
    if (panel.reference) {
      refs.push_back({panel.reference->first, panel.reference->second, io::palette(int64_t(panel.series.size()))});
    }
    images.push_back(io::line_plot(series, panel.title, "step", panel.ylabel, 560, 380, false, refs));
  }
  if (images.empty()) return false;
  io::write_png(png_path, io::hstack(images));
  return true;
}

}  // namespace joule::methods
