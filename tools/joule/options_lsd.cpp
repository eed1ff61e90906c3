// Options of the sampling-free objectives (LSD, score matching; docs/methods/score_matching_lsd.md),
// of the ICA method (exact likelihood, for comparing them with maximum likelihood), and of
// `joule gof` (docs/methods/goodness_of_fit.md).
#include "tools/joule/options.h"

namespace joule::cli {

void register_lsd_options(Registry& r) {
  const std::vector<std::string> train{"train"};
  r.extend_choices("method", {"ica"});
  r.extend_choices("objective.kind", {"lsd", "sm", "ssm", "dsm", "mle"});

  // ---- LSD (defaults: LSD:lsd_toy.py)
  r.add(only(float_option("lsd.l2", 10.0, "λ of the critic penalty λ·E‖f‖² (LSD values scale as 1/λ; toy 10, ICA/RBM 0.5)",
                          1e-12),
             train));
  r.add(only(int_option("lsd.critic_steps", 5, "critic ascent steps before each model step", 0), train));
  r.add(only(choice_option("lsd.trace", "hutchinson", {"hutchinson", "exact"},
                           "tr ∇f in training: Hutchinson (cost flat in D) or exact (D backward passes)"),
             train));
  r.add(only(choice_option("lsd.probe", "gaussian", {"gaussian", "rademacher"}, "Hutchinson probe distribution"), train));
  r.add(only(int_option("lsd.probes", 1, "Hutchinson probes per sample", 1), train));
  r.add(only(int_option("lsd.critic_width", 300, "critic hidden units per layer (swish with learned β)", 1), train));
  r.add(only(int_option("lsd.critic_depth", 2, "critic hidden layers", 1, 64), train));
  r.add(only(float_option("lsd.critic_lr", 1e-3, "critic Adam learning rate", 1e-12), train));
  r.add(only(float_option("lsd.critic_beta1", 0.0, "critic Adam β₁", 0.0, 0.999999), train));
  r.add(only(float_option("lsd.critic_beta2", 0.999, "critic Adam β₂", 0.0, 0.999999), train));
  r.add(only(float_option("lsd.critic_weight_decay", 0.0, "critic L2 weight decay", 0.0), train));
  r.add(only(bool_option("lsd.fresh_critic_batches", true,
                         "each critic step draws its own training batch (as LSD's code); false reuses the model's batch"),
             train));

  // ---- score matching
  r.add(only(choice_option("sm.probe", "rademacher", {"rademacher", "gaussian"}, "sliced score matching projections"),
             train));
  r.add(only(int_option("sm.projections", 1, "sliced score matching: projections per sample", 1), train));
  r.add(only(bool_option("sm.variance_reduced", true, "sliced score matching: ½‖s‖² in closed form (SSM-VR)"), train));
  r.add(only(float_option("sm.noise", 0.1, "denoising score matching: noise std σ", 1e-12), train));

  // ---- ICA (LSD:lsd_ica.py)
  r.add(only(int_option("ica.dim", 2, "ICA dimension (data: a random well-conditioned unmixing matrix, logistic sources)",
                        1, 4096),
             train));

  // ---- joule gof
  const std::vector<std::string> gof{"gof"};
  r.add(only(string_option("gof.model", "",
                           "model to test: a checkpoint or run folder, or a built-in density: gaussian "
                           "(N(gof.mean, gof.std²) per coordinate), laplace (location gof.mean, scale gof.std), "
                           "rbm-benchmark (the LSD paper's perturbed 50x40 RBM: gof.rbm_seed, gof.rbm_sigma)"),
             gof));
  r.add(only(string_option("gof.samples", "", "CSV file with one sample per row (numeric columns, optional header)"), gof));
  r.add(only(choice_option("gof.test", "both", {"lsd", "ksd", "both"}, "which test(s) to run"), gof));
  r.add(only(float_option("gof.alpha", 0.05, "level α of the test", 1e-9, 0.999999), gof));
  r.add(only(bool_option("gof.shuffle", true, "shuffle the rows (seeded) before the LSD train/val/test split"), gof));
  r.add(only(string_option("gof.out", "", "write the results as JSON to this file"), gof));
  r.add(only(float_option("gof.mean", 0.0, "built-in gaussian/laplace: location of every coordinate"), gof));
  r.add(only(float_option("gof.std", 1.0, "built-in gaussian: standard deviation; laplace: scale", 1e-12), gof));
  r.add(only(int_option("gof.rbm_seed", 1, "built-in rbm-benchmark: seed of B, b, c and the perturbation", 0), gof));
  r.add(only(float_option("gof.rbm_sigma", 0.0, "built-in rbm-benchmark: std of the perturbation of B", 0.0), gof));
  r.add(only(int_option("gof.ksd_bootstrap", 1000, "KSD: wild-bootstrap draws", 1), gof));
  r.add(only(float_option("gof.ksd_bandwidth", 0.0, "KSD: RBF bandwidth (0 = median heuristic)", 0.0), gof));
  r.add(only(float_option("gof.lsd_train_fraction", 0.8, "LSD: fraction of the rows that trains the critic", 0.01, 0.98), gof));
  r.add(only(float_option("gof.lsd_val_fraction", 0.1, "LSD: fraction that selects the critic (the rest is the test split)",
                          0.01, 0.98),
             gof));
  r.add(only(int_option("gof.lsd_iterations", 1000, "LSD: critic training steps", 1), gof));
  r.add(only(int_option("gof.lsd_batch_size", 800, "LSD: critic minibatch (capped at the training split)", 2), gof));
  r.add(only(int_option("gof.lsd_width", 300, "LSD: critic hidden units", 1), gof));
  r.add(only(int_option("gof.lsd_depth", 2, "LSD: critic hidden layers", 1, 64), gof));
  r.add(only(float_option("gof.lsd_dropout", 0.5, "LSD: critic dropout", 0.0, 0.99), gof));
  r.add(only(float_option("gof.lsd_lr", 1e-3, "LSD: critic Adam learning rate", 1e-12), gof));
  r.add(only(float_option("gof.lsd_weight_decay", 5e-4, "LSD: critic weight decay", 0.0), gof));
  r.add(only(float_option("gof.lsd_l2", 0.5, "LSD: λ of the λ‖f‖² penalty", 0.0), gof));
  r.add(only(int_option("gof.lsd_val_every", 100, "LSD: steps between validations (exact trace)", 1), gof));
  r.add(only(choice_option("gof.lsd_probe", "gaussian", {"gaussian", "rademacher"}, "LSD: Hutchinson probes in training"),
             gof));
}

}  // namespace joule::cli
