#include "results/compare.h"

#include "results/config_text.h"
#include "results/json.h"
#include "results/text_formats.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <stdexcept>
#include <iomanip>
#include <map>
#include <set>
#include <sstream>

namespace pebench {
namespace {

// Canonical configs keep every digit of a real (0.3 is 0.29999999999999999); tables,
// labels and --where use its shortest faithful form, 15 significant digits.
std::string readable(const std::string& value) {
  if (value.find_first_of(".eE") == std::string::npos) return value;
  char* end = nullptr;
  const double number = std::strtod(value.c_str(), &end);
  if (end != value.c_str() + value.size()) return value;
  std::ostringstream out;
  out.precision(15);
  out << number;
  return out.str();
}

std::map<std::string, std::string> parse_config(const std::string& text) {
  auto values = parse_config_text(text);
  for (auto& [key, value] : values) value = readable(value);
  return values;
}

}  // namespace

std::string fixed(double value, int digits) {
  if (!std::isfinite(value)) return "nan";
  std::ostringstream out;
  out << std::fixed << std::setprecision(digits) << value;
  return out.str();
}

namespace {

// Left-aligned columns separated by two spaces.
std::string render(std::vector<std::vector<std::string>> rows) {
  for (auto& row : rows)
    for (auto& cell : row) cell = terminal_text(cell);
  std::vector<size_t> widths;
  for (const auto& row : rows)
    for (size_t c = 0; c < row.size(); ++c) {
      if (widths.size() <= c) widths.push_back(0);
      widths[c] = std::max(widths[c], row[c].size());
    }
  std::ostringstream out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      line += row[c];
      if (c + 1 < row.size()) line += std::string(widths[c] - row[c].size() + 2, ' ');
    }
    out << line << "\n";
  }
  return out.str();
}

// Analysis summaries shown when some run has them (harness/analyse.h); NaN when a run lacks one.
struct AnalysisColumn {
  std::string header;
  int digits;
  double (*value)(const StoredRun&);
  // A value from a fixed grid (attention windows, passkey distances): over seeds the
  // median with its range, as eff_len, since a mean would name a window never tried.
  bool on_a_grid = false;
};
// Probe R² of the last layer at the train length, or at the longest eval length.
double last_layer_r2(const StoredRun& run, bool longest) {
  auto lengths = run.extra.find("probe/lengths");
  auto r2 = run.extra.find("probe/position_r2");
  if (lengths == run.extra.end() || r2 == run.extra.end() || lengths->second.empty()) return NAN;
  const size_t per_length = r2->second.size() / lengths->second.size();
  const size_t row = longest ? lengths->second.size() - 1 : 0;
  return r2->second[row * per_length + per_length - 1];
}
// anchor_composite's held-out pair at the train length.
double at_train_length(const StoredRun& run, const std::string& name) {
  const auto at = std::find(run.eval_lengths.begin(), run.eval_lengths.end(), run.row.train_seq_len);
  return at == run.eval_lengths.end() ? NAN : extra_at(run, name, static_cast<size_t>(at - run.eval_lengths.begin()));
}
// Passkey accuracy at the train length, mean over depths: a model below 0.9 there is
// flagged (its pk_dist is left out), not ranked by distance.
double passkey_at_train_length(const StoredRun& run) {
  auto found = run.extra.find("eval/passkey/accuracy");
  const auto at = std::find(run.eval_lengths.begin(), run.eval_lengths.end(), run.row.train_seq_len);
  if (found == run.extra.end() || at == run.eval_lengths.end() || run.eval_lengths.empty()) return NAN;
  const size_t depths = found->second.size() / run.eval_lengths.size();
  const size_t row = static_cast<size_t>(at - run.eval_lengths.begin());
  double sum = 0;
  for (size_t d = 0; d < depths; ++d) sum += found->second[row * depths + d];
  return depths > 0 ? sum / static_cast<double>(depths) : NAN;
}
const std::vector<AnalysisColumn>& analysis_columns() {
  static const std::vector<AnalysisColumn> columns = {
      {"inferential", 3, [](const StoredRun& run) { return at_train_length(run, "eval/anchor/inferential_accuracy"); }},
      {"symmetric", 3, [](const StoredRun& run) { return at_train_length(run, "eval/anchor/symmetric_accuracy"); }},
      {"ERF90", 1, [](const StoredRun& run) { return extra_at(run, "receptive_field/erf", 1); }},
      {"eff_ctx", 1, [](const StoredRun& run) { return extra_at(run, "receptive_field/effective_context", 0); }, true},
      {"pk@L_train", 2, [](const StoredRun& run) { return passkey_at_train_length(run); }},
      {"pk_dist", 0, [](const StoredRun& run) {
         return passkey_at_train_length(run) >= 0.9 ? extra_at(run, "eval/passkey/max_distance", 0) : NAN;
       }, true},
      {"R2@L_train", 3, [](const StoredRun& run) { return last_layer_r2(run, false); }},
      {"R2@longest", 3, [](const StoredRun& run) { return last_layer_r2(run, true); }},
  };
  return columns;
}

