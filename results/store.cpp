#include "results/store.h"

#include <chrono>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <map>
#include <set>

#include "results/config_text.h"
#include "results/fault.h"
#include "results/text_formats.h"
#include "results/hdf5.h"
#include "results/store_file.h"

namespace pebench {

namespace {
double store_seconds_total = 0;
// Adds the time of one store call to store_seconds(): the HDF5 cost of a study.
struct StoreClock {
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  ~StoreClock() { store_seconds_total += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); }
};
}  // namespace

double store_seconds() { return store_seconds_total; }

StoreError::StoreError(const std::string& message) : std::runtime_error(one_line(message)) {}
namespace {

constexpr size_t kIdLength = 64, kEncodingLength = 32, kStatusLength = 16, kHostLength = 64, kComputeLength = 128;

// The /index row and the summary as they lie in the file (fixed-length strings:
// parallel HDF5 cannot write variable-length data independently).
struct IndexRecord {
  char run_id[kIdLength];
  char encoding[kEncodingLength];
  int64_t train_seq_len;
  int64_t seed;
  char status[kStatusLength];
};
struct SummaryRecord {
  double wall_seconds, train_seconds, eval_seconds, train_tokens_per_second, final_train_loss;
  int64_t diverged_step, rank;
  char host[kHostLength];
};

Handle index_type() {
  Handle run_id = string_type(kIdLength), encoding = string_type(kEncodingLength), status = string_type(kStatusLength);
  return compound_type(sizeof(IndexRecord),
                       {{"run_id", offsetof(IndexRecord, run_id), run_id},
                        {"encoding", offsetof(IndexRecord, encoding), encoding},
                        {"train_seq_len", offsetof(IndexRecord, train_seq_len), native_type<int64_t>()},
                        {"seed", offsetof(IndexRecord, seed), native_type<int64_t>()},
                        {"status", offsetof(IndexRecord, status), status}},
                       "/index");
}

Handle summary_type() {
  Handle host = string_type(kHostLength);
  const hid_t real = native_type<double>(), integer = native_type<int64_t>();
  return compound_type(sizeof(SummaryRecord),
                       {{"wall_seconds", offsetof(SummaryRecord, wall_seconds), real},
                        {"train_seconds", offsetof(SummaryRecord, train_seconds), real},
                        {"eval_seconds", offsetof(SummaryRecord, eval_seconds), real},
                        {"train_tokens_per_second", offsetof(SummaryRecord, train_tokens_per_second), real},
                        {"final_train_loss", offsetof(SummaryRecord, final_train_loss), real},
                        {"diverged_step", offsetof(SummaryRecord, diverged_step), integer},
                        {"rank", offsetof(SummaryRecord, rank), integer},
                        {"host", offsetof(SummaryRecord, host), host}},
                       "summary");
}

template <size_t N>
void copy_string(char (&field)[N], const std::string& text) {
  std::memset(field, 0, N);
  std::memcpy(field, text.data(), std::min(N, text.size()));
}
template <size_t N>
std::string read_string(const char (&field)[N]) {
  return std::string(field, strnlen(field, N));
}

IndexRecord to_record(const IndexRow& row) {
  IndexRecord record{};
  copy_string(record.run_id, row.run_id);
  copy_string(record.encoding, row.encoding);
  record.train_seq_len = row.train_seq_len;
  record.seed = row.seed;
  copy_string(record.status, row.status);
  return record;
}
IndexRow from_record(const IndexRecord& record) {
  return {read_string(record.run_id), read_string(record.encoding), record.train_seq_len,
          record.seed, read_string(record.status)};
}


const double kNaN = std::nan("");
const int64_t kMissing = -1;


std::vector<std::string> split_names(const std::string& text) {
  std::vector<std::string> names;
  size_t begin = 0;
  while (begin < text.size()) {
    size_t end = text.find(',', begin);
    if (end == std::string::npos) end = text.size();
    if (end > begin) names.push_back(text.substr(begin, end - begin));
    begin = end + 1;
  }
  return names;
}

// The task-metric and analysis datasets of a run group: the names its layout recorded in
// the `extra_datasets` attribute; in stores made before that attribute, the datasets
// under the prefixes the analyses and tasks of that time wrote.
std::vector<std::string> extra_dataset_names(hid_t group, const std::string& group_path) {
  if (has_attribute(group, "extra_datasets", group_path))
    return split_names(read_string_attribute(group, "extra_datasets", group_path));
  std::vector<std::string> names;
  for (const auto& path : dataset_paths(group, group_path))
    if (path == "eval/accuracy" || path.rfind("eval/anchor/", 0) == 0 || path.rfind("receptive_field/", 0) == 0 || path.rfind("attention/", 0) == 0 || path.rfind("probe/", 0) == 0 ||
        (path.rfind("encoding/", 0) == 0 && path != "encoding/bias_profile" && path != "encoding/table"))
      names.push_back(path);
  return names;
}

}  // namespace

