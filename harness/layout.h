// A run's layout in the store (results/store.h RunLayout): every shape and attribute known
// before it trains, from its config and its untrained model.
#pragma once
#include "harness/study.h"
#include "results/store.h"

namespace pebench {

RunLayout layout_of(const RunConfig& run);

}  // namespace pebench