// A cell: its text for tables, its number for sorting and JSON (NaN: none), or a string.
struct Cell {
  std::string text;
  double number = NAN;
  bool is_number = false;
};
Cell text_cell(const std::string& text) { return {text, NAN, false}; }
Cell number_cell(double value, int digits) { return {std::isfinite(value) ? fixed(value, digits) : "-", value, true}; }


}  // namespace

std::vector<double> bits_per_byte(const StoredRun& run, const std::vector<double>& ppl) {
  std::vector<double> bpb(ppl.size(), NAN);
  for (size_t i = 0; i < ppl.size() && i < run.eval_tokens.size(); ++i) {
    const double bytes = extra_at(run, "eval/bytes", i);
    if (bytes > 0 && run.eval_tokens[i] > 0)
      bpb[i] = std::log2(ppl[i]) * static_cast<double>(run.eval_tokens[i]) / bytes;
  }
  return bpb;
}

double extra_at(const StoredRun& run, const std::string& name, size_t index) {
  auto found = run.extra.find(name);
  return found != run.extra.end() && index < found->second.size() ? found->second[index] : NAN;
}

double t_critical_95(int64_t df) {
  static const double table[] = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                                 2.201,  2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
                                 2.080,  2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042};
  if (df < 1) return NAN;
  if (df <= 30) return table[df - 1];
  // Cornish-Fisher expansion around the normal quantile; within 1e-3 past df = 30.
  const double z = 1.959964, d = static_cast<double>(df);
  return z + (z * z * z + z) / (4 * d) + (5 * std::pow(z, 5) + 16 * z * z * z + 3 * z) / (96 * d * d);
}

int64_t effective_extrapolation_length(const std::vector<int64_t>& lengths, const std::vector<double>& ppl,
                                       int64_t train_length, double tolerance) {
  double best = INFINITY;
  for (size_t i = 0; i < lengths.size(); ++i)
    if (lengths[i] <= train_length && std::isfinite(ppl[i])) best = std::min(best, ppl[i]);
  // From the train length on, as far as every length stays within the tolerance.
  int64_t reached = 0;
  for (size_t i = 0; i < lengths.size(); ++i) {
    if (lengths[i] < train_length) continue;
    if (!(ppl[i] <= (1 + tolerance) * best)) break;
    reached = lengths[i];
  }
  return reached;
}

Estimate estimate(const std::vector<double>& values) {
  Estimate e;
  e.n = static_cast<int64_t>(values.size());
  if (values.empty()) return e;
  double sum = 0;
  for (double v : values) sum += v;
  e.mean = sum / static_cast<double>(e.n);
  if (e.n < 2) return e;
  double squares = 0;
  for (double v : values) squares += (v - e.mean) * (v - e.mean);
  e.ci95 = t_critical_95(e.n - 1) * std::sqrt(squares / static_cast<double>(e.n - 1) / static_cast<double>(e.n));
  return e;
}

double median_on_grid(std::vector<double> values) {
  if (values.empty()) return NAN;
  const auto middle = values.begin() + static_cast<std::ptrdiff_t>((values.size() - 1) / 2);
  std::nth_element(values.begin(), middle, values.end());
  return *middle;
}

std::string CurveGroup::label(const std::vector<std::string>& by, const std::set<size_t>& varying) const {
  std::string text;
  for (size_t i = 0; i < by.size(); ++i) {
    if (!varying.count(i) && !(by[i] == "encoding" && varying.empty())) continue;
    std::string part = by[i] == "encoding" ? key[i]
                       : by[i] == "train.seq_len" ? "L" + key[i]
                       : by[i].substr(by[i].rfind('.') + 1) + "=" + key[i];
    text += (text.empty() ? "" : " ") + part;
  }
  return text.empty() ? "all runs" : text;
}

std::set<size_t> Grouping::varying_keys() const {
  std::set<size_t> varying;
  for (size_t i = 0; i < by.size(); ++i)
    for (const auto& group : groups)
      if (group.key[i] != groups.front().key[i]) varying.insert(i);
  return varying;
}

