// Sinusoidal absolute PE, added to the token embeddings:
//   PE(p, 2i) = sin(p / 10000^(2i/d)),  PE(p, 2i+1) = cos(p / 10000^(2i/d)).
// Vaswani et al. 2017, "Attention Is All You Need", arXiv 1706.03762.
// Layout `interleaved` is the paper's (sin, cos alternate); `concat` is fairseq's
// [sin..., cos...]. Computed from the positions, so any length works.
#include "encodings/encoding.h"
#include "encodings/formulas.h"

#include <cmath>

namespace pebench {
namespace {
const OptionKey kSinusoidLayout{"encoding.sinusoid_layout", "interleaved", "interleaved | concat", "sinusoid layout",
                                ValueKind::choice, {"interleaved", "concat"}};
}  // namespace

torch::Tensor sinusoid_table(const torch::Tensor& positions, int64_t d_model,
                             const std::string& layout) {
  const int64_t half = d_model / 2;
  auto options = torch::TensorOptions().dtype(torch::kFloat64).device(positions.device());
  // 1 / 10000^(2i/d), computed in float64 so large positions keep their phase.
  auto inverse_frequency =
      torch::exp(torch::arange(half, options) * (-2.0 * std::log(10000.0) / d_model));
  auto angles = positions.to(torch::kFloat64).unsqueeze(1) * inverse_frequency.unsqueeze(0);
  torch::Tensor table;
  if (layout == "concat")
    table = torch::cat({angles.sin(), angles.cos()}, 1);
  else
    table = torch::stack({angles.sin(), angles.cos()}, 2).reshape({positions.size(0), 2 * half});
  return table.to(torch::kFloat32);
}

class SinusoidalEncodingImpl : public PositionalEncodingImpl {
 public:
  explicit SinusoidalEncodingImpl(const EncodingOptions& options)
      : options_(options), layout_(options.text(kSinusoidLayout)) {}

  torch::Tensor embed(const torch::Tensor& token_embeddings,
                      const torch::Tensor& positions) override {
    if (cached_for_.changed(positions)) {
      cached_table_ = sinusoid_table(positions, options_.d_model, layout_)
                          .to(token_embeddings.dtype());
    }
    return token_embeddings + cached_table_;
  }
  bool is_additive() const override { return true; }

 private:
  EncodingOptions options_;
  std::string layout_;
  PositionsKey cached_for_;
  torch::Tensor cached_table_;
};

EncodingInfo sinusoidal_encoding() {
  return {"sinusoidal", "additive", "fixed sin/cos table added to token embeddings",
          "Vaswani et al. 2017, arXiv 1706.03762", false, false, {kSinusoidLayout},
          [](const EncodingOptions& options) {
            return std::make_shared<SinusoidalEncodingImpl>(options);
          },
          [](const EncodingOptions& options) -> std::string {
            return options.d_model % 2 == 0 ? "" : "sinusoidal needs an even model.d_model";
          }};
}

}  // namespace pebench
