#include "harness/evaluate.h"

#include <torch/nn/functional/loss.h>

#include <chrono>
#include <cmath>

#include "harness/data.h"
#include "harness/signals.h"
#include "harness/tasks.h"

namespace pebench {

int64_t eval_budget(int64_t heldout_tokens, int64_t requested_tokens, int64_t longest,
                    const std::string& origin) {
  const int64_t available = heldout_tokens - 1;  // the last token is only ever a target
  if (available < longest)
    throw UserError(origin + ": [data] source: the held-out split has " + std::to_string(heldout_tokens) +
                    " tokens; the longest eval length " + std::to_string(longest) +
                    " needs at least " + std::to_string(longest + 1) +
                    " (use a longer corpus, a larger data.holdout or shorter eval.lengths)");
  return std::min(requested_tokens, available) / longest * longest;
}

namespace {

// Per-token losses [windows, length] of the windows starting at 0, step, 2·step, …
// that fit in the first `budget` tokens, computed in batches.
torch::Tensor strided_window_losses(TransformerLM& model, const std::vector<uint16_t>& tokens, int64_t budget,
                                    int64_t length, int64_t step, int64_t batch_tokens, torch::Device device) {
  std::vector<int64_t> starts;
  for (int64_t s = 0; s + length <= budget; s += step) starts.push_back(s);
  const int64_t per_batch = std::max<int64_t>(1, batch_tokens / length);
  std::vector<torch::Tensor> losses;
  for (size_t first = 0; first < starts.size(); first += per_batch) {
    if (stop_requested()) throw Interrupted();  // the run resumes from its final checkpoint
    const size_t last = std::min(starts.size(), first + per_batch);
    std::vector<int64_t> chunk(starts.begin() + first, starts.begin() + last);
    auto windows = upload(gather_windows(tokens, chunk, length), device);
    auto logits = model->forward(windows.slice(1, 0, length));
    auto loss = torch::nn::functional::cross_entropy(
        logits.reshape({-1, logits.size(-1)}), windows.slice(1, 1, length + 1).reshape({-1}),
        torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
    losses.push_back(loss.view({-1, length}));  // on the device: read back once, not per batch
  }
  return torch::cat(losses, 0).to(torch::kCPU, torch::kFloat64);
}

}  // namespace

int64_t eval_history_points(const RunConfig& run) {
  return run.train.eval_every > 0 ? (run.train.steps - 1) / run.train.eval_every + 1 : 0;
}

std::vector<std::string> eval_history_metrics(const RunConfig& run) {
  std::vector<std::string> metrics{"ppl"};
  if (const auto task = run.task())
    for (const auto& name : task_metric_names(*task)) metrics.push_back(name);
  return metrics;
}

std::string eval_history_dataset(const std::string& metric) {
  return "eval_history/" + (metric.rfind("eval/", 0) == 0 ? metric.substr(5) : metric);
}

std::map<std::string, std::vector<double>> history_values(const EvalResult& result) {
  std::map<std::string, std::vector<double>> values = result.metrics;
  values["ppl"] = result.ppl;
  return values;
}

torch::Tensor window_losses(TransformerLM& model, const std::vector<uint16_t>& tokens, int64_t budget,
                            int64_t length, int64_t batch_tokens, torch::Device device) {
  return strided_window_losses(model, tokens, budget, length, length, batch_tokens, device);
}

EvalResult evaluate_task(TransformerLM& model, const TaskSpec& task, const RunConfig& run, torch::Device device,
                         const std::string& variant) {
  torch::NoGradGuard no_grad;
  model->eval();
  const auto start = std::chrono::steady_clock::now();
  EvalResult result;
  result.lengths = run.eval_lengths();
  const int64_t longest = result.lengths.back(), batch_tokens = run.eval.batch_tokens;
  const TaskInfo& info = task.info();
  const TaskPredictor predict = [&](const torch::Tensor& inputs) {
    return model->forward(upload(inputs, device)).argmax(-1).to(torch::kCPU);
  };
  for (int64_t length : result.lengths) {
    model->encoding().set_eval_variant(variant, length);
    const int64_t sequences = std::max<int64_t>(1, run.eval.tokens / length);
    const int64_t per_batch = std::max<int64_t>(1, batch_tokens / length);
    auto generator = eval_generator(length);
    // The task's extra metrics draw from their own stream, so they change no other number.
    auto extra_generator = eval_generator(length + (int64_t{1} << 40));
    TaskMetricSums extra;
    // Each batch's sums and predictions stay on the device and are read back once per
    // length: a read per batch would make the host wait for every forward before it builds
    // the next batch (the task's extra metrics read their own predictions).
    std::vector<torch::Tensor> loss_sums, predictions, targets_seen, scored_seen;
    torch::Tensor position_sum, position_count;
    for (int64_t done = 0; done < sequences; done += per_batch) {
      if (stop_requested()) throw Interrupted();
      const int64_t n = std::min(per_batch, sequences - done);
      const TaskBatch batch = generate_task(task, n, length, generator, TaskSplit::test);
      const auto tokens = upload(batch.tokens, device);
      const auto logits = model->forward(tokens.slice(1, 0, length));
      const auto targets = upload(batch.targets, device);
      const auto losses = torch::nn::functional::cross_entropy(
          logits.reshape({-1, logits.size(-1)}), targets.reshape({-1}),
          torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone)).view({n, length}).to(torch::kFloat64);
      const auto scored = upload(batch.scored, device).to(torch::kFloat64);
      const auto scored_losses = losses * scored;
      loss_sums.push_back(scored_losses.sum());
      predictions.push_back(logits.argmax(-1));
      targets_seen.push_back(batch.targets);
      scored_seen.push_back(batch.scored);
      if (length == longest) {
        const auto sum = scored_losses.sum(0), count = scored.sum(0);
        position_sum = position_sum.defined() ? position_sum + sum : sum;
        position_count = position_count.defined() ? position_count + count : count;
      }
      if (info.score_extra) info.score_extra(task, length, n, extra_generator, predict, extra);
    }
    // Added on the host in batch order, as they were before they stayed on the device.
    double loss_sum = 0;
    const auto batch_sums = torch::stack(loss_sums).to(torch::kCPU).contiguous();
    const double* sums = batch_sums.data_ptr<double>();
    for (int64_t b = 0; b < batch_sums.numel(); ++b) loss_sum += sums[b];
    const MatchCount matches =
        exact_matches(torch::cat(predictions).to(torch::kCPU), torch::cat(targets_seen), torch::cat(scored_seen));
    result.ppl.push_back(std::exp(loss_sum / static_cast<double>(matches.scored)));
    result.tokens.push_back(matches.scored);
    result.metrics["eval/accuracy"].push_back(matches.accuracy());
    for (const auto& name : info.extra_metrics)
      result.metrics[name].push_back(extra[name].first / extra[name].second);
    if (length == longest) {
      const auto mean = (position_sum / position_count).to(torch::kCPU).contiguous();  // 0/0: NaN where nothing is scored
      result.position_loss.assign(mean.data_ptr<double>(), mean.data_ptr<double>() + longest);
    }
  }
  model->encoding().set_eval_variant("", run.train.seq_len);
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  model->train();
  return result;
}

EvalResult evaluate_model(TransformerLM& model, const std::vector<uint16_t>& heldout,
                          const RunConfig& run, torch::Device device, const std::string& variant,
                          const Tokenizer* tokenizer) {
  torch::NoGradGuard no_grad;
  model->eval();
  const auto start = std::chrono::steady_clock::now();
  EvalResult result;
  result.lengths = run.eval_lengths();
  const int64_t longest = result.lengths.back();
  const int64_t budget = eval_budget(static_cast<int64_t>(heldout.size()), run.eval.tokens,
                                     longest, "study");
  const int64_t batch_tokens = run.eval.batch_tokens;
  const bool sliding = run.eval.protocol == "sliding";
  const int64_t stride = run.eval.stride;

  auto non_overlapping = [&](int64_t length) {
    return window_losses(model, heldout, budget, length, batch_tokens, device);
  };
  // Mean loss at each position of the longest length's non-overlapping windows.
  auto keep_position_loss = [&](const torch::Tensor& losses) {
    auto mean = losses.mean(0).contiguous();
    result.position_loss.assign(mean.data_ptr<double>(), mean.data_ptr<double>() + longest);
  };

  // Bytes of the targets 1..t, for bits per byte: every protocol scores a prefix of them.
  std::vector<double> target_bytes;
  if (tokenizer) {
    target_bytes.assign(static_cast<size_t>(budget) + 1, 0.0);
    for (int64_t t = 1; t <= budget; ++t) target_bytes[t] = target_bytes[t - 1] + tokenizer->token_bytes()[heldout[t]];
  }
  for (int64_t length : result.lengths) {
    model->encoding().set_eval_variant(variant, length);
    double loss_sum = 0;
    int64_t scored = 0;
    if (!sliding) {
      auto losses = non_overlapping(length);
      loss_sum = losses.sum().item<double>();
      scored = losses.numel();
      if (length == longest) keep_position_loss(losses);
    } else {
      // The first window scores every position; each later one only its last `stride`
      // tokens, which then all see at least length - stride tokens of context.
      auto losses = strided_window_losses(model, heldout, budget, length, stride, batch_tokens, device);
      loss_sum = losses[0].sum().item<double>() +
                 losses.slice(0, 1).slice(1, length - stride).sum().item<double>();
      scored = length + (losses.size(0) - 1) * stride;
    }
    result.ppl.push_back(std::exp(loss_sum / static_cast<double>(scored)));
    result.tokens.push_back(scored);
    if (tokenizer) {
      result.bytes.push_back(target_bytes[scored]);
      result.bpb.push_back(loss_sum / (std::log(2.0) * target_bytes[scored]));
    }
  }
  // The per-position curve always comes from non-overlapping windows.
  if (sliding) {
    model->encoding().set_eval_variant(variant, longest);
    keep_position_loss(non_overlapping(longest));
  }
  model->encoding().set_eval_variant("", run.train.seq_len);
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  model->train();
  return result;
}

}  // namespace pebench

