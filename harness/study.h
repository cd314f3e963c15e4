// Study files (DESIGN.md §4): INI + command-line overrides → validated, expanded runs.
// A run is parsed once into typed option structs, one documented field each (as
// LibTorch's options structs and nanoGPT's config); the key table in study.cpp is the
// only place a key's name, default, parser, field and run-id rule are written.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "encodings/encoding.h"
#include "harness/tasks.h"
#include "harness/user_error.h"

namespace pebench {

// Every study key: the core keys, then each encoding's own (encodings/), by name.
const std::vector<OptionKey>& study_keys();
const OptionKey* find_study_key(const std::string& name);
// The name in `names` a misspelt `name` most likely meant, or "" when none is near: the
// one within two edits (a letter added, dropped, changed, or two neighbours swapped; at
// most a third of the name), else the only one that ends in the same part after its last
// '.' (`steps` or `trian.steps`: train.steps). A tie suggests nothing.
std::string nearest_name(const std::string& name, const std::vector<std::string>& names);
// nearest_name over the study keys, as words to follow the name: " (did you mean 'KEY'?)" or "".
std::string did_you_mean_key(const std::string& name);
// Key → default value, for reading configs that leave keys out (compare, report).
std::map<std::string, std::string> study_key_defaults();
// The value a stored run without `key` computed with, where the key would count in its id
// now, so it predates the key (OptionKey::legacy_value: per_forward for
// encoding.random_draw, false for data.start_token, ...); "" otherwise.
std::string legacy_value(const std::string& key, const std::map<std::string, std::string>& config);

// [data]: what the model reads. Defaults and allowed values: study_keys().
struct DataOptions {
  std::string source;          // text:embedded | text:PATH (file or folder) | tokens:PATH.bin | synthetic:NAME
  std::string eval_source;     // none | a separate held-out text:PATH or tokens:PATH (official splits)
  double holdout = 0;          // last fraction of a corpus held out for eval (without eval_source)
  std::string tokenizer;       // bytes | bpe:N | unigram:N | spm:PATH (harness/tokenizer.h)
  std::string documents;       // eod | joined: how the documents of a source follow each other
  double passkey_mix = 0;      // fraction of training windows that are passkey prompts
  int64_t train_examples = 0;  // a fixed training set of this many sequences, reused in epochs; 0 = fresh
  int64_t vocab_size = 0;      // 256 for bytes; bpe/unigram set their own; a task sets its own
  int64_t symbols = 0;         // synthetic tasks: alphabet size
  std::vector<int64_t> lags;   // synthetic:sparse_memory
  bool start_token = true;     // synthetic tasks: a start token before every sequence
  std::string copy_lengths;    // synthetic:copy: varied | longest
};

// [model]: the transformer around the encoding.
struct ModelOptions {
  int64_t d_model = 0;
  int64_t layers = 0;
  int64_t heads = 0;
  double init_gamma = 0;        // weights ~ N(0, fan_in^(-2 gamma))
  std::string init_scope;       // weights | all: whether init_gamma also sets the learned PE table
  bool tie_embeddings = true;   // the output projection is the token embedding
  double pe_init_std = 0;       // learned PE table std at init
  bool scale_embeddings = false;  // token embeddings × sqrt(d_model) for additive PEs
  int64_t attention_window = 0;   // band mask width; 0 = unlimited
};

// [train]
struct TrainOptions {
  int64_t seq_len = 0;
  int64_t steps = 0;
  int64_t batch = 0;
  double lr = 0, min_lr = 0;     // peak, and the end of the cosine
  double encoding_lr_scale = 0;  // encoding parameters' lr / lr
  int64_t warmup = 0;
  double weight_decay = 0, beta1 = 0, beta2 = 0;
  double grad_clip = 0;          // 0 = off
  std::string precision;         // fp32 | bf16
  int64_t log_every = 0;
  int64_t checkpoint_every = 0;  // 0 = only at stop signals and the end
  bool keep_weights = false;     // store the final weights (pebench export); not in the run id
  std::string cuda_graph;        // auto | off: capture the step in a CUDA graph; not in the run id
  int64_t eval_every = 0;        // held-out eval every this many steps during training; 0 = off
};

// [eval]
struct EvalOptions {
  std::vector<int64_t> lengths;  // as given; RunConfig::eval_lengths() adds train.seq_len
  std::string protocol;          // nonoverlapping | sliding
  int64_t stride = 0;            // sliding only
  int64_t tokens = 0;            // held-out tokens scored at every length
  int64_t batch_tokens = 0;      // tokens per eval forward
  int64_t attention_block = 0;   // queries per attention block at eval
  bool passkey = false;          // passkey retrieval at every eval length (harness/passkey.h)
  int64_t passkey_depths = 0;    // needle depths, evenly spaced in [0, 1]
  int64_t passkey_trials = 0;    // prompts per (length, depth)
};

// [analysis] (harness/analyses/)
struct AnalysisOptions {
  std::vector<std::string> run;  // analyses to run, empty for none
  int64_t rf_length = 0;         // 0: the longest eval length (see RunConfig::rf_length)
  std::vector<int64_t> windows;  // window_ppl key windows
  double epsilon = 0;            // effective-context tolerance
  int64_t tokens = 0;            // window_ppl tokens per window
  int64_t sequences = 0;         // gradient, attention, probe sequences
  int64_t probe_folds = 0;       // probe: k of its interleaved k-fold split over windows
};

// One fully resolved run: every study key has a value, typed in its section and as
// canonical text in `values` (the store's config and the run id).
struct RunConfig {
  std::string encoding;
  int64_t seed = 0;
  DataOptions data;
  ModelOptions model;
  TrainOptions train;
  EvalOptions eval;
  AnalysisOptions analysis;
  std::map<std::string, std::string> encoding_keys;  // encoding.* keys, read by the encodings

