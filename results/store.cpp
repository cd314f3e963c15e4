#include "results/store.h"

#include <chrono>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <map>

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

constexpr size_t kIdLength = 64, kEncodingLength = 32, kStatusLength = 16, kHostLength = 64;

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
  for (const auto& path : dataset_paths(group))
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
  std::vector<IndexRecord> records(static_cast<size_t>(element_count(dataset, path + ":/index")));
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

std::map<std::string, std::string> read_data_identities(const std::string& path) {
  StoreClock clock;
  Handle file = open_store_serial(path);
  std::map<std::string, std::string> identities;
  for (const auto& row : read_index_rows(file, path)) {
    const std::string group_path = "/runs/" + row.run_id;
    Handle group = open_group(file, group_path);
    if (has_attribute(group, "data_identity", group_path))
      identities[row.run_id] = read_string_attribute(group, "data_identity", group_path);
  }
  return identities;
}

std::vector<StoredWeight> read_weights(const std::string& path, const std::string& run_id) {
  Handle file = open_store_serial(path);
  const std::string group_path = "/runs/" + run_id;
  if (!has_link(file, group_path, path)) throw StoreError("'" + path + "' has no run " + run_id);
  Handle group = open_group(file, group_path);
  std::vector<StoredWeight> weights;
  if (!has_link(group, "weights", group_path)) return weights;
  Handle weights_group = open_group(group, "weights");
  for (const auto& name : dataset_paths(weights_group)) {
    const std::string dataset = "weights/" + name;
    weights.push_back({name, read_dims(group, dataset, group_path), read_vector<float>(group, dataset, group_path)});
  }
  std::sort(weights.begin(), weights.end(), [](const StoredWeight& a, const StoredWeight& b) { return a.name < b.name; });
  return weights;
}

StoreContents read_store(const std::string& path) {
  Handle file = open_store_serial(path);
  StoreContents contents;
  const StoreHeader header = read_store_header(file, path);
  contents.study_text = header.study_text;
  contents.study_name = header.study_name;
  contents.key_defaults = parse_config_text(header.key_defaults);
  contents.pebench_version = read_string_attribute(file, "pebench_version", path);
  for (const auto& row : read_index_rows(file, path)) {
    StoredRun run;
    run.row = row;
    const std::string group_path = "/runs/" + row.run_id;
    Handle group = open_group(file, group_path);
    run.config = read_string_attribute(group, "config", group_path);
    run.params = read_int_attribute(group, "params", group_path);
    {
      Handle dataset = open_dataset(group, "summary", group_path + "/summary");
      SummaryRecord record{};
      read_all(dataset, summary_type(), &record, group_path + "/summary");
      run.summary = {record.wall_seconds, record.train_seconds, record.eval_seconds,
                     record.train_tokens_per_second, record.final_train_loss, record.diverged_step,
                     record.rank, read_string(record.host)};
    }
    run.train_step = read_vector<int64_t>(group, "train/step", group_path);
    run.train_loss = read_vector<double>(group, "train/loss", group_path);
    run.eval_lengths = read_vector<int64_t>(group, "eval/lengths", group_path);
    run.eval_ppl = read_vector<double>(group, "eval/ppl", group_path);
    run.eval_tokens = read_vector<int64_t>(group, "eval/tokens", group_path);
    run.position_loss = read_vector<double>(group, "eval/position_loss", group_path);
    Handle eval = open_group(group, "eval");
    if (has_attribute(eval, "variants", group_path + "/eval"))
      for (const auto& name : split_names(read_string_attribute(eval, "variants", group_path + "/eval"))) {
        const std::string prefix = "eval/" + name + "/";
        run.variants.push_back({name, read_vector<double>(group, prefix + "ppl", group_path),
                                read_vector<int64_t>(group, prefix + "tokens", group_path),
                                read_vector<double>(group, prefix + "position_loss", group_path)});
      }
    run.bias_profile_shape = read_dims(group, "encoding/bias_profile", group_path);
    run.bias_profile = read_vector<double>(group, "encoding/bias_profile", group_path);
    run.table_shape = read_dims(group, "encoding/table", group_path);
    run.table = read_vector<double>(group, "encoding/table", group_path);
    // int64 analysis datasets convert to double in HDF5 itself.
    for (const auto& name : extra_dataset_names(group, group_path))
      run.extra[name] = read_vector<double>(group, name, group_path);
    contents.runs.push_back(std::move(run));
  }
  return contents;
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
    write_attribute(group, "params", layout.params, group_path);
    for (const auto& [name, value] : layout.facts) write_attribute(group, name, value, group_path);
    fault_point("mid_layout");

    create_dataset(group, "summary", summary_file_type, {}, &empty_summary, group_path);
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
  // HDF5 converts to the dataset's type (int64 for counts and lengths).
  for (const auto& [name, values] : results.extra) write_vector(group, name, values, group_path);
  for (const auto& [name, values] : results.weights) write_vector(group, "weights/" + name, values, group_path);
  const auto& s = results.summary;
  SummaryRecord record{s.wall_seconds, s.train_seconds, s.eval_seconds, s.train_tokens_per_second,
                       s.final_train_loss, s.diverged_step, s.rank, {}};
  copy_string(record.host, s.host);
  write_all(open_dataset(group, "summary", group_path + "/summary"), summary_type(), &record, group_path + "/summary");
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