Grouping group_curves(const std::vector<StoreContents>& stores, const CompareOptions& options) {
  // Every curve that passes --where.
  std::vector<RunCurve> curves;
  std::map<std::string, std::set<std::string>> values_by_key;
  Grouping grouping;
  // Every run's config, parsed once; the keys any of them has.
  std::vector<std::map<std::string, std::string>> configs;
  std::set<std::string> stored_keys;
  for (const auto& contents : stores)
    for (const auto& run : contents.runs) {
      configs.push_back(parse_config(run.config));
      for (const auto& [key, value] : configs.back()) stored_keys.insert(key);
    }
  size_t run_index = 0;
  for (const auto& contents : stores)
    for (const auto& run : contents.runs) {
      auto& config = configs[run_index++];
      // A key the run leaves out had its legacy value if the run predates it, else its
      // store's default (recorded at creation), or, in stores made before defaults were
      // recorded, this version's.
      const auto as_stored = config;
      for (const auto& key : stored_keys) {
        if (config.count(key)) continue;
        const std::string legacy = options.legacy ? options.legacy(key, as_stored) : "";
        if (!legacy.empty()) {
          config[key] = legacy;
          continue;
        }
        auto from_store = contents.key_defaults.find(key);
        auto fallback = options.defaults.find(key);
        if (from_store != contents.key_defaults.end()) config[key] = readable(from_store->second);
        else if (fallback != options.defaults.end()) config[key] = readable(fallback->second);
      }
      std::vector<RunCurve> of_run{{&run, config.count("encoding") ? config.at("encoding") : run.row.encoding, &run.eval_ppl, config, false, nullptr}};
      for (const auto& variant : run.variants) of_run.push_back({&run, of_run[0].encoding + "+" + variant.name, &variant.ppl, config, true, nullptr});
      for (auto& curve : of_run) {
        if (options.metric == "bpb") {
          curve.converted = std::make_shared<const std::vector<double>>(bits_per_byte(run, *curve.ppl));
          curve.ppl = curve.converted.get();
        }
        const std::string base = curve.config["encoding"];
        curve.config["encoding"] = curve.encoding;
        bool kept = true;
        for (const auto& [key, allowed] : options.where) {
          auto found = curve.config.find(key);
          const bool matches = found != curve.config.end() &&
                               (allowed.count(found->second) || (key == "encoding" && allowed.count(base)));
          kept = kept && matches;
        }
        if (!kept) continue;
        for (const auto& [key, value] : curve.config) values_by_key[key].insert(value);
        grouping.lengths.insert(run.eval_lengths.begin(), run.eval_lengths.end());
        curves.push_back(curve);
      }
    }
  grouping.by = options.by;
  if (grouping.by.empty()) {
    grouping.by = {"encoding", "train.seq_len"};
    for (const auto& [key, values] : values_by_key)
      if (values.size() > 1 && key != "seed" && key != "encoding" && key != "train.seq_len") grouping.by.push_back(key);
  }
  std::map<std::vector<std::string>, std::vector<RunCurve>> groups;
  for (const auto& curve : curves) {
    std::vector<std::string> key;
    for (const auto& name : grouping.by) key.push_back(curve.config.count(name) ? curve.config.at(name) : "");
    groups[key].push_back(curve);
  }
  for (auto& [key, members] : groups) grouping.groups.push_back({key, std::move(members)});
  return grouping;
}

namespace {

// How far a baseline partner may differ besides the baseline key, tried in this order.
enum class Match {
  exact,        // in nothing else
  after_eval,   // in keys that change nothing the final eval computes: analysis.* (the
                // analyses run after it; eval/ppl bit for bit equal with and without, checked
                // on the zoo's rope) and train.eval_every (training and the final eval as
                // without it, tests/harness/mpi_study_test.sh)
  encoding_options,  // KEY = encoding only: also the encoding options (encoding.*), which
                     // the other encodings ignore
};

// Whether two curves' configs agree in every key but `skip` and those `match` lets differ.
// A key only one of them has differs.
bool equal_but(const RunCurve& a, const RunCurve& b, const std::string& skip, Match match) {
  auto ignored = [&](const std::string& key) {
    return key == skip ||
           (match != Match::exact && (key.rfind("analysis.", 0) == 0 || key == "train.eval_every")) ||
           (match == Match::encoding_options && key.rfind("encoding.", 0) == 0);
  };
  for (const auto* one : {&a, &b}) {
    const auto& other = one == &a ? b.config : a.config;
    for (const auto& [key, value] : one->config) {
      if (ignored(key)) continue;
      auto found = other.find(key);
      if (found == other.end() || found->second != value) return false;
    }
  }
  return true;
}

// The keys two configs differ in, for an error message ("encoding.share_across_layers").
std::string differing_keys(const RunCurve& a, const RunCurve& b, const std::string& skip) {
  std::string keys;
  for (const auto& [key, value] : a.config) {
    auto found = b.config.find(key);
    if (key != skip && (found == b.config.end() || found->second != value)) keys += (keys.empty() ? "" : ", ") + key;
  }
  return keys.empty() ? "nothing" : keys;
}

// `curve`'s baseline partner among `baseline`: the first Match level that finds one.
// Copies of one run (the same store passed twice) are one partner; different runs at the
// same level are ambiguous.
const RunCurve* partner_of(const RunCurve& curve, const std::vector<const RunCurve*>& baseline, const CompareOptions& options) {
  const std::string& key = options.baseline_key;
  for (Match match : {Match::exact, Match::after_eval, Match::encoding_options}) {
    if (match == Match::encoding_options && key != "encoding") break;
    std::vector<const RunCurve*> found;
    for (const auto* candidate : baseline)
      if (equal_but(curve, *candidate, key, match) &&
          (found.empty() || found.front()->run->row.run_id != candidate->run->row.run_id))
        found.push_back(candidate);
    if (found.size() > 1)
      throw std::invalid_argument(
          "--baseline " + key + "=" + options.baseline_value + ": run " + curve.run->row.run_id + " matches " +
          std::to_string(found.size()) + " baseline runs (" + found[0]->run->row.run_id + ", " + found[1]->run->row.run_id +
          ", which differ in " + differing_keys(*found[0], *found[1], key) + "); keep one with --where");
    if (!found.empty()) return found.front();
  }
  return nullptr;
}

}  // namespace

