// probe: per layer (embedding output first), a ridge regression from the hidden state to
// the token's position, at the train length and the longest eval length (Haviv et al.
// 2022). Shapes: N windows, T positions each, d features, k folds.
//
// How it is scored, and why (issue 17's audit):
// - k-fold over windows, interleaved (window w in fold w mod k; k = analysis.probe_folds >= 3):
//   every window is scored once by a probe fit on the others. A split into contiguous
//   halves scored the second half of one text with a probe fit on the first: on the
//   embedded corpus, whose second half has an all-caps disclaimer, the same NoPE model gave
//   R² -5.09 with 32 windows and 0.31 with 24.
// - features standardised with the fit rows' mean and std; the ridge strength λ/n chosen
//   from 10^-6 .. 10^1 by leave-one-fold-out over the fit folds (nested: the scored fold
//   never picks its own λ); the chosen λ/n is stored (median over the outer folds).
// - at least 10·d_model fit rows: more windows than analysis.sequences where needed.
// - R² pools the squared errors of every fold: 1 - SSE / SS(position). R² <= 0 means the
//   probe predicts positions no better than their mean: no linearly readable position.
//   The MAE of that mean predictor, E|i - (T-1)/2| (~T/4), is stored as probe/chance_mae.
// - task runs: the windows are fresh task sequences of the probed length, in the layout
//   training uses (a start token, then the task), not cuts of longer test sequences.
#include <algorithm>
#include <cmath>

#include "harness/analyses/analysis.h"
#include "harness/signals.h"
#include "harness/tasks.h"

