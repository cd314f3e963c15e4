// One run, start to finish, on one process: train (or continue from its checkpoint),
// evaluate at every length and variant, analyse, and hand the results to a RunWriter,
// status last. Knows no MPI: the study loop (run_command.cpp) schedules it, tests call it.
#pragma once
#include <functional>
#include <string>

#include "harness/data.h"
#include "harness/scheduler.h"
#include "harness/study.h"
#include "results/store.h"

namespace pebench {

struct RunEnvironment {
  torch::Device device = torch::kCPU;
  std::string attention = "auto";  // TransformerLMOptions::attention (--attention)
  std::string checkpoint_folder;   // STORE.ckpt: RUN_ID.pt while a run trains
  bool keep_checkpoints = false;   // keep RUN_ID.pt after the run is done
  int rank = 0;                    // recorded in the run's summary
  std::string host;
  std::function<void(const std::string&)> progress;  // training log lines; may be empty
};

// Status in the report: 0 done, 1 diverged, 2 failed (message on stderr), 3 stopped by a
// signal (left pending with a checkpoint).
RunReport run_one(const RunConfig& run, const Corpus& corpus, const RunEnvironment& environment, RunWriter& writer);

}  // namespace pebench