Handle open_store_serial(const std::string& path) {
  if (!is_hdf5_file(path)) throw StoreError("'" + path + "' is not an HDF5 file (missing, truncated or corrupted)");
  Handle file = open_file(path, false);
  if (!has_attribute(file, "schema", path) || read_string_attribute(file, "schema", path) != "pebench-store")
    throw StoreError("'" + path + "' is an HDF5 file but not a pebench store (no schema = pebench-store)");
  const int64_t version = read_int_attribute(file, "schema_version", path);
  if (version > kStoreSchemaVersion)
    throw StoreError("'" + path + "' has store schema version " + std::to_string(version) +
                     "; this pebench reads versions up to " + std::to_string(kStoreSchemaVersion));
  return file;
}

std::vector<IndexRow> read_index_rows(hid_t file, const std::string& path) {
  Handle dataset = open_dataset(file, "index", path + ":/index");
  std::vector<IndexRecord> records(readable_count(dataset, sizeof(IndexRecord), path + ":/index"));
  if (!records.empty()) read_all(dataset, index_type(), records.data(), path + ":/index");
  std::vector<IndexRow> rows;
  for (const auto& record : records) rows.push_back(from_record(record));
  return rows;
}

std::vector<IndexRow> read_index(const std::string& path) {
  StoreClock clock;
  Handle file = open_store_serial(path);
  return read_index_rows(file, path);
}

std::vector<std::string> read_configs(const std::string& path) {
  StoreClock clock;
  Handle file = open_store_serial(path);
  std::vector<std::string> configs;
  for (const auto& row : read_index_rows(file, path)) {
    const std::string group_path = "/runs/" + row.run_id;
    configs.push_back(read_string_attribute(open_group(file, group_path), "config", group_path));
  }
  return configs;
}

namespace {
// read_weights without the store and run named in its errors.
std::vector<StoredWeight> read_weights_of(const std::string& path, const std::string& run_id) {
  Handle file = open_store_serial(path);
  const std::string group_path = "/runs/" + run_id;
  if (!has_link(file, group_path, path)) throw StoreError("'" + path + "' has no run " + run_id);
  Handle group = open_group(file, group_path);
  std::vector<StoredWeight> weights;
  if (!has_link(group, "weights", group_path)) return weights;
  Handle weights_group = open_group(group, "weights");
  for (const auto& name : dataset_paths(weights_group, group_path + "/weights")) {
    const std::string dataset = "weights/" + name;
    weights.push_back({name, read_dims(group, dataset, group_path), read_vector<float>(group, dataset, group_path)});
  }
  std::sort(weights.begin(), weights.end(), [](const StoredWeight& a, const StoredWeight& b) { return a.name < b.name; });
  return weights;
}
}  // namespace

std::string read_tokenizer_model(const std::string& path, const std::string& run_id) {
  try {
    Handle file = open_store_serial(path);
    const std::string group_path = "/runs/" + run_id;
    if (!has_link(file, group_path, path)) throw StoreError("'" + path + "' has no run " + run_id);
    Handle group = open_group(file, group_path);
    const auto bytes = read_vector<uint8_t>(group, "tokenizer/model", group_path);
    return std::string(bytes.begin(), bytes.end());
  } catch (const StoreError& error) {
    throw StoreError("'" + path + "', run " + run_id + ": " + error.what());
  }
}

std::vector<StoredWeight> read_weights(const std::string& path, const std::string& run_id) {
  try {
    return read_weights_of(path, run_id);
  } catch (const StoreError& error) {
    throw StoreError("'" + path + "', run " + run_id + ": " + error.what());
  }
}


// ---- what a reader may rely on -------------------------------------------------
// read_store hands compare, report, inspect, export, merge and resume only runs that pass
// these checks, so they index a run's vectors without checking sizes again. A run that
// breaks one is refused with the store, the run and the dataset named (results/README.md,
// "Damaged stores"); tests/hostile/damaged_store_test.sh crafts a store for each.

constexpr int64_t kAnyExtent = -1;  // an expected extent: any size >= 1

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

