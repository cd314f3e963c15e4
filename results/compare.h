// Tables from stores: `pebench compare` (perplexity vs length per group of runs that
// differ only by seed: mean and 95% confidence interval across seeds, the extrapolation
// ratio, the effective extrapolation length, analysis summaries) and `pebench inspect`
// (one line per run).
#pragma once
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
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
  // ppl | bpb: the curve's metric. bpb = log2(ppl) / (bytes per scored token), from the
  // run's eval/bytes (text runs); NaN for runs without it (tasks, bare token files).
  std::string metric = "ppl";
  // Study key → default value, for stores that do not record their own (made before
  // StoreHeader::key_defaults; the CLI passes this version's). A stored config leaves out
  // keys at values older stores could not hold (train.precision = fp32, ...): a run lacking
  // a key that another run has gets its default, so it is grouped and filtered by its real value.
  std::map<std::string, std::string> defaults;
  // For a key the run leaves out, before the defaults: the value runs made before the key
  // existed computed with, where the key would count for this run now ("" otherwise; the
  // CLI passes harness/study.h's legacy_value). Keeps an old store's randomized:rope
  // (one draw per forward) from grouping with a new one's as two seeds of one config.
  std::function<std::string(const std::string& key, const std::map<std::string, std::string>& config)> legacy;
  // --baseline KEY=VALUE: each group against the group with KEY = VALUE, run by run (see
  // paired_differences). Empty key: no paired columns.
  std::string baseline_key, baseline_value;
};

// One ppl curve of a run: as trained, or an eval-time variant ("rope+pi").
struct RunCurve {
  const StoredRun* run;
  std::string encoding;                 // "rope+pi" for a variant
  const std::vector<double>* ppl;       // run->eval_ppl or a variant's; under --metric bpb, `converted`
  std::map<std::string, std::string> config;  // the run's canonical config, encoding as above
  bool variant = false;
  std::shared_ptr<const std::vector<double>> converted;  // the curve in bits per byte (--metric bpb)
  bool is_variant() const { return variant; }
  int64_t train_length() const { return std::stoll(config.at("train.seq_len")); }
};
// Curves equal in every grouping key, i.e. the seeds of one configuration.
struct CurveGroup {
  std::vector<std::string> key;  // values of Grouping::by
  std::vector<RunCurve> curves;
  // The values of the keys that differ between groups ("alibi L64", "rope gamma=0.5").
  std::string label(const std::vector<std::string>& by, const std::set<size_t>& varying) const;
};
struct Grouping {
  std::vector<std::string> by;  // grouping keys
  std::vector<CurveGroup> groups;  // sorted by key
  std::set<int64_t> lengths;    // every eval length
  std::set<size_t> varying_keys() const;  // indices into `by` whose value differs between groups
};
// Runs of every store that pass options.where, grouped by options.by (default: every
// key that varies, but seed).
Grouping group_curves(const std::vector<StoreContents>& stores, const CompareOptions& options);

// Mean and 95% CI half-width (t; NaN for fewer than 2 values).
struct Estimate {
  double mean = NAN, ci95 = NAN;
  int64_t n = 0;
};
Estimate estimate(const std::vector<double>& values);
// The median of values that lie on a grid (eval lengths, attention windows), itself on the
// grid: the lower middle one for an even count; NaN for none.
double median_on_grid(std::vector<double> values);

// A group against the baseline (CompareOptions::baseline_key = baseline_value), run by run.
// Each finished run is paired with the finished baseline run equal to it in every config
// key but the baseline key: the same seed, so the same training batches (data order is
// seeded by the seed alone, harness/train.cpp; unless the baseline key is one that shapes
// the batches, train.seq_len or train.batch) and the same eval windows, and for an
// eval-time variant ("rope+pi" against "rope") the very same model. A run with no such
// partner is paired, failing that, with the one that differs besides in keys that change
// nothing the final eval computes (analysis.*, train.eval_every), and, for KEY = encoding,
// failing that, also in the encoding options (encoding.*), which other encodings ignore:
// rope with rope_base 500 against alibi. Per eval length, the mean over pairs of
// d = ln(ppl / ppl_baseline) (ln of the perplexity ratio: the difference in loss, nats per
// token) or, with --metric bpb, d = bpb - bpb_baseline, with its 95% CI (t over pairs).
// Seed noise that both runs of a pair share (data order, eval windows) cancels in d.
// Synthetic tasks also get the accuracy difference acc - acc_baseline of the trained
// models (not of eval-time variants, which have no accuracy of their own).
struct PairedDifference {
  bool is_baseline = false;               // the group has KEY = VALUE
  int64_t pairs = 0;                      // finished runs with a finished partner
  std::map<int64_t, Estimate> by_length;  // d per eval length both runs have
  std::map<int64_t, Estimate> accuracy;   // acc - acc_baseline per eval length (tasks)
};
// One per grouping.groups entry. Throws std::invalid_argument when the baseline key is
// not a grouping key, no run has the baseline value, or a run matches several baseline
// runs (the message names them and the key that tells them apart).
std::vector<PairedDifference> paired_differences(const Grouping& grouping, const CompareOptions& options);

// The table as `--format table` shows it: a header row, one row per group; its legend.
struct CompareDisplay {
  std::vector<std::vector<std::string>> rows;
  std::string legend;
};
CompareDisplay compare_display(const std::vector<StoreContents>& stores, const CompareOptions& options);

// Runs of every store together (shards, or several studies).
std::string compare_stores(const std::vector<StoreContents>& stores, const CompareOptions& options);
std::string compare_table(const StoreContents& contents);  // default options, one store
std::string inspect_table(const StoreContents& contents);

// A ppl curve in bits per byte with the run's eval/bytes and eval/tokens; NaN without them.
std::vector<double> bits_per_byte(const StoredRun& run, const std::vector<double>& ppl);

// Element `index` of a run's analysis or task dataset `name`; NaN when the run lacks it.
double extra_at(const StoredRun& run, const std::string& name, size_t index);

// `value` with `digits` decimals ("nan" when not finite).
std::string fixed(double value, int digits);

// Two-sided 95% critical value of Student's t with `df` degrees of freedom.
double t_critical_95(int64_t df);
// The largest eval length L such that every eval length from the train length to L has
// ppl within (1 + tolerance) of the best ppl at or below the train length; 0 when the
// train length itself does not.
int64_t effective_extrapolation_length(const std::vector<int64_t>& lengths, const std::vector<double>& ppl,
                                       int64_t train_length, double tolerance);

}  // namespace pebench
