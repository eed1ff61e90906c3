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
#include "joule/models/cnf.h"
#include "joule/models/cnf_multiscale.h"

namespace joule::methods {

struct FfjordConfig : MethodConfig {
  PointDataConfig data;
  /// [cnf]: the flow.
  struct Cnf {
    std::string architecture = "mlp";  ///< "mlp" or "multiscale" (images)
    std::vector<int64_t> hidden{64, 64, 64};
    int64_t width_per_dim = 0;  ///< > 0: every hidden layer is width_per_dim·D wide
    std::string layer = "concatsquash";
    std::string activation = "tanh";
    int64_t blocks = 1;
    double end_time = 0.5;
    bool train_end_time = true;
    bool zero_last = false;
    double logit_alpha = 1e-6;  ///< multiscale: the logit transform's α (0: x − ½)
    int64_t max_scales = 0;     ///< multiscale: at most this many scales (0: as many as fit)
    void visit(config::Fields& f);
    /// The hidden widths for data of dimension `dim`.
    std::vector<int64_t> widths(int64_t dim) const;
  } cnf;
  /// [objective]: the training estimate and penalties.
  struct Objective {
    std::string divergence = "exact";
    std::string probe = "rademacher";
    double kinetic = 0.0;
    double jacobian = 0.0;
    void visit(config::Fields& f);
  } objective;
  /// [solver]: the ODE solves of training and of evaluation, and how gradients are taken.
  struct Solver {
    std::string method = "dopri5";
    double rtol = 1e-5;
    double atol = 1e-5;
    double step_size = 0.0;
    double eval_rtol = 1e-5;
    double eval_atol = 1e-5;
    std::string gradient = "backprop";
    bool seminorm = false;
    bool per_sample = false;
    int64_t max_num_steps = 10000;
    void visit(config::Fields& f);
  } solver;
  struct Eval {
    int64_t grid_resolution = 128;
    int64_t n_samples = 2000;
    void visit(config::Fields& f);
  } eval;
  SampleConfig sample;
  FfjordConfig();
  void visit(config::Fields& f) override;
  /// The flow these options describe for data of dimension `dim`.
  ContinuousFlowOptions flow_options(int64_t dim) const;
  MultiscaleFlowOptions multiscale_options(int64_t channels, int64_t height, int64_t width) const;
};

class FfjordMethod : public Method {
 public:
  explicit FfjordMethod(FfjordConfig config = {});
  std::string name() const override { return "ffjord"; }
  FfjordConfig& config() override { return config_; }

  eval::Report evaluate() override;
  std::vector<std::string> pictures(const std::string& prefix) override;
  torch::Tensor sample() override;
  void add_callbacks(const Monitor& monitor) override;

  /// The flow of cnf.architecture = "mlp" (an error for "multiscale": see image_flow()).
  ContinuousFlowImpl& flow();
  MultiscaleFlowImpl& image_flow();
  /// The trained density, whichever the architecture.
  DensityModel& density();
  bool images() const { return !image_flow_.is_empty(); }
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
