#include "harness/plan.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numeric>
#include <string>

#include "harness/evaluate.h"

namespace pebench {

double estimated_cost(const RunConfig& run) {
  const double d = static_cast<double>(run.model.d_model);
  const double layers = static_cast<double>(run.model.layers);
  auto per_token = [&](double length) { return layers * (12 * d * d + 2 * length * d); };
  const double length = static_cast<double>(run.train.seq_len);
  double cost = 3 * static_cast<double>(run.train.steps * run.train.batch) * length * per_token(length);
  // The final evaluation, and as many again with train.eval_every (the history's points).
  const double evaluations = static_cast<double>(std::max<int64_t>(1, eval_history_points(run)));
  for (int64_t eval_length : run.eval_lengths())
    cost += evaluations * static_cast<double>(run.eval.tokens) * per_token(static_cast<double>(eval_length));
  return cost;
}

// Weights, gradients and AdamW's two moments (4 x 4 bytes per parameter); the largest of
// the training step's activations (per layer: ~18 d floats a token, scores and softmax of
// every head, T x T; the logits three times) and of an eval forward (attention in blocks
// of eval.attention_block queries); and 300 MB for LibTorch itself. Against measured peak
// RSS (BENCHMARKS.md §6) it is low by 1.2-1.4x: a run refused by it could never fit, and
// a run that fits is never refused. Used only for that, never to schedule.
MemoryEstimate estimated_memory(const RunConfig& run) {
  const double d = static_cast<double>(run.model.d_model), layers = static_cast<double>(run.model.layers);
  const double heads = static_cast<double>(run.model.heads), vocab = static_cast<double>(run.vocab_size());
  const auto lengths = run.eval_lengths();
  const double longest = static_cast<double>(lengths.back());
  const double parameters = vocab * d + layers * (12 * d * d + 13 * d) + longest * d;  // + a learned table at most
  const double batch = static_cast<double>(run.train.batch), length = static_cast<double>(run.train.seq_len);
  const double state = 16 * parameters;
  const double training = 4 * batch * length * (layers * (18 * d + 2 * heads * length) + 3 * vocab);
  double evaluation = 0;
  for (int64_t eval_length : lengths) {
    const double l = static_cast<double>(eval_length);
    const double sequences = std::max(1.0, std::floor(static_cast<double>(run.eval.batch_tokens) / l));
    const double block = std::min(l, static_cast<double>(run.eval.attention_block));
    evaluation = std::max(evaluation, 4 * sequences * (3 * heads * block * l + l * (8 * d + 2 * vocab)));
  }
  const double activations = std::max(training, evaluation);
  MemoryEstimate estimate;
  estimate.bytes = 300e6 + state + activations;
  estimate.largest = state >= activations ? "weights, gradients and optimizer state (model.d_model, model.layers)"
                     : training >= evaluation
                         ? "training activations (train.batch x train.seq_len^2 x model.heads x model.layers)"
                         : "eval activations (eval.batch_tokens, eval.attention_block x the longest eval length)";
  return estimate;
}

std::vector<int64_t> largest_first(const std::vector<RunConfig>& runs, const std::set<std::string>& finished) {
  std::vector<int64_t> order;
  std::vector<double> cost(runs.size());
  for (size_t i = 0; i < runs.size(); ++i) {
    cost[i] = estimated_cost(runs[i]);
    if (!finished.count(runs[i].run_id)) order.push_back(static_cast<int64_t>(i));
  }
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return cost[static_cast<size_t>(a)] > cost[static_cast<size_t>(b)];
  });
  return order;
}

std::vector<RunConfig> shard_of(const std::vector<RunConfig>& runs, int64_t index, int64_t count) {
  const std::vector<int64_t> order = largest_first(runs, {});
  std::vector<double> load(static_cast<size_t>(count), 0.0);
  std::vector<bool> mine(runs.size(), false);
  for (int64_t i : order) {
    const auto lightest = static_cast<size_t>(std::min_element(load.begin(), load.end()) - load.begin());
    load[lightest] += estimated_cost(runs[static_cast<size_t>(i)]);
    mine[static_cast<size_t>(i)] = static_cast<int64_t>(lightest) == index;
  }
  std::vector<RunConfig> slice;
  for (size_t i = 0; i < runs.size(); ++i)
    if (mine[i]) slice.push_back(runs[i]);
  return slice;
}

std::string shard_store_path(const std::string& store, int64_t index, int64_t count) {
  const std::filesystem::path path(store);
  return (path.parent_path() / (path.stem().string() + ".shard-" + std::to_string(index) + "-of-" +
                                std::to_string(count) + path.extension().string()))
      .string();
}

// From d_model 128, or 2^18 activations per step, 2 threads train 1.2-1.7x faster than 1;
// below, OpenMP and per-op costs eat the split matmuls and 2 threads run 0.8-1.4x of 1 from
// session to session (BENCHMARKS.md §3), so such runs keep the stable one. A rule of the
// config, not a timing probe: the thread count changes the floating-point result, so the
// same run must get the same count every time.
int threads_for(const RunConfig& run, int share) {
  const int64_t activations = run.train.batch * run.train.seq_len * run.model.d_model;
  return run.model.d_model >= 128 || activations >= (int64_t{1} << 18) ? share : 1;
}

}  // namespace pebench
