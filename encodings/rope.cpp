// Rotary position embedding (RoPE): rotate each (x_i, x_{i+d/2}) pair of queries and keys
// by the angle p·θ_i, θ_i = base^(-2i/d_head), so q·k depends only on p_q - p_k.
// Su et al. 2021, "RoFormer", arXiv 2104.09864. Pairing is half-split (GPT-NeoX, HF
// Llama): x' = x·cos + rotate_half(x)·sin with rotate_half([x1, x2]) = [-x2, x1].
#include "encodings/encoding.h"
#include "encodings/formulas.h"

#include <cmath>

namespace pebench {

// θ_i = base^(-2i/d_head), i = 0 .. d_head/2 - 1, in float64.
torch::Tensor rope_inverse_frequency(int64_t d_head, double base, torch::Device device) {
  auto options = torch::TensorOptions().dtype(torch::kFloat64).device(device);
  return torch::exp(torch::arange(0, d_head, 2, options) * (-std::log(base) / d_head));
}

torch::Tensor rotate_half(const torch::Tensor& x) {
  const int64_t half = x.size(-1) / 2;
  return torch::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
}

class RopeEncodingImpl : public PositionalEncodingImpl {
 public:
  explicit RopeEncodingImpl(const EncodingOptions& options)
      : d_head_(options.d_model / options.heads), base_(options.rope_base) {}

  void rotate(torch::Tensor& q, torch::Tensor& k, const torch::Tensor& positions) override {
    if (!same_positions(cached_positions_, positions)) {
      auto angles = positions.to(torch::kFloat64).unsqueeze(1) *
                    rope_inverse_frequency(d_head_, base_, positions.device()).unsqueeze(0);
      angles = torch::cat({angles, angles}, 1);  // [T, d_head]
      cos_ = angles.cos().to(q.dtype());
      sin_ = angles.sin().to(q.dtype());
      cached_positions_ = positions.clone();
    }
    q = q * cos_ + rotate_half(q) * sin_;
    k = k * cos_ + rotate_half(k) * sin_;
  }

 private:
  int64_t d_head_;
  double base_;
  torch::Tensor cached_positions_, cos_, sin_;
};

EncodingInfo rope_encoding() {
  return {"rope", "rotary embedding of queries and keys (half-split pairs)",
          "Su et al. 2021, arXiv 2104.09864", true, [](const EncodingOptions& options) {
            return std::make_shared<RopeEncodingImpl>(options);
          }};
}

}  // namespace pebench
