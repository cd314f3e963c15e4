// Sandwich: a fixed logit bias from the inner product of two sinusoidal embeddings,
// shifted so distance 0 gives 0 and compressed per head like ALiBi's slopes:
//   bias_h(i, j) = [Σ_{k=1..d'/2} cos((i - j) / 10000^(2k/d')) - d'/2] / (8h/H),
// h = 1..H, d' = 128 (independent of the model width). Chi et al. 2023, "Dissecting
// Transformer Length Extrapolation via the Lens of Receptive Field Analysis", arXiv
// 2212.10356. The sum runs k = 1..d'/2 as in the paper and in NeMo's current
// SandwichRelativePositionEmbedding, which computes this same formula (its d' is the
// `hidden_size` its caller passes); only an older NeMo helper, sandwich_pos_bias, summed
// k = 1..d'/2-1 without the cosine.
#include "encodings/encoding.h"
#include "encodings/formulas.h"

#include <algorithm>
#include <cmath>

namespace pebench {
namespace {
const OptionKey kSandwichDim{"encoding.sandwich_dim", "128", "an even positive integer", "Sandwich d'",
                             ValueKind::positive_int};
}  // namespace

torch::Tensor sandwich_bias(const torch::Tensor& distance, int64_t dim, int64_t heads) {
  auto options = torch::TensorOptions().dtype(torch::kFloat64).device(distance.device());
  auto k = torch::arange(1, dim / 2 + 1, options);
  auto inverse_frequency = torch::pow(10000.0, -2.0 * k / static_cast<double>(dim));
  auto inner = torch::cos(distance.to(torch::kFloat64).unsqueeze(-1) * inverse_frequency).sum(-1) -
               static_cast<double>(dim / 2);
  auto compression = torch::arange(1, heads + 1, options) * (8.0 / static_cast<double>(heads));
  std::vector<int64_t> shape(static_cast<size_t>(distance.dim()) + 1, 1);
  shape[0] = heads;
  return inner.unsqueeze(0) / compression.view(shape);
}

class SandwichEncodingImpl : public PositionalEncodingImpl {
 public:
  explicit SandwichEncodingImpl(const EncodingOptions& options)
      : options_(options), dim_(options.integer(kSandwichDim)) {}

  // Gathered from a per-distance profile, kept and grown on demand: the sum over d'/2
  // cosines is paid once per distance, not per (query, key) pair. The profile covers the
  // largest distance without reading the positions (a read would stall a CUDA step, and
  // randomized positions or eval's query blocks change them every forward): positions are
  // below the longest eval length (randomized ones below max_position, which the wrapper
  // passes as max_length) or below the forward's length. index_select refuses any other.
  torch::Tensor bias(const torch::Tensor& query_positions, const torch::Tensor& key_positions) override {
    if (!cached_for_.changed(query_positions, key_positions)) return cached_bias_;  // training: every step
    auto distance = causal_distance(query_positions, key_positions);
    const int64_t needed = std::max({options_.max_length, query_positions.size(-1), key_positions.size(-1)});
    if (!profile_.defined() || profile_.size(1) < needed || profile_.device() != distance.device()) {
      auto distances = torch::arange(std::max<int64_t>(needed, 2 * (profile_.defined() ? profile_.size(1) : 0)),
                                     distance.options());
      profile_ = sandwich_bias(distances, dim_, options_.heads).to(torch::kFloat32);
    }
    cached_bias_ = profile_.index_select(1, distance.reshape({-1})).view({options_.heads, distance.size(0), distance.size(1)});
    return cached_bias_;
  }

  std::vector<std::pair<std::string, int64_t>> facts() const override {
    return {{"sandwich_dim", dim_}};
  }

 private:
  EncodingOptions options_;
  int64_t dim_;
  torch::Tensor profile_;  // [heads, distances]
  torch::Tensor cached_bias_;
  PositionPairKey cached_for_;
};

EncodingInfo sandwich_encoding() {
  EncodingInfo info{"sandwich", "fixed bias", "fixed sinusoid inner-product bias, ALiBi-like head compression",
                    "Chi et al. 2023, arXiv 2212.10356", true, true, {kSandwichDim},
                    [](const EncodingOptions& options) { return std::make_shared<SandwichEncodingImpl>(options); }};
  info.check = [](const EncodingOptions& options) -> std::string {
    return options.integer(kSandwichDim) % 2 == 0 && options.integer(kSandwichDim) >= 2 ? "" : "encoding.sandwich_dim must be even";
  };
  return info;
}

}  // namespace pebench
