// `pebench run STUDY`: validate, lay out the store, schedule runs over MPI ranks,
// train, evaluate, write, and print the comparison table.
#pragma once
#include <cstdint>
#include <string>

namespace pebench {

// The store of shard `index` of `count` (`--shard i/n`): STORE.h5 → STORE.shard-i-of-n.h5.
std::string shard_store_path(const std::string& store, int64_t index, int64_t count);

// Exit codes: 0 done, 1 a run failed, 2 bad input (nothing written).
int run_command(int argc, char** argv);

}  // namespace pebench
