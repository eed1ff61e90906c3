#pragma once
// method = "ffjord": continuous normalising flows trained by exact maximum likelihood
// (Grathwohl et al., "FFJORD", arXiv:1810.01367), on Joule's ODE solvers (joule/ode/solvers.h)
// with the model of joule/models/cnf.h: a stack of CNF blocks whose vector fields are
// ConcatSquash MLPs, the divergence exact or by Hutchinson's estimator, an optional learnable end
// time and RNODE's kinetic and Jacobian penalties (Finlay et al., arXiv:2002.02798).
//
// Data: the 2-D toy sets or a user's table of points ([data], as for method = "ebm"). The
// evaluation is the exact test NLL (exact trace, evaluation tolerances) against the data's
// entropy where known, the function evaluations of a solve and the end times; in 2-D also the
// model density on a grid (its mass in the box as a check), samples by the reverse solve, and
// their MMD² to the test data.
//
//   joule::methods::FfjordMethod ffjord;             // FFJORD's toy settings on 8 Gaussians
//   ffjord.config().data.dataset = "checkerboard";
//   ffjord.build();
//   ffjord.train();
//   auto report = ffjord.evaluate();                 // nll_test, entropy, nll_gap, nfe, ...

#include "joule/methods/data_config.h"
#include "joule/methods/method.h"
#include "joule/methods/sample_quality.h"
#include "joule/models/cnf.h"
#include "joule/models/cnf_multiscale.h"

namespace joule::methods {

/// The options of method = "ffjord". Defaults are FFJORD's toy settings (train_toy.py): batch 100,
/// Adam with lr 1e-3 and weight decay 1e-5, 10 000 steps, on 8 Gaussians.
struct FfjordConfig : MethodConfig {
  PointDataConfig data;  ///< [data]: the points (2-D toy sets, tables, or flattened MNIST images)
  /// [cnf]: the flow.
  struct Cnf {
    std::string architecture = "mlp";  ///< "mlp" or "multiscale" (images)
    /// Units of each hidden layer of a block's vector field (FFJORD's --dims); multiscale: channels
    /// of each 3×3 convolution.
    std::vector<int64_t> hidden{64, 64, 64};
    int64_t width_per_dim = 0;  ///< > 0: every hidden layer is width_per_dim·D wide
    /// How layers see time: concatsquash (W z + b)·σ(a t + c) + d t, concat W[t; z] + b, or ignore
    /// (autonomous).
    std::string layer = "concatsquash";
    std::string activation = "tanh";  ///< nonlinearity after every layer but the last
    int64_t blocks = 1;               ///< CNF blocks stacked (1 to 64)
    double end_time = 0.5;            ///< initial end time T of each block
    bool train_end_time = true;       ///< learn T (as T = s²)
    bool zero_last = false;           ///< zero the last layer's weights: the flow starts at the identity (RNODE)
    double logit_alpha = 1e-6;  ///< multiscale: the logit transform's α (0: x − ½)
    int64_t max_scales = 0;     ///< multiscale: at most this many scales (0: as many as fit)
    /// Declares the [cnf] fields.
    void visit(config::Fields& f);
    /// The hidden widths for data of dimension `dim`.
    std::vector<int64_t> widths(int64_t dim) const;
  } cnf;  ///< [cnf]
  /// [objective]: the training estimate and penalties.
  struct Objective {
    /// tr ∂f/∂z while training: exact (D tangents per evaluation) or hutchinson (one probe per
    /// solve); evaluation always takes the exact trace.
    std::string divergence = "exact";
    std::string probe = "rademacher";  ///< Hutchinson probe distribution: rademacher | gaussian
    double kinetic = 0.0;   ///< λ_K: weight of RNODE's kinetic energy ∫½‖f‖²/D dt (0 = off)
    double jacobian = 0.0;  ///< λ_J: weight of RNODE's Jacobian penalty ∫‖∂f/∂z‖²_F/D dt (0 = off)
    /// Declares the [objective] fields.
    void visit(config::Fields& f);
  } objective;  ///< [objective]
  /// [solver]: the ODE solves of training and of evaluation, and how gradients are taken.
  struct Solver {
    std::string method = "dopri5";  ///< ODE solver (torchdiffeq's names): dopri5, bosh3, rk4, midpoint, euler
    double rtol = 1e-5;             ///< relative tolerance of the training solves (adaptive methods)
    double atol = 1e-5;             ///< absolute tolerance of the training solves (adaptive methods)
    double step_size = 0.0;         ///< fixed-grid methods: the step in t (required there; the last one ends at T)
    double eval_rtol = 1e-5;        ///< relative tolerance of evaluation and sampling solves
    double eval_atol = 1e-5;        ///< absolute tolerance of evaluation and sampling solves
    /// backprop: through the solver's operations (fast on CPU); adjoint: a backward solve (memory
    /// independent of the steps).
    std::string gradient = "backprop";
    bool seminorm = false;    ///< adjoint: step control of the backward solve ignores the parameters' adjoints
    bool per_sample = false;  ///< evaluation and sampling solves give every point its own step size
    int64_t max_num_steps = 10000;  ///< steps a solve may take before it stops with an error (stiff dynamics)
    /// Declares the [solver] fields.
    void visit(config::Fields& f);
  } solver;  ///< [solver]
  /// [eval]: pictures and sample checks (the test NLL is always computed).
  /// [eval]; with images, eval.feature_run scores the reverse solve's samples (docs/sample_quality.md).
  struct Eval : QualityConfig {
    int64_t grid_resolution = 128;  ///< 2-D: grid cells per side of the density picture (8 to 1024)
    int64_t n_samples = 2000;       ///< samples by the reverse solve for pictures and MMD
    /// Declares the [eval] fields.
    void visit(config::Fields& f);
  } eval;  ///< [eval]
  SampleConfig sample;  ///< [sample] (n = 2000 by default)
  FfjordConfig();
  void visit(config::Fields& f) override;
  /// The flow these options describe for data of dimension `dim`.
  ContinuousFlowOptions flow_options(int64_t dim) const;
  /// The multiscale image flow these options describe for images of that shape (the solver
  /// settings and objective shared with flow_options()).
  MultiscaleFlowOptions multiscale_options(int64_t channels, int64_t height, int64_t width) const;
};

/// Continuous normalising flows trained by exact maximum likelihood (method = "ffjord"): see
/// FfjordConfig for the options; evaluate() reports the exact test NLL, the data's entropy where
/// known, function evaluations and end times, and in 2-D the density on a grid and MMD² of samples.
class FfjordMethod : public Method {
 public:
  /// A method with these options; nothing is loaded until build().
  explicit FfjordMethod(FfjordConfig config = {});
  std::string name() const override { return "ffjord"; }
  FfjordConfig& config() override { return config_; }

