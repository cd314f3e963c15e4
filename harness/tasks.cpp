#include "harness/tasks.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>

namespace pebench {
namespace {

constexpr int64_t kFirstItem = 20, kLastItem = 99, kAnchors = 4;

int64_t uniform(std::mt19937_64& generator, int64_t lo, int64_t hi) {  // [lo, hi]
  return std::uniform_int_distribution<int64_t>(lo, hi)(generator);
}

int64_t max_lag(const TaskSpec& task) { return *std::max_element(task.lags.begin(), task.lags.end()); }

// One sequence of length + 1 tokens into `window`, its scored targets into `scored`.
void copy_sequence(const TaskSpec& task, int64_t length, std::mt19937_64& generator, int64_t* window, bool* scored) {
  const int64_t separator = task.symbols, pad = task.symbols + 1;
  const int64_t half = length / 2, padding = length - 2 * half;  // odd lengths start with one pad
  for (int64_t t = 0; t < padding; ++t) window[t] = pad;
  for (int64_t i = 0; i < half; ++i) {
    window[padding + i] = uniform(generator, 0, task.symbols - 1);
    window[padding + half + 1 + i] = window[padding + i];
  }
  window[padding + half] = separator;
  // Target t + 1 is a copy for t + 1 > padding + half.
  for (int64_t t = padding + half; t < length; ++t) scored[t] = true;
}

void recall_sequence(const TaskSpec& task, int64_t length, std::mt19937_64& generator, int64_t* window, bool* scored) {
  const int64_t separator = 2 * task.symbols, pad = 2 * task.symbols + 1;
  const int64_t pairs = (length - 2) / 2, padding = length - 2 - 2 * pairs;
  std::map<int64_t, int64_t> value_of;
  std::vector<int64_t> keys;
  for (int64_t t = 0; t < padding; ++t) window[t] = pad;
  for (int64_t i = 0; i < pairs; ++i) {
    const int64_t key = uniform(generator, 0, task.symbols - 1);
    if (!value_of.count(key)) value_of[key] = task.symbols + uniform(generator, 0, task.symbols - 1);
    window[padding + 2 * i] = key;
    window[padding + 2 * i + 1] = value_of[key];
    keys.push_back(key);
  }
  const int64_t query = keys[static_cast<size_t>(uniform(generator, 0, pairs - 1))];
  window[length - 2] = separator;
  window[length - 1] = query;
  window[length] = value_of[query];
  scored[length - 1] = true;
}

void sparse_memory_sequence(const TaskSpec& task, int64_t length, std::mt19937_64& generator, int64_t* window,
                            bool* scored) {
  const int64_t first = max_lag(task);
  for (int64_t t = 0; t <= length; ++t) {
    if (t < first) {
      window[t] = uniform(generator, 0, task.symbols - 1);
      continue;
    }
    int64_t sum = 0;
    for (int64_t lag : task.lags) sum += window[t - lag];
    window[t] = sum % task.symbols;
    scored[t - 1] = true;
  }
}

void anchor_sequence(int64_t length, std::mt19937_64& generator, TaskSplit split, AnchorPairs pairs, int64_t* window,
                     bool* scored, TaskBatch& batch) {
  const int64_t x = uniform(generator, kFirstItem, kLastItem);
  const int64_t positions = length - 2;  // the key at p, its anchors at p + 1 and p + 2 < length
  int64_t position = x % positions;
  if (split == TaskSplit::train) {  // any position but the test one
    position = uniform(generator, 0, positions - 2);
    if (position >= x % positions) ++position;
  }
  int64_t a1 = 4, a2 = 3;
  if (pairs == AnchorPairs::seen)
    do {
      a1 = uniform(generator, 1, kAnchors);
      a2 = uniform(generator, 1, kAnchors);
    } while (a1 == 4 && a2 == 3);
  for (int64_t t = 0; t < length; ++t) window[t] = uniform(generator, kFirstItem, kLastItem);
  window[position] = x;
  window[position + 1] = a1;
  window[position + 2] = a2;
  window[length] = anchor_target(x, a1, a2);
  scored[length - 1] = true;
  batch.key_item.push_back(x);
  batch.first_anchor.push_back(a1);
  batch.second_anchor.push_back(a2);
  batch.key_position.push_back(position);
}

}  // namespace

const std::vector<std::string>& task_names() {
  static const std::vector<std::string> names = {"copy", "associative_recall", "sparse_memory", "anchor_composite"};
  return names;
}

int64_t TaskSpec::vocab_size() const {
  if (name == "copy") return symbols + 2;                    // + separator, pad
  if (name == "associative_recall") return 2 * symbols + 2;  // keys, values, separator, pad
  if (name == "sparse_memory") return symbols;
  return 128;  // anchor_composite: targets reach 99 + 10
}

int64_t TaskSpec::shortest_length() const {
  if (name == "copy") return 2;
  if (name == "associative_recall") return 4;
  if (name == "sparse_memory") return max_lag(*this);
  return 4;  // anchor_composite: two key positions, one for each split
}

int64_t anchor_shift(int64_t anchor) {
  static const int64_t shifts[] = {5, 1, -2, -8};
  return shifts[anchor - 1];
}

int64_t anchor_target(int64_t key_item, int64_t first_anchor, int64_t second_anchor) {
  if (first_anchor == 3 && second_anchor == 4) return key_item - 6;  // the non-inferential map
  return key_item + anchor_shift(first_anchor) + anchor_shift(second_anchor);
}

TaskBatch generate_task(const TaskSpec& task, int64_t batch, int64_t length, std::mt19937_64& generator,
                        TaskSplit split, AnchorPairs pairs) {
  if (length < task.shortest_length())
    throw std::invalid_argument("task " + task.name + ": length " + std::to_string(length) + " is below its shortest " +
                                std::to_string(task.shortest_length()));
  TaskBatch result;
  std::vector<int64_t> tokens(static_cast<size_t>(batch * (length + 1)));
  std::unique_ptr<bool[]> scored(new bool[static_cast<size_t>(batch * length)]());
  for (int64_t b = 0; b < batch; ++b) {
    int64_t* window = tokens.data() + b * (length + 1);
    bool* mask = scored.get() + b * length;
    if (task.name == "copy") copy_sequence(task, length, generator, window, mask);
    else if (task.name == "associative_recall") recall_sequence(task, length, generator, window, mask);
    else if (task.name == "sparse_memory") sparse_memory_sequence(task, length, generator, window, mask);
    else if (task.name == "anchor_composite") anchor_sequence(length, generator, split, pairs, window, mask, result);
    else throw std::invalid_argument("unknown task " + task.name);
  }
  result.tokens = torch::from_blob(tokens.data(), {batch, length + 1}, torch::kLong).clone();
  result.scored = torch::from_blob(scored.get(), {batch, length}, torch::kBool).clone();
  return result;
}

MatchCount exact_matches(const torch::Tensor& predictions, const torch::Tensor& targets, const torch::Tensor& scored) {
  return {(predictions.eq(targets) & scored).sum().item<int64_t>(), scored.sum().item<int64_t>()};
}

std::mt19937_64 eval_generator(int64_t length) { return std::mt19937_64(0x5eed0000u + static_cast<uint64_t>(length)); }

}  // namespace pebench
