// The analyses on constructed cases with known answers.
#include <gtest/gtest.h>

#include <cmath>

#include "encodings/formulas.h"
#include "harness/analyses/analysis.h"
#include "harness/study.h"
#include "tests/tiny_model.h"

namespace pebench {
namespace {

std::vector<uint16_t> random_tokens(int64_t count) {
  auto tokens = torch::randint(0, 256, {count}, torch::TensorOptions().dtype(torch::kLong));
  return std::vector<uint16_t>(tokens.data_ptr<int64_t>(), tokens.data_ptr<int64_t>() + count);
}

RunConfig analysis_run(int64_t layers, int64_t window, const std::string& analyses) {
  return parse_study("a.ini",
                     "encoding = alibi\n[model]\nd_model = 32\nheads = 2\nlayers = " + std::to_string(layers) +
                         "\nattention_window = " + std::to_string(window) +
                         "\n[train]\nseq_len = 16\n[eval]\nlengths = 16,64\ntokens = 256\nattention_block = 16\n"
                         "[analysis]\nsequences = 4\ntokens = 256\nrun = " + analyses + "\n",
                     {})
      .runs.front();
}

TransformerLM model_for(const RunConfig& run) {
  TinyModel tiny;
  tiny.encoding = run.encoding;
  tiny.heads = run.model.heads;
  tiny.layers = run.model.layers;
  tiny.max_length = 64;
  tiny.attention_block = 16;
  tiny.attention_window = run.model.attention_window;
  return tiny.build();
}

const std::vector<double>& values_of(const std::vector<AnalysisDataset>& out, const std::string& name) {
  for (const auto& dataset : out)
    if (dataset.name == name) return dataset.values;
  throw std::runtime_error("no dataset " + name);
}

// Two layers with a band of w = 8: a token sees at most 2·7 positions back, so the
// gradient beyond distance 15 is exactly zero and C(15) = 1.
TEST(Analyse, WindowedModelHasNoGradientBeyondItsTheoreticalReceptiveField) {
  const RunConfig run = analysis_run(2, 8, "gradient");
  auto model = model_for(run);
  const auto out = analyse_model(model, random_tokens(2000), run, torch::kCPU);
  const auto& cumulative = values_of(out, "receptive_field/cumulative_gradient");
  ASSERT_EQ(cumulative.size(), 64u);
  EXPECT_NEAR(cumulative[14], 1.0, 1e-12);  // C(15)
  EXPECT_LT(cumulative[13], 1.0);           // distance 14 still matters
  for (size_t k = 1; k < cumulative.size(); ++k) EXPECT_GE(cumulative[k], cumulative[k - 1] - 1e-15);
  EXPECT_NEAR(cumulative.back(), 1.0, 1e-12);
  const auto& erf = values_of(out, "receptive_field/erf");
  EXPECT_LE(erf[0], erf[1]);
  EXPECT_LE(erf[1], erf[2]);
  EXPECT_LE(erf[2], 15);
}

// One layer with w = 4 sees 4 keys: every wider window gives exactly the full ppl.
TEST(Analyse, EffectiveContextOfAOneLayerWindowFourModelIsAtMostFour) {
  const RunConfig run = analysis_run(1, 4, "window_ppl");
  auto model = model_for(run);
  const auto out = analyse_model(model, random_tokens(2000), run, torch::kCPU);
  const auto& windows = values_of(out, "receptive_field/windows");
  const auto& ppl = values_of(out, "receptive_field/ppl");
  const double full = values_of(out, "receptive_field/full_ppl")[0];
  EXPECT_EQ(windows, (std::vector<double>{1, 2, 4, 8, 16, 32, 64}));
  for (size_t i = 2; i < windows.size(); ++i) EXPECT_DOUBLE_EQ(ppl[i], full) << windows[i];
  EXPECT_NE(ppl[0], full);
  EXPECT_LE(values_of(out, "receptive_field/effective_context")[0], 4);
}

TEST(Analyse, AttentionMassOverDistancesSumsToOnePerLayerAndHead) {
  const RunConfig run = analysis_run(2, 0, "attention");
  auto model = model_for(run);
  const auto out = analyse_model(model, random_tokens(2000), run, torch::kCPU);
  EXPECT_EQ(values_of(out, "attention/distance_bins"), (std::vector<double>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64}));
  const auto& mass = values_of(out, "attention/mass_by_distance");  // [2, 2, 64]
  ASSERT_EQ(mass.size(), 2u * 2 * 64);
  for (int row = 0; row < 4; ++row) {
    double sum = 0;
    for (int bin = 0; bin < 64; ++bin) sum += mass[row * 64 + bin];
    EXPECT_NEAR(sum, 1.0, 1e-6) << row;  // float32 softmax rows
  }
  for (double distance : values_of(out, "attention/mean_distance")) EXPECT_TRUE(distance > 0 && distance < 63);
}

TEST(Analyse, DistanceBinsAreSingleBelow64ThenDoubling) {
  const auto edges = distance_bin_edges(200);
  ASSERT_EQ(edges.size(), 67u);
  EXPECT_EQ(edges[64], 64);
  EXPECT_EQ(edges[65], 128);
  EXPECT_EQ(edges[66], 200);
  EXPECT_EQ(distance_bin_edges(8), (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8}));
}

