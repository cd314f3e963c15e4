// The task registry: name → generator, vocabulary, checks and extra metrics.
#include "harness/tasks.h"

// Adding a task: one file in harness/tasks/ defining `TaskInfo NAME_task()`, and its
// name in this list.
#define PEBENCH_TASKS(X) \
  X(copy)                \
  X(associative_recall)  \
  X(sparse_memory)       \
  X(anchor_composite)

namespace pebench {

#define PEBENCH_DECLARE(name) TaskInfo name##_task();
PEBENCH_TASKS(PEBENCH_DECLARE)
#undef PEBENCH_DECLARE

const std::vector<TaskInfo>& task_registry() {
#define PEBENCH_LIST(name) name##_task(),
  static const std::vector<TaskInfo> registry{PEBENCH_TASKS(PEBENCH_LIST)};
#undef PEBENCH_LIST
  return registry;
}

}  // namespace pebench
