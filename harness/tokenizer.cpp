#include "harness/tokenizer.h"

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "harness/user_error.h"

namespace pebench {

namespace {

// libpebench_spm.so's C interface (harness/spm_module.cpp), loaded once.
struct SpmApi {
  int (*train)(const char*, const char*, size_t, char**, size_t*, char**);
  void* (*load)(const char*, size_t, char**);
  void (*unload)(void*);
  void (*free)(void*);
  int (*piece_size)(void*);
  int (*eos_id)(void*);
  int (*piece_to_id)(void*, const char*);
  char (*piece)(void*, int, const char**);
  int (*encode)(void*, const char*, size_t, int**, size_t*);
  int (*decode)(void*, const int*, size_t, char**, size_t*);
};

const SpmApi& spm() {
  static const SpmApi api = [] {
    // Beside the executable (an installed pebench), else where this build put it.
    std::vector<std::string> candidates;
    std::error_code error;
    const auto self = std::filesystem::read_symlink("/proc/self/exe", error);
    if (!error) candidates.push_back((self.parent_path() / "libpebench_spm.so").string());
#ifdef PEBENCH_SPM_MODULE  // CMake's; a plain g++ build (the lent GPU machine's) has no module
    candidates.push_back(PEBENCH_SPM_MODULE);
#endif
    void* module = nullptr;
    std::string why;
    for (const auto& path : candidates) {
      module = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
      if (module) break;
      if (why.empty()) why = dlerror();
    }
    if (!module) throw UserError("data.tokenizer: cannot load pebench's SentencePiece module (" + why + "); rebuild pebench (jobs/build.sh)");
    auto symbol = [&](const char* name) {
      void* found = dlsym(module, name);
      if (!found) throw UserError(std::string("data.tokenizer: pebench's SentencePiece module lacks ") + name + "; rebuild pebench");
      return found;
    };
    SpmApi loaded;
    loaded.train = reinterpret_cast<decltype(loaded.train)>(symbol("pebench_spm_train"));
    loaded.load = reinterpret_cast<decltype(loaded.load)>(symbol("pebench_spm_load"));
    loaded.unload = reinterpret_cast<decltype(loaded.unload)>(symbol("pebench_spm_unload"));
    loaded.free = reinterpret_cast<decltype(loaded.free)>(symbol("pebench_spm_free"));
    loaded.piece_size = reinterpret_cast<decltype(loaded.piece_size)>(symbol("pebench_spm_piece_size"));
    loaded.eos_id = reinterpret_cast<decltype(loaded.eos_id)>(symbol("pebench_spm_eos_id"));
    loaded.piece_to_id = reinterpret_cast<decltype(loaded.piece_to_id)>(symbol("pebench_spm_piece_to_id"));
    loaded.piece = reinterpret_cast<decltype(loaded.piece)>(symbol("pebench_spm_piece"));
    loaded.encode = reinterpret_cast<decltype(loaded.encode)>(symbol("pebench_spm_encode"));
    loaded.decode = reinterpret_cast<decltype(loaded.decode)>(symbol("pebench_spm_decode"));
    return loaded;
  }();
  return api;
}

// A buffer the module allocated, freed by it.
template <class T>
struct ModuleBuffer {
  T* data = nullptr;
  ~ModuleBuffer() {
    if (data) spm().free(data);
  }
};

}  // namespace

struct Tokenizer::Processor {
  void* handle = nullptr;
  ~Processor() {
    if (handle) spm().unload(handle);
  }
};

Tokenizer::Tokenizer() : token_bytes_(256, 1.0) {}

Tokenizer::Tokenizer(const std::string& serialized_model, const std::string& origin)
    : processor_(std::make_unique<Processor>()), model_(serialized_model) {
  ModuleBuffer<char> error;
  processor_->handle = spm().load(serialized_model.data(), serialized_model.size(), &error.data);
  if (!processor_->handle) throw UserError(origin + ": not a SentencePiece model (" + std::string(error.data) + ")");
  void* handle = processor_->handle;
  const int size = spm().piece_size(handle);
  if (size > 65536)
    throw UserError(origin + ": the SentencePiece model has " + std::to_string(size) +
                    " pieces; token files are uint16: at most 65536");
  eos_ = spm().eos_id(handle);
  if (eos_ < 0)
    throw UserError(origin + ": the SentencePiece model has no </s> piece, which pebench puts between documents");
  newline_ = spm().piece_to_id(handle, "<0x0A>");
  token_bytes_.assign(static_cast<size_t>(size), 0.0);
  static const std::string space = "\xE2\x96\x81";  // U+2581, SentencePiece's space
  for (int id = 0; id < size; ++id) {
    const char* text = nullptr;
    const char kind = spm().piece(handle, id, &text);
    if (id == newline_ && kind != 'b') newline_ = -1;
    if (kind == 'b') {
      token_bytes_[id] = 1;
    } else if (kind == 'c' || kind == 'u') {
      token_bytes_[id] = id == eos_ ? 1 : 0;
    } else {
      const std::string piece(text);
      double bytes = static_cast<double>(piece.size());
      for (size_t at = piece.find(space); at != std::string::npos; at = piece.find(space, at + 3)) bytes -= 2;
      token_bytes_[id] = bytes;
    }
  }
}

Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;

int64_t Tokenizer::vocab_size() const { return static_cast<int64_t>(token_bytes_.size()); }

uint16_t Tokenizer::end_of_document() const { return is_bytes() ? 0 : static_cast<uint16_t>(eos_); }

std::string Tokenizer::hash() const { return is_bytes() ? "bytes" : fnv1a_hex(model_, 16); }

std::vector<uint16_t> Tokenizer::encode(const std::string& text) const {
  if (is_bytes())
    return std::vector<uint16_t>(reinterpret_cast<const unsigned char*>(text.data()),
                                 reinterpret_cast<const unsigned char*>(text.data()) + text.size());
  std::vector<uint16_t> tokens;
  tokens.reserve(text.size() / 3);
  auto encode_piece = [&](const char* data, size_t length) {
    ModuleBuffer<int> ids;
    size_t count = 0;
    if (spm().encode(processor_->handle, data, length, &ids.data, &count) != 0)
      throw std::runtime_error("SentencePiece could not encode a line");
    tokens.insert(tokens.end(), ids.data, ids.data + count);
  };
  size_t offset = 0;
  while (offset <= text.size()) {
    size_t end = text.find('\n', offset);
    const bool last = end == std::string::npos;
    if (last) end = text.size();
    if (end > offset) encode_piece(text.data() + offset, end - offset);
    if (last) break;
    if (newline_ >= 0) tokens.push_back(static_cast<uint16_t>(newline_));
    else encode_piece("\n", 1);
    offset = end + 1;
  }
  return tokens;
}

std::string Tokenizer::decode(const std::vector<uint16_t>& tokens) const {
  if (is_bytes()) return std::string(tokens.begin(), tokens.end());
  // Line by line, as encoded: SentencePiece's decoder would drop a line's leading space.
  std::string text;
  std::vector<int> line;
  auto flush = [&] {
    ModuleBuffer<char> out;
    size_t length = 0;
    if (spm().decode(processor_->handle, line.data(), line.size(), &out.data, &length) != 0)
      throw std::runtime_error("SentencePiece could not decode a line");
    text.append(out.data, length);
    line.clear();
  };
  for (uint16_t token : tokens) {
    if (token == newline_) {
      flush();
      text += '\n';
    } else {
      line.push_back(token);
    }
  }
  flush();
  return text;
}

std::string train_sentencepiece(const std::string& documents, const std::string& type, int64_t vocab,
                                const std::string& origin) {
  const std::string options = std::string() +
      "model_type=" + type + "\nvocab_size=" + std::to_string(vocab) +
      "\nnormalization_rule_name=identity\nadd_dummy_prefix=false\nremove_extra_whitespaces=false"
      "\nsplit_digits=true\nbyte_fallback=true"
      // Rare characters go to byte pieces: a vocabulary of a few hundred still holds a
      // corpus with a thousand distinct code points (WikiText-2).
      "\ncharacter_coverage=0.9995"
      "\ninput_sentence_size=2000000\nshuffle_input_sentence=true\nmax_sentence_length=16384"
      // One thread: unigram's EM sums in thread order, and a model must not depend on
      // the node that trained it (its hash is in the run's data identity).
      "\nnum_threads=1"
      "\nminloglevel=2\npad_id=-1";
  ModuleBuffer<char> model, error;
  size_t length = 0;
  if (spm().train(options.c_str(), documents.data(), documents.size(), &model.data, &length, &error.data) != 0)
    throw UserError(origin + " = \"" + type + ":" + std::to_string(vocab) + "\": SentencePiece cannot train it: " +
                    std::string(error.data));
  return std::string(model.data, length);
}

}  // namespace pebench
