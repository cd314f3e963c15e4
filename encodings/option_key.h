// A study key: its name, default, what it may be, and how it enters a run's identity.
// The harness's key table (harness/study.cpp) holds the core keys; each encoding declares
// the encoding.* keys it reads in its own file (EncodingInfo::keys), as LAMMPS styles own
// their arguments. Torch-free, so results/ and the CLI can list keys without LibTorch.
#pragma once
#include <algorithm>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace pebench {

// How a value is parsed and checked (harness/study.cpp canonical_value).
enum class ValueKind {
  positive_int,
  non_negative_int,
  fraction,           // a real in (0, 1)
  positive_real,
  non_negative_real,
  boolean,            // true | false (1/0, yes/no accepted)
  name,               // letters, digits, '.', '_', '-'
  source,             // data.source
  eval_source,        // data.eval_source: none | text:PATH | tokens:PATH
  tokenizer,          // data.tokenizer: bytes | bpe:N | unigram:N | spm:PATH
  encoding,           // a registered encoding name
  choice,             // one of `choices`
  choice_list,        // none | a comma list of `choices`
  length_list,        // comma-separated positive integers
};

// When a key's line enters the canonical config text that the run id hashes. A key
// added after stores exist must not change their ids: give it `unless_default`.
enum class IdRule {
  always,
  never,           // how a run is carried out, not what it computes (study.name, checkpoints)
  with_analyses,   // only when analysis.run names an analysis
  with_task,       // only for synthetic:* sources
  with_documents,  // only for sources of several documents (text:embedded, a folder)
  with_passkey,    // only when eval.passkey is true
  unless_default,  // only when not at its default (train.precision = fp32 is left out)
  when,            // only when OptionKey::counted_when says so for the run's values
};

// Whether a choice_list value ("pi,ntk,yarn") names `choice`: what IdRule::when predicates ask.
inline bool lists_choice(const std::string& list, const std::string& choice) {
  for (size_t begin = 0; begin <= list.size();) {
    const size_t end = std::min(list.find(',', begin), list.size());
    if (list.compare(begin, end - begin, choice) == 0) return true;
    begin = end + 1;
  }
  return false;
}

struct OptionKey {
  std::string name;           // dotted: "train.steps"; "encoding" and "seed" are bare
  std::string default_value;  // canonical text of the default
  std::string allowed;        // what the value may be, for messages and --help
  std::string help;
  ValueKind kind = ValueKind::positive_int;
  std::vector<std::string> choices = {};  // choice, choice_list
  IdRule id_rule = IdRule::always;
  // Numeric kinds: the largest value accepted (each value of a length_list); 0 takes the
  // study's bound for the key or its kind (harness/study.cpp, kUpperBounds). Shown in
  // `allowed`, so --help and every message state the range.
  double max = 0;
  // IdRule::when: whether the key counts, given every key's value of the run. For a key
  // that a change of what a named choice computes brings in (encoding.yarn_beta_fast
  // counts only where encoding.rope_scaling lists yarn).
  std::function<bool(const std::map<std::string, std::string>&)> counted_when = nullptr;
  // What a run computed with before the key existed, for keys whose arrival changed what
  // their runs compute: a stored run that lacks the key where it would count now predates
  // it, and compare and report show this value for it instead of the default.
  std::string legacy_value = "";
};

}  // namespace pebench
