#include "joule/eval/gof_benchmarks.h"

#include <c10/util/Exception.h>

namespace joule::eval {

RbmBenchmark make_rbm_benchmark(const RbmBenchmarkOptions& o, at::Generator gen) {
  TORCH_CHECK(o.visible() > 0 && o.hidden() > 0, "RBM benchmark: visible and hidden must be > 0");
  TORCH_CHECK(o.sigma() >= 0, "RBM benchmark: sigma must be >= 0, got ", o.sigma());
  RbmBenchmark r;
  r.B = at::empty({o.visible(), o.hidden()}).bernoulli_(0.5, gen).mul_(2.0).sub_(1.0);
  r.b = at::empty({o.visible()}).normal_(0.0, 1.0, gen);
  r.c = at::empty({o.hidden()}).normal_(0.0, 1.0, gen);
  r.B_q = r.B + o.sigma() * at::empty_like(r.B).normal_(0.0, 1.0, gen);
  r.p = gaussian_rbm_from_pm1_hidden(r.B, r.b, r.c);
  r.q = gaussian_rbm_from_pm1_hidden(r.B_q, r.b, r.c);
  return r;
}

at::Tensor sample_rbm_benchmark(RbmBenchmark& bench, int64_t n, int64_t burn_in, at::Generator gen) {
  TORCH_CHECK(n > 0 && burn_in >= 0, "sample_rbm_benchmark: need n > 0 and burn_in >= 0");
  auto x0 = at::empty({n, bench.B.size(0)}).normal_(0.0, 1.0, gen);
  return bench.p->gibbs(x0, burn_in + 1, gen);
}

at::Tensor pm1_rbm_score(const at::Tensor& x, const at::Tensor& B, const at::Tensor& b, const at::Tensor& c) {
  return b - x + 0.5 * at::tanh(0.5 * x.mm(B) + c).mm(B.t());
}

}  // namespace joule::eval