std::vector<PairedDifference> paired_differences(const Grouping& grouping, const CompareOptions& options) {
  const std::string& key = options.baseline_key;
  const std::string flag = "--baseline " + key + "=" + options.baseline_value;
  const auto at = std::find(grouping.by.begin(), grouping.by.end(), key);
  if (at == grouping.by.end()) {
    std::string by;
    for (const auto& name : grouping.by) by += (by.empty() ? "" : ", ") + name;
    throw std::invalid_argument(flag + ": " + key + " is not a grouping key (" + by +
                                "); the runs compared must differ in it, or --by must name it");
  }
  const size_t index = static_cast<size_t>(at - grouping.by.begin());
  std::vector<const RunCurve*> baseline;
  std::set<std::string> values;
  for (const auto& group : grouping.groups) {
    values.insert(group.key[index]);
    if (group.key[index] == options.baseline_value)
      for (const auto& curve : group.curves) baseline.push_back(&curve);
  }
  if (baseline.empty()) {
    std::string listed;
    for (const auto& value : values) listed += (listed.empty() ? "" : ", ") + value;
    throw std::invalid_argument(flag + ": no run compared has " + key + " = " + options.baseline_value +
                                "; its values: " + listed);
  }
  std::vector<PairedDifference> differences;
  for (const auto& group : grouping.groups) {
    PairedDifference difference;
    difference.is_baseline = group.key[index] == options.baseline_value;
    std::map<int64_t, std::vector<double>> samples, accuracy;
    for (const auto& curve : group.curves) {
      if (difference.is_baseline || curve.run->row.status != "done") continue;
      const RunCurve* partner = partner_of(curve, baseline, options);
      if (partner == nullptr || partner->run->row.status != "done") continue;
      ++difference.pairs;
      const auto& lengths = curve.run->eval_lengths;
      const auto& partner_lengths = partner->run->eval_lengths;
      for (size_t i = 0; i < lengths.size(); ++i) {
        const auto j = std::find(partner_lengths.begin(), partner_lengths.end(), lengths[i]);
        if (j == partner_lengths.end()) continue;
        const double value = (*curve.ppl)[i], base = (*partner->ppl)[static_cast<size_t>(j - partner_lengths.begin())];
        const double d = options.metric == "bpb" ? value - base : std::log(value / base);
        if (std::isfinite(d)) samples[lengths[i]].push_back(d);
        if (curve.is_variant() || partner->is_variant()) continue;
        const double accuracy_d = extra_at(*curve.run, "eval/accuracy", i) -
                                  extra_at(*partner->run, "eval/accuracy", static_cast<size_t>(j - partner_lengths.begin()));
        if (std::isfinite(accuracy_d)) accuracy[lengths[i]].push_back(accuracy_d);
      }
    }
    for (const auto& [length, values_at] : samples) difference.by_length[length] = estimate(values_at);
    for (const auto& [length, values_at] : accuracy) difference.accuracy[length] = estimate(values_at);
    differences.push_back(std::move(difference));
  }
  return differences;
}

