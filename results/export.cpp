#include "results/export.h"

#include "results/safe_file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "pebench_model_source.h"
#include "results/config_text.h"
#include "results/json.h"

namespace pebench {
namespace fs = std::filesystem;

namespace {

std::string json_number_list(const std::vector<int64_t>& values) {
  std::string out = "[";
  for (size_t i = 0; i < values.size(); ++i) out += (i ? ", " : "") + std::to_string(values[i]);
  return out + "]";
}

// A config value as JSON: integers and reals as numbers, true/false as booleans, the rest
// (names, lists, paths) as strings. Python reads pebench's own text where it needs it.
std::string json_value(const std::string& text) {
  if (text == "true" || text == "false") return text;
  if (!text.empty() && text.find_first_not_of("0123456789.-+eE") == std::string::npos &&
      text.find_first_of("0123456789") != std::string::npos && text.find(',') == std::string::npos) {
    char* end = nullptr;
    std::strtod(text.c_str(), &end);
    if (end == text.c_str() + text.size()) return text;
  }
  return json_string(text);
}

int64_t required_integer(const std::map<std::string, std::string>& config, const std::string& key) {
  const auto value = config_integer(config, key);
  if (!value) throw ExportError("the run's config has no integer " + key);
  return *value;
}

// Every study key of the run: its stored config, and for keys the config leaves out (by
// their run-id rule), the defaults its store recorded.
std::map<std::string, std::string> full_config(const StoredRun& run, const StoreContents& contents) {
  std::map<std::string, std::string> config = contents.key_defaults;
  for (const auto& [key, value] : parse_config_text(run.config)) config[key] = value;
  return config;
}

// The tokenizer of a run's data source: bytes (text sources: token = byte value), a
// synthetic task's own symbols, or the ids of a tokens: file made elsewhere.
std::string tokenizer_of(const std::map<std::string, std::string>& config) {
  const std::string source = config.count("data.source") ? config.at("data.source") : "text:embedded";
  if (source.rfind("synthetic:", 0) == 0) return "task:" + source.substr(10);
  const std::string tokenizer = config.count("data.tokenizer") ? config.at("data.tokenizer") : "bytes";
  if (tokenizer != "bytes") return "sentencepiece";
  return source.rfind("tokens:", 0) == 0 ? "token-ids" : "bytes";
}

std::string config_json(const StoredRun& run, const StoreContents& contents,
                        const std::map<std::string, std::string>& config, const std::vector<StoredWeight>& weights) {
  int64_t vocab_size = 0;
  for (const auto& weight : weights)
    if (weight.name == "token_embedding.weight" && !weight.shape.empty()) vocab_size = weight.shape[0];
  if (vocab_size == 0) throw ExportError("run " + run.row.run_id + ": its weights have no token_embedding.weight");
  std::vector<int64_t> lengths = run.eval_lengths;
  const int64_t max_length = lengths.empty() ? required_integer(config, "train.seq_len") : lengths.back();
  std::ostringstream out;
  out << "{\n"
      << "  \"architectures\": [\"PebenchForCausalLM\"],\n"
      << "  \"model_type\": \"pebench\",\n"
      << "  \"auto_map\": {\"AutoConfig\": \"pebench_model.PebenchConfig\", "
         "\"AutoModelForCausalLM\": \"pebench_model.PebenchForCausalLM\"},\n"
      << "  \"pebench_version\": " << json_string(contents.pebench_version) << ",\n"
      << "  \"run_id\": " << json_string(run.row.run_id) << ",\n"
      << "  \"encoding\": " << json_string(run.row.encoding) << ",\n"
      << "  \"vocab_size\": " << vocab_size << ",\n"
      << "  \"d_model\": " << required_integer(config, "model.d_model") << ",\n"
      << "  \"layers\": " << required_integer(config, "model.layers") << ",\n"
      << "  \"heads\": " << required_integer(config, "model.heads") << ",\n"
      << "  \"train_length\": " << required_integer(config, "train.seq_len") << ",\n"
      << "  \"max_length\": " << max_length << ",\n"
      << "  \"eval_lengths\": " << json_number_list(lengths) << ",\n"
      << "  \"seed\": " << required_integer(config, "seed") << ",\n"
      << "  \"tokenizer\": " << json_string(tokenizer_of(config)) << ",\n"
      << "  \"encoding_options\": {";
  bool first = true;
  for (const auto& [key, value] : config)
    if (key.rfind("encoding.", 0) == 0) {
      out << (first ? "" : ", ") << json_string(key.substr(9)) << ": " << json_value(value);
      first = false;
    }
  out << "},\n  \"study_config\": {";
  first = true;
  for (const auto& [key, value] : config) {
    out << (first ? "\n    " : ",\n    ") << json_string(key) << ": " << json_value(value);
    first = false;
  }
  out << "\n  }\n}\n";
  return out.str();
}

std::string tokenizer_json(const std::string& tokenizer) {
  const std::string how = tokenizer == "bytes"       ? "each byte of UTF-8 text is one token, id = the byte's value (0..255)"
                          : tokenizer == "token-ids" ? "token ids as in the run's tokens: file (uint16), made outside pebench"
                          : tokenizer == "sentencepiece" ? "SentencePiece: tokenizer.model beside this file (sentencepiece.SentencePieceProcessor(model_file=...)); "
                                                           "pebench encodes a line at a time, \\n as its byte piece <0x0A>, </s> between documents"
                                                     : "the synthetic task's symbols (harness/tasks/ in pebench)";
  return "{\n  \"type\": " + json_string(tokenizer) + ",\n  \"description\": " + json_string(how) + "\n}\n";
}

void write_file(const fs::path& path, const std::string& bytes) {
  try {
    write_file_safely(path.string(), bytes);
  } catch (const FileError& error) {
    throw ExportError(error.what());
  }
}

void write_export(const StoreContents& contents, const StoredRun& run, const std::vector<StoredWeight>& weights,
                  const std::string& tokenizer_model, const fs::path& folder) {
  fs::create_directories(folder);
  const auto config = full_config(run, contents);
  write_file(folder / "model.safetensors",
             safetensors_bytes(weights, {{"format", "pt"}, {"pebench_run_id", run.row.run_id},
                                         {"pebench_version", contents.pebench_version}}));
  write_file(folder / "config.json", config_json(run, contents, config, weights));
  write_file(folder / "tokenizer.json", tokenizer_json(tokenizer_of(config)));
  if (!tokenizer_model.empty()) write_file(folder / "tokenizer.model", tokenizer_model);
  write_file(folder / "pebench_model.py", k_pebench_model_source);
}

// Why `run` cannot be exported, or "" with its weights in `weights` (read once, here).
std::string not_exportable(const StoredRun& run, const std::string& store_path, std::vector<StoredWeight>& weights) {
  weights.clear();
  if (run.row.status != "done")
    return "run " + run.row.run_id + " is " + run.row.status + "; only done runs are exported";
  weights = read_weights(store_path, run.row.run_id);
  if (weights.empty())
    return "run " + run.row.run_id + " kept no weights (train.keep_weights = false, or a store made before it)";
  for (const auto& weight : weights)
    for (float value : weight.values)
      if (value != value) return "run " + run.row.run_id + ": weights/" + weight.name + " holds NaN";
  return "";
}

// The output folder: absent or empty, in a writable folder. The export is written to a
// unique sibling and renamed onto it, so a reader never sees half an export.
fs::path checked_target(const std::string& folder) {
  const fs::path target = fs::absolute(folder).lexically_normal();
  if (fs::exists(target) && !(fs::is_directory(target) && fs::is_empty(target)))
    throw ExportError("-o \"" + folder + "\": exists and is not an empty folder; export writes a new folder only");
  const fs::path parent = target.parent_path();
  if (!fs::is_directory(parent) || access(parent.c_str(), W_OK) != 0)
    throw ExportError("-o \"" + folder + "\": folder '" + parent.string() + "' does not exist or is not writable");
  return target;
}

fs::path temporary_beside(const fs::path& target) {
  std::string pattern = (target.parent_path() / ("." + target.filename().string() + ".partial-XXXXXX")).string();
  if (!mkdtemp(pattern.data())) throw ExportError("cannot create a folder beside " + target.string());
  // mkdtemp makes it 0700; the export is as readable as any file this process creates.
  const mode_t mask = umask(0);
  umask(mask);
  fs::permissions(pattern, static_cast<fs::perms>(0777 & ~mask));
  return pattern;
}

void publish(const fs::path& partial, const fs::path& target) {
  std::error_code error;
  if (fs::exists(target)) fs::remove(target, error);  // empty, checked before
  fs::rename(partial, target, error);
  if (error) {
    fs::remove_all(partial);
    throw ExportError("cannot rename the export to " + target.string() + ": " + error.message());
  }
}

}  // namespace

std::string safetensors_bytes(const std::vector<StoredWeight>& weights,
                              const std::map<std::string, std::string>& metadata) {
  std::string header = "{\"__metadata__\": {";
  bool first = true;
  for (const auto& [key, value] : metadata) {
    header += (first ? "" : ", ") + json_string(key) + ": " + json_string(value);
    first = false;
  }
  header += "}";
  uint64_t offset = 0;
  for (const auto& weight : weights) {
    const uint64_t bytes = weight.values.size() * sizeof(float);
    header += ", " + json_string(weight.name) + ": {\"dtype\": \"F32\", \"shape\": " + json_number_list(weight.shape) +
              ", \"data_offsets\": [" + std::to_string(offset) + ", " + std::to_string(offset + bytes) + "]}";
    offset += bytes;
  }
  header += "}";
  header.append((8 - header.size() % 8) % 8, ' ');  // the data starts 8-byte aligned
  std::string out(8, '\0');
  const uint64_t length = header.size();
  for (int i = 0; i < 8; ++i) out[static_cast<size_t>(i)] = static_cast<char>((length >> (8 * i)) & 0xff);
  out += header;
  static_assert(sizeof(float) == 4, "float32");
  for (const auto& weight : weights)  // x86-64 and aarch64 hosts are little-endian, as safetensors
    out.append(reinterpret_cast<const char*>(weight.values.data()), weight.values.size() * sizeof(float));
  return out;
}

ExportSummary export_run(const std::string& store_path, const std::string& run_id, const std::string& folder) {
  const StoreContents contents = read_store(store_path);
  auto run = std::find_if(contents.runs.begin(), contents.runs.end(),
                          [&](const StoredRun& r) { return r.row.run_id == run_id; });
  if (run == contents.runs.end()) throw ExportError("store '" + store_path + "' has no run " + run_id);
  std::vector<StoredWeight> weights;
  const std::string why = not_exportable(*run, store_path, weights);
  if (!why.empty()) throw ExportError(why);
  const fs::path target = checked_target(folder);
  const fs::path partial = temporary_beside(target);
  try {
    write_export(contents, *run, weights, read_tokenizer_model(store_path, run->row.run_id), partial);
  } catch (...) {
    fs::remove_all(partial);
    throw;
  }
  publish(partial, target);
  return {{run_id}, {}};
}

ExportSummary export_all(const std::string& store_path, const std::string& folder) {
  const StoreContents contents = read_store(store_path);
  const fs::path target = checked_target(folder);
  const fs::path partial = temporary_beside(target);
  ExportSummary summary;
  try {
    // One run's weights in memory at a time: a study of 1,000 runs may hold gigabytes.
    std::vector<StoredWeight> weights;
    for (const auto& run : contents.runs) {
      const std::string why = not_exportable(run, store_path, weights);
      if (!why.empty()) {
        summary.skipped.push_back(why);
        continue;
      }
      write_export(contents, run, weights, read_tokenizer_model(store_path, run.row.run_id), partial / run.row.run_id);
      summary.exported.push_back(run.row.run_id);
    }
    if (summary.exported.empty())
      throw ExportError("store '" + store_path + "' has no run to export: " +
                        (summary.skipped.empty() ? "it holds no runs" : summary.skipped.front()));
  } catch (...) {
    fs::remove_all(partial);
    throw;
  }
  publish(partial, target);
  return summary;
}

}  // namespace pebench
