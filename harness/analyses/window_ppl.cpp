// window_ppl: perplexity at analysis.rf_length with every query limited to its last w
// keys (Khandelwal et al. 2018; Chi et al. 2023's windowed view). The effective context
// is the smallest w with ppl(w) <= (1 + analysis.epsilon) · ppl(full).
#include <cmath>

#include "harness/analyses/analysis.h"
#include "harness/evaluate.h"
#include "harness/signals.h"

namespace pebench {
namespace {
constexpr DatasetName kWindowWindows{"receptive_field/windows", true};
constexpr DatasetName kWindowPpl{"receptive_field/ppl", false};
constexpr DatasetName kWindowFullPpl{"receptive_field/full_ppl", false};
constexpr DatasetName kWindowEffectiveContext{"receptive_field/effective_context", true};
}  // namespace

AnalysisInfo window_ppl_analysis() {
  AnalysisInfo info;
  info.name = "window_ppl";
  info.summary = "ppl with each query limited to its last w keys; effective context";
  info.layout = [](const RunConfig& run, int64_t, AnalysisOutput& out) {
    const auto windows = static_cast<int64_t>(run.analysis_windows().size());
    out.add(kWindowWindows, {windows});
    out.add(kWindowPpl, {windows});
    out.add(kWindowFullPpl, {1});
    out.add(kWindowEffectiveContext, {1});
  };
  info.compute = [](AnalysisInput& in, AnalysisOutput& out) {
    torch::NoGradGuard no_grad;
    const RunConfig& run = in.run;
    const int64_t rf = run.rf_length();
    const int64_t budget = eval_budget(static_cast<int64_t>(in.heldout.size()), run.analysis.tokens, rf, "study");
    const int64_t trained_window = in.model->options().attention_window;
    auto ppl_with_window = [&](int64_t window) {
      in.model->options().attention_window = window;
      if (stop_requested()) throw Interrupted();
      return std::exp(
          window_losses(in.model, in.heldout, budget, rf, run.eval.batch_tokens, in.device).mean().item<double>());
    };
    const double full = ppl_with_window(trained_window);
    std::vector<double> windows, ppl;
    int64_t effective = rf;
    bool found = false;
    for (int64_t w : run.analysis_windows()) {
      // A model trained with a window never sees further: narrower of the two.
      const double value = ppl_with_window(trained_window > 0 ? std::min(w, trained_window) : w);
      windows.push_back(static_cast<double>(w));
      ppl.push_back(value);
      if (!found && value <= (1 + run.analysis.epsilon) * full) {
        effective = w;
        found = true;
      }
    }
    in.model->options().attention_window = trained_window;
    out.set(kWindowWindows, windows);
    out.set(kWindowPpl, ppl);
    out.set(kWindowFullPpl, {full});
    out.set(kWindowEffectiveContext, {static_cast<double>(effective)});
  };
  return info;
}

}  // namespace pebench
