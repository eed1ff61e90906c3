// Options of the JEM method (classifier as a joint energy model; docs/methods/jem.md).
// Shared options keep their meaning: sampler.* (SGLD; JEM: step_size 1, noise 0.01, 20 steps),
// buffer.* (replay buffer; JEM: 10000 chains, 5% reinit, U(−1, 1)), objective.l2_energy,
// train.*, model.kind / model.activation / model.width / model.depth (MLP hidden layers).
#include "tools/joule/options.h"

namespace joule::cli {

void register_jem_options(Registry& r) {
  const std::vector<std::string> train{"train"};
  const std::vector<std::string> train_eval{"train", "eval"};
  r.extend_choices("method", {"jem"});
  r.extend_choices("data.dataset", {"fashion-mnist", "mnist", "cifar10", "cifar100", "synthetic-cifar10"});
  r.extend_choices("model.kind", {"cnn", "wrn"});

  // ---- objective (JEM:train_wrn_ebm.py defaults)
  r.add(only(float_option("jem.px_weight", 1.0, "weight of the generative term log p(x) (0 = cross-entropy-only baseline)", 0.0),
             train));
  r.add(only(float_option("jem.py_weight", 1.0, "weight of the cross-entropy term log p(y|x)", 0.0), train));
  r.add(only(float_option("jem.pxy_weight", 0.0,
                          "weight of log p(x|y) with class-conditional chains (class buckets of the buffer)", 0.0),
             train));
  r.add(only(float_option("jem.data_noise", 0.03, "std of Gaussian noise added to training and test inputs (JEM: 0.03)", 0.0),
             train));
  r.add(only(int_option("jem.labels_per_class", -1,
                        "semi-supervised: labelled examples per class (-1 = all labelled); the generative term uses all data",
                        -1),
             train));

  // ---- data
  r.add(only(int_option("jem.n_train", 0, "training examples (0 = all; otherwise a seeded random subset)", 0), train));
  r.add(only(int_option("jem.n_test", 0, "test examples for accuracy and calibration (0 = all)", 0), train));
  r.add(only(string_option("jem.label_column", "-1", "csv: label column (name or 0-based index; -1 = last)"), train));
  r.add(only(float_option("jem.val_fraction", 0.1, "csv: fraction of rows held out for validation", 0.0, 0.9), train));
  r.add(only(float_option("jem.test_fraction", 0.2, "csv: fraction of rows held out for testing", 0.01, 0.9), train));
  r.add(only(int_option("jem.synthetic_n", 2048, "synthetic-cifar10: random CIFAR-shaped images (for timing only)", 64), train));

  // ---- classifier network
  r.add(only(int_option("jem.channels", 32, "cnn: base width c (convolutions of c, 2c, 4c channels)", 1), train));
  r.add(only(int_option("jem.wrn_depth", 28, "wrn: depth 6n+4", 10), train));
  r.add(only(int_option("jem.wrn_widen", 10, "wrn: widening factor k", 1), train));
  r.add(only(float_option("jem.dropout", 0.0, "dropout rate (cnn: before the head; wrn: inside blocks; mlp: after each layer)",
                          0.0, 0.95),
             train));
  r.add(only(choice_option("jem.norm", "none", {"none", "group"}, "normalisation in cnn/wrn (no BatchNorm in energy models)"),
             train));
  r.add(only(int_option("jem.norm_groups", 8, "GroupNorm groups (must divide every normalised channel count)", 1), train));

  // ---- evaluation (accuracy, calibration, OOD detection)
  r.add(only(int_option("eval.ood_n", 2000, "in-distribution and per-OOD-set inputs scored for AUROC", 10), train_eval));
  r.add(only(string_option("eval.ood_sets", "uniform,gaussian,vflip,invert,constant",
                           "OOD sets for AUROC, comma-separated: uniform, gaussian, vflip, hflip, invert, constant, mnist "
                           "(mnist needs eval.ood_mnist_dir)"),
             train_eval));
  r.add(only(string_option("eval.ood_mnist_dir", "", "folder with MNIST IDX files (t10k-*) used as an OOD set when given"),
             train_eval));
  r.add(only(string_option("eval.baseline", "",
                           "run folder or checkpoint of a baseline (e.g. the cross-entropy-only run) evaluated beside this one"),
             train_eval));
  r.add(only(int_option("eval.grid_n", 100, "images in each sample grid", 1, 1024), train_eval));

  // ---- sampling
  r.add(only(int_option("sample.class", -1, "jem: class of class-conditional samples (-1 = unconditional)", -1), {"sample"}));
}

}  // namespace joule::cli
