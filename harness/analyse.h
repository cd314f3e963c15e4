// Why a PE extrapolates (or not): analyses run on the held-out split after evaluation,
// each enabled by `analysis.run`, each writing named datasets next to the run's curves.
//   window_ppl   ppl at analysis.rf_length with every query limited to its last w keys
//                (Khandelwal et al. 2018; Chi et al. 2023's windowed view); the effective
//                context is the smallest w with ppl(w) <= (1 + epsilon) ppl(full).
//   gradient     g_j = ||d loss_last / d e_j||, e_j the first block's input, normalized to
//                sum 1 and accumulated from the newest token back: C(k); ERF_a = smallest k
//                with C(k) >= a, a = 0.5, 0.9, 0.99 (Chi et al. 2023, Sandwich).
//   attention    per layer and head: attention mass by distance (single distances below 64,
//                log2-spaced bins beyond), mean attended distance, entropy (nats).
//   probe        per layer (embedding output first): ridge regression from the hidden
//                state to the token's position, fit on half the windows, scored on the
//                other half (R², MAE), at the train length and the longest eval length
//                (Haviv et al. 2022).
//   pe_geometry  learned tables: Spearman correlation between pairwise row distances and
//                |i - j| over the trained rows, and every row's norm (Ito et al. 2024).
#pragma once
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

// The datasets `run` will write, with shapes and empty values: known before training.
std::vector<AnalysisDataset> analysis_layout(const RunConfig& run, int64_t table_rows);

// Runs every analysis `run` enables on a trained model; datasets as in analysis_layout.
std::vector<AnalysisDataset> analyse_model(TransformerLM& model, const std::vector<uint16_t>& heldout,
                                           const RunConfig& run, torch::Device device);

// A tensor's values as float64, row-major, on the host: what the store takes.
std::vector<double> flat_values(const torch::Tensor& values);

// The pieces, for tests.
// Bin edges of attention distances for sequences of `length`: 0, 1, …, 64, 128, 256, … ≥ length.
std::vector<int64_t> distance_bin_edges(int64_t length);
// C(k), k = 1..T: the mean over rows of the per-row normalized gradient norms [B, T],
// accumulated from the last position backwards.
std::vector<double> cumulative_gradient(const torch::Tensor& gradient_norms);
// Smallest k (1-based) with C(k) >= alpha.
int64_t effective_receptive_field(const std::vector<double>& cumulative, double alpha);
// Ridge regression features → target fit on (fit_x, fit_y), scored on (test_x, test_y):
// {R², mean absolute error}.
std::pair<double, double> ridge_probe(const torch::Tensor& fit_x, const torch::Tensor& fit_y,
                                      const torch::Tensor& test_x, const torch::Tensor& test_y);
// Spearman rank correlation with average ranks for ties.
double spearman(const torch::Tensor& a, const torch::Tensor& b);

}  // namespace pebench
