// Study files (DESIGN.md §4): INI + command-line overrides → validated, expanded runs.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "encodings/encoding.h"
#include "harness/tasks.h"

namespace pebench {

// Bad input from the user: printed as one line, exit code 2, nothing written.
struct UserError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct StudyKey {
  std::string name;           // dotted: "train.steps"; "encoding" and "seed" are bare
  std::string default_value;  // resolved value when the study does not set it
  std::string allowed;        // what the value may be, for messages and --help
  std::string help;
};
const std::vector<StudyKey>& study_keys();
// Key → default value, for reading configs that leave keys out (compare, report).
std::map<std::string, std::string> study_key_defaults();

// One fully resolved run: every study key has a value.
struct RunConfig {
  std::map<std::string, std::string> values;  // key → canonical value text
  std::string run_id;

  const std::string& text(const std::string& key) const;
  int64_t integer(const std::string& key) const;
  double real(const std::string& key) const;
  bool flag(const std::string& key) const;
  std::vector<int64_t> integers(const std::string& key) const;
  // "key = value" lines, sorted: the run's identity (study.* keys excluded).
  std::string canonical_text() const;
  // eval.lengths with train.seq_len added, sorted and unique.
  std::vector<int64_t> eval_lengths() const;
  // analysis.run as a list, and whether it names `analysis`.
  std::vector<std::string> analyses() const;
  bool analyses_include(const std::string& analysis) const;
  // analysis.rf_length resolved (0 → the longest eval length); windows <= it, sorted.
  int64_t rf_length() const;
  std::vector<int64_t> analysis_windows() const;
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

// The encoding's options from a run's study keys.
EncodingOptions encoding_options(const RunConfig& run);
// The synthetic task of a run (data.source = synthetic:NAME), or none for corpora.
std::optional<TaskSpec> task_spec(const RunConfig& run);

std::string fnv1a_hex(const std::string& text, int digits);

}  // namespace pebench
