// Tokenizers for text corpora (data.tokenizer): bytes (vocab 256), or a SentencePiece
// model, trained here on the train split (bpe:N, unigram:N, Kudo & Richardson 2018) or
// read from a file (spm:PATH). No LibTorch: tokens are uint16 (nanoGPT's .bin layout).
//
// Conventions (each changes numbers):
// - Trained models round-trip exactly: identity normalization, no dummy prefix, spaces
//   kept as they are, byte fallback for characters outside the vocabulary (so "\n", rare
//   Unicode and control bytes are byte pieces <0xNN>), and digits split one per piece, so
//   a passkey's digits are one token each, as in byte-level runs.
// - SentencePiece runs in its own module, libpebench_spm.so (harness/spm_module.cpp says why).
// - Text is encoded a line at a time (SentencePiece pieces never cross a newline; each
//   "\n" is its byte piece): encoding cost stays linear in the corpus.
// - End of document: SentencePiece's </s> (eos); for bytes, byte 0 (NUL), which text
//   files do not hold. It counts as one byte in bits per byte, as a newline would.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace pebench {

class Tokenizer {
 public:
  // The byte tokenizer: token = byte.
  Tokenizer();
  // A SentencePiece model from its serialized proto. Throws UserError naming `origin`.
  Tokenizer(const std::string& serialized_model, const std::string& origin);
  ~Tokenizer();
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;

  bool is_bytes() const { return processor_ == nullptr; }
  int64_t vocab_size() const;
  // One document's text, without an end-of-document token.
  std::vector<uint16_t> encode(const std::string& text) const;
  std::string decode(const std::vector<uint16_t>& tokens) const;
  uint16_t end_of_document() const;
  // UTF-8 bytes of text each token stands for (end of document: 1; other controls: 0).
  const std::vector<double>& token_bytes() const { return token_bytes_; }
  // The serialized model ("" for bytes) and a content hash of it ("bytes" for bytes).
  const std::string& model() const { return model_; }
  std::string hash() const;

 private:
  struct Processor;  // the loaded SentencePiece model (harness/spm_module.cpp)
  std::unique_ptr<Processor> processor_;
  std::string model_;
  std::vector<double> token_bytes_;
  int newline_ = -1;  // the "\n" byte piece
  int eos_ = -1;
};

// Trains a SentencePiece model ("bpe" or "unigram", `vocab` pieces) on `documents`
// (a NUL between documents, as harness/data.cpp streams them), one sentence per line, sampling at most 2,000,000 lines of a big corpus (seeded, so
// the same corpus and settings give the same model). Throws UserError naming
// `origin` when SentencePiece refuses, e.g. a vocabulary larger than the corpus allows.
std::string train_sentencepiece(const std::string& documents, const std::string& type, int64_t vocab,
                                const std::string& origin);

}  // namespace pebench
