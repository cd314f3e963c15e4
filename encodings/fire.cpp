// FIRE: a learned bias from an MLP over the progressively normalized distance,
//   b(i, j) = f(ψ(i - j) / ψ(max(i, L))),  ψ(x) = log(c·x + 1),  f: 1 → 32 (ReLU) → H,
// with c learned (init 0.1) and the threshold L = |L0 · m|, m a learned multiplier
// (init 1). Li et al. 2023, "Functional Interpolation for Relative Positions Improves
// Long Context Transformers", arXiv 2310.04418; the paper's reference module
// (|c·x| inside the log, +1e-6 on the normalizer). Not a function of i - j alone once
// i > L, so it is not "relative" in the contract's sense. MLP init as nn.Linear's.
// L0 = encoding.fire_threshold × train.seq_len, default 0.25: the reference module's
// 512 over the 2048-token sequences it was written for. The reference's absolute 512 at
// pebench's train lengths (64-128) kept every training position below L, so the
// normalizer was the constant ψ(512), the MLP saw inputs up to ~0.5 in training and ~1 at
// eval, and the progressive interpolation never engaged (pebench before issue 17).
// One MLP for all layers unless encoding.share_across_layers = false (the reference
// module is one per layer): pebench's one rule for every learned bias, so that a
// comparison of encodings is not one of parameter counts; set it false for the reference.
#include "encodings/encoding.h"

#include <cmath>
#include <map>

namespace pebench {
namespace {
// Counted in the run id of FIRE runs only: its new default changed what they compute.
OptionKey fire_threshold_key() {
  OptionKey key{"encoding.fire_threshold", "0.25", "a positive number",
                "fire: initial threshold L as a fraction of train.seq_len", ValueKind::positive_real, {}, IdRule::when};
  key.counted_when = [](const std::map<std::string, std::string>& values) {
    auto found = values.find("encoding");
    return found != values.end() && (found->second == "fire" || found->second == "randomized:fire");
  };
  key.legacy_value = "512 positions (before issue 17)";
  return key;
}
const OptionKey kFireThreshold = fire_threshold_key();
}  // namespace

class FireEncodingImpl : public PositionalEncodingImpl {
 public:
  explicit FireEncodingImpl(const EncodingOptions& options)
      : share_(options.flag(kShareAcrossLayers)),
        initial_threshold_(options.real(kFireThreshold) * static_cast<double>(options.train_length)) {
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
    auto threshold = (threshold_multiplier_ * initial_threshold_).abs();
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
    return {{"share_across_layers", share_}, {"fire_mlp_width", kWidth},
            {"fire_initial_threshold", static_cast<int64_t>(std::llround(initial_threshold_))}};
  }

 private:
  static constexpr int64_t kWidth = 32;
  bool share_;
  double initial_threshold_;  // L0 in positions
  torch::Tensor hidden_weight_, hidden_bias_, out_weight_, out_bias_, c_, threshold_multiplier_;
};

EncodingInfo fire_encoding() {
  return {"fire", "learned bias", "MLP over log-normalized distance, learned scale and threshold",
          "Li et al. 2023, arXiv 2310.04418", true, false, {kShareAcrossLayers, kFireThreshold},
          [](const EncodingOptions& options) { return std::make_shared<FireEncodingImpl>(options); }};
}

}  // namespace pebench
