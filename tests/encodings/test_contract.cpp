// The contract every encoding in the registry keeps, checked in one loop: shapes,
// causality, eval past the train length, relative scores, determinism, gradients.
#include <gtest/gtest.h>

#include <torch/nn/functional/loss.h>

#include "encodings/registry.h"
#include "tests/tiny_model.h"

namespace pebench {
namespace {

// Every registered encoding, plus the randomized wrapper around a few of them.
std::vector<std::string> all_encodings() {
  std::vector<std::string> names;
  for (const auto& info : encoding_registry()) names.push_back(info.name);
  for (const char* base : {"rope", "alibi", "learned", "t5"}) names.push_back(std::string("randomized:") + base);
  return names;
}

TinyModel tiny_for(const std::string& encoding) {
  TinyModel tiny;
  tiny.encoding = encoding;
  tiny.train_length = 16;
  tiny.max_length = 64;
  return tiny;
}

torch::Tensor tokens_of(int64_t batch, int64_t length, uint64_t seed) {
  torch::manual_seed(seed);
  return torch::randint(0, 256, {batch, length}, torch::kLong);
}

TEST(Contract, ShapesAndCausality) {
  for (const auto& name : all_encodings()) {
    auto model = tiny_for(name).build();
    model->eval();
    torch::NoGradGuard no_grad;
    auto tokens = tokens_of(2, 24, 5);
    auto changed = tokens.clone();
    changed.index_put_({torch::indexing::Slice(), 10}, (tokens.select(1, 10) + 1) % 256);
    // One set of positions for both passes (randomized ones are drawn per forward).
    auto positions = model->encoding().positions(24, torch::kCPU);
    // [T], or [layers, T] where a randomized encoding draws per layer.
    ASSERT_EQ(positions.size(-1), 24) << name;
    ASSERT_LE(positions.dim(), 2) << name;
    auto before = model->forward(tokens, positions), after = model->forward(changed, positions);
    ASSERT_EQ(before.sizes(), (std::vector<int64_t>{2, 24, 256})) << name;
    EXPECT_TRUE(torch::equal(before.slice(1, 0, 10), after.slice(1, 0, 10))) << name;
    EXPECT_FALSE(torch::allclose(before.slice(1, 10), after.slice(1, 10))) << name;
  }
}

// Past the train length (16) to the largest eval length (64), in query blocks: finite,
// and the same as attending in one block.
TEST(Contract, EvalPastTheTrainLengthWorksInBlocks) {
  for (const auto& name : all_encodings()) {
    auto tiny = tiny_for(name);
    auto model = tiny.build();
    model->eval();
    torch::NoGradGuard no_grad;
    auto tokens = tokens_of(1, 64, 6);
    auto positions = model->encoding().positions(64, torch::kCPU);
    auto whole = model->forward(tokens, positions);
    model->options().attention_block = 16;
    auto blocked = model->forward(tokens, positions);
    EXPECT_TRUE(torch::isfinite(blocked).all().item<bool>()) << name;
    EXPECT_TRUE(torch::allclose(whole, blocked, 1e-4, 1e-5)) << name;
  }
}

// Relative encodings: shifting every position by a constant changes nothing.
TEST(Contract, RelativeEncodingsIgnoreAShiftOfAllPositions) {
  int relative = 0;
  for (const auto& name : all_encodings()) {
    if (!find_encoding(name)->relative) continue;
    ++relative;
    auto tiny = tiny_for(name);
    tiny.max_length = 128;
    auto model = tiny.build();
    model->eval();
    torch::NoGradGuard no_grad;
    auto tokens = tokens_of(2, 20, 7);
    auto positions = torch::arange(20, torch::kLong);
    auto at_zero = model->forward(tokens, positions);
    auto shifted = model->forward(tokens, positions + 37);
    EXPECT_TRUE(torch::allclose(at_zero, shifted, 1e-3, 1e-4)) << name;
  }
  EXPECT_GE(relative, 8);
  // And the absolute ones do see the shift.
  for (const char* name : {"sinusoidal", "learned", "fire"}) {
    ASSERT_FALSE(find_encoding(name)->relative) << name;
  }
}

TEST(Contract, SameSeedSameResult) {
  for (const auto& name : all_encodings()) {
    auto tokens = tokens_of(2, 16, 8);
    auto first = tiny_for(name).build(), second = tiny_for(name).build();
    // Training mode: randomized positions are drawn the same way too.
    auto a = first->forward(tokens), b = second->forward(tokens);
    EXPECT_TRUE(torch::equal(a, b)) << name;
  }
}

// A training step reaches every parameter of the encoding, finitely, also when each
// layer has its own bias parameters.
TEST(Contract, GradientsReachEveryLearnedParameter) {
  for (bool share : {true, false}) {
    for (const auto& name : all_encodings()) {
      auto tiny = tiny_for(name);
      tiny.encoding_options.keys["encoding.share_across_layers"] = share ? "true" : "false";
      auto model = tiny.build();
      auto tokens = tokens_of(4, 17, 9);
      auto logits = model->forward(tokens.slice(1, 0, 16));
      auto loss = torch::nn::functional::cross_entropy(logits.reshape({-1, 256}), tokens.slice(1, 1).reshape({-1}));
      loss.backward();
      // Learned biases not shared: parameters lead with a layer dimension, each layer's
      // slice must get a gradient.
      const bool per_layer = !share && find_encoding(name)->kind.find("learned bias") != std::string::npos;
      for (const auto& parameter : model->encoding().named_parameters()) {
        const auto& grad = parameter.value().grad();
        ASSERT_TRUE(grad.defined()) << name << " " << parameter.key();
        EXPECT_TRUE(torch::isfinite(grad).all().item<bool>()) << name << " " << parameter.key();
        if (per_layer) {
          ASSERT_EQ(grad.size(0), tiny.layers) << name << " " << parameter.key();
        }
        for (int64_t set = 0; set < (per_layer ? tiny.layers : 1); ++set)
          EXPECT_GT((per_layer ? grad[set] : grad).abs().sum().item<double>(), 0)
              << name << " " << parameter.key() << " layer " << set;
      }
    }
  }
}

// The windowed option on any encoding: with N layers of band width w, a token reaches
// exactly N·(w-1) positions ahead (receptive field N·(w-1)+1), in blocks too.
TEST(Contract, WindowedAttentionHasTheTheoreticalReceptiveField) {
  for (const auto& name : all_encodings()) {
    auto tiny = tiny_for(name);
    tiny.attention_window = 4;
    tiny.attention_block = 8;
    auto model = tiny.build();
    model->eval();
    torch::NoGradGuard no_grad;
    auto tokens = tokens_of(1, 40, 10);
    auto changed = tokens.clone();
    changed[0][20] = (tokens[0][20].item<int64_t>() + 1) % 256;
    auto positions = model->encoding().positions(40, torch::kCPU);
    auto before = model->forward(tokens, positions), after = model->forward(changed, positions);
    const int64_t reach = tiny.layers * (4 - 1);  // 6
    EXPECT_FALSE(torch::allclose(before[0][20 + reach], after[0][20 + reach])) << name;
    EXPECT_TRUE(torch::equal(before.slice(1, 21 + reach), after.slice(1, 21 + reach))) << name;
  }
}

TEST(Contract, BiasEncodingsHaveAProfilePerHeadAndDistance) {
  for (const auto& name : all_encodings()) {
    for (bool share : {true, false}) {
      auto tiny = tiny_for(name);
      tiny.encoding_options.keys["encoding.share_across_layers"] = share ? "true" : "false";
      auto model = tiny.build();
      torch::NoGradGuard no_grad;
      auto profile = bias_profile(model->encoding(), 40, torch::kCPU);
      const std::string kind = find_encoding(name)->kind;
      const bool has_bias = kind.find("bias") != std::string::npos;
      ASSERT_EQ(profile.defined(), has_bias) << name;
      if (!has_bias) continue;
      const bool per_layer = !share && kind.find("learned") != std::string::npos;
      const auto expected = per_layer ? std::vector<int64_t>{2, 4, 40} : std::vector<int64_t>{4, 40};
      EXPECT_EQ(profile.sizes().vec(), expected) << name;
      // The profile is the bias seen from the last query: distance d is key 39 - d.
      auto keys = torch::arange(40, torch::kLong);
      auto bias = model->encoding().bias(keys.slice(0, 39), keys);
      EXPECT_TRUE(torch::allclose(profile.select(-1, 5), bias.select(-1, 34).select(-1, 0))) << name;
    }
  }
}

}  // namespace
}  // namespace pebench
