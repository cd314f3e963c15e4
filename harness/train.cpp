#include "harness/train.h"

#include <torch/nn/functional/loss.h>
#include <torch/optim/adamw.h>

#include <chrono>
#include <cmath>
#include <sstream>

namespace pebench {

double learning_rate(int64_t step, int64_t steps, int64_t warmup, double lr, double min_lr) {
  if (step <= warmup) return lr * static_cast<double>(step) / static_cast<double>(warmup);
  const double progress = static_cast<double>(step - warmup) / static_cast<double>(std::max<int64_t>(1, steps - warmup));
  return min_lr + 0.5 * (lr - min_lr) * (1.0 + std::cos(M_PI * progress));
}

std::vector<int64_t> log_steps(int64_t steps, int64_t log_every) {
  std::vector<int64_t> out;
  for (int64_t step = log_every; step < steps; step += log_every) out.push_back(step);
  out.push_back(steps);
  return out;
}

namespace {

// Clips the global gradient norm without a host sync: the scale stays a tensor.
void clip_gradients(const std::vector<torch::Tensor>& parameters, double max_norm) {
  std::vector<torch::Tensor> norms;
  for (const auto& p : parameters)
    if (p.grad().defined()) norms.push_back(p.grad().norm());
  if (norms.empty()) return;
  auto total = torch::stack(norms).norm();
  auto scale = torch::clamp_max(max_norm / (total + 1e-6), 1.0);
  for (const auto& p : parameters)
    if (p.grad().defined()) p.grad().mul_(scale);
}

}  // namespace

TrainLog train_model(TransformerLM& model, const Corpus& corpus, const RunConfig& run,
                     torch::Device device, const std::function<void(const std::string&)>& progress) {
  const int64_t steps = run.integer("train.steps"), batch = run.integer("train.batch");
  const int64_t length = run.integer("train.seq_len"), warmup = run.integer("train.warmup");
  const double lr = run.real("train.lr"), min_lr = run.real("train.min_lr");
  const double grad_clip = run.real("train.grad_clip");
  const auto logged = log_steps(steps, run.integer("train.log_every"));

  // Decay weight matrices only: not biases, norms, or the encoding's parameters (a
  // learned table's rows past the train length must keep their init, DESIGN.md §2).
  // The encoding's parameters have their own group: their learning rate is scaled by
  // train.encoding_lr_scale (a bias of a few nats moves ~lr per Adam step).
  std::vector<torch::Tensor> decayed, plain, encoding_parameters;
  for (const auto& p : model->named_parameters()) {
    if (p.key().rfind("encoding.", 0) == 0) encoding_parameters.push_back(p.value());
    else (p.value().dim() >= 2 ? decayed : plain).push_back(p.value());
  }
  const double encoding_lr_scale = run.real("train.encoding_lr_scale");
  auto options = torch::optim::AdamWOptions(lr)
                     .betas({run.real("train.beta1"), run.real("train.beta2")})
                     .weight_decay(run.real("train.weight_decay"));
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decayed, std::make_unique<torch::optim::AdamWOptions>(options));
  groups.emplace_back(plain, std::make_unique<torch::optim::AdamWOptions>(
                                 torch::optim::AdamWOptions(options).weight_decay(0.0)));
  groups.emplace_back(encoding_parameters, std::make_unique<torch::optim::AdamWOptions>(
                                               torch::optim::AdamWOptions(options).weight_decay(0.0)));
  torch::optim::AdamW optimizer(std::move(groups), options);
  const auto parameters = model->parameters();

  BatchSampler sampler(corpus.train, batch, length, static_cast<uint64_t>(run.integer("seed")) * 7919u + 17u);
  model->train();
  TrainLog log;
  // Per-step losses stay on the device until a log point: no host sync in the step.
  std::vector<torch::Tensor> pending_losses;
  size_t next_log = 0;
  const auto start = std::chrono::steady_clock::now();
  auto window_start = start;
  for (int64_t step = 1; step <= steps; ++step) {
    const double step_lr = learning_rate(step, steps, warmup, lr, min_lr);
    auto& optimizer_groups = optimizer.param_groups();
    for (size_t group = 0; group < optimizer_groups.size(); ++group)
      static_cast<torch::optim::AdamWOptions&>(optimizer_groups[group].options())
          .lr(group == 2 ? step_lr * encoding_lr_scale : step_lr);

    auto window = sampler.next().to(device);
    auto inputs = window.slice(1, 0, length), targets = window.slice(1, 1, length + 1);
    auto logits = model->forward(inputs);
    auto loss = torch::nn::functional::cross_entropy(logits.reshape({-1, logits.size(-1)}),
                                                     targets.reshape({-1}));
    optimizer.zero_grad();
    loss.backward();
    if (grad_clip > 0) clip_gradients(parameters, grad_clip);
    optimizer.step();
    pending_losses.push_back(loss.detach());

    if (step == logged[next_log]) {
      auto losses = torch::stack(pending_losses).to(torch::kCPU, torch::kFloat64);
      pending_losses.clear();
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
  }
  log.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const int64_t trained_steps = log.step.empty() ? 0 : log.step.back();
  log.tokens_per_second = static_cast<double>(trained_steps * batch * length) / log.seconds;
  log.final_loss = log.loss.empty() ? NAN : log.loss.back();
  return log;
}

}  // namespace pebench
