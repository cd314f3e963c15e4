#include "harness/analyse.h"

#include <torch/autograd.h>
#include <torch/nn/functional/loss.h>

#include <algorithm>
#include <cmath>

#include "harness/data.h"
#include "harness/evaluate.h"
#include "harness/signals.h"

namespace pebench {
namespace {

// The first `count` non-overlapping held-out windows of `length` tokens (+1 target).
torch::Tensor heldout_windows(const std::vector<uint16_t>& heldout, int64_t count, int64_t length) {
  std::vector<int64_t> starts;
  for (int64_t i = 0; i < count && (i + 1) * length + 1 <= static_cast<int64_t>(heldout.size()); ++i)
    starts.push_back(i * length);
  return gather_windows(heldout, starts, length);
}

std::vector<int64_t> probe_lengths(const RunConfig& run) {
  std::vector<int64_t> lengths = {run.integer("train.seq_len"), run.eval_lengths().back()};
  lengths.erase(std::unique(lengths.begin(), lengths.end()), lengths.end());
  return lengths;
}

}  // namespace

std::vector<double> flat_values(const torch::Tensor& values) {
  auto flat = values.detach().to(torch::kCPU, torch::kFloat64).contiguous().view({-1});
  return std::vector<double>(flat.data_ptr<double>(), flat.data_ptr<double>() + flat.numel());
}

std::vector<int64_t> distance_bin_edges(int64_t length) {
  std::vector<int64_t> edges;
  for (int64_t d = 0; d <= std::min<int64_t>(64, length); ++d) edges.push_back(d);
  for (int64_t d = 128; edges.back() < length; d *= 2) edges.push_back(std::min(d, length));
  return edges;
}

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

double spearman(const torch::Tensor& a, const torch::Tensor& b) {
  auto rank = [](const torch::Tensor& values) {
    auto v = values.to(torch::kFloat64).contiguous();
    const int64_t n = v.numel();
    auto order = std::get<1>(v.sort());
    auto ranks = torch::empty({n}, torch::kFloat64);
    const double* data = v.data_ptr<double>();
    const int64_t* index = order.data_ptr<int64_t>();
    double* out = ranks.data_ptr<double>();
    for (int64_t i = 0; i < n;) {
      int64_t j = i;
      while (j + 1 < n && data[index[j + 1]] == data[index[i]]) ++j;
      for (int64_t k = i; k <= j; ++k) out[index[k]] = 0.5 * static_cast<double>(i + j);  // average rank
      i = j + 1;
    }
    return ranks;
  };
  auto ra = rank(a), rb = rank(b);
  ra = ra - ra.mean();
  rb = rb - rb.mean();
  return (ra * rb).sum().item<double>() / std::sqrt((ra * ra).sum().item<double>() * (rb * rb).sum().item<double>());
}

std::vector<AnalysisDataset> analysis_layout(const RunConfig& run, int64_t table_rows) {
  std::vector<AnalysisDataset> out;
  const int64_t rf = run.rf_length(), layers = run.integer("model.layers"), heads = run.integer("model.heads");
  if (run.analyses_include("window_ppl")) {
    const auto windows = static_cast<int64_t>(run.analysis_windows().size());
    out.push_back({"receptive_field/windows", {windows}, true, {}});
    out.push_back({"receptive_field/ppl", {windows}, false, {}});
    out.push_back({"receptive_field/full_ppl", {1}, false, {}});
    out.push_back({"receptive_field/effective_context", {1}, true, {}});
  }
  if (run.analyses_include("gradient")) {
    out.push_back({"receptive_field/cumulative_gradient", {rf}, false, {}});
    out.push_back({"receptive_field/erf", {3}, true, {}});
  }
  if (run.analyses_include("attention")) {
    const auto bins = static_cast<int64_t>(distance_bin_edges(rf).size()) - 1;
    out.push_back({"attention/distance_bins", {bins + 1}, true, {}});
    out.push_back({"attention/mass_by_distance", {layers, heads, bins}, false, {}});
    out.push_back({"attention/mean_distance", {layers, heads}, false, {}});
    out.push_back({"attention/entropy", {layers, heads}, false, {}});
  }
  if (run.analyses_include("probe")) {
    const auto lengths = static_cast<int64_t>(probe_lengths(run).size());
    out.push_back({"probe/lengths", {lengths}, true, {}});
    out.push_back({"probe/position_r2", {lengths, layers + 1}, false, {}});
    out.push_back({"probe/position_mae", {lengths, layers + 1}, false, {}});
  }
  if (run.analyses_include("pe_geometry") && table_rows > 0) {
    out.push_back({"encoding/row_norm", {table_rows}, false, {}});
    out.push_back({"encoding/distance_spearman", {1}, false, {}});
  }
  return out;
}

std::vector<AnalysisDataset> analyse_model(TransformerLM& model, const std::vector<uint16_t>& heldout,
                                           const RunConfig& run, torch::Device device) {
  model->eval();
  auto table = model->encoding().table();
  auto out = analysis_layout(run, table.defined() ? table.size(0) : 0);
  auto set = [&](const std::string& name, std::vector<double> values) {
    for (auto& dataset : out)
      if (dataset.name == name) dataset.values = std::move(values);
  };
  const int64_t rf = run.rf_length(), sequences = run.integer("analysis.sequences");
  const int64_t batch_tokens = run.integer("eval.batch_tokens");
  const int64_t layers = run.integer("model.layers"), heads = run.integer("model.heads");
  // Sequences per forward in the gradient analysis: its backward keeps every block's scores.
  const int64_t gradient_batch = std::max<int64_t>(1, batch_tokens / rf / 4);

  if (run.analyses_include("window_ppl")) {
    torch::NoGradGuard no_grad;
    const int64_t budget = eval_budget(static_cast<int64_t>(heldout.size()), run.integer("analysis.tokens"), rf, "study");
    const int64_t trained_window = model->options().attention_window;
    auto ppl_with_window = [&](int64_t window) {
      model->options().attention_window = window;
      if (stop_requested()) throw Interrupted();
      return std::exp(window_losses(model, heldout, budget, rf, batch_tokens, device).mean().item<double>());
    };
    const double full = ppl_with_window(trained_window);
    std::vector<double> windows, ppl;
    int64_t effective = rf;
    bool found = false;
    for (int64_t w : run.analysis_windows()) {
      // A model trained with a window never sees further: narrower of the two.
      const double value = ppl_with_window(trained_window > 0 ? std::min(w, trained_window) : w);
      windows.push_back(static_cast<double>(w));
      ppl.push_back(value);
      if (!found && value <= (1 + run.real("analysis.epsilon")) * full) {
        effective = w;
        found = true;
      }
    }
    model->options().attention_window = trained_window;
    set("receptive_field/windows", windows);
    set("receptive_field/ppl", ppl);
    set("receptive_field/full_ppl", {full});
    set("receptive_field/effective_context", {static_cast<double>(effective)});
  }

  if (run.analyses_include("gradient")) {
    auto windows = heldout_windows(heldout, sequences, rf).to(device);
    std::vector<torch::Tensor> norms;
    for (int64_t first = 0; first < windows.size(0); first += gradient_batch) {
      if (stop_requested()) throw Interrupted();
      auto batch = windows.slice(0, first, std::min(windows.size(0), first + gradient_batch));
      ForwardProbe probe;
      auto logits = model->forward(batch.slice(1, 0, rf), {}, &probe);
      // The loss at the last position of every sequence; sequences are independent.
      auto loss = torch::nn::functional::cross_entropy(
          logits.select(1, rf - 1), batch.select(1, rf),
          torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
      auto gradient = torch::autograd::grad({loss}, {probe.embeddings})[0];
      norms.push_back(gradient.norm(2, -1).to(torch::kCPU, torch::kFloat64));
    }
    const auto cumulative = cumulative_gradient(torch::cat(norms, 0));
    set("receptive_field/cumulative_gradient", cumulative);
    set("receptive_field/erf", {static_cast<double>(effective_receptive_field(cumulative, 0.5)),
                                static_cast<double>(effective_receptive_field(cumulative, 0.9)),
                                static_cast<double>(effective_receptive_field(cumulative, 0.99))});
  }

  if (run.analyses_include("attention")) {
    torch::NoGradGuard no_grad;
    const auto edges = distance_bin_edges(rf);
    const auto bins = static_cast<int64_t>(edges.size()) - 1;
    // Bin of every distance 0..rf-1.
    std::vector<int64_t> bin_of(static_cast<size_t>(rf));
    for (int64_t b = 0; b < bins; ++b)
      for (int64_t d = edges[b]; d < edges[b + 1]; ++d) bin_of[static_cast<size_t>(d)] = b;
    auto bin_table = torch::tensor(bin_of, torch::kLong).to(device);
    auto mass = torch::zeros({layers, heads, bins}, torch::TensorOptions().dtype(torch::kFloat64).device(device));
    auto distance_sum = torch::zeros({layers, heads}, mass.options()), entropy_sum = torch::zeros({layers, heads}, mass.options());
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
    auto windows = heldout_windows(heldout, sequences, rf).to(device);
    const int64_t per_forward = std::max<int64_t>(1, batch_tokens / rf);
    for (int64_t first = 0; first < windows.size(0); first += per_forward) {
      if (stop_requested()) throw Interrupted();
      auto batch = windows.slice(0, first, std::min(windows.size(0), first + per_forward));
      model->forward(batch.slice(1, 0, rf), {}, &probe);
      queries += static_cast<double>(batch.size(0) * rf);
    }
    set("attention/distance_bins", std::vector<double>(edges.begin(), edges.end()));
    set("attention/mass_by_distance", flat_values(mass / queries));
    set("attention/mean_distance", flat_values(distance_sum / queries));
    set("attention/entropy", flat_values(entropy_sum / queries));
  }

  if (run.analyses_include("probe")) {
    torch::NoGradGuard no_grad;
    const auto lengths = probe_lengths(run);
    std::vector<double> r2, mae, length_values;
    for (int64_t length : lengths) {
      if (stop_requested()) throw Interrupted();
      auto windows = heldout_windows(heldout, sequences, length).to(device);
      ForwardProbe probe;
      probe.keep_hidden = true;
      model->forward(windows.slice(1, 0, length), {}, &probe);
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
    set("probe/lengths", length_values);
    set("probe/position_r2", r2);
    set("probe/position_mae", mae);
  }

  if (run.analyses_include("pe_geometry") && table.defined()) {
    torch::NoGradGuard no_grad;
    auto rows = table.detach().to(torch::kCPU, torch::kFloat64);
    int64_t trained = run.integer("train.seq_len");
    for (const auto& [name, value] : model->encoding().facts())
      if (name == "pe_rows_trained") trained = value;
    trained = std::min(trained, rows.size(0));
    auto seen = rows.slice(0, 0, trained);
    auto distances = torch::cdist(seen.unsqueeze(0), seen.unsqueeze(0)).squeeze(0);
    auto index = torch::arange(trained, torch::kFloat64);
    auto offsets = (index.unsqueeze(1) - index.unsqueeze(0)).abs();
    auto upper = torch::triu(torch::ones({trained, trained}, torch::kBool), 1);
    set("encoding/row_norm", flat_values(rows.norm(2, 1)));
    set("encoding/distance_spearman", {spearman(distances.masked_select(upper), offsets.masked_select(upper))});
  }
  model->train();
  return out;
}

}  // namespace pebench
