// Every encoding against its paper's formula with hand-computed values, and the
// properties the model relies on (causality, relative scores).
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include <torch/optim/sgd.h>

#include "encodings/formulas.h"
#include "encodings/registry.h"
#include "tests/tiny_model.h"

namespace pebench {
namespace {

std::vector<double> log2_of(const std::vector<double>& values) {
  std::vector<double> out;
  for (double v : values) out.push_back(std::log2(v));
  return out;
}

void expect_log2_slopes(int64_t heads, const std::vector<double>& expected) {
  const auto got = log2_of(alibi_slopes(heads));
  ASSERT_EQ(got.size(), expected.size()) << heads << " heads";
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_NEAR(got[i], expected[i], 1e-12) << heads << " heads, head " << i;
}

TEST(Alibi, SlopesForPowerOfTwoHeads) {
  expect_log2_slopes(4, {-2, -4, -6, -8});
  expect_log2_slopes(8, {-1, -2, -3, -4, -5, -6, -7, -8});
}

TEST(Alibi, SlopesForOtherHeadCountsFollowTheReferenceRule) {
  expect_log2_slopes(6, {-2, -4, -6, -8, -1, -3});
  expect_log2_slopes(12, {-1, -2, -3, -4, -5, -6, -7, -8, -0.5, -1.5, -2.5, -3.5});
  expect_log2_slopes(16, {-0.5, -1, -1.5, -2, -2.5, -3, -3.5, -4, -4.5, -5, -5.5, -6, -6.5, -7, -7.5, -8});
  // 20 heads: the 16 above, then every other slope of 32 heads (2^(-h/4), h = 1, 3, 5, 7).
  expect_log2_slopes(20, {-0.5, -1, -1.5, -2, -2.5, -3, -3.5, -4, -4.5, -5, -5.5, -6, -6.5, -7, -7.5, -8,
                          -0.25, -0.75, -1.25, -1.75});
}

TEST(Alibi, BiasIsMinusSlopeTimesDistance) {
  EncodingOptions options;
  options.heads = 2;  // slopes 2^-4, 2^-8
  auto alibi = find_encoding("alibi")->make(options);
  auto positions = torch::arange(5, torch::kLong);
  auto bias = alibi->bias(positions, positions);
  ASSERT_EQ(bias.sizes(), (std::vector<int64_t>{2, 5, 5}));
  EXPECT_FLOAT_EQ(bias[0][3][1].item<float>(), -0.125f);      // -2^-4 * 2
  EXPECT_FLOAT_EQ(bias[1][4][0].item<float>(), -4.0f / 256);  // -2^-8 * 4
  EXPECT_FLOAT_EQ(bias[0][2][2].item<float>(), 0.0f);
  // Same positions again: the cached tensor comes back.
  EXPECT_TRUE(alibi->bias(positions, positions).is_same(bias));
}

// Cache keys never read position values (a read is a device sync on CUDA): the same
// tensor, or a view of it at the same offset and shape, is a hit; anything else, or a
// write since, is a miss.
TEST(PositionCaches, KeyIsTheTensorNotItsValues) {
  auto positions = torch::arange(6, torch::kLong);
  PositionsKey key;
  EXPECT_TRUE(key.changed(positions));
  EXPECT_FALSE(key.changed(positions));
  EXPECT_FALSE(key.changed(positions.slice(0, 0, 6)));  // a new view of the same elements
  EXPECT_TRUE(key.changed(positions.slice(0, 1, 6)));   // other elements
  EXPECT_TRUE(key.changed(positions));
  EXPECT_TRUE(key.changed(torch::arange(6, torch::kLong)));  // equal values, another tensor
  auto written = torch::arange(6, torch::kLong);
  key.changed(written);
  written.mul_(2);  // in place: the version counter moves
  EXPECT_TRUE(key.changed(written));
  EXPECT_FALSE(key.changed(written));
}

// Every forward of one length gets a view of the same arange, so caches hit across steps.
TEST(PositionCaches, PlainPositionsAreViewsOfOneArange) {
  auto alibi = find_encoding("alibi")->make(EncodingOptions{});
  auto first = alibi->positions(8, torch::kCPU);
  auto again = alibi->positions(8, torch::kCPU);
  auto shorter = alibi->positions(5, torch::kCPU);
  EXPECT_TRUE(torch::equal(first, torch::arange(8, torch::kLong)));
  EXPECT_TRUE(torch::equal(shorter, torch::arange(5, torch::kLong)));
  EXPECT_TRUE(first.is_alias_of(again) && first.is_alias_of(shorter));
  auto bias = alibi->bias(first, first);
  EXPECT_TRUE(alibi->bias(again, again).is_same(bias));  // the next step's forward: a hit
  EXPECT_TRUE(torch::equal(alibi->positions(12, torch::kCPU), torch::arange(12, torch::kLong)));
}

// A position tensor written in place after a cache was built from it is not served from
// that cache: every caching encoding then gives what a fresh one gives.
TEST(PositionCaches, AWriteToThePositionsRebuildsEveryCache) {
  EncodingOptions options;
  options.d_model = 16;
  options.heads = 2;
  for (const std::string name : {"sinusoidal", "rope", "xpos", "alibi", "sandwich", "t5", "kerple_log"}) {
    torch::manual_seed(0);
    auto cached = find_encoding(name)->make(options);
    torch::manual_seed(0);
    auto fresh = find_encoding(name)->make(options);
    auto positions = torch::arange(6, torch::kLong);
    auto q = torch::randn({1, 2, 6, 8}), k = torch::randn({1, 2, 6, 8});
    auto tokens = torch::randn({1, 6, 16});
    auto run = [&](PositionalEncodingImpl& encoding, const torch::Tensor& p) {
      auto qq = q.clone(), kk = k.clone();
      encoding.rotate(qq, kk, p);
      auto bias = encoding.bias(p, p);
      return std::vector<torch::Tensor>{encoding.embed(tokens, p), qq, kk, bias.defined() ? bias : torch::zeros({1})};
    };
    run(*cached, positions);
    positions.mul_(3);
    const auto got = run(*cached, positions), want = run(*fresh, torch::arange(6, torch::kLong) * 3);
    for (size_t i = 0; i < got.size(); ++i) EXPECT_TRUE(torch::equal(got[i], want[i])) << name << ", output " << i;
  }
}

TEST(Sinusoidal, InterleavedTableMatchesVaswani) {
  auto table = sinusoid_table(torch::tensor({0, 1, 2}, torch::kLong), 4, "interleaved");
  // d = 4: frequencies 1 and 1/10000^(2/4) = 0.01.
  EXPECT_FLOAT_EQ(table[0][0].item<float>(), 0.0f);
  EXPECT_FLOAT_EQ(table[0][1].item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(table[1][0].item<float>(), static_cast<float>(std::sin(1.0)));
  EXPECT_FLOAT_EQ(table[1][1].item<float>(), static_cast<float>(std::cos(1.0)));
  EXPECT_FLOAT_EQ(table[2][2].item<float>(), static_cast<float>(std::sin(0.02)));
  EXPECT_FLOAT_EQ(table[2][3].item<float>(), static_cast<float>(std::cos(0.02)));
}

TEST(Sinusoidal, ConcatLayoutPutsSinesFirst) {
  auto table = sinusoid_table(torch::tensor({2}, torch::kLong), 4, "concat");
  EXPECT_FLOAT_EQ(table[0][0].item<float>(), static_cast<float>(std::sin(2.0)));
  EXPECT_FLOAT_EQ(table[0][1].item<float>(), static_cast<float>(std::sin(0.02)));
  EXPECT_FLOAT_EQ(table[0][2].item<float>(), static_cast<float>(std::cos(2.0)));
  EXPECT_FLOAT_EQ(table[0][3].item<float>(), static_cast<float>(std::cos(0.02)));
}

TEST(Sinusoidal, AddsTheTableToTokenEmbeddings) {
  EncodingOptions options;
  options.d_model = 4;
  auto encoding = find_encoding("sinusoidal")->make(options);
  auto positions = torch::arange(3, torch::kLong);
  auto x = torch::zeros({2, 3, 4});
  auto out = encoding->embed(x, positions);
  EXPECT_TRUE(torch::allclose(out[1], sinusoid_table(positions, 4, "interleaved")));
}

TEST(Rope, InverseFrequenciesAreBasePowers) {
  auto inverse = rope_inverse_frequency(8, 10000.0, torch::kCPU);
  ASSERT_EQ(inverse.size(0), 4);
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(inverse[i].item<double>(), std::pow(10000.0, -2.0 * i / 8), 1e-15);
}

TEST(Rope, RotatesHalfSplitPairs) {
  EncodingOptions options;
  options.d_model = 4;
  options.heads = 1;  // d_head 4: pairs (x0, x2) at θ=1 and (x1, x3) at θ=0.01
  auto rope = find_encoding("rope")->make(options);
  auto q = torch::tensor({1.0f, 0.0f, 0.0f, 0.0f}).view({1, 1, 1, 4});
  auto k = q.clone();
  rope->rotate(q, k, torch::tensor({3}, torch::kLong));
  EXPECT_NEAR(q[0][0][0][0].item<float>(), std::cos(3.0), 1e-6);
  EXPECT_NEAR(q[0][0][0][2].item<float>(), std::sin(3.0), 1e-6);
  EXPECT_NEAR(q[0][0][0][1].item<float>(), 0.0, 1e-6);
}

TEST(Rope, ScoresDependOnlyOnDistance) {
  EncodingOptions options;
  options.d_model = 32;
  options.heads = 2;
  auto rope = find_encoding("rope")->make(options);
  torch::manual_seed(0);
  auto q0 = torch::randn({1, 2, 1, 16}), k0 = torch::randn({1, 2, 1, 16});
  auto score = [&](int64_t query_position, int64_t key_position) {
    auto q = q0.clone(), k = k0.clone(), q_dummy = q0.clone(), k_dummy = k0.clone();
    rope->rotate(q, k_dummy, torch::tensor({query_position}, torch::kLong));
    rope->rotate(q_dummy, k, torch::tensor({key_position}, torch::kLong));
    return (q * k).sum().item<double>();
  };
  EXPECT_NEAR(score(7, 3), score(107, 103), 1e-3);
  EXPECT_NEAR(score(20, 20), score(500, 500), 1e-3);
  EXPECT_GT(std::abs(score(7, 3) - score(7, 5)), 1e-3);
}

// Scale s = 4, d_head = 8, base 10000 (θ = 1, 0.1, 0.01, 0.001), train length 64.
TEST(RopeScaling, FrequencyTablesAtScaleFour) {
  auto expect_table = [](const std::string& variant, const std::vector<double>& expected) {
    auto theta = rope_scaled_frequency(variant, 8, 10000.0, 4.0, 64);
    ASSERT_EQ(theta.size(0), 4) << variant;
    for (int i = 0; i < 4; ++i)
      EXPECT_NEAR(theta[i].item<double>() / expected[i], 1.0, 1e-6) << variant << " θ" << i;
  };
  expect_table("", {1, 0.1, 0.01, 0.001});
  expect_table("pi", {0.25, 0.025, 0.0025, 0.00025});  // positions / 4
  // ntk: base' = 10000 · 4^(8/6), so θ_i = 10^(-i) · 4^(-i/3).
  expect_table("ntk", {1, 0.1 / 1.5874010520, 0.01 / 2.5198420998, 0.00025});
  // yarn (HF's ramp): pair index where θ turns r times in 64 tokens, D(r) = 8 ln(64/2πr)/(2 ln 10^4):
  // D(32) = -0.497 → lo = 0, D(1) = 1.008 → hi = 2; kept = 1 - i/2 clamped = 1, 0.5, 0, 0;
  // θ' = (1 - kept)θ/4 + kept·θ.
  expect_table("yarn", {1, 0.0625, 0.0025, 0.00025});
  // yarn_paper: turns r = 64θ/2π = 10.186, 1.0186, 0.102, 0.0102; kept γ = (r - 1)/31 clamped:
  // γ0 = 0.296320, γ1 = 0.00059974, γ2 = γ3 = 0.
  expect_table("yarn_paper", {0.4722399, 0.02504498, 0.0025, 0.00025});
  EXPECT_NEAR(rope_attention_factor("yarn_paper", 4.0), 1.1386294361, 1e-9);
  EXPECT_NEAR(rope_attention_factor("yarn", 4.0), 1.1386294361, 1e-9);  // 0.1 ln 4 + 1
  EXPECT_EQ(rope_attention_factor("pi", 4.0), 1.0);
  // At or below the train length every variant is plain RoPE.
  EXPECT_TRUE(torch::equal(rope_scaled_frequency("yarn", 8, 10000.0, 1.0, 64), rope_inverse_frequency(8, 10000.0, torch::kCPU)));
}

// The audit's numbers (issue 17): head size 32, base 10^4, train length 64. HF keeps
// 100/80/60/40/20 % of θ for the first five pairs (lo = floor(D(32)) → 0, hi = ceil(D(1) =
// 4.03) = 5); the paper's ramp over turns, (64·10^(-i/8)/2π - 1)/31, keeps 29.6/15.3/7.2/2.6/0.06 %.
TEST(RopeScaling, YarnKeepsWhatTheReferenceCodeKeepsAtHeadSize32) {
  auto hf = yarn_kept_share("yarn", 32, 10000.0, 64, 1, 32);
  auto paper = yarn_kept_share("yarn_paper", 32, 10000.0, 64, 1, 32);
  ASSERT_EQ(hf.size(0), 16);
  const std::vector<double> hf_kept = {1, 0.8, 0.6, 0.4, 0.2, 0}, paper_kept = {0.2963199, 0.1525149, 0.0716474, 0.0261723, 0.0005997};
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(hf[i].item<double>(), hf_kept[i], 1e-12) << i;
  for (int i = 0; i < 5; ++i) EXPECT_NEAR(paper[i].item<double>(), paper_kept[i], 1e-5) << i;
  EXPECT_EQ(hf.slice(0, 5).sum().item<double>(), 0);
  // A zero-width ramp (lo = hi) is widened by 0.001 as in the reference: no division by zero.
  auto narrow = yarn_kept_share("yarn", 2, 10000.0, 64, 1, 32);
  EXPECT_FALSE(torch::isnan(narrow).any().item<bool>());
}

TEST(RopeScaling, EachVariantChangesTheEvalOnlyWhenSelected) {
  EncodingOptions options;
  options.d_model = 8;
  options.heads = 1;
  options.train_length = 16;
  options.keys["encoding.rope_scaling"] = "pi,ntk,yarn";
  auto rope = find_encoding("rope")->make(options);
  EXPECT_EQ(rope->eval_variants(), (std::vector<std::string>{"pi", "ntk", "yarn"}));
  auto rotated = [&](const std::string& variant, int64_t eval_length) {
    rope->set_eval_variant(variant, eval_length);
    auto q = torch::ones({1, 1, 1, 8}), k = torch::ones({1, 1, 1, 8});
    rope->rotate(q, k, torch::tensor({40}, torch::kLong));
    return q;
  };
  auto plain = rotated("", 64);
  // pi at s = 4 rotates position 40 as plain RoPE rotates position 10.
  auto pi = rotated("pi", 64);
  auto q10 = torch::ones({1, 1, 1, 8}), k10 = torch::ones({1, 1, 1, 8});
  rope->set_eval_variant("", 16);
  rope->rotate(q10, k10, torch::tensor({10}, torch::kLong));
  EXPECT_TRUE(torch::allclose(pi, q10, 1e-5, 1e-6));
  EXPECT_FALSE(torch::allclose(pi, plain));
  // yarn scales q (and k) by 0.1 ln 4 + 1.
  EXPECT_NEAR(rotated("yarn", 64).norm().item<double>(), plain.norm().item<double>() * 1.1386294361, 1e-4);
  EXPECT_TRUE(torch::allclose(rotated("ntk", 16), rotated("", 16)));  // s = 1
}

TEST(T5, CausalBucketsOfTheReferenceFunction) {
  auto distances = torch::tensor({0, 15, 16, 19, 31, 46, 99, 112, 113, 500}, torch::kLong);
  auto buckets = t5_bucket(distances, 32, 128);
  const std::vector<int64_t> expected{0, 15, 16, 17, 21, 24, 30, 30, 31, 31};
  for (size_t i = 0; i < expected.size(); ++i)
    EXPECT_EQ(buckets[static_cast<int64_t>(i)].item<int64_t>(), expected[i]) << "distance " << distances[static_cast<int64_t>(i)].item<int64_t>();
  // Every distance from 113 on lands in the last bucket; 112 does not.
  EXPECT_TRUE((t5_bucket(torch::arange(113, 5000, torch::kLong), 32, 128) == 31).all().item<bool>());
  // Monotone in distance.
  auto all = t5_bucket(torch::arange(0, 300, torch::kLong), 32, 128);
  EXPECT_TRUE((all.slice(0, 1) >= all.slice(0, 0, -1)).all().item<bool>());
}

TEST(T5, BiasIsTheLearnedValueOfEachBucket) {
  EncodingOptions options;
  options.heads = 2;
  auto t5 = find_encoding("t5")->make(options);
  auto weight = t5->named_parameters()["bucket_bias"];
  ASSERT_EQ(weight.sizes(), (std::vector<int64_t>{1, 2, 32}));
  auto positions = torch::arange(200, torch::kLong);
  auto bias = t5->bias(positions, positions);
  ASSERT_EQ(bias.sizes(), (std::vector<int64_t>{2, 200, 200}));
  EXPECT_EQ(bias[1][150][131].item<float>(), weight[0][1][17].item<float>());  // distance 19
  EXPECT_EQ(bias[0][199][0].item<float>(), weight[0][0][31].item<float>());    // distance 199
  EXPECT_EQ(bias[0][7][7].item<float>(), weight[0][0][0].item<float>());
}

TEST(Sandwich, BiasAtHandComputedDistances) {
  // [Σ_{k=1..64} cos(d / 10000^(k/64)) - 64] / (8h/H), evaluated by hand in float64.
  auto bias4 = sandwich_bias(torch::tensor({0, 1, 5, 100}, torch::kLong), 128, 4);
  const std::vector<std::vector<double>> expected4{
      {0, -0.7233092526, -8.0493251703, -16.6594570852},
      {0, -0.3616546263, -4.0246625852, -8.3297285426},
      {0, -0.2411030842, -2.6831083901, -5.5531523617},
      {0, -0.1808273131, -2.0123312926, -4.1648642713}};
  for (int h = 0; h < 4; ++h)
    for (int i = 0; i < 4; ++i) EXPECT_NEAR(bias4[h][i].item<double>(), expected4[h][i], 1e-9) << "h" << h << " i" << i;
  auto bias8 = sandwich_bias(torch::tensor({1, 5, 100}, torch::kLong), 128, 8);
  EXPECT_NEAR(bias8[0][0].item<double>(), -1.4466185051, 1e-9);
  EXPECT_NEAR(bias8[1][1].item<double>(), -8.0493251703, 1e-9);
  EXPECT_NEAR(bias8[7][2].item<double>(), -4.1648642713, 1e-9);
  // Through the encoding: the same numbers at (query, key) pairs.
  EncodingOptions options;
  options.heads = 4;
  auto sandwich = find_encoding("sandwich")->make(options);
  auto positions = torch::arange(120, torch::kLong);
  auto bias = sandwich->bias(positions, positions);
  EXPECT_NEAR(bias[2][105][5].item<float>(), -5.5531523617, 1e-5);
  EXPECT_NEAR(bias[0][6][1].item<float>(), -8.0493251703, 1e-5);
}

// An optimizer step that drives r1, r2 far out of range: the next forward uses them
// clamped back (r >= 0.01, and r2 <= 2 for the power kernel), so the bias stays a
// finite penalty that grows with distance.
TEST(Kerple, ConstraintsHoldAfterAnAdversarialOptimizerStep) {
  for (const char* name : {"kerple_log", "kerple_power"}) {
    for (double direction : {+1.0, -1.0}) {
      EncodingOptions options;
      options.heads = 4;
      auto kerple = find_encoding(name)->make(options);
      torch::optim::SGD optimizer(kerple->parameters(), torch::optim::SGDOptions(1000.0));
      optimizer.zero_grad();
      auto positions = torch::arange(32, torch::kLong);
      (direction * kerple->bias(positions, positions).sum()).backward();
      optimizer.step();
      auto bias = kerple->bias(positions, positions);
      auto r1 = kerple->named_parameters()["r1"], r2 = kerple->named_parameters()["r2"];
      EXPECT_GE(r1.min().item<double>(), 0.01 - 1e-7) << name;
      EXPECT_GE(r2.min().item<double>(), 0.01 - 1e-7) << name;
      if (std::string(name) == "kerple_power") {
        EXPECT_LE(r2.max().item<double>(), 2.0 + 1e-6) << name;
      }
      EXPECT_TRUE(torch::isfinite(bias).all().item<bool>()) << name;
      auto last_row = bias.select(1, 31);  // distances 31 .. 0
      EXPECT_TRUE((last_row.slice(1, 1) >= last_row.slice(1, 0, -1)).all().item<bool>()) << name;
    }
  }
}

TEST(Kerple, BiasMatchesTheKernels) {
  EncodingOptions options;
  options.heads = 1;
  auto log_kernel = find_encoding("kerple_log")->make(options);
  auto power_kernel = find_encoding("kerple_power")->make(options);
  torch::NoGradGuard no_grad;
  log_kernel->named_parameters()["r1"].fill_(1.5);
  log_kernel->named_parameters()["r2"].fill_(0.5);
  power_kernel->named_parameters()["r1"].fill_(0.25);
  power_kernel->named_parameters()["r2"].fill_(1.5);
  auto positions = torch::arange(10, torch::kLong);
  EXPECT_NEAR(log_kernel->bias(positions, positions)[0][9][3].item<float>(), -1.5 * std::log(1 + 0.5 * 6), 1e-5);
  EXPECT_NEAR(power_kernel->bias(positions, positions)[0][9][1].item<float>(), -0.25 * std::pow(8.0, 1.5), 1e-5);
  EXPECT_EQ(power_kernel->bias(positions, positions)[0][4][4].item<float>(), 0.0f);
}

// FIRE on one head with its MLP made the identity (ReLU of the input, averaged over the
// 32 hidden units): its bias is then the normalized distance itself.
std::shared_ptr<PositionalEncodingImpl> identity_fire(int64_t train_length, const std::map<std::string, std::string>& keys = {}) {
  EncodingOptions options;
  options.heads = 1;
  options.train_length = train_length;
  options.keys = keys;
  auto fire = find_encoding("fire")->make(options);
  torch::NoGradGuard no_grad;
  auto parameters = fire->named_parameters();
  parameters["hidden_weight"].fill_(1);
  parameters["hidden_bias"].fill_(0);
  parameters["out_weight"].fill_(1.0 / 32);
  parameters["out_bias"].fill_(0);
  return fire;
}

// With the MLP made the identity on one head, the bias is the normalized distance
// ψ(i - j)/ψ(max(i, L)), ψ(x) = log(0.1·x + 1), L = 512 (fire_threshold 0.25 of 2048).
TEST(Fire, BiasIsTheMlpOfTheProgressivelyNormalizedDistance) {
  auto fire = identity_fire(2048);
  auto bias = fire->bias(torch::tensor({10, 1000}, torch::kLong), torch::tensor({0, 4}, torch::kLong));
  ASSERT_EQ(bias.sizes(), (std::vector<int64_t>{1, 2, 2}));
  EXPECT_NEAR(bias[0][0][1].item<float>(), 0.1188353242, 1e-6);  // log(1.6) / (log(52.2) + 1e-6)
  EXPECT_NEAR(bias[0][1][0].item<float>(), 0.9999997833, 1e-6);  // i = 1000 > L: log(101)/log(101)
}

// The threshold starts at a quarter of the train length, so in training at length 64 the
// positions past 16 are normalized by themselves: the largest MLP input is 1 in training
// already (pebench before issue 17 started L at 512: at most ψ(63)/ψ(512) = 0.48).
TEST(Fire, ThresholdStartsAtAQuarterOfTheTrainLength) {
  auto fire = identity_fire(64);
  auto positions = torch::arange(64, torch::kLong);
  auto bias = fire->bias(positions, positions);
  // i = 63 > L = 16: log(7.3)/log(7.3); i = 8 < L: ψ(8)/ψ(16) = log(1.8)/log(2.6).
  EXPECT_NEAR(bias[0][63][0].item<float>(), 1.0, 1e-5);
  EXPECT_NEAR(bias[0][8][0].item<float>(), std::log(1.8) / (std::log(2.6) + 1e-6), 1e-6);
  auto facts = fire->facts();
  EXPECT_NE(std::find(facts.begin(), facts.end(), std::pair<std::string, int64_t>{"fire_initial_threshold", 16}), facts.end());
  auto old = identity_fire(64, {{"encoding.fire_threshold", "8"}});  // L = 512 at train length 64: the old default
  EXPECT_EQ(old->facts().back(), (std::pair<std::string, int64_t>{"fire_initial_threshold", 512}));
}

TEST(Xpos, DecayPerFrequencyAndScoresDecayWithDistance) {
  auto decay = xpos_decay(8, torch::kCPU);
  const std::vector<double> expected{0.4 / 1.4, 0.65 / 1.4, 0.9 / 1.4, 1.15 / 1.4};
  for (int j = 0; j < 4; ++j) EXPECT_NEAR(decay[j].item<double>(), expected[j], 1e-12);
  EncodingOptions options;
  options.d_model = 8;
  options.heads = 1;
  auto xpos = find_encoding("xpos")->make(options);
  // q = k = e_0 (pair 0, θ = 1, ζ = 0.4/1.4): q'·k' = cos(n - m) · ζ^((n - m)/512).
  auto score = [&](int64_t n, int64_t m) {
    auto q = torch::zeros({1, 1, 2, 8});
    q.index_put_({0, 0, torch::indexing::Slice(), 0}, 1.0);
    auto k = q.clone();
    xpos->rotate(q, k, torch::tensor({m, n}, torch::kLong));
    return (q[0][0][1] * k[0][0][0]).sum().item<double>();
  };
  EXPECT_NEAR(score(300, 0), std::cos(300.0) * std::pow(0.4 / 1.4, 300.0 / 512), 1e-5);
  EXPECT_NEAR(score(1300, 1000), score(300, 0), 1e-4);
}

TEST(Randomized, TrainPositionsAreSortedDistinctDrawsBelowMaxPosition) {
  EncodingOptions options;
  options.max_length = 256;
  options.keys["encoding.random_max_position"] = "1000";
  // An additive base draws once per forward (the one table), per_layer or not.
  auto randomized = find_encoding("randomized:learned")->make(options);
  randomized->train();
  auto first = randomized->positions(64, torch::kCPU), second = randomized->positions(64, torch::kCPU);
  ASSERT_EQ(first.dim(), 1);
  for (const auto& positions : {first, second}) {
    EXPECT_TRUE((positions.slice(0, 1) > positions.slice(0, 0, -1)).all().item<bool>());  // sorted, distinct
    EXPECT_GE(positions.min().item<int64_t>(), 0);
    EXPECT_LT(positions.max().item<int64_t>(), 1000);
  }
  EXPECT_FALSE(torch::equal(first, second));  // a new draw per forward
  EXPECT_GT(first.max().item<int64_t>(), 256);  // training reaches past the eval lengths
  // Eval draws restart at every eval: the same positions each time.
  randomized->eval();
  auto eval_first = randomized->positions(64, torch::kCPU);
  randomized->train();
  randomized->eval();
  EXPECT_TRUE(torch::equal(eval_first, randomized->positions(64, torch::kCPU)));
  // Sequential eval positions on request.
  options.keys["encoding.random_eval_positions"] = "sequential";
  for (const char* name : {"randomized:rope", "randomized:alibi"}) {
    auto sequential = find_encoding(name)->make(options);
    sequential->eval();
    EXPECT_TRUE(torch::equal(sequential->positions(5, torch::kCPU), torch::arange(5, torch::kLong))) << name;
  }
  EXPECT_EQ(find_encoding("randomized:no-such"), nullptr);
  EXPECT_EQ(find_encoding("randomized:randomized:rope"), nullptr);
}

// google-deepmind/randomized_positional_encodings draws inside each attention layer
// (hk.next_rng_key() per MultiHeadDotProductAttention call): rotary positions per layer.
TEST(Randomized, RotaryBasesDrawPerLayerAndPerForwardKeepsOneDraw) {
  EncodingOptions options;
  options.layers = 3;
  options.max_length = 256;
  options.keys["encoding.random_max_position"] = "1000";
  auto per_layer = find_encoding("randomized:rope")->make(options);
  per_layer->train();
  auto rows = per_layer->positions(64, torch::kCPU);
  ASSERT_EQ(rows.sizes(), (std::vector<int64_t>{3, 64}));
  for (int64_t l = 0; l < 3; ++l) {
    EXPECT_TRUE((rows[l].slice(0, 1) > rows[l].slice(0, 0, -1)).all().item<bool>());
    EXPECT_LT(rows[l].max().item<int64_t>(), 1000);
  }
  EXPECT_FALSE(torch::equal(rows[0], rows[1]));
  EXPECT_FALSE(torch::equal(rows[1], rows[2]));
  options.keys["encoding.random_draw"] = "per_forward";
  auto per_forward = find_encoding("randomized:rope")->make(options);
  per_forward->train();
  auto one = per_forward->positions(64, torch::kCPU);
  EXPECT_EQ(one.dim(), 1);
  // per_forward draw k and per_layer row l of draw k use generators k and k·layers + l:
  // one numbering of draws, every row of every forward its own.
  EXPECT_TRUE(torch::equal(one, rows[0]));
  EXPECT_TRUE(torch::equal(per_forward->positions(64, torch::kCPU), rows[1]));
  EXPECT_FALSE(torch::equal(per_layer->positions(64, torch::kCPU)[0], rows[1]));
}

// The reference's noisy ALiBi samples distances, not positions: per layer, sorted
// distinct D_1 < ... < D_{T-1} from [1, max_position), and the bias at i - j = d is
// -m_h · D_d. Blocks of queries (long evals) must see the same draw.
TEST(Randomized, RelativeBiasesSampleDistancesPerLayer) {
  EncodingOptions options;
  options.layers = 2;
  options.heads = 2;
  options.max_length = 64;
  options.keys["encoding.random_max_position"] = "100";
  auto alibi = find_encoding("randomized:alibi")->make(options);
  alibi->train();
  auto rows = alibi->positions(8, torch::kCPU);  // [L, T] distance tables
  ASSERT_EQ(rows.sizes(), (std::vector<int64_t>{2, 8}));
  for (int64_t l = 0; l < 2; ++l) {
    EXPECT_EQ(rows[l][0].item<int64_t>(), 0);
    EXPECT_TRUE((rows[l].slice(0, 1) > rows[l].slice(0, 0, -1)).all().item<bool>());
    EXPECT_LT(rows[l].max().item<int64_t>(), 100);
  }
  EXPECT_FALSE(torch::equal(rows[0], rows[1]));
  auto bias = alibi->bias(rows, rows);  // [L, H, T, T]
  ASSERT_EQ(bias.sizes(), (std::vector<int64_t>{2, 2, 8, 8}));
  const auto slopes = alibi_slopes(2);  // 1/16, 1/256
  for (int64_t l = 0; l < 2; ++l)
    for (int64_t h = 0; h < 2; ++h)
      for (int64_t i = 0; i < 8; ++i)
        for (int64_t j = 0; j <= i; ++j)
          EXPECT_NEAR(bias[l][h][i][j].item<double>(), -slopes[h] * rows[l][i - j].item<double>(), 1e-5);
  // Queries 5..7 against keys 0..7: the last three rows of the full bias.
  auto block = alibi->bias(rows.slice(1, 5, 8), rows);
  EXPECT_TRUE(torch::allclose(block, bias.slice(2, 5, 8)));
  // The stored bias profile stays the base's, at true distances.
  auto profile = bias_profile(*alibi, 4, torch::kCPU);
  EXPECT_NEAR(profile[0][3].item<double>(), -slopes[0] * 3, 1e-6);
}

TEST(Learned, TableRowsAreAddedByPosition) {
  EncodingOptions options;
  options.d_model = 8;
  options.max_length = 32;
  options.train_length = 16;
  options.pe_init_std = 0.5;
  auto learned = find_encoding("learned")->make(options);
  auto table = learned->named_parameters()["table"];
  ASSERT_EQ(table.sizes(), (std::vector<int64_t>{32, 8}));
  EXPECT_NEAR(table.std().item<double>(), 0.5, 0.1);
  auto out = learned->embed(torch::zeros({1, 2, 8}), torch::tensor({5, 30}, torch::kLong));
  EXPECT_TRUE(torch::equal(out[0][1], table[30]));
  const auto facts = learned->facts();
  ASSERT_EQ(facts.size(), 2u);
  EXPECT_EQ(facts[1].second, 16);
}

TEST(Registry, NamesAreUniqueAndEveryEntryIsDocumented) {
  std::set<std::string> names;
  for (const auto& info : encoding_registry()) {
    EXPECT_TRUE(names.insert(info.name).second) << info.name;
    EXPECT_FALSE(info.paper.empty()) << info.name;
    EXPECT_FALSE(info.summary.empty()) << info.name;
    EXPECT_EQ(find_encoding(info.name), &info);
  }
  EXPECT_EQ(find_encoding("no-such-encoding"), nullptr);
  for (const char* name : {"none", "sinusoidal", "learned", "rope", "xpos", "alibi", "sandwich", "t5", "kerple_log",
                           "kerple_power", "fire"})
    EXPECT_TRUE(names.count(name)) << name;
}

}  // namespace
}  // namespace pebench
