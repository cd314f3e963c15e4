#include "results/compare.h"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <map>
#include <set>
#include <sstream>

namespace pebench {
namespace {

std::map<std::string, std::string> parse_config(const std::string& text) {
  std::map<std::string, std::string> values;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    const auto equals = line.find(" = ");
    if (equals != std::string::npos) values[line.substr(0, equals)] = line.substr(equals + 3);
  }
  return values;
}

std::string fixed(double value, int digits) {
  if (!std::isfinite(value)) return "nan";
  std::ostringstream out;
  out << std::fixed << std::setprecision(digits) << value;
  return out.str();
}

// Left-aligned columns separated by two spaces.
std::string render(const std::vector<std::vector<std::string>>& rows) {
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

// One ppl curve of a run: as trained, or an eval-time variant shown as "rope+pi".
struct Curve {
  const StoredRun* run;
  std::string encoding;
  const std::vector<double>* ppl;
};

// Analysis summaries shown when some run has them (harness/analyse.h); NaN when a run lacks one.
struct AnalysisColumn {
  std::string header;
  int digits;
  double (*value)(const StoredRun&);
};
double extra_at(const StoredRun& run, const std::string& name, size_t index) {
  auto found = run.extra.find(name);
  return found != run.extra.end() && index < found->second.size() ? found->second[index] : NAN;
}
// Probe R² of the last layer at probe length `row` (0: train length, last: longest).
double last_layer_r2(const StoredRun& run, bool longest) {
  auto lengths = run.extra.find("probe/lengths");
  auto r2 = run.extra.find("probe/position_r2");
  if (lengths == run.extra.end() || r2 == run.extra.end() || lengths->second.empty()) return NAN;
  const size_t per_length = r2->second.size() / lengths->second.size();
  const size_t row = longest ? lengths->second.size() - 1 : 0;
  return r2->second[row * per_length + per_length - 1];
}
const std::vector<AnalysisColumn>& analysis_columns() {
  static const std::vector<AnalysisColumn> columns = {
      {"ERF90", 1, [](const StoredRun& run) { return extra_at(run, "receptive_field/erf", 1); }},
      {"eff_ctx", 1, [](const StoredRun& run) { return extra_at(run, "receptive_field/effective_context", 0); }},
      {"R2@L_train", 3, [](const StoredRun& run) { return last_layer_r2(run, false); }},
      {"R2@longest", 3, [](const StoredRun& run) { return last_layer_r2(run, true); }},
  };
  return columns;
}

}  // namespace

std::string compare_table(const StoreContents& contents) {
  // Group curves whose configs are equal but for the seed; show the keys that vary.
  std::map<std::string, std::vector<Curve>> groups;
  std::map<std::string, std::set<std::string>> values_by_key;
  std::set<int64_t> all_lengths;
  for (const auto& run : contents.runs) {
    auto config = parse_config(run.config);
    for (const auto& [key, value] : config) values_by_key[key].insert(value);
    config.erase("seed");
    std::vector<Curve> curves{{&run, config["encoding"], &run.eval_ppl}};
    for (const auto& variant : run.variants) curves.push_back({&run, config["encoding"] + "+" + variant.name, &variant.ppl});
    for (const auto& curve : curves) {
      config["encoding"] = curve.encoding;
      std::string group_key;
      for (const auto& [key, value] : config) group_key += key + "=" + value + "\n";
      groups[group_key].push_back(curve);
    }
    all_lengths.insert(run.eval_lengths.begin(), run.eval_lengths.end());
  }
  std::vector<std::string> varying = {"encoding", "train.seq_len"};
  for (const auto& [key, values] : values_by_key)
    if (values.size() > 1 && key != "seed" && key != "encoding" && key != "train.seq_len") varying.push_back(key);

  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> header;
  for (const auto& key : varying) header.push_back(key == "train.seq_len" ? "L_train" : key);
  header.push_back("seeds");
  for (int64_t length : all_lengths) header.push_back("ppl@" + std::to_string(length));
  header.push_back("ratio");
  std::vector<const AnalysisColumn*> shown;
  for (const auto& column : analysis_columns())
    for (const auto& run : contents.runs)
      if (std::isfinite(column.value(run))) {
        shown.push_back(&column);
        header.push_back(column.header);
        break;
      }
  rows.push_back(header);

  std::vector<std::vector<std::string>> body;
  for (const auto& [group_key, curves] : groups) {
    auto config = parse_config(curves.front().run->config);
    config["encoding"] = curves.front().encoding;
    std::vector<std::string> row;
    for (const auto& key : varying) row.push_back(config.count(key) ? config.at(key) : "");
    int done = 0, diverged = 0, failed = 0, unfinished = 0;
    std::map<int64_t, double> ppl_sum;
    for (const auto& curve : curves) {
      const StoredRun* run = curve.run;
      const std::string& status = run->row.status;
      if (status == "done") {
        ++done;
        for (size_t i = 0; i < run->eval_lengths.size(); ++i) ppl_sum[run->eval_lengths[i]] += (*curve.ppl)[i];
      } else if (status == "diverged") {
        ++diverged;
      } else if (status == "failed") {
        ++failed;
      } else {
        ++unfinished;
      }
    }
    std::string seeds = std::to_string(done);
    if (diverged) seeds += " +" + std::to_string(diverged) + " diverged";
    if (failed) seeds += " +" + std::to_string(failed) + " failed";
    if (unfinished) seeds += " +" + std::to_string(unfinished) + " unfinished";
    row.push_back(seeds);
    for (int64_t length : all_lengths)
      row.push_back(done && ppl_sum.count(length) ? fixed(ppl_sum[length] / done, 3) : "-");
    const int64_t train_length = std::stoll(config.at("train.seq_len"));
    const auto& lengths = curves.front().run->eval_lengths;
    const int64_t longest = lengths.empty() ? 0 : lengths.back();
    if (done && ppl_sum.count(train_length) && ppl_sum.count(longest))
      row.push_back(fixed(ppl_sum[longest] / ppl_sum[train_length], 2));
    else
      row.push_back("-");
    // Analyses describe the trained model: its own curve's row, mean over finished seeds.
    for (const auto* column : shown) {
      double sum = 0;
      int count = 0;
      for (const auto& curve : curves)
        if (curve.run->row.status == "done" && curve.ppl == &curve.run->eval_ppl && std::isfinite(column->value(*curve.run))) {
          sum += column->value(*curve.run);
          ++count;
        }
      row.push_back(count ? fixed(sum / count, column->digits) : "-");
    }
    body.push_back(row);
  }
  std::sort(body.begin(), body.end());
  rows.insert(rows.end(), body.begin(), body.end());
  return render(rows) +
         "ppl: mean over finished seeds; ratio = ppl(longest eval length) / ppl(train length)\n" +
         (shown.empty() ? std::string()
                        : std::string("ERF90: tokens back holding 90% of the last token's input gradient; eff_ctx: smallest "
                                      "attention window within 1+epsilon of full-context ppl; R2: position probe, last layer\n"));
}

std::string inspect_table(const StoreContents& contents) {
  std::vector<std::vector<std::string>> rows = {
      {"run_id", "status", "rank", "host", "wall_s", "train_tok/s", "final_loss", "params"}};
  std::map<std::string, int> counts;
  for (const auto& run : contents.runs) {
    const auto& s = run.summary;
    ++counts[run.row.status];
    rows.push_back({run.row.run_id, run.row.status, s.rank >= 0 ? std::to_string(s.rank) : "-",
                    s.host.empty() ? "-" : s.host, fixed(s.wall_seconds, 1),
                    fixed(s.train_tokens_per_second, 0), fixed(s.final_train_loss, 4),
                    std::to_string(run.params)});
  }
  std::string totals;
  for (const auto& [status, count] : counts) totals += (totals.empty() ? "" : ", ") + std::to_string(count) + " " + status;
  return render(rows) + std::to_string(contents.runs.size()) + " runs: " + totals + "\n";
}

}  // namespace pebench
