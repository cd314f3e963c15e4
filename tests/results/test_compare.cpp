// pebench compare: statistics across seeds checked against hand-computed values.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cmath>

#include "results/compare.h"
#include "results/store.h"
#include "tests/results/store_fixtures.h"

namespace pebench {
namespace {

TEST(Compare, StudentTCriticalValues) {
  EXPECT_DOUBLE_EQ(t_critical_95(1), 12.706);
  EXPECT_DOUBLE_EQ(t_critical_95(2), 4.303);
  EXPECT_DOUBLE_EQ(t_critical_95(30), 2.042);
  EXPECT_NEAR(t_critical_95(60), 2.000, 2e-3);
  EXPECT_NEAR(t_critical_95(120), 1.980, 2e-3);
  EXPECT_TRUE(std::isnan(t_critical_95(0)));
}

TEST(Compare, MedianOnAGridIsAValueOfTheGrid) {
  EXPECT_EQ(median_on_grid({64, 1024, 128}), 128);
  EXPECT_EQ(median_on_grid({1024, 64, 1024, 16}), 64);  // even count: the lower middle, not 544
  EXPECT_EQ(median_on_grid({8}), 8);
  EXPECT_TRUE(std::isnan(median_on_grid({})));
}

TEST(Compare, EffectiveExtrapolationLengthStopsAtTheFirstLengthPastTolerance) {
  const std::vector<int64_t> lengths = {16, 32, 64, 128};
  EXPECT_EQ(effective_extrapolation_length(lengths, {5, 5.4, 5.6, 5.0}, 16, 0.1), 32);  // 5.6 > 5.5 stops it
  EXPECT_EQ(effective_extrapolation_length(lengths, {5, 5.4, 5.6, 5.0}, 16, 0.2), 128);
  // The best at or below the train length; lengths below it do not count.
  EXPECT_EQ(effective_extrapolation_length(lengths, {6, 5, 5.4, 9}, 32, 0.1), 64);
  EXPECT_EQ(effective_extrapolation_length(lengths, {6, 5, 5.4, NAN}, 32, 0.1), 64);  // NaN is not within
  EXPECT_EQ(effective_extrapolation_length(lengths, {4, 5, 5.4, 5}, 32, 0.1), 0);     // 5 > 1.1 · 4 at L_train
}

TEST(Compare, MeanAndConfidenceIntervalAcrossSeedsWithoutDivergedRuns) {
  const StoreContents contents = seeds_store("compare.h5");
  CompareOptions options;
  options.format = "json";
  const std::string json = compare_stores({contents}, options);
  // ppl@16 over seeds 5, 6, 7: mean 6, sd 1, CI 4.303 / sqrt(3) = 2.48434...
  EXPECT_NE(json.find("\"encoding\": \"alibi\", \"L_train\": \"16\", \"seeds\": 3, \"diverged\": 1, \"failed\": 0, "
                      "\"unfinished\": 0, \"ppl@16\": 6, \"ci95@16\": 2.4843"),
            std::string::npos)
      << json;
  // ratio per seed (7+s)/(5+s): 1.4, 1.3333, 1.2857 → mean 1.33968...
  EXPECT_NE(json.find("\"ratio\": 1.3396"), std::string::npos) << json;
  EXPECT_NE(json.find("\"eff_len\": 16"), std::string::npos);
  EXPECT_NE(json.find("\"encoding\": \"rope\", \"L_train\": \"16\", \"seeds\": 1"), std::string::npos);
  EXPECT_NE(json.find("\"ci95@16\": null"), std::string::npos);  // one seed: no interval

  const std::string table = compare_table(contents);
  EXPECT_NE(table.find("3 +1 diverged"), std::string::npos) << table;
  EXPECT_NE(table.find("6.000 ±2.484"), std::string::npos) << table;
}

// A key a config leaves out at its default (train.precision = fp32) still groups and
// filters: the bf16 seed is its own group, not a third seed of the fp32 runs.
TEST(Compare, AKeyLeftOutAtItsDefaultGroupsByTheDefault) {
  StoreContents contents = seeds_store("compare.h5");
  for (auto& run : contents.runs)
    if (run.row.run_id == "alibi-2") run.config += "train.precision = bf16\n";
  CompareOptions options;
  options.format = "json";
  options.defaults = {{"train.precision", "fp32"}, {"seed", "0"}};
  const std::string json = compare_stores({contents}, options);
  EXPECT_NE(json.find("\"encoding\": \"alibi\", \"L_train\": \"16\", \"train.precision\": \"bf16\", \"seeds\": 1,"),
            std::string::npos) << json;
  EXPECT_NE(json.find("\"encoding\": \"alibi\", \"L_train\": \"16\", \"train.precision\": \"fp32\", \"seeds\": 2, \"diverged\": 1"),
            std::string::npos) << json;
  options.where["train.precision"] = {"fp32"};
  const std::string fp32_only = compare_stores({contents}, options);
  EXPECT_EQ(fp32_only.find("bf16"), std::string::npos) << fp32_only;
  EXPECT_NE(fp32_only.find("\"seeds\": 2, \"diverged\": 1"), std::string::npos) << fp32_only;
}

// A store's own recorded defaults come first: a run lacking a key is given the default of
// the pebench that wrote its store, this version's only for stores that record none.
TEST(Compare, AKeyLeftOutTakesTheDefaultItsStoreRecorded) {
  StoreContents contents = seeds_store("compare_recorded.h5");
  for (auto& run : contents.runs)
    if (run.row.run_id == "alibi-2") run.config += "train.precision = bf16\n";
  contents.key_defaults = {{"train.precision", "fp16-then"}};
  CompareOptions options;
  options.format = "json";
  options.defaults = {{"train.precision", "fp32"}};
  const std::string json = compare_stores({contents}, options);
  EXPECT_NE(json.find("\"train.precision\": \"fp16-then\", \"seeds\": 2"), std::string::npos) << json;
  EXPECT_EQ(json.find("fp32"), std::string::npos) << json;
}

// A run that lacks a key which would count in its id now predates the key: it gets the
// key's legacy value (what it computed with), not the default, so an old store's run and a
// new store's run of one config but different computations are not grouped as seeds.
TEST(Compare, ARunThatPredatesAKeyGetsItsLegacyValueNotTheDefault) {
  StoreContents contents = seeds_store("compare_legacy.h5");
  for (auto& run : contents.runs)
    if (run.row.run_id == "alibi-2") run.config += "encoding.random_draw = per_layer\n";
  contents.key_defaults = {{"encoding.random_draw", "per_layer"}};
  CompareOptions options;
  options.format = "json";
  const std::string grouped = compare_stores({contents}, options);  // without legacy values: one group
  EXPECT_NE(grouped.find("\"encoding\": \"alibi\", \"L_train\": \"16\", \"seeds\": 3, \"diverged\": 1"), std::string::npos) << grouped;
  options.legacy = [](const std::string& key, const std::map<std::string, std::string>& config) {
    return key == "encoding.random_draw" && config.at("encoding") == "alibi" ? std::string("per_forward") : "";
  };
  const std::string json = compare_stores({contents}, options);
  EXPECT_NE(json.find("\"encoding.random_draw\": \"per_forward\", \"seeds\": 2"), std::string::npos) << json;
  EXPECT_NE(json.find("\"encoding\": \"alibi\", \"L_train\": \"16\", \"encoding.random_draw\": \"per_layer\", \"seeds\": 1"), std::string::npos) << json;
}

TEST(Compare, WhereByToleranceSortAndFormats) {
  const StoreContents contents = seeds_store("compare.h5");
  CompareOptions options;
  options.where["encoding"] = {"rope"};
  const std::string rope_only = compare_stores({contents}, options);
  EXPECT_EQ(rope_only.find("alibi"), std::string::npos);
  EXPECT_NE(rope_only.find("rope"), std::string::npos);

  options = CompareOptions{};
  options.sort = "ppl@16";
  options.format = "csv";
  options.tolerance = 0.5;
  const std::string csv = compare_stores({contents, contents}, options);  // two stores: twice the runs
  EXPECT_EQ(csv.rfind("encoding,L_train,seeds,diverged,failed,unfinished,ppl@16,ci95@16,", 0), 0u) << csv;
  EXPECT_NE(csv.find("\nalibi,16,6,2,0,0,6,"), std::string::npos) << csv;  // sorted: alibi (6) before rope (15)
  EXPECT_LT(csv.find("\nalibi"), csv.find("\nrope"));
  EXPECT_NE(csv.find(",64\n"), std::string::npos) << csv;  // eff_len (last column) 64 with tolerance 0.5

  options = CompareOptions{};
  options.format = "markdown";
  options.by = {"encoding"};
  const std::string markdown = compare_stores({contents}, options);
  EXPECT_EQ(markdown.rfind("| encoding | seeds | ppl@16 |", 0), 0u) << markdown;
  EXPECT_NE(markdown.find("| --- |"), std::string::npos);

  options.sort = "no_such_column";
  EXPECT_THROW(compare_stores({contents}, options), std::invalid_argument);
}

// A finished run held in memory (compare reads only these fields): ppl at 16, 32, 64.
StoredRun paired_run(const std::string& encoding, int64_t seed, const std::vector<double>& ppl, const std::string& extra_config = "") {
  StoredRun run;
  run.row = {encoding + "-" + std::to_string(seed) + (extra_config.empty() ? "" : "-x"), encoding, 16, seed, "done"};
  run.config = "encoding = " + encoding + "\nseed = " + std::to_string(seed) + "\ntrain.seq_len = 16\n" + extra_config;
  run.eval_lengths = {16, 32, 64};
  run.eval_ppl = ppl;
  run.eval_tokens = {64, 64, 64};
  run.extra["eval/bytes"] = {128, 128, 128};  // 2 bytes per token: bpb = log2(ppl) / 2
  return run;
}

// Over seeds, eff_len is the median effective length (an eval length: the lower middle
// one for an even count) with its range, and each analysis column is a mean ±95% CI.
// Seeds 0..2 of one group, train length 16, tolerance 10%: ppl flat (eff_len 64), up 20%
// at 64 (32), up 20% at 32 (16); median 32 [16,64] (the mean, 37.3, is no eval length).
// ERF90 5, 6, 10: mean 7, sd 2.6458, CI 4.303 · 2.6458 / sqrt(3) = 6.5729. eff_ctx, a
// window of the analysis' grid, is a median too: windows 8, 8, 32 give 8 [8,32], not 16.
TEST(Compare, OverSeedsEffectiveLengthIsTheMedianWithItsRangeAndAnalysesGetAnInterval) {
  StoreContents contents;
  const std::vector<std::vector<double>> curves = {{5, 5, 5}, {5, 5, 6}, {5, 6, 6}};
  const std::vector<double> erf = {5, 6, 10};
  for (int64_t seed = 0; seed < 3; ++seed) {
    contents.runs.push_back(paired_run("alibi", seed, curves[static_cast<size_t>(seed)]));
    contents.runs.back().extra["receptive_field/erf"] = {1, erf[static_cast<size_t>(seed)], 12};
    contents.runs.back().extra["receptive_field/effective_context"] = {std::vector<double>{8, 8, 32}[static_cast<size_t>(seed)]};
  }
  CompareOptions options;
  options.format = "json";
  const std::string json = compare_stores({contents}, options);
  EXPECT_NE(json.find("\"eff_len\": 32, \"eff_len_min\": 16, \"eff_len_max\": 64"), std::string::npos) << json;
  EXPECT_NE(json.find("\"ERF90\": 7, \"ERF90_ci95\": 6.5729"), std::string::npos) << json;
  EXPECT_NE(json.find("\"eff_ctx\": 8, \"eff_ctx_min\": 8, \"eff_ctx_max\": 32"), std::string::npos) << json;
  options.format = "table";
  const std::string table = compare_stores({contents}, options);
  EXPECT_NE(table.find("32 [16,64]"), std::string::npos) << table;
  EXPECT_NE(table.find("7.0 ±6.6"), std::string::npos) << table;
  EXPECT_NE(table.find("8.0 [8.0,32.0]"), std::string::npos) << table;
  EXPECT_NE(table.find("over finished seeds: eff_len, eff_ctx as the median (the lower middle for an even count), "
                       "[least,most] where the seeds differ; ERF90 as mean ±95% CI (t)\n"),
            std::string::npos) << table;
  // An even count takes the lower middle: seeds 16, 32, 64 and 64 give 32, not 48.
  contents.runs.push_back(paired_run("alibi", 3, {5, 5, 5}));
  options.format = "json";
  EXPECT_NE(compare_stores({contents}, options).find("\"eff_len\": 32, \"eff_len_min\": 16"), std::string::npos);
  // One seed: its own length, no range and no interval, and the legend reads as before.
  contents.runs.resize(1);
  options.format = "table";
  const std::string one = compare_stores({contents}, options);
  EXPECT_EQ(one.find("as the median"), std::string::npos) << one;
  EXPECT_EQ(one.find("5.0 ±"), std::string::npos) << one;
  EXPECT_EQ(one.find("[64,"), std::string::npos) << one;
}

// alibi seeds 0..2 (ppl 5+s, 6+s, 7+s) and a diverged seed 3; rope seeds 0..2 at alibi's
// ppl times 1.1, 1.2, 1.15, with a "pi" variant at half rope's ppl, and a rope seed 3
// whose alibi partner diverged.
StoreContents paired_store() {
  StoreContents contents;
  const std::vector<double> factors = {1.1, 1.2, 1.15};
  for (int64_t seed = 0; seed < 4; ++seed) {
    const double s = static_cast<double>(seed);
    contents.runs.push_back(paired_run("alibi", seed, {5 + s, 6 + s, 7 + s}));
    const double f = seed < 3 ? factors[seed] : 2.0;
    contents.runs.push_back(paired_run("rope", seed, {(5 + s) * f, (6 + s) * f, (7 + s) * f}));
    VariantCurve pi;
    pi.name = "pi";
    pi.ppl = {(5 + s) * f / 2, (6 + s) * f / 2, (7 + s) * f / 2};
    contents.runs.back().variants.push_back(pi);
  }
  contents.runs[6].row.status = "diverged";  // alibi seed 3
  return contents;
}

// pk_dist over seeds leaves out the seeds below 0.9 at the train length (flagged, not
// ranked) and says how many it kept: seeds retrieving to 30 and 50 tokens and a seed at 0.5.
TEST(Compare, OverSeedsPasskeyDistanceCountsOnlyTheSeedsThatRetrieve) {
  StoreContents contents;
  const std::vector<double> accuracy = {1.0, 0.95, 0.5}, distance = {30, 50, 60};
  for (int64_t seed = 0; seed < 3; ++seed) {
    contents.runs.push_back(paired_run("alibi", seed, {5, 5, 5}));
    contents.runs.back().extra["eval/passkey/accuracy"] = {accuracy[static_cast<size_t>(seed)], 0.5, 0.1};
    contents.runs.back().extra["eval/passkey/max_distance"] = {distance[static_cast<size_t>(seed)]};
  }
  CompareOptions options;
  options.format = "json";
  const std::string json = compare_stores({contents}, options);
  EXPECT_NE(json.find("\"pk_dist\": 30, \"pk_dist_min\": 30, \"pk_dist_max\": 50, \"pk_dist_seeds\": 2"), std::string::npos)
      << json;
  options.format = "table";
  const std::string table = compare_stores({contents}, options);
  EXPECT_NE(table.find("30 [30,50] (2 of 3)"), std::string::npos) << table;
  EXPECT_NE(table.find("0.82 ±0.68"), std::string::npos) << table;  // pk@L_train: every seed, 0.8167 ±0.6842
}

// The paired accuracy of a task: rope's accuracy is alibi's minus 0.1, 0.2, 0.15 (seeds
// 0..2): mean -0.15, sd 0.05, CI 4.303 · 0.05 / sqrt(3) = 0.1242161. The "pi" variant has no
// accuracy of its own, so no accuracy pairs.
TEST(Compare, BaselinePairsTaskAccuracyOfTheTrainedModelsOnly) {
  StoreContents contents = paired_store();
  const std::vector<double> drops = {0.1, 0.2, 0.15, 0.0};
  for (auto& run : contents.runs) {
    const double s = static_cast<double>(run.row.seed);
    const double drop = run.row.encoding == "rope" ? drops[static_cast<size_t>(run.row.seed)] : 0.0;
    run.extra["eval/accuracy"] = {0.9 - 0.1 * s - drop, 0.8 - drop, 0.5 - drop};
  }
  CompareOptions options;
  options.baseline_key = "encoding";
  options.baseline_value = "alibi";
  options.format = "json";
  const std::string json = compare_stores({contents}, options);
  EXPECT_NE(json.find("\"acc-base@16\": -0.14999999999999999, \"acc-base_lo@16\": -0.274216910"), std::string::npos) << json;
  EXPECT_NE(json.find("\"acc-base_hi@64\": -0.02578"), std::string::npos) << json;
  EXPECT_NE(json.find("\"acc@64\": null, \"acc_ci95@64\": null, \"acc-base@16\": null"), std::string::npos) << json;  // rope+pi
  options.format = "table";
  const std::string table = compare_stores({contents}, options);
  EXPECT_NE(table.find("-0.150 [-0.274,-0.026]"), std::string::npos) << table;
  EXPECT_NE(table.find("acc-base: acc minus the baseline run's"), std::string::npos) << table;
}

// The paired columns against hand-computed values: d = ln(rope / alibi) = ln 1.1, ln 1.2,
// ln 1.15 over the 3 pairs (rope seed 3's partner diverged): mean 0.1391312, sd 0.0435092,
// CI 4.303 · sd / sqrt(3) = 0.1080914; exp gives 1.149275 [1.031527, 1.280464]. The
// groups' own CIs overlap (alibi 6 ±2.48 at 16), the pairs' excludes 1.
TEST(Compare, BaselinePairsEachRunWithItsSeedAndGivesTheGeometricMeanRatioWithItsInterval) {
  const StoreContents contents = paired_store();
  CompareOptions options;
  options.baseline_key = "encoding";
  options.baseline_value = "alibi";
  options.where["encoding"] = {"alibi", "rope"};  // not the variant
  options.format = "json";
  const std::string json = compare_stores({contents}, options);
  EXPECT_NE(json.find("\"encoding\": \"alibi\", \"L_train\": \"16\", \"seeds\": 3, \"diverged\": 1"), std::string::npos) << json;
  EXPECT_NE(json.find("\"pairs\": \"base\", \"ppl/base@16\": \"base\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"pairs\": 3, \"ppl/base@16\": 1.14927490"), std::string::npos) << json;
  EXPECT_NE(json.find("\"ppl/base_lo@16\": 1.03152662"), std::string::npos) << json;
  EXPECT_NE(json.find("\"ppl/base_hi@64\": 1.28046409"), std::string::npos) << json;  // the same ratios at every length

  options.format = "table";
  const std::string table = compare_stores({contents}, options);
  EXPECT_NE(table.find("1.149 [1.032,1.280]"), std::string::npos) << table;
  EXPECT_NE(table.find("ppl/base: ppl divided by the baseline's (encoding = alibi)"), std::string::npos) << table;

  // Bits per byte: d = bpb - bpb_alibi = log2(f) / 2: mean 0.1003620, CI 0.0779714.
  options.metric = "bpb";
  options.format = "csv";
  const std::string csv = compare_stores({contents}, options);
  EXPECT_NE(csv.find(",pairs,bpb-base@16,bpb-base_lo@16,bpb-base_hi@16,"), std::string::npos) << csv;
  EXPECT_NE(csv.find(",3,0.1003619651,0.02239052889,"), std::string::npos) << csv;  // 0.1003620 - 0.0779714 = 0.0223905

  // An eval-time variant against its own model: exactly half, no spread.
  options = CompareOptions{};
  options.baseline_key = "encoding";
  options.baseline_value = "rope";
  options.format = "json";
  const std::string variant = compare_stores({contents}, options);
  EXPECT_NE(variant.find("\"encoding\": \"rope+pi\", \"L_train\": \"16\", \"seeds\": 4"), std::string::npos) << variant;
  EXPECT_NE(variant.find("\"pairs\": 4, \"ppl/base@16\": 0.5, \"ppl/base_lo@16\": 0.5, \"ppl/base_hi@16\": 0.5"),
            std::string::npos) << variant;
  // alibi against rope: only 3 of alibi's 4 runs are done, and each has its rope seed.
  EXPECT_NE(variant.find("\"pairs\": 3, \"ppl/base@16\": 0.870"), std::string::npos) << variant;
}

// A run with no partner equal in every key but the encoding is paired with the one equal
// to it but in the encoding options; two such runs are refused, naming both and the key
// that tells them apart; a baseline no run has, or a key the groups do not differ in, too.
TEST(Compare, BaselineFallsBackPastTheEncodingOptionsAndRefusesWhatItCannotPair) {
  StoreContents contents = paired_store();
  contents.runs.push_back(paired_run("rope", 0, {11, 12, 14}, "encoding.rope_base = 500\n"));
  CompareOptions options;
  options.defaults = {{"encoding.rope_base", "10000"}, {"encoding.share_across_layers", "true"}};
  options.baseline_key = "encoding";
  options.baseline_value = "alibi";
  options.where["encoding"] = {"alibi", "rope"};
  options.format = "json";
  const std::string json = compare_stores({contents}, options);
  // rope_base 500 seed 0 against alibi seed 0 (ppl 5, 6, 7): 11/5, 12/6, 14/7.
  EXPECT_NE(json.find("\"encoding.rope_base\": \"500\", \"seeds\": 1, \"diverged\": 0, \"failed\": 0, \"unfinished\": 0"),
            std::string::npos) << json;
  EXPECT_NE(json.find("\"pairs\": 1, \"ppl/base@16\": 2.2000000000000002, \"ppl/base_lo@16\": null"), std::string::npos) << json;
  // rope_base 10000 still pairs exactly, with alibi's default rope_base.
  EXPECT_NE(json.find("\"pairs\": 3, \"ppl/base@16\": 1.14927490"), std::string::npos) << json;

  // A run with analyses pairs with its seed's run without them (they run after the eval):
  // seed 1 against alibi seed 1 (ppl 6): 9/6. The analysis-less rope runs still pair exactly.
  StoreContents analysed = paired_store();
  analysed.runs.push_back(paired_run("rope", 1, {9, 10, 11}, "analysis.run = window_ppl\n"));
  options.defaults["analysis.run"] = "none";
  const std::string with_analyses = compare_stores({analysed}, options);
  EXPECT_NE(with_analyses.find("\"analysis.run\": \"window_ppl\", \"seeds\": 1"), std::string::npos) << with_analyses;
  EXPECT_NE(with_analyses.find("\"pairs\": 1, \"ppl/base@16\": 1.5, "), std::string::npos) << with_analyses;
  EXPECT_NE(with_analyses.find("\"pairs\": 3, \"ppl/base@16\": 1.14927490"), std::string::npos) << with_analyses;

  contents.runs.push_back(paired_run("alibi", 0, {5, 6, 7}, "encoding.share_across_layers = false\n"));
  try {
    compare_stores({contents}, options);
    FAIL() << "two alibi partners for rope_base 500";
  } catch (const std::invalid_argument& error) {
    EXPECT_NE(std::string(error.what()).find("run rope-0-x matches 2 baseline runs (alibi-0-x, alibi-0, which differ in "
                                             "encoding.share_across_layers)"),
              std::string::npos)
        << error.what();
  }
  options.baseline_value = "xpos";
  EXPECT_THROW(compare_stores({paired_store()}, options), std::invalid_argument);
  options.baseline_key = "seed";
  options.baseline_value = "0";
  EXPECT_THROW(compare_stores({paired_store()}, options), std::invalid_argument);
}

}  // namespace
}  // namespace pebench
