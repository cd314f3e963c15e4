#include "results/report.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <sstream>

#include "results/chart.h"
#include "results/config_text.h"

namespace pebench {
namespace {

const char* kStyle = R"css(
body { font-family: Helvetica, Arial, sans-serif; margin: 24px auto; max-width: 1380px; color: #222; padding: 0 16px; }
h1 { font-size: 22px; margin-bottom: 4px; }
h2 { font-size: 17px; border-bottom: 1px solid #ccc; padding-bottom: 3px; margin-top: 28px; }
p.meta, p.note { color: #555; font-size: 13px; margin: 4px 0; }
p.note { white-space: pre-line; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; }
table.heat td { text-align: center; min-width: 3em; }
figure { margin: 0; border: 1px solid #e4e4e4; padding: 4px; flex: 1 1 560px; max-width: 690px; box-sizing: border-box; }
figure svg { width: 100%; height: auto; }
figcaption { font-size: 12px; color: #444; max-width: 650px; padding: 2px 4px 4px; }
table { border-collapse: collapse; font-size: 12px; margin: 8px 0; }
th, td { border: 1px solid #d8d8d8; padding: 3px 7px; text-align: right; white-space: nowrap; }
th { background: #f3f3f3; }
td.text, th.text { text-align: left; }
td.done { color: #1a7f37; } td.diverged, td.failed { color: #b42318; font-weight: bold; } td.pending, td.running { color: #9a6700; }
pre { font-size: 11px; background: #f7f7f7; padding: 6px; margin: 4px 0; }
details summary { cursor: pointer; }
)css";

const std::vector<double>* extra(const StoredRun& run, const std::string& name) {
  auto found = run.extra.find(name);
  return found == run.extra.end() || found->second.empty() ? nullptr : &found->second;
}

// Finished, own (non-variant) curves of a group: the models the analyses describe.
std::vector<const RunCurve*> finished(const CurveGroup& group, bool with_variants) {
  std::vector<const RunCurve*> curves;
  for (const auto& curve : group.curves)
    if (curve.run->row.status == "done" && (with_variants || !curve.is_variant())) curves.push_back(&curve);
  return curves;
}

// Element-wise mean of equally long vectors (NaN where a value is missing).
std::vector<double> mean_of(const std::vector<const std::vector<double>*>& vectors) {
  if (vectors.empty()) return {};
  std::vector<double> mean(vectors.front()->size(), 0);
  for (const auto* values : vectors)
    for (size_t i = 0; i < mean.size(); ++i) mean[i] += i < values->size() ? (*values)[i] : NAN;
  for (double& v : mean) v /= static_cast<double>(vectors.size());
  return mean;
}

// An estimate at each x (a length or a step) and its 95% CI band, each value drawn as
// shown(value) (exp for a mean log ratio); the band only where some estimate has one
// (>= 2 samples), clipped to [floor, ceiling] (a share cannot leave [0, 1]).
ChartSeries estimate_series(const std::string& label, const std::map<int64_t, Estimate>& estimates, bool with_band,
                            double floor = -INFINITY, double ceiling = INFINITY, double (*shown)(double) = nullptr) {
  ChartSeries series{label, {}, {}, {}, {}};
  auto draw = [&](double value) { return shown ? shown(value) : value; };
  bool any_band = false;
  for (const auto& [x, e] : estimates) {
    series.x.push_back(static_cast<double>(x));
    series.y.push_back(draw(e.mean));
    const double half = std::isfinite(e.ci95) ? e.ci95 : 0;
    any_band = any_band || std::isfinite(e.ci95);
    series.lower.push_back(std::max(floor, draw(e.mean - half)));
    series.upper.push_back(std::min(ceiling, draw(e.mean + half)));
  }
  if (!with_band || !any_band) series.lower.clear(), series.upper.clear();
  return series;
}

// Mean and 95% CI band over seeds at each x of `samples_by_x`.
ChartSeries band_series(const std::string& label, const std::map<int64_t, std::vector<double>>& samples_by_x,
                        bool with_band, double floor = -INFINITY, double ceiling = INFINITY) {
  std::map<int64_t, Estimate> estimates;
  for (const auto& [x, samples] : samples_by_x) estimates[x] = estimate(samples);
  return estimate_series(label, estimates, with_band, floor, ceiling);
}

std::vector<ChartMarker> train_length_markers(const Grouping& grouping) {
  std::set<int64_t> lengths;
  for (const auto& group : grouping.groups)
    for (const auto& curve : group.curves) lengths.insert(curve.train_length());
  std::vector<ChartMarker> markers;
  for (int64_t length : lengths) markers.push_back({static_cast<double>(length), "L_train=" + std::to_string(length)});
  return markers;
}

std::string figure(const LineChart& chart, const std::string& caption) {
  return "<figure>" + render_svg(chart) + "<figcaption>" + caption + "</figcaption></figure>\n";
}

// Log-spaced position bins 1..n (single positions first): mean loss per bin at the mean position.
void log_binned(const std::vector<double>& values, std::vector<double>& x, std::vector<double>& y) {
  size_t begin = 0;
  while (begin < values.size()) {
    const size_t end = std::min(values.size(), std::max(begin + 1, static_cast<size_t>(std::ceil((begin + 1) * 1.15))));
    double sum = 0, positions = 0, count = 0;
    for (size_t i = begin; i < end; ++i)
      if (std::isfinite(values[i])) sum += values[i], positions += static_cast<double>(i + 1), ++count;  // tasks score some positions only
    if (count > 0) {
      x.push_back(positions / count);
      y.push_back(sum / count);
    }
    begin = end;
  }
}

class Report {
 public:
  Report(const std::vector<StoreContents>& stores, const ReportOptions& options)
      : stores_(stores), options_(options), grouping_(group_curves(stores, options.compare)) {
    const auto varying = grouping_.varying_keys();
    for (const auto& group : grouping_.groups) labels_.push_back(group.label(grouping_.by, varying));
  }

  std::string html() {
    std::string name;
    for (const auto& store : stores_)
      if (name.empty()) name = store.study_name;  // recorded at creation; "" in older stores
    if (name.empty() && !options_.store_paths.empty()) {  // a study's default name is its file's
      name = options_.store_paths.front();
      name = name.substr(name.find_last_of('/') + 1);
      name = name.substr(0, name.rfind(".h5"));
    }
    std::ostringstream out;
    out << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n<title>pebench report: "
        << escape_html(name) << "</title>\n<style>" << kStyle << "</style>\n</head>\n<body>\n"
        << "<h1>pebench report: " << escape_html(name) << "</h1>\n" << header();
    std::string analyses = receptive_field_section() + attention_section();
    const std::string probes = probe_section();
    if (analyses.empty() && probes.empty())
      analyses = "<h2>Analyses</h2>\n<p class=\"note\">This store has no analyses. Add <code>run = "
                 "window_ppl,gradient,attention,probe</code> to the study's <code>[analysis]</code> section (as in "
                 "jobs/receptive_field.ini) for receptive-field curves, attention by distance and position probes.</p>\n";
    out << perplexity_section() << task_section() << passkey_section() << analyses << bias_section() << probes << training_section()
        << runs_section();
    out << "</body>\n</html>\n";
    return out.str();
  }

 private:
  std::string header() {
    std::map<std::string, int> statuses;
    size_t runs = 0;
    std::string versions;
    for (const auto& store : stores_) {
      for (const auto& run : store.runs) ++statuses[run.row.status], ++runs;
      if (versions.find(store.pebench_version) == std::string::npos)
        versions += (versions.empty() ? "" : ", ") + store.pebench_version;
    }
    std::ostringstream out;
    out << "<p class=\"meta\">";
    for (size_t i = 0; i < options_.store_paths.size(); ++i) out << (i ? ", " : "store: ") << escape_html(options_.store_paths[i]);
    out << " &middot; " << runs << " runs (";
    bool first = true;
    for (const auto& [status, count] : statuses) out << (first ? "" : ", ") << count << " " << escape_html(status), first = false;
    out << ") &middot; written by pebench " << escape_html(versions) << "</p>\n<p class=\"meta\">Groups: runs equal in ";
    for (size_t i = 0; i < grouping_.by.size(); ++i) out << (i ? ", " : "") << escape_html(grouping_.by[i]);
    out << "; curves show the mean over a group's finished seeds, bands its 95% confidence interval (t) where it has "
           "two or more. Diverged, failed and unfinished runs are counted in the table, never averaged in.</p>\n";
    for (const auto& store : stores_)
      out << "<details><summary>study file</summary><pre>" << escape_html(store.study_text) << "</pre></details>\n";
    return out.str();
  }

  std::string perplexity_section() {
    const bool bpb = options_.compare.metric == "bpb";
    LineChart chart{bpb ? "Bits per byte vs evaluation length" : "Perplexity vs evaluation length", "evaluation length (tokens)",
                    bpb ? "bits per byte (held-out text)" : "perplexity (held-out, per token)", true, true};
    chart.markers = train_length_markers(grouping_);
    for (size_t g = 0; g < grouping_.groups.size(); ++g) {
      std::map<int64_t, std::vector<double>> samples;
      for (const auto* curve : finished(grouping_.groups[g], true))
        for (size_t i = 0; i < curve->run->eval_lengths.size(); ++i) samples[curve->run->eval_lengths[i]].push_back((*curve->ppl)[i]);
      chart.series.push_back(band_series(group_label(g), samples, true));
    }
    const CompareDisplay table = compare_display(stores_, options_.compare);
    std::ostringstream out;
    out << "<h2>Perplexity vs length</h2>\n<div class=\"charts\">"
        << figure(chart, "Held-out perplexity of each group at every evaluation length (log-log); dashed line: the "
                         "train length. A curve that stays flat past it extrapolates.")
        << position_loss_figure() << paired_figure() << "</div>\n<table>\n";
    for (size_t r = 0; r < table.rows.size(); ++r) {
      out << "<tr>";
      for (size_t c = 0; c < table.rows[r].size(); ++c) {
        const bool text = c < grouping_.by.size();
        out << (r ? "<td" : "<th") << (text ? " class=\"text\"" : "") << ">" << escape_html(table.rows[r][c])
            << (r ? "</td>" : "</th>");
      }
      out << "</tr>\n";
    }
    out << "</table>\n<p class=\"note\">" << escape_html(table.legend) << "</p>\n";
    return out.str();
  }

  // --baseline: each group's ratio to the baseline (difference in bpb), run by run, with
  // its CI; "" without the flag.
  std::string paired_figure() {
    if (options_.compare.baseline_key.empty()) return "";
    const bool bpb = options_.compare.metric == "bpb";
    const std::string base = options_.compare.baseline_key + " = " + options_.compare.baseline_value;
    LineChart chart{bpb ? "Bits per byte minus the baseline's" : "Perplexity relative to the baseline",
                    "evaluation length (tokens)", bpb ? "bpb - bpb of " + base : "ppl / ppl of " + base, true, !bpb};
    chart.markers = train_length_markers(grouping_);
    chart.markers.push_back({bpb ? 0.0 : 1.0, base, true});
    const auto differences = paired_differences(grouping_, options_.compare);
    for (size_t g = 0; g < differences.size(); ++g) {
      if (differences[g].is_baseline || differences[g].pairs == 0) continue;
      // The mean log ratio and its CI's ends as ratios; one pair: no interval.
      ChartSeries series = estimate_series(group_label(g), differences[g].by_length, true, -INFINITY, INFINITY,
                                           bpb ? nullptr : static_cast<double (*)(double)>(std::exp));
      series.color = static_cast<int>(g);
      chart.series.push_back(series);
    }
    return figure(chart, std::string(bpb ? "Each run's bits per byte minus its baseline run's" : "Each run's perplexity divided by its baseline run's") +
                             " (the same seed, so the same training batches and eval windows), mean over the pairs" +
                             (bpb ? "" : " (geometric)") + " with its 95% CI (t); the horizontal line is the baseline, " +
                             base + ". A band clear of it is a difference beyond seed noise at that length.");
  }

  // Synthetic tasks: accuracy vs length, and anchor_composite's held-out pair.
  std::string task_section() {
    LineChart accuracy{"Accuracy vs evaluation length", "evaluation length (tokens)", "exact-match accuracy (scored positions)", true, false};
    LineChart anchor{"Held-out anchor pair (4,3)", "evaluation length (tokens)", "share of answers", true, false};
    accuracy.y_from_zero = anchor.y_from_zero = true;
    accuracy.markers = anchor.markers = train_length_markers(grouping_);
    bool any_accuracy = false, any_anchor = false;
    for (size_t g = 0; g < grouping_.groups.size(); ++g) {
      std::map<int64_t, std::vector<double>> correct, inferential, symmetric;
      for (const auto* curve : finished(grouping_.groups[g], false)) {
        const auto* values = extra(*curve->run, "eval/accuracy");
        const auto* composed = extra(*curve->run, "eval/anchor/inferential_accuracy");
        const auto* mirrored = extra(*curve->run, "eval/anchor/symmetric_accuracy");
        for (size_t i = 0; i < curve->run->eval_lengths.size(); ++i) {
          const int64_t length = curve->run->eval_lengths[i];
          if (values) correct[length].push_back((*values)[i]);
          if (composed && mirrored) inferential[length].push_back((*composed)[i]), symmetric[length].push_back((*mirrored)[i]);
        }
      }
      auto series_of = [&](const std::map<int64_t, std::vector<double>>& samples, const std::string& label, bool with_band) {
        ChartSeries series = band_series(label, samples, with_band, 0, 1);
        series.color = static_cast<int>(g);
        return series;
      };
      any_accuracy = any_accuracy || !correct.empty();
      accuracy.series.push_back(series_of(correct, group_label(g), true));
      if (!inferential.empty()) {
        any_anchor = true;
        // No bands: seeds tend to settle on one rule or the other, so a band would span [0, 1].
        anchor.series.push_back(series_of(inferential, group_label(g) + " x-10", false));
        ChartSeries mirrored = series_of(symmetric, group_label(g) + " x-6", false);
        mirrored.dashed = true;
        anchor.series.push_back(mirrored);
      }
    }
    if (!any_accuracy) return "";
    std::string out = "<h2>Task accuracy</h2>\n<div class=\"charts\">" +
                      figure(accuracy, "Share of the task's scored positions where the most likely token is the "
                                       "answer, on test sequences of each length (mean over seeds, 95% CI band "
                                       "clipped to [0, 1]).");
    if (any_anchor)
      out += figure(anchor, "The anchor pair (4,3), never seen in training: solid, answers x-10 (composing the two "
                            "single-anchor maps, inferential); dashed, answers x-6 (mirroring the trained pair (3,4), "
                            "symmetric). Means over seeds; each run's values are in the store.");
    return out + "</div>\n";
  }

  // Passkey retrieval: one depth × length heat map per group (mean accuracy over its
  // finished seeds), a table whose cells are shaded by accuracy.
  std::string passkey_section() {
    std::string maps;
    for (size_t g = 0; g < grouping_.groups.size(); ++g) {
      std::map<int64_t, std::vector<double>> sums;  // length → per depth
      std::map<int64_t, std::vector<double>> distances;
      int64_t seeds = 0, depths = 0;
      for (const auto* curve : finished(grouping_.groups[g], false)) {
        const StoredRun& run = *curve->run;
        auto accuracy = run.extra.find("eval/passkey/accuracy");
        auto distance = run.extra.find("eval/passkey/distance");
        if (accuracy == run.extra.end() || distance == run.extra.end() || run.eval_lengths.empty()) continue;
        depths = static_cast<int64_t>(accuracy->second.size() / run.eval_lengths.size());
        for (size_t i = 0; i < run.eval_lengths.size(); ++i) {
          auto& row = sums[run.eval_lengths[i]];
          row.resize(static_cast<size_t>(depths), 0.0);
          distances[run.eval_lengths[i]].assign(distance->second.begin() + static_cast<std::ptrdiff_t>(i * depths),
                                                distance->second.begin() + static_cast<std::ptrdiff_t>((i + 1) * depths));
          for (int64_t d = 0; d < depths; ++d) row[d] += accuracy->second[i * depths + d];
        }
        ++seeds;
      }
      if (seeds == 0) continue;
      std::ostringstream table;
      table << "<figure><table class=\"heat\"><tr><th>depth \\ length</th>";
      for (const auto& [length, row] : sums) table << "<th>" << length << "</th>";
      table << "</tr>\n";
      for (int64_t d = 0; d < depths; ++d) {
        table << "<tr><th>" << fixed(depths > 1 ? static_cast<double>(d) / static_cast<double>(depths - 1) : 0.5, 2) << "</th>";
        for (const auto& [length, row] : sums) {
          const double mean = row[d] / static_cast<double>(seeds);
          const int light = 100 - static_cast<int>(std::lround(55 * std::clamp(mean, 0.0, 1.0)));
          table << "<td style=\"background:hsl(140,55%," << light << "%)\" title=\"needle " << fixed(distances[length][d], 0)
                << " tokens back\">" << fixed(mean, 2) << "</td>";
        }
        table << "</tr>\n";
      }
      table << "</table><figcaption>" << escape_html(group_label(g)) << " (" << seeds << " seed" << (seeds > 1 ? "s" : "")
            << ")</figcaption></figure>";
      maps += table.str();
    }
    if (maps.empty()) return "";
    return "<h2>Passkey retrieval</h2>\n<p class=\"note\">Share of the pass key's digits predicted exactly (teacher "
           "forcing) with the needle at each depth of a window of each length (depth 0: first; 1: right before the "
           "question); darker is better; hover a cell for the needle's distance. A model below 0.9 at its train length "
           "is flagged in the table (pk_dist '-'), not ranked.</p>\n<div class=\"charts\">" + maps + "</div>\n";
  }

  std::string position_loss_figure() {
    LineChart chart{"Loss by position", "position in the window (tokens)", "loss (nats/token)", true, false};
    chart.markers = train_length_markers(grouping_);
    int64_t longest = 0;
    for (size_t g = 0; g < grouping_.groups.size(); ++g) {
      std::vector<const std::vector<double>*> losses;
      for (const auto* curve : finished(grouping_.groups[g], true)) {
        const auto* loss = &curve->run->position_loss;
        for (const auto& variant : curve->run->variants)
          if (&variant.ppl == curve->ppl) loss = &variant.position_loss;
        if (!loss->empty() && (losses.empty() || loss->size() == losses.front()->size())) losses.push_back(loss);
      }
      ChartSeries series{group_label(g), {}, {}, {}, {}};
      if (!losses.empty()) {
        log_binned(mean_of(losses), series.x, series.y);
        longest = std::max<int64_t>(longest, static_cast<int64_t>(losses.front()->size()));
      }
      chart.series.push_back(series);
    }
    if (longest == 0) return "";
    return figure(chart, "Mean loss at each position of windows of the longest evaluation length (" + std::to_string(longest) +
                             " tokens), averaged over log-spaced bins of positions and over seeds; dashed line: the train "
                             "length. Loss that rises past it is the extrapolation failure, position by position.");
  }

  std::string receptive_field_section() {
    LineChart windows{"Perplexity with attention limited to the last w keys", "attention window w (tokens)", "perplexity", true, true};
    LineChart gradient{"Cumulative gradient from the newest token back", "tokens back k", "share of gradient norm C(k)", true, false};
    gradient.y_from_zero = true;
    gradient.markers = {{0.5, "0.5", true}, {0.9, "0.9", true}, {0.99, "0.99", true}};
    bool any_windows = false, any_gradient = false;
    for (size_t g = 0; g < grouping_.groups.size(); ++g) {
      const auto curves = finished(grouping_.groups[g], false);
      std::vector<const std::vector<double>*> ppl, cumulative;
      const std::vector<double>* window_sizes = nullptr;
      std::vector<double> effective_context;
      std::vector<std::vector<double>> erfs(3);
      for (const auto* curve : curves) {
        if (const auto* values = extra(*curve->run, "receptive_field/ppl")) {
          ppl.push_back(values);
          window_sizes = extra(*curve->run, "receptive_field/windows");
          effective_context.push_back(extra_at(*curve->run, "receptive_field/effective_context", 0));
        }
        if (const auto* values = extra(*curve->run, "receptive_field/cumulative_gradient")) {
          if (cumulative.empty() || values->size() == cumulative.front()->size()) cumulative.push_back(values);
          for (size_t a = 0; a < 3; ++a) erfs[a].push_back(extra_at(*curve->run, "receptive_field/erf", a));
        }
      }
      ChartSeries window_series{group_label(g), {}, {}, {}, {}}, gradient_series{group_label(g), {}, {}, {}, {}};
      if (!ppl.empty() && window_sizes) {
        any_windows = true;
        window_series.x = *window_sizes;
        window_series.y = mean_of(ppl);
        // The effective context on the curve: the median over seeds, a window of the grid
        // (as compare's eff_ctx; a mean would fall between windows).
        const double context = median_on_grid(effective_context);
        for (size_t i = 0; i < window_series.x.size(); ++i)
          if (window_series.x[i] >= context) {
            window_series.points.push_back({window_series.x[i], window_series.y[i]});
            break;
          }
      }
      if (!cumulative.empty()) {
        any_gradient = true;
        gradient_series.y = mean_of(cumulative);
        for (size_t k = 0; k < gradient_series.y.size(); ++k) gradient_series.x.push_back(static_cast<double>(k + 1));
        for (const auto& values : erfs) {
          const double k = std::round(estimate(values).mean);
          if (k >= 1 && k <= static_cast<double>(gradient_series.y.size()))
            gradient_series.points.push_back({k, gradient_series.y[static_cast<size_t>(k) - 1]});
        }
      }
      windows.series.push_back(window_series);
      gradient.series.push_back(gradient_series);
    }
    if (!any_windows && !any_gradient) return "";
    std::string out = "<h2>Receptive field</h2>\n<div class=\"charts\">";
    if (any_windows)
      out += figure(windows, "Perplexity at the analysis length when every query sees only its last w keys (mean over "
                             "seeds); the dot marks the effective context: the smallest w within 1+epsilon of the "
                             "model's own perplexity.");
    if (any_gradient)
      out += figure(gradient, "C(k): share of the gradient norm of the last position's loss held by the k newest tokens "
                              "(mean over sequences and seeds); dots mark ERF50, ERF90 and ERF99.");
    return out + "</div>\n";
  }

  std::string attention_section() {
    // One chart per layer: mass per token of distance (mass of a bin / its width), mean over heads and seeds.
    std::vector<LineChart> charts;
    for (size_t g = 0; g < grouping_.groups.size(); ++g) {
      const auto curves = finished(grouping_.groups[g], false);
      std::vector<const std::vector<double>*> masses;
      const std::vector<double>* edges = nullptr;
      int64_t layers = 0, heads = 0;
      for (const auto* curve : curves)
        if (const auto* mass = extra(*curve->run, "attention/mass_by_distance")) {
          if (!masses.empty() && mass->size() != masses.front()->size()) continue;
          masses.push_back(mass);
          edges = extra(*curve->run, "attention/distance_bins");
          layers = config_integer(curve->config, "model.layers").value_or(0);
          heads = config_integer(curve->config, "model.heads").value_or(0);
        }
      if (masses.empty() || !edges || layers <= 0 || heads <= 0) {
        for (auto& chart : charts) chart.series.push_back({group_label(g), {}, {}, {}, {}});
        continue;
      }
      const auto mass = mean_of(masses);
      const size_t bins = edges->size() - 1;
      while (charts.size() < static_cast<size_t>(layers)) {
        charts.push_back({"Attention by distance, layer " + std::to_string(charts.size() + 1), "key distance + 1 (tokens)",
                          "attention mass per token of distance", true, true});
        for (size_t previous = 0; previous < g; ++previous) charts.back().series.push_back({group_label(previous), {}, {}, {}, {}});
      }
      for (size_t layer = 0; layer < charts.size(); ++layer) {
        ChartSeries series{group_label(g), {}, {}, {}, {}};
        if (layer < static_cast<size_t>(layers))
          for (size_t b = 0; b < bins; ++b) {
            const double width = (*edges)[b + 1] - (*edges)[b];
            double sum = 0;
            for (int64_t h = 0; h < heads; ++h) sum += mass[(layer * static_cast<size_t>(heads) + static_cast<size_t>(h)) * bins + b];
            series.x.push_back(width == 1 ? (*edges)[b] + 1 : std::sqrt(((*edges)[b] + 1) * (*edges)[b + 1]));
            series.y.push_back(sum / static_cast<double>(heads) / width);
          }
        charts[layer].series.push_back(series);
      }
    }
    if (charts.empty()) return "";
    std::string out = "<h2>Attention by distance</h2>\n<div class=\"charts\">";
    for (const auto& chart : charts)
      out += figure(chart, "Attention probability per token of key distance (a bin's mass divided by its width), mean "
                           "over heads, queries and seeds, at the analysis length. A slope means a recency bias; a flat "
                           "tail means attention spread over the whole window.");
    return out + "</div>\n";
  }

  std::string bias_section() {
    std::string out;
    for (size_t g = 0; g < grouping_.groups.size(); ++g) {
      const auto curves = finished(grouping_.groups[g], false);
      if (curves.empty() || curves.front()->run->bias_profile.empty()) continue;
      const StoredRun& run = *curves.front()->run;  // one seed: biases are not averaged across seeds
      const auto& shape = run.bias_profile_shape;
      const int64_t layers = shape.size() == 3 ? shape[0] : 1, heads = shape[shape.size() - 2], n = shape.back();
      for (int64_t layer = 0; layer < layers; ++layer) {
        LineChart chart{"Bias by distance: " + group_label(g) + (layers > 1 ? ", layer " + std::to_string(layer + 1) : ""),
                        "distance to the key (tokens)", "bias added to the attention logit", false, false};
        chart.markers = {{static_cast<double>(curves.front()->train_length()), "L_train"}};
        for (int64_t h = 0; h < heads; ++h) {
          ChartSeries series{"head " + std::to_string(h + 1), {}, {}, {}, {}};
          for (int64_t d = 0; d < n; ++d) {
            series.x.push_back(static_cast<double>(d));
            series.y.push_back(run.bias_profile[static_cast<size_t>((layer * heads + h) * n + d)]);
          }
          chart.series.push_back(series);
        }
        out += figure(chart, "The bias each head adds to the logit of a key at distance d, after training (run " +
                                 escape_html(run.row.run_id) + ").");
      }
    }
    if (out.empty()) return "";
    return "<h2>Bias profiles</h2>\n<div class=\"charts\">" + out + "</div>\n";
  }

  std::string probe_section() {
    LineChart chart{"Position probe by layer", "layer (0: embedding output)", "R² of a ridge probe for position", false, false};
    chart.x_integer = true;
    bool any = false;
    for (size_t g = 0; g < grouping_.groups.size(); ++g) {
      std::vector<const std::vector<double>*> r2;
      const std::vector<double>* lengths = nullptr;
      for (const auto* curve : finished(grouping_.groups[g], false))
        if (const auto* values = extra(*curve->run, "probe/position_r2")) {
          if (!r2.empty() && values->size() != r2.front()->size()) continue;
          r2.push_back(values);
          lengths = extra(*curve->run, "probe/lengths");
        }
      if (r2.empty() || !lengths) continue;
      any = true;
      const auto mean = mean_of(r2);
      const size_t per_length = mean.size() / lengths->size();
      for (size_t l = 0; l < lengths->size(); ++l) {
        ChartSeries series{group_label(g) + " @" + std::to_string(static_cast<int64_t>((*lengths)[l])), {}, {}, {}, {}};
        series.dashed = l > 0;
        series.color = static_cast<int>(g);
        for (size_t layer = 0; layer < per_length; ++layer) {
          series.x.push_back(static_cast<double>(layer));
          series.y.push_back(mean[l * per_length + layer]);
        }
        chart.series.push_back(series);
      }
    }
    if (!any) return "";
    return "<h2>Position probes</h2>\n<div class=\"charts\">" +
           figure(chart, "R² of a ridge regression from each layer's hidden state to the token's position, on held-out "
                         "windows; solid: at the train length, dashed: at the longest length (mean over seeds).") +
           "</div>\n";
  }

  std::string training_section() {
    LineChart chart{"Training loss", "step", "training loss (nats/token)", false, false};
    for (size_t g = 0; g < grouping_.groups.size(); ++g) {
      // One curve per run: a run's variant curves can share its group (--by without encoding).
      std::map<const StoredRun*, const RunCurve*> runs;
      for (const auto& curve : grouping_.groups[g].curves) runs.emplace(curve.run, &curve);
      for (const auto& [run, curve] : runs) {
        if (run->train_step.empty()) continue;
        ChartSeries series{group_label(g), {}, run->train_loss, {}, {}};
        if (runs.size() > 1) series.label += " s" + curve->config.at("seed");
        if (run->row.status != "done") series.label += " (" + run->row.status + ")";
        for (int64_t step : run->train_step) series.x.push_back(static_cast<double>(step));
        series.color = static_cast<int>(g);
        chart.series.push_back(series);
      }
    }
    if (chart.series.empty()) return "";
    const bool bpb = options_.compare.metric == "bpb";
    LineChart ppl{bpb ? "Bits per byte during training" : "Held-out perplexity during training", "step",
                  bpb ? "bits per byte (held-out text)" : "perplexity (held-out, per token)", false, !bpb};
    LineChart accuracy{"Accuracy during training", "step", "exact-match accuracy (scored positions)", false, false};
    accuracy.y_from_zero = true;
    std::string history = history_figure("eval_history/ppl", ppl, -INFINITY, INFINITY, bpb) +
                          history_figure("eval_history/accuracy", accuracy, 0, 1, false);
    if (!history.empty())
      history = "<p class=\"note\">With <code>train.eval_every</code>: the held-out evaluation every that many "
                "steps, as the final one computes it (its last point). Solid: at the train length; dashed: at the "
                "longest eval length; mean over the finished seeds, 95% CI band.</p>\n<div class=\"charts\">" +
                history + "</div>\n";
    return "<h2>Training</h2>\n<div class=\"charts\">" +
           figure(chart, "Mean training loss between log points, every run (one colour per group).") + "</div>\n" +
           history;
  }

  // train.eval_every: `dataset` ([steps, eval lengths]) over training, per group, at the
  // train length (solid) and the longest eval length (dashed), perplexities as bits per
  // byte with `to_bpb` (--metric bpb; each point has the final eval's windows, so its
  // tokens and bytes); "" when no run has it.
  std::string history_figure(const std::string& dataset, LineChart chart, double floor, double ceiling, bool to_bpb) {
    for (size_t g = 0; g < grouping_.groups.size(); ++g) {
      std::map<int64_t, std::vector<double>> at_train, at_longest;
      std::set<int64_t> train_lengths, longest_lengths;  // one each, unless --by mixes them
      for (const auto* curve : finished(grouping_.groups[g], false)) {
        const auto* steps = extra(*curve->run, "eval_history/step");
        const auto* values = extra(*curve->run, dataset);
        const auto& lengths = curve->run->eval_lengths;
        if (!steps || !values || lengths.empty()) continue;
        const int64_t train_length = curve->train_length();
        train_lengths.insert(train_length);
        longest_lengths.insert(lengths.back());
        const size_t train_index = static_cast<size_t>(
            std::find(lengths.begin(), lengths.end(), train_length) - lengths.begin());
        for (size_t point = 0; point < steps->size(); ++point) {
          if ((*steps)[point] < 0) continue;  // not reached (a diverged run)
          const auto step = static_cast<int64_t>((*steps)[point]);
          std::vector<double> row(values->begin() + point * lengths.size(), values->begin() + (point + 1) * lengths.size());
          if (to_bpb) row = bits_per_byte(*curve->run, row);
          if (train_index < lengths.size()) at_train[step].push_back(row[train_index]);
          at_longest[step].push_back(row.back());
        }
      }
      if (at_longest.empty()) continue;
      auto series_of = [&](const std::map<int64_t, std::vector<double>>& samples, const std::string& label) {
        ChartSeries series = band_series(label, samples, true, floor, ceiling);
        series.color = static_cast<int>(g);
        return series;
      };
      auto at = [](const std::set<int64_t>& lengths, const std::string& otherwise) {
        return " @" + (lengths.size() == 1 ? std::to_string(*lengths.begin()) : otherwise);
      };
      chart.series.push_back(series_of(at_train, group_label(g) + at(train_lengths, "L_train")));
      if (longest_lengths != train_lengths) {
        ChartSeries far = series_of(at_longest, group_label(g) + at(longest_lengths, "longest"));
        far.dashed = true;
        chart.series.push_back(far);
      }
    }
    if (chart.series.empty()) return "";
    return figure(chart, chart.title + " at the train length (solid) and the longest eval length (dashed).");
  }

  std::string runs_section() {
    std::ostringstream out;
    out << "<h2>Runs</h2>\n<table>\n<tr><th class=\"text\">run</th><th class=\"text\">status</th><th>params</th>"
           "<th>final loss</th><th>train tok/s</th><th>wall (s)</th><th class=\"text\">host</th><th>rank</th>"
           "<th class=\"text\">config</th></tr>\n";
    for (const auto& store : stores_)
      for (const auto& run : store.runs) {
        const auto& s = run.summary;
        auto fixed = [](double value, int digits) {
          if (!std::isfinite(value)) return std::string("-");
          std::ostringstream text;
          text.setf(std::ios::fixed);
          text.precision(digits);
          text << value;
          return text.str();
        };
        out << "<tr><td class=\"text\">" << escape_html(run.row.run_id) << "</td><td class=\"text " << escape_html(run.row.status)
            << "\">" << escape_html(run.row.status) << "</td><td>" << run.params << "</td><td>"
            << fixed(s.final_train_loss, 4) << "</td><td>" << fixed(s.train_tokens_per_second, 0) << "</td><td>"
            << fixed(s.wall_seconds, 1) << "</td><td class=\"text\">" << (s.host.empty() ? "-" : escape_html(s.host))
            << "</td><td>" << (s.rank >= 0 ? std::to_string(s.rank) : "-") << "</td><td class=\"text\"><details><summary>"
               "config</summary><pre>"
            << escape_html(run.config) << "</pre></details></td></tr>\n";
      }
    return out.str() + "</table>\n";
  }

  // Raw text: charts escape what they draw.
  const std::string& group_label(size_t g) const { return labels_[g]; }

  const std::vector<StoreContents>& stores_;
  const ReportOptions& options_;
  Grouping grouping_;
  std::vector<std::string> labels_;  // per group: the values of the keys that vary
};

}  // namespace

std::string html_report(const std::vector<StoreContents>& stores, const ReportOptions& options) {
  return Report(stores, options).html();
}

}  // namespace pebench
