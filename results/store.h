// The results store (DESIGN.md §5, schema version 1): one HDF5 file per study. Every
// run's layout is created collectively up front (fill value NaN); during runs a rank
// writes only raw data into its own runs' datasets and its /index row, status last.
// Documented for users in results/README.md.
#pragma once
#include <mpi.h>

#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace pebench {

constexpr int kStoreSchemaVersion = 1;

// Any HDF5 failure, with the object's path.
// Its message is one line: control bytes (from a crafted store) shown as \xNN.
struct StoreError : std::runtime_error {
  explicit StoreError(const std::string& message);
};

// A dataset beyond the fixed schema (the analyses): path in the run's group and shape.
struct ExtraDataset {
  std::string name;             // e.g. "receptive_field/ppl"
  std::vector<int64_t> shape;
  bool integer = false;         // int64 (fill -1) or float64 (fill NaN)
};

// Everything about a run that is known before it trains: shapes and attributes.
struct RunLayout {
  std::string run_id;
  std::string encoding;
  int64_t train_seq_len = 0;
  int64_t seed = 0;
  double init_gamma = 0;
  double pe_init_std = 0;
  std::string config;   // canonical config text
  std::string data_identity;  // the corpus read, "bytes=N fnv1a=HEX"; "" for synthetic tasks
  // A SentencePiece run's tokenizer: the serialized model (tokenizer/model, uint8) and
  // its spec and hash (attribute `tokenizer`: "bpe:8192 model=HEX"); empty for bytes.
  std::string tokenizer_model;
  std::string tokenizer;
  int64_t params = 0;
  std::vector<std::pair<std::string, int64_t>> facts;  // encoding facts, as int attributes
  int64_t n_logged = 0;
  std::vector<int64_t> eval_lengths;
  std::string eval_protocol;
  int64_t eval_stride = 0;
  std::vector<std::string> eval_variants;     // extra eval curves (rope: pi, ntk, yarn)
  std::vector<int64_t> bias_profile_shape;    // [heads, n] or [layers, heads, n]; empty: none
  std::vector<int64_t> table_shape;           // [rows, d_model]; empty: none
  // The trained model's parameters and buffers (train.keep_weights): name as LibTorch's
  // named_parameters() gives it ("blocks.0.attention.qkv.weight") and shape; stored as
  // float32 datasets weights/<name>. Empty: the run keeps no weights.
  std::vector<std::pair<std::string, std::vector<int64_t>>> weights;
  std::vector<ExtraDataset> extra_datasets;   // task metrics and analyses; their names are recorded in the run's
                                              // `extra_datasets` attribute, which readers iterate
};

// One eval curve of an eval-time variant: eval/<name>/{ppl, tokens, position_loss}.
struct VariantCurve {
  std::string name;
  std::vector<double> ppl;
  std::vector<int64_t> tokens;
  std::vector<double> position_loss;
};

struct RunSummary {
  double wall_seconds = 0;
  double train_seconds = 0;
  double eval_seconds = 0;
  double train_tokens_per_second = 0;
  double final_train_loss = 0;
  int64_t diverged_step = -1;
  int64_t rank = -1;
  std::string host;
};

struct RunResults {
  RunSummary summary;
  // How the finishing process computed it (dataset `compute`): device, the attention,
  // optimizer and clip kernels, LibTorch version, e.g. "cuda:0 attention=fused
  // adamw=fused clip=multi_tensor torch=2.11.0". Kept to 128 bytes.
  std::string compute;
  std::vector<int64_t> train_step;
  std::vector<double> train_loss, train_lr;
  std::vector<double> eval_ppl;
  std::vector<int64_t> eval_tokens;
  std::vector<double> position_loss;
  std::vector<VariantCurve> variants;  // in the layout's eval_variants order
  std::vector<double> bias_profile;    // row-major, the layout's shape
  std::vector<double> table;
  std::vector<std::pair<std::string, std::vector<double>>> extra;  // layout's extra datasets, row-major
  std::vector<std::pair<std::string, std::vector<float>>> weights;  // layout's weights, row-major
};

// pending | running | done | diverged | failed
struct IndexRow {
  std::string run_id;
  std::string encoding;
  int64_t train_seq_len = 0;
  int64_t seed = 0;
  std::string status;
};

