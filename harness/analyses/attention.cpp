// attention: per layer and head, attention mass by distance (single distances below 64,
// log2-spaced bins beyond), mean attended distance, entropy (nats), at analysis.rf_length.
#include "harness/analyses/analysis.h"
#include "harness/signals.h"

namespace pebench {
namespace {
constexpr DatasetName kAttentionBins{"attention/distance_bins", true};
constexpr DatasetName kAttentionMass{"attention/mass_by_distance", false};
constexpr DatasetName kAttentionMeanDistance{"attention/mean_distance", false};
constexpr DatasetName kAttentionEntropy{"attention/entropy", false};
}  // namespace

std::vector<int64_t> distance_bin_edges(int64_t length) {
  std::vector<int64_t> edges;
  for (int64_t d = 0; d <= std::min<int64_t>(64, length); ++d) edges.push_back(d);
  for (int64_t d = 128; edges.back() < length; d *= 2) edges.push_back(std::min(d, length));
  return edges;
}

AnalysisInfo attention_analysis() {
  AnalysisInfo info;
  info.name = "attention";
  info.summary = "attention mass by distance, mean attended distance and entropy per layer and head";
  info.layout = [](const RunConfig& run, int64_t, AnalysisOutput& out) {
    const int64_t layers = run.model.layers, heads = run.model.heads;
    const auto bins = static_cast<int64_t>(distance_bin_edges(run.rf_length()).size()) - 1;
    out.add(kAttentionBins, {bins + 1});
    out.add(kAttentionMass, {layers, heads, bins});
    out.add(kAttentionMeanDistance, {layers, heads});
    out.add(kAttentionEntropy, {layers, heads});
  };
  info.compute = [](AnalysisInput& in, AnalysisOutput& out) {
    torch::NoGradGuard no_grad;
    const int64_t rf = in.run.rf_length(), layers = in.run.model.layers, heads = in.run.model.heads;
    const auto edges = distance_bin_edges(rf);
    const auto bins = static_cast<int64_t>(edges.size()) - 1;
    // Bin of every distance 0..rf-1.
    std::vector<int64_t> bin_of(static_cast<size_t>(rf));
    for (int64_t b = 0; b < bins; ++b)
      for (int64_t d = edges[b]; d < edges[b + 1]; ++d) bin_of[static_cast<size_t>(d)] = b;
    auto bin_table = torch::tensor(bin_of, torch::kLong).to(in.device);
    auto mass = torch::zeros({layers, heads, bins}, torch::TensorOptions().dtype(torch::kFloat64).device(in.device));
    auto distance_sum = torch::zeros({layers, heads}, mass.options());
    auto entropy_sum = torch::zeros({layers, heads}, mass.options());
    double queries = 0;
    ForwardProbe probe;
    probe.attention = [&](int64_t layer, int64_t query_begin, const torch::Tensor& probabilities) {
      const int64_t tq = probabilities.size(2), tk = probabilities.size(3);
      auto p = probabilities.to(torch::kFloat64);  // [B, H, Tq, Tk]
      auto index_options = torch::TensorOptions().dtype(torch::kLong).device(p.device());
      auto distance = torch::arange(query_begin, query_begin + tq, index_options).unsqueeze(1) -
                      torch::arange(0, tk, index_options).unsqueeze(0);  // [Tq, Tk]; < 0 is masked (p = 0)
      auto bin = torch::where(distance >= 0, bin_table.index({distance.clamp_min(0)}),
                              torch::full_like(distance, bins));
      auto binned = torch::zeros({p.size(0), p.size(1), tq, bins + 1}, p.options())
                        .scatter_add_(3, bin.expand({p.size(0), p.size(1), tq, tk}), p);
      mass[layer] += binned.slice(3, 0, bins).sum(torch::IntArrayRef{0, 2});
      distance_sum[layer] += (p * distance.clamp_min(0).to(torch::kFloat64)).sum(torch::IntArrayRef{0, 2, 3});
      entropy_sum[layer] -= (p * torch::log(p.clamp_min(1e-300))).sum(torch::IntArrayRef{0, 2, 3});
    };
    auto windows = heldout_windows(in.heldout, in.run.analysis.sequences, rf).to(in.device);
    const int64_t per_forward = std::max<int64_t>(1, in.run.eval.batch_tokens / rf);
    for (int64_t first = 0; first < windows.size(0); first += per_forward) {
      if (stop_requested()) throw Interrupted();
      auto batch = windows.slice(0, first, std::min(windows.size(0), first + per_forward));
      in.model->forward(batch.slice(1, 0, rf), {}, &probe);
      queries += static_cast<double>(batch.size(0) * rf);
    }
    out.set(kAttentionBins, std::vector<double>(edges.begin(), edges.end()));
    out.set(kAttentionMass, flat_values(mass / queries));
    out.set(kAttentionMeanDistance, flat_values(distance_sum / queries));
    out.set(kAttentionEntropy, flat_values(entropy_sum / queries));
  };
  return info;
}

}  // namespace pebench
