#include "harness/run_one.h"

#include <ATen/Context.h>
#include <ATen/Version.h>
#include <dlfcn.h>
#include <torch/version.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>

#include "harness/analyses/analysis.h"
#include "harness/evaluate.h"
#include "harness/layout.h"
#include "harness/signals.h"
#include "harness/train.h"
#include "results/fault.h"

namespace pebench {
namespace fs = std::filesystem;

namespace {

// The CPU kernels that decide a CPU run's last digits, e.g. "blas=openblas:SkylakeX
// aten=AVX2": the BLAS's pick for this CPU (OpenBLAS's core, which OPENBLAS_CORETYPE
// overrides; "mkl" for a LibTorch with MKL) and ATen's vector width for its own ops
// (ATEN_CPU_CAPABILITY). The same FIRE seed trained on OpenBLAS's SkylakeX and Haswell
// kernels differs by up to 4.3e-5 in ppl (README, Training). Asked once per process.
const std::string& cpu_math_kernels() {
  static const std::string text = [] {
    std::string blas;
    using CoreName = const char* (*)();
    if (auto core_name = reinterpret_cast<CoreName>(dlsym(RTLD_DEFAULT, "openblas_get_corename")))
      blas = std::string("openblas:") + core_name();
    else if (at::hasMKL())
      blas = "mkl";
    // "CPU capability usage: AVX2" in torch's build summary, 1.13 and 2.x alike.
    const std::string config = at::show_config(), label = "CPU capability usage: ";
    std::string aten;
    if (const auto found = config.find(label); found != std::string::npos)
      aten = config.substr(found + label.size(), config.find('\n', found) - found - label.size());
    for (auto& c : aten)
      if (c == ' ') c = '_';  // "NO AVX"
    std::string text = blas.empty() ? "" : " blas=" + blas;
    if (!aten.empty()) text += " aten=" + aten;
    return text;
  }();
  return text;
}

}  // namespace

RunReport run_one(const RunConfig& run, const Corpus& corpus, const RunEnvironment& environment, RunWriter& writer) {
  IndexRow row{run.run_id, run.encoding, run.train.seq_len, run.seed, "running"};
  writer.write_status(row);
  RunReport report;
  const auto start = std::chrono::steady_clock::now();
  TrainControl control;
  control.checkpoint_path = (fs::path(environment.checkpoint_folder) / (run.run_id + ".pt")).string();
  control.checkpoint_every = run.train.checkpoint_every;
  control.stop_requested = stop_requested;
  try {
    fs::create_directories(environment.checkpoint_folder);
    auto model = build_model(run);
    model->to(environment.device);
    model->options().attention = environment.attention;
    auto log_line = [&](const std::string& line) {
      if (environment.progress) environment.progress(run.run_id + " " + line);
    };
    if (fs::exists(control.checkpoint_path)) log_line("continuing from " + control.checkpoint_path);
    auto evaluate = [&](const std::string& variant) {
      return corpus.task ? evaluate_task(model, *corpus.task, run, environment.device, variant)
                         : evaluate_model(model, corpus.heldout, run, environment.device, variant, corpus.tokenizer.get());
    };
    if (run.train.eval_every > 0) control.evaluate = [&] { return history_values(evaluate("")); };
    const TrainLog log = train_model(model, corpus, run, environment.device, control, log_line);
    if (log.interrupted) throw Interrupted();
    RunResults results;
    results.compute = environment.device.str() + " attention=" +
                      (model->attends_fused(environment.device) ? "fused " : "explicit ") + log.kernels +
                      (environment.device.is_cpu() ? cpu_math_kernels() : "") +
                      (at::globalContext().deterministicAlgorithms() ? " deterministic" : "") + " torch=" TORCH_VERSION;
    results.train_step = log.step;
    results.train_loss = log.loss;
    results.train_lr = log.lr;
    const auto lengths = run.eval_lengths();
    results.eval_ppl.assign(lengths.size(), NAN);
    results.eval_tokens.assign(lengths.size(), -1);
    results.position_loss.assign(lengths.back(), NAN);
    // A diverged run keeps its train curve; its eval stays NaN.
    EvalResult evaluation;
    for (const auto& variant : model->encoding().eval_variants())
      results.variants.push_back({variant, results.eval_ppl, results.eval_tokens, results.position_loss});
    if (log.diverged_step < 0) {
      evaluation = evaluate("");
      results.eval_ppl = evaluation.ppl;
      results.eval_tokens = evaluation.tokens;
      results.position_loss = evaluation.position_loss;
      if (!evaluation.bpb.empty()) {
        results.extra.push_back({"eval/bpb", evaluation.bpb});
        results.extra.push_back({"eval/bytes", evaluation.bytes});
      }
      if (run.eval.passkey) {
        const PasskeyResult passkey = evaluate_passkey(model, corpus.heldout, *corpus.tokenizer, run, environment.device);
        results.extra.push_back({"eval/passkey/accuracy", passkey.accuracy});
        results.extra.push_back({"eval/passkey/distance", passkey.distance});
        results.extra.push_back({"eval/passkey/max_distance", {passkey.max_distance}});
        evaluation.seconds += passkey.seconds;
      }
      if (corpus.task)
        for (const auto& name : task_metric_names(*corpus.task)) results.extra.push_back({name, evaluation.metrics.at(name)});
      for (auto& curve : results.variants) {
        const EvalResult scaled = evaluate(curve.name);
        curve.ppl = scaled.ppl;
        curve.tokens = scaled.tokens;
        curve.position_loss = scaled.position_loss;
        evaluation.seconds += scaled.seconds;
      }
    }
    if (run.train.eval_every > 0) {
      // The evaluations during training, then the final one as the last point; a diverged
      // run's missing points stay NaN (step -1).
      const int64_t points = eval_history_points(run);
      const size_t n_lengths = lengths.size();
      std::vector<double> steps(log.history_step.begin(), log.history_step.end());
      steps.resize(points - 1, -1);
      steps.push_back(log.diverged_step < 0 ? static_cast<double>(run.train.steps) : -1);
      results.extra.push_back({"eval_history/step", steps});
      auto final_values = history_values(evaluation);  // empty rows for a diverged run
      for (const auto& metric : eval_history_metrics(run)) {
        std::vector<double> rows = log.history.count(metric) ? log.history.at(metric) : std::vector<double>{};
        rows.resize((points - 1) * n_lengths, NAN);
        const auto& last = final_values[metric];
        rows.insert(rows.end(), last.begin(), last.end());
        rows.resize(points * n_lengths, NAN);
        results.extra.push_back({eval_history_dataset(metric), std::move(rows)});
      }
      evaluation.seconds += log.history_seconds;
    }
    // Why it extrapolates (or not): the analyses the study enables.
    if (log.diverged_step < 0)
      for (auto& dataset : analyse_model(model, corpus.heldout, run, environment.device))
        results.extra.push_back({dataset.name, std::move(dataset.values)});
    // What the encoding learned (or fixed): its bias by distance, its table.
    {
      torch::NoGradGuard no_grad;
      auto profile = bias_profile(model->encoding(), lengths.back(), environment.device);
      if (profile.defined()) results.bias_profile = flat_values(profile);
      auto table = model->encoding().table();
      if (table.defined()) results.table = flat_values(table);
    }
    if (run.train.keep_weights)
      for (const auto& [name, tensor] : model_weights(model)) {
        auto flat = tensor.detach().to(torch::kCPU, torch::kFloat32).contiguous().view({-1});
        results.weights.push_back({name, std::vector<float>(flat.data_ptr<float>(), flat.data_ptr<float>() + flat.numel())});
      }
    // Wall time over every attempt: earlier processes' training plus this one.
    const double wall = log.seconds_before_resume +
                        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    results.summary = {wall, log.seconds, evaluation.seconds, log.tokens_per_second, log.final_loss,
                       log.diverged_step, environment.rank, environment.host};
    // A diverged run stopped early: its unlogged points stay missing.
    const size_t n_logged = log_steps(run.train.steps, run.train.log_every).size();
    results.train_step.resize(n_logged, -1);
    results.train_loss.resize(n_logged, NAN);
    results.train_lr.resize(n_logged, NAN);
    fault_point("before_results");
    writer.write_results(run.run_id, results);
    fault_point("before_status");
    row.status = log.diverged_step < 0 ? "done" : "diverged";
    writer.write_status(row);  // last: the run counts as finished only now
    if (!environment.keep_checkpoints) fs::remove(control.checkpoint_path);
    report.status = log.diverged_step < 0 ? 0 : 1;
    if (log.diverged_step < 0) {
      report.ppl_train = results.eval_ppl[std::find(lengths.begin(), lengths.end(), run.train.seq_len) - lengths.begin()];
      report.ppl_longest = results.eval_ppl.back();
    }
  } catch (const Interrupted&) {
    row.status = "pending";
    writer.write_status(row);
    report.status = 3;
  } catch (const std::exception& failure) {
    std::cerr << "pebench: run " << run.run_id << " failed on rank " << environment.rank << ": "
              << std::string(failure.what()).substr(0, 2000) << std::endl;
    row.status = "failed";
    writer.write_status(row);
    report.status = 2;
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace pebench
