// SentencePiece behind a C interface, built as its own module (libpebench_spm.so) and
// loaded by harness/tokenizer.cpp with dlopen(RTLD_LOCAL | RTLD_DEEPBIND). Why: Debian's
// libsentencepiece.so exports the protobuf-lite it bundles (1,602 protobuf symbols), and
// LibTorch loads libprotobuf.so.32; linked into one program the two copies interpose and
// pebench segfaulted at start-up, inside protobuf's static initialisers. Loaded deep-bound
// and local, SentencePiece resolves protobuf to its own copy and nothing else sees it.
//
// Only in that module (CMake defines PEBENCH_SPM_MODULE_BUILD for it): a build that
// compiles every harness/ file into one program (../shared/gpu/device_build.sh) gets an
// empty object here, and SentencePiece tokenizers then say the module is missing.
#ifdef PEBENCH_SPM_MODULE_BUILD
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

char* copy_out(const std::string& text, size_t* length) {
  char* out = static_cast<char*>(std::malloc(text.size() + 1));
  std::memcpy(out, text.data(), text.size());
  out[text.size()] = '\0';
  if (length) *length = text.size();
  return out;
}

// Non-empty lines of `text`, documents cut at NUL.
class LineIterator : public sentencepiece::SentenceIterator {
 public:
  LineIterator(const char* text, size_t length) : text_(text, length) { advance(); }
  bool done() const override { return done_; }
  void Next() override { advance(); }
  const std::string& value() const override { return line_; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  void advance() {
    while (offset_ < text_.size()) {
      size_t end = text_.find_first_of(std::string_view("\n\0", 2), offset_);
      if (end == std::string_view::npos) end = text_.size();
      line_.assign(text_.substr(offset_, end - offset_));
      offset_ = end + 1;
      if (!line_.empty()) return;
    }
    done_ = true;
  }
  std::string_view text_;
  size_t offset_ = 0;
  bool done_ = false;
  std::string line_;
};

}  // namespace

extern "C" {

// Trains a model on `text` (lines; NUL between documents). 0 and *model on success, else
// 1 and *error. Free both with pebench_spm_free.
int pebench_spm_train(const char* options, const char* text, size_t text_length, char** model, size_t* model_length,
                      char** error) {
  std::unordered_map<std::string, std::string> kwargs;
  for (const char* line = options; *line;) {
    const char* end = std::strchr(line, '\n');
    const std::string entry = end ? std::string(line, end) : std::string(line);
    const auto equals = entry.find('=');
    if (equals != std::string::npos) kwargs[entry.substr(0, equals)] = entry.substr(equals + 1);
    if (!end) break;
    line = end + 1;
  }
  sentencepiece::SetRandomGeneratorSeed(20261130);
  LineIterator lines(text, text_length);
  std::string serialized;
  const auto status = sentencepiece::SentencePieceTrainer::Train(kwargs, &lines, &serialized);
  if (!status.ok()) {
    *error = copy_out(status.ToString(), nullptr);
    return 1;
  }
  *model = copy_out(serialized, model_length);
  return 0;
}

void* pebench_spm_load(const char* model, size_t length, char** error) {
  auto* processor = new sentencepiece::SentencePieceProcessor();
  const auto status = processor->LoadFromSerializedProto(std::string_view(model, length));
  if (!status.ok()) {
    *error = copy_out(status.ToString(), nullptr);
    delete processor;
    return nullptr;
  }
  return processor;
}

void pebench_spm_unload(void* processor) { delete static_cast<sentencepiece::SentencePieceProcessor*>(processor); }
void pebench_spm_free(void* buffer) { std::free(buffer); }

int pebench_spm_piece_size(void* p) { return static_cast<sentencepiece::SentencePieceProcessor*>(p)->GetPieceSize(); }
int pebench_spm_eos_id(void* p) { return static_cast<sentencepiece::SentencePieceProcessor*>(p)->eos_id(); }
int pebench_spm_piece_to_id(void* p, const char* piece) {
  return static_cast<sentencepiece::SentencePieceProcessor*>(p)->PieceToId(piece);
}
// 'b' byte piece, 'c' control, 'u' unknown, 'n' normal; *piece is the piece's text.
char pebench_spm_piece(void* p, int id, const char** piece) {
  auto* processor = static_cast<sentencepiece::SentencePieceProcessor*>(p);
  *piece = processor->IdToPiece(id).c_str();
  if (processor->IsByte(id)) return 'b';
  if (processor->IsControl(id)) return 'c';
  if (processor->IsUnknown(id)) return 'u';
  return 'n';
}

// Ids of `text` into *ids (free with pebench_spm_free); 0 on success.
int pebench_spm_encode(void* p, const char* text, size_t length, int** ids, size_t* count) {
  std::vector<int> out;
  const auto status = static_cast<sentencepiece::SentencePieceProcessor*>(p)->Encode(std::string_view(text, length), &out);
  if (!status.ok()) return 1;
  *ids = static_cast<int*>(std::malloc(sizeof(int) * (out.size() + 1)));
  std::memcpy(*ids, out.data(), sizeof(int) * out.size());
  *count = out.size();
  return 0;
}

int pebench_spm_decode(void* p, const int* ids, size_t count, char** text, size_t* length) {
  std::string out;
  const auto status = static_cast<sentencepiece::SentencePieceProcessor*>(p)->Decode(std::vector<int>(ids, ids + count), &out);
  if (!status.ok()) return 1;
  *text = copy_out(out, length);
  return 0;
}

}  // extern "C"

#endif  // PEBENCH_SPM_MODULE_BUILD
