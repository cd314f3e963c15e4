// FIRE: a learned bias from an MLP over the progressively normalized distance,
//   b(i, j) = f(ψ(i - j) / ψ(max(i, L))),  ψ(x) = log(c·x + 1),  f: 1 → 32 (ReLU) → H,
// with c learned (init 0.1) and the threshold L = |512 · m|, m a learned multiplier
// (init 1). Li et al. 2023, "Functional Interpolation for Relative Positions Improves
// Long Context Transformers", arXiv 2310.04418; the paper's reference module
// (|c·x| inside the log, +1e-6 on the normalizer). Not a function of i - j alone once
// i > L, so it is not "relative" in the contract's sense. MLP init as nn.Linear's.
#include "encodings/encoding.h"

#include <cmath>

namespace pebench {

class FireEncodingImpl : public PositionalEncodingImpl {
 public:
  explicit FireEncodingImpl(const EncodingOptions& options) : share_(options.flag(kShareAcrossLayers)) {
    const int64_t sets = share_ ? 1 : options.layers;
    auto uniform = [](std::vector<int64_t> shape, int64_t fan_in) {
      const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
      return torch::rand(shape) * (2 * bound) - bound;
    };
    hidden_weight_ = register_parameter("hidden_weight", uniform({sets, 1, kWidth}, 1));
    hidden_bias_ = register_parameter("hidden_bias", uniform({sets, 1, kWidth}, 1));
    out_weight_ = register_parameter("out_weight", uniform({sets, kWidth, options.heads}, kWidth));
    out_bias_ = register_parameter("out_bias", uniform({sets, 1, options.heads}, kWidth));
    c_ = register_parameter("c", torch::full({sets, 1, 1}, 0.1));
    threshold_multiplier_ = register_parameter("threshold_multiplier", torch::ones({sets, 1, 1}));
  }

  torch::Tensor bias(const torch::Tensor& query_positions, const torch::Tensor& key_positions) override {
    auto query = query_positions.to(c_.dtype()).view({1, -1, 1});
    auto distance = (query_positions.unsqueeze(1) - key_positions.unsqueeze(0)).to(c_.dtype()).unsqueeze(0);
    auto threshold = (threshold_multiplier_ * kInitialThreshold).abs();
    auto normalizer = torch::log((c_ * torch::maximum(query, threshold)).abs() + 1) + 1e-6;  // [sets, Tq, 1]
    auto normalized = torch::log((c_ * distance).abs() + 1) / normalizer;                  // [sets, Tq, Tk]
    const int64_t sets = normalized.size(0), tq = normalized.size(1), tk = normalized.size(2);
    auto flat = normalized.view({sets, tq * tk, 1});
    auto hidden = torch::relu(torch::baddbmm(hidden_bias_, flat, hidden_weight_));  // [sets, N, 32]
    auto heads = torch::baddbmm(out_bias_, hidden, out_weight_);                     // [sets, N, H]
    auto bias = heads.transpose(1, 2).reshape({sets, -1, tq, tk});
    return share_ ? bias.squeeze(0) : bias;
  }

  std::vector<std::pair<std::string, int64_t>> facts() const override {
    return {{"share_across_layers", share_}, {"fire_mlp_width", kWidth}};
  }

 private:
  static constexpr int64_t kWidth = 32;
  static constexpr double kInitialThreshold = 512.0;
  bool share_;
  torch::Tensor hidden_weight_, hidden_bias_, out_weight_, out_bias_, c_, threshold_multiplier_;
};

EncodingInfo fire_encoding() {
  return {"fire", "learned bias", "MLP over log-normalized distance, learned scale and threshold",
          "Li et al. 2023, arXiv 2310.04418", true, false, {kShareAcrossLayers},
          [](const EncodingOptions& options) { return std::make_shared<FireEncodingImpl>(options); }};
}

}  // namespace pebench
