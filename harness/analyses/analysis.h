// Why a PE extrapolates (or not): analyses run on the held-out split after evaluation,
// each enabled by `analysis.run`, each writing named datasets next to the run's curves.
// One file per analysis in harness/analyses/ (its datasets' names, layout and compute
// side by side), one line each in harness/analyses/registry.cpp:
//   window_ppl   ppl at analysis.rf_length with every query limited to its last w keys
//   gradient     cumulative input-gradient receptive field, ERF50/90/99
//   attention    attention mass by distance, mean distance, entropy per layer and head
//   probe        ridge probe of the token's position from every layer's hidden state
//   pe_geometry  learned tables: row norms, distance/offset rank correlation
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "harness/study.h"
#include "models/transformer.h"

namespace pebench {

// One dataset of an analysis: its path in the run's group, shape and values (row-major).
struct AnalysisDataset {
  std::string name;
  std::vector<int64_t> shape;
  bool integer = false;
  std::vector<double> values;
};

// A dataset's name and element type, written once per analysis file as a constant and
// used by both its layout and its compute.
struct DatasetName {
  const char* path;
  bool integer;
};

// The datasets of a run's analyses: declared with shapes at layout, filled by compute.
class AnalysisOutput {
 public:
  void add(const DatasetName& name, std::vector<int64_t> shape);
  // Fills a dataset that layout declared; its size must match the shape.
  void set(const DatasetName& name, std::vector<double> values);
  std::vector<AnalysisDataset>& datasets() { return datasets_; }

 private:
  std::vector<AnalysisDataset> datasets_;
};

// What an analysis reads: the trained model (in eval mode), the held-out tokens, the run.
struct AnalysisInput {
  TransformerLM& model;
  const std::vector<uint16_t>& heldout;
  const RunConfig& run;
  torch::Device device;
};

struct AnalysisInfo {
  std::string name;
  std::string summary;
  // The datasets it will write, with shapes: known before training. table_rows: rows of
  // the encoding's learned table, 0 without one.
  std::function<void(const RunConfig&, int64_t table_rows, AnalysisOutput&)> layout;
  // Fills every dataset its layout declared.
  std::function<void(AnalysisInput&, AnalysisOutput&)> compute;
};

const std::vector<AnalysisInfo>& analysis_registry();
std::vector<std::string> analysis_names();

// The datasets `run` will write, with shapes and empty values: known before training.
std::vector<AnalysisDataset> analysis_layout(const RunConfig& run, int64_t table_rows);

// Runs every analysis `run` enables on a trained model; datasets as in analysis_layout.
std::vector<AnalysisDataset> analyse_model(TransformerLM& model, const std::vector<uint16_t>& heldout,
                                           const RunConfig& run, torch::Device device);

// Shared by the analyses.
// A tensor's values as float64, row-major, on the host: what the store takes.
std::vector<double> flat_values(const torch::Tensor& values);
// The first `count` non-overlapping held-out windows of `length` tokens (+1 target).
torch::Tensor heldout_windows(const std::vector<uint16_t>& heldout, int64_t count, int64_t length);

// The pieces, for tests (each defined in its analysis's file).
// Bin edges of attention distances for sequences of `length`: 0, 1, …, 64, 128, 256, … ≥ length.
std::vector<int64_t> distance_bin_edges(int64_t length);
// C(k), k = 1..T: the mean over rows of the per-row normalized gradient norms [B, T],
// accumulated from the last position backwards.
std::vector<double> cumulative_gradient(const torch::Tensor& gradient_norms);
// Smallest k (1-based) with C(k) >= alpha.
int64_t effective_receptive_field(const std::vector<double>& cumulative, double alpha);
// The position probe (harness/analyses/probe.cpp): rows x [T, d] → target y [T] per window;
// k-fold over windows interleaved (window w in fold w mod k), standardised features, λ/n
// chosen by leave-one-fold-out within each fit set. R² and MAE pooled over every fold.
struct ProbeScore {
  double r2 = NAN, mae = NAN;
  double ridge = NAN;  // λ/n chosen, median over the folds
};
ProbeScore ridge_probe(const std::vector<torch::Tensor>& x_by_window, const std::vector<torch::Tensor>& y_by_window,
                       int64_t folds);
// E|i - (T-1)/2| for i uniform on 0..T-1: the MAE of always predicting the mean position.
double position_chance_mae(int64_t length);
// Windows the probe uses at `length`: analysis.sequences, or more for >= 10·d_model fit rows.
int64_t probe_windows_needed(const RunConfig& run, int64_t length);
// Spearman rank correlation with average ranks for ties.
double spearman(const torch::Tensor& a, const torch::Tensor& b);

}  // namespace pebench
