// Evaluation on the held-out split: perplexity at every eval length over the same token
// budget (non-overlapping windows, or sliding windows with a stride), and the mean loss
// per position at the longest length, which shows where extrapolation breaks.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "harness/passkey.h"
#include "harness/study.h"
#include "models/transformer.h"

namespace pebench {

struct EvalResult {
  std::vector<int64_t> lengths;
  std::vector<double> ppl;
  std::vector<int64_t> tokens;         // tokens scored at each length
  std::vector<double> position_loss;   // [longest length]
  // Text runs with a tokenizer: bits per byte at each length, = loss in nats / ln 2 over
  // the UTF-8 bytes of the scored targets (`bytes`, Tokenizer::token_bytes). Empty otherwise.
  std::vector<double> bpb;
  std::vector<double> bytes;
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

// `variant` names one of the encoding's eval-time variants ("" = as trained). With a
// tokenizer, bits per byte too.
EvalResult evaluate_model(TransformerLM& model, const std::vector<uint16_t>& heldout,
                          const RunConfig& run, torch::Device device, const std::string& variant = "",
                          const Tokenizer* tokenizer = nullptr);

// train.eval_every > 0: the run's eval history, held-out evaluations during training as
// the final one computes them (harness/train.h TrainControl::evaluate). Datasets:
// `eval_history/step` [points] and, per metric, `eval_history/<name>` [points, lengths]:
// `ppl`, and a task's metrics (eval/accuracy → eval_history/accuracy). Points: every
// eval_every steps below train.steps, then the last step, whose row is the final eval.
int64_t eval_history_points(const RunConfig& run);
// The metric names, as history_values keys them: "ppl", then the task's "eval/..." names.
std::vector<std::string> eval_history_metrics(const RunConfig& run);
// "ppl" → "eval_history/ppl", "eval/accuracy" → "eval_history/accuracy".
std::string eval_history_dataset(const std::string& metric);
// One evaluation's values by metric name: a point of the history.
std::map<std::string, std::vector<double>> history_values(const EvalResult& result);

// Passkey retrieval (harness/passkey.h) at every eval length × eval.passkey_depths depths,
// eval.passkey_trials prompts each, filler from the held-out split; the same prompts for
// every run of a corpus. Row-major [lengths, depths].
struct PasskeyResult {
  std::vector<double> accuracy;  // fraction of answer tokens predicted exactly
  std::vector<double> distance;  // tokens from the needle's first digit to the answer's
  double max_distance = 0;       // passkey_max_distance
  double seconds = 0;
};
PasskeyResult evaluate_passkey(TransformerLM& model, const std::vector<uint16_t>& heldout, const Tokenizer& tokenizer,
                               const RunConfig& run, torch::Device device);

// Exact matches of argmax(logits) [n, length, vocab] against the answers of `prompts`
// (their last answer_length tokens), summed: a prompt scores answer_length at most.
int64_t passkey_matches(const torch::Tensor& logits, const std::vector<PasskeyPrompt>& prompts);

}  // namespace pebench
