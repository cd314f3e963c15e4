#include "harness/study.h"

#include <boost/program_options/options_description.hpp>
#include <boost/program_options/parsers.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include "encodings/registry.h"

namespace pebench {
namespace po = boost::program_options;

namespace {

enum class Kind { PositiveInt, NonNegativeInt, Seed, Fraction, PositiveReal, NonNegativeReal,
                  Bool, Name, Source, Encoding, Choice, ChoiceList, LengthList };

struct KeySpec {
  StudyKey key;
  Kind kind;
  std::vector<std::string> choices;  // for Kind::Choice and Kind::ChoiceList
};

const std::vector<KeySpec>& key_specs() {
  static const std::vector<KeySpec> specs = [] {
    std::vector<KeySpec> s = {
        {{"study.name", "", "letters, digits, '.', '_', '-'", "study name (default: file name)"}, Kind::Name},
        {{"data.source", "text:embedded", "text:embedded | text:PATH | tokens:PATH.bin | synthetic:copy | synthetic:associative_recall | synthetic:sparse_memory | synthetic:anchor_composite", "training corpus or synthetic task (harness/tasks.h)"}, Kind::Source},
        {{"data.holdout", "0.1", "a fraction in (0, 1)", "last fraction of the corpus held out for eval"}, Kind::Fraction},
        {{"data.vocab_size", "256", "a positive integer (256 for text sources)", "vocabulary size"}, Kind::PositiveInt},
        {{"data.symbols", "16", "an integer >= 2", "synthetic copy, associative_recall, sparse_memory: alphabet size"}, Kind::PositiveInt},
        {{"data.lags", "3,17,40", "comma-separated positive integers", "synthetic:sparse_memory: x_t = sum of x_{t-lag} mod symbols"}, Kind::LengthList},
        {{"model.d_model", "128", "a positive integer", "model width"}, Kind::PositiveInt},
        {{"model.layers", "2", "a positive integer", "transformer blocks"}, Kind::PositiveInt},
        {{"model.heads", "4", "a positive integer dividing model.d_model", "attention heads"}, Kind::PositiveInt},
        {{"model.init_gamma", "0.5", "a positive number", "init rate: weights ~ N(0, fan_in^(-2 gamma))"}, Kind::PositiveReal},
        // 1.0: the scale of the sqrt(d)-scaled token embeddings (nn.Embedding's N(0,1)); small
        // values make unreached rows near-zero (Ito et al. 2024): a study axis, not the default.
        {{"model.pe_init_std", "1.0", "a positive number", "std of the learned PE table at init"}, Kind::PositiveReal},
        {{"model.scale_embeddings", "true", "true | false", "scale token embeddings by sqrt(d_model) for additive PEs"}, Kind::Bool},
        {{"model.attention_window", "0", "a non-negative integer (0 = unlimited)", "band mask width"}, Kind::NonNegativeInt},
        {{"encoding", "none", "", "positional encoding"}, Kind::Encoding},
        {{"encoding.rope_base", "10000", "a positive number", "RoPE base"}, Kind::PositiveReal},
        {{"encoding.sinusoid_layout", "interleaved", "interleaved | concat", "sinusoid layout"}, Kind::Choice, {"interleaved", "concat"}},
        {{"encoding.share_across_layers", "true", "true | false", "learned biases: one set for all layers (gpt-neox, KERPLE)"}, Kind::Bool},
        {{"encoding.t5_buckets", "32", "an integer >= 2", "T5 distance buckets"}, Kind::PositiveInt},
        {{"encoding.t5_max_distance", "128", "a positive integer", "T5: distances from here share the last bucket"}, Kind::PositiveInt},
        {{"encoding.sandwich_dim", "128", "an even positive integer", "Sandwich d'"}, Kind::PositiveInt},
        {{"encoding.xpos_scale_base", "512", "a positive integer", "xPos decay scale base"}, Kind::PositiveInt},
        {{"encoding.rope_scaling", "none", "none | a comma list of pi, ntk, yarn", "rope: extra eval curves with length scaling"}, Kind::ChoiceList, {"pi", "ntk", "yarn"}},
        {{"encoding.random_max_position", "0", "0 (the largest eval length) or an integer >= it", "randomized: positions drawn from [0, this)"}, Kind::NonNegativeInt},
        {{"encoding.random_eval_positions", "randomized", "randomized | sequential", "randomized: eval positions"}, Kind::Choice, {"randomized", "sequential"}},
        {{"seed", "0", "a non-negative integer", "seed of init and data order"}, Kind::Seed},
        {{"train.seq_len", "64", "a positive integer", "training sequence length"}, Kind::PositiveInt},
        {{"train.steps", "600", "a positive integer", "optimizer steps"}, Kind::PositiveInt},
        {{"train.batch", "32", "a positive integer", "sequences per step"}, Kind::PositiveInt},
        {{"train.lr", "0.001", "a positive number", "peak learning rate"}, Kind::PositiveReal},
        {{"train.min_lr", "0.0001", "a non-negative number", "learning rate at the end of the cosine"}, Kind::NonNegativeReal},
        {{"train.encoding_lr_scale", "1", "a positive number", "learning rate of the encoding's parameters / train.lr"}, Kind::PositiveReal},
        {{"train.warmup", "50", "a non-negative integer", "linear warmup steps"}, Kind::NonNegativeInt},
        {{"train.weight_decay", "0.1", "a non-negative number", "AdamW decay on matrices"}, Kind::NonNegativeReal},
        {{"train.beta1", "0.9", "a fraction in (0, 1)", "AdamW beta1"}, Kind::Fraction},
        {{"train.beta2", "0.95", "a fraction in (0, 1)", "AdamW beta2"}, Kind::Fraction},
        {{"train.grad_clip", "1.0", "a non-negative number (0 = off)", "gradient-norm clip"}, Kind::NonNegativeReal},
        {{"train.precision", "fp32", "fp32 | bf16", "training matmuls: fp32, or bf16 under autocast (fp32 weights, loss and eval)"}, Kind::Choice, {"fp32", "bf16"}},
        {{"train.log_every", "50", "a positive integer", "steps between logged losses"}, Kind::PositiveInt},
        {{"train.checkpoint_every", "100", "a non-negative integer (0 = only at stop signals and the end of training)", "steps between checkpoints; not part of the run id"}, Kind::NonNegativeInt},
        {{"eval.lengths", "64,128,256,512,1024", "comma-separated positive integers", "eval lengths"}, Kind::LengthList},
        {{"eval.protocol", "nonoverlapping", "nonoverlapping | sliding", "eval protocol"}, Kind::Choice, {"nonoverlapping", "sliding"}},
        {{"eval.stride", "0", "a non-negative integer (sliding: 1..shortest length)", "sliding-window stride"}, Kind::NonNegativeInt},
        {{"eval.tokens", "32768", "a positive integer", "held-out tokens scored at every length"}, Kind::PositiveInt},
        {{"eval.batch_tokens", "16384", "a positive integer", "tokens per eval forward"}, Kind::PositiveInt},
        {{"eval.attention_block", "256", "a positive integer", "queries per attention block at eval"}, Kind::PositiveInt},
        {{"analysis.run", "none", "none | a comma list of window_ppl, gradient, attention, probe, pe_geometry", "analyses after evaluation (harness/analyse.h)"}, Kind::ChoiceList,
         {"window_ppl", "gradient", "attention", "probe", "pe_geometry"}},
        {{"analysis.rf_length", "0", "0 (the longest eval length) or a length up to it", "length of the receptive-field and attention analyses"}, Kind::NonNegativeInt},
        {{"analysis.windows", "1,2,4,8,16,32,64,128,256,512,1024", "comma-separated positive integers", "window_ppl: key windows w (those <= rf_length)"}, Kind::LengthList},
        {{"analysis.epsilon", "0.01", "a positive number", "effective context: smallest w with ppl(w) <= (1 + epsilon) ppl(full)"}, Kind::PositiveReal},
        {{"analysis.tokens", "8192", "a positive integer", "window_ppl: held-out tokens scored per window"}, Kind::PositiveInt},
        {{"analysis.sequences", "32", "an integer >= 2", "held-out sequences for gradient, attention and probe"}, Kind::PositiveInt},
    };
    for (auto& spec : s)
      if (spec.kind == Kind::Encoding) spec.key.allowed = encoding_names_joined(" | ");
    return s;
  }();
  return specs;
}

const KeySpec* find_spec(const std::string& name) {
  for (const auto& spec : key_specs())
    if (spec.key.name == name) return &spec;
  return nullptr;
}

std::string trim(const std::string& text) {
  const auto begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return "";
  const auto end = text.find_last_not_of(" \t\r\n");
  return text.substr(begin, end - begin + 1);
}

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::stringstream stream(text);
  std::string part;
  while (std::getline(stream, part, separator)) parts.push_back(trim(part));
  if (!text.empty() && text.back() == separator) parts.push_back("");
  return parts;
}

// Where a value came from, for messages: "quickstart.ini: [train] steps" or
// "command line: --train.steps".
struct Origin {
  std::string source;  // file path or "command line"
  std::string key;
  bool from_file;
  std::string describe() const {
    if (!from_file) return source + ": --" + key;
    const auto dot = key.find('.');
    if (dot == std::string::npos) return source + ": " + key;
    return source + ": [" + key.substr(0, dot) + "] " + key.substr(dot + 1);
  }
};

[[noreturn]] void fail(const Origin& origin, const std::string& value, const std::string& why) {
  throw UserError(origin.describe() + " = \"" + value + "\": " + why);
}

bool parse_integer(const std::string& text, int64_t& out) {
  if (text.empty()) return false;
  size_t used = 0;
  try {
    out = std::stoll(text, &used);
  } catch (...) {
    return false;
  }
  return used == text.size();
}

bool parse_real(const std::string& text, double& out) {
  if (text.empty()) return false;
  size_t used = 0;
  try {
    out = std::stod(text, &used);
  } catch (...) {
    return false;
  }
  return used == text.size() && std::isfinite(out);
}

std::string format_real(double value) {
  std::ostringstream out;
  out.precision(17);
  out << value;
  return out.str();
}

// Checks one value against its key and returns it in canonical form.
std::string canonical_value(const KeySpec& spec, const std::string& raw, const Origin& origin) {
  const std::string value = trim(raw);
  int64_t integer = 0;
  double real = 0;
  switch (spec.kind) {
    case Kind::PositiveInt:
      if (!parse_integer(value, integer) || integer <= 0) fail(origin, value, "expected " + spec.key.allowed);
      return std::to_string(integer);
    case Kind::NonNegativeInt:
    case Kind::Seed:
      if (!parse_integer(value, integer) || integer < 0) fail(origin, value, "expected " + spec.key.allowed);
      return std::to_string(integer);
    case Kind::Fraction:
      if (!parse_real(value, real) || real <= 0 || real >= 1) fail(origin, value, "expected " + spec.key.allowed);
      return format_real(real);
    case Kind::PositiveReal:
      if (!parse_real(value, real) || real <= 0) fail(origin, value, "expected " + spec.key.allowed);
      return format_real(real);
    case Kind::NonNegativeReal:
      if (!parse_real(value, real) || real < 0) fail(origin, value, "expected " + spec.key.allowed);
      return format_real(real);
    case Kind::Bool:
      if (value == "true" || value == "1" || value == "yes") return "true";
      if (value == "false" || value == "0" || value == "no") return "false";
      fail(origin, value, "expected true | false");
    case Kind::Name:
      if (value.empty() || value.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != std::string::npos || value[0] == '.')
        fail(origin, value, "expected " + spec.key.allowed + " (no path separators)");
      return value;
    case Kind::Source:
      if (value == "text:embedded") return value;
      if ((value.rfind("text:", 0) == 0 && value.size() > 5) || (value.rfind("tokens:", 0) == 0 && value.size() > 7))
        return value;
      if (value.rfind("synthetic:", 0) == 0) {
        const auto& names = task_names();
        if (std::find(names.begin(), names.end(), value.substr(10)) != names.end()) return value;
      }
      fail(origin, value, "expected " + spec.key.allowed);
    case Kind::Encoding:
      if (!find_encoding(value)) fail(origin, value, "unknown encoding; allowed: " + spec.key.allowed);
      return value;
    case Kind::Choice:
      if (std::find(spec.choices.begin(), spec.choices.end(), value) == spec.choices.end())
        fail(origin, value, "expected " + spec.key.allowed);
      return value;
    case Kind::ChoiceList: {
      if (value == "none") return value;
      std::vector<std::string> chosen;
      for (const auto& part : split(value, ',')) {
        if (std::find(spec.choices.begin(), spec.choices.end(), part) == spec.choices.end())
          fail(origin, value, "expected " + spec.key.allowed);
        if (std::find(chosen.begin(), chosen.end(), part) == chosen.end()) chosen.push_back(part);
      }
      std::string joined;
      for (const auto& part : chosen) joined += (joined.empty() ? "" : ",") + part;
      return joined;
    }
    case Kind::LengthList: {
      std::string joined;
      for (const auto& part : split(value, ',')) {
        if (!parse_integer(part, integer) || integer <= 0) fail(origin, value, "expected " + spec.key.allowed);
        joined += (joined.empty() ? "" : ",") + std::to_string(integer);
      }
      return joined;
    }
  }
  return value;
}

// Strips `;` and `#` comments (Boost's parser only knows `#`).
std::string strip_comments(const std::string& text) {
  std::string out;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    const auto cut = line.find_first_of(";#");
    out += (cut == std::string::npos ? line : line.substr(0, cut)) + "\n";
  }
  return out;
}

