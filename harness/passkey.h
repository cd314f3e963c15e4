// Passkey retrieval (eval.passkey; Mohtashami & Jaggi 2023, "Landmark Attention", and
// LongLoRA's test): a needle "the pass key is NNNNN." sits at depth d of a context of
// filler text, and the window ends with "what is the pass key? NNNNN". Under teacher
// forcing the score is the fraction of the answer's tokens the model predicts exactly.
// Differences from the references: the filler is held-out corpus text, not the
// repeated "The grass is green..." lines (a small model trained on text does not see
// such lines); the window is exactly the eval length; depth 0 puts the needle first,
// depth 1 right before the question.
#pragma once
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "harness/tokenizer.h"

namespace pebench {

struct PasskeyPrompt {
  std::vector<uint16_t> tokens;  // length + 1 tokens: inputs are [0, length), targets [1, length]
  int64_t needle_digits = 0;     // index of the needle's first digit token
  int64_t answer_start = 0;      // index of the answer's first token; the answer ends the window
  int64_t answer_length = 0;
  // Tokens from the needle's first digit to the answer's first: how far back the model must look.
  int64_t distance() const { return answer_start - needle_digits; }
};

// The shortest window that holds a needle and a question (no filler) for `tokenizer`.
int64_t passkey_overhead(const Tokenizer& tokenizer);

// A prompt of `length` + 1 tokens: filler from `filler` at a random start, the needle at
// `depth` (0..1) of the filler, digits drawn from `generator`. Requires length + 1 >=
// passkey_overhead and filler longer than the window.
PasskeyPrompt passkey_prompt(const Tokenizer& tokenizer, const std::vector<uint16_t>& filler, int64_t length,
                             double depth, std::mt19937_64& generator);

// eval.passkey_depths evenly spaced depths in [0, 1].
std::vector<double> passkey_depths(int64_t count);

// The largest distance among cells retrieved with accuracy >= 0.9, or 0 when none is.
double passkey_max_distance(const std::vector<double>& accuracy, const std::vector<double>& distance);

}  // namespace pebench
