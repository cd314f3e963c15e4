#include "harness/study.h"

#include <boost/program_options/options_description.hpp>
#include <boost/program_options/parsers.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include "encodings/registry.h"
#include "harness/analyses/analysis.h"
#include "results/config_text.h"
#include "results/safe_file.h"
#include "results/text_formats.h"

namespace pebench {
namespace po = boost::program_options;

namespace {

using Setter = std::function<void(RunConfig&, const std::string&)>;

std::vector<std::string> split(const std::string& text, char separator);

void from_text(const std::string& text, int64_t& out) { out = std::stoll(text); }
void from_text(const std::string& text, double& out) { out = std::stod(text); }
void from_text(const std::string& text, bool& out) { out = text == "true"; }
void from_text(const std::string& text, std::string& out) { out = text; }
void from_text(const std::string& text, std::vector<int64_t>& out) {
  out.clear();
  for (const auto& part : split(text, ',')) out.push_back(std::stoll(part));
}
void from_text(const std::string& text, std::vector<std::string>& out) {
  out = text == "none" ? std::vector<std::string>{} : split(text, ',');
}

// The typed field a key sets: `field(&RunConfig::train, &TrainOptions::steps)`.
template <class Section, class T>
Setter field(Section RunConfig::*section, T Section::*member) {
  return [section, member](RunConfig& run, const std::string& text) { from_text(text, (run.*section).*member); };
}
template <class T>
Setter field(T RunConfig::*member) {
  return [member](RunConfig& run, const std::string& text) { from_text(text, run.*member); };
}

// One row per key: its spec (name, default, allowed, help, kind, run-id rule) and the
// field it sets. The only place a core key is named; encoding.* keys come from encodings/.
struct KeyEntry {
  OptionKey key;
  Setter set;
};

std::string joined(const std::vector<std::string>& names, const std::string& separator) {
  std::string out;
  for (const auto& name : names) out += (out.empty() ? "" : separator) + name;
  return out;
}

// Every numeric key has an upper bound, so that an absurd value (model.layers = 10^8,
// train.steps = 2^63 - 1) is refused with its range before anything is allocated: a
// study with model.layers = 10^8 once took all 24 GB of a test machine into swap.
// Bounds sit far above any model this harness trains on one node, and below where sizes
// overflow or allocations fail: widths and counts to 2^16, lengths to 2^24 (the store's
// readers refuse longer eval lengths), token budgets to 2^40; anything else to 10^9.
const std::map<std::string, double>& upper_bounds() {
  static const std::map<std::string, double> bounds = {
      {"data.vocab_size", 65536}, {"data.symbols", 65536}, {"data.lags", 1 << 24},
      {"model.d_model", 65536}, {"model.layers", 1024}, {"model.heads", 4096},
      {"model.attention_window", 1 << 24}, {"model.init_gamma", 100}, {"model.pe_init_std", 1e6},
      {"seed", 4.5e15},  // 2^52: seeds stay exact as doubles
      {"train.seq_len", 1 << 20}, {"train.batch", 1 << 20}, {"train.lr", 1e3}, {"train.min_lr", 1e3},
      {"train.encoding_lr_scale", 1e6}, {"train.weight_decay", 1e3}, {"train.grad_clip", 1e9},
      {"eval.lengths", 1 << 24}, {"eval.stride", 1 << 24}, {"eval.tokens", 1099511627776.0},
      {"eval.batch_tokens", 1 << 30}, {"eval.attention_block", 1 << 24},
      {"analysis.rf_length", 1 << 24}, {"analysis.windows", 1 << 24}, {"analysis.epsilon", 1e6},
      {"analysis.tokens", 1099511627776.0}, {"analysis.sequences", 1 << 20},
      {"encoding.random_max_position", 1 << 24}, {"encoding.t5_buckets", 1 << 16},
      {"encoding.t5_max_distance", 1 << 24}, {"encoding.sandwich_dim", 65536},
  };
  return bounds;
}

bool is_numeric(ValueKind kind) {
  return kind == ValueKind::positive_int || kind == ValueKind::non_negative_int || kind == ValueKind::positive_real ||
         kind == ValueKind::non_negative_real || kind == ValueKind::length_list;
}

std::string bound_text(double max) {
  std::ostringstream out;
  out.precision(15);
  out << max;
  return out.str();
}

// Gives a numeric key its upper bound (its own, the table's, else 10^9) and states it in `allowed`.
void bound(OptionKey& key) {
  if (!is_numeric(key.kind)) return;
  if (key.max <= 0) {
    auto found = upper_bounds().find(key.name);
    key.max = found != upper_bounds().end() ? found->second : 1e9;
  }
  key.allowed += (key.kind == ValueKind::length_list ? ", each at most " : ", at most ") + bound_text(key.max);
}

// Counted only for runs that probe: the k-fold probe replaced the split into halves
// (issue 17), which changed what those runs compute.
OptionKey probe_folds_key() {
  OptionKey key{"analysis.probe_folds", "5", "an integer >= 3", "probe: k of its interleaved k-fold split over windows",
                ValueKind::positive_int, {}, IdRule::when, 64};
  key.counted_when = [](const std::map<std::string, std::string>& values) {
    auto found = values.find("analysis.run");
    return found != values.end() && lists_choice(found->second, "probe");
  };
  key.legacy_value = "halves (before issue 17)";
  return key;
}

const std::vector<KeyEntry>& key_table() {
  using K = ValueKind;
  static const std::vector<KeyEntry> table = [] {
    std::vector<std::string> sources = {"text:embedded", "text:PATH", "tokens:PATH.bin"};
    for (const auto& name : task_names()) sources.push_back("synthetic:" + name);
    const auto analyses = analysis_names();
    std::vector<KeyEntry> t = {
        {{"study.name", "", "letters, digits, '.', '_', '-'", "study name (default: file name)", K::name, {}, IdRule::never}, nullptr},
        {{"data.source", "text:embedded", joined(sources, " | "), "training corpus or synthetic task (harness/tasks/)", K::source}, field(&RunConfig::data, &DataOptions::source)},
        // Keys added after stores existed are left out of the id at their defaults
        // (unless_default), so those stores keep their ids.
        {{"data.eval_source", "none", "none | text:PATH (a file or a folder) | tokens:PATH.bin, the kind of data.source", "held-out split read from its own file (an official test split) instead of the last data.holdout", K::eval_source, {}, IdRule::unless_default}, field(&RunConfig::data, &DataOptions::eval_source)},
        {{"data.holdout", "0.1", "a fraction in (0, 1)", "last fraction of the corpus held out for eval (without data.eval_source)", K::fraction}, field(&RunConfig::data, &DataOptions::holdout)},
        {{"data.tokenizer", "bytes", "bytes | bpe:N | unigram:N (N in 260..65536) | spm:PATH", "text to tokens: bytes, or SentencePiece trained on the train split (cached beside the store), or a SentencePiece model file", K::tokenizer, {}, IdRule::unless_default}, field(&RunConfig::data, &DataOptions::tokenizer)},
        {{"data.documents", "eod", "eod | joined", "text:embedded and folders: an end-of-document token between documents (eod), or the files concatenated (joined, pebench 0.1)", K::choice, {"eod", "joined"}, IdRule::with_documents}, field(&RunConfig::data, &DataOptions::documents)},
        {{"data.passkey_mix", "0", "a non-negative number", "fraction of training windows that are passkey prompts (needle and question, harness/passkey.h)", K::non_negative_real, {}, IdRule::unless_default, 1}, field(&RunConfig::data, &DataOptions::passkey_mix)},
        {{"data.train_examples", "0", "a non-negative integer (0 = fresh sequences every step)", "a fixed training set of N sequences drawn once and served in shuffled epochs (Zhang et al. 2024)", K::non_negative_int, {}, IdRule::unless_default, 1 << 24}, field(&RunConfig::data, &DataOptions::train_examples)},
        {{"data.vocab_size", "256", "a positive integer (256 for bytes; N for bpe:N, unigram:N; the model's size for spm:PATH)", "vocabulary size", K::positive_int}, field(&RunConfig::data, &DataOptions::vocab_size)},
        {{"data.symbols", "16", "an integer >= 2", "synthetic copy, associative_recall, sparse_memory: alphabet size", K::positive_int, {}, IdRule::with_task}, field(&RunConfig::data, &DataOptions::symbols)},
        // Counted for every task: the start token changed what every task run computes
        // (issue 17), and `true, varied` gave them new ids; `false, longest` is pebench 0.1.
        {{"data.start_token", "true", "true | false", "synthetic tasks: a start token first in every sequence (Kazemnejad et al. 2023 need it for NoPE)", K::boolean, {}, IdRule::with_task, 0, nullptr, "false"}, field(&RunConfig::data, &DataOptions::start_token)},
        {{"data.copy_lengths", "varied", "varied | longest", "synthetic:copy: training copy lengths uniform in 1..n/2 (varied) or always n/2 (longest, a fixed offset)", K::choice, {"varied", "longest"}, IdRule::with_task, 0, nullptr, "longest"}, field(&RunConfig::data, &DataOptions::copy_lengths)},
        {{"data.lags", "3,17,40", "comma-separated positive integers", "synthetic:sparse_memory: target y_t = sum of the inputs x_{t-lag}", K::length_list, {}, IdRule::with_task}, field(&RunConfig::data, &DataOptions::lags)},
        {{"model.d_model", "128", "a positive integer", "model width", K::positive_int}, field(&RunConfig::model, &ModelOptions::d_model)},
        {{"model.layers", "2", "a positive integer", "transformer blocks", K::positive_int}, field(&RunConfig::model, &ModelOptions::layers)},
        {{"model.heads", "4", "a positive integer dividing model.d_model", "attention heads", K::positive_int}, field(&RunConfig::model, &ModelOptions::heads)},
        {{"model.init_gamma", "0.5", "a positive number", "init rate: weights ~ N(0, fan_in^(-2 gamma))", K::positive_real}, field(&RunConfig::model, &ModelOptions::init_gamma)},
        {{"model.init_scope", "weights", "weights | all", "what model.init_gamma initialises: the token embedding, output and block weights (weights), or also the learned PE table (all, as Zhang et al. 2024; model.pe_init_std is then unused)", K::choice, {"weights", "all"}, IdRule::unless_default}, field(&RunConfig::model, &ModelOptions::init_scope)},
        {{"model.tie_embeddings", "true", "true | false", "the output projection is the token embedding (true) or its own matrix, initialised by model.init_gamma with fan-in d_model (false)", K::boolean, {}, IdRule::unless_default}, field(&RunConfig::model, &ModelOptions::tie_embeddings)},
        // 1.0: the scale of the sqrt(d)-scaled token embeddings (nn.Embedding's N(0,1)); small
        // values make unreached rows near-zero (Ito et al. 2024): a study axis, not the default.
        {{"model.pe_init_std", "1.0", "a positive number", "std of the learned PE table at init", K::positive_real}, field(&RunConfig::model, &ModelOptions::pe_init_std)},
        {{"model.scale_embeddings", "true", "true | false", "scale token embeddings by sqrt(d_model) for additive PEs", K::boolean}, field(&RunConfig::model, &ModelOptions::scale_embeddings)},
        {{"model.attention_window", "0", "a non-negative integer (0 = unlimited)", "band mask width", K::non_negative_int}, field(&RunConfig::model, &ModelOptions::attention_window)},
        {{"encoding", "none", encoding_names_joined(" | "), "positional encoding", K::encoding}, field(&RunConfig::encoding)},
        {{"seed", "0", "a non-negative integer", "seed of init and data order", K::non_negative_int}, field(&RunConfig::seed)},
        {{"train.seq_len", "64", "a positive integer", "training sequence length", K::positive_int}, field(&RunConfig::train, &TrainOptions::seq_len)},
        {{"train.steps", "600", "a positive integer", "optimizer steps", K::positive_int}, field(&RunConfig::train, &TrainOptions::steps)},
        {{"train.batch", "32", "a positive integer", "sequences per step", K::positive_int}, field(&RunConfig::train, &TrainOptions::batch)},
        {{"train.lr", "0.001", "a positive number", "peak learning rate", K::positive_real}, field(&RunConfig::train, &TrainOptions::lr)},
        {{"train.min_lr", "0.0001", "a non-negative number", "learning rate at the end of the cosine", K::non_negative_real}, field(&RunConfig::train, &TrainOptions::min_lr)},
        {{"train.encoding_lr_scale", "1", "a positive number", "learning rate of the encoding's parameters / train.lr (t5's bias is in logit units as HF T5; gpt-neox scales it by sqrt(d_head), i.e. a larger effective rate)", K::positive_real}, field(&RunConfig::train, &TrainOptions::encoding_lr_scale)},
        {{"train.warmup", "50", "a non-negative integer", "linear warmup steps", K::non_negative_int}, field(&RunConfig::train, &TrainOptions::warmup)},
        {{"train.weight_decay", "0.1", "a non-negative number", "AdamW decay on matrices", K::non_negative_real}, field(&RunConfig::train, &TrainOptions::weight_decay)},
        {{"train.beta1", "0.9", "a fraction in (0, 1)", "AdamW beta1", K::fraction}, field(&RunConfig::train, &TrainOptions::beta1)},
        {{"train.beta2", "0.95", "a fraction in (0, 1)", "AdamW beta2", K::fraction}, field(&RunConfig::train, &TrainOptions::beta2)},
        {{"train.grad_clip", "1.0", "a non-negative number (0 = off)", "gradient-norm clip", K::non_negative_real}, field(&RunConfig::train, &TrainOptions::grad_clip)},
        // Left out of the id at fp32, its default: stores made before it keep their ids.
        {{"train.precision", "fp32", "fp32 | bf16", "training matmuls: fp32, or bf16 under autocast (fp32 weights, loss and eval)", K::choice, {"fp32", "bf16"}, IdRule::unless_default}, field(&RunConfig::train, &TrainOptions::precision)},
        {{"train.log_every", "50", "a positive integer", "steps between logged losses", K::positive_int}, field(&RunConfig::train, &TrainOptions::log_every)},
        {{"train.checkpoint_every", "100", "a non-negative integer (0 = only at stop signals and the end of training)", "steps between checkpoints; not part of the run id", K::non_negative_int, {}, IdRule::never}, field(&RunConfig::train, &TrainOptions::checkpoint_every)},
        // Changes what is kept, not what is computed: not part of the run id.
        {{"train.keep_weights", "true", "true | false", "store the final weights in the run's group (float32; `pebench export`)", K::boolean, {}, IdRule::never}, field(&RunConfig::train, &TrainOptions::keep_weights)},
        // How the step is launched on CUDA, not what it computes (graphed and eager steps
        // run the same kernels): not part of the run id. Off until a GPU session has run
        // tests/gpu_session.sh's graph checks (issue 18).
        {{"train.cuda_graph", "off", "auto | off", "CUDA runs: capture the training step in a CUDA graph after 3 eager steps and replay it (auto), where the run allows (harness/cuda_graph.h)", K::choice, {"auto", "off"}, IdRule::never}, field(&RunConfig::train, &TrainOptions::cuda_graph)},
        // Adds datasets (eval_history/) and changes no other number: in the id only when on.
        {{"train.eval_every", "0", "0 (off) or a positive integer below train.steps", "steps between held-out evaluations during training (eval_history/: ppl and task metrics at every eval length, as the final eval computes them; each costs one final eval)", K::non_negative_int, {}, IdRule::unless_default}, field(&RunConfig::train, &TrainOptions::eval_every)},
        {{"eval.lengths", "64,128,256,512,1024", "comma-separated positive integers", "eval lengths", K::length_list}, field(&RunConfig::eval, &EvalOptions::lengths)},
        {{"eval.protocol", "nonoverlapping", "nonoverlapping | sliding", "eval protocol", K::choice, {"nonoverlapping", "sliding"}}, field(&RunConfig::eval, &EvalOptions::protocol)},
        {{"eval.stride", "0", "a non-negative integer (sliding: 1..shortest length)", "sliding-window stride", K::non_negative_int}, field(&RunConfig::eval, &EvalOptions::stride)},
        {{"eval.tokens", "32768", "a positive integer", "held-out tokens scored at every length", K::positive_int}, field(&RunConfig::eval, &EvalOptions::tokens)},
        {{"eval.batch_tokens", "16384", "a positive integer", "tokens per eval forward", K::positive_int}, field(&RunConfig::eval, &EvalOptions::batch_tokens)},
        {{"eval.attention_block", "256", "a positive integer", "queries per attention block at eval", K::positive_int}, field(&RunConfig::eval, &EvalOptions::attention_block)},
        {{"eval.passkey", "false", "true | false", "passkey retrieval at every eval length (text runs; harness/passkey.h)", K::boolean, {}, IdRule::unless_default}, field(&RunConfig::eval, &EvalOptions::passkey)},
        {{"eval.passkey_depths", "5", "an integer >= 2", "passkey: needle depths, evenly spaced from 0 (first) to 1 (right before the question)", K::positive_int, {}, IdRule::with_passkey, 101}, field(&RunConfig::eval, &EvalOptions::passkey_depths)},
        {{"eval.passkey_trials", "8", "a positive integer", "passkey: prompts per length and depth", K::positive_int, {}, IdRule::with_passkey, 100000}, field(&RunConfig::eval, &EvalOptions::passkey_trials)},
        // analysis.* change nothing without analyses: out of the id then, so stores made
        // before analyses existed keep their ids.
        {{"analysis.run", "none", "none | a comma list of " + joined(analyses, ", "), "analyses after evaluation (harness/analyses/)", K::choice_list, analyses, IdRule::with_analyses}, field(&RunConfig::analysis, &AnalysisOptions::run)},
        {{"analysis.rf_length", "0", "0 (the longest eval length) or a length up to it", "length of the receptive-field and attention analyses", K::non_negative_int, {}, IdRule::with_analyses}, field(&RunConfig::analysis, &AnalysisOptions::rf_length)},
        {{"analysis.windows", "1,2,4,8,16,32,64,128,256,512,1024", "comma-separated positive integers", "window_ppl: key windows w (those <= rf_length)", K::length_list, {}, IdRule::with_analyses}, field(&RunConfig::analysis, &AnalysisOptions::windows)},
        {{"analysis.epsilon", "0.01", "a positive number", "effective context: smallest w with ppl(w) <= (1 + epsilon) ppl(full)", K::positive_real, {}, IdRule::with_analyses}, field(&RunConfig::analysis, &AnalysisOptions::epsilon)},
        {{"analysis.tokens", "8192", "a positive integer", "window_ppl: held-out tokens scored per window", K::positive_int, {}, IdRule::with_analyses}, field(&RunConfig::analysis, &AnalysisOptions::tokens)},
        {{"analysis.sequences", "32", "an integer >= 2", "held-out sequences for gradient, attention and probe", K::positive_int, {}, IdRule::with_analyses}, field(&RunConfig::analysis, &AnalysisOptions::sequences)},
        {probe_folds_key(), field(&RunConfig::analysis, &AnalysisOptions::probe_folds)},
    };
    for (const auto& key : encoding_keys()) {
      const std::string name = key.name;
      t.push_back({key, [name](RunConfig& run, const std::string& text) { run.encoding_keys[name] = text; }});
    }
    for (auto& entry : t) bound(entry.key);
    return t;
  }();
  return table;
}

const KeyEntry* find_entry(const std::string& name) {
  for (const auto& entry : key_table())
    if (entry.key.name == name) return &entry;
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
std::string canonical_value(const OptionKey& spec, const std::string& raw, const Origin& origin) {
  const std::string value = trim(raw);
  int64_t integer = 0;
  double real = 0;
  switch (spec.kind) {
    case ValueKind::positive_int:
      if (!parse_integer(value, integer) || integer <= 0 || integer > spec.max) fail(origin, value, "expected " + spec.allowed);
      return std::to_string(integer);
    case ValueKind::non_negative_int:
      if (!parse_integer(value, integer) || integer < 0 || integer > spec.max) fail(origin, value, "expected " + spec.allowed);
      return std::to_string(integer);
    case ValueKind::fraction:
      if (!parse_real(value, real) || real <= 0 || real >= 1) fail(origin, value, "expected " + spec.allowed);
      return format_real(real);
    case ValueKind::positive_real:
      if (!parse_real(value, real) || real <= 0 || real > spec.max) fail(origin, value, "expected " + spec.allowed);
      return format_real(real);
    case ValueKind::non_negative_real:
      if (!parse_real(value, real) || real < 0 || real > spec.max) fail(origin, value, "expected " + spec.allowed);
      return format_real(real);
    case ValueKind::boolean:
      if (value == "true" || value == "1" || value == "yes") return "true";
      if (value == "false" || value == "0" || value == "no") return "false";
      fail(origin, value, "expected true | false");
    case ValueKind::name:
      if (value.empty() || value.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != std::string::npos || value[0] == '.')
        fail(origin, value, "expected " + spec.allowed + " (no path separators)");
      return value;
    case ValueKind::source:
      if (value == "text:embedded") return value;
      if ((value.rfind("text:", 0) == 0 && value.size() > 5) || (value.rfind("tokens:", 0) == 0 && value.size() > 7))
        return value;
      if (value.rfind("synthetic:", 0) == 0) {
        const auto& names = task_names();
        if (std::find(names.begin(), names.end(), value.substr(10)) != names.end()) return value;
      }
      fail(origin, value, "expected " + spec.allowed);
    case ValueKind::eval_source:
      if (value == "none" || (value.rfind("text:", 0) == 0 && value.size() > 5 && value != "text:embedded") ||
          (value.rfind("tokens:", 0) == 0 && value.size() > 7))
        return value;
      fail(origin, value, "expected " + spec.allowed);
    case ValueKind::tokenizer: {
      if (value == "bytes" || (value.rfind("spm:", 0) == 0 && value.size() > 4)) return value;
      for (const std::string type : {"bpe:", "unigram:"})
        if (value.rfind(type, 0) == 0) {
          // 256 byte pieces, <unk>, <s>, </s> and a few merges: SentencePiece's floor with byte fallback.
          if (!parse_integer(value.substr(type.size()), integer) || integer < 260 || integer > 65536)
            fail(origin, value, "expected " + spec.allowed + " (bpe and unigram vocabularies hold the 256 byte pieces, up to uint16 token ids)");
          return type + std::to_string(integer);
        }
      fail(origin, value, "expected " + spec.allowed);
    }
    case ValueKind::encoding:
      if (!find_encoding(value)) fail(origin, value, "unknown encoding; allowed: " + spec.allowed);
      return value;
    case ValueKind::choice:
      if (std::find(spec.choices.begin(), spec.choices.end(), value) == spec.choices.end())
        fail(origin, value, "expected " + spec.allowed);
      return value;
    case ValueKind::choice_list: {
      if (value == "none") return value;
      std::vector<std::string> chosen;
      for (const auto& part : split(value, ',')) {
        if (std::find(spec.choices.begin(), spec.choices.end(), part) == spec.choices.end())
          fail(origin, value, "expected " + spec.allowed);
        if (std::find(chosen.begin(), chosen.end(), part) == chosen.end()) chosen.push_back(part);
      }
      std::string joined;
      for (const auto& part : chosen) joined += (joined.empty() ? "" : ",") + part;
      return joined;
    }
    case ValueKind::length_list: {
      std::string joined;
      for (const auto& part : split(value, ',')) {
        if (!parse_integer(part, integer) || integer <= 0 || integer > spec.max) fail(origin, value, "expected " + spec.allowed);
        joined += (joined.empty() ? "" : ",") + std::to_string(integer);
      }
      if (joined.empty()) fail(origin, value, "expected " + spec.allowed + " (at least one)");
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

const std::vector<OptionKey>& study_keys() {
  static const std::vector<OptionKey> keys = [] {
    std::vector<OptionKey> out;
    for (const auto& entry : key_table()) out.push_back(entry.key);
    return out;
  }();
  return keys;
}

const OptionKey* find_study_key(const std::string& name) {
  const KeyEntry* entry = find_entry(name);
  return entry ? &entry->key : nullptr;
}

namespace {

// Edits between a and b: insertions, deletions, substitutions and swaps of neighbours
// (the optimal string alignment distance).
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i)
    for (size_t j = 1; j <= b.size(); ++j) {
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1])});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.size()][b.size()];
}

std::string last_part(const std::string& name) {
  const auto dot = name.rfind('.');
  return dot == std::string::npos ? name : name.substr(dot + 1);
}

}  // namespace

