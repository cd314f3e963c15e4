// What every encoding shares: the bias profile stored after training, distances, uploads.
#include "encodings/encoding.h"
#include "encodings/formulas.h"

#include <sstream>
#include <stdexcept>

namespace pebench {

const OptionKey kShareAcrossLayers{"encoding.share_across_layers", "true", "true | false",
                                   "learned biases: one set for all layers (gpt-neox, KERPLE)", ValueKind::boolean};

const std::string& EncodingOptions::text(const OptionKey& key) const {
  auto found = keys.find(key.name);
  return found == keys.end() ? key.default_value : found->second;
}
int64_t EncodingOptions::integer(const OptionKey& key) const { return std::stoll(text(key)); }
double EncodingOptions::real(const OptionKey& key) const { return std::stod(text(key)); }
bool EncodingOptions::flag(const OptionKey& key) const { return text(key) == "true"; }
std::vector<std::string> EncodingOptions::list(const OptionKey& key) const {
  std::vector<std::string> parts;
  if (text(key) == "none") return parts;
  std::stringstream stream(text(key));
  std::string part;
  while (std::getline(stream, part, ',')) parts.push_back(part);
  return parts;
}

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

torch::Tensor upload(const torch::Tensor& host, torch::Device device) {
  if (!device.is_cuda()) return host.to(device);
  return host.pin_memory().to(device, /*non_blocking=*/true);
}

void upload_into(torch::Tensor& on_device, const torch::Tensor& host) {
  if (on_device.sizes() != host.sizes() || on_device.scalar_type() != host.scalar_type()) {
    std::ostringstream message;
    message << "upload_into: a " << host.sizes() << " " << host.scalar_type() << " tensor into a " << on_device.sizes()
            << " " << on_device.scalar_type() << " one";
    throw std::logic_error(message.str());
  }
  if (!on_device.is_cuda()) on_device.copy_(host);
  else on_device.copy_(host.pin_memory(), /*non_blocking=*/true);
}

}  // namespace pebench
