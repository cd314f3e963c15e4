// `pebench merge`: job-array shards (or any stores) of one study → one store.
#pragma once
#include <string>
#include <vector>

namespace pebench {

struct MergeSummary {
  int64_t runs = 0;        // runs in the output
  int64_t duplicates = 0;  // runs found in more than one input
};

// A run found in several inputs is taken once: a finished (done or diverged) copy over
// an unfinished one; two finished copies must hold the same config and bit-identical
// datasets (timings aside), else StoreError names the run and the first dataset that
// differs. The output is written aside and renamed: nothing is left half-written.
MergeSummary merge_stores(const std::vector<std::string>& inputs, const std::string& output);

}  // namespace pebench
