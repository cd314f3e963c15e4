// Corpora and windows: text (a file, a folder of documents, or the embedded default) read
// through a tokenizer (harness/tokenizer.h), and uint16 token files (nanoGPT train.bin
// layout). Training draws random windows from the train split with a seeded generator;
// evaluation reads only the held-out split: data.eval_source, else the last data.holdout.
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "harness/study.h"
#include "harness/tasks.h"
#include "harness/tokenizer.h"

namespace pebench {

struct Corpus {
  std::vector<uint16_t> train;
  std::vector<uint16_t> heldout;
  int64_t vocab_size = 256;
  std::string description;  // what was read, for logs and the store
  // What was read, as "bytes=N fnv1a=HEX" (the file's bytes, or the embedded text's),
  // then " eval=bytes=N fnv1a=HEX" for an eval_source and " tokenizer=SPEC model=HASH"
  // for SentencePiece; a resume whose corpus no longer matches the store's runs is
  // refused. "" for tasks.
  std::string identity;
  // Text sources, and token files given a tokenizer: what turns text into these tokens
  // (bits per byte, passkey needles). Null for tasks and bare token files.
  std::shared_ptr<const Tokenizer> tokenizer;
  // synthetic:NAME: training generates task sequences; `heldout` holds test sequences of
  // the longest eval length back to back, for the analyses; `train` is empty.
  std::optional<TaskSpec> task;
};

// The embedded default: every file of /usr/share/common-licenses (real English text
// that every Debian machine carries), symlinks read once, in name order; one document each.
std::vector<std::string> embedded_documents();
std::string embedded_corpus_text();  // the documents joined, for tests

// source: text:embedded | text:PATH (a file: one document; a folder: each regular file
// below it, in path order, a document) | tokens:PATH, through data.tokenizer. A trained
// tokenizer and the encoded tokens are cached in `cache_folder` (created when needed)
// under a hash of what made them. `origin` names the study file in errors. Throws
// UserError for a missing, empty or malformed corpus or tokenizer.
Corpus load_corpus(const DataOptions& data, const std::string& cache_folder, const std::string& origin);
// A byte-level corpus with the default document handling (tests, tools).
Corpus load_corpus(const std::string& source, double holdout, int64_t vocab_size,
                   const std::string& origin);

// The tokenizer data.tokenizer names, for `pebench tokenize`: trained on `documents`
// (bpe:N, unigram:N), or read (spm:PATH). `origin` names the key in errors.
Tokenizer make_tokenizer(const std::string& spec, const std::vector<std::string>& documents, const std::string& origin);

// A text source's documents and its identity ("bytes=N fnv1a=HEX"), for `pebench tokenize`.
std::vector<std::string> read_documents(const std::string& source, const std::string& origin, std::string* identity);

// A synthetic task as a corpus: `tokens` held-out tokens made of test sequences of `longest`.
Corpus task_corpus(const TaskSpec& task, int64_t longest, int64_t tokens);

// Random windows of length+1 tokens from `tokens`, or a task's train sequences,
// reproducible from the seed.
class BatchSampler {
 public:
  BatchSampler(const std::vector<uint16_t>& tokens, int64_t batch, int64_t length, uint64_t seed);
  BatchSampler(const TaskSpec& task, int64_t batch, int64_t length, uint64_t seed);
  // With probability `mix` a training window is a passkey prompt instead
  // (data.passkey_mix, harness/passkey.h), its filler from the same tokens.
  void mix_passkeys(const Tokenizer& tokenizer, double mix);
  // data.train_examples: draw `examples` sequences now, as next() would, and from then on
  // serve batches from them in epochs, each a fresh shuffle (Zhang et al. 2024's regime:
  // a fixed training set reused for epochs). Call after mix_passkeys.
  void fix_examples(int64_t examples);
  torch::Tensor next();  // [batch, length + 1] int64 on CPU
  // The scored targets of the last batch, [batch, length] bool; undefined for corpora
  // (every position counts).
  const torch::Tensor& scored() const { return scored_; }
  // The targets of the last batch, [batch, length] int64, for tasks; undefined for corpora
  // (the next tokens of the window).
  const torch::Tensor& targets() const { return targets_; }
  // The generator's exact state (and the examples served, with fixed examples), for checkpoints.
  std::string state() const;
  void restore(const std::string& state);

 private:
  const std::vector<uint16_t>* tokens_ = nullptr;
  std::optional<TaskSpec> task_;
  const Tokenizer* passkey_tokenizer_ = nullptr;
  double passkey_mix_ = 0;
  int64_t batch_, length_;
  std::mt19937_64 generator_;
  torch::Tensor scored_, targets_;
  // Fixed examples: [N, length + 1] and [N, length]; served_ counts examples handed out.
  torch::Tensor examples_, examples_scored_, examples_targets_;
  int64_t served_ = 0;
  uint64_t shuffle_seed_ = 0;
  std::vector<int64_t> order_;  // the shuffle of epoch order_epoch_, derived from served_
  int64_t order_epoch_ = -1;
  torch::Tensor draw(int64_t count);  // `count` fresh sequences; sets scored_ for tasks
};

// Windows of length+1 tokens starting at `starts` → [starts.size(), length + 1] int64.
torch::Tensor gather_windows(const std::vector<uint16_t>& tokens, const std::vector<int64_t>& starts,
                             int64_t length);

}  // namespace pebench
