// Synthetic tasks with a known answer (data.source = synthetic:NAME), generated from a
// seed, never read from files. One file per task in harness/tasks/, one line each in
// harness/tasks/registry.cpp. Each sequence is a window of length + 1 tokens (inputs
// [0, L), targets [1, L]); only the task's scored target positions enter loss, perplexity
// and accuracy.
// Every sequence starts with a start token (data.start_token, id = the task's own vocabulary
// size) unless turned off; a task generates the tokens after it.
//   copy                 k random symbols, a separator, the same k again, pads; scores the
//                        copy. Training draws k uniform in 1..n/2 per sequence, so the copy's
//                        offset varies (data.copy_lengths = varied); eval uses k = n/2, the
//                        longest that fits, i.e. offsets never seen in training past the
//                        train length (Kazemnejad et al. 2023; Ruoss et al. 2023).
//   associative_recall   key-value pairs (a key keeps one value within a sequence), a
//                        separator, a key that occurred; scores the value after it.
//   sparse_memory        inputs x_t uniform on 0..S-1; the target at input t is its own
//                        sequence, y_t = x_{t-T1} + ... + x_{t-TM} (no mod: each lag informs
//                        it); lags data.lags; scores every t >= max lag (Wang & E 2024).
//   anchor_composite     items 20..99 and anchors 1..4 (x+5, x+1, x-2, x-8); one key item
//                        followed by one adjacent anchor pair among item noise; the target
//                        after the last input is g(g(x; a1); a2), except pair (3,4), trained
//                        on x-6, and pair (4,3), never trained. A sequence of n tokens is in
//                        the test split iff x mod (n-2) equals the key's position (Zhang et
//                        al. 2024). Scores the last position.
#pragma once
#include <torch/types.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace pebench {

struct TaskInfo;

struct TaskSpec {
  std::string name;                     // a name in task_registry()
  int64_t symbols = 16;                 // alphabet of copy, associative_recall, sparse_memory
  std::vector<int64_t> lags{3, 17, 40}; // sparse_memory
  bool start_token = true;              // a start token first in every sequence
  std::string copy_lengths = "varied";  // copy: varied | longest
  const TaskInfo& info() const;         // throws std::invalid_argument for an unknown name
  int64_t vocab_size() const;          // the task's tokens, + 1 for the start token
  int64_t shortest_length() const;     // the least L with a scored position (start token included)
};

enum class TaskSplit { train, test };
// anchor_composite only: which pairs a batch holds.
enum class AnchorPairs { seen, held_out };

struct TaskBatch {
  torch::Tensor tokens;   // [B, L + 1] int64: inputs are [:, :L]
  torch::Tensor targets;  // [B, L] int64: the next token (tokens[:, 1:]) unless the task sets its own
  torch::Tensor scored;   // [B, L] bool: target positions the task scores
  // anchor_composite: the key item and the anchors of each sequence.
  std::vector<int64_t> key_item, first_anchor, second_anchor, key_position;
};

// One sequence of length + 1 tokens: the window to fill and its scored targets [length].
// `target` [length] starts at -1 (the next token); a task whose targets are not its next
// tokens (sparse_memory: y_t = a readout of past inputs) writes them there.
struct TaskSequence {
  int64_t* window;
  bool* scored;
  TaskBatch& batch;  // for tasks that record per-sequence facts (anchor_composite)
  int64_t* target;
};

// Metrics a task adds beyond eval/accuracy: dataset name → {hits, trials} at one length.
// `predict` returns the argmax prediction at every input position, [B, L] int64 on the CPU.
using TaskPredictor = std::function<torch::Tensor(const torch::Tensor& inputs)>;
using TaskMetricSums = std::map<std::string, std::pair<double, double>>;

// A task (harness/tasks/NAME.cpp, listed in harness/tasks/registry.cpp).
struct TaskInfo {
  std::string name;
  std::string summary;
  // Both without the start token, which generate_task adds: `generate` fills the window
  // after it, of `length` inputs one fewer than the sequence's.
  std::function<int64_t(const TaskSpec&)> vocab_size;
  std::function<int64_t(const TaskSpec&)> shortest_length;
  std::function<void(const TaskSpec&, int64_t length, std::mt19937_64&, TaskSplit, AnchorPairs, TaskSequence)> generate;
  // A study's keys the task cannot take: {key, why}, or {"", ""} when fine.
  std::function<std::pair<std::string, std::string>(const TaskSpec&, int64_t train_length)> check =
      [](const TaskSpec&, int64_t) { return std::pair<std::string, std::string>{}; };
  // Extra metric datasets (eval/...) [n_lengths], none for most tasks, and how to score
  // them: called after each eval batch of n sequences at `length`, drawing its own
  // sequences from `generator` (a stream of its own, so adding it changes no other number).
  std::vector<std::string> extra_metrics = {};
  std::function<void(const TaskSpec&, int64_t length, int64_t n, std::mt19937_64& generator,
                     const TaskPredictor& predict, TaskMetricSums& sums)>
      score_extra = nullptr;
};

const std::vector<TaskInfo>& task_registry();
// The task names, for messages: "copy | associative_recall | ...".
const std::vector<std::string>& task_names();
// Every metric dataset a task run stores, [n_lengths] each: eval/accuracy, then the extras.
std::vector<std::string> task_metric_names(const TaskSpec& task);

TaskBatch generate_task(const TaskSpec& task, int64_t batch, int64_t length, std::mt19937_64& generator,
                        TaskSplit split = TaskSplit::train, AnchorPairs pairs = AnchorPairs::seen);

// A uniform integer in [lo, hi], the draw every task uses.
inline int64_t uniform_int(std::mt19937_64& generator, int64_t lo, int64_t hi) {
  return std::uniform_int_distribution<int64_t>(lo, hi)(generator);
}

// anchor_composite's single-anchor shift and the trained target of a pair.
int64_t anchor_shift(int64_t anchor);
int64_t anchor_target(int64_t key_item, int64_t first_anchor, int64_t second_anchor);

// Scored positions where the prediction equals the target: predictions and targets
// [B, L] int64, scored [B, L] bool. Counts, so batches add up.
struct MatchCount {
  int64_t correct = 0, scored = 0;
  double accuracy() const { return scored ? static_cast<double>(correct) / static_cast<double>(scored) : NAN; }
  MatchCount& operator+=(const MatchCount& other) {
    correct += other.correct, scored += other.scored;
    return *this;
  }
};
MatchCount exact_matches(const torch::Tensor& predictions, const torch::Tensor& targets, const torch::Tensor& scored);

// The generator that makes a task's eval sequences at `length`: the same for every run,
// so every run is scored on the same held-out sequences.
std::mt19937_64 eval_generator(int64_t length);

}  // namespace pebench
