#include "models/transformer.h"

#include <torch/nn/functional/activation.h>

#include <cmath>
#include <limits>
#include <stdexcept>

#include "encodings/torch_version.h"

#if PEBENCH_TORCH_AT_LEAST(2, 1)
#define PEBENCH_HAS_FUSED_ATTENTION 1
#else
#define PEBENCH_HAS_FUSED_ATTENTION 0
#endif

namespace pebench {

CausalSelfAttentionImpl::CausalSelfAttentionImpl(int64_t d_model, int64_t heads)
    : heads_(heads) {
  qkv = register_module("qkv", torch::nn::Linear(d_model, 3 * d_model));
  out = register_module("out", torch::nn::Linear(d_model, d_model));
}

torch::Tensor forbidden_keys(int64_t query_begin, int64_t query_end, int64_t key_end, int64_t attention_window,
                             torch::Device device) {
  auto index_options = torch::TensorOptions().dtype(torch::kLong).device(device);
  auto query_index = torch::arange(query_begin, query_end, index_options).unsqueeze(1);
  auto key_index = torch::arange(0, key_end, index_options).unsqueeze(0);
  auto forbidden = key_index > query_index;  // causal: by token order, not position value
  if (attention_window > 0) forbidden = forbidden | (query_index - key_index >= attention_window);
  return forbidden;
}

namespace {
// The offset from the encoding's bias over these positions (undefined: none) and the mask.
torch::Tensor masked_offset(const torch::Tensor& bias, const torch::Tensor& forbidden, int64_t query_count,
                            int64_t key_end) {
  const float minus_infinity = -std::numeric_limits<float>::infinity();
  if (bias.defined()) return bias.masked_fill(forbidden, minus_infinity);
  return torch::zeros({1, query_count, key_end}, torch::TensorOptions().dtype(torch::kFloat32).device(forbidden.device()))
      .masked_fill_(forbidden, minus_infinity);
}
}  // namespace

torch::Tensor logit_offset(PositionalEncodingImpl& encoding, const torch::Tensor& positions,
                           int64_t query_begin, int64_t query_end, int64_t key_end,
                           int64_t attention_window) {
  // positions [T], or [L, T] when a randomized encoding draws per layer.
  auto bias = encoding.bias(positions.slice(-1, query_begin, query_end),
                            positions.slice(-1, 0, key_end));
  return masked_offset(bias, forbidden_keys(query_begin, query_end, key_end, attention_window, positions.device()),
                       query_end - query_begin, key_end);
}

namespace {
// Each query's softmax over its keys' logits q·k + offset, times the values: q [B, H, Tq,
// d_head], already scaled; k, v [B, H, Tk, d_head]; offset [heads or 1, Tq, Tk].
torch::Tensor attend(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, const torch::Tensor& offset,
                     bool plain_causal, bool fused, ForwardProbe* probe, int64_t layer, int64_t query_begin) {
#if PEBENCH_HAS_FUSED_ATTENTION
  if (fused) {
    // The offset in the queries' dtype (bf16 under autocast), as the kernels require: a
    // bias rounds as the bf16 logits do (2^-8 relative); 0 and -inf are exact.
    if (plain_causal) return at::scaled_dot_product_attention(q, k, v, {}, 0.0, /*is_causal=*/true, /*scale=*/1.0);
    return at::scaled_dot_product_attention(q, k, v, offset.to(q.scalar_type()), 0.0, false, /*scale=*/1.0);
  }
#else
  (void)plain_causal, (void)fused;
#endif
  auto probabilities = torch::softmax(torch::matmul(q, k.transpose(-2, -1)) + offset, -1);
  if (probe && probe->attention) probe->attention(layer, query_begin, probabilities);
  return torch::matmul(probabilities, v);
}
}  // namespace

bool fused_attention_available() { return PEBENCH_HAS_FUSED_ATTENTION; }

bool folds_linear_bias(const TransformerLMOptions& options, torch::Device device) {
  if (options.linear_bias == "auto") return device.is_cuda();
  if (options.linear_bias != "folded" && options.linear_bias != "separate")
    throw std::invalid_argument("linear_bias = " + options.linear_bias + ": expected auto | separate | folded");
  return options.linear_bias == "folded";
}

torch::Tensor linear(torch::nn::LinearImpl& layer, const torch::Tensor& x, bool folds_bias) {
  if (folds_bias) return at::linear(x, layer.weight, layer.bias);
  return layer.forward(x);
}

torch::Tensor CausalSelfAttentionImpl::forward(const torch::Tensor& x, const AttentionInputs& inputs,
                                               const TransformerLMOptions& options, int64_t layer) {
  // Encodings with per-layer parameters give [layers, heads, Tq, Tk].
  auto of_layer = [layer](const torch::Tensor& t) { return t.dim() == 4 ? t[layer] : t; };
  const int64_t batch = x.size(0), length = x.size(1), d_model = x.size(2);
  const int64_t d_head = d_model / heads_;
  // Split by unbind, whose backward is one stack; three selects' would fill three zero
  // tensors of the whole [3, B, H, T, d_head], copy into each and add them (8 kernels).
  const auto qkv_heads = linear(*qkv, x, inputs.folds_linear_bias).view({batch, length, 3, heads_, d_head}).permute({2, 0, 3, 1, 4}).unbind(0);
  auto q = qkv_heads[0], k = qkv_heads[1], v = qkv_heads[2];  // [B, H, T, d_head]
  const auto& positions = inputs.positions;
  inputs.encoding->rotate(q, k, positions.dim() == 2 ? positions[layer] : positions);
  // Scaling q before the product is the same as scaling the logits, and cheaper.
  q = q * (1.0 / std::sqrt(static_cast<double>(d_head)));

  torch::Tensor attended;
  if (inputs.offset.defined()) {
    attended = attend(q, k, v, of_layer(inputs.offset), inputs.plain_causal, inputs.fused, inputs.probe, layer, 0);
  } else {
    // Query blocks: each block attends to keys up to its last query (causal).
    const int64_t block = options.attention_block;
    std::vector<torch::Tensor> outputs;
    for (int64_t begin = 0; begin < length; begin += block) {
      const int64_t end = std::min(length, begin + block);
      auto block_offset = logit_offset(*inputs.encoding, positions, begin, end, end, options.attention_window);
      outputs.push_back(attend(q.slice(2, begin, end), k.slice(2, 0, end), v.slice(2, 0, end), of_layer(block_offset),
                               false, inputs.fused, inputs.probe, layer, begin));
    }
    attended = torch::cat(outputs, 2);
  }
  return linear(*out, attended.transpose(1, 2).reshape({batch, length, d_model}), inputs.folds_linear_bias);
}

BlockImpl::BlockImpl(int64_t d_model, int64_t heads) {
  norm_attention = register_module("norm_attention",
                                   torch::nn::LayerNorm(torch::nn::LayerNormOptions({d_model})));
  attention = register_module("attention", CausalSelfAttention(d_model, heads));
  norm_mlp = register_module("norm_mlp", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d_model})));
  mlp_in = register_module("mlp_in", torch::nn::Linear(d_model, 4 * d_model));
  mlp_out = register_module("mlp_out", torch::nn::Linear(4 * d_model, d_model));
}