// Throws unless `actual` has `expected`'s rank and, extent by extent, its size (>= 1 for kAnyExtent).
void expect_shape(const std::string& name, const std::vector<int64_t>& actual, const std::vector<int64_t>& expected,
                  const std::string& why) {
  bool fits = actual.size() == expected.size();
  for (size_t i = 0; fits && i < actual.size(); ++i)
    fits = expected[i] == kAnyExtent ? actual[i] >= 1 : actual[i] == expected[i] && actual[i] >= 1;
  if (!fits)
    throw StoreError("dataset " + name + " has shape " + shape_text(actual) + ", expected " +
                     shape_text(expected) + " (" + why +
                     (std::count(expected.begin(), expected.end(), kAnyExtent) ? "; -1: any size)" : ")"));
}

// A positive integer config value of the run (its own text, else the store's defaults); -1 when absent or not one.
int64_t positive_config_integer(const std::map<std::string, std::string>& config, const std::string& key) {
  const auto value = config_integer(config, key);
  return value && *value >= 1 ? *value : -1;
}

// The core curves: present, one-dimensional, and as long as the eval lengths say.
void check_core(const StoredRun& run, const std::map<std::string, std::string>& config,
                const std::map<std::string, std::vector<int64_t>>& shapes) {
  const auto count = static_cast<int64_t>(run.eval_lengths.size());
  auto text_of = [](const std::vector<int64_t>& lengths) {
    std::string text;
    for (int64_t length : lengths) text += (text.empty() ? "" : ",") + std::to_string(length);
    return text;
  };
  const std::string recorded = text_of(run.eval_lengths);
  // The harness evaluates at eval.lengths and the train length, sorted (RunConfig::eval_lengths).
  auto lengths = config.find("eval.lengths");
  std::vector<int64_t> expected;
  if (lengths != config.end()) {
    for (const auto& part : split_names(lengths->second + "," + (config.count("train.seq_len") ? config.at("train.seq_len") : "")))
      expected.push_back(std::strtoll(part.c_str(), nullptr, 10));
    std::sort(expected.begin(), expected.end());
    expected.erase(std::unique(expected.begin(), expected.end()), expected.end());
  }
  if (count == 0 || (lengths != config.end() && text_of(expected) != recorded))
    throw StoreError("dataset eval/lengths holds [" + recorded + "], but the run's config says eval.lengths = " +
                     (lengths == config.end() ? std::string("(none)") : lengths->second) + " (with train.seq_len)");
  int64_t previous = 0;
  for (int64_t length : run.eval_lengths) {
    if (length <= previous || length > (int64_t{1} << 24))
      throw StoreError("dataset eval/lengths holds [" + recorded + "]; expected increasing lengths in 1..2^24");
    previous = length;
  }
  const int64_t longest = run.eval_lengths.back();
  expect_shape("eval/ppl", shapes.at("eval/ppl"), {count}, "one per eval length");
  expect_shape("eval/tokens", shapes.at("eval/tokens"), {count}, "one per eval length");
  expect_shape("eval/position_loss", shapes.at("eval/position_loss"), {longest}, "one per position of the longest eval length");
  expect_shape("train/step", shapes.at("train/step"), {kAnyExtent}, "one per logged step");
  expect_shape("train/loss", shapes.at("train/loss"), shapes.at("train/step"), "one per logged step");
  for (const auto& variant : run.variants) {
    const std::string prefix = "eval/" + variant.name + "/";
    expect_shape(prefix + "ppl", shapes.at(prefix + "ppl"), {count}, "one per eval length");
    expect_shape(prefix + "tokens", shapes.at(prefix + "tokens"), {count}, "one per eval length");
    expect_shape(prefix + "position_loss", shapes.at(prefix + "position_loss"), {longest},
                 "one per position of the longest eval length");
  }
  // Readers take these as numbers (chart markers, the attention layout, export's config.json);
  // one a config leaves out is filled from the defaults, which are numbers.
  for (const char* key : {"train.seq_len", "model.layers", "model.heads", "model.d_model"})
    if (const int64_t value = positive_config_integer(config, key); config.count(key) && (value < 1 || value > (int64_t{1} << 24)))
      throw StoreError(std::string("config key ") + key + " = " + config.at(key) + "; expected an integer in 1..2^24");
  const int64_t layers = positive_config_integer(config, "model.layers"), heads = positive_config_integer(config, "model.heads");
  if (!run.bias_profile_shape.empty()) {
    auto expected = run.bias_profile_shape.size() == 3 ? std::vector<int64_t>{layers, heads, kAnyExtent}
                                                       : std::vector<int64_t>{heads, kAnyExtent};
    expect_shape("encoding/bias_profile", run.bias_profile_shape, expected, "[heads, distances] or [layers, heads, distances]");
  }
  if (!run.table_shape.empty())
    expect_shape("encoding/table", run.table_shape, {kAnyExtent, positive_config_integer(config, "model.d_model")},
                 "[positions, d_model]");
}