std::string section_list() {
  return "study, data, model, encoding, train, eval, analysis, grid (and bare keys encoding, seed)";
}

}  // namespace

const std::vector<StudyKey>& study_keys() {
  static const std::vector<StudyKey> keys = [] {
    std::vector<StudyKey> out;
    for (const auto& spec : key_specs()) out.push_back(spec.key);
    return out;
  }();
  return keys;
}

std::map<std::string, std::string> study_key_defaults() {
  std::map<std::string, std::string> defaults;
  for (const auto& key : study_keys()) defaults[key.name] = key.default_value;
  return defaults;
}

std::string fnv1a_hex(const std::string& text, int digits) {
  uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  std::ostringstream out;
  out << std::hex;
  out.width(16);
  out.fill('0');
  out << hash;
  return out.str().substr(0, digits);
}

const std::string& RunConfig::text(const std::string& key) const {
  auto found = values.find(key);
  if (found == values.end()) throw std::logic_error("run config has no key " + key);
  return found->second;
}
int64_t RunConfig::integer(const std::string& key) const { return std::stoll(text(key)); }
double RunConfig::real(const std::string& key) const { return std::stod(text(key)); }
bool RunConfig::flag(const std::string& key) const { return text(key) == "true"; }
std::vector<int64_t> RunConfig::integers(const std::string& key) const {
  std::vector<int64_t> out;
  for (const auto& part : split(text(key), ',')) out.push_back(std::stoll(part));
  return out;
}
namespace {
// How a run is carried out, not what it computes: not part of its identity.
bool operational_key(const std::string& key) {
  return key.rfind("study.", 0) == 0 || key == "train.checkpoint_every";
}
}  // namespace