std::string nearest_name(const std::string& name, const std::vector<std::string>& names) {
  const size_t most = std::min<size_t>(2, name.size() / 3);
  std::string best;
  size_t best_distance = most + 1;
  bool tie = false;
  for (const auto& candidate : names) {
    if (candidate == name) continue;
    const size_t distance = edit_distance(name, candidate);
    if (distance < best_distance) {
      best = candidate, best_distance = distance, tie = false;
    } else if (distance == best_distance && candidate != best) {
      tie = true;
    }
  }
  if (!best.empty()) return tie ? "" : best;
  std::string same_end;
  for (const auto& candidate : names)
    if (candidate != name && last_part(candidate) == last_part(name)) {
      if (!same_end.empty() && same_end != candidate) return "";
      same_end = candidate;
    }
  return same_end;
}

std::string did_you_mean_key(const std::string& name) {
  std::vector<std::string> names;
  for (const auto& key : study_keys()) names.push_back(key.name);
  const std::string nearest = nearest_name(name, names);
  return nearest.empty() ? "" : " (did you mean '" + nearest + "'?)";
}

std::string legacy_value(const std::string& key, const std::map<std::string, std::string>& config) {
  const KeyEntry* entry = find_entry(key);
  if (!entry || entry->key.legacy_value.empty() || config.count(key)) return "";
  const IdRule rule = entry->key.id_rule;
  auto source = config.find("data.source");
  const bool counts = (rule == IdRule::when && entry->key.counted_when(config)) ||
                      (rule == IdRule::with_task && source != config.end() && source->second.rfind("synthetic:", 0) == 0);
  return counts ? entry->key.legacy_value : "";
}