// Serial, read-only access (compare, inspect, resume decisions).
struct StoredRun {
  IndexRow row;
  std::string config;
  std::string data_identity;  // the corpus it was laid out with; "" when none was recorded
  int64_t params = 0;
  RunSummary summary;
  std::string compute;  // RunResults::compute; "" before the run finished, and in stores before it
  std::vector<int64_t> train_step;
  std::vector<double> train_loss;
  std::vector<int64_t> eval_lengths;
  std::vector<double> eval_ppl;
  std::vector<int64_t> eval_tokens;
  std::vector<double> position_loss;
  std::vector<VariantCurve> variants;
  std::vector<int64_t> bias_profile_shape, table_shape;  // empty when absent
  std::vector<double> bias_profile, table;
  std::map<std::string, std::vector<double>> extra;  // task-metric and analysis datasets, by name, row-major
  std::map<std::string, std::vector<int64_t>> extra_shape;  // their shapes
};
// What a store says of itself at its root, written when it is created: readers fill a
// key a run's config leaves out from key_defaults (the writing version's defaults).
struct StoreHeader {
  std::string study_text;    // the study file as given
  std::string study_name;
  std::string key_defaults;  // "key = value" lines (results/config_text.h); "" in stores before it
};

struct StoreContents {
  std::string study_text;
  std::string study_name;                           // "" in stores made before it was recorded
  std::map<std::string, std::string> key_defaults;  // empty in stores made before they were recorded
  std::string pebench_version;
  std::vector<StoredRun> runs;
};

// Seconds this process has spent in read_index, read_configs and ParallelStore calls:
// the HDF5 cost of a study (`pebench run` reports it).
double store_seconds();

// Throws StoreError when `path` is not a readable pebench store of a known schema.
// read_store also refuses a run whose datasets break what readers rely on (store.cpp,
// check_core and check_extras; results/README.md "Damaged stores"), naming the dataset.
std::vector<IndexRow> read_index(const std::string& path);
StoreContents read_store(const std::string& path);
// The canonical config text of every run in the store, in /index order.
std::vector<std::string> read_configs(const std::string& path);

// One stored tensor of a run's final weights.
struct StoredWeight {
  std::string name;  // LibTorch's parameter or buffer name
  std::vector<int64_t> shape;
  std::vector<float> values;  // row-major
};
// The final weights of `run_id` (train.keep_weights), sorted by name; empty when the run
// kept none. Throws StoreError when the store or the run is not there.
std::vector<StoredWeight> read_weights(const std::string& path, const std::string& run_id);

// The SentencePiece model a run was tokenized with (its tokenizer/model), or "" for runs
// without one. Throws StoreError when the store or the run is not there.
std::string read_tokenizer_model(const std::string& path, const std::string& run_id);

// Bytes that laying out `layouts` adds to a store: every dataset is allocated in full at
// creation, plus ~675 bytes of metadata per dataset (measured on a 2-run store: 123 KB
// for 70 KB of data in 79 datasets), doubled here for the groups and attributes.
double layout_bytes(const std::vector<RunLayout>& layouts);

// Where a run's results go as it finishes: the store, or memory in tests.
class RunWriter {
 public:
  virtual ~RunWriter() = default;
  // Results first, then the status cell: a run counts as finished only once its status says so.
  virtual void write_results(const std::string& run_id, const RunResults& results) = 0;
  virtual void write_status(const IndexRow& row) = 0;
};

// Opened by every rank of `comm` together (MPI-IO driver).
class ParallelStore : public RunWriter {
 public:
  // Collective: a new, empty store at `path`.
  static void create(const std::string& path, MPI_Comm comm, const StoreHeader& header);
  ParallelStore(const std::string& path, MPI_Comm comm);  // collective open, read-write
  ~ParallelStore() override;
  ParallelStore(const ParallelStore&) = delete;
  ParallelStore& operator=(const ParallelStore&) = delete;

  // Collective: groups, datasets, attributes and /index rows of new runs (identical
  // arguments on every rank), then their constant data, written by rank `writer`.
  void add_runs(const std::vector<RunLayout>& layouts, bool is_writer);
  // Independent: this rank's run. Results first, then the status cell.
  void write_results(const std::string& run_id, const RunResults& results) override;
  void write_status(const IndexRow& row) override;
  void flush();  // collective
  void close();  // collective

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pebench
