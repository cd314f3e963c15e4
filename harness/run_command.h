// `pebench run STUDY`: validate, lay out the store, schedule runs over MPI ranks,
// train, evaluate, write, and print the comparison table.
#pragma once
#include <cstdint>
#include <string>

namespace pebench {

// The store of shard `index` of `count` (`--shard i/n`): STORE.h5 → STORE.shard-i-of-n.h5.
std::string shard_store_path(const std::string& store, int64_t index, int64_t count);

struct RunConfig;
// Intra-op threads for a run when --threads-per-rank is not given: `share` (cores / ranks
// on the node), or 1 for runs too small to gain from threads.
int threads_for(const RunConfig& run, int share);

// Exit codes: 0 done, 1 a run failed, 2 bad input (nothing written).
int run_command(int argc, char** argv);

}  // namespace pebench