std::map<std::string, std::string> study_key_defaults() {
  std::map<std::string, std::string> defaults;
  for (const auto& key : study_keys()) defaults[key.name] = key.default_value;
  return defaults;
}

std::string RunConfig::canonical_text() const {
  const bool with_analyses = !analysis.run.empty();
  const bool with_task = task().has_value();
  const bool with_passkey = eval.passkey;
  // Several documents: the embedded corpus, or a folder (a path that is a folder now).
  std::error_code error;
  const bool with_documents = data.source == "text:embedded" ||
                              (data.source.rfind("text:", 0) == 0 && std::filesystem::is_directory(data.source.substr(5), error));
  std::string out;
  for (const auto& [key, value] : values) {
    const KeyEntry* entry = find_entry(key);
    const IdRule rule = entry ? entry->key.id_rule : IdRule::always;
    const bool counted = rule == IdRule::always || (rule == IdRule::with_analyses && with_analyses) ||
                         (rule == IdRule::with_task && with_task) || (rule == IdRule::with_passkey && with_passkey) ||
                         (rule == IdRule::with_documents && with_documents) ||
                         (rule == IdRule::unless_default && value != entry->key.default_value) ||
                         (rule == IdRule::when && entry->key.counted_when(values));
    if (counted) out += config_line(key, value);
  }
  return out;
}