torch::Tensor BlockImpl::forward(const torch::Tensor& x, const AttentionInputs& inputs, const TransformerLMOptions& options,
                                 int64_t layer) {
  auto h = x + attention->forward(norm_attention->forward(x), inputs, options, layer);
  return h + linear(*mlp_out, torch::gelu(linear(*mlp_in, norm_mlp->forward(h), inputs.folds_linear_bias)), inputs.folds_linear_bias);
}

TransformerLMImpl::TransformerLMImpl(const TransformerLMOptions& options,
                                     std::shared_ptr<PositionalEncodingImpl> encoding)
    : options_(options), encoding_(std::move(encoding)) {
  TORCH_CHECK(options.d_model % options.heads == 0, "d_model must be divisible by heads");
  token_embedding = register_module("token_embedding",
                                    torch::nn::Embedding(options.vocab_size, options.d_model));
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (int64_t layer = 0; layer < options.layers; ++layer)
    blocks->push_back(Block(options.d_model, options.heads));
  final_norm = register_module("final_norm",
                               torch::nn::LayerNorm(torch::nn::LayerNormOptions({options.d_model})));
  register_module("encoding", encoding_);
  initialize_weights();
  // Created after every default draw (a Linear draws its own init), so runs with the
  // default options keep their numbers bit for bit.
  if (!options.tie_embeddings)
    output = register_module("output", torch::nn::Linear(torch::nn::LinearOptions(options.d_model, options.vocab_size).bias(false)));
  initialize_optional_weights();
}

