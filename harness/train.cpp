#include "harness/train.h"

#include "harness/cuda_graph.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/autocast_mode.h>
#include <torch/nn/functional/loss.h>
#include <torch/optim/adamw.h>
#include <torch/serialize.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <sstream>

#include "encodings/registry.h"
#include "encodings/torch_version.h"
#include "harness/signals.h"
#include "results/fault.h"
#include "results/safe_file.h"

namespace pebench {

double learning_rate(int64_t step, int64_t steps, int64_t warmup, double lr, double min_lr) {
  if (step <= warmup) return lr * static_cast<double>(step) / static_cast<double>(warmup);
  const double progress = static_cast<double>(step - warmup) / static_cast<double>(std::max<int64_t>(1, steps - warmup));
  return min_lr + 0.5 * (lr - min_lr) * (1.0 + std::cos(M_PI * progress));
}

namespace {
// LibTorch keys optimizer state by the parameter's TensorImpl: by its address printed
// to a string in torch 1.x (c10::guts::to_string), by the address itself in later 2.x;
// the map's key type says which.
template <typename Key>
Key optimizer_state_key(const torch::Tensor& parameter) {
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream key;
    key << parameter.unsafeGetTensorImpl();
    return key.str();
  } else {
    return parameter.unsafeGetTensorImpl();
  }
}
}  // namespace

#if PEBENCH_TORCH_AT_LEAST(2, 4)
#define PEBENCH_HAS_FUSED_ADAMW 1
#else
#define PEBENCH_HAS_FUSED_ADAMW 0
#endif

bool MultiTensorAdamW::fused_available() { return PEBENCH_HAS_FUSED_ADAMW; }

MultiTensorAdamW::MultiTensorAdamW(std::vector<torch::optim::OptimizerParamGroup> groups,
                                   torch::optim::AdamWOptions defaults, Kernel kernel)
    : torch::optim::AdamW(std::move(groups), std::move(defaults)), kernel_(kernel) {
  if (kernel_ == Kernel::fused && !fused_available())
    throw std::logic_error("MultiTensorAdamW: this LibTorch (" TORCH_VERSION ") has no _fused_adamw_ (torch >= 2.4)");
}

