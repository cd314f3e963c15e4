#include "harness/tasks.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <stdexcept>

namespace pebench {

const std::vector<std::string>& task_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const auto& info : task_registry()) out.push_back(info.name);
    return out;
  }();
  return names;
}

const TaskInfo& TaskSpec::info() const {
  for (const auto& info : task_registry())
    if (info.name == name) return info;
  throw std::invalid_argument("unknown task " + name);
}
int64_t TaskSpec::vocab_size() const { return info().vocab_size(*this) + (start_token ? 1 : 0); }
int64_t TaskSpec::shortest_length() const { return info().shortest_length(*this) + (start_token ? 1 : 0); }

std::vector<std::string> task_metric_names(const TaskSpec& task) {
  std::vector<std::string> names = {"eval/accuracy"};
  const auto& extra = task.info().extra_metrics;
  names.insert(names.end(), extra.begin(), extra.end());
  return names;
}

TaskBatch generate_task(const TaskSpec& task, int64_t batch, int64_t length, std::mt19937_64& generator,
                        TaskSplit split, AnchorPairs pairs) {
  if (length < task.shortest_length())
    throw std::invalid_argument("task " + task.name + ": length " + std::to_string(length) + " is below its shortest " +
                                std::to_string(task.shortest_length()));
  const TaskInfo& info = task.info();
  TaskBatch result;
  std::vector<int64_t> tokens(static_cast<size_t>(batch * (length + 1)));
  std::vector<int64_t> targets(static_cast<size_t>(batch * length), -1);
  std::unique_ptr<bool[]> scored(new bool[static_cast<size_t>(batch * length)]());
  // With a start token the task fills the window after it: inputs [1, L), targets [2, L].
  const int64_t start = task.start_token ? 1 : 0, start_id = info.vocab_size(task);
  for (int64_t b = 0; b < batch; ++b) {
    int64_t* window = tokens.data() + b * (length + 1);
    if (start) window[0] = start_id;
    info.generate(task, length - start, generator, split, pairs,
                  TaskSequence{window + start, scored.get() + b * length + start, result,
                               targets.data() + b * length + start});
    for (int64_t t = 0; t < length; ++t)
      if (targets[static_cast<size_t>(b * length + t)] < 0) targets[static_cast<size_t>(b * length + t)] = window[t + 1];
  }
  result.tokens = torch::from_blob(tokens.data(), {batch, length + 1}, torch::kLong).clone();
  result.scored = torch::from_blob(scored.get(), {batch, length}, torch::kBool).clone();
  result.targets = torch::from_blob(targets.data(), {batch, length}, torch::kLong).clone();
  return result;
}

MatchCount exact_matches(const torch::Tensor& predictions, const torch::Tensor& targets, const torch::Tensor& scored) {
  return {(predictions.eq(targets) & scored).sum().item<int64_t>(), scored.sum().item<int64_t>()};
}

std::mt19937_64 eval_generator(int64_t length) { return std::mt19937_64(0x5eed0000u + static_cast<uint64_t>(length)); }

}  // namespace pebench
