#include <gtest/gtest.h>

#include <torch/cuda.h>
#include <torch/nn/functional/loss.h>
#include <torch/optim/adamw.h>

#include "encodings/torch_version.h"


#include <cmath>
#include <functional>

#include "encodings/registry.h"
#include "tests/op_counter.h"
#include "tests/tiny_model.h"

namespace pebench {
namespace {

TransformerLM make_model(const std::string& encoding, int64_t max_length = 128, double init_gamma = 0.5) {
  TinyModel tiny;
  tiny.encoding = encoding;
  tiny.max_length = max_length;
  tiny.init_gamma = init_gamma;
  return tiny.build();
}

TEST(TransformerLM, LogitsHaveBatchLengthVocabShape) {
  auto model = make_model("rope");
  auto logits = model->forward(torch::randint(0, 256, {3, 17}, torch::kLong));
  EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{3, 17, 256}));
}

TEST(TransformerLM, TiedEmbeddingIsTheOutputProjection) {
  auto model = make_model("none");
  int64_t embeddings = 0;
  for (const auto& parameter : model->named_parameters())
    if (parameter.value().sizes() == torch::IntArrayRef({256, 32})) ++embeddings;
  EXPECT_EQ(embeddings, 1);
}

// Query-blocked attention (eval) computes the same function as one full block.
TEST(TransformerLM, BlockedAttentionEqualsFullAttention) {
  for (const auto& info : encoding_registry()) {
    auto model = make_model(info.name);
    model->eval();
    torch::NoGradGuard no_grad;
    auto tokens = torch::randint(0, 256, {2, 100}, torch::kLong);
    model->options().attention_block = 0;
    auto full = model->forward(tokens);
    model->options().attention_block = 16;
    auto blocked = model->forward(tokens);
    EXPECT_TRUE(torch::allclose(full, blocked, 1e-4, 1e-5)) << info.name;
  }
}

// Randomized encodings that draw per layer give [L, T] positions: layer l must get row l
// (rotary positions, fire's positions, or a relative bias's distance table), in full and
// in query blocks. Rows that are all 0..T-1 are the base itself.
TEST(TransformerLM, PerLayerPositionRowsReachTheirLayers) {
  for (const std::string name : {"randomized:rope", "randomized:alibi", "randomized:t5", "randomized:fire"}) {
    auto model = make_model(name, 128);
    model->eval();
    torch::NoGradGuard no_grad;
    auto tokens = torch::randint(0, 256, {2, 100}, torch::kLong);
    auto rows = model->encoding().positions(100, torch::kCPU);
    ASSERT_EQ(rows.sizes(), (std::vector<int64_t>{2, 100})) << name;
    model->options().attention_block = 0;
    auto full = model->forward(tokens, rows);
    model->options().attention_block = 16;
    EXPECT_TRUE(torch::allclose(full, model->forward(tokens, rows), 1e-4, 1e-5)) << name;
    auto swapped = model->forward(tokens, rows.flip(0));
    EXPECT_FALSE(torch::allclose(full, swapped, 1e-4, 1e-5)) << name;
    auto sequential = torch::arange(100, torch::kLong);
    EXPECT_TRUE(torch::allclose(model->forward(tokens, torch::stack({sequential, sequential})),
                                model->forward(tokens, sequential), 1e-4, 1e-5)) << name;
  }
}

// The whole-sequence offset of every forward is built once per length and window: what
// logit_offset builds, bit for bit, and for an encoding without a bias the same tensor
// again (with a bias, that bias masked afresh).
TEST(TransformerLM, FullOffsetIsKeptPerShapeAndEqualsLogitOffset) {
  for (const auto& info : encoding_registry()) {
    auto model = make_model(info.name);
    model->eval();
    torch::NoGradGuard no_grad;
    for (int64_t window : {0, 5}) {
      for (int64_t length : {20, 33, 20}) {
        model->options().attention_window = window;
        auto positions = model->encoding().positions(length, torch::kCPU);
        auto kept = model->full_logit_offset(positions, length);
        auto fresh = logit_offset(model->encoding(), positions, 0, length, length, window);
        EXPECT_TRUE(torch::equal(kept, fresh)) << info.name << " window " << window << " length " << length;
        const bool biased = model->encoding().bias(positions, positions).defined();
        EXPECT_EQ(model->full_logit_offset(positions, length).is_same(kept), !biased) << info.name;
      }
    }
  }
}

