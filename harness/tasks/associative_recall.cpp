// synthetic:associative_recall: key-value pairs (a key keeps one value within a
// sequence), a separator, a key that occurred; scores the value after it.
#include "harness/tasks.h"

namespace pebench {

TaskInfo associative_recall_task() {
  TaskInfo info;
  info.name = "associative_recall";
  info.summary = "key-value pairs, a separator, a key that occurred; scores its value";
  info.vocab_size = [](const TaskSpec& task) { return 2 * task.symbols + 2; };  // keys, values, separator, pad
  info.shortest_length = [](const TaskSpec&) { return int64_t{4}; };
  info.generate = [](const TaskSpec& task, int64_t length, std::mt19937_64& generator, TaskSplit, AnchorPairs,
                     TaskSequence out) {
    const int64_t separator = 2 * task.symbols, pad = 2 * task.symbols + 1;
    const int64_t pairs = (length - 2) / 2, padding = length - 2 - 2 * pairs;
    std::map<int64_t, int64_t> value_of;
    std::vector<int64_t> keys;
    for (int64_t t = 0; t < padding; ++t) out.window[t] = pad;
    for (int64_t i = 0; i < pairs; ++i) {
      const int64_t key = uniform_int(generator, 0, task.symbols - 1);
      if (!value_of.count(key)) value_of[key] = task.symbols + uniform_int(generator, 0, task.symbols - 1);
      out.window[padding + 2 * i] = key;
      out.window[padding + 2 * i + 1] = value_of[key];
      keys.push_back(key);
    }
    const int64_t query = keys[static_cast<size_t>(uniform_int(generator, 0, pairs - 1))];
    out.window[length - 2] = separator;
    out.window[length - 1] = query;
    out.window[length] = value_of[query];
    out.scored[length - 1] = true;
  };
  return info;
}

}  // namespace pebench
