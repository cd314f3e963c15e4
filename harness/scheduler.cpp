#include "harness/scheduler.h"

#include <unistd.h>

#include <chrono>
#include <mutex>
#include <thread>

namespace pebench {
namespace {

constexpr int kRequestTag = 11, kReplyTag = 12;
constexpr auto kPoll = std::chrono::milliseconds(5);

void wait_gently(MPI_Request& request, MPI_Status* status = MPI_STATUS_IGNORE) {
  int done = 0;
  MPI_Test(&request, &done, status);
  while (!done) {
    std::this_thread::sleep_for(kPoll);
    MPI_Test(&request, &done, status);
  }
}

}  // namespace

MpiSession::MpiSession(int& argc, char**& argv) {
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
  MPI_Comm_dup(MPI_COMM_WORLD, &comm);
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  if (size > 1 && provided < MPI_THREAD_MULTIPLE) {
    if (rank == 0) fprintf(stderr, "pebench: this MPI library lacks MPI_THREAD_MULTIPLE, needed by the scheduler\n");
    MPI_Abort(comm, 1);
  }
  MPI_Comm local;
  MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &local);
  MPI_Comm_rank(local, &local_rank);
  MPI_Comm_size(local, &local_size);
  MPI_Comm_free(&local);
  char name[MPI_MAX_PROCESSOR_NAME];
  int length = 0;
  MPI_Get_processor_name(name, &length);
  host.assign(name, length);
}

MpiSession::~MpiSession() {
  MPI_Comm_free(&comm);
  MPI_Finalize();
}

void gentle_barrier(MPI_Comm comm) {
  MPI_Request request;
  MPI_Ibarrier(comm, &request);
  wait_gently(request);
}

std::vector<double> max_over_ranks(MPI_Comm comm, std::vector<double> values) {
  MPI_Allreduce(MPI_IN_PLACE, values.data(), static_cast<int>(values.size()), MPI_DOUBLE, MPI_MAX, comm);
  return values;
}

int max_over_ranks(MPI_Comm comm, int value) {
  int global = 0;
  MPI_Allreduce(&value, &global, 1, MPI_INT, MPI_MAX, comm);
  return global;
}

std::string first_message(MPI_Comm comm, const std::string& message) {
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  int mine = message.empty() ? size : rank, first = size;
  MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm);
  if (first == size) return "";
  int length = static_cast<int>(message.size());
  MPI_Bcast(&length, 1, MPI_INT, first, comm);
  std::string out = rank == first ? message : std::string(length, '\0');
  MPI_Bcast(out.data(), length, MPI_CHAR, first, comm);
  return out;
}

void schedule_dynamic(MPI_Comm comm, const std::vector<int64_t>& order,
                      const std::function<RunReport(int64_t)>& work,
                      const std::function<void(const RunReport&)>& on_finished,
                      const std::function<bool()>& stop) {
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  MPI_Comm requests;  // its own communicator: the server thread never meets HDF5's traffic
  MPI_Comm_dup(comm, &requests);

  std::mutex mutex;
  size_t next = 0;
  bool stopping = false;  // an interrupted run anywhere, or a stop on rank 0
  auto take = [&]() -> int64_t {
    std::lock_guard<std::mutex> lock(mutex);
    if (stopping || stop()) return -1;
    return next < order.size() ? order[next++] : -1;
  };
  auto report = [&](const RunReport& finished) {
    std::lock_guard<std::mutex> lock(mutex);
    if (finished.status == 3) stopping = true;
    on_finished(finished);
  };

  std::thread server;
  if (rank == 0 && size > 1) {
    server = std::thread([&] {
      int open_workers = size - 1;
      while (open_workers > 0) {
        double message[7];
        MPI_Request request;
        MPI_Status status;
        MPI_Irecv(message, 7, MPI_DOUBLE, MPI_ANY_SOURCE, kRequestTag, requests, &request);
        wait_gently(request, &status);
        if (message[0] >= 0)
          report({static_cast<int64_t>(message[0]), static_cast<int>(message[1]), message[2], message[3],
                  message[4], static_cast<int>(message[5])});
        const bool worker_stops = message[6] != 0;
        int64_t index = worker_stops ? -1 : take();
        if (index < 0) --open_workers;
        MPI_Send(&index, 1, MPI_INT64_T, status.MPI_SOURCE, kReplyTag, requests);
      }
    });
  }

  RunReport finished;
  while (true) {
    int64_t index = -1;
    if (rank == 0) {
      if (finished.index >= 0) report(finished);
      index = take();
    } else {
      double message[7] = {static_cast<double>(finished.index), static_cast<double>(finished.status),
                           finished.ppl_train, finished.ppl_longest, finished.seconds,
                           static_cast<double>(finished.rank), stop() ? 1.0 : 0.0};
      MPI_Request request;
      MPI_Isend(message, 7, MPI_DOUBLE, 0, kRequestTag, requests, &request);
      wait_gently(request);
      MPI_Irecv(&index, 1, MPI_INT64_T, 0, kReplyTag, requests, &request);
      wait_gently(request);
    }
    if (index < 0) break;
    finished = work(index);
    finished.index = index;
    finished.rank = rank;
  }
  if (server.joinable()) server.join();
  MPI_Comm_free(&requests);
}

}  // namespace pebench
