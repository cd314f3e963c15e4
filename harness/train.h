// Training loop: AdamW, linear warmup + cosine decay, grad-norm clip, logging every
// train.log_every steps. Deterministic: a run's curves depend only on its config.
#pragma once
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <torch/optim/adamw.h>

#include "harness/data.h"
#include "harness/study.h"
#include "models/transformer.h"

namespace pebench {

struct TrainLog {
  std::vector<int64_t> step;
  std::vector<double> loss;  // mean loss over the steps since the previous log point
  std::vector<double> lr;
  double final_loss = 0;
  int64_t diverged_step = -1;  // first step with a non-finite loss, -1 if none
  double seconds = 0;
  double tokens_per_second = 0;
  int64_t resumed_from_step = 0;  // the checkpoint's step, 0 when training started fresh
  double seconds_before_resume = 0;  // training time spent by earlier processes
  bool interrupted = false;       // stopped early with a checkpoint; not finished
  std::string kernels;            // what stepped it: "adamw=foreach clip=per_tensor" (the CPU's)
  // train.eval_every: the steps evaluated during training (before the last) and, by metric
  // name (TrainControl::evaluate), the values of each, appended row after row; checkpointed.
  std::vector<int64_t> history_step;
  std::map<std::string, std::vector<double>> history;
  double history_seconds = 0;     // spent evaluating them, by this process; not in `seconds`
};

// AdamW with LibTorch's arithmetic and state, stepped in multi-tensor (_foreach) ops: on
// CUDA a step launches 9 multi-tensor kernels per parameter group where LibTorch's AdamW
// launches 9 per parameter (a d128 two-layer LM has 27 parameter tensors: 243 launches);
// on the CPU the foreach ops run the same per-tensor kernels, so every number equals
// LibTorch's AdamW to the last bit. The state is LibTorch's own (same keys, same
// AdamWParamState), so checkpoints load either way.
//
// Kernel::fused steps each group with torch's one fused kernel (`_fused_adamw_`, torch
// >= 2.4, which has it on the CPU and CUDA): per group, one launch fills the step count
// and one updates every tensor (a few when the tensors exceed one launch's lists). Same
// formula and state; it rounds differently in the last bits (it divides step_size * m by
// the denominator where LibTorch multiplies by m / denominator). train_model uses it on
// CUDA only, so CPU numbers stay LibTorch's. Its learning rate is rounded to float32, as
// the kernel reads it from a float32 tensor in a captured step: graphed and eager steps
// then agree.
class MultiTensorAdamW : public torch::optim::AdamW {
 public:
  enum class Kernel { foreach_ops, fused };
  // Whether this build's LibTorch has `_fused_adamw_`.
  static bool fused_available();

  MultiTensorAdamW(std::vector<torch::optim::OptimizerParamGroup> groups, torch::optim::AdamWOptions defaults,
                   Kernel kernel = Kernel::foreach_ops);
  torch::Tensor step(LossClosure closure = nullptr) override;

  // For a step captured in a CUDA graph (harness/cuda_graph.h), which replays whatever the
  // host passed at capture: from here on the fused kernel reads each group's step count and
  // learning rate from tensors on the parameters' device; step() advances the counts there
  // (the host's stop, see set_step_count) and upload_learning_rates() refills the rates.
  // Needs Kernel::fused and one step count per group (so after every parameter has stepped
  // as often as the others: in training, after the first step); std::logic_error otherwise.
  void keep_counts_on_device();
  bool counts_on_device() const { return !device_counts_.empty(); }
  // Copies each group's options().lr() to the tensor the kernel reads (counts on the device).
  void upload_learning_rates();
  // Every parameter's step count on the host, as a checkpoint saves it.
  void set_step_count(int64_t step);

 private:
  Kernel kernel_;
  std::vector<torch::Tensor> device_counts_, device_lrs_;  // per group, float32 scalars
};

// Scales every gradient by min(1, max_norm / (‖all gradients‖₂ + 1e-6)) without a host
// sync: the scale stays a tensor on the device. Kernel::per_tensor runs LibTorch's ops one
// tensor at a time (a norm and a multiply per parameter: 2 launches each on CUDA), the
// CPU's numbers; multi_tensor takes the norms and scales in _foreach ops (torch >= 2.1:
// a few launches for all of them), as torch.nn.utils.clip_grad_norm_ does on CUDA.
enum class ClipKernel { per_tensor, multi_tensor };
bool multi_tensor_clip_available();
void clip_gradient_norm(const std::vector<torch::Tensor>& parameters, double max_norm, ClipKernel kernel);

// The kernels a training step runs. step_kernels(device): on CUDA the launch-lean ones
// (fused AdamW, multi-tensor clip, where this LibTorch has them); elsewhere LibTorch's
// per-tensor arithmetic, whose CPU numbers are LibTorch's AdamW's to the last bit.
struct StepKernels {
  MultiTensorAdamW::Kernel adamw = MultiTensorAdamW::Kernel::foreach_ops;
  ClipKernel clip = ClipKernel::per_tensor;
};
StepKernels step_kernels(torch::Device device);
// "adamw=fused clip=multi_tensor": as runs/<id>/compute records them.
std::string kernels_text(const StepKernels& kernels);

// Whether autocast is on for `device` type. train.precision = bf16 turns it on around
// each forward and puts it back after (torch 2.4 made this one call for every device).
bool autocast_enabled(c10::DeviceType device);

// Learning rate at 1-based `step`: linear warmup, then cosine from lr to min_lr.
double learning_rate(int64_t step, int64_t steps, int64_t warmup, double lr, double min_lr);

// Steps at which the loss is logged: every log_every, and always the last.
std::vector<int64_t> log_steps(int64_t steps, int64_t log_every);

// train.cuda_graph: why train_model launches this run's step eagerly on `device` rather
// than capturing it in a CUDA graph, in a few words for runs/<id>/compute: "off" (the
// key), "not on CUDA", what the build or LibTorch lacks, or what in the run changes
// between steps; "" when it captures. The model in training mode, as train_model holds it.
std::string cuda_graph_refusal(const RunConfig& run, TransformerLM& model, torch::Device device);

// The run's model, initialized from its seed, with its encoding (on the CPU).
TransformerLM build_model(const RunConfig& run);

// Checkpoints (DESIGN.md §6): model, optimizer, sampler, RNG, step and the loss log,
// written to a temp name and renamed, so a kill mid-write leaves the previous one. A
// run resumed from one ends bit for bit where an uninterrupted run ends.
struct TrainControl {
  std::string checkpoint_path;    // "": no checkpoints
  int64_t checkpoint_every = 0;   // steps; 0: only when stopped and at the end of training
  std::function<bool()> stop_requested;  // checked at every step boundary
  // Benchmarks: these kernels instead of step_kernels(device), to count what a CUDA step
  // dispatches on a machine without one (pebench_bench launches).
  std::optional<StepKernels> kernels;
  // train.eval_every > 0: evaluates the model after every eval_every-th step before the
  // last (the final eval follows training), in eval mode, and returns its values by metric
  // name; the training step's CPU random state is put back after it, so training goes on
  // bit for bit as without it. Unset: no history.
  std::function<std::map<std::string, std::vector<double>>()> evaluate;
};

TrainLog train_model(TransformerLM& model, const Corpus& corpus, const RunConfig& run,
                     torch::Device device, const TrainControl& control = {},
                     const std::function<void(const std::string&)>& progress = nullptr);

}  // namespace pebench