// The analyses and task metrics compare and report read, by the shapes they read them with.
void check_extras(const StoredRun& run, const std::map<std::string, std::string>& config,
                  const std::map<std::string, std::vector<int64_t>>& shapes) {
  // The first extent of a dataset, minus `less`; any when it is absent (readers skip the pair then).
  auto extent = [&](const std::string& name, int64_t less = 0) {
    auto found = shapes.find(name);
    return found == shapes.end() || found->second.empty() ? kAnyExtent : found->second[0] - less;
  };
  const auto lengths = static_cast<int64_t>(run.eval_lengths.size());
  const int64_t layers = positive_config_integer(config, "model.layers"), heads = positive_config_integer(config, "model.heads");
  struct Rule {
    const char* name;
    std::vector<int64_t> shape;
    const char* why;
  };
  const std::vector<Rule> rules = {
      {"eval/accuracy", {lengths}, "one per eval length"},
      {"eval/anchor/inferential_accuracy", {lengths}, "one per eval length"},
      {"eval/anchor/symmetric_accuracy", {lengths}, "one per eval length"},
      {"eval/bpb", {lengths}, "one per eval length"},
      {"eval/bytes", {lengths}, "one per eval length"},
      {"eval/passkey/accuracy", {lengths, kAnyExtent}, "[eval lengths, depths]"},
      {"eval/passkey/distance", {lengths, extent("eval/passkey/accuracy", 0) == kAnyExtent ? kAnyExtent : shapes.at("eval/passkey/accuracy").back()}, "[eval lengths, depths]"},
      {"eval/passkey/max_distance", {1}, "one value"},
      {"receptive_field/windows", {kAnyExtent}, "the key windows"},
      {"receptive_field/ppl", {extent("receptive_field/windows")}, "one per key window"},
      {"receptive_field/full_ppl", {1}, "one value"},
      {"receptive_field/effective_context", {1}, "one value"},
      {"receptive_field/erf", {3}, "ERF50, ERF90, ERF99"},
      {"receptive_field/cumulative_gradient", {kAnyExtent}, "one per distance"},
      {"attention/distance_bins", {kAnyExtent}, "bin edges"},
      {"attention/mass_by_distance", {layers, heads, extent("attention/distance_bins", 1)}, "[layers, heads, bins]"},
      {"attention/mean_distance", {layers, heads}, "[layers, heads]"},
      {"attention/entropy", {layers, heads}, "[layers, heads]"},
      {"probe/lengths", {kAnyExtent}, "the probed lengths"},
      {"probe/position_r2", {extent("probe/lengths"), kAnyExtent}, "[probed lengths, layers + 1]"},
      {"probe/position_mae", {extent("probe/lengths"), kAnyExtent}, "[probed lengths, layers + 1]"},
      {"probe/ridge", {extent("probe/lengths"), kAnyExtent}, "[probed lengths, layers + 1]"},
      {"probe/chance_mae", {extent("probe/lengths")}, "one per probed length"},
      {"probe/fit_rows", {extent("probe/lengths")}, "one per probed length"},
      {"eval_history/step", {kAnyExtent}, "the history's steps"},
      {"eval_history/ppl", {extent("eval_history/step"), lengths}, "[history steps, eval lengths]"},
      {"eval_history/accuracy", {extent("eval_history/step"), lengths}, "[history steps, eval lengths]"},
  };
  for (const auto& rule : rules) {
    auto found = shapes.find(rule.name);
    if (found != shapes.end()) expect_shape(rule.name, found->second, rule.shape, rule.why);
  }
}

