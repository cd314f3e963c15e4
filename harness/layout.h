// A run's layout in the store (results/store.h RunLayout): every shape and attribute known
// before it trains, from its config and its untrained model.
#pragma once
#include "harness/study.h"
#include "models/transformer.h"
#include "results/store.h"

namespace pebench {

RunLayout layout_of(const RunConfig& run);

// Every parameter and buffer of a model by LibTorch's name: what a run keeps as weights.
std::vector<std::pair<std::string, torch::Tensor>> model_weights(TransformerLM& model);

}  // namespace pebench