// Every parameter of `a` and `b` has a gradient in both or neither, equal within 1e-4.
void expect_same_gradients(TransformerLM& a, TransformerLM& b, const std::string& what) {
  auto b_parameters = b->named_parameters();
  for (const auto& parameter : a->named_parameters()) {
    const auto& b_grad = b_parameters[parameter.key()].grad();
    ASSERT_EQ(parameter.value().grad().defined(), b_grad.defined()) << what << " " << parameter.key();
    if (b_grad.defined()) {
      EXPECT_TRUE(torch::allclose(parameter.value().grad(), b_grad, 1e-4, 1e-6)) << what << " " << parameter.key();
    }
  }
}

// attention = fused (torch's scaled_dot_product_attention, what CUDA runs use) computes
// what the explicit softmax does, for every encoding: the logits and every gradient in
// training (through a learned bias too), with a band, and in query blocks at eval. Skipped
// where the LibTorch lacks it (Debian's 1.13).
TEST(TransformerLM, FusedAttentionEqualsExplicit) {
  if (!fused_attention_available()) GTEST_SKIP() << "this LibTorch (" TORCH_VERSION ") has no fused attention";
  for (const auto& info : encoding_registry()) {
    for (int64_t window : {0, 5}) {
      auto explicit_model = make_model(info.name), fused_model = make_model(info.name);
      explicit_model->options().attention = "explicit";
      fused_model->options().attention = "fused";
      explicit_model->options().attention_window = fused_model->options().attention_window = window;
      const std::string what = info.name + " window " + std::to_string(window);
      auto tokens = torch::randint(0, 256, {2, 17}, torch::kLong);
      auto targets = tokens.slice(1, 1).reshape({-1});
      auto explicit_logits = explicit_model->forward(tokens.slice(1, 0, 16));
      auto fused_logits = fused_model->forward(tokens.slice(1, 0, 16));
      EXPECT_TRUE(torch::allclose(explicit_logits, fused_logits, 1e-5, 1e-5)) << what;
      torch::nn::functional::cross_entropy(explicit_logits.reshape({-1, 256}), targets).backward();
      torch::nn::functional::cross_entropy(fused_logits.reshape({-1, 256}), targets).backward();
      expect_same_gradients(explicit_model, fused_model, what);
      explicit_model->eval(), fused_model->eval();
      explicit_model->options().attention_block = fused_model->options().attention_block = 16;
      torch::NoGradGuard no_grad;
      auto long_tokens = torch::randint(0, 256, {1, 100}, torch::kLong);
      EXPECT_TRUE(torch::allclose(explicit_model->forward(long_tokens), fused_model->forward(long_tokens), 1e-5, 1e-5)) << what;
    }
  }
}

// Calls of aten::scaled_dot_product_attention on this thread while `body` runs.
int64_t fused_attention_calls(const std::function<void()>& body) {
  return count_ops({"aten::scaled_dot_product_attention"}, body)["aten::scaled_dot_product_attention"];
}

// attention = fused calls the fused op once per layer (per query block at eval), auto does
// on CUDA only, and a forward whose attention probabilities an analysis reads stays explicit:
// the numbers of attention = explicit, bit for bit.
TEST(TransformerLM, FusedAttentionIsTakenWhereAsked) {
  if (!fused_attention_available()) GTEST_SKIP() << "this LibTorch (" TORCH_VERSION ") has no fused attention";
  for (const std::string name : {"none", "alibi", "t5"}) {
    auto model = make_model(name);
    model->eval();
    torch::NoGradGuard no_grad;
    auto tokens = torch::randint(0, 256, {2, 40}, torch::kLong);
    model->options().attention = "explicit";
    torch::Tensor explicit_logits;
    EXPECT_EQ(fused_attention_calls([&] { explicit_logits = model->forward(tokens); }), 0) << name;
    model->options().attention = "auto";
    EXPECT_EQ(fused_attention_calls([&] { model->forward(tokens); }), 0) << name << ": auto on the CPU";
    model->options().attention = "fused";
    EXPECT_EQ(fused_attention_calls([&] { model->forward(tokens); }), 2) << name;
    model->options().attention_block = 16;
    EXPECT_EQ(fused_attention_calls([&] { model->forward(tokens); }), 2 * 3) << name << " in 3 query blocks";
    model->options().attention_block = 0;
    int64_t probed = 0;
    ForwardProbe probe;
    probe.attention = [&](int64_t, int64_t, const torch::Tensor&) { ++probed; };
    torch::Tensor probed_logits;
    EXPECT_EQ(fused_attention_calls([&] { probed_logits = model->forward(tokens, {}, &probe); }), 0) << name;
    EXPECT_TRUE(torch::equal(probed_logits, explicit_logits)) << name;
    EXPECT_EQ(probed, 2) << name;
  }
}

