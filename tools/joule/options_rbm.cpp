// Options of the RBM method: Bernoulli / Gaussian–Bernoulli RBMs trained with CD-k, PCD or
// parallel tempering on IDX images (Fashion-MNIST by default, MNIST) or a CSV table, evaluated
// with pseudo-likelihood, reconstruction error and exact / AIS log Z.
#include "tools/joule/options.h"

namespace joule::cli {

void register_rbm_options(Registry& r) {
  const std::vector<std::string> train{"train"}, train_eval{"train", "eval"};
  r.extend_choices("method", {"rbm"});
  r.extend_choices("data.dataset", {"fashion-mnist", "mnist"});

  // ---- model
  r.add(only(int_option("rbm.hidden", 256, "rbm: hidden units H", 1), train));
  r.add(only(choice_option("rbm.visible", "bernoulli", {"bernoulli", "gaussian"},
                           "rbm: visible units (gaussian: Gaussian–Bernoulli RBM, E = Σ(v−b)²/2σ² − cᵀh − hᵀW(v/σ²))"),
             train));
  r.add(only(float_option("rbm.sigma", 1.0, "rbm: visible std σ of a Gaussian RBM (initial value if learned)", 1e-6), train));
  r.add(only(bool_option("rbm.learn_sigma", false, "rbm: learn log σ² of Gaussian visibles (Cho et al. 2011)"), train));
  r.add(only(float_option("rbm.init_std", 0.01, "rbm: initial weights N(0, init_std²) (Hinton's guide: 0.01)", 0.0), train));
  r.add(only(bool_option("rbm.init_visible_bias", true,
                         "rbm: start the visible biases at the data's base rates (log p/(1−p); the mean for Gaussian)"),
             train));

  // ---- gradient approximation
  r.add(only(choice_option("rbm.gradient", "pcd", {"cd", "pcd", "pt"},
                           "rbm: cd = CD-k from the data, pcd = persistent chains, pt = parallel tempering"),
             train));
  r.add(only(int_option("rbm.k", 1, "rbm: Gibbs sweeps per update (PT: sweep+swap rounds)", 1), train));
  r.add(only(int_option("rbm.chains", 0, "rbm: persistent chains / PT replica sets (0 = train.batch_size)", 0), train));
  r.add(only(bool_option("rbm.persistent_hidden", false,
                         "rbm: pcd keeps the chains' hidden samples between updates (sklearn's SML; one product fewer)"),
             train));
  r.add(only(int_option("rbm.pt_temperatures", 10, "rbm: parallel tempering temperatures K", 2, 1000), train));
  r.add(only(float_option("rbm.pt_min_beta", 0.0, "rbm: smallest inverse temperature (β evenly spaced from 1)", 0.0, 0.999999),
             train));
  r.add(only(float_option("rbm.sparsity_target", 0.0, "rbm: target mean hidden activation (0 = no sparsity term)", 0.0,
                          0.999999),
             train));
  r.add(only(float_option("rbm.sparsity_cost", 0.0, "rbm: weight of the sparsity term (Hinton's guide §11)", 0.0), train));
  r.add(only(float_option("rbm.sparsity_decay", 0.9, "rbm: decay of the moving average of hidden activations", 0.0,
                          0.999999),
             train));
  r.add(only(int_option("rbm.epochs", 0, "rbm: passes over the training set; sets train.steps (0 = use train.steps)", 0),
             train));

  // ---- data
  r.add(only(choice_option("rbm.binarize", "threshold", {"threshold", "stochastic", "none"},
                           "rbm (Bernoulli): pixels > rbm.threshold -> 1, or one Bernoulli(pixel) draw, or keep [0,1]"),
             train));
  r.add(only(float_option("rbm.threshold", 0.5, "rbm: binarisation threshold on [0, 1] pixels", 0.0, 1.0), train));
  r.add(only(choice_option("rbm.scaling", "standardize", {"standardize", "none"},
                           "rbm (Gaussian): per-feature standardisation fitted on the training split"),
             train));
  r.add(only(int_option("rbm.n_train", 0, "rbm: training images used, the first n of the train split (0 = all)", 0), train));
  r.add(only(int_option("rbm.n_test", 0, "rbm: test images used (0 = all); csv: held-out rows (0 = 20%)", 0), train));
  r.add(only(int_option("rbm.validation", 5000, "rbm: training rows held out for validation (csv: at most 10%)", 0), train));
  r.add(only(string_option("rbm.label_column", "", "rbm, csv: a label column to drop (name or 0-based index; \"\" = none)"),
             train));

  // ---- evaluation
  r.add(only(int_option("eval.ais_runs", 100, "rbm: AIS runs (importance weights) for log Z", 2), train_eval));
  r.add(only(int_option("eval.ais_steps", 5000, "rbm: AIS intermediate distributions (Salakhutdinov & Murray use 14500)", 1),
             train_eval));
  r.add(only(choice_option("eval.ais_schedule", "sm", {"sm", "linear"},
                           "rbm: AIS β spacing (sm: denser near β = 1, as Salakhutdinov & Murray 2008)"),
             train_eval));
  r.add(only(bool_option("eval.ais_reverse", true,
                         "rbm: also run reverse AIS from model samples (an upper estimate; a gap = unreliable AIS)"),
             train_eval));
  r.add(only(choice_option("eval.ais_reverse_from", "forward", {"forward", "chains"},
                           "rbm: reverse AIS starts from the forward runs' final states resampled by weight, or from the "
                           "training chains (PCD/PT; else test rows), either followed by eval.chain_steps Gibbs sweeps"),
             train_eval));
  r.add(only(int_option("eval.exact_max_units", 20,
                        "rbm: compute exact log Z when the smaller layer has at most this many units (2^units states)", 0,
                        30),
             train_eval));
}

}  // namespace joule::cli
