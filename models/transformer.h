// Decoder-only pre-LayerNorm transformer LM with explicit causal attention
// (DESIGN.md §3). The positional encoding is a module handed in; the model knows
// nothing of ranks, files or encoding names.
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>

#include <functional>
#include <vector>

#include "encodings/encoding.h"

namespace pebench {

struct TransformerLMOptions {
  int64_t vocab_size = 256;
  int64_t d_model = 128;
  int64_t layers = 2;
  int64_t heads = 4;
  // Every weight ~ N(0, fan_in^(-2·init_gamma)) (Zhang et al. 2024); 0.5 is 1/sqrt(fan_in).
  double init_gamma = 0.5;
  // "weights": init_gamma sets the token embedding, output and block weights; "all": also
  // the encoding's learned position table (PositionalEncodingImpl::table()), fan-in d_model.
  std::string init_scope = "weights";
  // The output projection is the token embedding; false: its own [vocab, d_model] matrix.
  bool tie_embeddings = true;
  // Multiply token embeddings by sqrt(d_model) when the encoding adds a table
  // (Vaswani et al.; fairseq), so a unit-amplitude table does not swamp them.
  bool scale_embeddings = true;
  // Band mask: a query sees only its last `attention_window` keys; 0 = unlimited.
  int64_t attention_window = 0;
  // Queries per attention block outside training; memory O(heads·block·T). 0 = one block.
  int64_t attention_block = 0;
  // How the softmax(q·k + offset)·v is computed: "explicit" (scores, softmax, product:
  // every CPU number of pebench), "fused" (torch's scaled_dot_product_attention, torch >=
  // 2.1: flash or memory-efficient kernels on CUDA, which never hold the T x T scores),
  // "auto" (fused on CUDA, explicit elsewhere). Forwards that hand attention probabilities
  // to an analysis stay explicit.
  std::string attention = "auto";
  // How a Linear adds its bias to a [B, T, d] input: "separate" (LibTorch's C++ Linear: a
  // matmul, then an add: every CPU number of pebench), "folded" (torch.nn.Linear's
  // at::linear: one addmm over the B·T rows, on CUDA one kernel with the bias in its
  // epilogue), "auto" (folded on CUDA, separate elsewhere). The CPU keeps "separate"
  // because addmm adds the bias into the product block by block of the inner dimension,
  // which rounds differently (by 1e-6 at d_model 512, measured on torch 2.15's CPU).
  std::string linear_bias = "auto";
};

// Whether this LibTorch has scaled_dot_product_attention with a scale (torch >= 2.1).
bool fused_attention_available();

// Whether forwards on `device` fold each Linear's bias into its product (options.linear_bias).
bool folds_linear_bias(const TransformerLMOptions& options, torch::Device device);
// layer(x) [..., in] → [..., out], the bias added inside the product (at::linear) or after it.
torch::Tensor linear(torch::nn::LinearImpl& layer, const torch::Tensor& x, bool folds_bias);

// What an analysis asks of one forward (harness/analyse); training passes none and pays
// nothing for it.
struct ForwardProbe {
  // Each layer's attention probabilities [B, H, Tq, Tk] for queries query_begin.. (one
  // call per query block at eval time; Tk = the block's last query + 1).
  std::function<void(int64_t layer, int64_t query_begin, const torch::Tensor& probabilities)> attention;
  // Keep the residual stream: the embedding output, then every block's output, [B, T, d].
  bool keep_hidden = false;
  std::vector<torch::Tensor> hidden;
  // Set to the embedding output (the first block's input), to take gradients w.r.t. it.
  torch::Tensor embeddings;
};

// What every layer's attention shares in one forward.
struct AttentionInputs {
  torch::Tensor positions;           // [T], or [L, T]: a row per layer
  PositionalEncodingImpl* encoding;
  // Bias + mask, [heads or 1, T, T] or [layers, heads, T, T] (per-layer bias); undefined:
  // query blocks, each building its own.
  torch::Tensor offset;
  bool plain_causal = false;          // the offset is the causal mask alone (no bias, no band)
  bool fused = false;                 // through torch's scaled_dot_product_attention
  bool folds_linear_bias = false;     // every Linear of the blocks adds its bias in one addmm
  ForwardProbe* probe = nullptr;
};

class CausalSelfAttentionImpl : public torch::nn::Module {
 public:
  CausalSelfAttentionImpl(int64_t d_model, int64_t heads);
  // x [B, T, d] → [B, T, d]; `layer` picks this layer's position row and bias.
  torch::Tensor forward(const torch::Tensor& x, const AttentionInputs& inputs, const TransformerLMOptions& options,
                        int64_t layer);

