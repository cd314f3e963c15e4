// synthetic:sparse_memory (Wang & E 2024, "Understanding the Expressive Power and
// Mechanisms of Transformer for Sequence Modeling", arXiv 2402.00522: an input sequence
// mapped to a separate output sequence with fixed, long but sparse memory): inputs x_t
// uniform on 0..S-1, and the target at input position t is
//   y_t = x_{t-T1} + ... + x_{t-TM}     (T_m = data.lags, scored for t >= max lag),
// a readout that each lag informs on its own. pebench before issue 17 made the sequence
// its own target, x_t = (x_{t-T1} + x_{t-T2}) mod S, where no single lag carries any
// information about the target (the sum mod S is uniform given either term), and most
// encodings sat at chance. The readout here is pebench's choice; the paper's targets are
// a nonlinear function of the same lagged inputs.
#include <algorithm>

#include "harness/tasks.h"

namespace pebench {

TaskInfo sparse_memory_task() {
  TaskInfo info;
  info.name = "sparse_memory";
  info.summary = "inputs random; target y_t = sum of x_{t-lag} over data.lags; scores every t >= the largest lag";
  // Inputs 0..S-1, targets 0..M(S-1).
  info.vocab_size = [](const TaskSpec& task) {
    return std::max(task.symbols, static_cast<int64_t>(task.lags.size()) * (task.symbols - 1) + 1);
  };
  info.shortest_length = [](const TaskSpec& task) { return *std::max_element(task.lags.begin(), task.lags.end()) + 1; };
  info.check = [](const TaskSpec& task, int64_t train_length) -> std::pair<std::string, std::string> {
    if (train_length < task.shortest_length())
      return {"data.lags", "the largest lag must be below train.seq_len = " + std::to_string(train_length) +
                               (task.start_token ? " - 1 (the start token)" : "") + ", or no position is scored"};
    return {};
  };
  info.generate = [](const TaskSpec& task, int64_t length, std::mt19937_64& generator, TaskSplit, AnchorPairs,
                     TaskSequence out) {
    const int64_t first = *std::max_element(task.lags.begin(), task.lags.end());
    for (int64_t t = 0; t <= length; ++t) out.window[t] = uniform_int(generator, 0, task.symbols - 1);
    for (int64_t t = first; t < length; ++t) {
      int64_t sum = 0;
      for (int64_t lag : task.lags) sum += out.window[t - lag];
      out.target[t] = sum;
      out.scored[t] = true;
    }
  };
  return info;
}

}  // namespace pebench
