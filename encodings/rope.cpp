// Rotary position embedding (RoPE): rotate each (x_i, x_{i+d/2}) pair of queries and keys
// by the angle p·θ_i, θ_i = base^(-2i/d_head), so q·k depends only on p_q - p_k.
// Su et al. 2021, "RoFormer", arXiv 2104.09864. Pairing is half-split (GPT-NeoX, HF
// Llama): x' = x·cos + rotate_half(x)·sin with rotate_half([x1, x2]) = [-x2, x1].
//
// Eval-time length scaling (encoding.rope_scaling), s = eval length / train length L,
// applied only when s > 1, each its own eval curve of the same trained model:
//   pi    positions × 1/s, i.e. θ_i/s            Chen et al. 2023, arXiv 2306.15595
//   ntk   base' = base · s^(d/(d-2))              bloc97 2023 ("NTK-aware" scaling)
//   yarn  as the authors' code and HF transformers (`_compute_yarn_parameters`), the
//         default: dimension bounds lo = max(floor(D(β)), 0), hi = min(ceil(D(α)), d_head-1)
//         with D(r) = d_head·ln(L/(2π r))/(2 ln base) (the index where the frequency turns
//         r times within L), keep_i = 1 - clamp((i - lo)/(hi - lo), 0, 1) over pair index i,
//         θ'_i = (1 - keep_i)·θ_i/s + keep_i·θ_i; q and k × (0.1·ln s + 1)
//   yarn_paper  the paper's equations: the same blend with keep_i = clamp((r_i - α)/(β - α),
//         0, 1) over turns r_i = L·θ_i/2π; same q, k factor. Peng et al. 2023, arXiv 2309.00071.
//   α = encoding.yarn_beta_slow = 1, β = encoding.yarn_beta_fast = 32 (the paper's and HF's).
//   Why both: at small L the two differ a lot. Head size 32, L = 64: yarn keeps 100, 80,
//   60, 40, 20 % of θ for the first five pairs; yarn_paper 30, 15, 7, 3, 0 %, because the
//   rounding of the bounds and the index ramp keep more low frequencies un-interpolated.
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

void rotate_pair(torch::Tensor& q, torch::Tensor& k, const torch::Tensor& cos, const torch::Tensor& sin) {
  auto pair = torch::stack({q, k});  // [2, B, H, T, d_head]
  const auto rotated = (pair * cos + rotate_half(pair) * sin).unbind(0);
  q = rotated[0];
  k = rotated[1];
}

torch::Tensor rope_angles(const torch::Tensor& positions, const torch::Tensor& inverse_frequency) {
  auto angles = positions.to(torch::kFloat64).unsqueeze(1) * inverse_frequency.to(positions.device()).unsqueeze(0);
  return torch::cat({angles, angles}, 1);
}

// The share of θ_i each yarn variant keeps un-interpolated, float64 [d_head/2].
torch::Tensor yarn_kept_share(const std::string& variant, int64_t d_head, double base, int64_t train_length,
                              double beta_slow, double beta_fast) {
  const auto theta = rope_inverse_frequency(d_head, base, torch::kCPU);
  const double length = static_cast<double>(train_length), d = static_cast<double>(d_head);
  if (variant == "yarn_paper") {
    auto turns = theta * (length / (2 * M_PI));
    return ((turns - beta_slow) / (beta_fast - beta_slow)).clamp(0, 1);
  }
  // The pair index at which θ turns `turns` times within the train length.
  auto index_of = [&](double turns) { return d * std::log(length / (turns * 2 * M_PI)) / (2 * std::log(base)); };
  const double lo = std::max(std::floor(index_of(beta_fast)), 0.0);
  double hi = std::min(std::ceil(index_of(beta_slow)), d - 1);
  if (lo == hi) hi += 0.001;  // as the reference, against a zero-width ramp
  auto index = torch::arange(d_head / 2, torch::TensorOptions().dtype(torch::kFloat64));
  return 1 - ((index - lo) / (hi - lo)).clamp(0, 1);
}

torch::Tensor rope_scaled_frequency(const std::string& variant, int64_t d_head, double base, double scale,
                                    int64_t train_length, double beta_slow, double beta_fast) {
  const auto cpu = torch::Device(torch::kCPU);
  if (variant.empty() || scale <= 1) return rope_inverse_frequency(d_head, base, cpu);
  if (variant == "pi") return rope_inverse_frequency(d_head, base, cpu) / scale;
  const double d = static_cast<double>(d_head);
  if (variant == "ntk") return rope_inverse_frequency(d_head, base * std::pow(scale, d / (d - 2)), cpu);
  if (variant == "yarn" || variant == "yarn_paper") {
    auto theta = rope_inverse_frequency(d_head, base, cpu);
    auto kept = yarn_kept_share(variant, d_head, base, train_length, beta_slow, beta_fast);
    return (1 - kept) * theta / scale + kept * theta;
  }
  throw std::invalid_argument("unknown rope scaling '" + variant + "'");
}

