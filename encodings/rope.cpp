// Rotary position embedding (RoPE): rotate each (x_i, x_{i+d/2}) pair of queries and keys
// by the angle p·θ_i, θ_i = base^(-2i/d_head), so q·k depends only on p_q - p_k.
// Su et al. 2021, "RoFormer", arXiv 2104.09864. Pairing is half-split (GPT-NeoX, HF
// Llama): x' = x·cos + rotate_half(x)·sin with rotate_half([x1, x2]) = [-x2, x1].
//
// Eval-time length scaling (encoding.rope_scaling), s = eval length / train length L,
// applied only when s > 1, each its own eval curve of the same trained model:
//   pi    positions × 1/s, i.e. θ_i/s            Chen et al. 2023, arXiv 2306.15595
//   ntk   base' = base · s^(d/(d-2))              bloc97 2023 ("NTK-aware" scaling)
//   yarn  θ'_i = (1-γ_i)·θ_i/s + γ_i·θ_i, γ_i = clamp((r_i - α)/(β - α), 0, 1),
//         r_i = L·θ_i/2π (turns within L), α = 1, β = 32; q and k × (0.1·ln s + 1)
//         Peng et al. 2023, arXiv 2309.00071. The ramp is the paper's, over r_i; the
//         reference code ramps linearly over dimension index between rounded bounds.
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

torch::Tensor rope_angles(const torch::Tensor& positions, const torch::Tensor& inverse_frequency) {
  auto angles = positions.to(torch::kFloat64).unsqueeze(1) * inverse_frequency.to(positions.device()).unsqueeze(0);
  return torch::cat({angles, angles}, 1);
}

torch::Tensor rope_scaled_frequency(const std::string& variant, int64_t d_head, double base, double scale,
                                    int64_t train_length) {
  const auto cpu = torch::Device(torch::kCPU);
  if (variant.empty() || scale <= 1) return rope_inverse_frequency(d_head, base, cpu);
  if (variant == "pi") return rope_inverse_frequency(d_head, base, cpu) / scale;
  const double d = static_cast<double>(d_head);
  if (variant == "ntk") return rope_inverse_frequency(d_head, base * std::pow(scale, d / (d - 2)), cpu);
  if (variant == "yarn") {
    constexpr double alpha = 1, beta = 32;
    auto theta = rope_inverse_frequency(d_head, base, cpu);
    auto turns = theta * (static_cast<double>(train_length) / (2 * M_PI));
    auto ramp = ((turns - alpha) / (beta - alpha)).clamp(0, 1);
    return (1 - ramp) * theta / scale + ramp * theta;
  }
  throw std::invalid_argument("unknown rope scaling '" + variant + "'");
}

double rope_attention_factor(const std::string& variant, double scale) {
  return variant == "yarn" && scale > 1 ? 0.1 * std::log(scale) + 1 : 1.0;
}

const OptionKey kRopeBase{"encoding.rope_base", "10000", "a positive number", "RoPE base", ValueKind::positive_real};
namespace {
const OptionKey kRopeScaling{"encoding.rope_scaling", "none", "none | a comma list of pi, ntk, yarn",
                             "rope: extra eval curves with length scaling", ValueKind::choice_list, {"pi", "ntk", "yarn"}};
}  // namespace

class RopeEncodingImpl : public PositionalEncodingImpl {
 public:
  explicit RopeEncodingImpl(const EncodingOptions& options)
      : d_head_(options.d_model / options.heads), base_(options.real(kRopeBase)), train_length_(options.train_length),
        variants_(options.list(kRopeScaling)) {}

  void rotate(torch::Tensor& q, torch::Tensor& k, const torch::Tensor& positions) override {
    if (!same_positions(cached_positions_, positions)) {
      auto angles = rope_angles(positions, rope_scaled_frequency(variant_, d_head_, base_, scale_, train_length_));
      const double factor = rope_attention_factor(variant_, scale_);
      cos_ = (angles.cos() * factor).to(q.dtype());
      sin_ = (angles.sin() * factor).to(q.dtype());
      cached_positions_ = positions.clone();
    }
    q = q * cos_ + rotate_half(q) * sin_;
    k = k * cos_ + rotate_half(k) * sin_;
  }

  std::vector<std::string> eval_variants() const override { return variants_; }
  void set_eval_variant(const std::string& variant, int64_t eval_length) override {
    variant_ = variant;
    scale_ = static_cast<double>(eval_length) / static_cast<double>(train_length_);
    cached_positions_ = torch::Tensor();
  }

 private:
  int64_t d_head_;
  double base_;
  int64_t train_length_;
  std::vector<std::string> variants_;
  std::string variant_;  // "" = as trained
  double scale_ = 1;
  torch::Tensor cached_positions_, cos_, sin_;
};

EncodingInfo rope_encoding() {
  EncodingInfo info{"rope", "rotary", "rotary embedding of queries and keys (half-split pairs)",
                    "Su et al. 2021, arXiv 2104.09864", true, true,
                    {kRopeBase, kRopeScaling},
                    [](const EncodingOptions& options) { return std::make_shared<RopeEncodingImpl>(options); }};
  info.check = [](const EncodingOptions& options) -> std::string {
    const int64_t d_head = options.d_model / options.heads;
    if (d_head % 2 != 0) return "rope needs an even head size (model.d_model / model.heads)";
    for (const auto& variant : options.list(kRopeScaling))
      if (variant == "ntk" && d_head <= 2) return "encoding.rope_scaling ntk needs a head size above 2";
    return "";
  };
  return info;
}

}  // namespace pebench
