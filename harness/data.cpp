#include "harness/data.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>
#include <set>
#include <sstream>

#include "harness/study.h"
#include "harness/passkey.h"
#include "results/safe_file.h"

namespace pebench {
namespace fs = std::filesystem;

namespace {

std::string read_file(const std::string& path, const std::string& origin) {
  std::error_code error;
  if (!fs::is_regular_file(path, error))
    throw UserError(origin + ": [data] source: corpus file '" + path + "' not found");
  std::ifstream file(path, std::ios::binary);
  if (!file) throw UserError(origin + ": [data] source: corpus file '" + path + "' is not readable");
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

}  // namespace

std::vector<std::string> embedded_documents() {
  const fs::path folder = "/usr/share/common-licenses";
  std::vector<fs::path> files;
  std::set<fs::path> seen;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(folder, error)) files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  std::vector<std::string> documents;
  for (const auto& file : files) {
    const fs::path target = fs::canonical(file, error);
    if (error || !fs::is_regular_file(target) || !seen.insert(target).second) continue;
    std::ifstream stream(target, std::ios::binary);
    std::stringstream content;
    content << stream.rdbuf();
    documents.push_back(content.str());
  }
  return documents;
}

std::string embedded_corpus_text() {
  std::string text;
  for (const auto& document : embedded_documents()) text += document;
  return text;
}

namespace {

// Bumped when a trained tokenizer's settings (harness/tokenizer.cpp) change, so that
// cached models made with the old settings are not reused.
constexpr const char* kTokenizerTraining = "spm-1";
// Between documents in a text stream: the byte tokenizer's end-of-document token, and
// where a SentencePiece stream is cut into documents (text files hold no NUL).
constexpr char kDocumentBreak = '\0';

std::string text_identity(const std::string& text) {
  return "bytes=" + std::to_string(text.size()) + " fnv1a=" + fnv1a_hex(text, 16);
}

// The documents of a text source as one stream: joined with kDocumentBreak ("eod"), or
// concatenated ("joined", pebench 0.1's embedded corpus).
std::string document_stream(const std::vector<std::string>& documents, const std::string& mode) {
  std::string stream;
  for (size_t i = 0; i < documents.size(); ++i) {
    if (i > 0 && mode == "eod") stream += kDocumentBreak;
    stream += documents[i];
  }
  return stream;
}

std::vector<std::string> stream_documents(const std::string& stream) {
  std::vector<std::string> documents;
  size_t from = 0;
  for (size_t at = stream.find(kDocumentBreak); at != std::string::npos; at = stream.find(kDocumentBreak, from)) {
    documents.push_back(stream.substr(from, at - from));
    from = at + 1;
  }
  documents.push_back(stream.substr(from));
  return documents;
}

std::vector<uint16_t> encode_stream(const Tokenizer& tokenizer, const std::string& stream) {
  if (tokenizer.is_bytes()) return tokenizer.encode(stream);  // NUL is the end-of-document token
  std::vector<uint16_t> tokens;
  bool first = true;
  for (const auto& document : stream_documents(stream)) {
    if (!first) tokens.push_back(tokenizer.end_of_document());
    first = false;
    const auto encoded = tokenizer.encode(document);
    tokens.insert(tokens.end(), encoded.begin(), encoded.end());
  }
  return tokens;
}

std::vector<uint16_t> read_token_file(const std::string& source, const std::string& key, const std::string& origin,
                                      std::string* identity) {
  const std::string path = source.substr(7);
  const std::string bytes = read_file(path, origin);
  if (bytes.size() % 2 != 0)
    throw UserError(origin + ": [data] " + key + " = \"" + source + "\": token file has an odd byte count " +
                    std::to_string(bytes.size()) + "; expected uint16 tokens");
  std::vector<uint16_t> tokens(bytes.size() / 2);
  std::copy(bytes.data(), bytes.data() + bytes.size(), reinterpret_cast<char*>(tokens.data()));
  *identity = text_identity(bytes);
  return tokens;
}

// A cached file's bytes, or "" when absent or unreadable (then it is made again). A cache
// folder of "" caches nothing.
std::string read_cache(const fs::path& path) {
  if (path.parent_path().empty()) return "";
  std::error_code error;
  if (!fs::is_regular_file(path, error)) return "";
  try {
    return read_small_file(path.string(), size_t{1} << 34);
  } catch (const std::exception&) {
    return "";
  }
}

void write_cache(const fs::path& path, const std::string& bytes, const std::string& origin) {
  if (path.parent_path().empty()) return;
  std::error_code error;
  fs::create_directories(path.parent_path(), error);
  try {
    write_file_safely(path.string(), bytes);
  } catch (const FileError& failure) {
    throw UserError(origin + ": [data] tokenizer: cannot write the tokenizer cache: " + failure.what());
  }
}

// The encoded train and held-out tokens, cached: "PEBTOK01", the train count (uint64),
// then the train and held-out tokens (uint16).
constexpr char kTokenMagic[] = "PEBTOK01";

bool read_token_cache(const std::string& bytes, int64_t vocab, std::vector<uint16_t>& train,
                      std::vector<uint16_t>& heldout) {
  if (bytes.size() < 16 || bytes.compare(0, 8, kTokenMagic) != 0 || (bytes.size() - 16) % 2 != 0) return false;
  uint64_t train_count = 0;
  std::memcpy(&train_count, bytes.data() + 8, 8);
  const uint64_t total = (bytes.size() - 16) / 2;
  if (train_count > total) return false;
  std::vector<uint16_t> tokens(total);
  std::memcpy(tokens.data(), bytes.data() + 16, total * 2);
  for (uint16_t token : tokens)
    if (token >= vocab) return false;
  train.assign(tokens.begin(), tokens.begin() + static_cast<std::ptrdiff_t>(train_count));
  heldout.assign(tokens.begin() + static_cast<std::ptrdiff_t>(train_count), tokens.end());
  return true;
}

std::string token_cache_bytes(const std::vector<uint16_t>& train, const std::vector<uint16_t>& heldout) {
  std::string bytes(kTokenMagic, 8);
  const uint64_t train_count = train.size();
  bytes.append(reinterpret_cast<const char*>(&train_count), 8);
  bytes.append(reinterpret_cast<const char*>(train.data()), train.size() * 2);
  bytes.append(reinterpret_cast<const char*>(heldout.data()), heldout.size() * 2);
  return bytes;
}

// bpe:N | unigram:N → ("bpe", N); anything else → ("", 0).
std::pair<std::string, int64_t> trained_spec(const std::string& spec) {
  for (const std::string type : {"bpe", "unigram"})
    if (spec.rfind(type + ":", 0) == 0) return {type, std::stoll(spec.substr(type.size() + 1))};
  return {"", 0};
}

}  // namespace

std::vector<std::string> read_documents(const std::string& source, const std::string& origin, std::string* identity) {
  const std::string path = source.substr(5);
  std::vector<std::string> documents;
  std::error_code error;
  if (path == "embedded") {
    documents = embedded_documents();
    if (documents.empty())
      throw UserError(origin + ": [data] source = \"text:embedded\": /usr/share/common-licenses is empty or missing");
  } else if (fs::is_directory(path, error)) {
    std::vector<fs::path> files;
    for (auto it = fs::recursive_directory_iterator(path, fs::directory_options::skip_permission_denied, error);
         !error && it != fs::recursive_directory_iterator(); it.increment(error))
      if (it->is_regular_file(error)) files.push_back(it->path());
    std::sort(files.begin(), files.end());
    if (files.empty())
      throw UserError(origin + ": [data] source = \"" + source + "\": the folder holds no files; expected text files, one document each");
    for (const auto& file : files) documents.push_back(read_file(file.string(), origin));
  } else {
    documents.push_back(read_file(path, origin));
  }
  std::string joined;
  for (const auto& document : documents) joined += document;
  if (joined.empty()) throw UserError(origin + ": [data] source = \"" + source + "\": corpus is empty");
  if (identity) *identity = text_identity(joined);
  return documents;
}

Tokenizer make_tokenizer(const std::string& spec, const std::vector<std::string>& documents, const std::string& origin) {
  if (spec == "bytes") return Tokenizer();
  if (spec.rfind("spm:", 0) == 0) {
    const std::string path = spec.substr(4);
    std::string model;
    try {
      model = read_small_file(path, size_t{1} << 30);
    } catch (const FileError& error) {
      throw UserError(origin + " = \"" + spec + "\": " + error.what());
    }
    return Tokenizer(model, origin + " = \"" + spec + "\"");
  }
  const auto [type, vocab] = trained_spec(spec);
  return Tokenizer(train_sentencepiece(document_stream(documents, "eod"), type, vocab, origin), origin + " = \"" + spec + "\"");
}

Corpus load_corpus(const DataOptions& data, const std::string& cache_folder, const std::string& origin) {
  Corpus corpus;
  const std::string& source = data.source;
  const bool has_eval_source = data.eval_source != "none";
  if (source.rfind("tokens:", 0) == 0) {
    std::vector<uint16_t> tokens = read_token_file(source, "source", origin, &corpus.identity);
    if (tokens.empty()) throw UserError(origin + ": [data] source = \"" + source + "\": corpus is empty");
    if (has_eval_source) {
      std::string eval_identity;
      corpus.heldout = read_token_file(data.eval_source, "eval_source", origin, &eval_identity);
      if (corpus.heldout.empty()) throw UserError(origin + ": [data] eval_source = \"" + data.eval_source + "\": corpus is empty");
      corpus.identity += " eval=" + eval_identity;
      corpus.train = std::move(tokens);
    } else {
      const auto heldout_size = static_cast<size_t>(static_cast<double>(tokens.size()) * data.holdout);
      corpus.train.assign(tokens.begin(), tokens.end() - static_cast<std::ptrdiff_t>(heldout_size));
      corpus.heldout.assign(tokens.end() - static_cast<std::ptrdiff_t>(heldout_size), tokens.end());
    }
    for (const auto* split : {&corpus.train, &corpus.heldout}) {
      const uint16_t largest = split->empty() ? 0 : *std::max_element(split->begin(), split->end());
      if (!split->empty() && largest >= data.vocab_size)
        throw UserError(origin + ": [data] vocab_size = \"" + std::to_string(data.vocab_size) + "\": token file '" +
                        (split == &corpus.train ? source : data.eval_source).substr(7) + "' holds id " +
                        std::to_string(largest) + "; expected ids below vocab_size");
    }
    if (data.tokenizer != "bytes") {
      auto tokenizer = std::make_shared<Tokenizer>(make_tokenizer(data.tokenizer, {}, origin + ": [data] tokenizer"));
      if (tokenizer->vocab_size() > data.vocab_size)
        throw UserError(origin + ": [data] tokenizer = \"" + data.tokenizer + "\": the model has " +
                        std::to_string(tokenizer->vocab_size()) + " pieces but data.vocab_size is " +
                        std::to_string(data.vocab_size) + "; set data.vocab_size to the model's size");
      corpus.identity += " tokenizer=" + data.tokenizer + " model=" + tokenizer->hash();
      corpus.tokenizer = std::move(tokenizer);
    }
    corpus.vocab_size = data.vocab_size;
    corpus.description = source.substr(7);
    return corpus;
  }

  // Text: documents → one stream per split → the tokenizer.
  std::string identity;
  const std::string stream = document_stream(read_documents(source, origin, &identity), data.documents);
  std::string train_text, heldout_text;
  if (has_eval_source) {
    std::string eval_identity;
    heldout_text = document_stream(read_documents(data.eval_source, origin + ": [data] eval_source", &eval_identity), data.documents);
    train_text = stream;
    identity += " eval=" + eval_identity;
  } else {
    // The last data.holdout of the stream, as bytes (for bytes: tokens, as before documents).
    const auto heldout_size = static_cast<size_t>(static_cast<double>(stream.size()) * data.holdout);
    train_text = stream.substr(0, stream.size() - heldout_size);
    heldout_text = stream.substr(stream.size() - heldout_size);
  }
  std::shared_ptr<Tokenizer> tokenizer;
  const auto [type, vocab] = trained_spec(data.tokenizer);
  const std::string key_origin = origin + ": [data] tokenizer";
  if (!type.empty()) {
    // Trained on the train split only, once per (train text, settings): cached.
    const fs::path model_path = fs::path(cache_folder) / ("tokenizer-" + fnv1a_hex(std::string(kTokenizerTraining) + "|" +
        data.tokenizer + "|" + fnv1a_hex(train_text, 16), 16) + ".model");
    std::string model = read_cache(model_path);
    if (!model.empty()) {
      try {
        tokenizer = std::make_shared<Tokenizer>(model, key_origin);
      } catch (const UserError&) {
        model.clear();  // a damaged cache entry: train again
      }
    }
    if (!tokenizer) {
      tokenizer = std::make_shared<Tokenizer>(train_sentencepiece(train_text, type, vocab, key_origin),
                                              key_origin);
      write_cache(model_path, tokenizer->model(), origin);
    }
  } else {
    tokenizer = std::make_shared<Tokenizer>(make_tokenizer(data.tokenizer, {}, key_origin));
  }
  if (!tokenizer->is_bytes()) {
    if (data.tokenizer.rfind("spm:", 0) == 0 && tokenizer->vocab_size() != data.vocab_size)
      throw UserError(origin + ": [data] vocab_size = \"" + std::to_string(data.vocab_size) + "\": the tokenizer " +
                      data.tokenizer + " has " + std::to_string(tokenizer->vocab_size()) +
                      " pieces; set data.vocab_size = " + std::to_string(tokenizer->vocab_size()));
    // Encoded once per (tokenizer, text): 100 runs on a corpus read one cached file.
    const fs::path tokens_path = fs::path(cache_folder) / ("tokens-" + fnv1a_hex(tokenizer->hash() + "|" +
        fnv1a_hex(train_text, 16) + "|" + fnv1a_hex(heldout_text, 16), 16) + ".bin");
    if (!read_token_cache(read_cache(tokens_path), tokenizer->vocab_size(), corpus.train, corpus.heldout)) {
      corpus.train = encode_stream(*tokenizer, train_text);
      corpus.heldout = encode_stream(*tokenizer, heldout_text);
      write_cache(tokens_path, token_cache_bytes(corpus.train, corpus.heldout), origin);
    }
    identity += " tokenizer=" + data.tokenizer + " model=" + tokenizer->hash();
  } else {
    corpus.train = encode_stream(*tokenizer, train_text);
    corpus.heldout = encode_stream(*tokenizer, heldout_text);
  }
  corpus.vocab_size = tokenizer->vocab_size();
  corpus.identity = identity;
  corpus.tokenizer = std::move(tokenizer);
  const std::string path = source.substr(5);
  corpus.description = path == "embedded" ? "embedded (/usr/share/common-licenses)" : path;
  if (data.tokenizer != "bytes") corpus.description += ", " + data.tokenizer;
  return corpus;
}

Corpus load_corpus(const std::string& source, double holdout, int64_t vocab_size, const std::string& origin) {
  DataOptions data;
  data.source = source;
  data.holdout = holdout;
  data.vocab_size = vocab_size;
  data.tokenizer = "bytes";
  data.eval_source = "none";
  data.documents = "eod";
  return load_corpus(data, "", origin);
}

Corpus task_corpus(const TaskSpec& task, int64_t longest, int64_t tokens) {
  Corpus corpus;
  corpus.task = task;
  corpus.vocab_size = task.vocab_size();
  corpus.description = "synthetic:" + task.name;
  auto generator = eval_generator(longest);
  const int64_t sequences = (tokens + longest - 1) / longest;
  const auto batch = generate_task(task, sequences, longest, generator, TaskSplit::test);
  const auto inputs = batch.tokens.slice(1, 0, longest).contiguous();
  corpus.heldout.assign(inputs.data_ptr<int64_t>(), inputs.data_ptr<int64_t>() + inputs.numel());
  return corpus;
}

BatchSampler::BatchSampler(const std::vector<uint16_t>& tokens, int64_t batch, int64_t length,
                           uint64_t seed)
    : tokens_(&tokens), batch_(batch), length_(length), generator_(seed) {}

BatchSampler::BatchSampler(const TaskSpec& task, int64_t batch, int64_t length, uint64_t seed)
    : task_(task), batch_(batch), length_(length), generator_(seed) {}

torch::Tensor BatchSampler::next() {
  if (!examples_.defined()) return draw(batch_);
  // Epoch e serves the examples in the order of its own shuffle (seeded by e), so the
  // position in the stream (served_) is the whole state.
  const int64_t n = examples_.size(0);
  std::vector<int64_t> rows;
  for (int64_t i = 0; i < batch_; ++i, ++served_) {
    if (served_ / n != order_epoch_) {
      order_epoch_ = served_ / n;
      order_.resize(static_cast<size_t>(n));
      std::iota(order_.begin(), order_.end(), int64_t{0});
      std::mt19937_64 shuffle(shuffle_seed_ + static_cast<uint64_t>(order_epoch_));
      std::shuffle(order_.begin(), order_.end(), shuffle);
    }
    rows.push_back(order_[static_cast<size_t>(served_ % n)]);
  }
  const auto index = torch::tensor(rows, torch::kLong);
  if (examples_scored_.defined()) scored_ = examples_scored_.index_select(0, index);
  if (examples_targets_.defined()) targets_ = examples_targets_.index_select(0, index);
  return examples_.index_select(0, index);
}

void BatchSampler::fix_examples(int64_t examples) {
  examples_ = draw(examples);
  if (task_) examples_scored_ = scored_, examples_targets_ = targets_;
  shuffle_seed_ = generator_();
  served_ = 0;
}

torch::Tensor BatchSampler::draw(int64_t count) {
  if (task_) {
    auto sequences = generate_task(*task_, count, length_, generator_, TaskSplit::train);
    scored_ = sequences.scored;
    targets_ = sequences.targets;
    return sequences.tokens;
  }
  std::uniform_int_distribution<int64_t> start(0, static_cast<int64_t>(tokens_->size()) - length_ - 1);
  std::vector<int64_t> starts(count);
  for (auto& s : starts) s = start(generator_);
  auto windows = gather_windows(*tokens_, starts, length_);
  if (passkey_mix_ > 0) {
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    auto* out = windows.data_ptr<int64_t>();
    for (int64_t row = 0; row < count; ++row) {
      if (unit(generator_) >= passkey_mix_) continue;
      const auto prompt = passkey_prompt(*passkey_tokenizer_, *tokens_, length_, unit(generator_), generator_);
      std::copy(prompt.tokens.begin(), prompt.tokens.end(), out + row * (length_ + 1));
    }
  }
  return windows;
}

void BatchSampler::mix_passkeys(const Tokenizer& tokenizer, double mix) {
  passkey_tokenizer_ = &tokenizer;
  passkey_mix_ = mix;
}

std::string BatchSampler::state() const {
  std::ostringstream out;
  out << generator_;
  if (examples_.defined()) out << " served " << served_;
  return out.str();
}

void BatchSampler::restore(const std::string& state) {
  std::istringstream in(state);
  in >> generator_;
  if (!in) throw std::runtime_error("checkpoint: unreadable sampler state");
  std::string word;
  if (examples_.defined() && !(in >> word >> served_ && word == "served"))
    throw std::runtime_error("checkpoint: no position in the fixed training examples");
}

torch::Tensor gather_windows(const std::vector<uint16_t>& tokens, const std::vector<int64_t>& starts,
                             int64_t length) {
  auto windows = torch::empty({static_cast<int64_t>(starts.size()), length + 1}, torch::kLong);
  auto* out = windows.data_ptr<int64_t>();
  for (size_t row = 0; row < starts.size(); ++row)
    for (int64_t t = 0; t <= length; ++t) out[row * (length + 1) + t] = tokens[starts[row] + t];
  return windows;
}

}  // namespace pebench

