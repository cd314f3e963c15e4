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

bool all_ok(MPI_Comm comm, bool ok) {
  int local = ok ? 1 : 0, global = 0;
  MPI_Allreduce(&local, &global, 1, MPI_INT, MPI_MIN, comm);
  return global == 1;
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
                      const std::function<void(const RunReport&)>& on_finished) {
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  MPI_Comm requests;  // its own communicator: the server thread never meets HDF5's traffic
  MPI_Comm_dup(comm, &requests);

  std::mutex mutex;
  size_t next = 0;
  auto take = [&]() -> int64_t {
    std::lock_guard<std::mutex> lock(mutex);
    return next < order.size() ? order[next++] : -1;
  };
  auto report = [&](const RunReport& finished) {
    std::lock_guard<std::mutex> lock(mutex);
    on_finished(finished);
  };

  std::thread server;
  if (rank == 0 && size > 1) {
    server = std::thread([&] {
      int open_workers = size - 1;
      while (open_workers > 0) {
        double message[6];
        MPI_Request request;
        MPI_Status status;
        MPI_Irecv(message, 6, MPI_DOUBLE, MPI_ANY_SOURCE, kRequestTag, requests, &request);
        wait_gently(request, &status);
        if (message[0] >= 0)
          report({static_cast<int64_t>(message[0]), static_cast<int>(message[1]), message[2], message[3],
                  message[4], static_cast<int>(message[5])});
        int64_t index = take();
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
      double message[6] = {static_cast<double>(finished.index), static_cast<double>(finished.status),
                           finished.ppl_train, finished.ppl_longest, finished.seconds,
                           static_cast<double>(finished.rank)};
      MPI_Request request;
      MPI_Isend(message, 6, MPI_DOUBLE, 0, kRequestTag, requests, &request);
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