std::string RunConfig::canonical_text() const {
  // Without analyses the analysis.* keys change nothing, nor the task keys without a
  // task, nor train.precision at fp32: leaving them out keeps the run ids of stores made
  // before they existed.
  auto run = values.find("analysis.run");
  const bool no_analyses = run == values.end() || run->second == "none";
  auto source = values.find("data.source");
  const bool no_task = source == values.end() || source->second.rfind("synthetic:", 0) != 0;
  std::string out;
  for (const auto& [key, value] : values)
    if (!operational_key(key) && !(no_analyses && key.rfind("analysis.", 0) == 0) &&
        !(no_task && (key == "data.symbols" || key == "data.lags")) && !(key == "train.precision" && value == "fp32"))
      out += key + " = " + value + "\n";
  return out;
}

std::string changed_fixed_key(const Study& study, const std::vector<std::string>& stored_configs) {
  if (stored_configs.empty() || study.runs.empty()) return "";
  // Each key's values over the stored runs.
  std::map<std::string, std::set<std::string>> stored;
  for (const auto& config : stored_configs) {
    std::istringstream lines(config);
    std::string line;
    while (std::getline(lines, line)) {
      const auto equals = line.find(" = ");
      if (equals != std::string::npos) stored[line.substr(0, equals)].insert(line.substr(equals + 3));
    }
  }
  // Runs differing in these keys are different runs that compare tells apart.
  const std::set<std::string> identity = {"encoding", "train.seq_len", "seed"};
  const std::set<std::string> axes(study.grid_axes.begin(), study.grid_axes.end());
  for (const auto& [key, value] : study.runs.front().values) {
    if (operational_key(key) || identity.count(key) || axes.count(key)) continue;
    // A key missing from the stored configs had its default there (an older pebench, or
    // analysis.* left out without analyses).
    auto found = stored.find(key);
    const KeySpec* spec = find_spec(key);
    const std::set<std::string> was = found != stored.end() ? found->second
                                      : std::set<std::string>{spec ? spec->key.default_value : value};
    if (was.size() != 1 || *was.begin() == value) continue;
    return key + " is " + *was.begin() + " in the store's runs but " + value +
           " in the study now: a changed fixed key changes every run id and would mix configurations";
  }
  return "";
}
std::optional<TaskSpec> task_spec(const RunConfig& run) {
  const std::string& source = run.text("data.source");
  if (source.rfind("synthetic:", 0) != 0) return std::nullopt;
  TaskSpec task;
  task.name = source.substr(10);
  task.symbols = run.integer("data.symbols");
  task.lags = run.integers("data.lags");
  return task;
}

