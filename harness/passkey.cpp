#include "harness/passkey.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace pebench {

namespace {

std::vector<uint16_t> concat(std::vector<uint16_t> a, const std::vector<uint16_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// The needle and question, encoded piecewise: the digits are encoded on their own, so
// they are the same tokens in the needle and the answer.
struct PromptParts {
  std::vector<uint16_t> needle_head, needle_tail, question;
};

PromptParts prompt_parts(const Tokenizer& tokenizer) {
  return {tokenizer.encode(" the pass key is "), tokenizer.encode(". "), tokenizer.encode(" what is the pass key? ")};
}

constexpr int kDigits = 5;

}  // namespace

int64_t passkey_overhead(const Tokenizer& tokenizer) {
  const auto parts = prompt_parts(tokenizer);
  const auto digits = tokenizer.encode("00000");
  return static_cast<int64_t>(parts.needle_head.size() + parts.needle_tail.size() + parts.question.size() +
                              2 * digits.size());
}

PasskeyPrompt passkey_prompt(const Tokenizer& tokenizer, const std::vector<uint16_t>& filler, int64_t length,
                             double depth, std::mt19937_64& generator) {
  const auto parts = prompt_parts(tokenizer);
  std::string key(kDigits, '0');
  std::uniform_int_distribution<int> digit(0, 9);
  for (auto& c : key) c = static_cast<char>('0' + digit(generator));
  const auto digits = tokenizer.encode(key);
  const int64_t window = length + 1;
  const int64_t fixed = static_cast<int64_t>(parts.needle_head.size() + parts.needle_tail.size() +
                                             parts.question.size() + 2 * digits.size());
  const int64_t filler_length = window - fixed;
  if (filler_length < 0 || static_cast<int64_t>(filler.size()) <= filler_length)
    throw std::invalid_argument("passkey_prompt: window " + std::to_string(window) + " cannot hold the prompt");
  std::uniform_int_distribution<int64_t> start(0, static_cast<int64_t>(filler.size()) - filler_length);
  const int64_t from = filler_length > 0 ? start(generator) : 0;
  const auto at = static_cast<int64_t>(std::llround(std::clamp(depth, 0.0, 1.0) * static_cast<double>(filler_length)));
  PasskeyPrompt prompt;
  prompt.tokens.assign(filler.begin() + from, filler.begin() + from + at);
  prompt.tokens = concat(std::move(prompt.tokens), parts.needle_head);
  prompt.needle_digits = static_cast<int64_t>(prompt.tokens.size());
  prompt.tokens = concat(std::move(prompt.tokens), digits);
  prompt.tokens = concat(std::move(prompt.tokens), parts.needle_tail);
  prompt.tokens.insert(prompt.tokens.end(), filler.begin() + from + at, filler.begin() + from + filler_length);
  prompt.tokens = concat(std::move(prompt.tokens), parts.question);
  prompt.answer_start = static_cast<int64_t>(prompt.tokens.size());
  prompt.answer_length = static_cast<int64_t>(digits.size());
  prompt.tokens = concat(std::move(prompt.tokens), digits);
  return prompt;
}

std::vector<double> passkey_depths(int64_t count) {
  std::vector<double> depths;
  for (int64_t i = 0; i < count; ++i) depths.push_back(count == 1 ? 0.5 : static_cast<double>(i) / static_cast<double>(count - 1));
  return depths;
}

double passkey_max_distance(const std::vector<double>& accuracy, const std::vector<double>& distance) {
  double best = 0;
  for (size_t i = 0; i < accuracy.size() && i < distance.size(); ++i)
    if (accuracy[i] >= 0.9) best = std::max(best, distance[i]);
  return best;
}

}  // namespace pebench
