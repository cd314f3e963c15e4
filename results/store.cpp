#include "results/store.h"

#include <chrono>

#include <cmath>
#include <cstring>
#include <map>

#include "harness/fault.h"
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
  Handle type(H5Tcreate(H5T_COMPOUND, sizeof(IndexRecord)), H5Tclose, "create type", "/index");
  H5Tinsert(type, "run_id", HOFFSET(IndexRecord, run_id), string_type(kIdLength));
  H5Tinsert(type, "encoding", HOFFSET(IndexRecord, encoding), string_type(kEncodingLength));
  H5Tinsert(type, "train_seq_len", HOFFSET(IndexRecord, train_seq_len), H5T_NATIVE_INT64);
  H5Tinsert(type, "seed", HOFFSET(IndexRecord, seed), H5T_NATIVE_INT64);
  H5Tinsert(type, "status", HOFFSET(IndexRecord, status), string_type(kStatusLength));
  return type;
}

Handle summary_type() {
  Handle type(H5Tcreate(H5T_COMPOUND, sizeof(SummaryRecord)), H5Tclose, "create type", "summary");
  H5Tinsert(type, "wall_seconds", HOFFSET(SummaryRecord, wall_seconds), H5T_NATIVE_DOUBLE);
  H5Tinsert(type, "train_seconds", HOFFSET(SummaryRecord, train_seconds), H5T_NATIVE_DOUBLE);
  H5Tinsert(type, "eval_seconds", HOFFSET(SummaryRecord, eval_seconds), H5T_NATIVE_DOUBLE);
  H5Tinsert(type, "train_tokens_per_second", HOFFSET(SummaryRecord, train_tokens_per_second), H5T_NATIVE_DOUBLE);
  H5Tinsert(type, "final_train_loss", HOFFSET(SummaryRecord, final_train_loss), H5T_NATIVE_DOUBLE);
  H5Tinsert(type, "diverged_step", HOFFSET(SummaryRecord, diverged_step), H5T_NATIVE_INT64);
  H5Tinsert(type, "rank", HOFFSET(SummaryRecord, rank), H5T_NATIVE_INT64);
  H5Tinsert(type, "host", HOFFSET(SummaryRecord, host), string_type(kHostLength));
  return type;
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

// Datasets of the analyses in a run group: below receptive_field/, attention/, probe/,
// and encoding/ beside bias_profile and table.
std::vector<std::string> analysis_dataset_names(hid_t group) {
  std::vector<std::string> names;
  for (const auto& path : dataset_paths(group))
    if (path == "eval/accuracy" || path.rfind("eval/anchor/", 0) == 0 || path.rfind("receptive_field/", 0) == 0 || path.rfind("attention/", 0) == 0 || path.rfind("probe/", 0) == 0 ||
        (path.rfind("encoding/", 0) == 0 && path != "encoding/bias_profile" && path != "encoding/table"))
      names.push_back(path);
  return names;
}

}  // namespace

Handle open_store_serial(const std::string& path) {
  quiet_hdf5();
  if (H5Fis_hdf5(path.c_str()) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    throw StoreError("'" + path + "' is not an HDF5 file (missing, truncated or corrupted)");
  }
  Handle file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose, "open store", path);
  if (H5Aexists(file, "schema") <= 0 || read_string_attribute(file, "schema", path) != "pebench-store")
    throw StoreError("'" + path + "' is an HDF5 file but not a pebench store (no schema = pebench-store)");
  const int64_t version = read_int_attribute(file, "schema_version", path);
  if (version > kStoreSchemaVersion)
    throw StoreError("'" + path + "' has store schema version " + std::to_string(version) +
                     "; this pebench reads versions up to " + std::to_string(kStoreSchemaVersion));
  return file;
}