  eval::Report evaluate() override;
  std::vector<std::string> pictures(const std::string& prefix) override;
  torch::Tensor sample() override;
  void add_callbacks(const Monitor& monitor) override;

  /// The flow of cnf.architecture = "mlp" (an error for "multiscale": see image_flow()).
  ContinuousFlowImpl& flow();
  /// The flow of cnf.architecture = "multiscale" (an error otherwise or before build()).
  MultiscaleFlowImpl& image_flow();
  /// The trained density, whichever the architecture.
  DensityModel& density();
  /// Whether the built model is the multiscale image flow.
  bool images() const { return !image_flow_.is_empty(); }
  /// The loaded points (image flows: pixels in [0, 1], flattened).
  const PointData& data() const { return points_; }
  /// Exact mean NLL (nats) of the test points and the function evaluations it took.
  std::pair<double, int64_t> test_nll();
  /// Exact NLL (nats per row) and mean NFE of the evaluation solves, in row chunks.
  std::pair<double, int64_t> nll_of(const at::Tensor& x);

 protected:
  Parts build_parts(torch::Device device) override;

 private:
  int64_t eval_row_evaluations_ = 0;  ///< row evaluations of the last nll_of
  FfjordConfig config_;
  ContinuousFlow flow_{nullptr};
  MultiscaleFlow image_flow_{nullptr};
  std::vector<int64_t> image_shape_;  ///< [C, H, W] of image data
  PointData points_;
};

}  // namespace joule::methods
