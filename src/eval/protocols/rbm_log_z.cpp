#include "joule/eval/protocols/rbm_log_z.h"

namespace joule::eval {

RbmLogZResult rbm_log_z_protocol(RbmImpl& rbm, const RbmBase& base, const RbmLogZOptions& options,
                                 const at::Tensor& reverse_pool, at::Generator& gen) {
  RbmLogZResult r;
  r.exact_units = exact_enumeration_units(rbm);
  if (r.exact_units <= options.exact_max_units()) r.exact = log_partition_exact(rbm, r.exact_units);
  auto opts = AisOptions()
                  .runs(options.runs())
                  .steps(options.steps())
                  .schedule(options.schedule())
                  .base(base)
                  .reverse(options.reverse())
                  .reverse_burn_in(std::max<int64_t>(options.reverse_burn_in(), 0));
  if (options.reverse() && reverse_pool.defined()) {
    auto idx = at::randint(reverse_pool.size(0), {options.runs()}, gen,
                           at::TensorOptions().dtype(at::kLong).device(reverse_pool.device()));
    opts.reverse_init(reverse_pool.index_select(0, idx));
  }
  for (int64_t k : {options.steps() / 10, options.steps() / 3}) {
    if (k < 10) continue;
    r.curve.emplace_back(k, log_partition_ais(rbm, AisOptions(opts).steps(k), gen));
  }
  r.ais = log_partition_ais(rbm, opts, gen);
  r.curve.emplace_back(options.steps(), r.ais);
  return r;
}

}  // namespace joule::eval