namespace {

// A paired column's header: "ppl/base@1024" (the ratio), "bpb-base@1024" or
// "acc-base@1024" (the difference); bound "_lo" or "_hi" for the ends of its 95% CI.
std::string paired_column(const std::string& metric, int64_t length, const std::string& bound) {
  return (metric == "ppl" ? "ppl/base" : metric + "-base") + bound + "@" + std::to_string(length);
}

// The rows of every format, as cells, before formatting.
struct Table {
  Grouping grouping;
  std::vector<const AnalysisColumn*> shown;
  bool accuracy = false;  // synthetic tasks: acc@L columns
  std::vector<std::string> header;
  std::vector<std::vector<Cell>> body;
  // The index of the column named `name` (a header entry).
  size_t at(const std::string& name) const {
    const auto found = std::find(header.begin(), header.end(), name);
    if (found == header.end()) throw std::logic_error("compare: no column " + name);
    return static_cast<size_t>(found - header.begin());
  }
};

Table build_table(const std::vector<StoreContents>& stores, const CompareOptions& options) {
  Table table;
  table.grouping = group_curves(stores, options);
  const auto& by = table.grouping.by;
  const auto& all_lengths = table.grouping.lengths;
  auto& shown = table.shown;
  for (const auto& column : analysis_columns())
    for (const auto& group : table.grouping.groups)
      if (std::any_of(group.curves.begin(), group.curves.end(),
                      [&](const RunCurve& curve) { return std::isfinite(column.value(*curve.run)); })) {
        shown.push_back(&column);
        break;
      }

  for (const auto& group : table.grouping.groups)
    for (const auto& curve : group.curves) table.accuracy = table.accuracy || curve.run->extra.count("eval/accuracy");
  // Columns: group keys, status counts, ppl (mean, ci) per length, ratio, effective length,
  // accuracy (mean, ci) per length, analyses.
  auto& header = table.header;
  for (const auto& key : by) header.push_back(key == "train.seq_len" ? "L_train" : key);
  for (const char* name : {"seeds", "diverged", "failed", "unfinished"}) header.push_back(name);
  for (int64_t length : all_lengths) {
    header.push_back(options.metric + "@" + std::to_string(length));
    header.push_back("ci95@" + std::to_string(length));
  }
  for (const char* name : {"ratio", "ratio_ci95", "eff_len", "eff_len_min", "eff_len_max"}) header.push_back(name);
  const bool paired = !options.baseline_key.empty();
  std::vector<PairedDifference> differences;
  if (paired) {
    differences = paired_differences(table.grouping, options);
    header.push_back("pairs");
    for (int64_t length : all_lengths)
      for (const char* bound : {"", "_lo", "_hi"}) header.push_back(paired_column(options.metric, length, bound));
  }
  if (table.accuracy)
    for (int64_t length : all_lengths) {
      header.push_back("acc@" + std::to_string(length));
      header.push_back("acc_ci95@" + std::to_string(length));
    }
  if (table.accuracy && paired)
    for (int64_t length : all_lengths)
      for (const char* bound : {"", "_lo", "_hi"}) header.push_back(paired_column("acc", length, bound));
  for (const auto* column : shown) {
    header.push_back(column->header);
    if (column->on_a_grid) {
      header.push_back(column->header + "_min");
      header.push_back(column->header + "_max");
      header.push_back(column->header + "_seeds");  // how many finished seeds have a value
    } else {
      header.push_back(column->header + "_ci95");
    }
  }

  for (size_t g = 0; g < table.grouping.groups.size(); ++g) {
    const CurveGroup& group = table.grouping.groups[g];
    std::vector<Cell> row;
    for (const auto& value : group.key) row.push_back(text_cell(value));
    int64_t diverged = 0, failed = 0, unfinished = 0, done = 0;
    std::map<int64_t, std::vector<double>> ppl, accuracy;
    std::vector<double> ratios, effective;
    std::vector<std::vector<double>> analyses(shown.size());
    for (const RunCurve& curve : group.curves) {
      const std::string& status = curve.run->row.status;
      if (status == "diverged") ++diverged;
      else if (status == "failed") ++failed;
      else if (status != "done") ++unfinished;
      if (status != "done") continue;  // never averaged in
      ++done;
      const auto& lengths = curve.run->eval_lengths;
      for (size_t i = 0; i < lengths.size(); ++i) ppl[lengths[i]].push_back((*curve.ppl)[i]);
      const int64_t train_length = curve.train_length();
      const auto at_train = std::find(lengths.begin(), lengths.end(), train_length);
      if (at_train != lengths.end() && !lengths.empty())
        ratios.push_back(curve.ppl->back() / (*curve.ppl)[at_train - lengths.begin()]);
      effective.push_back(static_cast<double>(
          effective_extrapolation_length(lengths, *curve.ppl, train_length, options.tolerance)));
      // Task metrics and analyses describe the trained model: only on its own curve, not a variant's.
      if (!curve.is_variant() && curve.run->extra.count("eval/accuracy"))
        for (size_t i = 0; i < lengths.size(); ++i) accuracy[lengths[i]].push_back(curve.run->extra.at("eval/accuracy")[i]);
      if (!curve.is_variant())
        for (size_t c = 0; c < shown.size(); ++c)
          if (std::isfinite(shown[c]->value(*curve.run))) analyses[c].push_back(shown[c]->value(*curve.run));
    }
    row.push_back(number_cell(static_cast<double>(done), 0));
    row.push_back(number_cell(static_cast<double>(diverged), 0));
    row.push_back(number_cell(static_cast<double>(failed), 0));
    row.push_back(number_cell(static_cast<double>(unfinished), 0));
    for (int64_t length : all_lengths) {
      const Estimate e = estimate(ppl.count(length) ? ppl[length] : std::vector<double>{});
      row.push_back(number_cell(e.mean, 3));
      row.push_back(number_cell(e.ci95, 3));
    }
    const Estimate ratio = estimate(ratios);
    row.push_back(number_cell(ratio.mean, 2));
    row.push_back(number_cell(ratio.ci95, 2));
    // A value on a grid over seeds: the median, itself on the grid (the lower middle one
    // for an even count), the least and the most; a mean would name a length never
    // evaluated (64 and 1024 → 544).
    auto median_and_range = [&](const std::vector<double>& values, int digits) {
      const auto [least, most] = std::minmax_element(values.begin(), values.end());
      row.push_back(number_cell(median_on_grid(values), digits));
      row.push_back(number_cell(values.empty() ? NAN : *least, digits));
      row.push_back(number_cell(values.empty() ? NAN : *most, digits));
    };
    median_and_range(effective, 0);
    // Paired columns: the baseline's own rows say so; the others give the estimate and its
    // CI's ends, each exponentiated for a ppl ratio.
    auto paired_cells = [&](const std::map<int64_t, Estimate>& by_length, bool ratio) {
      for (int64_t length : all_lengths) {
        const auto found = by_length.find(length);
        const Estimate e = found != by_length.end() ? found->second : Estimate{};
        const double half = std::isfinite(e.ci95) ? e.ci95 : NAN;
        for (double d : {e.mean, e.mean - half, e.mean + half})
          row.push_back(differences[g].is_baseline ? text_cell("base") : number_cell(ratio ? std::exp(d) : d, 3));
      }
    };
    if (paired) {
      const PairedDifference& difference = differences[g];
      row.push_back(difference.is_baseline ? text_cell("base") : number_cell(static_cast<double>(difference.pairs), 0));
      paired_cells(difference.by_length, options.metric != "bpb");
    }
    if (table.accuracy)
      for (int64_t length : all_lengths) {
        const Estimate e = estimate(accuracy.count(length) ? accuracy[length] : std::vector<double>{});
        row.push_back(number_cell(e.mean, 3));
        row.push_back(number_cell(e.ci95, 3));
      }
    if (table.accuracy && paired) paired_cells(differences[g].accuracy, false);
    for (size_t c = 0; c < shown.size(); ++c) {
      if (shown[c]->on_a_grid) {
        median_and_range(analyses[c], shown[c]->digits);
        row.push_back(number_cell(static_cast<double>(analyses[c].size()), 0));
        continue;
      }
      const Estimate e = estimate(analyses[c]);
      row.push_back(number_cell(e.mean, shown[c]->digits));
      row.push_back(number_cell(e.ci95, shown[c]->digits));
    }
    table.body.push_back(row);
  }
  if (!options.sort.empty()) {
    const auto column = std::find(table.header.begin(), table.header.end(), options.sort) - table.header.begin();
    if (column == static_cast<std::ptrdiff_t>(table.header.size())) {
      std::string allowed;
      for (const auto& name : table.header) allowed += (allowed.empty() ? "" : ", ") + name;
      throw std::invalid_argument("--sort \"" + options.sort + "\": expected a column: " + allowed);
    }
    std::stable_sort(table.body.begin(), table.body.end(), [&](const std::vector<Cell>& a, const std::vector<Cell>& b) {
      const Cell &x = a[column], &y = b[column];
      if (x.is_number) {
        if (std::isnan(x.number) || std::isnan(y.number)) return !std::isnan(x.number) && std::isnan(y.number);
        return x.number < y.number;
      }
      return x.text < y.text;
    });
  }

  return table;
}

}  // namespace