void TransformerLMImpl::normal_by_fan_in(torch::Tensor weight, int64_t fan_in) const {
  weight.normal_(0.0, std::pow(static_cast<double>(fan_in), -options_.init_gamma));
}

void TransformerLMImpl::initialize_weights() {
  torch::NoGradGuard no_grad;
  // The tied embedding is also the output projection, whose fan-in is d_model.
  normal_by_fan_in(token_embedding->weight, options_.d_model);
  for (auto& module : blocks->children()) {
    auto& block = *module->as<BlockImpl>();
    for (torch::nn::LinearImpl* linear : {block.attention->qkv.get(), block.attention->out.get(),
                         block.mlp_in.get(), block.mlp_out.get()}) {
      normal_by_fan_in(linear->weight, linear->weight.size(1));
      linear->bias.zero_();
    }
  }
}

void TransformerLMImpl::initialize_optional_weights() {
  torch::NoGradGuard no_grad;
  if (output) normal_by_fan_in(output->weight, options_.d_model);
  if (options_.init_scope == "all") {
    auto table = encoding_->table();  // learned and randomized:learned; shares the parameter's storage
    if (table.defined()) normal_by_fan_in(table, options_.d_model);
  }
}

torch::Tensor TransformerLMImpl::forward(const torch::Tensor& tokens, torch::Tensor positions, ForwardProbe* probe) {
  const int64_t length = tokens.size(1);
  if (!positions.defined()) positions = encoding_->positions(length, tokens.device());

  auto x = token_embedding->forward(tokens);
  if (encoding_->is_additive() && options_.scale_embeddings)
    x = x * std::sqrt(static_cast<double>(options_.d_model));
  x = encoding_->embed(x, positions);
  if (probe) {
    probe->embeddings = x;
    if (probe->keep_hidden) probe->hidden.push_back(x);
  }

  // One offset (bias + mask) per forward, shared by every layer; outside training,
  // long inputs are attended in query blocks instead, built per block.
  const bool blocked = !is_training() && options_.attention_block > 0 &&
                       length > options_.attention_block;
  AttentionInputs inputs;
  inputs.positions = positions;
  inputs.encoding = encoding_.get();
  inputs.probe = probe;
  if (!blocked) {
    inputs.offset = full_logit_offset(positions, length);
    inputs.plain_causal = inputs.offset.is_same(mask_cache_.unbiased_offset) && options_.attention_window == 0;
  }
  inputs.fused = attends_fused(tokens.device()) && !(probe && probe->attention);
  inputs.folds_linear_bias = folds_linear_bias(options_, tokens.device());
  if (inputs.fused && !fused_attention_available())
    throw std::invalid_argument("attention = fused: this LibTorch (" TORCH_VERSION ") has no scaled_dot_product_attention with a scale (torch >= 2.1)");

  int64_t layer = 0;
  for (auto& module : blocks->children()) {
    x = module->as<BlockImpl>()->forward(x, inputs, options_, layer++);
    if (probe && probe->keep_hidden) probe->hidden.push_back(x);
  }
  x = final_norm->forward(x);
  return torch::matmul(x, (output ? output->weight : token_embedding->weight).t());
}

torch::Tensor TransformerLMImpl::full_logit_offset(const torch::Tensor& positions, int64_t length) {
  auto& cache = mask_cache_;
  const int64_t window = options_.attention_window;
  if (cache.length != length || cache.window != window || cache.forbidden.device() != positions.device()) {
    cache.length = length;
    cache.window = window;
    cache.forbidden = forbidden_keys(0, length, length, window, positions.device());
    cache.unbiased_offset = torch::Tensor();
  }
  auto bias = encoding_->bias(positions.slice(-1, 0, length), positions.slice(-1, 0, length));
  if (bias.defined()) return masked_offset(bias, cache.forbidden, length, length);
  if (!cache.unbiased_offset.defined()) cache.unbiased_offset = masked_offset(bias, cache.forbidden, length, length);
  return cache.unbiased_offset;
}

bool TransformerLMImpl::attends_fused(torch::Device device) const {
  return options_.attention == "fused" || (options_.attention == "auto" && device.is_cuda());
}

int64_t TransformerLMImpl::parameter_count() const {
  int64_t count = 0;
  for (const auto& parameter : parameters()) count += parameter.numel();
  return count;
}

}  // namespace pebench
