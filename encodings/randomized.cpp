// Randomized positional encodings: wrap any encoding and, instead of 0..n-1, feed it n
// sorted distinct integers drawn uniformly from [0, max_position), one draw per forward
// shared by the batch, so training touches positions up to max_position and longer
// eval sequences stay in range. Ruoss et al. 2023, "Randomized Positional Encodings
// Boost Length Generalization of Transformers", arXiv 2305.16843.
// max_position defaults to the largest eval length. Eval positions are sampled too
// (encoding.random_eval_positions = randomized, the paper's setting) or 0..n-1
// (sequential). Draw k uses a generator seeded from (seed, k), so a run is reproducible
// and a resumed run can continue the sequence; eval draws restart at every eval.
#include <ATen/CPUGeneratorImpl.h>

#include "encodings/encoding.h"

namespace pebench {
namespace {
const OptionKey kRandomMaxPosition{"encoding.random_max_position", "0",
                                   "0 (the largest eval length) or an integer >= it",
                                   "randomized: positions drawn from [0, this)", ValueKind::non_negative_int};
const OptionKey kRandomEvalPositions{"encoding.random_eval_positions", "randomized", "randomized | sequential",
                                     "randomized: eval positions", ValueKind::choice, {"randomized", "sequential"}};
}  // namespace

const std::vector<OptionKey>& randomized_keys() {
  static const std::vector<OptionKey> keys = {kRandomMaxPosition, kRandomEvalPositions};
  return keys;
}


class RandomizedEncodingImpl : public PositionalEncodingImpl {
 public:
  RandomizedEncodingImpl(const EncodingOptions& options, const EncodingInfo& base)
      : max_position_(options.integer(kRandomMaxPosition) > 0 ? options.integer(kRandomMaxPosition) : options.max_length),
        seed_(options.seed),
        eval_randomized_(options.text(kRandomEvalPositions) == "randomized") {
    EncodingOptions base_options = options;
    base_options.max_length = std::max(options.max_length, max_position_);
    base_ = register_module("base", base.make(base_options));
  }

  torch::Tensor embed(const torch::Tensor& x, const torch::Tensor& positions) override {
    return base_->embed(x, positions);
  }
  void rotate(torch::Tensor& q, torch::Tensor& k, const torch::Tensor& positions) override {
    base_->rotate(q, k, positions);
  }
  torch::Tensor bias(const torch::Tensor& query_positions, const torch::Tensor& key_positions) override {
    return base_->bias(query_positions, key_positions);
  }
  bool is_additive() const override { return base_->is_additive(); }
  // No eval-time length scaling: training already covered positions up to max_position.
  torch::Tensor table() const override { return base_->table(); }

  torch::Tensor positions(int64_t length, torch::Device device) override {
    if (!is_training() && !eval_randomized_) return PositionalEncodingImpl::positions(length, device);
    TORCH_CHECK(length <= max_position_, "randomized positions: ", length, " tokens need max_position >= ", length,
                " (it is ", max_position_, ")");
    // Draws in training and in eval come from separate streams.
    const uint64_t stream = is_training() ? 0x9e3779b97f4a7c15ull : 0xc2b2ae3d27d4eb4full;
    uint64_t& draws = is_training() ? train_draws_ : eval_draws_;
    auto generator = at::make_generator<at::CPUGeneratorImpl>(seed_ * 0x100000001b3ull ^ stream ^ draws++);
    auto drawn = torch::randperm(max_position_, generator, torch::TensorOptions().dtype(torch::kLong));
    return std::get<0>(drawn.slice(0, 0, length).sort()).to(device);
  }

  void resume_training_at(int64_t steps) override { train_draws_ = static_cast<uint64_t>(steps); }

  void train(bool on) override {
    if (!on) eval_draws_ = 0;  // every eval sees the same positions
    PositionalEncodingImpl::train(on);
  }

  std::vector<std::pair<std::string, int64_t>> facts() const override {
    auto facts = base_->facts();
    facts.push_back({"random_max_position", max_position_});
    facts.push_back({"random_eval_positions", eval_randomized_});
    return facts;
  }

 private:
  int64_t max_position_;
  uint64_t seed_;
  bool eval_randomized_;
  uint64_t train_draws_ = 0, eval_draws_ = 0;
  std::shared_ptr<PositionalEncodingImpl> base_;
};

EncodingInfo randomized_encoding(const EncodingInfo& base) {
  EncodingInfo info = base;
  info.name = "randomized:" + base.name;
  info.kind = "position sampler (" + base.kind + ")";
  info.summary = base.name + " on sorted random positions from [0, max_position)";
  info.paper = "Ruoss et al. 2023, arXiv 2305.16843";
  info.extrapolates = true;
  info.keys = randomized_keys();
  info.keys.insert(info.keys.end(), base.keys.begin(), base.keys.end());
  info.make = [base](const EncodingOptions& options) {
    return std::make_shared<RandomizedEncodingImpl>(options, base);
  };
  info.check = [base](const EncodingOptions& options) -> std::string {
    if (options.integer(kRandomMaxPosition) > 0 && options.integer(kRandomMaxPosition) < options.max_length)
      return "encoding.random_max_position must be 0 (the largest eval length) or >= the largest eval length " +
             std::to_string(options.max_length);
    return base.check(options);
  };
  return info;
}

}  // namespace pebench
