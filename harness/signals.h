// Graceful stops (DESIGN.md §6): SIGTERM, SIGUSR1 (what SLURM sends before walltime or
// preemption) and SIGINT set a flag; training checks it at every step boundary and
// evaluation between batches, so a rank checkpoints its run and the job exits 3.
#pragma once
#include <stdexcept>

namespace pebench {

void install_stop_signals();
bool stop_requested();
int stop_signal();  // the signal that asked to stop, 0 if none

// Thrown where work stops early for a stop signal; the run is left pending.
struct Interrupted : std::runtime_error {
  Interrupted() : std::runtime_error("interrupted by a stop signal") {}
};

}  // namespace pebench
