// Every encoding against its paper's formula with hand-computed values, and the
// properties the model relies on (causality, relative scores).
#include <gtest/gtest.h>

#include <cmath>
#include <set>

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
  for (const char* name : {"none", "sinusoidal", "learned", "rope", "alibi"}) EXPECT_TRUE(names.count(name)) << name;
}

// Changing token t never changes the outputs before t, for every encoding.
TEST(Registry, EveryEncodingIsCausal) {
  for (const auto& info : encoding_registry()) {
    TinyModel tiny;
    tiny.encoding = info.name;
    tiny.max_length = 64;
    tiny.seed = 1;
    auto model = tiny.build();
    model->eval();
    torch::NoGradGuard no_grad;
    auto tokens = torch::randint(0, 256, {2, 24}, torch::kLong);
    auto changed = tokens.clone();
    changed.index_put_({torch::indexing::Slice(), 10}, (tokens.select(1, 10) + 1) % 256);
    auto before = model->forward(tokens), after = model->forward(changed);
    EXPECT_TRUE(torch::equal(before.slice(1, 0, 10), after.slice(1, 0, 10))) << info.name;
    EXPECT_FALSE(torch::allclose(before.slice(1, 10), after.slice(1, 10))) << info.name;
  }
}

}  // namespace
}  // namespace pebench
