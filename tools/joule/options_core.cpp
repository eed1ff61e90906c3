// Options shared by every method, and those of the neural-EBM method (CD / PCD on toy data).
#include "tools/joule/options.h"

#include "joule/core/runtime.h"
#include "joule/data/toy2d.h"
#include "joule/models/activation.h"

namespace joule::cli {
namespace {

OptionSpec alias(OptionSpec s, std::string a) {
  s.aliases.push_back(std::move(a));
  return s;
}

}  // namespace

void register_core_options(Registry& r) {
  const std::vector<std::string> train{"train"};
  // ---- general
  r.add(only(choice_option("method", "ebm", {"ebm"}, "what to train: ebm = neural energy with CD/PCD"), train));
  r.add(alias(only(string_option("run.name", "", "run name; default: the config file's name, or 'default'"), train), "name"));
  r.add(alias(only(string_option("run.out", "",
                                 "run folder; default runs/<name>-<date>-<time>. An existing non-empty folder is "
                                 "never overwritten"),
                   train),
              "out"));
  r.add(alias(int_option("run.seed", 0, "seed of every random stream (data, init, chains)", 0), "seed"));
  auto device = string_option("run.device", "auto", "cpu, cuda, cuda:N or auto (CUDA when available)");
  device.validate = [](const std::string& v) -> std::string {
    if (v == "auto" || v == "cpu" || v == "cuda" || v.rfind("cuda:", 0) == 0) return "";
    return "expected cpu, cuda, cuda:N or auto";
  };
  r.add(alias(device, "device"));
  r.add(alias(int_option("run.threads", 0,
                         "LibTorch CPU threads; 0 = OMP_NUM_THREADS if set, else one per available core. "
                         "OpenBLAS always runs on one (docs/benchmarks.md)",
                         0, 1024),
              "threads"));
  r.add(alias(choice_option("run.progress", "auto", {"auto", "bar", "lines", "none"},
                            "progress display: a bar on a terminal, plain lines otherwise"),
              "progress"));

  // ---- data
  auto datasets = data::toy_names();
  datasets.push_back("csv");
  r.add(only(choice_option("data.dataset", "8gaussians", datasets, "training data: a built-in 2-D toy set, or csv (data.path)"),
             train));
  r.add(only(string_option("data.path", "", "data file for data.dataset = csv (numeric columns, optional header)"), train));
  r.add(only(int_option("data.n_train", 50000, "training points drawn once from the generator", 1), train));
  r.add(only(int_option("data.n_test", 5000, "held-out points (fresh seed) for test NLL and MMD", 1), train));

  // ---- model
  r.add(only(choice_option("model.kind", "mlp", {"mlp"}, "energy network"), train));
  r.add(only(int_option("model.width", 128, "hidden units per layer", 1), train));
  r.add(only(int_option("model.depth", 3, "hidden layers", 1, 64), train));
  r.add(only(choice_option("model.activation", "silu", activation_names(), "hidden activation (silu = swish)"), train));
  r.add(only(float_option("model.negative_slope", 0.2, "leaky_relu slope for x < 0", 0.0, 1.0), train));
  r.add(only(bool_option("model.spectral_norm", false, "spectral normalisation of every weight matrix"), train));
  r.add(only(float_option("model.temperature", 1.0, "T in p(x) ∝ exp(−E(x)/T)", 1e-12), train));

  // ---- sampler
  r.add(only(choice_option("sampler.kind", "langevin", {"langevin", "mala", "hmc"}, "MCMC for negative samples"), train));
  r.add(only(int_option("sampler.steps", 20, "transitions per training step", 0), train));
  r.add(only(float_option("sampler.step_size", 0.01, "Langevin/MALA step a, HMC leapfrog step", 1e-12), train));
  r.add(only(float_option("sampler.noise", -1.0,
                          "Langevin noise std b; -1 = sqrt(2a) (proper ULA, temperature 1). JEM uses a=1, b=0.01",
                          -1.0),
             train));
  r.add(only(float_option("sampler.grad_clip", 0.0, "clip each score element to ±value (0 = off)", 0.0), train));
  r.add(only(float_option("sampler.clamp_min", -INFINITY, "clamp states from below (-inf = off)"), train));
  r.add(only(float_option("sampler.clamp_max", INFINITY, "clamp states from above (inf = off)"), train));
  r.add(only(int_option("sampler.leapfrog_steps", 5, "HMC leapfrog steps per transition", 1), train));

  // ---- replay buffer
  r.add(only(int_option("buffer.capacity", 10000, "persistent chains kept (PCD)", 1), train));
  r.add(only(float_option("buffer.reinit_prob", 0.05, "probability a drawn chain restarts from the init distribution",
                          0.0, 1.0),
             train));
  r.add(only(choice_option("buffer.init", "uniform", {"uniform", "gaussian", "data"}, "where fresh chains start"), train));
  r.add(only(float_option("buffer.init_low", -4.0, "uniform init lower bound"), train));
  r.add(only(float_option("buffer.init_high", 4.0, "uniform init upper bound"), train));
  r.add(only(float_option("buffer.init_std", 1.0, "gaussian init std", 1e-12), train));
  r.add(only(float_option("buffer.data_noise", 0.0, "std of noise added to data-initialised chains", 0.0), train));

  // ---- objective
  r.add(only(choice_option("objective.kind", "pcd", {"pcd", "cd"}, "pcd: chains from the replay buffer; cd: CD-k from the data"),
             train));
  r.add(only(float_option("objective.l2_energy", 0.0, "energy penalty α(E⁺² + E⁻²) (IGEBM uses 1)", 0.0), train));
  r.add(only(float_option("objective.init_noise", 0.0, "CD-k: noise std added to the data before sampling", 0.0), train));

  // ---- training
  r.add(only(int_option("train.steps", 4000, "optimisation steps", 0), train));
  r.add(only(int_option("train.batch_size", 256, "minibatch size", 1), train));
  r.add(only(choice_option("train.optimizer", "adam", {"adam", "sgd"}, "optimizer"), train));
  r.add(only(float_option("train.lr", 2e-3, "learning rate", 1e-12), train));
  r.add(only(choice_option("train.lr_schedule", "cosine", {"constant", "linear", "cosine"},
                           "learning rate over the run (linear/cosine decay to 0 at the last step)"),
             train));
  r.add(only(int_option("train.warmup_steps", 0, "linear learning-rate warm-up steps", 0), train));
  r.add(only(float_option("train.beta1", 0.0, "Adam β₁ (0 is common for EBMs)", 0.0, 0.999999), train));
  r.add(only(float_option("train.beta2", 0.999, "Adam β₂", 0.0, 0.999999), train));
  r.add(only(float_option("train.momentum", 0.0, "SGD momentum", 0.0), train));
  r.add(only(float_option("train.weight_decay", 0.0, "L2 weight decay", 0.0), train));
  r.add(only(float_option("train.grad_clip_norm", 0.0, "clip the global gradient norm (0 = off)", 0.0), train));
  r.add(only(float_option("train.energy_bound", 1e4, "divergence guard: stop if |mean energy| exceeds this", 1e-12), train));
  r.add(only(float_option("train.loss_bound", 1e8, "divergence guard: stop if |loss| exceeds this", 1e-12), train));
  r.add(only(int_option("train.max_restarts", 0, "on divergence, restart from the last good checkpoint this many times", 0),
             train));
  r.add(only(float_option("train.restart_lr_factor", 0.5, "learning-rate factor applied at each restart", 1e-6, 1.0),
             train));
  r.add(only(int_option("train.checkpoint_every", 500, "steps between checkpoints (the last good state)", 1), train));
  r.add(only(int_option("train.log_every", 50, "steps between metrics.jsonl lines", 1), train));
  r.add(only(int_option("train.eval_every", 1000, "steps between evaluations (0 = only at the end)", 0), train));
  r.add(only(string_option("train.resume", "", "run folder or checkpoint to continue (its config is reused)"), train));

  // ---- evaluation (train's final report and `joule eval`)
  r.add(only(int_option("eval.grid_resolution", 256, "2-D grid points per axis for log Z by quadrature", 16, 4096),
             {"train", "eval"}));
  r.add(only(float_option("eval.extent", 0.0, "half-width of the square grid; 0 = the dataset's default", 0.0),
             {"train", "eval"}));
  r.add(only(float_option("eval.temperature", 0.0,
                          "temperature for density read-outs; 0 = model T x sampler T (what training matched)", 0.0),
             {"train", "eval"}));
  r.add(only(int_option("eval.n_samples", 2000, "model samples for MMD and pictures", 10), {"train", "eval"}));
  r.add(only(int_option("eval.chain_steps", 500, "sampler steps for fresh chains used in evaluation", 0), {"train", "eval"}));

  // ---- sampling (`joule sample`)
  r.add(only(int_option("sample.n", 1000, "number of samples", 1), {"sample"}));
  r.add(only(int_option("sample.steps", 500, "sampler steps from the initial states", 0), {"sample"}));
  r.add(only(choice_option("sample.init", "buffer", {"buffer", "noise"},
                           "start from the replay buffer (if any) or from the buffer's init distribution"),
             {"sample"}));
  r.add(only(string_option("sample.out", "", "output prefix; default <run>/samples-step<N>"), {"sample"}));
  r.add(only(string_option("eval.out", "", "output file for the report; default <run>/eval-step<N>.json"), {"eval"}));
}

}  // namespace joule::cli
