// MPI: the only place it is called. Runs are handed out dynamically, largest estimated
// cost first: rank 0 serves run indices from a thread (polling, so it takes no core),
// every rank, rank 0 included, trains what it is handed.
#pragma once
#include <mpi.h>

#include <functional>
#include <string>
#include <vector>

namespace pebench {

class MpiSession {
 public:
  MpiSession(int& argc, char**& argv);
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

  int rank = 0, size = 1;
  int local_rank = 0, local_size = 1;  // ranks sharing this node
  MPI_Comm comm = MPI_COMM_WORLD;
  std::string host;
};

// A barrier that sleeps while it waits, so idle ranks leave their cores to busy ones.
void gentle_barrier(MPI_Comm comm);
// The largest `value` of any rank, on every rank.
int max_over_ranks(MPI_Comm comm, int value);
// Element-wise largest of every rank's `values` (same size on every rank), on every rank.
std::vector<double> max_over_ranks(MPI_Comm comm, std::vector<double> values);
// The first non-empty message of any rank (by rank order), on every rank.
std::string first_message(MPI_Comm comm, const std::string& message);

struct RunReport {
  int64_t index = -1;
  int status = 0;  // 0 done, 1 diverged, 2 failed, 3 interrupted (checkpointed, pending)
  double ppl_train = 0, ppl_longest = 0, seconds = 0;
  int rank = 0;
};

// Runs every index of `order` once over all ranks. `work` runs on the rank that was
// handed the index; `on_finished` runs on rank 0 for every finished run, any rank's.
// A rank whose `stop` turns true takes no more runs; once any rank reports an
// interrupted run (status 3) or rank 0 stops, no rank is handed another.
void schedule_dynamic(MPI_Comm comm, const std::vector<int64_t>& order,
                      const std::function<RunReport(int64_t)>& work,
                      const std::function<void(const RunReport&)>& on_finished,
                      const std::function<bool()>& stop);

}  // namespace pebench
