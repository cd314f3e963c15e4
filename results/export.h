// `pebench export`: a finished run's model out of pebench, into a folder that the PyTorch
// world loads: model.safetensors (the run's final weights, float32, by LibTorch's names),
// config.json (every study key of the run, the model's shape, the encoding and its
// options, the tokenizer, pebench's version and the run id, and an `auto_map` for HF
// `trust_remote_code`), tokenizer.json, and pebench_model.py (results/python/: the model
// and every encoding in PyTorch, held equal to pebench's logits by a test).
#pragma once
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "results/store.h"

namespace pebench {

// Bad input for an export (no such run, not finished, no weights, a non-empty folder):
// one line, nothing written.
struct ExportError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct ExportSummary {
  std::vector<std::string> exported;  // run ids
  std::vector<std::string> skipped;   // "RUN_ID (why)": --all leaves out runs that are not done
};

// One run into `folder`, which must not exist or be empty; written beside it and renamed.
ExportSummary export_run(const std::string& store_path, const std::string& run_id, const std::string& folder);
// Every run whose status is done, into folder/RUN_ID/ each.
ExportSummary export_all(const std::string& store_path, const std::string& folder);

// The safetensors format: an 8-byte little-endian header length, a JSON header (names,
// dtype F32, shape, byte offsets; `__metadata__` strings), then the raw little-endian data.
std::string safetensors_bytes(const std::vector<StoredWeight>& weights,
                              const std::map<std::string, std::string>& metadata);

}  // namespace pebench
