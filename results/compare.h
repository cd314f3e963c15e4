// Tables from stores: `pebench compare` (perplexity vs length per group of runs that
// differ only by seed: mean and 95% confidence interval across seeds, the extrapolation
// ratio, the effective extrapolation length, analysis summaries) and `pebench inspect`
// (one line per run).
#pragma once
#include <map>
#include <set>
#include <string>
#include <vector>

#include "results/store.h"

namespace pebench {

struct CompareOptions {
  std::vector<std::string> by;  // group keys; empty: every key whose value varies, but seed
  std::map<std::string, std::set<std::string>> where;  // keep runs whose key has one of these values
  std::string sort;             // a column to sort by (ascending; numbers as numbers); "": group keys
  double tolerance = 0.1;       // effective extrapolation length: within (1 + tolerance) of the best
  std::string format = "table";  // table | csv | json | markdown
};

// Runs of every store together (shards, or several studies).
std::string compare_stores(const std::vector<StoreContents>& stores, const CompareOptions& options);
std::string compare_table(const StoreContents& contents);  // default options, one store
std::string inspect_table(const StoreContents& contents);

// Two-sided 95% critical value of Student's t with `df` degrees of freedom.
double t_critical_95(int64_t df);
// The largest eval length L such that every eval length from the train length to L has
// ppl within (1 + tolerance) of the best ppl at or below the train length; 0 when the
// train length itself does not.
int64_t effective_extrapolation_length(const std::vector<int64_t>& lengths, const std::vector<double>& ppl,
                                       int64_t train_length, double tolerance);

}  // namespace pebench
