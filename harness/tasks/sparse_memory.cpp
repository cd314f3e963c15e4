// synthetic:sparse_memory: x_t = (x_{t-T1} + ... + x_{t-TM}) mod S for every t >= the
// largest lag, random before; lags data.lags; scores every t >= the largest lag
// (after Wang & E 2024).
#include <algorithm>

#include "harness/tasks.h"

namespace pebench {

TaskInfo sparse_memory_task() {
  TaskInfo info;
  info.name = "sparse_memory";
  info.summary = "x_t = sum of x_{t-lag} mod symbols over data.lags; scores every t >= the largest lag";
  info.vocab_size = [](const TaskSpec& task) { return task.symbols; };
  info.shortest_length = [](const TaskSpec& task) { return *std::max_element(task.lags.begin(), task.lags.end()); };
  info.check = [](const TaskSpec& task, int64_t train_length) -> std::pair<std::string, std::string> {
    if (train_length < task.shortest_length())
      return {"data.lags", "the largest lag must be at most train.seq_len = " + std::to_string(train_length) +
                               (task.start_token ? " - 1 (the start token)" : "") + ", or no position is scored"};
    return {};
  };
  info.generate = [](const TaskSpec& task, int64_t length, std::mt19937_64& generator, TaskSplit, AnchorPairs,
                     TaskSequence out) {
    const int64_t first = *std::max_element(task.lags.begin(), task.lags.end());
    for (int64_t t = 0; t <= length; ++t) {
      if (t < first) {
        out.window[t] = uniform_int(generator, 0, task.symbols - 1);
        continue;
      }
      int64_t sum = 0;
      for (int64_t lag : task.lags) sum += out.window[t - lag];
      out.window[t] = sum % task.symbols;
      out.scored[t - 1] = true;
    }
  };
  return info;
}

}  // namespace pebench
