// Corpora and windows: byte text (vocab 256), uint16 token files (nanoGPT train.bin
// layout) and the embedded default. Training draws random windows from the train split
// with a seeded generator; evaluation reads only the held-out split.
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "harness/tasks.h"

namespace pebench {

struct Corpus {
  std::vector<uint16_t> train;
  std::vector<uint16_t> heldout;
  int64_t vocab_size = 256;
  std::string description;  // what was read, for logs and the store
  // What was read, as "bytes=N fnv1a=HEX" (the file's bytes, or the embedded text's); a
  // resume whose corpus no longer matches the store's runs is refused. "" for tasks.
  std::string identity;
  // synthetic:NAME: training generates task sequences; `heldout` holds test sequences of
  // the longest eval length back to back, for the analyses; `train` is empty.
  std::optional<TaskSpec> task;
};

// The embedded default: every file of /usr/share/common-licenses (real English text
// that every Debian machine carries), symlinks read once, in name order.
std::string embedded_corpus_text();

// source: text:embedded | text:PATH | tokens:PATH. `origin` names the study file in
// errors. Throws UserError for a missing, empty or malformed corpus.
Corpus load_corpus(const std::string& source, double holdout, int64_t vocab_size,
                   const std::string& origin);

// A synthetic task as a corpus: `tokens` held-out tokens made of test sequences of `longest`.
Corpus task_corpus(const TaskSpec& task, int64_t longest, int64_t tokens);

// Random windows of length+1 tokens from `tokens`, or a task's train sequences,
// reproducible from the seed.
class BatchSampler {
 public:
  BatchSampler(const std::vector<uint16_t>& tokens, int64_t batch, int64_t length, uint64_t seed);
  BatchSampler(const TaskSpec& task, int64_t batch, int64_t length, uint64_t seed);
  torch::Tensor next();  // [batch, length + 1] int64 on CPU
  // The scored targets of the last batch, [batch, length] bool; undefined for corpora
  // (every position counts).
  const torch::Tensor& scored() const { return scored_; }
  // The generator's exact state as text, for checkpoints.
  std::string state() const;
  void restore(const std::string& state);

 private:
  const std::vector<uint16_t>* tokens_ = nullptr;
  std::optional<TaskSpec> task_;
  int64_t batch_, length_;
  std::mt19937_64 generator_;
  torch::Tensor scored_;
};

// Windows of length+1 tokens starting at `starts` → [starts.size(), length + 1] int64.
torch::Tensor gather_windows(const std::vector<uint16_t>& tokens, const std::vector<int64_t>& starts,
                             int64_t length);

}  // namespace pebench