CompareDisplay compare_display(const std::vector<StoreContents>& stores, const CompareOptions& options) {
  const Table table = build_table(stores, options);
  const auto& by = table.grouping.by;
  const auto& all_lengths = table.grouping.lengths;
  const auto& shown = table.shown;
  // ppl as "mean ±ci", status counts folded into "seeds".
  CompareDisplay display;
  auto& rows = display.rows;
  std::vector<std::string> shown_header;
  for (const auto& key : by) shown_header.push_back(key == "train.seq_len" ? "L_train" : key);
  shown_header.push_back("seeds");
  for (int64_t length : all_lengths) shown_header.push_back(options.metric + "@" + std::to_string(length));
  shown_header.push_back("ratio");
  shown_header.push_back("eff_len");
  const bool paired = !options.baseline_key.empty();
  if (paired) {
    shown_header.push_back("pairs");
    for (int64_t length : all_lengths) shown_header.push_back(paired_column(options.metric, length, ""));
  }
  if (table.accuracy)
    for (int64_t length : all_lengths) shown_header.push_back("acc@" + std::to_string(length));
  if (table.accuracy && paired)
    for (int64_t length : all_lengths) shown_header.push_back(paired_column("acc", length, ""));
  for (const auto* column : shown) shown_header.push_back(column->header);
  rows.push_back(shown_header);
  for (const auto& row : table.body) {
    auto cell = [&](const std::string& name) -> const Cell& { return row[table.at(name)]; };
    auto with_ci = [&](const std::string& mean, const std::string& ci) {
      return std::isfinite(cell(ci).number) ? cell(mean).text + " ±" + cell(ci).text : cell(mean).text;
    };
    std::vector<std::string> line;
    for (size_t i = 0; i < by.size(); ++i) line.push_back(row[i].text);
    std::string seeds = cell("seeds").text;
    for (const char* name : {"diverged", "failed", "unfinished"})
      if (cell(name).number > 0) seeds += " +" + cell(name).text + " " + name;
    line.push_back(seeds);
    for (int64_t length : all_lengths)
      line.push_back(with_ci(options.metric + "@" + std::to_string(length), "ci95@" + std::to_string(length)));
    line.push_back(with_ci("ratio", "ratio_ci95"));
    // "32 [16,64]": the median and, where the seeds differ, their range.
    auto with_range = [&](const std::string& name) {
      const Cell &least = cell(name + "_min"), &most = cell(name + "_max");
      return cell(name).text + (least.number < most.number ? " [" + least.text + "," + most.text + "]" : "");
    };
    line.push_back(with_range("eff_len"));
    // "0.912 [0.897,0.928]": the estimate and its 95% CI, the CI left out for one pair.
    auto with_interval = [&](const std::string& metric, int64_t length) {
      const Cell& lo = cell(paired_column(metric, length, "_lo"));
      const Cell& hi = cell(paired_column(metric, length, "_hi"));
      std::string text = cell(paired_column(metric, length, "")).text;
      if (lo.is_number && std::isfinite(lo.number) && std::isfinite(hi.number)) text += " [" + lo.text + "," + hi.text + "]";
      return text;
    };
    if (paired) {
      line.push_back(cell("pairs").text);
      for (int64_t length : all_lengths) line.push_back(with_interval(options.metric, length));
    }
    if (table.accuracy)
      for (int64_t length : all_lengths)
        line.push_back(with_ci("acc@" + std::to_string(length), "acc_ci95@" + std::to_string(length)));
    if (table.accuracy && paired)
      for (int64_t length : all_lengths) line.push_back(with_interval("acc", length));
    // "184 [107,260] (3 of 5)": pk_dist leaves out the seeds below 0.9 at the train length.
    for (const auto* column : shown) {
      if (!column->on_a_grid) {
        line.push_back(with_ci(column->header, column->header + "_ci95"));
        continue;
      }
      const Cell& with_value = cell(column->header + "_seeds");
      const bool some = with_value.number > 0 && with_value.number < cell("seeds").number;
      line.push_back(with_range(column->header) + (some ? " (" + with_value.text + " of " + cell("seeds").text + ")" : ""));
    }
    rows.push_back(line);
  }
  const std::string& m = options.metric;
  display.legend = (m == "bpb" ? "bpb: bits per byte of held-out text, log2(ppl) / (bytes per token); " : "ppl: ") +
      std::string("mean over finished seeds ±95% CI (t); ratio = ") + m + "(longest eval length) / " + m +
      "(train length); eff_len: longest length whose " + m + " stays within " + fixed(100 * options.tolerance, 0) +
      "% of the best at or below the train length\n";
  if (paired)
    display.legend += (m == "bpb" ? "bpb-base: bpb minus the baseline's (" : "ppl/base: ppl divided by the baseline's (") +
                      options.baseline_key + " = " + options.baseline_value +
                      "), run by run: each finished run against the finished baseline run equal to it in every key but " +
                      options.baseline_key + " (failing that, but keys that leave the final eval as it was: analysis.*, "
                      "train.eval_every" + (options.baseline_key == "encoding" ? "; then the encoding.* options too)" : ")") +
                      ", so the same seed (the same training batches, unless " + options.baseline_key +
                      " changes them) and eval windows; " +
                      (m == "bpb" ? "mean difference" : "geometric mean of the ratios") +
                      " over the pairs [95% CI (t)]; a CI that excludes " + (m == "bpb" ? "0" : "1") +
                      " is a difference beyond seed noise at that length (not corrected for testing several lengths)\n";
  if (table.accuracy)
    display.legend += "acc: exact-match accuracy at the task's scored positions (mean ±95% CI)\n";
  if (table.accuracy && paired)
    display.legend += "acc-base: acc minus the baseline run's, mean over the same pairs [95% CI (t)]\n";
  auto shows = [&](const std::string& header) {
    return std::any_of(shown.begin(), shown.end(), [&](const AnalysisColumn* c) { return c->header == header; });
  };
  if (shows("inferential"))
    display.legend += "inferential / symmetric: anchor pair (4,3), never trained, answered x-10 (composing the "
                      "single-anchor maps) / x-6 (mirroring the trained (3,4)), at the train length\n";
  if (std::any_of(shown.begin(), shown.end(), [](const AnalysisColumn* c) { return c->header == "ERF90" || c->header == "eff_ctx" || c->header.rfind("R2", 0) == 0; }))
    display.legend += "ERF90: tokens back holding 90% of the last token's input gradient; eff_ctx: smallest attention window "
                      "within 1+epsilon of full-context ppl; R2: position probe, last layer\n";
  if (shows("pk@L_train"))
    display.legend += "pk@L_train: passkey accuracy at the train length (mean over depths); pk_dist: the longest needle "
                      "distance retrieved at >= 0.9, '-' for a model below 0.9 at the train length (flagged, not ranked)\n";
  // Said only where a group has several seeds, so one-seed tables read as before.
  const bool several_seeds = std::any_of(table.body.begin(), table.body.end(),
                                         [&](const std::vector<Cell>& row) { return row[table.at("seeds")].number > 1; });
  if (several_seeds) {
    std::string medians = "eff_len", means;  // the columns of each kind, ", "-separated
    for (const auto* column : shown) {
      std::string& names = column->on_a_grid ? medians : means;
      names += (names.empty() ? "" : ", ") + column->header;
    }
    display.legend += "over finished seeds: " + medians + " as the median (the lower middle for an even count), " +
                      "[least,most] where the seeds differ" + (means.empty() ? "" : "; " + means + " as mean ±95% CI (t)") +
                      (shows("pk_dist") ? "; pk_dist over the seeds at >= 0.9 only" : "") + "\n";
  }
  return display;
}