// linear_bias = folded (torch.nn.Linear's at::linear, what CUDA runs use) computes what
// LibTorch's Linear does, in one addmm per layer's Linear; auto folds on CUDA only, so the
// CPU keeps LibTorch's numbers bit for bit.
TEST(TransformerLM, FoldedLinearBiasEqualsSeparate) {
  for (const std::string name : {"none", "rope", "t5"}) {
    auto separate = make_model(name), folded = make_model(name), automatic = make_model(name);
    separate->options().linear_bias = "separate";
    folded->options().linear_bias = "folded";
    auto tokens = torch::randint(0, 256, {2, 17}, torch::kLong);
    auto targets = tokens.slice(1, 1).reshape({-1});
    torch::Tensor separate_logits, folded_logits, automatic_logits;
    const std::set<std::string> addmm = {"aten::addmm"};
    EXPECT_EQ(count_ops(addmm, [&] { separate_logits = separate->forward(tokens.slice(1, 0, 16)); })["aten::addmm"], 0);
    EXPECT_EQ(count_ops(addmm, [&] { folded_logits = folded->forward(tokens.slice(1, 0, 16)); })["aten::addmm"], 4 * 2)
        << name << ": qkv, out, mlp_in, mlp_out in 2 layers";
    automatic_logits = automatic->forward(tokens.slice(1, 0, 16));
    EXPECT_TRUE(torch::equal(separate_logits, automatic_logits)) << name << ": auto on the CPU";
    EXPECT_TRUE(torch::allclose(separate_logits, folded_logits, 1e-5, 1e-5)) << name;
    torch::nn::functional::cross_entropy(separate_logits.reshape({-1, 256}), targets).backward();
    torch::nn::functional::cross_entropy(folded_logits.reshape({-1, 256}), targets).backward();
    expect_same_gradients(separate, folded, name);
  }
  auto model = make_model("none");
  model->options().linear_bias = "fused";
  EXPECT_THROW(model->forward(torch::randint(0, 256, {1, 4}, torch::kLong)), std::invalid_argument);
}

// What pebench_bench launches counts: an op where it does work (not the composite above it,
// not a view), a multi-tensor op once whatever its list.
TEST(OpCounter, CountsAKernelOpWhereTheWorkIsDone) {
  auto x = torch::randn({4, 3}), weight = torch::randn({5, 3});
  using Counts = std::map<std::string, int64_t>;
  EXPECT_EQ(count_kernel_ops([&] { torch::matmul(x, weight.t()); }), (Counts{{"aten::mm", 1}}));  // matmul calls mm
  EXPECT_EQ(count_kernel_ops([&] { x.reshape({3, 4}).t().unsqueeze(0); }), Counts{});
  EXPECT_EQ(count_kernel_ops([&] { x.t().contiguous(); }), (Counts{{"aten::copy_", 1}}));
  std::vector<torch::Tensor> list = {torch::ones({2}), torch::ones({3}), torch::ones({4})};
  EXPECT_EQ(count_kernel_ops([&] { torch::_foreach_mul_(list, 2.0); }), (Counts{{"aten::_foreach_mul_", 1}}));
}

// q, k and v are split from the one qkv product by unbind, whose backward is one stack:
// split by select, each backward filled a zero tensor of the whole product and the three
// were added (8 kernels a layer where PyTorch's `q, k, v = qkv` launches 1).
TEST(TransformerLM, QkvSplitBackwardIsOneStack) {
  for (const std::string name : {"none", "rope"}) {  // rope rotates q and k stacked, split by unbind too
    auto model = make_model(name);
    auto logits = model->forward(torch::randint(0, 256, {2, 16}, torch::kLong));
    const auto calls = count_ops({"aten::select_backward", "aten::stack"}, [&] { logits.sum().backward(); });
    EXPECT_EQ(calls.count("aten::select_backward"), 0u) << name;
    if (name == "none") {
      EXPECT_EQ(calls.count("aten::stack") ? calls.at("aten::stack") : 0, 2) << "one per layer";
    }
  }
}