std::vector<IndexRow> read_index_rows(hid_t file, const std::string& path) {
  Handle dataset(H5Dopen2(file, "index", H5P_DEFAULT), H5Dclose, "open dataset", path + ":/index");
  Handle space(H5Dget_space(dataset), H5Sclose, "dataspace of", path + ":/index");
  std::vector<IndexRecord> records(static_cast<size_t>(H5Sget_simple_extent_npoints(space)));
  if (!records.empty())
    check(H5Dread(dataset, index_type(), H5S_ALL, H5S_ALL, H5P_DEFAULT, records.data()), "read", path + ":/index");
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

StoreContents read_store(const std::string& path) {
  Handle file = open_store_serial(path);
  StoreContents contents;
  contents.study_text = read_string_attribute(file, "study", path);
  contents.pebench_version = read_string_attribute(file, "pebench_version", path);
  for (const auto& row : read_index_rows(file, path)) {
    StoredRun run;
    run.row = row;
    const std::string group_path = "/runs/" + row.run_id;
    Handle group = open_group(file, group_path);
    run.config = read_string_attribute(group, "config", group_path);
    run.params = read_int_attribute(group, "params", group_path);
    {
      Handle dataset(H5Dopen2(group, "summary", H5P_DEFAULT), H5Dclose, "open dataset", group_path + "/summary");
      SummaryRecord record{};
      check(H5Dread(dataset, summary_type(), H5S_ALL, H5S_ALL, H5P_DEFAULT, &record), "read", group_path + "/summary");
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
    if (H5Aexists(eval, "variants") > 0)
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
    for (const auto& name : analysis_dataset_names(group)) run.extra[name] = read_vector<double>(group, name, group_path);
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

namespace {

Handle mpio_access(MPI_Comm comm, const std::string& path) {
  Handle access(H5Pcreate(H5P_FILE_ACCESS), H5Pclose, "property list", path);
  check(H5Pset_fapl_mpio(access, comm, MPI_INFO_NULL), "set MPI-IO driver for", path);
  return access;
}

}  // namespace

Handle create_store_file(const std::string& path, hid_t access, const std::string& study_text) {
  quiet_hdf5();
  Handle file(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, access), H5Fclose, "create store", path);
  write_attribute(file, "schema", std::string("pebench-store"), path);
  write_attribute(file, "schema_version", static_cast<int64_t>(kStoreSchemaVersion), path);
  write_attribute(file, "pebench_version", std::string(PEBENCH_VERSION), path);
  write_attribute(file, "study", study_text, path);
  // /index grows when a study's grid grows: chunked, unlimited rows.
  const hsize_t dims[1] = {0}, max_dims[1] = {H5S_UNLIMITED}, chunk[1] = {64};
  Handle space(H5Screate_simple(1, dims, max_dims), H5Sclose, "create dataspace", path + ":/index");
  Handle properties(H5Pcreate(H5P_DATASET_CREATE), H5Pclose, "property list", path);
  H5Pset_chunk(properties, 1, chunk);
  H5Pset_alloc_time(properties, H5D_ALLOC_TIME_EARLY);
  Handle index(H5Dcreate2(file, "index", index_type(), space, H5P_DEFAULT, properties, H5P_DEFAULT),
               H5Dclose, "create dataset", path + ":/index");
  Handle runs(H5Gcreate2(file, "runs", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose, "create group",
              path + ":/runs");
  return file;
}

void write_index_rows(hid_t file, const std::vector<IndexRow>& rows, const std::string& path) {
  Handle index(H5Dopen2(file, "index", H5P_DEFAULT), H5Dclose, "open dataset", path + ":/index");
  const hsize_t count[1] = {rows.size()};
  check(H5Dset_extent(index, count), "extend", path + ":/index");
  std::vector<IndexRecord> records;
  for (const auto& row : rows) records.push_back(to_record(row));
  if (!records.empty())
    check(H5Dwrite(index, index_type(), H5S_ALL, H5S_ALL, H5P_DEFAULT, records.data()), "write", path + ":/index");
}


void ParallelStore::create(const std::string& path, MPI_Comm comm, const std::string& study_text) {
  StoreClock clock;
  create_store_file(path, mpio_access(comm, path), study_text);
}

ParallelStore::ParallelStore(const std::string& path, MPI_Comm comm) : impl_(std::make_unique<Impl>()) {
  StoreClock clock;
  quiet_hdf5();
  impl_->path = path;
  Handle access = mpio_access(comm, path);
  impl_->file = Handle(H5Fopen(path.c_str(), H5F_ACC_RDWR, access), H5Fclose, "open store", path);
  impl_->load_rows();
}

ParallelStore::~ParallelStore() = default;

void ParallelStore::add_runs(const std::vector<RunLayout>& layouts, bool is_writer) {
  StoreClock clock;
  const std::string& path = impl_->path;
  hid_t file = impl_->file;
  Handle index(H5Dopen2(file, "index", H5P_DEFAULT), H5Dclose, "open dataset", path + ":/index");
  const hsize_t old_rows = impl_->rows.size();
  const hsize_t new_rows[1] = {old_rows + layouts.size()};
  check(H5Dset_extent(index, new_rows), "extend", path + ":/index");

  SummaryRecord empty_summary{kNaN, kNaN, kNaN, kNaN, kNaN, kMissing, kMissing, {}};
  Handle summary_file_type = summary_type();
  for (const auto& layout : layouts) {
    const std::string group_path = "/runs/" + layout.run_id;
    Handle group(H5Gcreate2(file, group_path.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose,
                 "create group", group_path);
    write_attribute(group, "encoding", layout.encoding, group_path);
    write_attribute(group, "train_seq_len", layout.train_seq_len, group_path);
    write_attribute(group, "seed", layout.seed, group_path);
    write_attribute(group, "init_gamma", layout.init_gamma, group_path);
    write_attribute(group, "pe_init_std", layout.pe_init_std, group_path);
    write_attribute(group, "config", layout.config, group_path);
    write_attribute(group, "params", layout.params, group_path);
    for (const auto& [name, value] : layout.facts) write_attribute(group, name, value, group_path);
    fault_point("mid_layout");

    {
      Handle space = scalar_space();
      Handle properties(H5Pcreate(H5P_DATASET_CREATE), H5Pclose, "property list", group_path);
      H5Pset_fill_value(properties, summary_file_type, &empty_summary);
      H5Pset_fill_time(properties, H5D_FILL_TIME_ALLOC);
      H5Pset_alloc_time(properties, H5D_ALLOC_TIME_EARLY);
      Handle summary(H5Dcreate2(group, "summary", summary_file_type, space, H5P_DEFAULT, properties, H5P_DEFAULT),
                     H5Dclose, "create dataset", group_path + "/summary");
    }
    const auto logged = static_cast<hsize_t>(layout.n_logged);
    const auto lengths = static_cast<hsize_t>(layout.eval_lengths.size());
    const auto longest = static_cast<hsize_t>(layout.eval_lengths.back());
    create_dataset(group, "train/step", H5T_NATIVE_INT64, {logged}, &kMissing, group_path);
    create_dataset(group, "train/loss", H5T_NATIVE_DOUBLE, {logged}, &kNaN, group_path);
    create_dataset(group, "train/lr", H5T_NATIVE_DOUBLE, {logged}, &kNaN, group_path);
    create_dataset(group, "eval/lengths", H5T_NATIVE_INT64, {lengths}, &kMissing, group_path);
    create_dataset(group, "eval/ppl", H5T_NATIVE_DOUBLE, {lengths}, &kNaN, group_path);
    create_dataset(group, "eval/tokens", H5T_NATIVE_INT64, {lengths}, &kMissing, group_path);
    create_dataset(group, "eval/position_loss", H5T_NATIVE_DOUBLE, {longest}, &kNaN, group_path);
    std::string variant_names;
    for (const auto& name : layout.eval_variants) {
      create_dataset(group, "eval/" + name + "/ppl", H5T_NATIVE_DOUBLE, {lengths}, &kNaN, group_path);
      create_dataset(group, "eval/" + name + "/tokens", H5T_NATIVE_INT64, {lengths}, &kMissing, group_path);
      create_dataset(group, "eval/" + name + "/position_loss", H5T_NATIVE_DOUBLE, {longest}, &kNaN, group_path);
      variant_names += (variant_names.empty() ? "" : ",") + name;
    }
    Handle eval = open_group(group, "eval");
    write_attribute(eval, "protocol", layout.eval_protocol, group_path + "/eval");
    write_attribute(eval, "stride", layout.eval_stride, group_path + "/eval");
    if (!variant_names.empty()) write_attribute(eval, "variants", variant_names, group_path + "/eval");
    auto dims_of = [](const std::vector<int64_t>& shape) { return std::vector<hsize_t>(shape.begin(), shape.end()); };
    if (!layout.bias_profile_shape.empty())
      create_dataset(group, "encoding/bias_profile", H5T_NATIVE_DOUBLE, dims_of(layout.bias_profile_shape), &kNaN,
                     group_path);
    if (!layout.table_shape.empty())
      create_dataset(group, "encoding/table", H5T_NATIVE_DOUBLE, dims_of(layout.table_shape), &kNaN, group_path);
    for (const auto& extra : layout.extra_datasets)
      create_dataset(group, extra.name, extra.integer ? H5T_NATIVE_INT64 : H5T_NATIVE_DOUBLE, dims_of(extra.shape),
                     extra.integer ? static_cast<const void*>(&kMissing) : static_cast<const void*>(&kNaN), group_path);
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
  const auto& s = results.summary;
  SummaryRecord record{s.wall_seconds, s.train_seconds, s.eval_seconds, s.train_tokens_per_second,
                       s.final_train_loss, s.diverged_step, s.rank, {}};
  copy_string(record.host, s.host);
  Handle summary(H5Dopen2(group, "summary", H5P_DEFAULT), H5Dclose, "open dataset", group_path + "/summary");
  check(H5Dwrite(summary, summary_type(), H5S_ALL, H5S_ALL, H5P_DEFAULT, &record), "write", group_path + "/summary");
}

void ParallelStore::write_status(const IndexRow& row) {
  StoreClock clock;
  const std::string where = impl_->path + ":/index";
  auto found = impl_->rows.find(row.run_id);
  if (found == impl_->rows.end()) throw StoreError("run " + row.run_id + " has no row in " + where);
  Handle index(H5Dopen2(impl_->file, "index", H5P_DEFAULT), H5Dclose, "open dataset", where);
  Handle file_space(H5Dget_space(index), H5Sclose, "dataspace of", where);
  const hsize_t start[1] = {found->second}, count[1] = {1};
  check(H5Sselect_hyperslab(file_space, H5S_SELECT_SET, start, nullptr, count, nullptr), "select row of", where);
  Handle memory_space(H5Screate_simple(1, count, nullptr), H5Sclose, "create dataspace", where);
  const IndexRecord record = to_record(row);
  check(H5Dwrite(index, index_type(), memory_space, file_space, H5P_DEFAULT, &record), "write row of", where);
}

void ParallelStore::flush() {
  StoreClock clock;
  check(H5Fflush(impl_->file, H5F_SCOPE_GLOBAL), "flush", impl_->path);
}

void ParallelStore::close() {
  StoreClock clock;
  impl_->file.reset();
}

}  // namespace pebench
