#pragma once
// Builders for the sampling-free objectives (LSD, exact / sliced / denoising score matching)
// from objective.kind and the lsd.* / sm.* options; shared by every pipeline that trains an
// energy model on data (method = ebm, method = ica).

#include <memory>
#include <vector>

#include "joule/data/dataset.h"
#include "joule/objectives/objective.h"
#include "tools/joule/config.h"

namespace joule::cli {

/// True for objective.kind in {lsd, sm, ssm, dsm}.
bool is_score_objective(const std::string& kind);

/// The objective for objective.kind = lsd | sm | ssm | dsm (nullptr for any other kind).
/// `critic_data` feeds the LSD critic's own batches (the training data source); `seed` seeds
/// the critic's initial weights.
std::shared_ptr<Objective> make_score_objective(const Config& cfg, std::vector<int64_t> event_shape,
                                                torch::Device device, std::shared_ptr<data::DataSource> critic_data,
                                                uint64_t seed);

}  // namespace joule::cli
