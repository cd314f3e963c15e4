#include "harness/signals.h"

#include <csignal>

namespace pebench {
namespace {

volatile std::sig_atomic_t received = 0;

void on_stop_signal(int signal) { received = signal; }

}  // namespace

void install_stop_signals() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;  // blocking calls (MPI polling, file IO) carry on
  for (int signal : {SIGTERM, SIGUSR1, SIGINT}) sigaction(signal, &action, nullptr);
}

bool stop_requested() { return received != 0; }
int stop_signal() { return received; }

}  // namespace pebench
