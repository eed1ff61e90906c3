#include "joule/data/dataset.h"

#include <c10/util/Exception.h>

#include <cstring>

namespace joule::data {

void check_finite(const torch::Tensor& x, const std::string& what) {
  if (!x.is_floating_point()) return;
  auto bad = torch::isfinite(x).logical_not();
  if (!bad.any().item<bool>()) return;
  auto rows = bad.reshape({x.size(0), -1}).any(1).nonzero();
  TORCH_CHECK(false, what, " contains NaN or infinite values (", rows.size(0), " bad rows; first bad row: ",
              rows[0].item<int64_t>(), "). Clean or drop those rows before training.");
}

namespace {

// x[idx] along dim 0. Row copies for contiguous CPU data: index_select costs ~10 µs for a
// 10-row batch, as much as a small RBM's whole sampling step.
torch::Tensor gather_rows(const torch::Tensor& x, const torch::Tensor& idx) {
  if (!x.device().is_cpu() || !x.is_contiguous() || !idx.device().is_cpu()) return x.index_select(0, idx);
  auto sizes = x.sizes().vec();
  sizes[0] = idx.size(0);
  auto out = torch::empty(sizes, x.options());
  const int64_t row_bytes = x.numel() / x.size(0) * int64_t(x.element_size());
  const auto* src = static_cast<const char*>(x.data_ptr());
  auto* dst = static_cast<char*>(out.data_ptr());
  const auto* ix = idx.data_ptr<int64_t>();
  for (int64_t r = 0; r < idx.size(0); ++r) {
    TORCH_CHECK(ix[r] >= 0 && ix[r] < x.size(0), "row index ", ix[r], " out of range [0, ", x.size(0), ")");
    std::memcpy(dst + r * row_bytes, src + ix[r] * row_bytes, size_t(row_bytes));
  }
  return out;
}

}  // namespace

TensorDataset::TensorDataset(torch::Tensor x, torch::Tensor y) : x_(std::move(x)), y_(std::move(y)) {
  TORCH_CHECK(x_.defined() && x_.dim() >= 2 && x_.size(0) > 0, "TensorDataset: expected data [N, ...] with N > 0, got ",
              x_.defined() ? x_.sizes() : c10::IntArrayRef{});
  check_finite(x_, "training data");
  if (y_.defined()) {
    TORCH_CHECK(y_.dim() == 1 && y_.size(0) == x_.size(0), "TensorDataset: labels must be [", x_.size(0), "], got ",
                y_.sizes());
  }
}

Batch TensorDataset::next(int64_t batch_size, at::Generator& gen) {
  TORCH_CHECK(batch_size > 0 && batch_size <= x_.size(0), "batch_size must be in [1, ", x_.size(0),
              "] (the dataset size), got ", batch_size);
  if (!perm_.defined() || pos_ + batch_size > perm_.size(0)) {
    if (perm_.defined()) ++epoch_;
    // Drawn on the generator's device (a CUDA run has a CUDA generator), kept on the CPU.
    perm_ = torch::randperm(x_.size(0), gen, torch::TensorOptions().dtype(torch::kLong).device(gen.device())).cpu();
    pos_ = 0;
  }
  auto idx = perm_.slice(0, pos_, pos_ + batch_size).to(x_.device());
  pos_ += batch_size;
  Batch b;
  b.x = gather_rows(x_, idx);
  if (y_.defined()) b.y = gather_rows(y_, idx);
  return b;
}

void TensorDataset::save(torch::serialize::OutputArchive& archive) const {
  archive.write("pos", torch::tensor(pos_));
  archive.write("epoch", torch::tensor(epoch_));
  archive.write("has_perm", torch::tensor(perm_.defined() ? 1 : 0));
  if (perm_.defined()) archive.write("perm", perm_);
}

void TensorDataset::load(torch::serialize::InputArchive& archive) {
  torch::Tensor pos, epoch, has_perm;
  archive.read("pos", pos);
  archive.read("epoch", epoch);
  archive.read("has_perm", has_perm);
  pos_ = pos.item<int64_t>();
  epoch_ = epoch.item<int64_t>();
  if (has_perm.item<int64_t>()) {
    archive.read("perm", perm_);
    TORCH_CHECK(perm_.size(0) == x_.size(0), "checkpoint's data order covers ", perm_.size(0),
                " rows but the dataset has ", x_.size(0), "; resume with the same data");
  } else {
    perm_ = torch::Tensor();
  }
}

}  // namespace joule::data