std::string changed_fixed_key(const Study& study, const std::vector<std::string>& stored_configs) {
  if (stored_configs.empty() || study.runs.empty()) return "";
  // Each key's values over the stored runs.
  std::map<std::string, std::set<std::string>> stored;
  for (const auto& config : stored_configs)
    for (const auto& [key, value] : parse_config_text(config)) stored[key].insert(value);
  // Runs differing in these keys are different runs that compare tells apart.
  const std::set<std::string> identity = {"encoding", "train.seq_len", "seed"};
  const std::set<std::string> axes(study.grid_axes.begin(), study.grid_axes.end());
  for (const auto& [key, value] : study.runs.front().values) {
    const OptionKey* spec = find_study_key(key);
    if ((spec && spec->id_rule == IdRule::never) || identity.count(key) || axes.count(key)) continue;
    // A key missing from the stored configs had its default there (an older pebench, or
    // a key left out of the id by its rule).
    auto found = stored.find(key);
    const std::set<std::string> was = found != stored.end() ? found->second
                                      : std::set<std::string>{spec ? spec->default_value : value};
    if (was.size() != 1 || *was.begin() == value) continue;
    return key + " is " + *was.begin() + " in the store's runs but " + value +
           " in the study now: a changed fixed key changes every run id and would mix configurations";
  }
  return "";
}

