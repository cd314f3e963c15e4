// synthetic:copy: S random symbols, a separator, the same symbols again; scores the copy
// (Kazemnejad et al. 2023; Ruoss et al. 2023). Odd lengths start with one pad token.
#include "harness/tasks.h"

namespace pebench {

TaskInfo copy_task() {
  TaskInfo info;
  info.name = "copy";
  info.summary = "S random symbols, a separator, the same S symbols again; scores the copy";
  info.vocab_size = [](const TaskSpec& task) { return task.symbols + 2; };  // + separator, pad
  info.shortest_length = [](const TaskSpec&) { return int64_t{2}; };
  info.generate = [](const TaskSpec& task, int64_t length, std::mt19937_64& generator, TaskSplit, AnchorPairs,
                     TaskSequence out) {
    const int64_t separator = task.symbols, pad = task.symbols + 1;
    const int64_t half = length / 2, padding = length - 2 * half;
    for (int64_t t = 0; t < padding; ++t) out.window[t] = pad;
    for (int64_t i = 0; i < half; ++i) {
      out.window[padding + i] = uniform_int(generator, 0, task.symbols - 1);
      out.window[padding + half + 1 + i] = out.window[padding + i];
    }
    out.window[padding + half] = separator;
    // Target t + 1 is a copy for t + 1 > padding + half.
    for (int64_t t = padding + half; t < length; ++t) out.scored[t] = true;
  };
  return info;
}

}  // namespace pebench
