// The positional-encoding interface (DESIGN.md §2): three hooks that do nothing by
// default. An encoding sees tensors, options and a device; never a rank, file or name.
#pragma once
#include <torch/nn/module.h>
#include <torch/types.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "encodings/option_key.h"

namespace pebench {

// What every encoding is built from: the model's shape, lengths and seed (typed), and
// the encoding.* study keys, which each encoding declares in its own file and reads
// through the accessors below (a key left unset reads as its declared default).
struct EncodingOptions {
  int64_t d_model = 128;
  int64_t heads = 4;
  int64_t layers = 2;
  int64_t train_length = 64;     // train.seq_len: the longest position seen in training
  int64_t max_length = 1024;     // largest eval length: learned tables are sized to it
  uint64_t seed = 0;             // for encodings that sample (randomized positions)
  double pe_init_std = 1.0;      // learned table init (Ito et al. 2024 study smaller ones)
  std::map<std::string, std::string> keys;  // encoding.* key -> canonical value text

  const std::string& text(const OptionKey& key) const;
  int64_t integer(const OptionKey& key) const;
  double real(const OptionKey& key) const;
  bool flag(const OptionKey& key) const;
  std::vector<std::string> list(const OptionKey& key) const;  // choice_list: "none" is empty
};

// Shared by the encodings with learned biases (t5, kerple_*, fire): one set of parameters
// for all layers (gpt-neox, KERPLE) or one per layer.
extern const OptionKey kShareAcrossLayers;

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
  // [heads, Tq, Tk] added to the scaled logits, or [layers, heads, Tq, Tk] when its
  // parameters are per layer; undefined when the encoding has none.
  virtual torch::Tensor bias(const torch::Tensor& /*query_positions*/,
                             const torch::Tensor& /*key_positions*/) {
    return {};
  }
  // Positions of a forward over `length` tokens when the caller gives none: 0..length-1,
  // unless the encoding samples them (randomized positions, which may give [layers, T]:
  // one row per layer, passed to that layer's rotate() and to bias() whole).
  // The plain positions are views of one remembered arange per device, so every forward
  // of a length passes the same tensor and the caches below recognise it without reading
  // it (no device sync).
  virtual torch::Tensor positions(int64_t length, torch::Device device) {
    if (!plain_positions_.defined() || plain_positions_.device() != device || plain_positions_.size(0) < length)
      plain_positions_ = torch::arange(length, torch::TensorOptions().dtype(torch::kLong).device(device));
    return plain_positions_.slice(0, 0, length);
  }
  // True when positions() draws new positions for every forward in the current mode
  // (randomized positions): a training step captured in a CUDA graph would replay one draw.
  virtual bool draws_positions() const { return false; }
  // Training resumes from a checkpoint after `steps` steps (one forward each): encodings
  // that draw per forward continue their sequence, as if never interrupted.
  virtual void resume_training_at(int64_t /*steps*/) {}
  // Eval-time variants (RoPE length scaling); each one gets its own eval curve.
  virtual std::vector<std::string> eval_variants() const { return {}; }
  // Selects a variant ("" = as trained) for evaluating sequences of `eval_length` tokens.
  virtual void set_eval_variant(const std::string& /*variant*/, int64_t /*eval_length*/) {}
  // The learned absolute table [rows, d_model], undefined for other encodings.
  virtual torch::Tensor table() const { return {}; }
  // True when embed() adds a position table to the token embeddings.
  virtual bool is_additive() const { return false; }
  // Facts about this encoding worth recording in the store next to the run.
  virtual std::vector<std::pair<std::string, int64_t>> facts() const { return {}; }

 private:
  torch::Tensor plain_positions_;  // 0..n-1 on the device last asked for; positions() slices it
};

struct EncodingInfo {
  std::string name;
  std::string kind;      // how it enters the model: "additive", "rotary", "fixed bias", ...
  std::string summary;
  std::string paper;
  bool extrapolates;     // meant to run past the train length
  bool relative;         // attention depends only on i - j (shifting all positions changes nothing)
  std::vector<OptionKey> keys;  // the encoding.* study keys it reads, declared in its file
  std::function<std::shared_ptr<PositionalEncodingImpl>(const EncodingOptions&)> make;
  // What the options must satisfy: "" when fine, else why not (naming the key).
  std::function<std::string(const EncodingOptions&)> check = [](const EncodingOptions&) { return ""; };
  // Keys of other sections it reads (model.pe_init_std), for `pebench encodings`.
  std::vector<std::string> also_reads = {};
};

// The bias an encoding adds at distances 0..n_distances-1, seen from the query at
// position n_distances-1: [heads, n] (or [layers, heads, n]); undefined without a bias.
torch::Tensor bias_profile(PositionalEncodingImpl& encoding, int64_t n_distances, torch::Device device);

// A host tensor (a batch, drawn positions) on `device`. On CUDA through pinned memory,
// without waiting: the copy is queued behind the work already launched, so the host goes
// on to the next step instead of draining the GPU (a pageable copy waits for the stream,
// a host sync every step); the pinned block is not reused before its copy has run (torch
// records the copy's event). Elsewhere, the tensor moved as usual.
torch::Tensor upload(const torch::Tensor& host, torch::Device device);
// The same copy into an existing tensor of the same shape and dtype (the fixed inputs of a
// step captured in a CUDA graph); std::logic_error when they differ.
void upload_into(torch::Tensor& on_device, const torch::Tensor& host);

// A cache key for position tensors that never reads their values, so a cache check costs
// no device sync on CUDA: a tensor is "the same positions" when it is a view of the same
// storage at the same offset, shape and strides, unwritten since (its version counter).
// The key holds a reference, so that storage cannot be freed and its address handed to
// other positions. Equal values in another tensor count as new: the cache is rebuilt, to
// the same numbers. The model passes the same tensor every forward (positions() above).
struct PositionsKey {
  torch::Tensor seen;
  int64_t version = -1;
  // True when `positions` is not the remembered tensor, which it then replaces.
  bool changed(const torch::Tensor& positions) {
    if (seen.defined() && positions.defined() && seen.is_alias_of(positions) &&
        seen.storage_offset() == positions.storage_offset() && seen.sizes() == positions.sizes() &&
        seen.strides() == positions.strides() && seen.dtype() == positions.dtype() &&
        positions._version() == version)
      return false;
    seen = positions;
    version = positions.defined() ? positions._version() : -1;
    return true;
  }
  void forget() { *this = PositionsKey(); }
};

// The (query, key) positions a cached bias or distance was built for.
struct PositionPairKey {
  PositionsKey query, key;
  // True when these positions differ from the remembered ones, which they then replace.
  bool changed(const torch::Tensor& query_positions, const torch::Tensor& key_positions) {
    const bool query_changed = query.changed(query_positions);
    const bool key_changed = key.changed(key_positions);
    return query_changed || key_changed;
  }
};

}  // namespace pebench
