// Evaluation on the held-out split: perplexity at every eval length over the same token
// budget (non-overlapping windows, or sliding windows with a stride), and the mean loss
// per position at the longest length, which shows where extrapolation breaks.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "harness/study.h"
#include "models/transformer.h"

namespace pebench {

struct EvalResult {
  std::vector<int64_t> lengths;
  std::vector<double> ppl;
  std::vector<int64_t> tokens;         // tokens scored at each length
  std::vector<double> position_loss;   // [longest length]
  // Synthetic tasks: metric dataset name → value per length; eval/accuracy (exact match
  // at the scored positions) and the task's extra metrics (task_metric_names).
  std::map<std::string, std::vector<double>> metrics;
  double seconds = 0;
};

// Tokens scored at every length: eval.tokens, cut to what the held-out split holds,
// rounded down to a multiple of the longest length. Throws UserError when the held-out
// split cannot hold one window of the longest length.
int64_t eval_budget(int64_t heldout_tokens, int64_t requested_tokens, int64_t longest,
                    const std::string& origin);

// Per-token losses [windows, length] (float64, CPU) of the non-overlapping windows of
// `length` tokens in the first `budget` tokens of `tokens`, `batch_tokens` per forward.
torch::Tensor window_losses(TransformerLM& model, const std::vector<uint16_t>& tokens, int64_t budget,
                            int64_t length, int64_t batch_tokens, torch::Device device);

// A synthetic task at every eval length: eval.tokens / length test sequences from
// eval_generator(length) (the same for every run); loss, ppl, accuracy over scored
// positions; position_loss NaN where the task scores nothing.
EvalResult evaluate_task(TransformerLM& model, const TaskSpec& task, const RunConfig& run, torch::Device device,
                         const std::string& variant = "");

// `variant` names one of the encoding's eval-time variants ("" = as trained).
EvalResult evaluate_model(TransformerLM& model, const std::vector<uint16_t>& heldout,
                          const RunConfig& run, torch::Device device, const std::string& variant = "");

}  // namespace pebench
