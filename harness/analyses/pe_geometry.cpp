// pe_geometry: for learned tables, the Spearman correlation between pairwise row
// distances and |i - j| over the trained rows, and every row's norm (Ito et al. 2024).
// Encodings without a table write nothing.
#include <cmath>

#include "harness/analyses/analysis.h"

namespace pebench {
namespace {
constexpr DatasetName kGeometryRowNorm{"encoding/row_norm", false};
constexpr DatasetName kGeometrySpearman{"encoding/distance_spearman", false};
}  // namespace

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

AnalysisInfo pe_geometry_analysis() {
  AnalysisInfo info;
  info.name = "pe_geometry";
  info.summary = "learned tables: row norms, Spearman of row distance vs |i - j|";
  info.layout = [](const RunConfig&, int64_t table_rows, AnalysisOutput& out) {
    if (table_rows == 0) return;
    out.add(kGeometryRowNorm, {table_rows});
    out.add(kGeometrySpearman, {1});
  };
  info.compute = [](AnalysisInput& in, AnalysisOutput& out) {
    auto table = in.model->encoding().table();
    if (!table.defined()) return;
    torch::NoGradGuard no_grad;
    auto rows = table.detach().to(torch::kCPU, torch::kFloat64);
    int64_t trained = in.run.train.seq_len;
    for (const auto& [name, value] : in.model->encoding().facts())
      if (name == "pe_rows_trained") trained = value;
    trained = std::min(trained, rows.size(0));
    auto seen = rows.slice(0, 0, trained);
    auto distances = torch::cdist(seen.unsqueeze(0), seen.unsqueeze(0)).squeeze(0);
    auto index = torch::arange(trained, torch::kFloat64);
    auto offsets = (index.unsqueeze(1) - index.unsqueeze(0)).abs();
    auto upper = torch::triu(torch::ones({trained, trained}, torch::kBool), 1);
    out.set(kGeometryRowNorm, flat_values(rows.norm(2, 1)));
    out.set(kGeometrySpearman, {spearman(distances.masked_select(upper), offsets.masked_select(upper))});
  };
  return info;
}

}  // namespace pebench
