// Tables from a store: `pebench compare` (perplexity vs length per group of runs that
// differ only by seed, and the extrapolation ratio) and `pebench inspect` (one line per run).
#pragma once
#include <string>

#include "results/store.h"

namespace pebench {

std::string compare_table(const StoreContents& contents);
std::string inspect_table(const StoreContents& contents);

}  // namespace pebench
