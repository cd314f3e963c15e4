// What every encoding shares: the bias profile stored after training, and distances.
#include "encodings/encoding.h"
#include "encodings/formulas.h"

namespace pebench {

torch::Tensor bias_profile(PositionalEncodingImpl& encoding, int64_t n_distances, torch::Device device) {
  auto keys = torch::arange(n_distances, torch::TensorOptions().dtype(torch::kLong).device(device));
  auto query = keys.slice(0, n_distances - 1);
  auto bias = encoding.bias(query, keys);  // [..., heads, 1, n]: key j is distance n-1-j
  if (!bias.defined()) return {};
  return bias.select(-2, 0).flip(-1).detach();
}

torch::Tensor causal_distance(const torch::Tensor& query_positions, const torch::Tensor& key_positions) {
  // Keys after the query are masked anyway; clamping keeps log/pow finite there.
  return (query_positions.unsqueeze(1) - key_positions.unsqueeze(0)).clamp_min(0);
}

}  // namespace pebench