TEST(TransformerLM, BandMaskLimitsWhatAQuerySees) {
  auto model = make_model("none");
  model->options().attention_window = 4;
  model->eval();
  torch::NoGradGuard no_grad;
  auto tokens = torch::randint(0, 256, {1, 30}, torch::kLong);
  auto changed = tokens.clone();
  changed[0][2] = (tokens[0][2].item<int64_t>() + 1) % 256;
  auto before = model->forward(tokens), after = model->forward(changed);
  // Two layers of width 4 see back 2·(4-1) = 6 tokens: position 2 reaches up to 8.
  EXPECT_FALSE(torch::allclose(before[0][8], after[0][8]));
  EXPECT_TRUE(torch::equal(before.slice(1, 9), after.slice(1, 9)));
}

TEST(TransformerLM, WeightsFollowTheInitRate) {
  for (double gamma : {0.3, 0.5, 0.8}) {
    auto model = make_model("none", 128, gamma);
    auto params = model->named_parameters();
    const double mlp_in = params["blocks.0.mlp_in.weight"].std().item<double>();   // fan-in 32
    const double mlp_out = params["blocks.0.mlp_out.weight"].std().item<double>(); // fan-in 128
    EXPECT_NEAR(mlp_in, std::pow(32.0, -gamma), 0.05 * std::pow(32.0, -gamma)) << gamma;
    EXPECT_NEAR(mlp_out, std::pow(128.0, -gamma), 0.05 * std::pow(128.0, -gamma)) << gamma;
    EXPECT_EQ(params["blocks.0.mlp_in.bias"].abs().sum().item<double>(), 0.0);
  }
}

// Zhang et al. 2024's regime: untied output embeddings, the init rule on every weight
// (the learned table too), any head count including 1. The defaults draw exactly the
// numbers they drew before these options existed.
TEST(TransformerLM, UntiedOutputAndInitScopeAllFollowTheInitRate) {
  TinyModel tiny;
  tiny.encoding = "learned";
  tiny.init_gamma = 0.8;
  tiny.max_length = 2048;  // enough rows for a tight std
  auto plain = tiny.build();
  tiny.tie_embeddings = false;
  tiny.init_scope = "all";
  auto zhang = tiny.build();
  auto params = zhang->named_parameters();
  ASSERT_TRUE(params.contains("output.weight"));
  EXPECT_FALSE(plain->named_parameters().contains("output.weight"));
  const double expected = std::pow(32.0, -0.8);  // fan-in d_model = 32
  EXPECT_NEAR(params["output.weight"].std().item<double>(), expected, 0.05 * expected);
  EXPECT_NEAR(params["encoding.table"].std().item<double>(), expected, 0.05 * expected);
  EXPECT_NEAR(plain->named_parameters()["encoding.table"].std().item<double>(), 1.0, 0.05);  // pe_init_std
  // Every weight drawn before the new ones is unchanged.
  EXPECT_TRUE(torch::equal(params["token_embedding.weight"], plain->named_parameters()["token_embedding.weight"]));
  EXPECT_TRUE(torch::equal(params["blocks.1.mlp_out.weight"], plain->named_parameters()["blocks.1.mlp_out.weight"]));
  // The untied output is what the logits use.
  zhang->eval();
  torch::NoGradGuard no_grad;
  auto tokens = torch::randint(0, 256, {1, 8}, torch::kLong);
  auto before = zhang->forward(tokens);
  zhang->output->weight.mul_(2);
  EXPECT_FALSE(torch::allclose(before, zhang->forward(tokens)));
}

TEST(TransformerLM, EveryEncodingRunsWithOneHead) {
  for (const auto& info : encoding_registry()) {
    TinyModel tiny;
    tiny.encoding = info.name;
    tiny.heads = 1;
    auto model = tiny.build();
    auto logits = model->forward(torch::randint(0, 256, {2, 20}, torch::kLong));
    EXPECT_TRUE(torch::isfinite(logits).all().item<bool>()) << info.name;
  }
}