// The sinusoidal table carries position linearly enough for a probe; noise does not, and
// its MAE is then about the chance MAE of predicting the mean position.
TEST(Analyse, ProbeReadsPositionFromSinusoidsAndNotFromNoise) {
  auto table = sinusoid_table(torch::arange(128, torch::kLong), 32, "interleaved").to(torch::kFloat64);
  auto target = torch::arange(128, torch::kFloat64);
  torch::manual_seed(1);
  std::vector<torch::Tensor> x, noise, y;
  for (int w = 0; w < 10; ++w) {
    x.push_back(table + 0.01 * torch::randn({128, 32}, torch::kFloat64));
    noise.push_back(torch::randn({128, 32}, torch::kFloat64));
    y.push_back(target);
  }
  const auto sinusoids = ridge_probe(x, y, 5);
  EXPECT_GT(sinusoids.r2, 0.99);
  EXPECT_LT(sinusoids.mae, 3.0);
  const auto random = ridge_probe(noise, y, 5);
  EXPECT_LT(random.r2, 0.05);
  EXPECT_NEAR(random.mae, position_chance_mae(128), 4.0);
  // Noise needs the strongest shrinkage of the grid; clean sinusoids almost none.
  EXPECT_GE(random.ridge, 1.0);
  EXPECT_LE(sinusoids.ridge, 1e-2);
}

// The audit's failure: held-out windows whose second half differs in style (a feature
// shifts with it). A probe fit on one style and scored on the other is wrong by the shift
// (R² far below 0); interleaved folds see both styles and read position exactly. With
// k = 3 over windows whose every third is the other style, that fold is scored by a
// probe fit on one style only, as the split into halves did.
TEST(Analyse, InterleavedFoldsAreNotFooledByAStyleShiftBetweenHalves) {
  auto position = torch::arange(64, torch::kFloat64);
  auto window = [&](double style) {  // features: position + 50·style, style
    return torch::stack({position + 50 * style, torch::full({64}, style, torch::kFloat64)}, 1);
  };
  std::vector<torch::Tensor> halves, alternating, y(16, position);
  for (int w = 0; w < 16; ++w) {
    halves.push_back(window(w < 8 ? 0 : 1));        // first half one style, second half the other
    alternating.push_back(window(w % 3 ? 0 : 1));  // fold 0 all one style, folds 1, 2 the other
  }
  EXPECT_GT(ridge_probe(halves, y, 5).r2, 0.999);
  // Fold 0's third of the rows is off by 50 (MSE 2500 against a variance of 341).
  EXPECT_LT(ridge_probe(alternating, y, 3).r2, -1.0);
  EXPECT_TRUE(std::isnan(ridge_probe(halves, y, 2).r2));  // k = 2 leaves no fold to choose λ on
}

TEST(Analyse, ChanceMaeAndTheProbesFitRows) {
  EXPECT_DOUBLE_EQ(position_chance_mae(64), 16.0);  // mean |i - 31.5| over 0..63
  EXPECT_DOUBLE_EQ(position_chance_mae(3), 2.0 / 3);
  RunConfig run;
  run.model.d_model = 128;
  run.analysis.sequences = 32;
  run.analysis.probe_folds = 5;
  EXPECT_EQ(probe_windows_needed(run, 64), 32);   // 4/5 · 32 · 64 = 1638 fit rows >= 1280
  EXPECT_EQ(probe_windows_needed(run, 16), 100);  // 4/5 · 100 · 16 = 1280
}

TEST(Analyse, SpearmanUsesAverageRanksForTies) {
  auto a = torch::tensor({1.0, 2.0, 3.0, 4.0}), b = torch::tensor({10.0, 20.0, 30.0, 40.0});
  EXPECT_DOUBLE_EQ(spearman(a, b), 1.0);
  EXPECT_DOUBLE_EQ(spearman(a, -b), -1.0);
  // ranks (0, 1.5, 1.5, 3) vs (0, 1, 2, 3): 4.5 / sqrt(4.5 · 5)
  EXPECT_NEAR(spearman(torch::tensor({1.0, 2.0, 2.0, 3.0}), a), 4.5 / std::sqrt(4.5 * 5.0), 1e-12);
}

TEST(Analyse, CumulativeGradientNormalizesEachRowAndStartsAtTheNewestToken) {
  auto norms = torch::tensor({{1.0, 0.0, 3.0}, {0.0, 2.0, 2.0}});  // rows sum to 4
  // Newest first: row 1 → 0.75, 0.75, 1; row 2 → 0.5, 1, 1.
  EXPECT_EQ(cumulative_gradient(norms), (std::vector<double>{0.625, 0.875, 1.0}));
  EXPECT_EQ(effective_receptive_field({0.625, 0.875, 1.0}, 0.5), 1);
  EXPECT_EQ(effective_receptive_field({0.625, 0.875, 1.0}, 0.9), 3);
}

// A learned table whose rows lie on a line: row distances grow with |i - j| → Spearman 1.
TEST(Analyse, GeometryOfALinearTableIsPerfectlyOrdered) {
  const RunConfig run = parse_study("g.ini",
                                    "encoding = learned\n[model]\nd_model = 32\nheads = 2\nlayers = 1\n[train]\n"
                                    "seq_len = 16\n[eval]\nlengths = 16,64\ntokens = 256\n[analysis]\nrun = pe_geometry\n",
                                    {})
                            .runs.front();
  TinyModel tiny;
  tiny.encoding = "learned";
  tiny.heads = 2;
  tiny.layers = 1;
  tiny.max_length = 64;
  auto model = tiny.build();
  {
    torch::NoGradGuard no_grad;
    auto table = model->named_parameters()["encoding.table"];
    table.copy_(torch::arange(64, torch::kFloat32).unsqueeze(1) * torch::ones({1, 32}));
  }
  const auto out = analyse_model(model, random_tokens(2000), run, torch::kCPU);
  EXPECT_NEAR(values_of(out, "encoding/distance_spearman")[0], 1.0, 1e-12);
  const auto& norms = values_of(out, "encoding/row_norm");
  ASSERT_EQ(norms.size(), 64u);
  EXPECT_NEAR(norms[3], 3 * std::sqrt(32.0), 1e-5);
}

}  // namespace
}  // namespace pebench