std::optional<TaskSpec> RunConfig::task() const {
  if (data.source.rfind("synthetic:", 0) != 0) return std::nullopt;
  TaskSpec task;
  task.name = data.source.substr(10);
  task.symbols = data.symbols;
  task.lags = data.lags;
  task.start_token = data.start_token;
  task.copy_lengths = data.copy_lengths;
  return task;
}

EncodingOptions RunConfig::encoding_options() const {
  EncodingOptions options;
  options.d_model = model.d_model;
  options.heads = model.heads;
  options.layers = model.layers;
  options.train_length = train.seq_len;
  options.max_length = eval_lengths().back();
  options.seed = static_cast<uint64_t>(seed);
  options.pe_init_std = model.pe_init_std;
  options.keys = encoding_keys;
  return options;
}

int64_t RunConfig::vocab_size() const {
  if (const auto spec = task()) return spec->vocab_size();
  for (const std::string type : {"bpe:", "unigram:"})
    if (data.tokenizer.rfind(type, 0) == 0) return std::stoll(data.tokenizer.substr(type.size()));
  return data.vocab_size;
}

bool RunConfig::has_tokenizer() const {
  return data.source.rfind("text:", 0) == 0 || (data.source.rfind("tokens:", 0) == 0 && data.tokenizer != "bytes");
}