// Rows of the learned table past the train length are never reached in training and
// keep their init; eval past the train length still works.
TEST(TransformerLM, LearnedRowsPastTrainLengthKeepTheirInit) {
  auto model = make_model("learned", 64);
  auto table = model->named_parameters()["encoding.table"];
  auto initial = table.detach().clone();
  torch::optim::AdamW optimizer(model->parameters(), torch::optim::AdamWOptions(1e-2).weight_decay(0));
  for (int step = 0; step < 3; ++step) {
    auto tokens = torch::randint(0, 256, {4, 17}, torch::kLong);
    auto logits = model->forward(tokens.slice(1, 0, 16));
    auto loss = torch::nn::functional::cross_entropy(logits.reshape({-1, 256}), tokens.slice(1, 1).reshape({-1}));
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
  }
  EXPECT_FALSE(torch::equal(table.slice(0, 0, 16), initial.slice(0, 0, 16)));
  EXPECT_TRUE(torch::equal(table.slice(0, 16), initial.slice(0, 16)));
  model->eval();
  torch::NoGradGuard no_grad;
  EXPECT_EQ(model->forward(torch::randint(0, 256, {1, 64}, torch::kLong)).size(1), 64);
}

TEST(TransformerLM, ScalesTokenEmbeddingsOnlyForAdditiveEncodings) {
  for (const char* name : {"none", "sinusoidal"}) {
    auto model = make_model(name);
    model->eval();
    torch::NoGradGuard no_grad;
    auto tokens = torch::randint(0, 256, {1, 8}, torch::kLong);
    auto scaled = model->forward(tokens);
    model->options().scale_embeddings = false;
    auto unscaled = model->forward(tokens);
    EXPECT_EQ(torch::equal(scaled, unscaled), std::string(name) == "none") << name;
  }
}

// The model on a CUDA device, where this LibTorch has one (skipped elsewhere; run by
// tests/models/cuda_check.sh on a GPU machine): from the same weights every encoding gives
// the CPU's logits and gradients in training and the CPU's logits in query-blocked eval,
// so nothing in the model or the encodings assumes the CPU.
TEST(TransformerLM, EveryEncodingOnCudaMatchesTheCpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "this LibTorch has no CUDA device";
  for (const auto& info : encoding_registry()) {
    auto on_cpu = make_model(info.name), on_cuda = make_model(info.name);
    on_cuda->to(torch::kCUDA);
    auto tokens = torch::randint(0, 256, {2, 17}, torch::kLong);
    auto targets = tokens.slice(1, 1).reshape({-1});
    auto cpu_logits = on_cpu->forward(tokens.slice(1, 0, 16));
    auto cuda_logits = on_cuda->forward(tokens.slice(1, 0, 16).to(torch::kCUDA));
    EXPECT_TRUE(torch::allclose(cpu_logits, cuda_logits.cpu(), 1e-4, 1e-4)) << info.name;
    torch::nn::functional::cross_entropy(cpu_logits.reshape({-1, 256}), targets).backward();
    torch::nn::functional::cross_entropy(cuda_logits.reshape({-1, 256}), targets.to(torch::kCUDA)).backward();
    auto cuda_parameters = on_cuda->named_parameters();
    for (const auto& parameter : on_cpu->named_parameters()) {
      const auto& cuda_grad = cuda_parameters[parameter.key()].grad();
      ASSERT_EQ(parameter.value().grad().defined(), cuda_grad.defined()) << info.name << " " << parameter.key();
      if (cuda_grad.defined()) {
        EXPECT_TRUE(torch::allclose(parameter.value().grad(), cuda_grad.cpu(), 1e-3, 1e-5)) << info.name << " " << parameter.key();
      }
    }
    on_cpu->eval(), on_cuda->eval();
    on_cpu->options().attention_block = on_cuda->options().attention_block = 16;
    torch::NoGradGuard no_grad;
    auto long_tokens = torch::randint(0, 256, {1, 100}, torch::kLong);
    EXPECT_TRUE(torch::allclose(on_cpu->forward(long_tokens), on_cuda->forward(long_tokens.to(torch::kCUDA)).cpu(), 1e-4, 1e-4))
        << info.name;
  }
}

}  // namespace
}  // namespace pebench