  torch::nn::Linear qkv{nullptr}, out{nullptr};

 private:
  int64_t heads_;
};
TORCH_MODULE(CausalSelfAttention);

class BlockImpl : public torch::nn::Module {
 public:
  BlockImpl(int64_t d_model, int64_t heads);
  torch::Tensor forward(const torch::Tensor& x, const AttentionInputs& inputs, const TransformerLMOptions& options,
                        int64_t layer);

  torch::nn::LayerNorm norm_attention{nullptr}, norm_mlp{nullptr};
  CausalSelfAttention attention{nullptr};
  torch::nn::Linear mlp_in{nullptr}, mlp_out{nullptr};
};
TORCH_MODULE(Block);

// Where queries [query_begin, query_end) may not attend keys [0, key_end): later keys
// (causal, by token order), and keys attention_window or more back (0: no band). [Tq, Tk].
torch::Tensor forbidden_keys(int64_t query_begin, int64_t query_end, int64_t key_end, int64_t attention_window,
                             torch::Device device);

// Additive logit offset for queries [query_begin, query_end) over keys [0, key_end):
// the encoding's bias (if any) plus -inf where the causal/band mask forbids.
torch::Tensor logit_offset(PositionalEncodingImpl& encoding, const torch::Tensor& positions,
                           int64_t query_begin, int64_t query_end, int64_t key_end,
                           int64_t attention_window);

class TransformerLMImpl : public torch::nn::Module {
 public:
  TransformerLMImpl(const TransformerLMOptions& options,
                    std::shared_ptr<PositionalEncodingImpl> encoding);
  // tokens [B, T] int64; positions [T] int64, or [L, T] with a row per layer (default:
  // the encoding's, 0..T-1 unless it samples them) → logits [B, T, vocab].
  torch::Tensor forward(const torch::Tensor& tokens, torch::Tensor positions = {}, ForwardProbe* probe = nullptr);

  const TransformerLMOptions& options() const { return options_; }
  TransformerLMOptions& options() { return options_; }
  PositionalEncodingImpl& encoding() { return *encoding_; }
  int64_t parameter_count() const;
  // Whether forwards on `device` attend through the fused op (options().attention; a
  // forward whose probabilities an analysis reads is explicit all the same).
  bool attends_fused(torch::Device device) const;
  // logit_offset over the whole sequence (every training forward): the mask is built once
  // per length, window and device, and so is the whole offset of an encoding without a
  // bias; a bias is masked afresh each forward (a learned one changes every step). Equal
  // to logit_offset(encoding(), positions, 0, length, length, window) to the last bit.
  torch::Tensor full_logit_offset(const torch::Tensor& positions, int64_t length);

  torch::nn::Embedding token_embedding{nullptr};
  torch::nn::ModuleList blocks;
  torch::nn::LayerNorm final_norm{nullptr};
  torch::nn::Linear output{nullptr};  // only with tie_embeddings = false

 private:
  void initialize_weights();
  void initialize_optional_weights();  // the untied output, and the PE table with init_scope = all
  // weight ~ N(0, fan_in^(-2·init_gamma)), in place (a tensor shares its parameter's storage).
  void normal_by_fan_in(torch::Tensor weight, int64_t fan_in) const;

  TransformerLMOptions options_;
  std::shared_ptr<PositionalEncodingImpl> encoding_;
  // Kept across forwards: rebuilt, the mask is 4-5 ops (2 aranges, a compare, the band's
  // compare and or) and the unbiased offset 2 more (zeros, fill), each a kernel launch on
  // CUDA, where a small model's step is launch-bound.
  struct MaskCache {
    int64_t length = -1, window = -1;
    torch::Tensor forbidden;        // [T, T] bool
    torch::Tensor unbiased_offset;  // [1, T, T]: 0 or -inf, for encodings without a bias
  } mask_cache_;
};
TORCH_MODULE(TransformerLM);

}  // namespace pebench
