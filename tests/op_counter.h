// Counting the ATen ops a piece of code calls, through RecordFunction (the profiler's
// hook: every dispatched op, on any device, in LibTorch 1.13 and 2.x alike).
#pragma once
#include <ATen/record_function.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

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

// Ops that launch no kernel of their own: views and metadata, allocation, conversions
// that are no-ops when nothing changes, and what only reads a value. An op counts only
// where it does work: if its own callees did any, they are counted instead.
inline const std::set<std::string>& no_kernel_ops() {
  // bench/reference_train.py reads this list from here: keep it one op name per string.
  static const std::set<std::string> ops = {
      "aten::view", "aten::reshape", "aten::_reshape_alias", "aten::as_strided", "aten::t", "aten::transpose",
      "aten::permute", "aten::expand", "aten::expand_as", "aten::select", "aten::slice", "aten::narrow",
      "aten::unsqueeze", "aten::squeeze", "aten::unbind", "aten::split", "aten::alias", "aten::_unsafe_view",
      "aten::numpy_T", "aten::detach", "aten::detach_", "aten::lift_fresh", "aten::set_", "aten::empty",
      "aten::empty_strided", "aten::empty_like", "aten::resize_", "aten::result_type", "aten::to", "aten::_to_copy",
      "aten::contiguous", "aten::resolve_conj", "aten::resolve_neg", "aten::_has_compatible_shallow_copy_type",
      "aten::is_nonzero", "aten::item", "aten::_local_scalar_dense"};
  return ops;
}

// The kernel ops `body` dispatches on this thread, by name: the ATen ops that do work
// themselves (none of their callees does), with a multi-tensor op (_foreach_*, _fused_*)
// counted once however many tensors it takes, as on CUDA it launches one kernel per list
// chunk (a few). On the CPU, where the dispatcher sees what a CUDA run would launch, this
// approximates the kernels a step launches there (a CPU addmm calls BLAS directly; a
// CUDA one may be a copy and a GEMM: 1 op counted for 1 or 2 launches).
inline std::map<std::string, int64_t> count_kernel_ops(const std::function<void()>& body) {
  struct Call {
    std::string name;
    std::map<std::string, int64_t> kernels;  // counted in its callees so far
  };
  // Ops in progress, per thread: on CUDA the backward runs on autograd's device thread,
  // which inherits the callback, while the calling thread may run CPU nodes of the graph.
  // A thread's outermost op adds its count to the total.
  struct Total {
    std::mutex mutex;
    std::map<std::string, int64_t> kernels;
  };
  static Total* total = nullptr;  // one body at a time
  static thread_local std::vector<Call> in_progress;
  Total counted;
  total = &counted;
  auto handle = at::addThreadLocalCallback(at::RecordFunctionCallback(
      [](const at::RecordFunction& function) -> std::unique_ptr<at::ObserverContext> {
        in_progress.push_back({function.name(), {}});
        return nullptr;
      },
      [](const at::RecordFunction&, at::ObserverContext*) {
        Call call = std::move(in_progress.back());
        in_progress.pop_back();
        const std::string& name = call.name;
        const bool multi_tensor = name.rfind("aten::_foreach_", 0) == 0 || name.rfind("aten::_fused_", 0) == 0;
        if (multi_tensor || (call.kernels.empty() && name.rfind("aten::", 0) == 0 && !no_kernel_ops().count(name)))
          call.kernels = {{name, 1}};
        if (!in_progress.empty()) {
          for (const auto& [kernel, count] : call.kernels) in_progress.back().kernels[kernel] += count;
          return;
        }
        std::lock_guard<std::mutex> lock(total->mutex);
        for (const auto& [kernel, count] : call.kernels) total->kernels[kernel] += count;
      }));
  body();
  at::removeCallback(handle);
  total = nullptr;
  return counted.kernels;
}

}  // namespace pebench
