// pebench: a distributed benchmark harness for length extrapolation of positional
// encodings. The subcommands and their flags live in harness/cli.cpp.
#include <malloc.h>

#include <cstring>

#include "harness/cli.h"
#include "harness/signals.h"

int main(int argc, char** argv) {
  // LibTorch's CPU allocator keeps no cache: with glibc's defaults every large
  // activation buffer is unmapped and faulted in again each step. Keeping freed memory
  // mapped made training 17-29% and long-length eval 2.2x faster (DESIGN.md §7).
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  // A stop signal during start-up or layout must not kill a run uncheckpointed (exit 138):
  // `run` takes SIGTERM, SIGUSR1 and SIGINT from here on, and stops at its first chance.
  if (argc > 1 && std::strcmp(argv[1], "run") == 0) pebench::install_stop_signals();
  return pebench::run_cli(argc, argv);
}