EncodingOptions encoding_options(const RunConfig& run) {
  EncodingOptions options;
  options.d_model = run.integer("model.d_model");
  options.heads = run.integer("model.heads");
  options.layers = run.integer("model.layers");
  options.train_length = run.integer("train.seq_len");
  options.max_length = run.eval_lengths().back();
  options.seed = static_cast<uint64_t>(run.integer("seed"));
  options.pe_init_std = run.real("model.pe_init_std");
  options.rope_base = run.real("encoding.rope_base");
  options.sinusoid_layout = run.text("encoding.sinusoid_layout");
  options.share_across_layers = run.flag("encoding.share_across_layers");
  options.t5_buckets = run.integer("encoding.t5_buckets");
  options.t5_max_distance = run.integer("encoding.t5_max_distance");
  options.sandwich_dim = run.integer("encoding.sandwich_dim");
  options.xpos_scale_base = run.integer("encoding.xpos_scale_base");
  if (run.text("encoding.rope_scaling") != "none") options.rope_scaling = split(run.text("encoding.rope_scaling"), ',');
  options.random_max_position = run.integer("encoding.random_max_position");
  options.random_eval_positions = run.text("encoding.random_eval_positions") == "randomized";
  return options;
}

std::vector<std::string> RunConfig::analyses() const {
  const std::string& chosen = text("analysis.run");
  return chosen == "none" ? std::vector<std::string>{} : split(chosen, ',');
}

