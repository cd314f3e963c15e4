// probe: per layer (embedding output first), ridge regression from the hidden state to
// the token's position, fit on the first half of the held-out windows and scored on the
// other half (R², MAE), at the train length and the longest eval length (Haviv et al. 2022).
#include "harness/analyses/analysis.h"
#include "harness/signals.h"

namespace pebench {
namespace {
constexpr DatasetName kProbeLengths{"probe/lengths", true};
constexpr DatasetName kProbeR2{"probe/position_r2", false};
constexpr DatasetName kProbeMae{"probe/position_mae", false};

std::vector<int64_t> probe_lengths(const RunConfig& run) {
  std::vector<int64_t> lengths = {run.train.seq_len, run.eval_lengths().back()};
  lengths.erase(std::unique(lengths.begin(), lengths.end()), lengths.end());
  return lengths;
}
}  // namespace

std::pair<double, double> ridge_probe(const torch::Tensor& fit_x, const torch::Tensor& fit_y,
                                      const torch::Tensor& test_x, const torch::Tensor& test_y) {
  auto x = fit_x.to(torch::kFloat64), y = fit_y.to(torch::kFloat64);
  auto x_mean = x.mean(0, true), y_mean = y.mean();
  auto xc = x - x_mean;
  auto gram = xc.t().matmul(xc);
  // A ridge relative to the features' scale: closed form stays well posed for rank-deficient states.
  const double ridge = 1e-3 * gram.diagonal().mean().item<double>() + 1e-12;
  auto weights = torch::linalg_solve(gram + ridge * torch::eye(gram.size(0), gram.options()),
                                     xc.t().matmul(y - y_mean));
  auto predicted = (test_x.to(torch::kFloat64) - x_mean).matmul(weights) + y_mean;
  auto truth = test_y.to(torch::kFloat64);
  const double residual = (predicted - truth).pow(2).sum().item<double>();
  const double total = (truth - truth.mean()).pow(2).sum().item<double>();
  return {1.0 - residual / total, (predicted - truth).abs().mean().item<double>()};
}

AnalysisInfo probe_analysis() {
  AnalysisInfo info;
  info.name = "probe";
  info.summary = "ridge probe of the token's position from each layer, R² and MAE";
  info.layout = [](const RunConfig& run, int64_t, AnalysisOutput& out) {
    const auto lengths = static_cast<int64_t>(probe_lengths(run).size());
    out.add(kProbeLengths, {lengths});
    out.add(kProbeR2, {lengths, run.model.layers + 1});
    out.add(kProbeMae, {lengths, run.model.layers + 1});
  };
  info.compute = [](AnalysisInput& in, AnalysisOutput& out) {
    torch::NoGradGuard no_grad;
    std::vector<double> r2, mae, length_values;
    for (int64_t length : probe_lengths(in.run)) {
      if (stop_requested()) throw Interrupted();
      auto windows = heldout_windows(in.heldout, in.run.analysis.sequences, length).to(in.device);
      ForwardProbe probe;
      probe.keep_hidden = true;
      in.model->forward(windows.slice(1, 0, length), {}, &probe);
      const int64_t fit = windows.size(0) / 2;
      auto position = torch::arange(length, torch::kFloat64);
      for (const auto& hidden : probe.hidden) {
        auto states = hidden.to(torch::kCPU, torch::kFloat64);  // [B, T, d]
        auto fit_x = states.slice(0, 0, fit).reshape({-1, states.size(2)});
        auto test_x = states.slice(0, fit).reshape({-1, states.size(2)});
        const auto [score, error] = ridge_probe(fit_x, position.repeat({fit}), test_x,
                                                position.repeat({states.size(0) - fit}));
        r2.push_back(score);
        mae.push_back(error);
      }
      length_values.push_back(static_cast<double>(length));
    }
    out.set(kProbeLengths, length_values);
    out.set(kProbeR2, r2);
    out.set(kProbeMae, mae);
  };
  return info;
}

}  // namespace pebench