StoredRun read_run(hid_t file, const IndexRow& row, const std::string& path,
                   const std::map<std::string, std::string>& key_defaults) {
  StoredRun run;
  run.row = row;
  const std::string group_path = "/runs/" + row.run_id;
  if (!has_link(file, group_path, path)) throw StoreError("its /index row has no group " + group_path);
  Handle group = open_group(file, group_path);
  run.config = read_string_attribute(group, "config", group_path);
  if (has_attribute(group, "data_identity", group_path))
    run.data_identity = read_string_attribute(group, "data_identity", group_path);
  run.params = read_int_attribute(group, "params", group_path);
  {
    Handle dataset = open_dataset(group, "summary", group_path + "/summary");
    if (element_count(dataset, group_path + "/summary") != 1)
      throw StoreError("dataset summary holds more than one record");
    SummaryRecord record{};
    read_all(dataset, summary_type(), &record, group_path + "/summary");
    run.summary = {record.wall_seconds, record.train_seconds, record.eval_seconds,
                   record.train_tokens_per_second, record.final_train_loss, record.diverged_step,
                   record.rank, read_string(record.host)};
  }
  if (has_link(group, "compute", group_path)) {
    Handle dataset = open_dataset(group, "compute", group_path + "/compute");
    if (element_count(dataset, group_path + "/compute") != 1)
      throw StoreError("dataset compute holds more than one string");
    char compute[kComputeLength];
    read_all(dataset, string_type(kComputeLength), compute, group_path + "/compute");
    run.compute = read_string(compute);
  }
  // Every dataset read is looked at first: present, and its shape (checked below).
  std::map<std::string, std::vector<int64_t>> shapes;
  auto required = [&](const std::string& name) {
    if (!has_link(group, name, group_path)) throw StoreError("dataset " + name + " is missing");
    shapes[name] = read_dims(group, name, group_path);
  };
  for (const char* name : {"train/step", "train/loss", "eval/lengths", "eval/ppl", "eval/tokens", "eval/position_loss"})
    required(name);
  expect_shape("eval/lengths", shapes["eval/lengths"], {kAnyExtent}, "one per eval length");
  run.eval_lengths = read_vector<int64_t>(group, "eval/lengths", group_path);
  Handle eval = open_group(group, "eval");
  if (has_attribute(eval, "variants", group_path + "/eval"))
    for (const auto& name : split_names(read_string_attribute(eval, "variants", group_path + "/eval"))) {
      for (const char* part : {"ppl", "tokens", "position_loss"}) required("eval/" + name + "/" + part);
      run.variants.push_back({name, {}, {}, {}});
    }
  run.bias_profile_shape = read_dims(group, "encoding/bias_profile", group_path);
  run.table_shape = read_dims(group, "encoding/table", group_path);
  std::map<std::string, std::string> config = key_defaults;
  for (const auto& [key, value] : parse_config_text(run.config)) config[key] = value;
  check_core(run, config, shapes);
  const std::vector<std::string> extra_names = extra_dataset_names(group, group_path);
  for (const auto& name : extra_names) required(name);
  check_extras(run, config, shapes);

  run.train_step = read_vector<int64_t>(group, "train/step", group_path);
  run.train_loss = read_vector<double>(group, "train/loss", group_path);
  run.eval_ppl = read_vector<double>(group, "eval/ppl", group_path);
  run.eval_tokens = read_vector<int64_t>(group, "eval/tokens", group_path);
  run.position_loss = read_vector<double>(group, "eval/position_loss", group_path);
  for (auto& variant : run.variants) {
    const std::string prefix = "eval/" + variant.name + "/";
    variant.ppl = read_vector<double>(group, prefix + "ppl", group_path);
    variant.tokens = read_vector<int64_t>(group, prefix + "tokens", group_path);
    variant.position_loss = read_vector<double>(group, prefix + "position_loss", group_path);
  }
  run.bias_profile = read_vector<double>(group, "encoding/bias_profile", group_path);
  run.table = read_vector<double>(group, "encoding/table", group_path);
  // int64 analysis datasets convert to double in HDF5 itself.
  for (const auto& name : extra_names) {
    run.extra[name] = read_vector<double>(group, name, group_path);
    run.extra_shape[name] = shapes[name];
  }
  return run;
}

StoreContents read_store(const std::string& path) {
  Handle file = open_store_serial(path);
  StoreContents contents;
  const StoreHeader header = read_store_header(file, path);
  contents.study_text = header.study_text;
  contents.study_name = header.study_name;
  contents.key_defaults = parse_config_text(header.key_defaults);
  contents.pebench_version = read_string_attribute(file, "pebench_version", path);
  const auto rows = read_index_rows(file, path);
  std::set<std::string> ids;
  for (const auto& row : rows)
    if (!ids.insert(row.run_id).second) throw StoreError("'" + path + "': run " + row.run_id + " has two /index rows");
  for (const auto& name : child_names(open_group(file, "runs"), path + ":/runs"))
    if (!ids.count(name)) throw StoreError("'" + path + "': group /runs/" + name + " has no /index row");
  for (const auto& row : rows) {
    try {
      contents.runs.push_back(read_run(file, row, path, contents.key_defaults));
    } catch (const StoreError& error) {
      throw StoreError("'" + path + "', run " + row.run_id + ": " + error.what());
    }
  }
  return contents;
}

