// KERPLE, power kernel: a learned logit bias per head
//   bias(i, j) = -r1 · (i - j)^r2,   r1 > 0, 0 < r2 <= 2,
// init r1 ~ U(0, 1), r2 ~ U(0, 2), clamped to r1 >= 0.01 and 0.01 <= r2 <= 2 before
// each use (the reference ParallelKerplePower's bias_a, bias_p). Chi et al. 2022,
// arXiv 2205.09921.
#include "encodings/kerple.h"

namespace pebench {

EncodingInfo kerple_power_encoding() {
  return {"kerple_power", "learned bias", "learned -r1·distance^r2 per head (0 < r2 <= 2)",
          "Chi et al. 2022, arXiv 2205.09921", true, true, {kShareAcrossLayers},
          [](const EncodingOptions& options) {
            auto kernel = [](const torch::Tensor& distance, const torch::Tensor& r1, const torch::Tensor& r2) {
              return -r1 * torch::pow(distance, r2);
            };
            return std::make_shared<KerpleEncodingImpl>(options, kernel, KerpleEncodingImpl::Range{1.0, 2.0, 2.0});
          }};
}

}  // namespace pebench
