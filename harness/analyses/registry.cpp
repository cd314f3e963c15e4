// The analysis registry, and what all analyses share: the output, the loop that runs them.
#include "harness/analyses/analysis.h"

#include <stdexcept>

#include "harness/data.h"

// Adding an analysis: one file in harness/analyses/ defining `AnalysisInfo NAME_analysis()`,
// and its name in this list (the order in which they run and are stored).
#define PEBENCH_ANALYSES(X) \
  X(window_ppl)             \
  X(gradient)               \
  X(attention)              \
  X(probe)                  \
  X(pe_geometry)

namespace pebench {

#define PEBENCH_DECLARE(name) AnalysisInfo name##_analysis();
PEBENCH_ANALYSES(PEBENCH_DECLARE)
#undef PEBENCH_DECLARE

const std::vector<AnalysisInfo>& analysis_registry() {
#define PEBENCH_LIST(name) name##_analysis(),
  static const std::vector<AnalysisInfo> registry{PEBENCH_ANALYSES(PEBENCH_LIST)};
#undef PEBENCH_LIST
  return registry;
}

std::vector<std::string> analysis_names() {
  std::vector<std::string> names;
  for (const auto& info : analysis_registry()) names.push_back(info.name);
  return names;
}

void AnalysisOutput::add(const DatasetName& name, std::vector<int64_t> shape) {
  datasets_.push_back({name.path, std::move(shape), name.integer, {}});
}

void AnalysisOutput::set(const DatasetName& name, std::vector<double> values) {
  for (auto& dataset : datasets_)
    if (dataset.name == name.path) {
      int64_t size = 1;
      for (int64_t extent : dataset.shape) size *= extent;
      if (static_cast<int64_t>(values.size()) != size)
        throw std::logic_error(std::string("analysis dataset ") + name.path + ": " + std::to_string(values.size()) +
                               " values for " + std::to_string(size) + " elements");
      dataset.values = std::move(values);
      return;
    }
  throw std::logic_error(std::string("analysis dataset ") + name.path + " was not laid out");
}

std::vector<AnalysisDataset> analysis_layout(const RunConfig& run, int64_t table_rows) {
  AnalysisOutput out;
  for (const auto& info : analysis_registry())
    if (run.analyses_include(info.name)) info.layout(run, table_rows, out);
  return out.datasets();
}

std::vector<AnalysisDataset> analyse_model(TransformerLM& model, const std::vector<uint16_t>& heldout,
                                           const RunConfig& run, torch::Device device) {
  model->eval();
  auto table = model->encoding().table();
  const int64_t table_rows = table.defined() ? table.size(0) : 0;
  AnalysisOutput out;
  AnalysisInput input{model, heldout, run, device};
  for (const auto& info : analysis_registry())
    if (run.analyses_include(info.name)) {
      info.layout(run, table_rows, out);
      info.compute(input, out);
    }
  model->train();
  return out.datasets();
}

std::vector<double> flat_values(const torch::Tensor& values) {
  auto flat = values.detach().to(torch::kCPU, torch::kFloat64).contiguous().view({-1});
  return std::vector<double>(flat.data_ptr<double>(), flat.data_ptr<double>() + flat.numel());
}

torch::Tensor heldout_windows(const std::vector<uint16_t>& heldout, int64_t count, int64_t length) {
  std::vector<int64_t> starts;
  for (int64_t i = 0; i < count && (i + 1) * length + 1 <= static_cast<int64_t>(heldout.size()); ++i)
    starts.push_back(i * length);
  return gather_windows(heldout, starts, length);
}

}  // namespace pebench
