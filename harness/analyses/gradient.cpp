// gradient: g_j = ||d loss_last / d e_j||, e_j the first block's input, normalized to sum
// 1 and accumulated from the newest token back: C(k); ERF_a = smallest k with C(k) >= a,
// a = 0.5, 0.9, 0.99 (Chi et al. 2023, Sandwich).
#include <torch/autograd.h>
#include <torch/nn/functional/loss.h>

#include "harness/analyses/analysis.h"
#include "harness/signals.h"

namespace pebench {
namespace {
constexpr DatasetName kGradientCumulative{"receptive_field/cumulative_gradient", false};
constexpr DatasetName kGradientErf{"receptive_field/erf", true};
}  // namespace

std::vector<double> cumulative_gradient(const torch::Tensor& gradient_norms) {
  auto g = gradient_norms.to(torch::kFloat64);
  g = g / g.sum(1, true).clamp_min(1e-300);
  auto newest_first = g.flip({1});
  return flat_values(newest_first.cumsum(1).mean(0));
}

int64_t effective_receptive_field(const std::vector<double>& cumulative, double alpha) {
  for (size_t k = 0; k < cumulative.size(); ++k)
    if (cumulative[k] >= alpha - 1e-12) return static_cast<int64_t>(k) + 1;
  return static_cast<int64_t>(cumulative.size());
}

AnalysisInfo gradient_analysis() {
  AnalysisInfo info;
  info.name = "gradient";
  info.summary = "cumulative input-gradient share by distance from the last token; ERF50/90/99";
  info.layout = [](const RunConfig& run, int64_t, AnalysisOutput& out) {
    out.add(kGradientCumulative, {run.rf_length()});
    out.add(kGradientErf, {3});
  };
  info.compute = [](AnalysisInput& in, AnalysisOutput& out) {
    const int64_t rf = in.run.rf_length();
    // Sequences per forward: its backward keeps every block's scores.
    const int64_t per_forward = std::max<int64_t>(1, in.run.eval.batch_tokens / rf / 4);
    auto windows = heldout_windows(in.heldout, in.run.analysis.sequences, rf).to(in.device);
    std::vector<torch::Tensor> norms;
    for (int64_t first = 0; first < windows.size(0); first += per_forward) {
      if (stop_requested()) throw Interrupted();
      auto batch = windows.slice(0, first, std::min(windows.size(0), first + per_forward));
      ForwardProbe probe;
      auto logits = in.model->forward(batch.slice(1, 0, rf), {}, &probe);
      // The loss at the last position of every sequence; sequences are independent.
      auto loss = torch::nn::functional::cross_entropy(
          logits.select(1, rf - 1), batch.select(1, rf),
          torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
      auto gradient = torch::autograd::grad({loss}, {probe.embeddings})[0];
      norms.push_back(gradient.norm(2, -1).to(torch::kCPU, torch::kFloat64));
    }
    const auto cumulative = cumulative_gradient(torch::cat(norms, 0));
    out.set(kGradientCumulative, cumulative);
    out.set(kGradientErf, {static_cast<double>(effective_receptive_field(cumulative, 0.5)),
                           static_cast<double>(effective_receptive_field(cumulative, 0.9)),
                           static_cast<double>(effective_receptive_field(cumulative, 0.99))});
  };
  return info;
}

}  // namespace pebench