double layout_bytes(const std::vector<RunLayout>& layouts) {
  constexpr double kMetadataPerDataset = 1400;
  double bytes = 0;
  auto elements = [](const std::vector<int64_t>& shape) {
    double count = 1;
    for (int64_t extent : shape) count *= static_cast<double>(extent);
    return shape.empty() ? 0.0 : count;
  };
  for (const auto& layout : layouts) {
    const double lengths = static_cast<double>(layout.eval_lengths.size());
    const double longest = layout.eval_lengths.empty() ? 0 : static_cast<double>(layout.eval_lengths.back());
    double datasets = 9 + 3 * static_cast<double>(layout.eval_variants.size());
    bytes += sizeof(SummaryRecord) + kComputeLength + 24 * static_cast<double>(layout.n_logged) + (1 + layout.eval_variants.size()) * (16 * lengths + 8 * longest);
    bytes += 8 * (elements(layout.bias_profile_shape) + elements(layout.table_shape));
    datasets += !layout.bias_profile_shape.empty() + !layout.table_shape.empty();
    for (const auto& [name, shape] : layout.weights) bytes += 4 * elements(shape), ++datasets;
    for (const auto& extra : layout.extra_datasets) bytes += 8 * elements(extra.shape), ++datasets;
    bytes += static_cast<double>(layout.tokenizer_model.size()), datasets += !layout.tokenizer_model.empty();
    bytes += kMetadataPerDataset * datasets + static_cast<double>(layout.config.size());
  }
  return bytes;
}

// ---- parallel store --------------------------------------------------------------

struct ParallelStore::Impl {
  std::string path;
  Handle file;
  std::map<std::string, hsize_t> rows;  // run id → /index row

  void load_rows() {
    rows.clear();
    const auto index = read_index_rows(file, path);
    for (size_t row = 0; row < index.size(); ++row) rows[index[row].run_id] = row;
  }
};

Handle create_store_file(const std::string& path, hid_t access, const StoreHeader& header) {
  Handle file = create_file(path, access);
  write_attribute(file, "schema", std::string("pebench-store"), path);
  write_attribute(file, "schema_version", static_cast<int64_t>(kStoreSchemaVersion), path);
  write_attribute(file, "pebench_version", std::string(PEBENCH_VERSION), path);
  write_attribute(file, "study", header.study_text, path);
  write_attribute(file, "study_name", header.study_name, path);
  write_attribute(file, "key_defaults", header.key_defaults, path);
  // /index grows when a study's grid grows: chunked, unlimited rows.
  create_growable_dataset(file, "index", index_type(), 64, path + ":/index");
  create_group(file, "runs");
  return file;
}

StoreHeader read_store_header(hid_t file, const std::string& path) {
  StoreHeader header;
  header.study_text = read_string_attribute(file, "study", path);
  if (has_attribute(file, "study_name", path)) header.study_name = read_string_attribute(file, "study_name", path);
  if (has_attribute(file, "key_defaults", path))
    header.key_defaults = read_string_attribute(file, "key_defaults", path);
  return header;
}

void write_index_rows(hid_t file, const std::vector<IndexRow>& rows, const std::string& path) {
  Handle index = open_dataset(file, "index", path + ":/index");
  set_rows(index, rows.size(), path + ":/index");
  std::vector<IndexRecord> records;
  for (const auto& row : rows) records.push_back(to_record(row));
  if (!records.empty()) write_all(index, index_type(), records.data(), path + ":/index");
}

void ParallelStore::create(const std::string& path, MPI_Comm comm, const StoreHeader& header) {
  StoreClock clock;
  create_store_file(path, mpio_access(comm, path), header);
}

ParallelStore::ParallelStore(const std::string& path, MPI_Comm comm) : impl_(std::make_unique<Impl>()) {
  StoreClock clock;
  impl_->path = path;
  impl_->file = open_file(path, true, mpio_access(comm, path));
  impl_->load_rows();
}

ParallelStore::~ParallelStore() = default;