torch::Tensor MultiTensorAdamW::step(LossClosure closure) {
  torch::NoGradGuard no_grad;
  torch::Tensor loss;
  if (closure) {
    torch::AutoGradMode enable_grad(true);
    loss = closure();
  }
  using Key = std::decay_t<decltype(state_.begin()->first)>;
  // One batch per step count: parameters that skipped a step (no gradient) have their own
  // bias correction. In a training run every parameter has a gradient: one batch.
  struct Batch {
    std::vector<torch::Tensor> parameters, gradients, exp_avg, exp_avg_sq;
  };
  for (size_t group_index = 0; group_index < param_groups_.size(); ++group_index) {
    auto& group = param_groups_[group_index];
    const auto& options = static_cast<const torch::optim::AdamWOptions&>(group.options());
    if (options.amsgrad()) throw std::logic_error("MultiTensorAdamW: amsgrad is not implemented");
    std::map<int64_t, Batch> batches;
    for (auto& parameter : group.params()) {
      if (!parameter.grad().defined()) continue;
      const Key key = optimizer_state_key<Key>(parameter);
      auto found = state_.find(key);
      if (found == state_.end()) {  // as LibTorch initialises it
        auto fresh = std::make_unique<torch::optim::AdamWParamState>();
        fresh->step(0);
        fresh->exp_avg(torch::zeros_like(parameter, torch::MemoryFormat::Preserve));
        fresh->exp_avg_sq(torch::zeros_like(parameter, torch::MemoryFormat::Preserve));
        found = state_.emplace(key, std::move(fresh)).first;
      }
      auto& state = static_cast<torch::optim::AdamWParamState&>(*found->second);
      if (!counts_on_device()) state.step(state.step() + 1);
      auto& batch = batches[state.step()];
      batch.parameters.push_back(parameter);
      batch.gradients.push_back(parameter.grad());
      batch.exp_avg.push_back(state.exp_avg());
      batch.exp_avg_sq.push_back(state.exp_avg_sq());
    }
    const double beta1 = std::get<0>(options.betas()), beta2 = std::get<1>(options.betas());
    for (auto& [step, batch] : batches) {
#if PEBENCH_HAS_FUSED_ADAMW
      if (kernel_ == Kernel::fused) {
        // The kernel reads each tensor's step count from a float tensor on its device (as
        // torch.optim.AdamW(fused=True) keeps them); one count serves the whole batch.
        if (counts_on_device()) {
          const auto& count = device_counts_[group_index];
          count.add_(1);
          const std::vector<torch::Tensor> steps(batch.parameters.size(), count);
          at::_fused_adamw_(batch.parameters, batch.gradients, batch.exp_avg, batch.exp_avg_sq, /*max_exp_avg_sqs=*/{},
                            steps, device_lrs_[group_index], beta1, beta2, options.weight_decay(), options.eps(),
                            /*amsgrad=*/false, /*maximize=*/false);
          continue;
        }
        const auto count = torch::full({}, static_cast<double>(step),
                                       torch::TensorOptions().dtype(torch::kFloat).device(batch.parameters.front().device()));
        const std::vector<torch::Tensor> steps(batch.parameters.size(), count);
        at::_fused_adamw_(batch.parameters, batch.gradients, batch.exp_avg, batch.exp_avg_sq, /*max_exp_avg_sqs=*/{}, steps,
                          static_cast<double>(static_cast<float>(options.lr())), beta1, beta2, options.weight_decay(),
                          options.eps(), /*amsgrad=*/false, /*maximize=*/false);
        continue;
      }
#endif
      // LibTorch's AdamW::step, op for op: decoupled decay, both moments, then the
      // update with the bias corrections folded into the denominator and the step size.
      const double correction1 = 1 - std::pow(beta1, step), correction2 = 1 - std::pow(beta2, step);
      if (options.weight_decay() != 0) torch::_foreach_mul_(batch.parameters, 1 - options.lr() * options.weight_decay());
      torch::_foreach_mul_(batch.exp_avg, beta1);
      torch::_foreach_add_(batch.exp_avg, batch.gradients, 1 - beta1);
      torch::_foreach_mul_(batch.exp_avg_sq, beta2);
      torch::_foreach_addcmul_(batch.exp_avg_sq, batch.gradients, batch.gradients, 1 - beta2);
      auto denominator = torch::_foreach_sqrt(batch.exp_avg_sq);
      torch::_foreach_div_(denominator, std::sqrt(correction2));
      torch::_foreach_add_(denominator, options.eps());
      torch::_foreach_addcdiv_(batch.parameters, batch.exp_avg, denominator, -options.lr() / correction1);
    }
  }
  return loss;
}

void MultiTensorAdamW::keep_counts_on_device() {
  if (kernel_ != Kernel::fused) throw std::logic_error("MultiTensorAdamW::keep_counts_on_device: needs Kernel::fused");
  using Key = std::decay_t<decltype(state_.begin()->first)>;
  std::vector<torch::Tensor> counts, lrs;
  for (const auto& group : param_groups_) {
    std::optional<int64_t> step;
    torch::Device device = torch::kCPU;
    for (const auto& parameter : group.params()) {
      const auto found = state_.find(optimizer_state_key<Key>(parameter));
      const int64_t count =
          found == state_.end() ? 0 : static_cast<const torch::optim::AdamWParamState&>(*found->second).step();
      if (step && *step != count)
        throw std::logic_error("MultiTensorAdamW::keep_counts_on_device: a group's parameters are at steps " +
                               std::to_string(*step) + " and " + std::to_string(count));
      step = count;
      device = parameter.device();
    }
    const auto on_device = torch::TensorOptions().dtype(torch::kFloat).device(device);
    counts.push_back(torch::full({}, static_cast<double>(step.value_or(0)), on_device));
    lrs.push_back(torch::full({}, static_cast<const torch::optim::AdamWOptions&>(group.options()).lr(), on_device));
  }
  device_counts_ = std::move(counts);
  device_lrs_ = std::move(lrs);
}