double rope_attention_factor(const std::string& variant, double scale) {
  return (variant == "yarn" || variant == "yarn_paper") && scale > 1 ? 0.1 * std::log(scale) + 1 : 1.0;
}

const OptionKey kRopeBase{"encoding.rope_base", "10000", "a positive number", "RoPE base", ValueKind::positive_real};
namespace {
const OptionKey kRopeScaling{"encoding.rope_scaling", "none", "none | a comma list of pi, ntk, yarn, yarn_paper",
                             "rope: extra eval curves with length scaling", ValueKind::choice_list,
                             {"pi", "ntk", "yarn", "yarn_paper"}};
// The yarn bounds count only for rope runs with a yarn curve (only rope makes variant
// curves): every other run keeps its id, and those changed id when `yarn` became the
// reference code's ramp.
bool lists_yarn(const std::map<std::string, std::string>& values) {
  auto encoding = values.find("encoding");
  if (encoding == values.end() || encoding->second != "rope") return false;
  auto found = values.find("encoding.rope_scaling");
  return found != values.end() && (lists_choice(found->second, "yarn") || lists_choice(found->second, "yarn_paper"));
}
OptionKey yarn_key(const char* name, const char* value, const char* help) {
  OptionKey key{name, value, "a positive number", help, ValueKind::positive_real, {}, IdRule::when};
  key.counted_when = lists_yarn;
  key.legacy_value = "paper ramp (before issue 17)";  // old stores' yarn was the paper's ramp
  return key;
}
const OptionKey kYarnBetaSlow = yarn_key("encoding.yarn_beta_slow", "1", "rope yarn: α, turns within the train length below which a frequency is interpolated fully");
const OptionKey kYarnBetaFast = yarn_key("encoding.yarn_beta_fast", "32", "rope yarn: β, turns within the train length above which a frequency is kept");
}  // namespace

class RopeEncodingImpl : public PositionalEncodingImpl {
 public:
  explicit RopeEncodingImpl(const EncodingOptions& options)
      : d_head_(options.d_model / options.heads), base_(options.real(kRopeBase)), train_length_(options.train_length),
        variants_(options.list(kRopeScaling)), beta_slow_(options.real(kYarnBetaSlow)),
        beta_fast_(options.real(kYarnBetaFast)) {}

  void rotate(torch::Tensor& q, torch::Tensor& k, const torch::Tensor& positions) override {
    if (cached_for_.changed(positions)) {
      auto angles = rope_angles(positions, rope_scaled_frequency(variant_, d_head_, base_, scale_, train_length_,
                                                                 beta_slow_, beta_fast_));
      const double factor = rope_attention_factor(variant_, scale_);
      cos_ = (angles.cos() * factor).to(q.dtype());
      sin_ = (angles.sin() * factor).to(q.dtype());
    }
    rotate_pair(q, k, cos_, sin_);
  }

  std::vector<std::string> eval_variants() const override { return variants_; }
  void set_eval_variant(const std::string& variant, int64_t eval_length) override {
    variant_ = variant;
    scale_ = static_cast<double>(eval_length) / static_cast<double>(train_length_);
    cached_for_.forget();
  }

 private:
  int64_t d_head_;
  double base_;
  int64_t train_length_;
  std::vector<std::string> variants_;
  double beta_slow_, beta_fast_;
  std::string variant_;  // "" = as trained
  double scale_ = 1;
  PositionsKey cached_for_;
  torch::Tensor cos_, sin_;
};

EncodingInfo rope_encoding() {
  EncodingInfo info{"rope", "rotary", "rotary embedding of queries and keys (half-split pairs)",
                    "Su et al. 2021, arXiv 2104.09864", true, true,
                    {kRopeBase, kRopeScaling, kYarnBetaSlow, kYarnBetaFast},
                    [](const EncodingOptions& options) { return std::make_shared<RopeEncodingImpl>(options); }};
  info.check = [](const EncodingOptions& options) -> std::string {
    const int64_t d_head = options.d_model / options.heads;
    if (d_head % 2 != 0) return "rope needs an even head size (model.d_model / model.heads)";
    for (const auto& variant : options.list(kRopeScaling))
      if (variant == "ntk" && d_head <= 2) return "encoding.rope_scaling ntk needs a head size above 2";
    if (options.real(kYarnBetaFast) <= options.real(kYarnBetaSlow))
      return "encoding.yarn_beta_fast must be above encoding.yarn_beta_slow";
    return "";
  };
  return info;
}

}  // namespace pebench
