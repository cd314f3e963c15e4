// The positional-encoding interface (DESIGN.md §2): three hooks that do nothing by
// default. An encoding sees tensors, options and a device; never a rank, file or name.
#pragma once
#include <torch/nn/module.h>
#include <torch/types.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace pebench {

struct EncodingOptions {
  int64_t d_model = 128;
  int64_t heads = 4;
  int64_t train_length = 64;     // train.seq_len: the longest position seen in training
  int64_t max_length = 1024;     // largest eval length: learned tables are sized to it
  double pe_init_std = 1.0;      // learned table init (Ito et al. 2024 study smaller ones)
  double rope_base = 10000.0;
  std::string sinusoid_layout = "interleaved";  // interleaved (Vaswani) | concat (fairseq)
};

class PositionalEncodingImpl : public torch::nn::Module {
 public:
  // token_embeddings [B, T, d_model], positions [T] int64 → [B, T, d_model].
  virtual torch::Tensor embed(const torch::Tensor& token_embeddings,
                              const torch::Tensor& /*positions*/) {
    return token_embeddings;
  }
  // q, k [B, H, T, d_head], transformed in place (per layer).
  virtual void rotate(torch::Tensor& /*q*/, torch::Tensor& /*k*/,
                      const torch::Tensor& /*positions*/) {}
  // [heads, Tq, Tk] added to the scaled logits; undefined when the encoding has none.
  virtual torch::Tensor bias(const torch::Tensor& /*query_positions*/,
                             const torch::Tensor& /*key_positions*/) {
    return {};
  }
  // True when embed() adds a position table to the token embeddings.
  virtual bool is_additive() const { return false; }
  // Facts about this encoding worth recording in the store next to the run.
  virtual std::vector<std::pair<std::string, int64_t>> facts() const { return {}; }
};

struct EncodingInfo {
  std::string name;
  std::string summary;
  std::string paper;
  bool extrapolates;  // can it run past the train length at all
  std::function<std::shared_ptr<PositionalEncodingImpl>(const EncodingOptions&)> make;
};

// Returns true when the two position tensors hold the same values (cache keys).
inline bool same_positions(const torch::Tensor& cached, const torch::Tensor& positions) {
  return cached.defined() && cached.sizes() == positions.sizes() &&
         cached.device() == positions.device() && torch::equal(cached, positions);
}

}  // namespace pebench
