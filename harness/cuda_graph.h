// One training step as a CUDA graph (train.cuda_graph = auto, issue 18): captured once its
// shapes and caches are settled, then replayed every step, so a small model's step costs
// one graph launch instead of hundreds of kernel launches, each a few microseconds of host
// time (the d128 two-layer step: ~300 launches; torch.compile with CUDA graphs ran it 2.4x
// faster than eager PyTorch on the H200, ../shared/gpu/README.md).
//
// A captured step replays exactly the kernels and addresses it recorded: its inputs live in
// fixed tensors (copied into before each replay), its learning rate and Adam step counts in
// tensors on the device (MultiTensorAdamW::keep_counts_on_device), and nothing in it may
// depend on a host value that changes between steps. train.cpp decides which runs qualify.
//
// The CUDA calls live in cuda_graph.cpp, compiled in where LibTorch has CUDA and the CUDA
// runtime's headers are found; elsewhere compiled() is false and the constructor throws.
#pragma once
#include <functional>
#include <memory>

#include <torch/types.h>

namespace pebench {

class CudaStepGraph {
 public:
  // Whether this build can capture (LibTorch with CUDA, CUDA headers at build time).
  static bool compiled();
  // Moves `device`'s current stream to a side stream, behind the work queued so far (a
  // capture needs a stream other than the default one; warm-up steps run there too).
  explicit CudaStepGraph(torch::Device device);
  // Back to the previous stream, which waits for what the side stream queued.
  ~CudaStepGraph();
  CudaStepGraph(const CudaStepGraph&) = delete;
  CudaStepGraph& operator=(const CudaStepGraph&) = delete;

  // Records the kernels `step` launches, without running them; call replay() to run them.
  void capture(const std::function<void()>& step);
  bool captured() const;
  void replay();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace pebench