bool RunConfig::analyses_include(const std::string& name) const {
  return std::find(analysis.run.begin(), analysis.run.end(), name) != analysis.run.end();
}

int64_t RunConfig::rf_length() const { return analysis.rf_length > 0 ? analysis.rf_length : eval_lengths().back(); }

std::vector<int64_t> RunConfig::analysis_windows() const {
  std::vector<int64_t> windows;
  for (int64_t w : analysis.windows)
    if (w <= rf_length()) windows.push_back(w);
  std::sort(windows.begin(), windows.end());
  windows.erase(std::unique(windows.begin(), windows.end()), windows.end());
  return windows;
}

std::vector<int64_t> RunConfig::eval_lengths() const {
  auto lengths = eval.lengths;
  lengths.push_back(train.seq_len);
  std::sort(lengths.begin(), lengths.end());
  lengths.erase(std::unique(lengths.begin(), lengths.end()), lengths.end());
  return lengths;
}

namespace {

// Checks that involve several keys of one resolved run.
void validate_run(const RunConfig& run, const std::map<std::string, Origin>& origins) {
  auto reject = [&](const std::string& key, const std::string& why) {
    auto found = origins.find(key);
    fail(found != origins.end() ? found->second : Origin{"defaults", key, true}, run.values.at(key), why);
  };
  const int64_t seq_len = run.train.seq_len;
  for (int64_t length : run.eval.lengths)
    if (length < seq_len)
      reject("eval.lengths", "eval length " + std::to_string(length) + " is shorter than train.seq_len " +
                                 std::to_string(seq_len) + "; every eval length must be >= train.seq_len");
  if (run.model.d_model % run.model.heads != 0)
    reject("model.heads", "must divide model.d_model = " + std::to_string(run.model.d_model));
  const std::string requirement = find_encoding(run.encoding)->check(run.encoding_options());
  if (!requirement.empty()) reject("encoding", requirement);
  const bool text_source = run.data.source.rfind("text:", 0) == 0;
  const bool token_source = run.data.source.rfind("tokens:", 0) == 0;
  const std::string& tokenizer = run.data.tokenizer;
  const bool trained_tokenizer = tokenizer.rfind("bpe:", 0) == 0 || tokenizer.rfind("unigram:", 0) == 0;
  if (text_source && tokenizer == "bytes" && run.data.vocab_size != 256)
    reject("data.vocab_size", "text read as bytes has 256 tokens: expected 256 (or set data.tokenizer)");
  if (text_source && trained_tokenizer && run.data.vocab_size != 256 && run.data.vocab_size != run.vocab_size())
    reject("data.vocab_size", tokenizer + " sets the vocabulary: leave data.vocab_size out or set " + std::to_string(run.vocab_size()));
  if (token_source && trained_tokenizer)
    reject("data.tokenizer", "a tokens: source is tokenized already: expected bytes (no tokenizer) or spm:PATH of the model that made it");
  if (!text_source && !token_source && tokenizer != "bytes")
    reject("data.tokenizer", "a synthetic task has its own symbols: expected bytes");
  if (run.data.eval_source != "none") {
    const bool same_kind = (text_source && run.data.eval_source.rfind("text:", 0) == 0) ||
                           (token_source && run.data.eval_source.rfind("tokens:", 0) == 0);
    if (!same_kind)
      reject("data.eval_source", "must be the kind of data.source (text:PATH for text, tokens:PATH for tokens; none for tasks)");
  }
  const bool has_tokenizer = run.has_tokenizer();
  if (run.eval.passkey && !has_tokenizer)
    reject("eval.passkey", text_source || token_source ? "needs the tokenizer that made the tokens: set data.tokenizer = spm:PATH"
                                                       : "is a test on text: expected false for synthetic tasks");
  if (run.data.passkey_mix > 0 && !has_tokenizer)
    reject("data.passkey_mix", text_source || token_source ? "needs the tokenizer that made the tokens: set data.tokenizer = spm:PATH"
                                                           : "is for text runs: expected 0 for synthetic tasks");
  if (run.eval.passkey && run.eval.passkey_depths < 2) reject("eval.passkey_depths", "expected an integer >= 2");
  if (const auto task = run.task()) {
    if (run.data.vocab_size != 256)
      reject("data.vocab_size", "a synthetic task sets its own vocabulary (" + std::to_string(task->vocab_size()) +
                                    "): leave it at 256");
    if (task->symbols < 2) reject("data.symbols", "expected an integer >= 2");
    const auto [key, why] = task->info().check(*task, seq_len);
    if (!key.empty()) reject(key, why);
    if (seq_len < task->shortest_length())
      reject("train.seq_len", "synthetic:" + task->name + " needs sequences of at least " +
                                  std::to_string(task->shortest_length()) + " tokens");
  }
  if (run.data.vocab_size > 65536) reject("data.vocab_size", "token files are uint16: expected at most 65536");
  const auto lengths = run.eval_lengths();
  if (run.eval.tokens < lengths.back())
    reject("eval.tokens", "must be at least the longest eval length " + std::to_string(lengths.back()));
  if (run.analysis.rf_length > lengths.back())
    reject("analysis.rf_length", "must be 0 or at most the longest eval length " + std::to_string(lengths.back()));
  if (run.analysis.sequences < 2)
    reject("analysis.sequences", "expected an integer >= 2");
  if (run.analysis.probe_folds < 3)
    reject("analysis.probe_folds", "expected an integer >= 3 (each fold is scored by a probe fit on the others, its ridge chosen on two or more of them)");
  if (run.train.eval_every >= run.train.steps)
    reject("train.eval_every", "must be 0 (off) or below train.steps = " + std::to_string(run.train.steps) +
                                   " (the final evaluation is the history's last point)");
  if (run.eval.protocol == "sliding" && (run.eval.stride < 1 || run.eval.stride > lengths.front()))
    reject("eval.stride", "the sliding protocol needs 1 <= eval.stride <= the shortest eval length " +
                              std::to_string(lengths.front()));
}

}  // namespace

