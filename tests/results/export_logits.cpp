// Test helper for export_parity_test.sh: pebench's own logits for one run of a store, on
// the first LENGTH held-out tokens, through the production model code (query-blocked
// eval when LENGTH exceeds eval.attention_block), with the run's stored final weights.
// usage: pebench_export_logits STORE RUN_ID LENGTH VARIANT OUT_PREFIX
//   writes OUT_PREFIX.tokens (int64 [LENGTH]), .positions (int64 [LENGTH] or [layers, LENGTH]),
//   .logits (float32 [LENGTH, vocab]) and .heldout (int64, the held-out split)
#include <algorithm>
#include <fstream>
#include <iostream>

#include "harness/data.h"
#include "harness/layout.h"
#include "harness/study.h"
#include "harness/train.h"
#include "results/config_text.h"
#include "results/store.h"

using namespace pebench;

namespace {
template <typename T>
void write_raw(const std::string& path, const T* data, size_t count) {
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(count * sizeof(T)));
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 6) {
    std::cerr << "usage: pebench_export_logits STORE RUN_ID LENGTH VARIANT OUT_PREFIX\n";
    return 2;
  }
  const std::string store = argv[1], run_id = argv[2], variant = std::string(argv[4]) == "-" ? "" : argv[4], out = argv[5];
  const int64_t length = std::stoll(argv[3]);
  std::vector<Override> overrides;
  const auto configs = read_configs(store);
  const auto rows = read_index(store);
  for (size_t i = 0; i < rows.size(); ++i)
    if (rows[i].run_id == run_id)
      for (const auto& [key, value] : parse_config_text(configs[i])) {
        // A key at its default keeps the default's own text ("0.1"), which an explicit
        // value would canonicalize ("0.10000000000000001"): leave those to the default.
        const OptionKey* spec = find_study_key(key);
        if (!spec || spec->default_value != value) overrides.push_back({key, value});
      }
  const RunConfig run = parse_study("stored.ini", "", overrides).runs.front();
  if (run.run_id != run_id) {
    std::cerr << "the stored config gives run id " << run.run_id << ", not " << run_id << "\n";
    return 1;
  }
  torch::set_num_threads(1);
  auto model = build_model(run);
  const auto weights = read_weights(store, run_id);
  torch::NoGradGuard no_grad;
  for (auto& [name, tensor] : model_weights(model)) {
    auto found = std::find_if(weights.begin(), weights.end(), [&](const StoredWeight& w) { return w.name == name; });
    if (found == weights.end()) {
      std::cerr << "no stored weight " << name << "\n";
      return 1;
    }
    tensor.copy_(torch::tensor(found->values).view(found->shape));
  }
  model->eval();
  const Corpus corpus = load_corpus(run.data.source, run.data.holdout, run.data.vocab_size, "stored.ini");
  std::vector<int64_t> heldout(corpus.heldout.begin(), corpus.heldout.end());
  write_raw(out + ".heldout", heldout.data(), heldout.size());
  auto tokens = torch::tensor(std::vector<int64_t>(heldout.begin(), heldout.begin() + length)).view({1, length});
  auto positions = model->encoding().positions(length, torch::kCPU).contiguous();
  model->encoding().set_eval_variant(variant, length);
  auto logits = model->forward(tokens, positions).contiguous();
  write_raw(out + ".tokens", tokens.data_ptr<int64_t>(), static_cast<size_t>(length));
  write_raw(out + ".positions", positions.data_ptr<int64_t>(), static_cast<size_t>(positions.numel()));
  write_raw(out + ".logits", logits.data_ptr<float>(), static_cast<size_t>(logits.numel()));
  return 0;
}