std::string compare_stores(const std::vector<StoreContents>& stores, const CompareOptions& options) {
  if (options.format == "table" || options.format == "markdown") {
    const CompareDisplay display = compare_display(stores, options);
    if (options.format == "table") return render(display.rows) + display.legend;
    std::ostringstream out;
    for (size_t r = 0; r < display.rows.size(); ++r) {
      out << "|";
      for (const auto& cell : display.rows[r]) out << " " << markdown_cell(cell) << " |";
      out << "\n";
      if (r == 0) {
        out << "|";
        for (size_t c = 0; c < display.rows[0].size(); ++c) out << " --- |";
        out << "\n";
      }
    }
    return out.str() + "\n" + display.legend;
  }
  const Table table = build_table(stores, options);
  const auto& header = table.header;
  const auto& body = table.body;
  std::ostringstream out;
  if (options.format == "json") {
    out << "[\n";
    for (size_t r = 0; r < body.size(); ++r) {
      out << "  {";
      for (size_t c = 0; c < header.size(); ++c) {
        const Cell& cell = body[r][c];
        out << (c ? ", " : "") << json_string(header[c]) << ": "
            << (cell.is_number ? (std::isfinite(cell.number) ? [&] {
                                   std::ostringstream number;
                                   number.precision(17);
                                   number << cell.number;
                                   return number.str();
                                 }()
                                                             : std::string("null"))
                               : json_string(cell.text));
      }
      out << "}" << (r + 1 < body.size() ? "," : "") << "\n";
    }
    out << "]\n";
    return out.str();
  }
  if (options.format == "csv") {
    for (size_t c = 0; c < header.size(); ++c) out << (c ? "," : "") << csv_field(header[c]);
    out << "\n";
    for (const auto& row : body) {
      for (size_t c = 0; c < row.size(); ++c) {
        std::string text = row[c].text;
        if (row[c].is_number) {
          std::ostringstream number;
          number.precision(10);
          if (std::isfinite(row[c].number)) number << row[c].number;
          text = number.str();
        }
        out << (c ? "," : "") << csv_field(text);
      }
      out << "\n";
    }
    return out.str();
  }
  return out.str();
}

