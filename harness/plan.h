// Planning a study's runs before any is trained: their relative costs (largest first),
// the slices of job-array shards, and the intra-op threads each run gets.
#pragma once
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "harness/study.h"

namespace pebench {

// Relative cost in FLOPs: training plus evaluation, for largest-first scheduling.
double estimated_cost(const RunConfig& run);

// Peak memory of one run on its device (bytes, fp32; a lower estimate), and the term that dominates it.
struct MemoryEstimate {
  double bytes = 0;
  std::string largest;  // what the dominant term is, naming the keys that set it
};
MemoryEstimate estimated_memory(const RunConfig& run);

// Indices of the runs not in `finished` (by run id), largest estimated cost first.
std::vector<int64_t> largest_first(const std::vector<RunConfig>& runs, const std::set<std::string>& finished);

// The i-th of n slices of the runs: largest cost first, each run to the slice with the
// least cost so far, so shards of one job array take about the same time.
std::vector<RunConfig> shard_of(const std::vector<RunConfig>& runs, int64_t index, int64_t count);

// The store of shard `index` of `count` (`--shard i/n`): STORE.h5 → STORE.shard-i-of-n.h5.
std::string shard_store_path(const std::string& store, int64_t index, int64_t count);

// Intra-op threads for a run when --threads-per-rank is not given: `share` (cores / ranks
// on the node), or 1 for runs too small to gain from threads.
int threads_for(const RunConfig& run, int share);

}  // namespace pebench
