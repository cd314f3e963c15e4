// `pebench run STUDY`: validate, lay out the store, schedule runs over MPI ranks, train,
// evaluate, write, and print the comparison table.
#pragma once

namespace pebench {

// Exit codes: 0 done, 1 a run failed, 2 bad input (nothing written), 3 stopped by a signal.
int run_command(int argc, char** argv);

}  // namespace pebench
