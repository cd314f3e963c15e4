// xPos: RoPE plus an exponential decay per rotation frequency, queries scaled up and
// keys down so the product decays with distance:
//   q'_n = R(n θ) q_n · ζ^(n/γ),  k'_m = R(m θ) k_m · ζ^(-m/γ),  so  q'·k' ∝ ζ^((n-m)/γ),
//   ζ_j = (2j/d + 0.4) / 1.4  (j = 0..d/2-1, both members of a pair),  γ = 512.
// Sun et al. 2022, "A Length-Extrapolatable Transformer", arXiv 2212.10554 (torchscale
// XPOS). Causal only: for m > n the decay would grow. Pairs are half-split like our
// RoPE (torchscale interleaves; the choice permutes dimensions, nothing more). Positions
// are centred on their midpoint before the power, as torchscale does, to keep ζ^(±n/γ)
// in range at long lengths; the centre cancels in q'·k'.
#include "encodings/encoding.h"
#include "encodings/formulas.h"

#include <cmath>

namespace pebench {
namespace {
const OptionKey kXposScaleBase{"encoding.xpos_scale_base", "512", "a positive integer", "xPos decay scale base",
                               ValueKind::positive_int};
}  // namespace

torch::Tensor xpos_decay(int64_t d_head, torch::Device device) {
  auto j = torch::arange(d_head / 2, torch::TensorOptions().dtype(torch::kFloat64).device(device));
  return (2.0 * j / static_cast<double>(d_head) + 0.4) / 1.4;
}

class XposEncodingImpl : public PositionalEncodingImpl {
 public:
  explicit XposEncodingImpl(const EncodingOptions& options)
      : d_head_(options.d_model / options.heads), base_(options.real(kRopeBase)), scale_base_(static_cast<double>(options.integer(kXposScaleBase))) {}

  void rotate(torch::Tensor& q, torch::Tensor& k, const torch::Tensor& positions) override {
    if (cached_for_.changed(positions)) {
      auto angles = rope_angles(positions, rope_inverse_frequency(d_head_, base_, positions.device()));
      // The centre stays a tensor: reading it would stall a CUDA step (randomized
      // positions change every step). Same float64 arithmetic, bit for bit.
      const int64_t length = positions.size(0);
      auto exponent = positions.to(torch::kFloat64).unsqueeze(1);
      if (length) exponent = exponent - torch::floor((positions[0] + positions[length - 1]).to(torch::kFloat64) / 2);
      exponent = exponent / scale_base_;
      auto scale = torch::pow(xpos_decay(d_head_, positions.device()).unsqueeze(0), exponent);  // [T, d/2]
      scale = torch::cat({scale, scale}, 1);
      // The decay is folded into each side's rotation tables: one product per element.
      // [2, 1, 1, T, d_head]: the query's table, then the key's, for rotate_pair.
      const auto pair = [&](const torch::Tensor& query, const torch::Tensor& key) {
        return torch::stack({query, key}).unsqueeze(1).unsqueeze(1).to(q.dtype());
      };
      cos_ = pair(angles.cos() * scale, angles.cos() / scale);
      sin_ = pair(angles.sin() * scale, angles.sin() / scale);
    }
    rotate_pair(q, k, cos_, sin_);
  }

  std::vector<std::pair<std::string, int64_t>> facts() const override {
    return {{"xpos_scale_base", static_cast<int64_t>(scale_base_)}};
  }

 private:
  int64_t d_head_;
  double base_, scale_base_;
  PositionsKey cached_for_;
  torch::Tensor cos_, sin_;  // [2, 1, 1, T, d_head]: queries', keys'; the decay folded in
};

EncodingInfo xpos_encoding() {
  EncodingInfo info{"xpos", "rotary", "RoPE with per-frequency exponential decay (causal)",
                    "Sun et al. 2022, arXiv 2212.10554", true, true, {kRopeBase, kXposScaleBase},
                    [](const EncodingOptions& options) { return std::make_shared<XposEncodingImpl>(options); }};
  info.check = [](const EncodingOptions& options) -> std::string {
    return (options.d_model / options.heads) % 2 == 0 ? "" : "xpos needs an even head size (model.d_model / model.heads)";
  };
  return info;
}

}  // namespace pebench