void MultiTensorAdamW::upload_learning_rates() {
  for (size_t group = 0; group < device_lrs_.size(); ++group)
    device_lrs_[group].fill_(static_cast<const torch::optim::AdamWOptions&>(param_groups_[group].options()).lr());
}

void MultiTensorAdamW::set_step_count(int64_t step) {
  for (auto& [key, state] : state_) static_cast<torch::optim::AdamWParamState&>(*state).step(step);
}

bool autocast_enabled(c10::DeviceType device) {
#if PEBENCH_TORCH_AT_LEAST(2, 4)
  return at::autocast::is_autocast_enabled(device);
#else
  return device == c10::DeviceType::CUDA ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
#endif
}

namespace {
// train.precision = bf16: the forward under autocast, as Python's torch.autocast does it:
// matmuls in bf16 from fp32 master weights, other ops in fp32; the cache of bf16 weight
// copies is cleared at the end of every forward, since the weights change every step.
class Autocast {
 public:
  Autocast(c10::DeviceType device, bool enabled) : device_(device), enabled_(enabled) {
    if (!enabled_) return;
    was_enabled_ = autocast_enabled(device_);
#if PEBENCH_TORCH_AT_LEAST(2, 4)
    at::autocast::set_autocast_dtype(device_, at::kBFloat16);
    at::autocast::set_autocast_enabled(device_, true);
#else
    if (device_ == c10::DeviceType::CUDA) {
      at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
      at::autocast::set_enabled(true);
    } else {
      at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
      at::autocast::set_cpu_enabled(true);
    }
#endif
    at::autocast::increment_nesting();
  }
  ~Autocast() {
    if (!enabled_) return;
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
#if PEBENCH_TORCH_AT_LEAST(2, 4)
    at::autocast::set_autocast_enabled(device_, was_enabled_);
#else
    if (device_ == c10::DeviceType::CUDA) at::autocast::set_enabled(was_enabled_);
    else at::autocast::set_cpu_enabled(was_enabled_);
#endif
  }
  Autocast(const Autocast&) = delete;
  Autocast& operator=(const Autocast&) = delete;

 private:
  c10::DeviceType device_;
  bool enabled_;
  bool was_enabled_ = false;
};
}  // namespace

std::vector<int64_t> log_steps(int64_t steps, int64_t log_every) {
  std::vector<int64_t> out;
  for (int64_t step = log_every; step < steps; step += log_every) out.push_back(step);
  out.push_back(steps);
  return out;
}

#if PEBENCH_TORCH_AT_LEAST(2, 1)
#define PEBENCH_HAS_FOREACH_TENSOR_MUL 1  // _foreach_mul_(TensorList, Tensor)
#else
#define PEBENCH_HAS_FOREACH_TENSOR_MUL 0
#endif

bool multi_tensor_clip_available() { return PEBENCH_HAS_FOREACH_TENSOR_MUL; }

void clip_gradient_norm(const std::vector<torch::Tensor>& parameters, double max_norm, ClipKernel kernel) {
  std::vector<torch::Tensor> gradients;
  for (const auto& p : parameters)
    if (p.grad().defined()) gradients.push_back(p.grad());
  if (gradients.empty()) return;
#if PEBENCH_HAS_FOREACH_TENSOR_MUL
  if (kernel == ClipKernel::multi_tensor) {
    auto total = torch::stack(torch::_foreach_norm(gradients)).norm();
    torch::_foreach_mul_(gradients, torch::clamp_max(max_norm / (total + 1e-6), 1.0));
    return;
  }
#else
  if (kernel == ClipKernel::multi_tensor)
    throw std::logic_error("clip_gradient_norm: this LibTorch (" TORCH_VERSION ") has no _foreach_mul_ by a tensor (torch >= 2.1)");
#endif
  std::vector<torch::Tensor> norms;
  for (const auto& gradient : gradients) norms.push_back(gradient.norm());
  auto scale = torch::clamp_max(max_norm / (torch::stack(norms).norm() + 1e-6), 1.0);
  for (auto& gradient : gradients) gradient.mul_(scale);
}

