// What the two KERPLE kernels share: two learned positive scalars per head (r1, r2),
// clamped into their allowed range before every use, as the reference code does.
// Chi et al. 2022, "KERPLE: Kernelized Relative Positional Embedding for Length
// Extrapolation", arXiv 2205.09921; reference: github.com/chijames/KERPLE (gpt-neox).
#pragma once
#include <torch/autograd.h>

#include "encodings/encoding.h"
#include "encodings/formulas.h"

namespace pebench {

class KerpleEncodingImpl : public PositionalEncodingImpl {
 public:
  // kernel(distance [Tq, Tk] float, r1 [sets, H, 1, 1], r2 [sets, H, 1, 1]) → bias.
  using Kernel = torch::Tensor (*)(const torch::Tensor&, const torch::Tensor&, const torch::Tensor&);
  struct Range {
    double r1_init, r2_init;  // r ~ U(0, init)
    double r2_max;            // r1 and r2 >= 0.01; r2 <= r2_max
  };

  KerpleEncodingImpl(const EncodingOptions& options, Kernel kernel, Range range)
      : share_(options.flag(kShareAcrossLayers)), kernel_(kernel), range_(range) {
    const int64_t sets = share_ ? 1 : options.layers;
    r1_ = register_parameter("r1", torch::rand({sets, options.heads, 1, 1}) * range.r1_init);
    r2_ = register_parameter("r2", torch::rand({sets, options.heads, 1, 1}) * range.r2_init);
    clamp_parameters();
  }

  // Projects r1, r2 back into their range: an optimizer step may leave them outside.
  void clamp_parameters() {
    torch::NoGradGuard no_grad;
    r1_.clamp_(kEpsilon);
    r2_.clamp_(kEpsilon, range_.r2_max);
  }

  torch::Tensor bias(const torch::Tensor& query_positions, const torch::Tensor& key_positions) override {
    clamp_parameters();
    if (cached_for_.changed(query_positions, key_positions))
      cached_distance_ = causal_distance(query_positions, key_positions).to(r1_.dtype());
    auto bias = kernel_(cached_distance_, r1_, r2_);
    return share_ ? bias.squeeze(0) : bias;
  }

  std::vector<std::pair<std::string, int64_t>> facts() const override {
    return {{"share_across_layers", share_}};
  }

  static constexpr double kEpsilon = 0.01;

 private:
  bool share_;
  Kernel kernel_;
  Range range_;
  torch::Tensor r1_, r2_, cached_distance_;
  PositionPairKey cached_for_;
};

}  // namespace pebench
