// KERPLE, logarithmic kernel: a learned logit bias per head
//   bias(i, j) = -r1 · log(1 + r2 · (i - j)),   r1, r2 > 0,
// init r1 ~ U(0, 2), r2 ~ U(0, 1), both clamped to >= 0.01 before each use (the
// reference ParallelKerpleLog). Chi et al. 2022, arXiv 2205.09921.
#include "encodings/kerple.h"

namespace pebench {

EncodingInfo kerple_log_encoding() {
  return {"kerple_log", "learned bias", "learned -r1·log(1 + r2·distance) per head",
          "Chi et al. 2022, arXiv 2205.09921", true, true, {kShareAcrossLayers},
          [](const EncodingOptions& options) {
            auto kernel = [](const torch::Tensor& distance, const torch::Tensor& r1, const torch::Tensor& r2) {
              return -r1 * torch::log1p(r2 * distance);
            };
            return std::make_shared<KerpleEncodingImpl>(options, kernel, KerpleEncodingImpl::Range{2.0, 1.0, INFINITY});
          }};
}

}  // namespace pebench