StepKernels step_kernels(torch::Device device) {
  StepKernels kernels;
  if (!device.is_cuda()) return kernels;
  // The fused AdamW: 2 launches per group instead of 9.
  if (MultiTensorAdamW::fused_available()) kernels.adamw = MultiTensorAdamW::Kernel::fused;
  if (multi_tensor_clip_available()) kernels.clip = ClipKernel::multi_tensor;
  return kernels;
}

std::string kernels_text(const StepKernels& kernels) {
  return std::string("adamw=") + (kernels.adamw == MultiTensorAdamW::Kernel::fused ? "fused" : "foreach") +
         " clip=" + (kernels.clip == ClipKernel::multi_tensor ? "multi_tensor" : "per_tensor");
}

namespace {

torch::Tensor text_tensor(const std::string& text) {
  return torch::from_blob(const_cast<char*>(text.data()), {static_cast<int64_t>(text.size())}, torch::kUInt8).clone();
}
std::string tensor_text(const torch::Tensor& bytes) {
  auto cpu = bytes.to(torch::kCPU).contiguous();
  return std::string(reinterpret_cast<const char*>(cpu.data_ptr<uint8_t>()), static_cast<size_t>(cpu.numel()));
}
template <typename T>
torch::Tensor vector_tensor(const std::vector<T>& values, torch::Dtype dtype) {
  return torch::from_blob(const_cast<T*>(values.data()), {static_cast<int64_t>(values.size())}, dtype).clone();
}
template <typename T>
std::vector<T> tensor_vector(const torch::Tensor& values) {
  auto cpu = values.to(torch::kCPU).contiguous();
  return std::vector<T>(cpu.data_ptr<T>(), cpu.data_ptr<T>() + cpu.numel());
}

// Everything a run needs to continue after `step`, besides what follows from its config.
struct TrainState {
  int64_t step = 0;
  double seconds = 0;  // training time before this process
  std::vector<torch::Tensor> pending_losses;  // since the last log point
};

void save_checkpoint(const std::string& path, const RunConfig& run, TransformerLM& model,
                     torch::optim::AdamW& optimizer, const BatchSampler& sampler, const TrainState& state,
                     const TrainLog& log) {
  torch::serialize::OutputArchive archive, model_archive, optimizer_archive;
  model->save(model_archive);
  optimizer.save(optimizer_archive);
  archive.write("model", model_archive);
  archive.write("optimizer", optimizer_archive);
  archive.write("config", text_tensor(run.canonical_text()));
  archive.write("step", torch::tensor(state.step, torch::kLong));
  archive.write("seconds", torch::tensor(state.seconds, torch::kDouble));
  archive.write("sampler", text_tensor(sampler.state()));
  archive.write("cpu_rng", at::detail::getDefaultCPUGenerator().get_state());
  archive.write("log_step", vector_tensor(log.step, torch::kLong));
  archive.write("log_loss", vector_tensor(log.loss, torch::kDouble));
  archive.write("log_lr", vector_tensor(log.lr, torch::kDouble));
  archive.write("pending_losses", state.pending_losses.empty()
                                      ? torch::empty({0})
                                      : torch::stack(state.pending_losses).to(torch::kCPU));
  if (run.train.eval_every > 0) {  // the eval history so far: its steps, metric names, values
    archive.write("history_step", vector_tensor(log.history_step, torch::kLong));
    std::string names;
    for (const auto& [name, values] : log.history) names += name + "\n";
    archive.write("history_names", text_tensor(names));
    int index = 0;
    for (const auto& [name, values] : log.history)
      archive.write("history_" + std::to_string(index++), vector_tensor(values, torch::kDouble));
  }
  // Serialised in memory, then written by write_file_safely: LibTorch's file writer throws
  // from a destructor when the disk is full (std::terminate), ours removes the partial and
  // fails the run with one line. A kill mid-write leaves the previous checkpoint.
  std::ostringstream bytes;
  archive.save_to(bytes);
  fault_point("before_checkpoint_rename");
  write_file_safely(path, bytes.str());
}

// Restores a checkpoint into the freshly built model and optimizer; false when none.
bool load_checkpoint(const std::string& path, const RunConfig& run, TransformerLM& model,
                     torch::optim::AdamW& optimizer, BatchSampler& sampler, TrainState& state, TrainLog& log,
                     torch::Device device) {
  if (path.empty() || !std::filesystem::exists(path)) return false;
  torch::serialize::InputArchive archive, model_archive, optimizer_archive;
  try {
    archive.load_from(path, device);
  } catch (const c10::Error& error) {
    throw std::runtime_error("checkpoint '" + path + "' is unreadable (delete it to restart the run from step 0): " +
                             error.what_without_backtrace());
  }
  // A fresh tensor per key: reading into a defined tensor keeps its dtype.
  auto read = [&](const char* key) {
    torch::Tensor value;
    archive.read(key, value);
    return value;
  };
  if (tensor_text(read("config")) != run.canonical_text())
    throw std::runtime_error("checkpoint '" + path + "' belongs to another configuration");
  archive.read("model", model_archive);
  model->load(model_archive);
  archive.read("optimizer", optimizer_archive);
  optimizer.load(optimizer_archive);
  state.step = read("step").item<int64_t>();
  state.seconds = read("seconds").item<double>();
  sampler.restore(tensor_text(read("sampler")));
  at::Generator cpu_generator = at::detail::getDefaultCPUGenerator();
  cpu_generator.set_state(read("cpu_rng").to(torch::kCPU));
  log.step = tensor_vector<int64_t>(read("log_step"));
  log.loss = tensor_vector<double>(read("log_loss"));
  log.lr = tensor_vector<double>(read("log_lr"));
  const auto pending = read("pending_losses");
  for (int64_t i = 0; i < pending.size(0); ++i) state.pending_losses.push_back(pending[i].to(device));
  if (run.train.eval_every > 0) {
    log.history_step = tensor_vector<int64_t>(read("history_step"));
    std::istringstream names(tensor_text(read("history_names")));
    int index = 0;
    for (std::string name; std::getline(names, name);)
      log.history[name] = tensor_vector<double>(read(("history_" + std::to_string(index++)).c_str()));
  }
  model->encoding().resume_training_at(state.step);
  return true;
}

}  // namespace

