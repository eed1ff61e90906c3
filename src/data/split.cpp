#include "joule/data/split.h"

#include <c10/util/Exception.h>

namespace joule::data {

Rows Rows::select(const at::Tensor& indices) const {
  Rows out;
  out.x = x.index_select(0, indices.to(x.device()));
  if (y.defined()) out.y = y.index_select(0, indices.to(y.device()));
  return out;
}

Rows Rows::slice(int64_t begin, int64_t end) const {
  Rows out;
  out.x = x.slice(0, begin, end);
  if (y.defined()) out.y = y.slice(0, begin, end);
  return out;
}

RowSplit split_rows(const Rows& all, int64_t n_valid, int64_t n_test, at::Generator& gen, int64_t min_train) {
  const int64_t n = all.size();
  TORCH_CHECK(!all.y.defined() || all.y.size(0) == n, "split_rows: ", n, " rows but ", all.y.size(0), " labels");
  TORCH_CHECK(n_valid >= 0 && n_test >= 0, "split_rows: split sizes must be >= 0, got ", n_valid, " validation and ", n_test,
              " test rows");
  TORCH_CHECK(n - n_valid - n_test >= min_train, "the data has ", n, " rows: too few for ", n_test, " test and ", n_valid,
              " validation rows and at least ", min_train, " training rows");
  auto perm = at::randperm(n, gen, at::TensorOptions().dtype(at::kLong));
  RowSplit s;
  s.test = all.select(perm.slice(0, 0, n_test));
  s.valid = all.select(perm.slice(0, n_test, n_test + n_valid));
  s.train = all.select(perm.slice(0, n_test + n_valid));
  return s;
}

}  // namespace joule::data
