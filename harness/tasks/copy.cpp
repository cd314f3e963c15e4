// synthetic:copy: k random symbols, a separator, the same k symbols again, pads after;
// scores the copy only (Kazemnejad et al. 2023; Ruoss et al. 2023). In a window of n
// inputs k is at most n/2. Training draws k uniform in 1..n/2 for each sequence, as
// McGill-NLP/length-generalization trains on a range of copy lengths, so the copy's offset
// (k + 1) varies and cannot be learnt as a fixed shift; eval always uses k = n/2, so past
// the train length every scored copy is longer than any trained one (McGill's test split
// is the lengths above the trained ones). data.copy_lengths = longest trains on k = n/2
// only, pads first: pebench 0.1's task, kept to show the artefact. Measured with it (no
// start token): RoPE, xPos and T5 scored 1.000 at 64 and chance at 128, because the
// offset was fixed at 33.
#include "harness/tasks.h"

namespace pebench {

TaskInfo copy_task() {
  TaskInfo info;
  info.name = "copy";
  info.summary = "k random symbols, a separator, the same k again; k varies in training, the longest at eval; scores the copy";
  info.vocab_size = [](const TaskSpec& task) { return task.symbols + 2; };  // + separator, pad
  info.shortest_length = [](const TaskSpec&) { return int64_t{2}; };
  info.generate = [](const TaskSpec& task, int64_t length, std::mt19937_64& generator, TaskSplit split, AnchorPairs,
                     TaskSequence out) {
    const int64_t separator = task.symbols, pad = task.symbols + 1;
    const int64_t longest = length / 2;
    const bool varied = task.copy_lengths == "varied";
    const int64_t copy = varied && split == TaskSplit::train ? uniform_int(generator, 1, longest) : longest;
    // varied: pads after the copy, never scored; longest: pads first (pebench 0.1).
    const int64_t padding = length - 2 * copy, first = varied ? 0 : padding;
    for (int64_t t = 0; t <= length; ++t) out.window[t] = pad;
    for (int64_t i = 0; i < copy; ++i) {
      out.window[first + i] = uniform_int(generator, 0, task.symbols - 1);
      out.window[first + copy + 1 + i] = out.window[first + i];
    }
    out.window[first + copy] = separator;
    // Target t + 1 is a copy for first + copy < t + 1 <= first + 2 copy.
    for (int64_t t = first + copy; t < first + 2 * copy; ++t) out.scored[t] = true;
  };
  return info;
}

}  // namespace pebench
