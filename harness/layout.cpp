#include "harness/layout.h"

#include "harness/analyses/analysis.h"
#include "harness/evaluate.h"
#include "harness/train.h"

namespace pebench {

std::vector<std::pair<std::string, torch::Tensor>> model_weights(TransformerLM& model) {
  std::vector<std::pair<std::string, torch::Tensor>> weights;
  for (const auto& item : model->named_parameters()) weights.push_back({item.key(), item.value()});
  for (const auto& item : model->named_buffers()) weights.push_back({item.key(), item.value()});
  return weights;
}

RunLayout layout_of(const RunConfig& run) {
  RunLayout layout;
  layout.run_id = run.run_id;
  layout.encoding = run.encoding;
  layout.train_seq_len = run.train.seq_len;
  layout.seed = run.seed;
  layout.init_gamma = run.model.init_gamma;
  layout.pe_init_std = run.model.pe_init_std;
  layout.config = run.canonical_text();
  auto model = build_model(run);
  layout.params = model->parameter_count();
  layout.facts = model->encoding().facts();
  if (run.model.attention_window > 0)
    layout.facts.push_back({"theoretical_receptive_field", run.model.layers * (run.model.attention_window - 1) + 1});
  layout.n_logged = static_cast<int64_t>(log_steps(run.train.steps, run.train.log_every).size());
  layout.eval_lengths = run.eval_lengths();
  layout.eval_protocol = run.eval.protocol;
  layout.eval_stride = run.eval.stride;
  layout.eval_variants = model->encoding().eval_variants();
  if (run.train.keep_weights)
    for (const auto& [name, tensor] : model_weights(model)) layout.weights.push_back({name, tensor.sizes().vec()});
  // The shapes come from the encoding itself: a one-distance profile, and its table.
  torch::NoGradGuard no_grad;
  auto profile = bias_profile(model->encoding(), 1, torch::kCPU);
  if (profile.defined()) {
    layout.bias_profile_shape = profile.sizes().vec();
    layout.bias_profile_shape.back() = layout.eval_lengths.back();
  }
  auto table = model->encoding().table();
  if (table.defined()) layout.table_shape = table.sizes().vec();
  if (const auto task = run.task())
    for (const auto& name : task_metric_names(*task))
      layout.extra_datasets.push_back({name, {static_cast<int64_t>(layout.eval_lengths.size())}, false});
  const int64_t n_lengths = static_cast<int64_t>(layout.eval_lengths.size());
  if (run.has_tokenizer()) {  // bits per byte (harness/evaluate.h)
    layout.extra_datasets.push_back({"eval/bpb", {n_lengths}, false});
    layout.extra_datasets.push_back({"eval/bytes", {n_lengths}, false});
  }
  if (run.eval.passkey) {  // harness/passkey.h
    layout.extra_datasets.push_back({"eval/passkey/accuracy", {n_lengths, run.eval.passkey_depths}, false});
    layout.extra_datasets.push_back({"eval/passkey/distance", {n_lengths, run.eval.passkey_depths}, false});
    layout.extra_datasets.push_back({"eval/passkey/max_distance", {1}, false});
  }
  if (run.train.eval_every > 0) {  // harness/evaluate.h eval_history_points
    const int64_t points = eval_history_points(run);
    layout.extra_datasets.push_back({"eval_history/step", {points}, true});
    for (const auto& metric : eval_history_metrics(run))
      layout.extra_datasets.push_back({eval_history_dataset(metric), {points, n_lengths}, false});
  }
  for (const auto& dataset : analysis_layout(run, table.defined() ? table.size(0) : 0))
    layout.extra_datasets.push_back({dataset.name, dataset.shape, dataset.integer});
  return layout;
}

}  // namespace pebench