namespace pebench {

int64_t passkey_matches(const torch::Tensor& logits, const std::vector<PasskeyPrompt>& prompts) {
  const auto predicted = logits.argmax(-1).to(torch::kCPU).contiguous();  // [n, length]
  const int64_t length = predicted.size(1);
  const auto* guess = predicted.data_ptr<int64_t>();
  int64_t matches = 0;
  for (size_t row = 0; row < prompts.size(); ++row) {
    const auto& prompt = prompts[row];
    // Input position i predicts token i + 1: the answer's tokens are predicted at
    // answer_start - 1 ... length - 1.
    for (int64_t k = 0; k < prompt.answer_length; ++k) {
      const int64_t target = prompt.answer_start + k;
      matches += guess[row * length + target - 1] == prompt.tokens[target];
    }
  }
  return matches;
}

PasskeyResult evaluate_passkey(TransformerLM& model, const std::vector<uint16_t>& heldout, const Tokenizer& tokenizer,
                               const RunConfig& run, torch::Device device) {
  torch::NoGradGuard no_grad;
  model->eval();
  const auto start = std::chrono::steady_clock::now();
  PasskeyResult result;
  const auto depths = passkey_depths(run.eval.passkey_depths);
  const int64_t trials = run.eval.passkey_trials;
  for (int64_t length : run.eval_lengths()) {
    model->encoding().set_eval_variant("", length);
    // Its own stream: the same needles and filler for every run of this corpus.
    auto generator = eval_generator(length + (int64_t{1} << 41));
    const int64_t per_batch = std::max<int64_t>(1, run.eval.batch_tokens / length);
    for (double depth : depths) {
      std::vector<PasskeyPrompt> prompts;
      for (int64_t trial = 0; trial < trials; ++trial)
        prompts.push_back(passkey_prompt(tokenizer, heldout, length, depth, generator));
      int64_t matches = 0, answers = 0;
      for (size_t first = 0; first < prompts.size(); first += static_cast<size_t>(per_batch)) {
        if (stop_requested()) throw Interrupted();
        const size_t last = std::min(prompts.size(), first + static_cast<size_t>(per_batch));
        const std::vector<PasskeyPrompt> batch(prompts.begin() + first, prompts.begin() + last);
        auto inputs = torch::empty({static_cast<int64_t>(batch.size()), length}, torch::kLong);
        auto* out = inputs.data_ptr<int64_t>();
        for (size_t row = 0; row < batch.size(); ++row)
          std::copy(batch[row].tokens.begin(), batch[row].tokens.begin() + length, out + row * length);
        matches += passkey_matches(model->forward(upload(inputs, device)), batch);
        for (const auto& prompt : batch) answers += prompt.answer_length;
      }
      result.accuracy.push_back(static_cast<double>(matches) / static_cast<double>(answers));
      result.distance.push_back(static_cast<double>(prompts.front().distance()));
    }
  }
  result.max_distance = passkey_max_distance(result.accuracy, result.distance);
  model->encoding().set_eval_variant("", run.train.seq_len);
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  model->train();
  return result;
}

}  // namespace pebench