// Eager steps before a step is captured, in every process (a resumed run warms up again):
// they build the model's caches, the optimizer's state and the allocator's blocks, which a
// capture must find in place (PyTorch's whole-network capture example warms up 3).
constexpr int64_t kStepsBeforeCapture = 3;

std::string cuda_graph_refusal(const RunConfig& run, TransformerLM& model, torch::Device device) {
  if (run.train.cuda_graph == "off") return "off";
  if (!device.is_cuda()) return "not on CUDA";
  if (!CudaStepGraph::compiled()) return "no graphs in build";
  if (!MultiTensorAdamW::fused_available() || !multi_tensor_clip_available()) return "torch < 2.4";
  if (model->encoding().draws_positions()) return "randomized positions";
  // Its forwards at other lengths would replace the model's cached masks, which a captured
  // step reads by address.
  if (run.train.eval_every > 0) return "train.eval_every";
  if (run.train.steps <= kStepsBeforeCapture) return "3 steps or fewer";
  return "";
}

TransformerLM build_model(const RunConfig& run) {
  TransformerLMOptions options;
  options.vocab_size = run.vocab_size();
  options.d_model = run.model.d_model;
  options.layers = run.model.layers;
  options.heads = run.model.heads;
  options.init_gamma = run.model.init_gamma;
  options.init_scope = run.model.init_scope;
  options.tie_embeddings = run.model.tie_embeddings;
  options.scale_embeddings = run.model.scale_embeddings;
  options.attention_window = run.model.attention_window;
  options.attention_block = run.eval.attention_block;
  torch::manual_seed(static_cast<uint64_t>(run.seed));
  return TransformerLM(options, find_encoding(run.encoding)->make(run.encoding_options()));
}