std::string compare_table(const StoreContents& contents) { return compare_stores({contents}, CompareOptions{}); }

std::string inspect_table(const StoreContents& contents) {
  std::vector<std::vector<std::string>> rows = {
      {"run_id", "status", "rank", "host", "device", "wall_s", "train_tok/s", "final_loss", "params"}};
  std::map<std::string, int> counts, computes;
  for (const auto& run : contents.runs) {
    const auto& s = run.summary;
    ++counts[run.row.status];
    if (!run.compute.empty()) ++computes[run.compute];
    // The device: the first word of the run's compute string (results/README.md).
    const std::string device = run.compute.substr(0, run.compute.find(' '));
    rows.push_back({run.row.run_id, run.row.status, s.rank >= 0 ? std::to_string(s.rank) : "-",
                    s.host.empty() ? "-" : s.host, device.empty() ? "-" : device, fixed(s.wall_seconds, 1),
                    fixed(s.train_tokens_per_second, 0), fixed(s.final_train_loss, 4),
                    std::to_string(run.params)});
  }
  std::string totals;
  for (const auto& [status, count] : counts) totals += (totals.empty() ? "" : ", ") + std::to_string(count) + " " + status;
  // How they were computed, whole (the device column is its first word): kernels, CUDA
  // graph, LibTorch.
  std::string computed;
  for (const auto& [compute, count] : computes)
    computed += "computed as " + terminal_text(compute) + ": " + std::to_string(count) + " run" + (count == 1 ? "" : "s") + "\n";
  return render(rows) + std::to_string(contents.runs.size()) + " runs: " + totals + "\n" + computed;
}

}  // namespace pebench
