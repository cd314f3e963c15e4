// synthetic:anchor_composite (Zhang et al. 2024): items 20..99 and anchors 1..4 (x+5,
// x+1, x-2, x-8); one key item followed by one adjacent anchor pair among item noise; the
// target after the last input is g(g(x; a1); a2), except pair (3,4), trained on x-6, and
// pair (4,3), never trained. A sequence of n tokens is in the test split iff x mod (n-2)
// equals the key's position. Scores the last position; on the held-out pair (4,3) it also
// stores the share answering x-10 (inferential) and x-6 (symmetric).
#include "harness/tasks.h"

namespace pebench {
namespace {

constexpr int64_t kFirstItem = 20, kLastItem = 99, kAnchors = 4;
const char* const kInferentialAccuracy = "eval/anchor/inferential_accuracy";
const char* const kSymmetricAccuracy = "eval/anchor/symmetric_accuracy";

void anchor_sequence(int64_t length, std::mt19937_64& generator, TaskSplit split, AnchorPairs pairs, TaskSequence out) {
  const int64_t x = uniform_int(generator, kFirstItem, kLastItem);
  const int64_t positions = length - 2;  // the key at p, its anchors at p + 1 and p + 2 < length
  int64_t position = x % positions;
  if (split == TaskSplit::train) {  // any position but the test one
    position = uniform_int(generator, 0, positions - 2);
    if (position >= x % positions) ++position;
  }
  int64_t a1 = 4, a2 = 3;
  if (pairs == AnchorPairs::seen)
    do {
      a1 = uniform_int(generator, 1, kAnchors);
      a2 = uniform_int(generator, 1, kAnchors);
    } while (a1 == 4 && a2 == 3);
  for (int64_t t = 0; t < length; ++t) out.window[t] = uniform_int(generator, kFirstItem, kLastItem);
  out.window[position] = x;
  out.window[position + 1] = a1;
  out.window[position + 2] = a2;
  out.window[length] = anchor_target(x, a1, a2);
  out.scored[length - 1] = true;
  out.batch.key_item.push_back(x);
  out.batch.first_anchor.push_back(a1);
  out.batch.second_anchor.push_back(a2);
  out.batch.key_position.push_back(position);
}

}  // namespace

int64_t anchor_shift(int64_t anchor) {
  static const int64_t shifts[] = {5, 1, -2, -8};
  return shifts[anchor - 1];
}

int64_t anchor_target(int64_t key_item, int64_t first_anchor, int64_t second_anchor) {
  if (first_anchor == 3 && second_anchor == 4) return key_item - 6;  // the non-inferential map
  return key_item + anchor_shift(first_anchor) + anchor_shift(second_anchor);
}

TaskInfo anchor_composite_task() {
  TaskInfo info;
  info.name = "anchor_composite";
  info.summary = "a key item and an anchor pair among noise; target g(g(x; a1); a2); pair (4,3) held out";
  info.vocab_size = [](const TaskSpec&) { return int64_t{128}; };  // targets reach 99 + 10
  info.shortest_length = [](const TaskSpec&) { return int64_t{4}; };  // a key position for each split
  info.generate = [](const TaskSpec&, int64_t length, std::mt19937_64& generator, TaskSplit split, AnchorPairs pairs,
                     TaskSequence out) { anchor_sequence(length, generator, split, pairs, out); };
  info.extra_metrics = {kInferentialAccuracy, kSymmetricAccuracy};
  // As many held-out-pair sequences as scored ones, answered at the last position.
  info.score_extra = [](const TaskSpec& task, int64_t length, int64_t n, std::mt19937_64& generator,
                        const TaskPredictor& predict, TaskMetricSums& sums) {
    const TaskBatch pair = generate_task(task, n, length, generator, TaskSplit::test, AnchorPairs::held_out);
    const auto answer = predict(pair.tokens.slice(1, 0, length)).select(1, length - 1);
    auto& inferential = sums[kInferentialAccuracy];
    auto& symmetric = sums[kSymmetricAccuracy];
    for (int64_t i = 0; i < n; ++i) {
      const int64_t predicted = answer[i].item<int64_t>(), x = pair.key_item[static_cast<size_t>(i)];
      inferential.first += predicted == x - 10;
      symmetric.first += predicted == x - 6;
    }
    inferential.second += static_cast<double>(n);
    symmetric.second += static_cast<double>(n);
  };
  return info;
}

}  // namespace pebench