bool RunConfig::analyses_include(const std::string& analysis) const {
  const auto chosen = analyses();
  return std::find(chosen.begin(), chosen.end(), analysis) != chosen.end();
}

int64_t RunConfig::rf_length() const {
  const int64_t length = integer("analysis.rf_length");
  return length > 0 ? length : eval_lengths().back();
}

std::vector<int64_t> RunConfig::analysis_windows() const {
  std::vector<int64_t> windows;
  for (int64_t w : integers("analysis.windows"))
    if (w <= rf_length()) windows.push_back(w);
  std::sort(windows.begin(), windows.end());
  windows.erase(std::unique(windows.begin(), windows.end()), windows.end());
  return windows;
}

std::vector<int64_t> RunConfig::eval_lengths() const {
  auto lengths = integers("eval.lengths");
  lengths.push_back(integer("train.seq_len"));
  std::sort(lengths.begin(), lengths.end());
  lengths.erase(std::unique(lengths.begin(), lengths.end()), lengths.end());
  return lengths;
}

namespace {

// Checks that involve several keys of one resolved run.
void validate_run(const RunConfig& run, const std::map<std::string, Origin>& origins) {
  auto origin_of = [&](const std::string& key) {
    auto found = origins.find(key);
    return found != origins.end() ? found->second : Origin{"defaults", key, true};
  };
  const int64_t seq_len = run.integer("train.seq_len");
  for (int64_t length : run.integers("eval.lengths"))
    if (length < seq_len)
      fail(origin_of("eval.lengths"), run.text("eval.lengths"),
           "eval length " + std::to_string(length) + " is shorter than train.seq_len " +
               std::to_string(seq_len) + "; every eval length must be >= train.seq_len");
  const int64_t d_model = run.integer("model.d_model"), heads = run.integer("model.heads");
  if (d_model % heads != 0)
    fail(origin_of("model.heads"), run.text("model.heads"),
         "must divide model.d_model = " + std::to_string(d_model));
  const std::string requirement = find_encoding(run.text("encoding"))->check(encoding_options(run));
  if (!requirement.empty()) fail(origin_of("encoding"), run.text("encoding"), requirement);
  const bool text_source = run.text("data.source").rfind("text:", 0) == 0;
  if (text_source && run.integer("data.vocab_size") != 256)
    fail(origin_of("data.vocab_size"), run.text("data.vocab_size"), "text sources are bytes: expected 256");
  if (const auto task = task_spec(run)) {
    if (run.integer("data.vocab_size") != 256)
      fail(origin_of("data.vocab_size"), run.text("data.vocab_size"),
           "a synthetic task sets its own vocabulary (" + std::to_string(task->vocab_size()) + "): leave it at 256");
    if (task->symbols < 2) fail(origin_of("data.symbols"), run.text("data.symbols"), "expected an integer >= 2");
    if (task->name == "sparse_memory" && seq_len < task->shortest_length())
      fail(origin_of("data.lags"), run.text("data.lags"),
           "the largest lag must be at most train.seq_len = " + std::to_string(seq_len) + ", or no position is scored");
    if (seq_len < task->shortest_length())
      fail(origin_of("train.seq_len"), run.text("train.seq_len"),
           "synthetic:" + task->name + " needs sequences of at least " + std::to_string(task->shortest_length()) + " tokens");
  }
  if (run.integer("data.vocab_size") > 65536)
    fail(origin_of("data.vocab_size"), run.text("data.vocab_size"), "token files are uint16: expected at most 65536");
  const auto lengths = run.eval_lengths();
  if (run.integer("eval.tokens") < lengths.back())
    fail(origin_of("eval.tokens"), run.text("eval.tokens"),
         "must be at least the longest eval length " + std::to_string(lengths.back()));
  if (run.integer("analysis.rf_length") > lengths.back())
    fail(origin_of("analysis.rf_length"), run.text("analysis.rf_length"),
         "must be 0 or at most the longest eval length " + std::to_string(lengths.back()));
  if (run.integer("analysis.sequences") < 2)
    fail(origin_of("analysis.sequences"), run.text("analysis.sequences"), "expected an integer >= 2 (the probe fits on one half, scores on the other)");
  if (run.text("eval.protocol") == "sliding") {
    const int64_t stride = run.integer("eval.stride");
    if (stride < 1 || stride > lengths.front())
      fail(origin_of("eval.stride"), run.text("eval.stride"),
           "the sliding protocol needs 1 <= eval.stride <= the shortest eval length " +
               std::to_string(lengths.front()));
  }
}

}  // namespace

