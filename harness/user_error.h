// Bad input from the user: printed as one line (control bytes in a value shown as \xNN),
// exit code 2, nothing written. Torch-free, for the parts of the harness that need no LibTorch.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>

#include "results/text_formats.h"

namespace pebench {

struct UserError : std::runtime_error {
  explicit UserError(const std::string& message) : std::runtime_error(one_line(message)) {}
};

// FNV-1a 64 of `text` as the first `digits` hex digits: run ids (8), corpus and
// tokenizer identities (16). Not cryptographic: it names content, it does not guard it.
inline std::string fnv1a_hex(const std::string& text, int digits) {
  uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  static const char* const hex = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, hash >>= 4) out[static_cast<size_t>(i)] = hex[hash & 15];
  return out.substr(0, static_cast<size_t>(digits));
}

}  // namespace pebench