void ParallelStore::add_runs(const std::vector<RunLayout>& layouts, bool is_writer) {
  StoreClock clock;
  const std::string& path = impl_->path;
  hid_t file = impl_->file;
  const hsize_t old_rows = impl_->rows.size();
  set_rows(open_dataset(file, "index", path + ":/index"), old_rows + layouts.size(), path + ":/index");

  SummaryRecord empty_summary{kNaN, kNaN, kNaN, kNaN, kNaN, kMissing, kMissing, {}};
  Handle summary_file_type = summary_type();
  Handle compute_type = string_type(kComputeLength);
  const char empty_compute[kComputeLength] = {};
  for (const auto& layout : layouts) {
    const std::string group_path = "/runs/" + layout.run_id;
    Handle group = create_group(file, group_path);
    write_attribute(group, "encoding", layout.encoding, group_path);
    write_attribute(group, "train_seq_len", layout.train_seq_len, group_path);
    write_attribute(group, "seed", layout.seed, group_path);
    write_attribute(group, "init_gamma", layout.init_gamma, group_path);
    write_attribute(group, "pe_init_std", layout.pe_init_std, group_path);
    write_attribute(group, "config", layout.config, group_path);
    if (!layout.data_identity.empty()) write_attribute(group, "data_identity", layout.data_identity, group_path);
    if (!layout.tokenizer.empty()) {
      write_attribute(group, "tokenizer", layout.tokenizer, group_path);
      const uint8_t zero = 0;
      create_dataset(group, "tokenizer/model", native_type<uint8_t>(), {static_cast<hsize_t>(layout.tokenizer_model.size())}, &zero, group_path);
    }
    write_attribute(group, "params", layout.params, group_path);
    for (const auto& [name, value] : layout.facts) write_attribute(group, name, value, group_path);
    fault_point("mid_layout");

    create_dataset(group, "summary", summary_file_type, {}, &empty_summary, group_path);
    create_dataset(group, "compute", compute_type, {}, empty_compute, group_path);
    const auto logged = static_cast<hsize_t>(layout.n_logged);
    const auto lengths = static_cast<hsize_t>(layout.eval_lengths.size());
    const auto longest = static_cast<hsize_t>(layout.eval_lengths.back());
    const hid_t real = native_type<double>(), integer = native_type<int64_t>();
    create_dataset(group, "train/step", integer, {logged}, &kMissing, group_path);
    create_dataset(group, "train/loss", real, {logged}, &kNaN, group_path);
    create_dataset(group, "train/lr", real, {logged}, &kNaN, group_path);
    create_dataset(group, "eval/lengths", integer, {lengths}, &kMissing, group_path);
    create_dataset(group, "eval/ppl", real, {lengths}, &kNaN, group_path);
    create_dataset(group, "eval/tokens", integer, {lengths}, &kMissing, group_path);
    create_dataset(group, "eval/position_loss", real, {longest}, &kNaN, group_path);
    std::string variant_names;
    for (const auto& name : layout.eval_variants) {
      create_dataset(group, "eval/" + name + "/ppl", real, {lengths}, &kNaN, group_path);
      create_dataset(group, "eval/" + name + "/tokens", integer, {lengths}, &kMissing, group_path);
      create_dataset(group, "eval/" + name + "/position_loss", real, {longest}, &kNaN, group_path);
      variant_names += (variant_names.empty() ? "" : ",") + name;
    }
    Handle eval = open_group(group, "eval");
    write_attribute(eval, "protocol", layout.eval_protocol, group_path + "/eval");
    write_attribute(eval, "stride", layout.eval_stride, group_path + "/eval");
    if (!variant_names.empty()) write_attribute(eval, "variants", variant_names, group_path + "/eval");
    auto dims_of = [](const std::vector<int64_t>& shape) { return std::vector<hsize_t>(shape.begin(), shape.end()); };
    if (!layout.bias_profile_shape.empty())
      create_dataset(group, "encoding/bias_profile", real, dims_of(layout.bias_profile_shape), &kNaN, group_path);
    if (!layout.table_shape.empty())
      create_dataset(group, "encoding/table", real, dims_of(layout.table_shape), &kNaN, group_path);
    const float kNaNf = std::nanf("");
    for (const auto& [name, shape] : layout.weights)
      create_dataset(group, "weights/" + name, native_type<float>(), dims_of(shape), &kNaNf, group_path);
    std::string extra_names;
    for (const auto& extra : layout.extra_datasets) {
      create_dataset(group, extra.name, extra.integer ? integer : real, dims_of(extra.shape),
                     extra.integer ? static_cast<const void*>(&kMissing) : static_cast<const void*>(&kNaN), group_path);
      extra_names += (extra_names.empty() ? "" : ",") + extra.name;
    }
    // Readers iterate these names: a new analysis's datasets are read back with no reader change.
    write_attribute(group, "extra_datasets", extra_names, group_path);
  }
  for (size_t i = 0; i < layouts.size(); ++i) impl_->rows[layouts[i].run_id] = old_rows + i;
  // Constant data of the new runs: one rank writes it (raw data only).
  if (!is_writer) return;
  for (const auto& layout : layouts) {
    const std::string group_path = "/runs/" + layout.run_id;
    Handle group = open_group(file, group_path);
    write_vector(group, "eval/lengths", layout.eval_lengths, group_path);
    if (!layout.tokenizer.empty())
      write_all(open_dataset(group, "tokenizer/model", group_path + "/tokenizer/model"), native_type<uint8_t>(),
                layout.tokenizer_model.data(), group_path + "/tokenizer/model");
    write_status({layout.run_id, layout.encoding, layout.train_seq_len, layout.seed, "pending"});
  }
}

