// ALiBi: a fixed per-head linear penalty on distance, added to the scaled logits:
//   bias[h, i, j] = -m_h · (i - j).
// Press et al. 2022, "Train Short, Test Long", arXiv 2108.12409.
// Slopes by the reference rule: for n a power of two, m_h = 2^(-8h/n), h = 1..n; else
// take the closest power of two c below n, then every other slope of 2c for the rest.
#include "encodings/encoding.h"
#include "encodings/formulas.h"

#include <cmath>

namespace pebench {

std::vector<double> alibi_slopes(int64_t heads) {
  auto power_of_two_slopes = [](int64_t n) {
    std::vector<double> slopes;
    const double start = std::pow(2.0, -8.0 / static_cast<double>(n));
    for (int64_t h = 1; h <= n; ++h) slopes.push_back(std::pow(start, static_cast<double>(h)));
    return slopes;
  };
  const int64_t closest = int64_t{1} << static_cast<int64_t>(std::floor(std::log2(heads)));
  std::vector<double> slopes = power_of_two_slopes(closest);
  if (closest != heads) {
    const std::vector<double> doubled = power_of_two_slopes(2 * closest);
    for (int64_t i = 0; static_cast<int64_t>(slopes.size()) < heads; i += 2)
      slopes.push_back(doubled[i]);
  }
  return slopes;
}

class AlibiEncodingImpl : public PositionalEncodingImpl {
 public:
  explicit AlibiEncodingImpl(const EncodingOptions& options) {
    auto slopes = alibi_slopes(options.heads);
    slopes_ = register_buffer("slopes", torch::tensor(slopes, torch::kFloat64).to(torch::kFloat32));
  }

  // Fixed bias: built once per (query, key) positions and cached.
  torch::Tensor bias(const torch::Tensor& query_positions,
                     const torch::Tensor& key_positions) override {
    if (cached_for_.changed(query_positions, key_positions)) {
      auto distance = (query_positions.unsqueeze(1) - key_positions.unsqueeze(0)).to(torch::kFloat32);
      cached_bias_ = -slopes_.view({-1, 1, 1}) * distance.unsqueeze(0);
    }
    return cached_bias_;
  }

 private:
  torch::Tensor slopes_, cached_bias_;
  PositionPairKey cached_for_;
};

EncodingInfo alibi_encoding() {
  return {"alibi", "fixed bias", "fixed linear distance penalty per head on the logits",
          "Press et al. 2022, arXiv 2108.12409", true, true, {}, [](const EncodingOptions& options) {
            return std::make_shared<AlibiEncodingImpl>(options);
          }};
}

}  // namespace pebench