TrainLog train_model(TransformerLM& model, const Corpus& corpus, const RunConfig& run,
                     torch::Device device, const TrainControl& control,
                     const std::function<void(const std::string&)>& progress) {
  const TrainOptions& train = run.train;
  const int64_t steps = train.steps, batch = train.batch, length = train.seq_len, warmup = train.warmup;
  const double lr = train.lr, min_lr = train.min_lr, grad_clip = train.grad_clip;
  const bool bf16 = train.precision == "bf16";
  const auto logged = log_steps(steps, train.log_every);

  // Decay weight matrices only: not biases, norms, or the encoding's parameters (a
  // learned table's rows past the train length must keep their init, DESIGN.md §2).
  // The encoding's parameters have their own group: their learning rate is scaled by
  // train.encoding_lr_scale (a bias of a few nats moves ~lr per Adam step).
  std::vector<torch::Tensor> decayed, plain, encoding_parameters;
  for (const auto& p : model->named_parameters()) {
    if (p.key().rfind("encoding.", 0) == 0) encoding_parameters.push_back(p.value());
    else (p.value().dim() >= 2 ? decayed : plain).push_back(p.value());
  }
  const double encoding_lr_scale = train.encoding_lr_scale;
  auto options = torch::optim::AdamWOptions(lr).betas({train.beta1, train.beta2}).weight_decay(train.weight_decay);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decayed, std::make_unique<torch::optim::AdamWOptions>(options));
  groups.emplace_back(plain, std::make_unique<torch::optim::AdamWOptions>(
                                 torch::optim::AdamWOptions(options).weight_decay(0.0)));
  groups.emplace_back(encoding_parameters, std::make_unique<torch::optim::AdamWOptions>(
                                               torch::optim::AdamWOptions(options).weight_decay(0.0)));
  const StepKernels kernels = control.kernels.value_or(step_kernels(device));
  MultiTensorAdamW optimizer(std::move(groups), options, kernels.adamw);
  const auto parameters = model->parameters();

  const uint64_t data_seed = static_cast<uint64_t>(run.seed) * 7919u + 17u;
  BatchSampler sampler = corpus.task ? BatchSampler(*corpus.task, batch, length, data_seed)
                                     : BatchSampler(corpus.train, batch, length, data_seed);
  if (run.data.passkey_mix > 0) sampler.mix_passkeys(*corpus.tokenizer, run.data.passkey_mix);
  if (run.data.train_examples > 0) sampler.fix_examples(run.data.train_examples);
  model->train();
  TrainLog log;
  log.kernels = kernels_text(kernels);
  // Per-step losses stay on the device until a log point: no host sync in the step.
  TrainState state;
  if (load_checkpoint(control.checkpoint_path, run, model, optimizer, sampler, state, log, device)) {
    log.resumed_from_step = state.step;
    log.seconds_before_resume = state.seconds;
  }
  size_t next_log = log.step.size();
  const auto start = std::chrono::steady_clock::now();
  auto window_start = start;
  // Training time: earlier processes' and this one's, less its evaluations during training.
  auto elapsed = [&] {
    return state.seconds + std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() -
           log.history_seconds;
  };
  auto checkpoint = [&](int64_t step) {
    if (control.checkpoint_path.empty()) return;
    if (optimizer.counts_on_device()) optimizer.set_step_count(step);  // the host's stopped at the capture
    TrainState now = state;
    now.step = step;
    now.seconds = elapsed();
    save_checkpoint(control.checkpoint_path, run, model, optimizer, sampler, now, log);
  };
  // A step's batch on the device: the window, and a task's targets and scored mask
  // (undefined for language modelling, whose targets are the window shifted by one).
  struct StepInputs {
    torch::Tensor window, targets, scored;
  };
  auto upload_if = [&](const torch::Tensor& host) { return host.defined() ? upload(host, device) : torch::Tensor(); };
  auto upload_inputs = [&](const torch::Tensor& window) {
    return StepInputs{upload(window, device), upload_if(sampler.targets()), upload_if(sampler.scored())};
  };
  // One step on a batch on the device: forward, loss, backward, clip, AdamW; the loss.
  auto train_step = [&](const StepInputs& batch_inputs) {
    const auto& window = batch_inputs.window;
    auto inputs = window.slice(1, 0, length);
    auto targets = batch_inputs.targets.defined() ? batch_inputs.targets : window.slice(1, 1, length + 1);
    torch::Tensor logits;
    {
      Autocast autocast(device.type(), bf16);
      logits = model->forward(inputs);
    }
    logits = logits.to(torch::kFloat32);  // the loss in fp32 whatever the precision
    torch::Tensor loss;
    if (batch_inputs.scored.defined()) {  // a task: the mean over its scored targets only
      const auto scored = batch_inputs.scored.reshape({-1}).to(logits.scalar_type());
      loss = (torch::nn::functional::cross_entropy(
                  logits.reshape({-1, logits.size(-1)}), targets.reshape({-1}),
                  torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone)) * scored).sum() /
             scored.sum();
    } else {
      loss = torch::nn::functional::cross_entropy(logits.reshape({-1, logits.size(-1)}), targets.reshape({-1}));
    }
    optimizer.zero_grad();
    loss.backward();
    if (grad_clip > 0) clip_gradient_norm(parameters, grad_clip, kernels.clip);
    optimizer.step();
    return loss.detach();
  };

  // train.cuda_graph = auto: after kStepsBeforeCapture eager steps, the step is captured
  // once, on fixed input tensors, and replayed from then on (harness/cuda_graph.h).
  const std::string graph_refusal = cuda_graph_refusal(run, model, device);
  if (device.is_cuda())  // runs/<id>/compute holds 128 characters: the reasons are short
    log.kernels += graph_refusal.empty() ? " graph=captured"
                   : graph_refusal == "off" ? " graph=off"
                                            : " graph=off (" + graph_refusal + ")";
  std::optional<CudaStepGraph> graph;
  if (graph_refusal.empty()) graph.emplace(device);
  StepInputs fixed;  // the captured step's inputs and loss
  torch::Tensor fixed_loss;

  // train.eval_every: the held-out eval after `step`, unless it is not due or done already
  // (a resumed run first does the one that a stop signal interrupted). False when a stop
  // signal interrupts it: nothing is recorded, and the checkpoint at `step` will redo it.
  const auto eval_lengths = run.eval_lengths();
  auto evaluate_during_training = [&](int64_t step) {
    if (!control.evaluate || train.eval_every <= 0 || step % train.eval_every != 0 || step >= steps) return true;
    if (!log.history_step.empty() && log.history_step.back() >= step) return true;
    const auto eval_start = std::chrono::steady_clock::now();
    at::Generator cpu_generator = at::detail::getDefaultCPUGenerator();
    const auto random_state = cpu_generator.get_state();
    std::optional<std::map<std::string, std::vector<double>>> values;
    try {
      values = control.evaluate();
    } catch (const Interrupted&) {
    }
    cpu_generator.set_state(random_state);
    if (!values) return false;
    log.history_step.push_back(step);
    for (const auto& [name, row] : *values) log.history[name].insert(log.history[name].end(), row.begin(), row.end());
    const auto eval_time = std::chrono::steady_clock::now() - eval_start;
    log.history_seconds += std::chrono::duration<double>(eval_time).count();
    window_start += eval_time;  // the next progress line's tokens/s counts training only
    if (progress && values->count("ppl")) {
      std::ostringstream line;
      line << "step " << step << "/" << steps << " held-out ppl";
      for (size_t i = 0; i < eval_lengths.size(); ++i) line << " " << values->at("ppl")[i] << "@" << eval_lengths[i];
      progress(line.str());
    }
    return true;
  };
  bool stopped_in_eval = state.step > 0 && !evaluate_during_training(state.step);

  const int64_t first_step = state.step + 1;
  for (int64_t step = first_step; !stopped_in_eval && step <= steps; ++step) {
    const double step_lr = learning_rate(step, steps, warmup, lr, min_lr);
    auto& optimizer_groups = optimizer.param_groups();
    for (size_t group = 0; group < optimizer_groups.size(); ++group)
      static_cast<torch::optim::AdamWOptions&>(optimizer_groups[group].options())
          .lr(group == 2 ? step_lr * encoding_lr_scale : step_lr);

    const auto window = sampler.next();
    if (!graph || step - first_step < kStepsBeforeCapture) {
      state.pending_losses.push_back(train_step(upload_inputs(window)));
    } else {
      if (!graph->captured()) {
        fixed = upload_inputs(window);
        optimizer.keep_counts_on_device();
        for (auto& parameter : parameters) parameter.mutable_grad() = torch::Tensor();  // allocated in the graph's pool
        try {
          graph->capture([&] { fixed_loss = train_step(fixed); });
        } catch (const std::exception& error) {
          throw std::runtime_error("train.cuda_graph = auto: step " + std::to_string(step) +
                                   " could not be captured in a CUDA graph (--train.cuda_graph off runs it eagerly): " +
                                   error.what());
        }
      } else {
        upload_into(fixed.window, window);
        if (fixed.targets.defined()) upload_into(fixed.targets, sampler.targets());
        if (fixed.scored.defined()) upload_into(fixed.scored, sampler.scored());
      }
      optimizer.upload_learning_rates();
      graph->replay();
      state.pending_losses.push_back(fixed_loss.clone());
    }

    if (step == logged[next_log]) {
      auto losses = torch::stack(state.pending_losses).to(torch::kCPU, torch::kFloat64);
      state.pending_losses.clear();
      auto finite = torch::isfinite(losses);
      if (!finite.all().item<bool>()) {
        const int64_t first_bad = (~finite).nonzero()[0][0].item<int64_t>();
        log.diverged_step = step - losses.size(0) + 1 + first_bad;
      }
      const double mean_loss = losses.mean().item<double>();
      log.step.push_back(step);
      log.loss.push_back(mean_loss);
      log.lr.push_back(step_lr);
      const auto now = std::chrono::steady_clock::now();
      if (progress) {
        const double seconds = std::chrono::duration<double>(now - window_start).count();
        std::ostringstream line;
        line << "step " << step << "/" << steps << " loss " << mean_loss << " lr " << step_lr << " "
             << static_cast<int64_t>(static_cast<double>(losses.size(0) * batch * length) / seconds)
             << " tok/s";
        progress(line.str());
      }
      window_start = now;
      ++next_log;
      if (log.diverged_step >= 0) break;  // the rest of a diverged run is meaningless
    }
    stopped_in_eval = !evaluate_during_training(step);
    // The last step always checkpoints: a kill during eval then costs no training.
    const bool stop = stopped_in_eval || (control.stop_requested && control.stop_requested());
    if (stop || step == steps || (control.checkpoint_every > 0 && step % control.checkpoint_every == 0))
      checkpoint(step);
    if (stop && step < steps) {
      log.interrupted = true;
      break;
    }
  }
  if (stopped_in_eval) log.interrupted = true;
  log.seconds = elapsed();
  const int64_t trained_steps = log.step.empty() ? 0 : log.step.back();
  log.tokens_per_second = static_cast<double>(trained_steps * batch * length) / log.seconds;
  log.final_loss = log.loss.empty() ? NAN : log.loss.back();
  return log;
}

}  // namespace pebench