void ParallelStore::write_results(const std::string& run_id, const RunResults& results) {
  StoreClock clock;
  const std::string group_path = "/runs/" + run_id;
  Handle group = open_group(impl_->file, group_path);
  write_vector(group, "train/step", results.train_step, group_path);
  write_vector(group, "train/loss", results.train_loss, group_path);
  write_vector(group, "train/lr", results.train_lr, group_path);
  write_vector(group, "eval/ppl", results.eval_ppl, group_path);
  fault_point("mid_results");
  write_vector(group, "eval/tokens", results.eval_tokens, group_path);
  write_vector(group, "eval/position_loss", results.position_loss, group_path);
  for (const auto& curve : results.variants) {
    const std::string prefix = "eval/" + curve.name + "/";
    write_vector(group, prefix + "ppl", curve.ppl, group_path);
    write_vector(group, prefix + "tokens", curve.tokens, group_path);
    write_vector(group, prefix + "position_loss", curve.position_loss, group_path);
  }
  if (!results.bias_profile.empty()) write_vector(group, "encoding/bias_profile", results.bias_profile, group_path);
  if (!results.table.empty()) write_vector(group, "encoding/table", results.table, group_path);
  // HDF5 converts to the dataset's type (int64 for counts and lengths). Only the datasets
  // the run's layout planned: a run laid out by an older pebench and resumed by this one
  // keeps its layout, without the results added since (bits per byte), rather than fail.
  // (Links are checked, not the extra_datasets attribute: reading an attribute checks the
  // file's size, which the MPI-IO driver cannot tell one rank alone.)
  auto planned = [&](const std::string& name) {
    for (size_t slash = name.find('/'); slash != std::string::npos; slash = name.find('/', slash + 1))
      if (!has_link(group, name.substr(0, slash), group_path)) return false;
    return has_link(group, name, group_path);
  };
  for (const auto& [name, values] : results.extra)
    if (planned(name)) write_vector(group, name, values, group_path);
  for (const auto& [name, values] : results.weights) write_vector(group, "weights/" + name, values, group_path);
  const auto& s = results.summary;
  SummaryRecord record{s.wall_seconds, s.train_seconds, s.eval_seconds, s.train_tokens_per_second,
                       s.final_train_loss, s.diverged_step, s.rank, {}};
  copy_string(record.host, s.host);
  write_all(open_dataset(group, "summary", group_path + "/summary"), summary_type(), &record, group_path + "/summary");
  if (has_link(group, "compute", group_path)) {  // not in runs laid out before it
    char compute[kComputeLength];
    copy_string(compute, results.compute);
    write_all(open_dataset(group, "compute", group_path + "/compute"), string_type(kComputeLength), compute,
              group_path + "/compute");
  }
}

void ParallelStore::write_status(const IndexRow& row) {
  StoreClock clock;
  const std::string where = impl_->path + ":/index";
  auto found = impl_->rows.find(row.run_id);
  if (found == impl_->rows.end()) throw StoreError("run " + row.run_id + " has no row in " + where);
  const IndexRecord record = to_record(row);
  write_row(open_dataset(impl_->file, "index", where), index_type(), found->second, &record, where);
}

void ParallelStore::flush() {
  StoreClock clock;
  flush_file(impl_->file, impl_->path);
}

void ParallelStore::close() {
  StoreClock clock;
  impl_->file.reset();
}

}  // namespace pebench
