// Fault injection for the torture test (tests/harness/torture_test.sh): with
// PEBENCH_FAULT_AT=NAME:N in the environment, the N-th time this process reaches
// fault_point("NAME") it kills itself with SIGKILL; PEBENCH_FAULT_RANK=R limits that to
// MPI rank R. Costs one getenv per call otherwise; never set in normal use.
#pragma once
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace pebench {

inline void fault_point(const char* name) {
  static const char* spec = std::getenv("PEBENCH_FAULT_AT");
  if (!spec) return;
  static int reached = 0;
  const std::string text(spec);
  const auto colon = text.find(':');
  if (text.substr(0, colon) != name) return;
  const char* rank = std::getenv("PEBENCH_FAULT_RANK");
  const char* my_rank = std::getenv("OMPI_COMM_WORLD_RANK");
  if (rank && std::string(rank) != (my_rank ? my_rank : "0")) return;
  const int nth = colon == std::string::npos ? 1 : std::atoi(text.c_str() + colon + 1);
  if (++reached == nth) kill(getpid(), SIGKILL);
}

}  // namespace pebench