Study parse_study(const std::string& path, const std::string& file_text,
                  const std::vector<Override>& overrides) {
  po::options_description nothing;
  po::parsed_options parsed(&nothing);
  try {
    // A UTF-8 byte-order mark (editors on Windows write one) is no part of the first key.
    const bool bom = file_text.rfind("\xEF\xBB\xBF", 0) == 0;
    std::istringstream stream(strip_comments(bom ? file_text.substr(3) : file_text));
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
      const OptionKey* spec = find_study_key(key);
      if (!spec || key.rfind("study.", 0) == 0)
        fail(origin, raw, "unknown grid axis '" + key + "'" + did_you_mean_key(key) + "; a grid axis is any study key but study.*");
      if (spec->kind == ValueKind::length_list || spec->kind == ValueKind::choice_list)
        fail(origin, raw, key + " is a list and cannot be a grid axis");
      std::vector<std::string> values;
      for (const auto& part : split(raw, ',')) values.push_back(canonical_value(*spec, part, origin));
      if (std::find(axes.begin(), axes.end(), key) == axes.end()) axes.push_back(key);
      axis_values[key] = values;
      fixed.erase(key);
    } else {
      const OptionKey* spec = find_study_key(key);
      if (!spec) {
        throw UserError(origin.describe() + ": unknown key '" + key + "'" + did_you_mean_key(key) + "; sections are " +
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
    const OptionKey* spec = find_study_key(key);
    set_value(key, override_value.value, origin,
              grid || (axis && list && spec && spec->kind != ValueKind::length_list &&
                       spec->kind != ValueKind::choice_list));
  }

  Study study;
  study.path = path;
  study.file_text = file_text;
  study.grid_axes = axes;
  std::string stem = path.substr(path.find_last_of('/') + 1);
  stem = stem.substr(0, stem.rfind('.'));
  if (!fixed.count("study.name")) {
    const OptionKey* spec = find_study_key("study.name");
    fixed["study.name"] = canonical_value(*spec, stem, Origin{path, "study.name", true});
  }
  study.name = fixed["study.name"];

  RunConfig base;
  for (const auto& key : study_keys()) base.values[key.name] = key.default_value;
  for (const auto& [key, value] : fixed) base.values[key] = value;

  // The grid's size before it is built: a 13 KB study can name 10^6 runs, and each run
  // costs a store group of ~20 datasets at layout.
  constexpr double kMostRuns = 100000;
  double grid_runs = 1;
  std::string product;
  for (const auto& axis : axes) {
    grid_runs *= static_cast<double>(axis_values[axis].size());
    product += (product.empty() ? "" : " x ") + axis + " " + std::to_string(axis_values[axis].size());
  }
  if (grid_runs > kMostRuns)
    throw UserError(path + ": [grid] makes " + std::to_string(static_cast<long long>(std::min(grid_runs, 1e18))) +
                    " runs (" + product + "); at most 100000 in one study: shorten an axis or split the study");
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
    // Parsed once: every key's canonical text into its typed field.
    for (const auto& entry : key_table())
      if (entry.set) entry.set(run, run.values.at(entry.key.name));
    validate_run(run, origins);
    run.run_id = run.encoding + "-L" + std::to_string(run.train.seq_len) + "-s" + std::to_string(run.seed) +
                 "-" + fnv1a_hex(run.canonical_text(), 8);
    if (ids.insert(run.run_id).second) study.runs.push_back(run);  // a repeated grid value is one run
  }
  return study;
}

Study load_study(const std::string& path, const std::vector<Override>& overrides) {
  // A study is a few KB; 1 MiB leaves room and refuses what is not a study.
  std::string text;
  try {
    text = read_small_file(path, size_t{1} << 20);
  } catch (const FileError& error) {
    throw UserError(path + ": study file " + error.what());
  }
  return parse_study(path, text, overrides);
}

}  // namespace pebench