  std::map<std::string, std::string> values;  // key → canonical value text
  std::string run_id;

  // "key = value" lines, sorted: the run's identity, each key by its IdRule.
  std::string canonical_text() const;
  // eval.lengths with train.seq_len added, sorted and unique.
  std::vector<int64_t> eval_lengths() const;
  bool analyses_include(const std::string& analysis) const;
  // analysis.rf_length resolved (0 → the longest eval length); windows <= it, sorted.
  int64_t rf_length() const;
  std::vector<int64_t> analysis_windows() const;
  // The synthetic task (data.source = synthetic:NAME), or none for corpora.
  std::optional<TaskSpec> task() const;
  // The model's vocabulary: the task's, N for bpe:N and unigram:N, else data.vocab_size.
  int64_t vocab_size() const;
  // Text sources, and token files with data.tokenizer = spm:PATH: bits per byte and passkeys.
  bool has_tokenizer() const;
  // The encoding's options: model shape, lengths, seed and the encoding.* keys.
  EncodingOptions encoding_options() const;
};

struct Study {
  std::string name;
  std::string path;        // the study file
  std::string file_text;   // its text, stored in the store's root
  std::vector<std::string> grid_axes;
  std::vector<RunConfig> runs;
};

// A key=value given on the command line (`--train.steps 50`).
struct Override {
  std::string key;
  std::string value;
};

// Parses, validates and expands. Throws UserError naming file, key, value, allowed.
Study load_study(const std::string& path, const std::vector<Override>& overrides);
Study parse_study(const std::string& path, const std::string& file_text,
                  const std::vector<Override>& overrides);

// A store holds runs of an earlier version of this study (their canonical config texts):
// names the fixed key whose value has changed since, or "" if none did. Grid axes and
// the index keys (encoding, train.seq_len, seed) may take new values: those are new runs.
std::string changed_fixed_key(const Study& study, const std::vector<std::string>& stored_configs);


}  // namespace pebench
