// Synthetic tasks with a known answer (data.source = synthetic:NAME), generated from a
// seed, never read from files. Each sequence is a window of length + 1 tokens (inputs
// [0, L), targets [1, L]); only the task's scored target positions enter loss, perplexity
// and accuracy.
//   copy                 S random symbols, a separator, the same symbols again; scores the
//                        copy (Kazemnejad et al. 2023; Ruoss et al. 2023).
//   associative_recall   key-value pairs (a key keeps one value within a sequence), a
//                        separator, a key that occurred; scores the value after it.
//   sparse_memory        x_t = (x_{t-T1} + ... + x_{t-TM}) mod S for every t >= max lag,
//                        random before; lags data.lags; scores every t >= max lag (Wang & E 2024).
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
#include <random>
#include <string>
#include <vector>

namespace pebench {

struct TaskSpec {
  std::string name;                     // copy | associative_recall | sparse_memory | anchor_composite
  int64_t symbols = 16;                 // alphabet of copy, associative_recall, sparse_memory
  std::vector<int64_t> lags{3, 17, 40}; // sparse_memory
  int64_t vocab_size() const;
  int64_t shortest_length() const;      // the least L with a scored position
};

// The task names, for messages: "copy | associative_recall | ...".
const std::vector<std::string>& task_names();

enum class TaskSplit { train, test };
// anchor_composite only: which pairs a batch holds.
enum class AnchorPairs { seen, held_out };

struct TaskBatch {
  torch::Tensor tokens;  // [B, L + 1] int64
  torch::Tensor scored;  // [B, L] bool: target positions the task scores
  // anchor_composite: the key item and the anchors of each sequence.
  std::vector<int64_t> key_item, first_anchor, second_anchor, key_position;
};

TaskBatch generate_task(const TaskSpec& task, int64_t batch, int64_t length, std::mt19937_64& generator,
                        TaskSplit split = TaskSplit::train, AnchorPairs pairs = AnchorPairs::seen);

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
