// Counting the ATen ops a piece of code calls, through RecordFunction (the profiler's
// hook: every dispatched op, on any device, in LibTorch 1.13 and 2.x alike).
#pragma once
#include <ATen/record_function.h>

#include <functional>
#include <map>
#include <set>
#include <string>

namespace pebench {

// Calls of each op in `names` made by `body` on this thread.
inline std::map<std::string, int64_t> count_ops(const std::set<std::string>& names, const std::function<void()>& body) {
  // RecordFunction takes a plain function pointer: the state lives in thread-locals.
  static thread_local const std::set<std::string>* watched = nullptr;
  static thread_local std::map<std::string, int64_t>* counts = nullptr;
  std::map<std::string, int64_t> seen;
  watched = &names;
  counts = &seen;
  auto handle = at::addThreadLocalCallback(at::RecordFunctionCallback([](const at::RecordFunction& function) {
    const std::string name = function.name();
    if (watched->count(name)) ++(*counts)[name];
    return std::unique_ptr<at::ObserverContext>();
  }));
  body();
  at::removeCallback(handle);
  watched = nullptr;
  counts = nullptr;
  return seen;
}

// The ops that make the host wait for the device on CUDA: reading a value (item(),
// a tensor in an `if`, equal, allclose) or sizing an output by the data (nonzero and what
// calls it: boolean indexing, masked_select, unique). On the CPU they cost nothing, but a
// test there counting them shows where a CUDA run would stall. Copies to the host are
// the one sync this cannot see (on the CPU a .to(kCPU) is no copy): the code keeps those
// at log points and per eval length, by review.
inline const std::set<std::string>& host_sync_ops() {
  static const std::set<std::string> ops = {"aten::_local_scalar_dense", "aten::equal", "aten::allclose",
                                            "aten::is_nonzero", "aten::nonzero", "aten::masked_select",
                                            "aten::_unique2", "aten::unique_consecutive", "aten::unique_dim"};
  return ops;
}

// Total host-syncing ops called by `body`, and which (for a failure message).
struct HostSyncs {
  int64_t total = 0;
  std::string which;
};
inline HostSyncs count_host_syncs(const std::function<void()>& body) {
  HostSyncs syncs;
  for (const auto& [name, calls] : count_ops(host_sync_ops(), body)) {
    syncs.total += calls;
    syncs.which += name + " x" + std::to_string(calls) + " ";
  }
  return syncs;
}

}  // namespace pebench
