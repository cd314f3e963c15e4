#include "harness/data.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "harness/study.h"

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

std::string embedded_corpus_text() {
  const fs::path folder = "/usr/share/common-licenses";
  std::vector<fs::path> files;
  std::set<fs::path> seen;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(folder, error)) files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  std::string text;
  for (const auto& file : files) {
    const fs::path target = fs::canonical(file, error);
    if (error || !fs::is_regular_file(target) || !seen.insert(target).second) continue;
    std::ifstream stream(target, std::ios::binary);
    std::stringstream content;
    content << stream.rdbuf();
    text += content.str();
  }
  return text;
}

Corpus load_corpus(const std::string& source, double holdout, int64_t vocab_size,
                   const std::string& origin) {
  Corpus corpus;
  std::vector<uint16_t> tokens;
  if (source.rfind("text:", 0) == 0) {
    const std::string path = source.substr(5);
    const std::string text = path == "embedded" ? embedded_corpus_text() : read_file(path, origin);
    if (path == "embedded" && text.empty())
      throw UserError(origin + ": [data] source = \"text:embedded\": /usr/share/common-licenses is empty or missing");
    tokens.assign(reinterpret_cast<const unsigned char*>(text.data()),
                  reinterpret_cast<const unsigned char*>(text.data()) + text.size());
    corpus.vocab_size = 256;
    corpus.description = path == "embedded" ? "embedded (/usr/share/common-licenses)" : path;
    corpus.identity = "bytes=" + std::to_string(text.size()) + " fnv1a=" + fnv1a_hex(text, 16);
  } else {
    const std::string path = source.substr(7);
    const std::string bytes = read_file(path, origin);
    if (bytes.size() % 2 != 0)
      throw UserError(origin + ": [data] source = \"" + source + "\": token file has an odd byte count " +
                      std::to_string(bytes.size()) + "; expected uint16 tokens");
    tokens.resize(bytes.size() / 2);
    std::copy(bytes.data(), bytes.data() + bytes.size(), reinterpret_cast<char*>(tokens.data()));
    const uint16_t largest = tokens.empty() ? 0 : *std::max_element(tokens.begin(), tokens.end());
    if (!tokens.empty() && largest >= vocab_size)
      throw UserError(origin + ": [data] vocab_size = \"" + std::to_string(vocab_size) + "\": token file '" +
                      path + "' holds id " + std::to_string(largest) + "; expected ids below vocab_size");
    corpus.vocab_size = vocab_size;
    corpus.description = path;
    corpus.identity = "bytes=" + std::to_string(bytes.size()) + " fnv1a=" + fnv1a_hex(bytes, 16);
  }
  if (tokens.empty()) throw UserError(origin + ": [data] source = \"" + source + "\": corpus is empty");
  const auto heldout_size = static_cast<size_t>(static_cast<double>(tokens.size()) * holdout);
  corpus.train.assign(tokens.begin(), tokens.end() - static_cast<std::ptrdiff_t>(heldout_size));
  corpus.heldout.assign(tokens.end() - static_cast<std::ptrdiff_t>(heldout_size), tokens.end());
  return corpus;
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
  if (task_) {
    auto sequences = generate_task(*task_, batch_, length_, generator_, TaskSplit::train);
    scored_ = sequences.scored;
    return sequences.tokens;
  }
  std::uniform_int_distribution<int64_t> start(0, static_cast<int64_t>(tokens_->size()) - length_ - 1);
  std::vector<int64_t> starts(batch_);
  for (auto& s : starts) s = start(generator_);
  return gather_windows(*tokens_, starts, length_);
}

std::string BatchSampler::state() const {
  std::ostringstream out;
  out << generator_;
  return out.str();
}

void BatchSampler::restore(const std::string& state) {
  std::istringstream in(state);
  in >> generator_;
  if (!in) throw std::runtime_error("checkpoint: unreadable sampler state");
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