namespace pebench {
namespace {
constexpr DatasetName kProbeLengths{"probe/lengths", true};
constexpr DatasetName kProbeR2{"probe/position_r2", false};
constexpr DatasetName kProbeMae{"probe/position_mae", false};
constexpr DatasetName kProbeChanceMae{"probe/chance_mae", false};
constexpr DatasetName kProbeFitRows{"probe/fit_rows", true};
constexpr DatasetName kProbeRidge{"probe/ridge", false};

// λ/n: with standardised features the gram's diagonal is n, so these span from almost no
// shrinkage to weights shrunk ~10x.
const std::vector<double> kRidgeGrid = {1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1, 10};

std::vector<int64_t> probe_lengths(const RunConfig& run) {
  std::vector<int64_t> lengths = {run.train.seq_len, run.eval_lengths().back()};
  lengths.erase(std::unique(lengths.begin(), lengths.end()), lengths.end());
  return lengths;
}

// Sufficient statistics of rows (x [n, d], y [n]) in float64: unions of folds add up.
struct RowSums {
  double n = 0, sy = 0, syy = 0;
  torch::Tensor sx, sxx, sxy;  // [d], [d, d], [d]
  RowSums& operator+=(const RowSums& other) {
    n += other.n, sy += other.sy, syy += other.syy;
    sx = sx.defined() ? sx + other.sx : other.sx.clone();
    sxx = sxx.defined() ? sxx + other.sxx : other.sxx.clone();
    sxy = sxy.defined() ? sxy + other.sxy : other.sxy.clone();
    return *this;
  }
};

RowSums row_sums(const torch::Tensor& x, const torch::Tensor& y) {
  RowSums sums;
  sums.n = static_cast<double>(x.size(0));
  sums.sy = y.sum().item<double>();
  sums.syy = y.pow(2).sum().item<double>();
  sums.sx = x.sum(0);
  sums.sxx = x.t().matmul(x);
  sums.sxy = x.t().matmul(y);
  return sums;
}

// y ≈ a + x·b: a ridge on standardised features, mapped back to the raw features.
struct LinearFit {
  double a = 0;
  torch::Tensor b;
};

LinearFit fit_ridge(const RowSums& fit, double ridge_over_n) {
  const auto mean = fit.sx / fit.n;
  const double y_mean = fit.sy / fit.n;
  auto covariance = fit.sxx / fit.n - mean.unsqueeze(1) * mean.unsqueeze(0);
  auto scale = covariance.diagonal().clamp_min(0).sqrt();
  scale = torch::where(scale > 1e-12, scale, torch::ones_like(scale));  // constant features stay 0
  auto gram = covariance * fit.n / (scale.unsqueeze(1) * scale.unsqueeze(0));
  auto cross = (fit.sxy - fit.n * mean * y_mean) / scale;
  auto eye = torch::eye(gram.size(0), gram.options());
  auto weights = torch::linalg_solve(gram + ridge_over_n * fit.n * eye, cross.unsqueeze(1)).squeeze(1);
  LinearFit out;
  out.b = weights / scale;
  out.a = y_mean - mean.dot(out.b).item<double>();
  return out;
}

// Σ (y - a - x·b)² over the rows of `rows`, from their sums.
double squared_error(const RowSums& rows, const LinearFit& fit) {
  const double a = fit.a;
  const double quadratic = fit.b.dot(rows.sxx.matmul(fit.b)).item<double>();
  return rows.syy - 2 * a * rows.sy - 2 * fit.b.dot(rows.sxy).item<double>() + rows.n * a * a +
         2 * a * fit.b.dot(rows.sx).item<double>() + quadratic;
}

// Windows [N, T + 1] for the probe at `length`: held-out text, or fresh task sequences.
torch::Tensor probe_windows(const AnalysisInput& in, int64_t count, int64_t length) {
  if (const auto task = in.run.task()) {
    auto generator = eval_generator(length);
    generator.discard(1 << 20);  // a stream apart from the eval's sequences at this length
    return generate_task(*task, count, length, generator, TaskSplit::train).tokens;
  }
  return heldout_windows(in.heldout, count, length);
}
}  // namespace

ProbeScore ridge_probe(const std::vector<torch::Tensor>& x_by_window, const std::vector<torch::Tensor>& y_by_window,
                       int64_t folds) {
  const int64_t windows = static_cast<int64_t>(x_by_window.size());
  folds = std::min(folds, windows);
  if (folds < 3) return {};  // the nested choice of λ needs two fit folds besides the scored one
  std::vector<RowSums> fold_sums(static_cast<size_t>(folds));
  for (int64_t w = 0; w < windows; ++w)
    fold_sums[static_cast<size_t>(w % folds)] +=
        row_sums(x_by_window[w].to(torch::kFloat64), y_by_window[w].to(torch::kFloat64));
  auto sum_except = [&](std::initializer_list<int64_t> left_out) {
    RowSums sums;
    for (int64_t f = 0; f < folds; ++f)
      if (std::find(left_out.begin(), left_out.end(), f) == left_out.end()) sums += fold_sums[static_cast<size_t>(f)];
    return sums;
  };
  double sse = 0, absolute = 0, rows = 0, sy = 0, syy = 0;
  std::vector<double> chosen;
  for (int64_t f = 0; f < folds; ++f) {
    // λ by leave-one-fold-out over the fit folds only.
    std::vector<double> error(kRidgeGrid.size(), 0.0);
    for (int64_t g = 0; g < folds; ++g) {
      if (g == f) continue;
      const RowSums fit = sum_except({f, g});
      for (size_t r = 0; r < kRidgeGrid.size(); ++r)
        error[r] += squared_error(fold_sums[static_cast<size_t>(g)], fit_ridge(fit, kRidgeGrid[r]));
    }
    const size_t best = static_cast<size_t>(std::min_element(error.begin(), error.end()) - error.begin());
    chosen.push_back(kRidgeGrid[best]);
    const LinearFit fit = fit_ridge(sum_except({f}), kRidgeGrid[best]);
    for (int64_t w = f; w < windows; w += folds) {
      auto x = x_by_window[w].to(torch::kFloat64), y = y_by_window[w].to(torch::kFloat64);
      auto residual = y - (x.matmul(fit.b) + fit.a);
      sse += residual.pow(2).sum().item<double>();
      absolute += residual.abs().sum().item<double>();
      rows += static_cast<double>(y.size(0));
      sy += y.sum().item<double>();
      syy += y.pow(2).sum().item<double>();
    }
  }
  std::nth_element(chosen.begin(), chosen.begin() + static_cast<long>(chosen.size() / 2), chosen.end());
  ProbeScore score;
  score.r2 = 1.0 - sse / (syy - sy * sy / rows);
  score.mae = absolute / rows;
  score.ridge = chosen[chosen.size() / 2];
  return score;
}

double position_chance_mae(int64_t length) {
  const double middle = static_cast<double>(length - 1) / 2;
  double sum = 0;
  for (int64_t i = 0; i < length; ++i) sum += std::abs(static_cast<double>(i) - middle);
  return sum / static_cast<double>(length);
}

int64_t probe_windows_needed(const RunConfig& run, int64_t length) {
  const int64_t folds = run.analysis.probe_folds;
  // fit rows = (k - 1)/k · N · T >= 10 · d_model.
  const int64_t rows = 10 * run.model.d_model * folds, per_window = (folds - 1) * length;
  return std::max({run.analysis.sequences, (rows + per_window - 1) / per_window, folds});
}

AnalysisInfo probe_analysis() {
  AnalysisInfo info;
  info.name = "probe";
  info.summary = "ridge probe of the token's position from each layer, k-fold R² and MAE";
  info.layout = [](const RunConfig& run, int64_t, AnalysisOutput& out) {
    const auto lengths = static_cast<int64_t>(probe_lengths(run).size());
    out.add(kProbeLengths, {lengths});
    out.add(kProbeR2, {lengths, run.model.layers + 1});
    out.add(kProbeMae, {lengths, run.model.layers + 1});
    out.add(kProbeRidge, {lengths, run.model.layers + 1});
    out.add(kProbeChanceMae, {lengths});
    out.add(kProbeFitRows, {lengths});
  };
  info.compute = [](AnalysisInput& in, AnalysisOutput& out) {
    torch::NoGradGuard no_grad;
    std::vector<double> r2, mae, ridge, length_values, chance, fit_rows;
    for (int64_t length : probe_lengths(in.run)) {
      if (stop_requested()) throw Interrupted();
      auto windows = probe_windows(in, probe_windows_needed(in.run, length), length).to(in.device);
      ForwardProbe probe;
      probe.keep_hidden = true;
      in.model->forward(windows.slice(1, 0, length), {}, &probe);
      const int64_t n = windows.size(0), folds = std::min(in.run.analysis.probe_folds, n);
      const auto position = torch::arange(length, torch::kFloat64);
      for (const auto& hidden : probe.hidden) {
        auto states = hidden.to(torch::kCPU, torch::kFloat64);  // [N, T, d]
        std::vector<torch::Tensor> x, y;
        for (int64_t w = 0; w < n; ++w) x.push_back(states[w]), y.push_back(position);
        const ProbeScore score = ridge_probe(x, y, folds);
        r2.push_back(score.r2);
        mae.push_back(score.mae);
        ridge.push_back(score.ridge);
      }
      length_values.push_back(static_cast<double>(length));
      chance.push_back(position_chance_mae(length));
      fit_rows.push_back(static_cast<double>((n - (n + folds - 1) / folds) * length));  // the fewest of any fold's fit
    }
    out.set(kProbeLengths, length_values);
    out.set(kProbeR2, r2);
    out.set(kProbeMae, mae);
    out.set(kProbeRidge, ridge);
    out.set(kProbeChanceMae, chance);
    out.set(kProbeFitRows, fit_rows);
  };
  return info;
}

}  // namespace pebench