Study parse_study(const std::string& path, const std::string& file_text,
                  const std::vector<Override>& overrides) {
  po::options_description nothing;
  po::parsed_options parsed(&nothing);
  try {
    std::istringstream stream(strip_comments(file_text));
    parsed = po::parse_config_file(stream, nothing, /*allow_unregistered=*/true);
  } catch (const po::error& error) {
    throw UserError(path + ": " + error.what());
  }

  std::map<std::string, std::string> fixed;
  std::map<std::string, Origin> origins;
  std::vector<std::string> axes;
  std::map<std::string, std::vector<std::string>> axis_values;
  std::set<std::string> seen;

  auto set_value = [&](const std::string& key, const std::string& raw, const Origin& origin,
                       bool grid) {
    if (grid) {
      const KeySpec* spec = find_spec(key);
      if (!spec || key.rfind("study.", 0) == 0)
        fail(origin, raw, "unknown grid axis '" + key + "'; a grid axis is any study key but study.*");
      if (spec->kind == Kind::LengthList || spec->kind == Kind::ChoiceList)
        fail(origin, raw, key + " is a list and cannot be a grid axis");
      std::vector<std::string> values;
      for (const auto& part : split(raw, ',')) values.push_back(canonical_value(*spec, part, origin));
      if (std::find(axes.begin(), axes.end(), key) == axes.end()) axes.push_back(key);
      axis_values[key] = values;
      fixed.erase(key);
    } else {
      const KeySpec* spec = find_spec(key);
      if (!spec) {
        throw UserError(origin.describe() + ": unknown key '" + key + "'; sections are " +
                        section_list() + "; `pebench run --help` lists every key");
      }
      fixed[key] = canonical_value(*spec, raw, origin);
      axes.erase(std::remove(axes.begin(), axes.end(), key), axes.end());
      axis_values.erase(key);
    }
    origins[key] = origin;
  };

  for (const auto& option : parsed.options) {
    const std::string& key = option.string_key;
    const std::string raw = option.value.empty() ? "" : option.value.front();
    if (!seen.insert(key).second) throw UserError(path + ": key '" + key + "' is given twice");
    const bool grid = key.rfind("grid.", 0) == 0;
    set_value(grid ? key.substr(5) : key, raw, Origin{path, key, true}, grid);
  }
  for (const auto& override_value : overrides) {
    std::string key = override_value.key;
    const bool grid = key.rfind("grid.", 0) == 0;
    if (grid) key = key.substr(5);
    const Origin origin{"command line", override_value.key, false};
    // A command-line value of a grid axis replaces the axis (a comma list stays an axis).
    const bool axis = std::find(axes.begin(), axes.end(), key) != axes.end();
    const bool list = override_value.value.find(',') != std::string::npos;
    const KeySpec* spec = find_spec(key);
    set_value(key, override_value.value, origin,
              grid || (axis && list && spec && spec->kind != Kind::LengthList && spec->kind != Kind::ChoiceList));
  }

  Study study;
  study.path = path;
  study.file_text = file_text;
  study.grid_axes = axes;
  std::string stem = path.substr(path.find_last_of('/') + 1);
  stem = stem.substr(0, stem.rfind('.'));
  if (!fixed.count("study.name")) {
    const KeySpec* spec = find_spec("study.name");
    fixed["study.name"] = canonical_value(*spec, stem, Origin{path, "study.name", true});
  }
  study.name = fixed["study.name"];

  RunConfig base;
  for (const auto& spec : key_specs()) base.values[spec.key.name] = spec.key.default_value;
  for (const auto& [key, value] : fixed) base.values[key] = value;

  std::vector<RunConfig> runs{base};
  for (const auto& axis : axes) {
    std::vector<RunConfig> expanded;
    for (const auto& run : runs)
      for (const auto& value : axis_values[axis]) {
        RunConfig next = run;
        next.values[axis] = value;
        expanded.push_back(next);
      }
    runs = expanded;
  }
  std::set<std::string> ids;
  for (auto& run : runs) {
    validate_run(run, origins);
    run.run_id = run.text("encoding") + "-L" + run.text("train.seq_len") + "-s" + run.text("seed") +
                 "-" + fnv1a_hex(run.canonical_text(), 8);
    if (ids.insert(run.run_id).second) study.runs.push_back(run);  // a repeated grid value is one run
  }
  return study;
}

Study load_study(const std::string& path, const std::vector<Override>& overrides) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw UserError(path + ": study file not found or not readable");
  std::stringstream text;
  text << file.rdbuf();
  return parse_study(path, text.str(), overrides);
}

}  // namespace pebench
