// CudaStepGraph (cuda_graph.h): torch's CUDAGraph on a side stream. The CUDA headers come
// with a CUDA build of LibTorch plus the CUDA runtime's headers: CMakeLists.txt defines
// PEBENCH_CUDA_GRAPHS where it finds both; a plain g++ build (the lent GPU machine's
// device_build.sh) finds them when the runtime's include folder is on CPATH, and a LibTorch
// without CUDA (Debian's) never has cuda_cmake_macros.h.
#include "harness/cuda_graph.h"

#include <stdexcept>
#include <string>

#if !defined(PEBENCH_CUDA_GRAPHS) && __has_include(<c10/cuda/impl/cuda_cmake_macros.h>) && \
    __has_include(<cuda_runtime_api.h>) && __has_include(<ATen/cuda/CUDAGraph.h>)
#define PEBENCH_CUDA_GRAPHS 1
#endif

#if PEBENCH_CUDA_GRAPHS
#include <ATen/cuda/CUDAGraph.h>
#include <c10/core/Event.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace pebench {

#if PEBENCH_CUDA_GRAPHS

namespace {
// `waiter` runs nothing queued after this call before `done` has run what it has queued.
// Through c10's device-generic event, so that no CUDA runtime symbol is called from here:
// the lent machine's build links torch's libraries, not libcudart.
void wait_for(const c10::cuda::CUDAStream& waiter, const c10::cuda::CUDAStream& done) {
  c10::Event event(c10::DeviceType::CUDA);
  event.record(done.unwrap());
  event.block(waiter.unwrap());
}
}  // namespace

struct CudaStepGraph::State {
  c10::cuda::CUDAStream previous, side;
  at::cuda::CUDAGraph graph;
  bool captured = false;
  State(c10::cuda::CUDAStream previous_stream, c10::cuda::CUDAStream side_stream)
      : previous(previous_stream), side(side_stream) {}
};

bool CudaStepGraph::compiled() { return true; }

CudaStepGraph::CudaStepGraph(torch::Device device) {
  if (!device.is_cuda()) throw std::logic_error("CudaStepGraph: device " + device.str() + " is not CUDA");
  const auto index = device.has_index() ? device.index() : c10::cuda::current_device();
  const auto previous = c10::cuda::getCurrentCUDAStream(index);
  const auto side = c10::cuda::getStreamFromPool(/*isHighPriority=*/false, index);
  wait_for(side, previous);
  state_ = std::make_unique<State>(previous, side);
  c10::cuda::setCurrentCUDAStream(side);
}

CudaStepGraph::~CudaStepGraph() {
  c10::cuda::setCurrentCUDAStream(state_->previous);
  try {
    wait_for(state_->previous, state_->side);
  } catch (...) {  // a destructor must not throw; the error shows at the next CUDA call
  }
}

void CudaStepGraph::capture(const std::function<void()>& step) {
  if (state_->captured) throw std::logic_error("CudaStepGraph::capture: already captured");
  state_->graph.capture_begin();
  try {
    step();
  } catch (...) {
    try {
      state_->graph.capture_end();  // leaves capture mode; the half graph is discarded
    } catch (...) {
    }
    throw;
  }
  state_->graph.capture_end();
  state_->captured = true;
}

bool CudaStepGraph::captured() const { return state_->captured; }

void CudaStepGraph::replay() {
  if (!state_->captured) throw std::logic_error("CudaStepGraph::replay: nothing captured");
  state_->graph.replay();
}

#else  // no CUDA in this build

struct CudaStepGraph::State {};
bool CudaStepGraph::compiled() { return false; }
CudaStepGraph::CudaStepGraph(torch::Device) {
  throw std::logic_error("CudaStepGraph: this build has no CUDA graphs (LibTorch without CUDA, or no CUDA headers)");
}
CudaStepGraph::~CudaStepGraph() = default;
void CudaStepGraph::capture(const std::function<void()>&) {}
bool CudaStepGraph::captured() const { return false; }
void CudaStepGraph::replay() {}

#endif

}  // namespace pebench
